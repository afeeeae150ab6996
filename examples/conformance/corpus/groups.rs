//! Classic consumer groups: join, sync, heartbeat, commit and fetch offsets, at the right and
//! the wrong generation, with known and unknown members.

use super::topics::create;
use super::{await_topic, last_answer, name, step, step_at, text, topic};
use crate::run::{Runner, Target};
use bytes::Bytes;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::*;

const SESSION_TIMEOUT_MS: i32 = 30_000;
const REBALANCE_TIMEOUT_MS: i32 = 30_000;
/// Below Kafka's group.min.session.timeout.ms (6 s).
const SESSION_TIMEOUT_TOO_SHORT_MS: i32 = 1_000;
/// The last DescribeGroups version that describes a missing group as Dead without an error.
const DESCRIBE_GROUPS_BEFORE_NOT_FOUND_VERSION: i16 = 5;
/// FindCoordinator key type of a group.
const KEY_TYPE_GROUP: i8 = 0;
/// A consumer-protocol subscription (v0) to no topics: the bytes do not matter to a broker.
const SUBSCRIPTION: &[u8] = &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0];

/// Runs the group sequences.
pub fn run(runner: &mut Runner) -> Result<(), String> {
    membership(runner);
    offsets(runner)
}

fn join(group: &str, member: &str, session_timeout_ms: i32) -> JoinGroupRequest {
    JoinGroupRequest::default()
        .with_group_id(GroupId(text(group)))
        .with_session_timeout_ms(session_timeout_ms)
        .with_rebalance_timeout_ms(REBALANCE_TIMEOUT_MS)
        .with_member_id(text(member))
        .with_protocol_type(text("consumer"))
        .with_protocols(vec![JoinGroupRequestProtocol::default()
            .with_name(text("range"))
            .with_metadata(Bytes::from_static(SUBSCRIPTION))])
}

/// The member id and generation this broker gave in its last JoinGroup answer.
fn membership_of(target: &Target) -> Result<(String, i32), String> {
    match last_answer(target, ApiKey::JoinGroup) {
        Some(ResponseKind::JoinGroup(r)) => Ok((r.member_id.to_string(), r.generation_id)),
        _ => Err(format!("{} gave no JoinGroup answer", target.name)),
    }
}

fn sync(group: &str, member: &str, generation: i32) -> SyncGroupRequest {
    SyncGroupRequest::default()
        .with_group_id(GroupId(text(group)))
        .with_generation_id(generation)
        .with_member_id(text(member))
        .with_protocol_type(Some(text("consumer")))
        .with_protocol_name(Some(text("range")))
        .with_assignments(vec![SyncGroupRequestAssignment::default()
            .with_member_id(text(member))
            .with_assignment(Bytes::from_static(SUBSCRIPTION))])
}

fn heartbeat(group: &str, member: &str, generation: i32) -> HeartbeatRequest {
    HeartbeatRequest::default()
        .with_group_id(GroupId(text(group)))
        .with_member_id(text(member))
        .with_generation_id(generation)
}

fn commit(
    group: &str,
    member: &str,
    generation: i32,
    name: &str,
    partition: i32,
    offset: i64,
) -> OffsetCommitRequest {
    OffsetCommitRequest::default()
        .with_group_id(GroupId(text(group)))
        .with_member_id(text(member))
        .with_generation_id_or_member_epoch(generation)
        .with_retention_time_ms(-1)
        .with_topics(vec![OffsetCommitRequestTopic::default()
            .with_name(topic(name))
            .with_partitions(vec![OffsetCommitRequestPartition::default()
                .with_partition_index(partition)
                .with_committed_offset(offset)
                .with_committed_leader_epoch(-1)
                .with_committed_metadata(Some(text("m")))])])
}

fn offset_fetch(v: i16, group: &str, name: &str) -> OffsetFetchRequest {
    if v >= 8 {
        let topics = OffsetFetchRequestTopics::default()
            .with_name(topic(name))
            .with_partition_indexes(vec![0, 1]);
        OffsetFetchRequest::default().with_groups(vec![OffsetFetchRequestGroup::default()
            .with_group_id(GroupId(text(group)))
            .with_member_epoch(-1)
            .with_topics(Some(vec![topics]))])
    } else {
        let topics = OffsetFetchRequestTopic::default()
            .with_name(topic(name))
            .with_partition_indexes(vec![0, 1]);
        OffsetFetchRequest::default()
            .with_group_id(GroupId(text(group)))
            .with_topics(Some(vec![topics]))
    }
}

