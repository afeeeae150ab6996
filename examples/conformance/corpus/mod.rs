//! The built-in corpus: sequences of requests, error cases included, each sent to both brokers.
//! A step builds each broker's request from that broker's own earlier answers (member ids,
//! producer ids, topic ids differ between brokers by design).

mod data;
mod groups;
mod topics;

use crate::run::{common_version, Payload, Runner, Target};
use kafka_protocol::messages::{ApiKey, ResponseKind, TopicName};
use kafka_protocol::protocol::StrBytes;

/// Versions above these address topics by id in a way the corpus does not build.
const VERSION_CAP_NONE: i16 = i16::MAX;

/// Runs every sequence of the corpus.
pub fn run_all(runner: &mut Runner) {
    topics::run(runner);
    data::run(runner);
    groups::run(runner);
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
