//! Replays what a real client sent (a recording by tests/conformance/record.py) to both
//! brokers, one request at a time in the recorded order, each on its recorded connection,
//! and compares the answers like the corpus's. Each broker gets its own member ids,
//! generations, producer ids, fetch sessions and topic ids in place of the recorded ones
//! (substitute.rs), and both settle after topic changes as in the corpus.

use crate::corpus::{await_topic, await_topic_gone};
use crate::recording::{self, Exchange};
use crate::run::{Payload, Runner};
use crate::substitute::Substitutions;
use crate::wire::Outcome;
use kafka_protocol::messages::{RequestKind, ResponseKind};
use std::path::Path;

/// Replays the recording at `path` as sequence `client-NAME` (NAME: the file's stem).
pub fn run(runner: &mut Runner, path: &str) -> Result<(), String> {
    let exchanges = recording::read(path, &runner.scope)?;
    let name = Path::new(path)
        .file_stem()
        .map_or("recording".into(), |s| s.to_string_lossy());
    runner.begin(&format!("client-{name}"));
    let mut substitutions: Vec<Substitutions> = runner
        .targets
        .iter()
        .map(|_| Substitutions::default())
        .collect();
    for (index, exchange) in exchanges.iter().enumerate() {
        let step = format!("{index:03} {:?}", exchange.api);
        // Runner::step builds the targets' requests in order: Kafka's, then millrace's.
        let mut target_at = 0;
        runner.step(
            &step,
            exchange.api,
            exchange.header.request_api_version,
            exchange.connection,
            |_| {
                let payload = payload(exchange, &substitutions[target_at]);
                target_at += 1;
                Ok(payload)
            },
        );
        learn(runner, exchange, &mut substitutions);
        settle(runner, exchange)?;
    }
    Ok(())
}

fn payload(exchange: &Exchange, substitutions: &Substitutions) -> Payload {
    match &exchange.request {
        Ok(request) => Payload::Headed(
            Box::new(exchange.header.clone()),
            substitutions.apply(request.clone()),
        ),
        // Not decodable by kafka-protocol: sent as recorded, ids and all.
        Err(why) => {
            eprintln!(
                "conformance: {:?} replayed as recorded: {why}",
                exchange.api
            );
            Payload::Raw(exchange.frame.clone())
        }
    }
}

/// This step's answers beside the recorded one: what each broker gave in place of it.
fn learn(runner: &Runner, exchange: &Exchange, substitutions: &mut [Substitutions]) {
    let Some(recorded) = &exchange.answer else {
        return;
    };
    for (target, learnt) in runner.targets.iter().zip(substitutions) {
        if let Some((_, Outcome::Answer(live))) = target.history.last() {
            learnt.learn(recorded, live);
        }
    }
}

/// The answers every broker gave to this step, when all gave one.
fn answers(runner: &Runner) -> Vec<&ResponseKind> {
    runner
        .targets
        .iter()
        .filter_map(|t| match t.history.last() {
            Some((_, Outcome::Answer(answer))) => Some(answer.as_ref()),
            _ => None,
        })
        .collect()
}

/// After a topic was created, grown or deleted on every broker, waits until all serve it so
/// (Kafka applies these through its controller, and its broker side lags behind the answer).
fn settle(runner: &mut Runner, exchange: &Exchange) -> Result<(), String> {
    let Ok(request) = &exchange.request else {
        return Ok(());
    };
    // (topic, partitions it should have: None for the broker's default)
    let changed: Vec<(String, Option<i32>)> = match request {
        RequestKind::CreateTopics(r) if !r.validate_only => r
            .topics
            .iter()
            .map(|t| {
                let partitions = (t.num_partitions > 0).then_some(t.num_partitions);
                (t.name.0.to_string(), partitions)
            })
            .collect(),
        RequestKind::CreatePartitions(r) if !r.validate_only => r
            .topics
            .iter()
            .map(|t| (t.name.0.to_string(), Some(t.count)))
            .collect(),
        _ => Vec::new(),
    };
    let answered = answers(runner);
    let everywhere = answered.len() == runner.targets.len();
    let created: Vec<(String, Option<i32>)> = changed
        .into_iter()
        .filter(|(name, _)| everywhere && answered.iter().all(|a| succeeded(a, name)))
        .collect();
    for (name, partitions) in created {
        await_topic(runner, &name, partitions)?;
    }
    if let RequestKind::DeleteTopics(r) = request {
        let named = r.topics.iter().filter_map(|t| t.name.as_ref());
        for name in r.topic_names.iter().chain(named) {
            await_topic_gone(runner, &name.0)?;
        }
    }
    Ok(())
}

/// Whether `answer` (to CreateTopics or CreatePartitions) says topic `name` changed.
fn succeeded(answer: &ResponseKind, name: &str) -> bool {
    match answer {
        ResponseKind::CreateTopics(a) => a
            .topics
            .iter()
            .any(|t| t.name.0.as_str() == name && t.error_code == 0),
        ResponseKind::CreatePartitions(a) => a
            .results
            .iter()
            .any(|t| t.name.0.as_str() == name && t.error_code == 0),
        _ => false,
    }
}
