//! Leader epochs (KIP-101, KIP-320): OffsetForLeaderEpoch's answers for the current, an older,
//! a future and no epoch, unknown topics and partitions; the current-epoch check of
//! OffsetForLeaderEpoch, ListOffsets and Fetch (an older epoch FENCED_LEADER_EPOCH, a newer one
//! UNKNOWN_LEADER_EPOCH); Fetch's divergence check from LastFetchedEpoch; a committed leader
//! epoch kept by OffsetCommit and returned by OffsetFetch. A one-node Kafka is at epoch 0, as
//! millrace is, so "older" is a negative epoch other than -1 (Kafka checks any but -1).

use super::data::{batch, create_with_ids, produce, ACKS_ALL, FETCH_MAX_BYTES};
use super::{name, step, text, topic, topic_id};
use crate::run::{Runner, Target};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use kafka_protocol::messages::*;

/// No epoch: "do not check" in requests.
const NO_EPOCH: i32 = -1;
/// An epoch older than any (Kafka checks every value but -1).
const OLDER_EPOCH: i32 = -2;
/// An epoch newer than a one-node cluster's 0.
const NEWER_EPOCH: i32 = 7;
/// The consumer's replica id.
const CONSUMER: i32 = -1;

/// Runs the epoch sequence.
pub fn run(runner: &mut Runner) -> Result<(), String> {
    let seq = "epochs";
    runner.begin(seq);
    let t = name(runner, seq, "t");
    create_with_ids(runner, "create", &t, 1)?;
    step(runner, "produce 3 records", ApiKey::Produce, |target, v| {
        produce(target, v, &t, 0, ACKS_ALL, batch(3, 10)?)
    });
    step(runner, "produce 2 more", ApiKey::Produce, |target, v| {
        produce(target, v, &t, 0, ACKS_ALL, batch(2, 10)?)
    });
    offsets_for_leader_epoch(runner, &t);
    list_offsets_checks(runner, &t);
    fetch_checks(runner, &t);
    committed_epoch(runner, &t, &name(runner, seq, "g"));
    Ok(())
}

fn epoch_query(
    name: &str,
    partition: i32,
    current: i32,
    epoch: i32,
) -> OffsetForLeaderEpochRequest {
    OffsetForLeaderEpochRequest::default()
        .with_replica_id(BrokerId(CONSUMER))
        .with_topics(vec![OffsetForLeaderTopic::default()
            .with_topic(topic(name))
            .with_partitions(vec![OffsetForLeaderPartition::default()
                .with_partition(partition)
                .with_current_leader_epoch(current)
                .with_leader_epoch(epoch)])])
}

fn offsets_for_leader_epoch(runner: &mut Runner, t: &str) {
    let cases = [
        ("epoch 0: the log end offset", 0, NO_EPOCH, 0),
        ("epoch 0 at current epoch 0", 0, 0, 0),
        ("a future epoch: unknown", 0, NO_EPOCH, NEWER_EPOCH),
        ("no epoch: unknown", 0, NO_EPOCH, NO_EPOCH),
        (
            "current epoch newer: UNKNOWN_LEADER_EPOCH",
            0,
            NEWER_EPOCH,
            0,
        ),
        (
            "current epoch older: FENCED_LEADER_EPOCH",
            0,
            OLDER_EPOCH,
            0,
        ),
        ("partition 9: UNKNOWN_TOPIC_OR_PARTITION", 9, NO_EPOCH, 0),
    ];
    for (label, partition, current, epoch) in cases {
        step(
            runner,
            &format!("offset for leader epoch, {label}"),
            ApiKey::OffsetForLeaderEpoch,
            |_, _| Ok(epoch_query(t, partition, current, epoch)),
        );
    }
    let missing = name(runner, "epochs", "missing");
    step(
        runner,
        "offset for leader epoch of a missing topic",
        ApiKey::OffsetForLeaderEpoch,
        |_, _| Ok(epoch_query(&missing, 0, NO_EPOCH, 0)),
    );
}

fn list_offsets_at(name: &str, timestamp: i64, current: i32) -> ListOffsetsRequest {
    ListOffsetsRequest::default()
        .with_replica_id(BrokerId(CONSUMER))
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(topic(name))
            .with_partitions(vec![ListOffsetsPartition::default()
                .with_partition_index(0)
                .with_current_leader_epoch(current)
                .with_timestamp(timestamp)])])
}