fn leave(v: i16, group: &str, member: &str) -> LeaveGroupRequest {
    let request = LeaveGroupRequest::default().with_group_id(GroupId(text(group)));
    if v >= 3 {
        request.with_members(vec![MemberIdentity::default().with_member_id(text(member))])
    } else {
        request.with_member_id(text(member))
    }
}

fn membership(runner: &mut Runner) {
    let seq = "group";
    runner.begin(seq);
    let g = name(runner, seq, "g");
    step(
        runner,
        "find coordinator",
        ApiKey::FindCoordinator,
        |_, v| {
            let request = FindCoordinatorRequest::default().with_key_type(KEY_TYPE_GROUP);
            Ok(if v >= 4 {
                request.with_coordinator_keys(vec![text(&g)])
            } else {
                request.with_key(text(&g))
            })
        },
    );
    step(
        runner,
        "join with a session timeout too short: INVALID_SESSION_TIMEOUT",
        ApiKey::JoinGroup,
        |_, _| Ok(join(&g, "", SESSION_TIMEOUT_TOO_SHORT_MS)),
    );
    step(
        runner,
        "join without member id: MEMBER_ID_REQUIRED",
        ApiKey::JoinGroup,
        |_, _| Ok(join(&g, "", SESSION_TIMEOUT_MS)),
    );
    step(
        runner,
        "join with the given member id",
        ApiKey::JoinGroup,
        |target, _| {
            let (member, _) = membership_of(target)?;
            Ok(join(&g, &member, SESSION_TIMEOUT_MS))
        },
    );
    step(
        runner,
        "sync at the wrong generation: ILLEGAL_GENERATION",
        ApiKey::SyncGroup,
        |target, _| {
            let (member, generation) = membership_of(target)?;
            Ok(sync(&g, &member, generation + 1))
        },
    );
    step(
        runner,
        "sync as an unknown member: UNKNOWN_MEMBER_ID",
        ApiKey::SyncGroup,
        |target, _| {
            let (_, generation) = membership_of(target)?;
            Ok(sync(&g, "stranger", generation))
        },
    );
    step(runner, "sync", ApiKey::SyncGroup, |target, _| {
        let (member, generation) = membership_of(target)?;
        Ok(sync(&g, &member, generation))
    });
    step(runner, "heartbeat", ApiKey::Heartbeat, |target, _| {
        let (member, generation) = membership_of(target)?;
        Ok(heartbeat(&g, &member, generation))
    });
    step(
        runner,
        "heartbeat at the wrong generation: ILLEGAL_GENERATION",
        ApiKey::Heartbeat,
        |target, _| {
            let (member, generation) = membership_of(target)?;
            Ok(heartbeat(&g, &member, generation + 1))
        },
    );
    step(
        runner,
        "heartbeat as an unknown member: UNKNOWN_MEMBER_ID",
        ApiKey::Heartbeat,
        |target, _| {
            let (_, generation) = membership_of(target)?;
            Ok(heartbeat(&g, "stranger", generation))
        },
    );
    step(
        runner,
        "join as another protocol type: INCONSISTENT_GROUP_PROTOCOL",
        ApiKey::JoinGroup,
        |target, _| {
            let (member, _) = membership_of(target)?;
            Ok(join(&g, &member, SESSION_TIMEOUT_MS).with_protocol_type(text("connect")))
        },
    );
    step(
        runner,
        "leave as an unknown member: UNKNOWN_MEMBER_ID",
        ApiKey::LeaveGroup,
        |_, v| Ok(leave(v, &g, "stranger")),
    );
    step(
        runner,
        "describe the group",
        ApiKey::DescribeGroups,
        |_, _| Ok(DescribeGroupsRequest::default().with_groups(vec![GroupId(text(&g))])),
    );
    let missing = name(runner, seq, "missing");
    step(
        runner,
        "heartbeat to a missing group",
        ApiKey::Heartbeat,
        |_, _| Ok(heartbeat(&missing, "m", 1)),
    );
    step(runner, "leave", ApiKey::LeaveGroup, |target, v| {
        let (member, _) = membership_of(target)?;
        Ok(leave(v, &g, &member))
    });
    step(
        runner,
        "describe after leaving",
        ApiKey::DescribeGroups,
        |_, _| Ok(DescribeGroupsRequest::default().with_groups(vec![GroupId(text(&g))])),
    );
    step(runner, "list groups", ApiKey::ListGroups, |_, _| {
        Ok(ListGroupsRequest::default())
    });
    step(
        runner,
        "delete the emptied group",
        ApiKey::DeleteGroups,
        |_, _| Ok(DeleteGroupsRequest::default().with_groups_names(vec![GroupId(text(&g))])),
    );
    step(
        runner,
        "describe after deleting",
        ApiKey::DescribeGroups,
        |_, _| Ok(DescribeGroupsRequest::default().with_groups(vec![GroupId(text(&g))])),
    );
    step_at(
        runner,
        "describe a missing group at v5",
        ApiKey::DescribeGroups,
        DESCRIBE_GROUPS_BEFORE_NOT_FOUND_VERSION,
        |_, _| Ok(DescribeGroupsRequest::default().with_groups(vec![GroupId(text(&missing))])),
    );
}

