//! Issue 12's "on paper" benchmark: metadata record volume, heartbeat load and
//! snapshot size at 100 brokers and 100,000 partitions, from the real
//! controller and codec with a log that commits at once (no network).
//!
//! `cargo test --release --lib cluster::sim::paper -- --ignored --nocapture`
//!
//! Figures in records and encoded bytes are exact for this model; times are
//! the controller's CPU on whatever machine runs it (noisy on a shared one).

use crate::cluster::controller::api::*;
use crate::cluster::controller::{Controller, ControllerConfig};
use crate::cluster::image::snapshot::{decode_snapshot, encode_snapshot};
use crate::cluster::image::MetadataImage;
use crate::cluster::records::{decode_batch, encode_batch, Endpoint, RecordBatch};
use crate::cluster::{BrokerId, TopicIdPartition};
use kafka_protocol::messages::{
    BrokerHeartbeatRequest as WireHeartbeat, BrokerHeartbeatResponse, RequestHeader, ResponseHeader,
};
use kafka_protocol::protocol::{Encodable, StrBytes};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use uuid::Uuid;

const BROKERS: i32 = 100;
const TOPICS: i32 = 100;
const PARTITIONS_PER_TOPIC: i32 = 1000;
const REPLICATION_FACTOR: i16 = 3;
const MIN_INSYNC_REPLICAS: i32 = 2;
/// `broker.heartbeat.interval.ms` default.
const HEARTBEAT_INTERVAL_MS: u64 = 2000;
/// Heartbeats timed for the per-heartbeat controller cost.
const TIMED_HEARTBEATS: usize = 100_000;
/// The highest BrokerHeartbeat version (KIP-966 adds none to v1's fields).
const HEARTBEAT_VERSION: i16 = 1;

/// A controller whose log commits each batch at once, counting what it writes.
struct Model {
    controller: Controller,
    now_ms: u64,
    next_id: RequestId,
    epochs: BTreeMap<BrokerId, i64>,
    log: Vec<Vec<u8>>,
}

/// What one phase wrote to the log.
#[derive(Default)]
struct Written {
    records: usize,
    batches: usize,
    bytes: usize,
    cpu: Duration,
}

impl Model {
    fn new() -> Self {
        let mut config = ControllerConfig::new("paper");
        config.min_insync_replicas = MIN_INSYNC_REPLICAS;
        Model {
            controller: Controller::new(config, MetadataImage::new(), 0, 1),
            now_ms: 0,
            next_id: 0,
            epochs: BTreeMap::new(),
            log: Vec::new(),
        }
    }

    fn image(&self) -> &MetadataImage {
        self.controller.image()
    }

    fn input(&mut self, input: Input) -> Vec<Reply> {
        let outputs = self.controller.handle(self.now_ms, input);
        let mut replies = Vec::new();
        for output in outputs {
            match output {
                Output::Append(batch) => {
                    self.log.push(encode_batch(&batch));
                    let offset = batch.last_offset();
                    replies.extend(self.input(Input::Committed { offset }));
                }
                Output::Reply { reply, .. } => replies.push(reply),
                Output::Fault(reason) => panic!("controller fault: {reason}"),
            }
        }
        replies
    }

    fn call(&mut self, request: Request) -> Reply {
        self.next_id += 1;
        let replies = self.input(Input::Request {
            id: self.next_id,
            request,
        });
        replies.into_iter().next().expect("a reply once committed")
    }

    /// Runs `f` and counts the log it wrote.
    fn phase(&mut self, f: impl FnOnce(&mut Model)) -> Written {
        let first = self.log.len();
        let started = Instant::now();
        f(self);
        let cpu = started.elapsed();
        let written = &self.log[first..];
        let records = written
            .iter()
            .map(|b| decode_batch(b).map_or(0, |b: RecordBatch| b.records.len()))
            .sum();
        Written {
            records,
            batches: written.len(),
            bytes: written.iter().map(Vec::len).sum(),
            cpu,
        }
    }

    fn register(&mut self, id: BrokerId, incarnation: u128, previous_epoch: i64) {
        let request = BrokerRegistrationRequest {
            broker_id: id,
            cluster_id: "paper".into(),
            incarnation_id: Uuid::from_u128(incarnation),
            endpoints: vec![Endpoint {
                name: "PLAINTEXT".into(),
                host: format!("broker-{id}.example.internal"),
                port: 9092,
                security_protocol: 0,
            }],
            rack: Some(format!("rack-{}", id % 3)),
            previous_broker_epoch: previous_epoch,
        };
        let Reply::RegisterBroker(Ok(epoch)) = self.call(Request::RegisterBroker(request)) else {
            panic!("broker {id} did not register");
        };
        self.epochs.insert(id, epoch);
    }

