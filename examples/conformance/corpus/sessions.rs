//! Incremental fetch sessions (KIP-227): a full fetch opens one, incremental fetches answer
//! only what changed and forget partitions, and the session errors (wrong epoch, unknown id,
//! names in a session opened with topic ids). Each broker's requests carry its own session id.

use super::data::{batch, create_with_ids, produce, ACKS_ALL, FETCH_MAX_BYTES};
use super::{name, step, step_at, topic, topic_id};
use crate::run::{Runner, Target};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic, ForgottenTopic};
use kafka_protocol::messages::*;

const INITIAL_EPOCH: i32 = 0;
const FINAL_EPOCH: i32 = -1;
/// The last version that names topics instead of ids.
const LAST_NAMED_VERSION: i16 = 12;

/// One session's request: `offsets` are (partition, fetch offset), `forget` partitions.
struct SessionFetch<'a> {
    topic: &'a str,
    session_id: i32,
    epoch: i32,
    offsets: &'a [(i32, i64)],
    forget: &'a [i32],
}

/// Runs the session sequence.
pub fn run(runner: &mut Runner) -> Result<(), String> {
    let seq = "sessions";
    runner.begin(seq);
    let t = name(runner, seq, "t");
    create_with_ids(runner, "create 2 partitions", &t, 2)?;
    step(
        runner,
        "produce 2 to partition 0",
        ApiKey::Produce,
        |target, v| produce(target, v, &t, 0, ACKS_ALL, batch(2, 10)?),
    );
    step(
        runner,
        "produce 1 to partition 1",
        ApiKey::Produce,
        |target, v| produce(target, v, &t, 1, ACKS_ALL, batch(1, 10)?),
    );
    let fetch = |session: fn(&Target) -> i32, epoch, offsets: &'static [(i32, i64)], forget| {
        let t = t.clone();
        move |target: &Target, v: i16| {
            session_fetch(
                target,
                v,
                &SessionFetch {
                    topic: &t,
                    session_id: session(target),
                    epoch,
                    offsets,
                    forget,
                },
            )
        }
    };
    let none = |_: &Target| 0;
    step(
        runner,
        "full fetch opens a session",
        ApiKey::Fetch,
        fetch(none, INITIAL_EPOCH, &[(0, 0), (1, 0)], &[]),
    );
    step(
        runner,
        "incremental, nothing new: no partition",
        ApiKey::Fetch,
        fetch(live_session, 1, &[(0, 2), (1, 1)], &[]),
    );
    step(
        runner,
        "produce 1 more to partition 1",
        ApiKey::Produce,
        |target, v| produce(target, v, &t, 1, ACKS_ALL, batch(1, 10)?),
    );
    step(
        runner,
        "incremental: only partition 1, named by nothing",
        ApiKey::Fetch,
        fetch(live_session, 2, &[], &[]),
    );
    step(
        runner,
        "produce 1 more to partition 0",
        ApiKey::Produce,
        |target, v| produce(target, v, &t, 0, ACKS_ALL, batch(1, 10)?),
    );
    step(
        runner,
        "incremental forgets partition 0: its record is not answered",
        ApiKey::Fetch,
        fetch(live_session, 3, &[(1, 2)], &[0]),
    );
    step(
        runner,
        "the same epoch again: INVALID_FETCH_SESSION_EPOCH",
        ApiKey::Fetch,
        fetch(live_session, 3, &[], &[]),
    );
    step(
        runner,
        "an unknown session: FETCH_SESSION_ID_NOT_FOUND",
        ApiKey::Fetch,
        fetch(other_session, 4, &[], &[]),
    );
    step_at(
        runner,
        "topic names in a session of topic ids: FETCH_SESSION_TOPIC_ID_ERROR",
        ApiKey::Fetch,
        LAST_NAMED_VERSION,
        fetch(live_session, 4, &[], &[]),
    );
    step(
        runner,
        "epoch -1 closes the session, answers without one",
        ApiKey::Fetch,
        fetch(live_session, FINAL_EPOCH, &[(0, 0)], &[]),
    );
    step(
        runner,
        "the closed session: FETCH_SESSION_ID_NOT_FOUND",
        ApiKey::Fetch,
        fetch(live_session, 4, &[], &[]),
    );
    Ok(())
}

/// The session this broker opened last in the sequence (its answers' last non-zero id).
fn live_session(target: &Target) -> i32 {
    target
        .history
        .iter()
        .rev()
        .find_map(|(_, outcome)| match outcome {
            crate::wire::Outcome::Answer(answer) => match answer.as_ref() {
                ResponseKind::Fetch(r) if r.session_id != 0 => Some(r.session_id),
                _ => None,
            },
            _ => None,
        })
        .unwrap_or(0)
}

/// An id next to the live session's, which no broker handed out.
fn other_session(target: &Target) -> i32 {
    live_session(target) ^ 1
}

fn session_fetch(target: &Target, v: i16, request: &SessionFetch) -> Result<FetchRequest, String> {
    let by_id = v > LAST_NAMED_VERSION;
    let id = if by_id {
        topic_id(target, request.topic)?
    } else {
        uuid::Uuid::nil()
    };
    let named = |t: FetchTopic| {
        if by_id {
            t.with_topic_id(id)
        } else {
            t.with_topic(topic(request.topic))
        }
    };
    let partitions: Vec<FetchPartition> = request
        .offsets
        .iter()
        .map(|&(partition, offset)| {
            FetchPartition::default()
                .with_partition(partition)
                .with_fetch_offset(offset)
                .with_partition_max_bytes(FETCH_MAX_BYTES)
        })
        .collect();
    let topics = if partitions.is_empty() {
        vec![]
    } else {
        vec![named(FetchTopic::default().with_partitions(partitions))]
    };
    let forgotten = if request.forget.is_empty() {
        vec![]
    } else {
        let t = ForgottenTopic::default().with_partitions(request.forget.to_vec());
        vec![if by_id {
            t.with_topic_id(id)
        } else {
            t.with_topic(topic(request.topic))
        }]
    };
    Ok(FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(0)
        .with_min_bytes(1)
        .with_max_bytes(FETCH_MAX_BYTES)
        .with_session_id(request.session_id)
        .with_session_epoch(request.epoch)
        .with_topics(topics)
        .with_forgotten_topics_data(forgotten))
}