fn offsets(runner: &mut Runner) -> Result<(), String> {
    let seq = "offsets";
    runner.begin(seq);
    let t = name(runner, seq, "t");
    let g = name(runner, seq, "g");
    step(runner, "create", ApiKey::CreateTopics, |_, _| {
        Ok(create(&t, 2, 1, &[]))
    });
    await_topic(runner, &t, Some(2))?;
    step(
        runner,
        "join without member id",
        ApiKey::JoinGroup,
        |_, _| Ok(join(&g, "", SESSION_TIMEOUT_MS)),
    );
    step(runner, "join", ApiKey::JoinGroup, |target, _| {
        let (member, _) = membership_of(target)?;
        Ok(join(&g, &member, SESSION_TIMEOUT_MS))
    });
    step(runner, "sync", ApiKey::SyncGroup, |target, _| {
        let (member, generation) = membership_of(target)?;
        Ok(sync(&g, &member, generation))
    });
    step(
        runner,
        "commit at the wrong generation: ILLEGAL_GENERATION",
        ApiKey::OffsetCommit,
        |target, _| {
            let (member, generation) = membership_of(target)?;
            Ok(commit(&g, &member, generation + 1, &t, 0, 5))
        },
    );
    step(
        runner,
        "commit as an unknown member: UNKNOWN_MEMBER_ID",
        ApiKey::OffsetCommit,
        |target, _| {
            let (_, generation) = membership_of(target)?;
            Ok(commit(&g, "stranger", generation, &t, 0, 5))
        },
    );
    step(runner, "commit", ApiKey::OffsetCommit, |target, _| {
        let (member, generation) = membership_of(target)?;
        Ok(commit(&g, &member, generation, &t, 0, 5))
    });
    step(
        runner,
        "commit to partition 9: UNKNOWN_TOPIC_OR_PARTITION",
        ApiKey::OffsetCommit,
        |target, _| {
            let (member, generation) = membership_of(target)?;
            Ok(commit(&g, &member, generation, &t, 9, 5))
        },
    );
    step(runner, "fetch offsets", ApiKey::OffsetFetch, |_, v| {
        Ok(offset_fetch(v, &g, &t))
    });
    let simple = name(runner, seq, "simple");
    step(
        runner,
        "commit without a member (simple consumer)",
        ApiKey::OffsetCommit,
        |_, _| Ok(commit(&simple, "", -1, &t, 1, 7)),
    );
    step(
        runner,
        "fetch the simple group's offsets",
        ApiKey::OffsetFetch,
        |_, v| Ok(offset_fetch(v, &simple, &t)),
    );
    let missing = name(runner, seq, "missing");
    step(
        runner,
        "fetch offsets of a missing group",
        ApiKey::OffsetFetch,
        |_, v| Ok(offset_fetch(v, &missing, &t)),
    );
    step(
        runner,
        "delete a group with a member: NON_EMPTY_GROUP",
        ApiKey::DeleteGroups,
        |_, _| Ok(DeleteGroupsRequest::default().with_groups_names(vec![GroupId(text(&g))])),
    );
    step(
        runner,
        "delete the simple group",
        ApiKey::DeleteGroups,
        |_, _| Ok(DeleteGroupsRequest::default().with_groups_names(vec![GroupId(text(&simple))])),
    );
    Ok(())
}