    fn heartbeat(&mut self, id: BrokerId, want_shut_down: bool) -> BrokerHeartbeatReply {
        let request = BrokerHeartbeatRequest {
            broker_id: id,
            broker_epoch: self.epochs[&id],
            current_metadata_offset: self.image().offset(),
            want_fence: false,
            want_shut_down,
        };
        match self.call(Request::BrokerHeartbeat(request)) {
            Reply::BrokerHeartbeat(Ok(reply)) => reply,
            other => panic!("{other:?}"),
        }
    }

    fn heartbeat_all_but(&mut self, except: BrokerId) {
        for id in 1..=BROKERS {
            if id != except {
                self.heartbeat(id, false);
            }
        }
    }

    /// Each leader adds its live replicas back to its ISRs, one request per
    /// leader, as followers catch up.
    fn rejoin_isrs(&mut self) {
        for leader in 1..=BROKERS {
            let items: Vec<AlterPartitionItem> = self
                .image()
                .leaders_of(leader)
                .iter()
                .filter_map(|tp| self.rejoin_item(*tp))
                .collect();
            if items.is_empty() {
                continue;
            }
            let request = AlterPartitionRequest {
                broker_id: leader,
                broker_epoch: self.epochs[&leader],
                partitions: items,
            };
            self.call(Request::AlterPartition(request));
        }
    }

    fn rejoin_item(&self, tp: TopicIdPartition) -> Option<AlterPartitionItem> {
        let p = self.image().partition(tp)?;
        let missing = p
            .replicas
            .iter()
            .filter(|r| !p.isr.contains(r) && self.image().is_active(**r));
        let isr: Vec<BrokerId> = p.isr.iter().chain(missing).copied().collect();
        (isr.len() > p.isr.len()).then(|| AlterPartitionItem {
            tp,
            leader_epoch: p.leader_epoch,
            partition_epoch: p.partition_epoch,
            new_isr: isr.iter().map(|b| (*b, self.epochs[b])).collect(),
            leader_recovery_state: p.leader_recovery_state,
        })
    }

    /// Preferred-leader elections for the partitions `id` is preferred for.
    fn restore_preferred(&mut self, id: BrokerId) {
        let partitions: Vec<TopicIdPartition> = self
            .image()
            .partitions()
            .filter(|(_, p)| p.replicas[0] == id && p.leader != Some(id))
            .map(|(tp, _)| tp)
            .collect();
        let request = ElectLeadersRequest {
            election: ElectionType::Preferred,
            partitions: Some(partitions),
        };
        self.call(Request::ElectLeaders(request));
    }

    /// Controlled shutdown of `id`, then a clean restart that rejoins.
    fn rolling_restart_one(&mut self, id: BrokerId, incarnation: u128) {
        self.heartbeat(id, true);
        self.heartbeat_all_but(id);
        assert!(self.heartbeat(id, true).should_shut_down);
        let previous = self.epochs[&id];
        self.register(id, incarnation, previous);
        self.heartbeat(id, false);
        self.rejoin_isrs();
        self.restore_preferred(id);
    }
}

fn create_topics(m: &mut Model) {
    for t in 0..TOPICS {
        let request = CreateTopicsRequest {
            topics: vec![NewTopic {
                name: format!("topic-{t:03}"),
                num_partitions: PARTITIONS_PER_TOPIC,
                replication_factor: REPLICATION_FACTOR,
                configs: vec![],
                assignments: vec![],
            }],
            validate_only: false,
        };
        let Reply::CreateTopics(results) = m.call(Request::CreateTopics(request)) else {
            panic!()
        };
        assert!(results[0].1.is_ok(), "{results:?}");
    }
}

fn print_row(what: &str, w: &Written) {
    println!(
        "| {what} | {} | {} | {:.1} | {:.0} |",
        w.records,
        w.batches,
        w.bytes as f64 / 1024.0,
        w.cpu.as_secs_f64() * 1000.0
    );
}

/// Encoded sizes of one heartbeat request and response frame on the wire.
fn heartbeat_wire_bytes() -> (usize, usize) {
    let header = RequestHeader::default()
        .with_request_api_key(63)
        .with_request_api_version(HEARTBEAT_VERSION)
        .with_correlation_id(1)
        .with_client_id(Some(StrBytes::from_static_str("broker-100-heartbeat")));
    let body = WireHeartbeat::default()
        .with_broker_id(kafka_protocol::messages::BrokerId(100))
        .with_broker_epoch(1 << 20)
        .with_current_metadata_offset(1 << 24);
    let request =
        4 + header.compute_size(2).unwrap() + body.compute_size(HEARTBEAT_VERSION).unwrap();
    let reply = BrokerHeartbeatResponse::default();
    let response = 4
        + ResponseHeader::default().compute_size(1).unwrap()
        + reply.compute_size(HEARTBEAT_VERSION).unwrap();
    (request, response)
}

