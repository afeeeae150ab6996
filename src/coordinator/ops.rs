//! The owning shard's half of each group API: runs the request against the
//! group state or the offsets store and builds the kafka-protocol answer.

use super::group::{error_code, JoinParams, MemberRef, Reply};
use super::offsets::record::RECORD_STRING_BYTES_MAX;
use super::offsets::{now_ms, CommittedOffset, OffsetChange};
use super::subscription::CONSUMER_PROTOCOL_TYPE;
use super::{Coordinator, GroupRequest, GroupResponse};
use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::describe_groups_response::DescribedGroup;
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartitions, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{
    GroupId, HeartbeatRequest, HeartbeatResponse, JoinGroupRequest, JoinGroupResponse,
    LeaveGroupRequest, LeaveGroupResponse, OffsetCommitRequest, OffsetCommitResponse,
    OffsetDeleteRequest, OffsetDeleteResponse, SyncGroupRequest, SyncGroupResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use std::time::Instant;

/// Serves a group request on the owning shard.
pub async fn serve(coordinator: &Coordinator, request: GroupRequest) -> GroupResponse {
    match request {
        GroupRequest::Join {
            request,
            version,
            client_id,
            client_host,
        } => GroupResponse::Join(join(coordinator, request, version, client_id, client_host).await),
        GroupRequest::Sync(request) => GroupResponse::Sync(sync(coordinator, request).await),
        GroupRequest::Heartbeat(request) => {
            GroupResponse::Heartbeat(heartbeat(coordinator, request))
        }
        GroupRequest::Leave { request, version } => {
            GroupResponse::Leave(leave(coordinator, request, version))
        }
        GroupRequest::Commit(request) => GroupResponse::Commit(commit(coordinator, request).await),
        GroupRequest::FetchOffsets { group_id, topics } => {
            GroupResponse::FetchOffsets(fetch_offsets(coordinator, group_id, topics))
        }
        GroupRequest::List => GroupResponse::List(list(coordinator)),
        GroupRequest::Describe(ids) => GroupResponse::Describe(describe(coordinator, ids)),
        GroupRequest::Delete(ids) => GroupResponse::Delete(delete(coordinator, ids).await),
        GroupRequest::DeleteOffsets(request) => {
            GroupResponse::DeleteOffsets(delete_offsets(coordinator, request).await)
        }
        GroupRequest::DropOffsetsTopic => GroupResponse::OffsetsTopicDropped(
            coordinator
                .drop_offsets_topic()
                .await
                .map_err(|e| e.to_string()),
        ),
    }
}

async fn join(
    coordinator: &Coordinator,
    request: JoinGroupRequest,
    version: i16,
    client_id: String,
    client_host: String,
) -> JoinGroupResponse {
    let group_id = request.group_id.0.to_string();
    let params = JoinParams {
        member_id: request.member_id.to_string(),
        instance_id: request.group_instance_id.as_ref().map(|s| s.to_string()),
        client_id,
        client_host,
        session_timeout_ms: request.session_timeout_ms.max(0) as u64,
        // v0 has no rebalance timeout: it equals the session timeout.
        rebalance_timeout_ms: if version >= 1 {
            request.rebalance_timeout_ms.max(0) as u64
        } else {
            request.session_timeout_ms.max(0) as u64
        },
        protocol_type: request.protocol_type.to_string(),
        protocols: request
            .protocols
            .iter()
            .map(|p| (p.name.to_string(), p.metadata.clone()))
            .collect(),
        require_known_member_id: version >= 4,
    };
    let failed = |code| {
        JoinGroupResponse::default()
            .with_error_code(code)
            .with_generation_id(-1)
            .with_member_id(request.member_id.clone())
    };
    if group_id.is_empty() {
        return failed(error_code::INVALID_GROUP_ID);
    }
    coordinator
        .join(&group_id, params)
        .await
        .unwrap_or_else(failed)
}

async fn sync(coordinator: &Coordinator, request: SyncGroupRequest) -> SyncGroupResponse {
    let failed = |code| SyncGroupResponse::default().with_error_code(code);
    let reply = {
        let mut groups = coordinator.groups.borrow_mut();
        let Some(group) = groups.get_mut(request.group_id.0.as_str()) else {
            return failed(error_code::UNKNOWN_MEMBER_ID);
        };
        let assignments = request
            .assignments
            .iter()
            .map(|a| (a.member_id.to_string(), a.assignment.clone()))
            .collect();
        let member = MemberRef {
            member_id: request.member_id.as_str(),
            instance_id: request.group_instance_id.as_deref(),
        };
        group.sync(member, request.generation_id, assignments, Instant::now())
    };
    match reply {
        Reply::Now(answer) => answer,
        Reply::Later(rx) => rx
            .await
            .unwrap_or_else(|| failed(error_code::COORDINATOR_NOT_AVAILABLE)),
    }
}

fn heartbeat(coordinator: &Coordinator, request: HeartbeatRequest) -> HeartbeatResponse {
    let mut groups = coordinator.groups.borrow_mut();
    let code = match groups.get_mut(request.group_id.0.as_str()) {
        None => error_code::UNKNOWN_MEMBER_ID,
        Some(group) => {
            let member = MemberRef {
                member_id: request.member_id.as_str(),
                instance_id: request.group_instance_id.as_deref(),
            };
            group.heartbeat(member, request.generation_id, Instant::now())
        }
    };
    HeartbeatResponse::default().with_error_code(code)
}

fn leave(
    coordinator: &Coordinator,
    request: LeaveGroupRequest,
    version: i16,
) -> LeaveGroupResponse {
    let leaving: Vec<(StrBytes, Option<StrBytes>)> = if version >= 3 {
        request
            .members
            .iter()
            .map(|m| (m.member_id.clone(), m.group_instance_id.clone()))
            .collect()
    } else {
        vec![(request.member_id.clone(), None)]
    };
    let mut groups = coordinator.groups.borrow_mut();
    let Some(group) = groups.get_mut(request.group_id.0.as_str()) else {
        return LeaveGroupResponse::default().with_error_code(error_code::UNKNOWN_MEMBER_ID);
    };
    let now = Instant::now();
    let members: Vec<MemberResponse> = leaving
        .into_iter()
        .map(|(member_id, instance_id)| {
            let code = group.leave(member_id.as_str(), instance_id.as_deref(), now);
            MemberResponse::default()
                .with_member_id(member_id)
                .with_group_instance_id(instance_id)
                .with_error_code(code)
        })
        .collect();
    if version >= 3 {
        LeaveGroupResponse::default().with_members(members)
    } else {
        let code = members.first().map_or(error_code::NONE, |m| m.error_code);
        LeaveGroupResponse::default().with_error_code(code)
    }
}

/// The group's verdict on a commit
/// ([`Group::offset_commit_error`](super::group::Group::offset_commit_error)); a
/// group without live state accepts only generation-less commits.
///
/// Checked and queued for the offsets log with no await in between, so no
/// rebalance runs between the check and the commit's place in the log; and a
/// JoinGroup answer waits for the commits queued before it
/// ([`super::Coordinator::join`]).
fn commit_error(coordinator: &Coordinator, request: &OffsetCommitRequest) -> i16 {
    // Kafka's offsets record keeps the group id as an i16-length string.
    if request.group_id.0.len() > RECORD_STRING_BYTES_MAX {
        return error_code::INVALID_GROUP_ID;
    }
    let groups = coordinator.groups.borrow();
    let generation = request.generation_id_or_member_epoch;
    match groups.get(request.group_id.0.as_str()) {
        None if generation < 0 => error_code::NONE,
        None => error_code::UNKNOWN_MEMBER_ID,
        Some(group) => group.offset_commit_error(
            request.member_id.as_str(),
            request.group_instance_id.as_deref(),
            generation,
        ),
    }
}

async fn commit(coordinator: &Coordinator, request: OffsetCommitRequest) -> OffsetCommitResponse {
    let group_error = commit_error(coordinator, &request);
    let table = coordinator.topics.current();
    let group = request.group_id.0.to_string();
    let commit_time_ms = now_ms();
    let mut changes = Vec::new();
    let mut codes: Vec<Vec<i16>> = Vec::with_capacity(request.topics.len());
    for topic in &request.topics {
        let name = topic.name.0.as_str();
        let mut topic_codes = Vec::with_capacity(topic.partitions.len());
        for partition in &topic.partitions {
            let metadata = partition
                .committed_metadata
                .as_ref()
                .map(|m| m.to_string())
                .unwrap_or_default();
            let code = if group_error != error_code::NONE {
                group_error
            } else if !table.has_partition(name, partition.partition_index) {
                error_code::UNKNOWN_TOPIC_OR_PARTITION
            } else if metadata.len() > coordinator.limits.offset_metadata_max_bytes {
                error_code::OFFSET_METADATA_TOO_LARGE
            } else {
                changes.push(OffsetChange {
                    group: group.clone(),
                    topic: name.to_string(),
                    partition: partition.partition_index,
                    committed: Some(CommittedOffset {
                        offset: partition.committed_offset,
                        leader_epoch: partition.committed_leader_epoch,
                        metadata,
                        commit_time_ms,
                    }),
                });
                error_code::NONE
            };
            topic_codes.push(code);
        }
        codes.push(topic_codes);
    }
    let write_error = write_offsets(coordinator, &group, changes, "commit").await;
    commit_response(&request, |topic, partition| match codes[topic][partition] {
        error_code::NONE => write_error,
        own => own,
    })
}

/// An OffsetCommit answer for every partition of `request`, each with the
/// code `code_of(topic index, partition index)` gives.
pub fn commit_response(
    request: &OffsetCommitRequest,
    code_of: impl Fn(usize, usize) -> i16,
) -> OffsetCommitResponse {
    let topics = request
        .topics
        .iter()
        .enumerate()
        .map(|(t, topic)| {
            let partitions = topic
                .partitions
                .iter()
                .enumerate()
                .map(|(p, partition)| {
                    OffsetCommitResponsePartition::default()
                        .with_partition_index(partition.partition_index)
                        .with_error_code(code_of(t, p))
                })
                .collect();
            OffsetCommitResponseTopic::default()
                .with_name(topic.name.clone())
                .with_partitions(partitions)
        })
        .collect();
    OffsetCommitResponse::default().with_topics(topics)
}

/// Writes offset changes durably; the wire code every partition without an
/// error of its own gets (COORDINATOR_NOT_AVAILABLE when the write failed,
/// so clients retry rather than believe the change happened).
async fn write_offsets(
    coordinator: &Coordinator,
    group: &str,
    changes: Vec<OffsetChange>,
    what: &str,
) -> i16 {
    match coordinator.offsets.write(changes).await {
        Ok(()) => error_code::NONE,
        Err(e) => {
            log::error!("group {group}: {what} failed: {e}");
            error_code::COORDINATOR_NOT_AVAILABLE
        }
    }
}

fn fetched(partition: i32, committed: Option<CommittedOffset>) -> OffsetFetchResponsePartitions {
    let answer = OffsetFetchResponsePartitions::default().with_partition_index(partition);
    match committed {
        Some(c) => answer
            .with_committed_offset(c.offset)
            .with_committed_leader_epoch(c.leader_epoch)
            .with_metadata(Some(StrBytes::from_string(c.metadata))),
        None => answer
            .with_committed_offset(-1)
            .with_committed_leader_epoch(-1)
            .with_metadata(Some(StrBytes::default())),
    }
}

fn fetch_offsets(
    coordinator: &Coordinator,
    group_id: GroupId,
    topics: Option<Vec<(TopicName, Vec<i32>)>>,
) -> OffsetFetchResponseGroup {
    let store = &coordinator.offsets;
    let group = group_id.0.as_str();
    let topics = match topics {
        Some(topics) => topics
            .into_iter()
            .map(|(name, partitions)| {
                let partitions = partitions
                    .into_iter()
                    .map(|p| fetched(p, store.get(group, name.0.as_str(), p)))
                    .collect();
                OffsetFetchResponseTopics::default()
                    .with_name(name)
                    .with_partitions(partitions)
            })
            .collect(),
        None => {
            let mut by_topic: Vec<OffsetFetchResponseTopics> = Vec::new();
            for (topic, partition, committed) in store.group_offsets(group) {
                let entry = fetched(partition, Some(committed));
                match by_topic.last_mut() {
                    Some(last) if last.name.0.as_str() == topic => last.partitions.push(entry),
                    _ => by_topic.push(
                        OffsetFetchResponseTopics::default()
                            .with_name(TopicName(StrBytes::from_string(topic)))
                            .with_partitions(vec![entry]),
                    ),
                }
            }
            by_topic
        }
    };
    OffsetFetchResponseGroup::default()
        .with_group_id(group_id)
        .with_topics(topics)
}

fn list(coordinator: &Coordinator) -> Vec<ListedGroup> {
    let groups = coordinator.groups.borrow();
    let mut listed: Vec<ListedGroup> = groups
        .iter()
        .map(|(id, group)| {
            ListedGroup::default()
                .with_group_id(GroupId(StrBytes::from_string(id.clone())))
                .with_protocol_type(StrBytes::from_string(group.protocol_type().to_string()))
                .with_group_state(StrBytes::from_static_str(group.state().name()))
                .with_group_type(StrBytes::from_static_str("classic"))
        })
        .collect();
    // Groups known only by their committed offsets are Empty groups.
    for id in coordinator.offsets.groups() {
        if !groups.contains_key(&id) {
            listed.push(
                ListedGroup::default()
                    .with_group_id(GroupId(StrBytes::from_string(id)))
                    .with_protocol_type(StrBytes::from_static_str(CONSUMER_PROTOCOL_TYPE))
                    .with_group_state(StrBytes::from_static_str("Empty"))
                    .with_group_type(StrBytes::from_static_str("classic")),
            );
        }
    }
    listed
}

fn describe(coordinator: &Coordinator, ids: Vec<GroupId>) -> Vec<DescribedGroup> {
    let groups = coordinator.groups.borrow();
    ids.into_iter()
        .map(|id| match groups.get(id.0.as_str()) {
            Some(group) => group.describe(),
            None => {
                let has_offsets = coordinator.offsets.has_group(id.0.as_str());
                described_without_members(id, has_offsets)
            }
        })
        .collect()
}

/// A group with no live state: with committed offsets it is an Empty
/// consumer group (as ListGroups lists it, and as Kafka describes a consumer
/// group whose members all left); otherwise Dead, Kafka's unknown group.
fn described_without_members(id: GroupId, has_offsets: bool) -> DescribedGroup {
    let described = DescribedGroup::default().with_group_id(id);
    if has_offsets {
        described
            .with_group_state(StrBytes::from_static_str("Empty"))
            .with_protocol_type(StrBytes::from_static_str(CONSUMER_PROTOCOL_TYPE))
    } else {
        described.with_group_state(StrBytes::from_static_str("Dead"))
    }
}

async fn delete(coordinator: &Coordinator, ids: Vec<GroupId>) -> Vec<DeletableGroupResult> {
    let mut results = Vec::with_capacity(ids.len());
    for id in ids {
        let name = id.0.to_string();
        let live = coordinator
            .groups
            .borrow()
            .get(&name)
            .map(|group| group.is_empty());
        let known_offsets = coordinator.offsets.deletions_for_group(&name);
        let code = match live {
            Some(false) => error_code::NON_EMPTY_GROUP,
            None if known_offsets.is_empty() => error_code::GROUP_ID_NOT_FOUND,
            _ => match coordinator.offsets.write(known_offsets).await {
                Ok(()) => {
                    coordinator.groups.borrow_mut().remove(&name);
                    error_code::NONE
                }
                Err(e) => {
                    log::error!("group {name}: delete failed: {e}");
                    error_code::COORDINATOR_NOT_AVAILABLE
                }
            },
        };
        results.push(
            DeletableGroupResult::default()
                .with_group_id(id)
                .with_error_code(code),
        );
    }
    results
}

/// Kafka's OffsetDelete rule: an Empty group loses any offsets asked for; an
/// active consumer group keeps those of topics it subscribes to
/// (GROUP_SUBSCRIBED_TO_TOPIC); an active group of another protocol type is
/// refused whole (NON_EMPTY_GROUP).
fn offset_delete_checks(
    coordinator: &Coordinator,
    group_id: &str,
    request: &OffsetDeleteRequest,
) -> Result<Vec<String>, i16> {
    let groups = coordinator.groups.borrow();
    match groups.get(group_id) {
        Some(group) if super::is_active(group) => {
            if group.protocol_type() != super::subscription::CONSUMER_PROTOCOL_TYPE {
                return Err(error_code::NON_EMPTY_GROUP);
            }
            let names = request.topics.iter().map(|t| t.name.0.to_string());
            Ok(names.filter(|t| group.is_subscribed_to(t)).collect())
        }
        Some(_) => Ok(Vec::new()),
        None if coordinator.offsets.has_group(group_id) => Ok(Vec::new()),
        None => Err(error_code::GROUP_ID_NOT_FOUND),
    }
}

async fn delete_offsets(
    coordinator: &Coordinator,
    request: OffsetDeleteRequest,
) -> OffsetDeleteResponse {
    let group = request.group_id.0.to_string();
    let subscribed = match offset_delete_checks(coordinator, &group, &request) {
        Ok(subscribed) => subscribed,
        Err(code) => return OffsetDeleteResponse::default().with_error_code(code),
    };
    let table = coordinator.topics.current();
    let mut changes = Vec::new();
    let mut codes: Vec<Vec<i16>> = Vec::with_capacity(request.topics.len());
    for topic in &request.topics {
        let name = topic.name.0.as_str();
        let topic_codes = topic
            .partitions
            .iter()
            .map(|partition| {
                let index = partition.partition_index;
                if subscribed.iter().any(|t| t == name) {
                    error_code::GROUP_SUBSCRIBED_TO_TOPIC
                } else if !table.has_partition(name, index) {
                    error_code::UNKNOWN_TOPIC_OR_PARTITION
                } else {
                    if coordinator.offsets.get(&group, name, index).is_some() {
                        changes.push(OffsetChange {
                            group: group.clone(),
                            topic: name.to_string(),
                            partition: index,
                            committed: None,
                        });
                    }
                    error_code::NONE
                }
            })
            .collect();
        codes.push(topic_codes);
    }
    let write_error = write_offsets(coordinator, &group, changes, "offset delete").await;
    let topics = request
        .topics
        .iter()
        .zip(codes)
        .map(|(topic, topic_codes)| {
            let partitions = topic
                .partitions
                .iter()
                .zip(topic_codes)
                .map(|(partition, code)| {
                    OffsetDeleteResponsePartition::default()
                        .with_partition_index(partition.partition_index)
                        .with_error_code(if code == error_code::NONE {
                            write_error
                        } else {
                            code
                        })
                })
                .collect();
            OffsetDeleteResponseTopic::default()
                .with_name(topic.name.clone())
                .with_partitions(partitions)
        })
        .collect();
    OffsetDeleteResponse::default().with_topics(topics)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_known_by_its_offsets_is_an_empty_consumer_group() {
        let id = || GroupId(StrBytes::from_static_str("g"));
        let empty = described_without_members(id(), true);
        assert_eq!(
            (empty.group_state.as_str(), empty.protocol_type.as_str()),
            ("Empty", CONSUMER_PROTOCOL_TYPE)
        );
        let dead = described_without_members(id(), false);
        assert_eq!(
            (dead.group_state.as_str(), dead.protocol_type.as_str()),
            ("Dead", "")
        );
        assert!(empty.members.is_empty() && dead.members.is_empty());
    }
}