fn list_offsets_checks(runner: &mut Runner, t: &str) {
    let cases = [
        ("latest at current epoch 0", -1, 0),
        ("earliest at current epoch 0", -2, 0),
        (
            "latest, current epoch newer: UNKNOWN_LEADER_EPOCH",
            -1,
            NEWER_EPOCH,
        ),
        (
            "latest, current epoch older: FENCED_LEADER_EPOCH",
            -1,
            OLDER_EPOCH,
        ),
        ("a time past every record: no epoch", i64::MAX / 2, NO_EPOCH),
    ];
    for (label, timestamp, current) in cases {
        step(
            runner,
            &format!("list offsets {label}"),
            ApiKey::ListOffsets,
            |_, _| Ok(list_offsets_at(t, timestamp, current)),
        );
    }
}

fn fetch_at(
    target: &Target,
    v: i16,
    name: &str,
    offset: i64,
    current: i32,
    last_fetched: i32,
) -> Result<FetchRequest, String> {
    let partition = FetchPartition::default()
        .with_partition(0)
        .with_fetch_offset(offset)
        .with_current_leader_epoch(current)
        .with_last_fetched_epoch(last_fetched)
        .with_partition_max_bytes(FETCH_MAX_BYTES);
    let mut fetch_topic = FetchTopic::default().with_partitions(vec![partition]);
    fetch_topic = if v >= 13 {
        fetch_topic.with_topic_id(topic_id(target, name)?)
    } else {
        fetch_topic.with_topic(topic(name))
    };
    Ok(FetchRequest::default()
        .with_replica_id(BrokerId(CONSUMER))
        .with_max_wait_ms(0)
        .with_min_bytes(1)
        .with_max_bytes(FETCH_MAX_BYTES)
        .with_session_epoch(-1)
        .with_topics(vec![fetch_topic]))
}

fn fetch_checks(runner: &mut Runner, t: &str) {
    let cases = [
        ("at current epoch 0", 0, 0, NO_EPOCH),
        (
            "current epoch newer: UNKNOWN_LEADER_EPOCH",
            0,
            NEWER_EPOCH,
            NO_EPOCH,
        ),
        (
            "current epoch -2: no check in Fetch",
            0,
            OLDER_EPOCH,
            NO_EPOCH,
        ),
        ("last fetched epoch 0 at offset 3: no divergence", 3, 0, 0),
        ("last fetched epoch 0 past the end: diverging", 9, 0, 0),
        (
            "last fetched epoch in the future: OFFSET_OUT_OF_RANGE",
            3,
            NO_EPOCH,
            NEWER_EPOCH,
        ),
    ];
    for (label, offset, current, last_fetched) in cases {
        step(
            runner,
            &format!("fetch {label}"),
            ApiKey::Fetch,
            |target, v| fetch_at(target, v, t, offset, current, last_fetched),
        );
    }
}

fn committed_epoch(runner: &mut Runner, t: &str, group: &str) {
    step(
        runner,
        "commit offset 4 at leader epoch 0 (simple consumer)",
        ApiKey::OffsetCommit,
        |_, _| {
            Ok(OffsetCommitRequest::default()
                .with_group_id(GroupId(text(group)))
                .with_member_id(text(""))
                .with_generation_id_or_member_epoch(-1)
                .with_retention_time_ms(-1)
                .with_topics(vec![OffsetCommitRequestTopic::default()
                    .with_name(topic(t))
                    .with_partitions(vec![OffsetCommitRequestPartition::default()
                        .with_partition_index(0)
                        .with_committed_offset(4)
                        .with_committed_leader_epoch(0)
                        .with_committed_metadata(Some(text("")))])]))
        },
    );
    step(
        runner,
        "fetch the committed offset and its epoch",
        ApiKey::OffsetFetch,
        |_, v| {
            Ok(if v >= 8 {
                let topics = OffsetFetchRequestTopics::default()
                    .with_name(topic(t))
                    .with_partition_indexes(vec![0]);
                OffsetFetchRequest::default().with_groups(vec![OffsetFetchRequestGroup::default()
                    .with_group_id(GroupId(text(group)))
                    .with_member_epoch(-1)
                    .with_topics(Some(vec![topics]))])
            } else {
                let topics = OffsetFetchRequestTopic::default()
                    .with_name(topic(t))
                    .with_partition_indexes(vec![0]);
                OffsetFetchRequest::default()
                    .with_group_id(GroupId(text(group)))
                    .with_topics(Some(vec![topics]))
            })
        },
    );
}
