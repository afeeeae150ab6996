//! Sends each step of a sequence to both brokers, compares the two answers field by field and
//! prints one JSON line per step.

use crate::flatten::{leaves, Leaf};
use crate::wire::{Connection, Frame, Outcome};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, FindCoordinatorRequest, InitProducerIdRequest, ProducerId,
    RequestHeader, RequestKind, ResponseKind,
};
use kafka_protocol::protocol::StrBytes;
use millrace::bench::json::Json;
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

/// The last FindCoordinator version with a single `key`.
const FIND_COORDINATOR_KEY_VERSION: i16 = 3;
/// A version of InitProducerId that every 4.x Kafka and millrace serve.
const INIT_PRODUCER_ID_VERSION: i16 = 4;
/// What the Java client sends for an idempotent producer.
const WARM_UP_TRANSACTION_TIMEOUT_MS: i32 = 60_000;
/// How long a broker may take to create its offsets topic and producer id block.
const WARM_UP_WAIT_MS: u64 = 60_000;
/// How long a broker may take to show what a step changed (a created topic's leaders, a
/// deleted topic gone): a loaded machine slows Kafka's metadata propagation to seconds.
pub const SETTLE_WAIT_MS: u64 = 30_000;
const WAIT_POLL_MS: u64 = 100;
/// Connection id of requests that do not name one.
pub const MAIN_CONNECTION: u32 = 0;
/// Connection id of the requests that wait for a broker to settle: never one a step uses.
const WAIT_CONNECTION: u32 = u32::MAX;
/// Correlation id of waiting requests.
const WAIT_CORRELATION_ID: i32 = i32::MAX;

/// Set (to anything) to print every field of every answer on stderr.
const TRACE_VARIABLE: &str = "CONFORMANCE_TRACE";

/// Names of the brokers in the output: Kafka's answer, then millrace's.
const BROKERS: [&str; 2] = ["kafka", "millrace"];

/// One broker under comparison: its connections and what it answered so far in this sequence.
pub struct Target {
    /// `kafka` or `millrace`.
    pub name: &'static str,
    address: String,
    connections: HashMap<u32, Connection>,
    /// Every answer of the current sequence, in order.
    pub history: Vec<(ApiKey, Outcome)>,
    /// Highest version this broker supports per API key.
    max_versions: HashMap<i16, i16>,
}

impl Target {
    /// A target at `address`; its supported versions are asked once.
    pub fn open(name: &'static str, address: &str) -> Result<Target, String> {
        let mut target = Target {
            name,
            address: address.to_string(),
            connections: HashMap::new(),
            history: Vec::new(),
            max_versions: HashMap::new(),
        };
        let frame = Frame::encode(
            ApiKey::ApiVersions,
            &ApiVersionsRequest::default().into(),
            0,
            0,
        )?;
        match target.exchange(MAIN_CONNECTION, &frame) {
            Outcome::Answer(answer) => {
                if let ResponseKind::ApiVersions(versions) = *answer {
                    for key in versions.api_keys {
                        target.max_versions.insert(key.api_key, key.max_version);
                    }
                }
            }
            other => {
                return Err(format!(
                    "{name} at {address}: ApiVersions got {}",
                    other.kind()
                ))
            }
        }
        target.history.clear();
        Ok(target)
    }

    /// Closes every connection and forgets the answers: a new sequence starts clean.
    pub fn reset(&mut self) {
        self.connections.clear();
        self.history.clear();
    }

    /// Sends `frame` on a connection of its own until `ready` accepts the answer, for at most
    /// `wait_ms`. Nothing is recorded: waiting is not part of the comparison.
    fn wait_until(
        &mut self,
        what: &str,
        frame: &Frame,
        wait_ms: u64,
        ready: &dyn Fn(&ResponseKind) -> bool,
    ) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_millis(wait_ms);
        loop {
            let outcome = self.exchange(WAIT_CONNECTION, frame);
            if let Outcome::Answer(answer) = &outcome {
                if ready(answer) {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                let last = match &outcome {
                    Outcome::Answer(answer) => format!("{answer:?}"),
                    other => other.kind().to_string(),
                };
                return Err(format!(
                    "{} at {}: {what}: not so after {wait_ms} ms; last answer: {last}",
                    self.name, self.address
                ));
            }
            std::thread::sleep(Duration::from_millis(WAIT_POLL_MS));
        }
    }