#[test]
#[ignore = "a benchmark: cargo test --release --lib cluster::sim::paper -- --ignored --nocapture"]
fn paper_figures_at_100_brokers_and_100k_partitions() {
    let mut m = Model::new();
    println!("\n| phase | records | batches | KiB | controller ms |\n|---|---|---|---|---|");
    let w = m.phase(|m| {
        for id in 1..=BROKERS {
            m.register(id, id as u128, -1);
            m.heartbeat(id, false);
        }
    });
    print_row("100 brokers register and are unfenced", &w);
    let w = m.phase(create_topics);
    print_row("100 topics x 1,000 partitions, RF 3 (100 CreateTopics)", &w);
    let per_create_ms = w.cpu.as_secs_f64() * 1000.0 / TOPICS as f64;
    let w = m.phase(|m| {
        m.now_ms += HEARTBEAT_INTERVAL_MS;
        m.heartbeat_all_but(0);
    });
    print_row("one heartbeat round, steady state", &w);
    let w = m.phase(|m| {
        m.now_ms += m.controller.config().session_timeout_ms / 2;
        m.heartbeat_all_but(1);
        m.now_ms += m.controller.config().session_timeout_ms / 2 + 1;
        m.input(Input::Tick);
    });
    print_row("broker 1 silent: fenced after the session timeout", &w);
    let w = m.phase(|m| {
        m.register(1, 1001, -1);
        m.heartbeat(1, false);
        m.rejoin_isrs();
        m.restore_preferred(1);
    });
    print_row(
        "broker 1 back after a crash: unfence, ISR rejoin, preferred leaders",
        &w,
    );
    let w = m.phase(|m| m.rolling_restart_one(2, 2002));
    print_row("controlled shutdown and clean restart of one broker", &w);
    let w = m.phase(|m| {
        for id in 1..=BROKERS {
            m.rolling_restart_one(id, 10_000 + id as u128);
        }
    });
    print_row("rolling restart of all 100 brokers", &w);

    let image = m.image().clone();
    let started = Instant::now();
    let snapshot = encode_snapshot(&image);
    let encode_ms = started.elapsed().as_secs_f64() * 1000.0;
    let started = Instant::now();
    let loaded = decode_snapshot(&snapshot).unwrap();
    let decode_ms = started.elapsed().as_secs_f64() * 1000.0;
    assert_eq!(loaded, image);
    let log_bytes: usize = m.log.iter().map(Vec::len).sum();
    let started = Instant::now();
    let mut replayed = MetadataImage::new();
    for bytes in &m.log {
        replayed.apply_batch(&decode_batch(bytes).unwrap()).unwrap();
    }
    let replay_ms = started.elapsed().as_secs_f64() * 1000.0;
    assert_eq!(replayed, image);

    let samples = TIMED_HEARTBEATS / BROKERS as usize;
    let started = Instant::now();
    for _ in 0..samples {
        m.heartbeat_all_but(0);
    }
    let heartbeat_us = started.elapsed().as_secs_f64() * 1e6 / (samples * BROKERS as usize) as f64;
    let (request_bytes, response_bytes) = heartbeat_wire_bytes();
    let per_second = BROKERS as f64 * 1000.0 / HEARTBEAT_INTERVAL_MS as f64;

    println!("\n| figure | value |\n|---|---|");
    println!(
        "| partitions / brokers | {} / {BROKERS} |",
        image.partition_count()
    );
    println!(
        "| metadata log written in all phases above | {} records, {:.1} MiB |",
        image.offset() + 1,
        log_bytes as f64 / 1048576.0
    );
    println!("| snapshot at the end | {:.2} MiB ({:.1} bytes per partition); encode {encode_ms:.0} ms, load {decode_ms:.0} ms |", snapshot.len() as f64 / 1048576.0, snapshot.len() as f64 / image.partition_count() as f64);
    println!("| replay of the whole log instead | {replay_ms:.0} ms |");
    println!("| CreateTopics of 1,000 partitions, controller CPU | {per_create_ms:.1} ms |");
    println!("| heartbeats | {per_second:.0}/s; request {request_bytes} B + response {response_bytes} B on the wire = {:.1} KiB/s; 0 records in steady state |", per_second * (request_bytes + response_bytes) as f64 / 1024.0);
    println!("| controller CPU per heartbeat | {heartbeat_us:.1} us ({:.3}% of one core at {per_second:.0}/s) |", heartbeat_us * per_second / 1e4);
    println!("| every broker replicates the log | x{BROKERS}: {:.0} MiB fetched cluster-wide for the log above |", log_bytes as f64 * BROKERS as f64 / 1048576.0);
}
