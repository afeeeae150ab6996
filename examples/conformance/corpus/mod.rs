//! The built-in corpus: sequences of requests, error cases included, each sent to both brokers.
//! A step builds each broker's request from that broker's own earlier answers (member ids,
//! producer ids, topic ids differ between brokers by design).

mod data;
mod epochs;
mod groups;
mod sessions;
mod topics;

use crate::run::{common_version, Payload, Runner, Target};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{ApiKey, BrokerId, ListOffsetsRequest, ResponseKind, TopicName};
use kafka_protocol::protocol::StrBytes;

/// Kafka's error code for a topic or partition the broker does not know.
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
/// ListOffsets timestamp asking for the log end offset.
const LATEST_OFFSET: i64 = -1;

/// Versions above these address topics by id in a way the corpus does not build.
const VERSION_CAP_NONE: i16 = i16::MAX;

/// Runs every sequence of the corpus; an error is a broker that never settled.
pub fn run_all(runner: &mut Runner) -> Result<(), String> {
    topics::run(runner)?;
    data::run(runner)?;
    sessions::run(runner)?;
    groups::run(runner)?;
    epochs::run(runner)
}

/// A name under the run's scope, unique to `sequence`.
pub fn name(runner: &Runner, sequence: &str, suffix: &str) -> String {
    format!("{}{sequence}-{suffix}", runner.scope)
}

/// A topic name for a request.
pub fn topic(name: &str) -> TopicName {
    TopicName(text(name))
}

/// A protocol string.
pub fn text(value: &str) -> StrBytes {
    StrBytes::from_string(value.to_string())
}

/// The highest version of `api` both brokers support (the step is skipped when none).
pub fn version(runner: &Runner, api: ApiKey) -> Option<i16> {
    common_version(&runner.targets, api, VERSION_CAP_NONE)
}

/// Runs `build` as one step at the highest common version of `api`, on the main connection.
pub fn step<R>(
    runner: &mut Runner,
    name: &str,
    api: ApiKey,
    build: impl Fn(&Target, i16) -> Result<R, String>,
) where
    R: Into<kafka_protocol::messages::RequestKind>,
{
    let Some(v) = version(runner, api) else {
        return runner.no_common_version(name, api);
    };
    step_at(runner, name, api, v, build)
}

/// Runs `build` as one step at version `v` of `api`.
pub fn step_at<R>(
    runner: &mut Runner,
    name: &str,
    api: ApiKey,
    v: i16,
    build: impl Fn(&Target, i16) -> Result<R, String>,
) where
    R: Into<kafka_protocol::messages::RequestKind>,
{
    runner.step(name, api, v, crate::run::MAIN_CONNECTION, |target| {
        build(target, v).map(|r| Payload::Typed(r.into()))
    });
}

/// The last answer of `api` this broker gave in the current sequence.
pub fn last_answer(target: &Target, api: ApiKey) -> Option<&ResponseKind> {
    target
        .history
        .iter()
        .rev()
        .find_map(|(key, outcome)| match outcome {
            crate::wire::Outcome::Answer(answer) if *key == api => Some(answer.as_ref()),
            _ => None,
        })
}

/// The id this broker gave topic `name`, from its CreateTopics or Metadata answers.
pub fn topic_id(target: &Target, name: &str) -> Result<uuid::Uuid, String> {
    for (_, outcome) in target.history.iter().rev() {
        let crate::wire::Outcome::Answer(answer) = outcome else {
            continue;
        };
        let found = match answer.as_ref() {
            ResponseKind::CreateTopics(r) => r
                .topics
                .iter()
                .find(|t| t.name.0.as_str() == name)
                .map(|t| t.topic_id),
            ResponseKind::Metadata(r) => r
                .topics
                .iter()
                .find(|t| t.name.as_ref().is_some_and(|n| n.0.as_str() == name))
                .map(|t| t.topic_id),
            _ => None,
        };
        if let Some(id) = found.filter(|id| !id.is_nil()) {
            return Ok(id);
        }
    }
    Err(format!(
        "{} never named the id of topic {name}",
        target.name
    ))
}

/// Waits until both brokers serve topic `name`: Metadata lists it with `partitions`
/// partitions (any count when `None`), each with a leader, and ListOffsets answers every one
/// of them (partition 0 when the count is not given). Kafka applies a CreateTopics or CreatePartitions through its controller and
/// answers UNKNOWN_TOPIC_OR_PARTITION or NOT_LEADER_OR_FOLLOWER until its broker side has
/// caught up; the corpus compares answers, not that lag.
pub fn await_topic(runner: &mut Runner, name: &str, partitions: Option<i32>) -> Result<(), String> {
    let metadata_version = version(runner, ApiKey::Metadata).ok_or("no common Metadata version")?;
    let ready = |answer: &ResponseKind| match answer {
        ResponseKind::Metadata(r) => r.topics.iter().any(|t| {
            t.name.as_ref().is_some_and(|n| n.0.as_str() == name)
                && t.error_code == 0
                && !t.partitions.is_empty()
                && partitions.is_none_or(|p| t.partitions.len() == p as usize)
                && t.partitions
                    .iter()
                    .all(|p| p.error_code == 0 && p.leader_id.0 >= 0)
        }),
        _ => false,
    };
    runner.settle(
        &format!("Metadata lists topic {name} with a leader for every partition"),
        ApiKey::Metadata,
        metadata_version,
        topics::metadata(&[name]).into(),
        ready,
    )?;
    let list_version =
        version(runner, ApiKey::ListOffsets).ok_or("no common ListOffsets version")?;
    // A topic of the default size has at least partition 0.
    let every_partition = (0..partitions.unwrap_or(1))
        .map(|p| {
            ListOffsetsPartition::default()
                .with_partition_index(p)
                .with_timestamp(LATEST_OFFSET)
        })
        .collect();
    let request = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(topic(name))
            .with_partitions(every_partition)]);
    runner.settle(
        &format!("ListOffsets answers every partition of topic {name}"),
        ApiKey::ListOffsets,
        list_version,
        request.into(),
        |answer| match answer {
            ResponseKind::ListOffsets(r) => r
                .topics
                .iter()
                .flat_map(|t| &t.partitions)
                .all(|p| p.error_code == 0),
            _ => false,
        },
    )
}

/// Waits until Metadata on both brokers answers UNKNOWN_TOPIC_OR_PARTITION for `name`.
pub fn await_topic_gone(runner: &mut Runner, name: &str) -> Result<(), String> {
    let metadata_version = version(runner, ApiKey::Metadata).ok_or("no common Metadata version")?;
    runner.settle(
        &format!("Metadata no longer knows topic {name}"),
        ApiKey::Metadata,
        metadata_version,
        topics::metadata(&[name]).into(),
        |answer| match answer {
            ResponseKind::Metadata(r) => r
                .topics
                .iter()
                .all(|t| t.error_code == UNKNOWN_TOPIC_OR_PARTITION),
            _ => false,
        },
    )
}