    fn exchange(&mut self, connection: u32, frame: &Frame) -> Outcome {
        if !self.connections.contains_key(&connection) {
            match Connection::open(&self.address) {
                Ok(c) => {
                    self.connections.insert(connection, c);
                }
                Err(_) => return Outcome::Closed,
            }
        }
        let outcome = match self.connections.get_mut(&connection) {
            Some(c) => c.exchange(frame),
            None => Outcome::Closed,
        };
        if matches!(outcome, Outcome::Closed | Outcome::Timeout) {
            // The broker dropped it; the next request on this id opens a new one.
            self.connections.remove(&connection);
        }
        outcome
    }
}

/// The highest version of `api` that both brokers and kafka-protocol support, capped at `cap`.
pub fn common_version(targets: &[Target], api: ApiKey, cap: i16) -> Option<i16> {
    let mut version = api.valid_versions().max.min(cap);
    for target in targets {
        version = version.min(*target.max_versions.get(&(api as i16))?);
    }
    (version >= api.valid_versions().min).then_some(version)
}

/// What one step sends to one broker.
pub enum Payload {
    /// A typed request, encoded at the step's version.
    Typed(RequestKind),
    /// Header and body bytes as they are (bad versions, unknown keys).
    Raw(bytes::Bytes),
    /// A typed request under a given header (a recorded client's): the step's version and
    /// correlation id are the header's.
    Headed(Box<RequestHeader>, RequestKind),
}

/// Runs steps on both brokers and keeps one comparison record per step.
pub struct Runner {
    /// Kafka first, then millrace.
    pub targets: Vec<Target>,
    /// The run's name prefix: topic and group arrays are compared only for names under it.
    pub scope: String,
    sequence: String,
    steps: Vec<Json>,
}

impl Runner {
    /// A runner over `targets` for names starting with `scope`.
    pub fn new(targets: Vec<Target>, scope: &str) -> Runner {
        Runner {
            targets,
            scope: scope.to_string(),
            sequence: String::new(),
            steps: Vec::new(),
        }
    }

    /// Waits until every broker names a group coordinator and hands out producer ids: a fresh
    /// Kafka creates `__consumer_offsets` and asks its controller for a block of producer ids
    /// on first use, answering COORDINATOR_NOT_AVAILABLE / COORDINATOR_LOAD_IN_PROGRESS
    /// meanwhile. The corpus compares request handling, not a broker's warm-up.
    pub fn warm_up(&mut self, group: &str) -> Result<(), String> {
        let find =
            FindCoordinatorRequest::default().with_key(StrBytes::from_string(group.to_string()));
        let find = Frame::encode(
            ApiKey::FindCoordinator,
            &find.into(),
            FIND_COORDINATOR_KEY_VERSION,
            0,
        )?;
        let init = InitProducerIdRequest::default()
            .with_transactional_id(None)
            .with_transaction_timeout_ms(WARM_UP_TRANSACTION_TIMEOUT_MS)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1);
        let init = Frame::encode(
            ApiKey::InitProducerId,
            &init.into(),
            INIT_PRODUCER_ID_VERSION,
            0,
        )?;
        for target in &mut self.targets {
            target.wait_until(
                "names a group coordinator",
                &find,
                WARM_UP_WAIT_MS,
                &|a| matches!(a, ResponseKind::FindCoordinator(r) if r.error_code == 0),
            )?;
            target.wait_until(
                "hands out a producer id",
                &init,
                WARM_UP_WAIT_MS,
                &|a| matches!(a, ResponseKind::InitProducerId(r) if r.error_code == 0),
            )?;
            target.reset();
        }
        Ok(())
    }

    /// Waits until `ready` accepts every broker's answer to `request` (sent at `version` of
    /// `api`), for at most `SETTLE_WAIT_MS` each: what one step changed shows before the next
    /// step looks. A broker that never settles ends the run with an error naming it.
    pub fn settle(
        &mut self,
        what: &str,
        api: ApiKey,
        version: i16,
        request: RequestKind,
        ready: impl Fn(&ResponseKind) -> bool,
    ) -> Result<(), String> {
        let frame = Frame::encode(api, &request, version, WAIT_CORRELATION_ID)?;
        for target in &mut self.targets {
            target
                .wait_until(what, &frame, SETTLE_WAIT_MS, &ready)
                .map_err(|e| format!("sequence {}: {e}", self.sequence))?;
        }
        Ok(())
    }

    /// Starts a sequence: fresh connections, no history.
    pub fn begin(&mut self, sequence: &str) {
        // Progress on stderr: a run that hangs shows where.
        eprintln!("conformance: sequence {sequence}");
        self.sequence = sequence.to_string();
        for target in &mut self.targets {
            target.reset();
        }
    }

    /// Runs one step on every target. `build` makes each target's request from that target's
    /// earlier answers in this sequence.
    pub fn step(
        &mut self,
        name: &str,
        api: ApiKey,
        version: i16,
        connection: u32,
        mut build: impl FnMut(&Target) -> Result<Payload, String>,
    ) {
        let mut answers = Vec::new();
        for target in self.targets.iter_mut() {
            let correlation_id = target.history.len() as i32 + 1;
            let frame = build(target).and_then(|payload| match payload {
                Payload::Typed(request) => Frame::encode(api, &request, version, correlation_id),
                Payload::Raw(bytes) => Frame::raw(bytes),
                Payload::Headed(header, request) => Frame::encode_with_header(&header, &request),
            });
            let outcome = match frame {
                Ok(frame) => target.exchange(connection, &frame),
                Err(e) => Outcome::Undecodable(format!("request not built: {e}")),
            };
            let leaves = outcome_leaves(&outcome, &self.scope);
            if std::env::var_os(TRACE_VARIABLE).is_some() {
                eprintln!(
                    "conformance: {}/{name} {}: {leaves:?}",
                    self.sequence, target.name
                );
            }
            answers.push(leaves);
            target.history.push((api, outcome));
        }
        let record = compare(&self.sequence, name, api, version, &answers);
        self.steps.push(record);
    }

    /// Records that no version of `api` is common to both brokers.
    pub fn no_common_version(&mut self, name: &str, api: ApiKey) {
        let max = |t: &Target| {
            t.max_versions
                .get(&(api as i16))
                .map_or(Json::Null, |v| Json::Number(f64::from(*v)))
        };
        let difference = Json::object(vec![
            ("path", Json::str("max_version")),
            (BROKERS[0], max(&self.targets[0])),
            (BROKERS[1], max(&self.targets[1])),
        ]);
        self.steps.push(Json::object(vec![
            ("sequence", Json::str(&self.sequence)),
            ("step", Json::str(name)),
            ("api", Json::str(&format!("{api:?}"))),
            ("version", Json::Null),
            ("fields", Json::Number(1.0)),
            ("differences", Json::Array(vec![difference])),
        ]));
    }

    /// Every step's record, as one JSON document.
    pub fn report(self) -> String {
        Json::Array(self.steps).to_pretty()
    }
}

fn outcome_leaves(outcome: &Outcome, scope: &str) -> Vec<Leaf> {
    let mut out = vec![("outcome".to_string(), outcome.kind().to_string())];
    match outcome {
        Outcome::Answer(answer) => out.extend(leaves(answer, scope)),
        Outcome::Undecodable(why) => out.push(("undecodable".to_string(), why.clone())),
        _ => {}
    }
    out
}

/// `{"sequence", "step", "api", "version", "fields", "differences": [{"path", "kafka",
/// "millrace"}]}`: every field whose value differs or that only one broker sent.
fn compare(sequence: &str, step: &str, api: ApiKey, version: i16, answers: &[Vec<Leaf>]) -> Json {
    let by_path =
        |leaves: &[Leaf]| -> BTreeMap<String, String> { leaves.iter().cloned().collect() };
    let (kafka, millrace) = match answers {
        [k, m] => (by_path(k), by_path(m)),
        _ => Default::default(),
    };
    let mut paths: Vec<&String> = kafka.keys().chain(millrace.keys()).collect();
    paths.sort_unstable();
    paths.dedup();
    let value = |side: &BTreeMap<String, String>, path: &String| {
        side.get(path).map_or(Json::Null, |v| Json::str(v))
    };
    let differences = paths
        .iter()
        .filter(|path| kafka.get(**path) != millrace.get(**path))
        .map(|path| {
            Json::object(vec![
                ("path", Json::str(path)),
                (BROKERS[0], value(&kafka, path)),
                (BROKERS[1], value(&millrace, path)),
            ])
        })
        .collect();
    Json::object(vec![
        ("sequence", Json::str(sequence)),
        ("step", Json::str(step)),
        ("api", Json::str(&format!("{api:?}"))),
        ("version", Json::Number(f64::from(version))),
        ("fields", Json::Number(paths.len() as f64)),
        ("differences", Json::Array(differences)),
    ])
}
