//! One benchmark producer: a task that builds record batches into a reused
//! buffer and pipelines Produce requests to each partition's leader, with a
//! reader task per connection that matches answers and records latency.
//!
//! In fixed-rate mode record `k` of a producer is due at
//! `start + k * interval`; its latency is measured from that intended time,
//! so a stalled broker shows up as latency instead of as silently fewer sends
//! (coordinated omission). In max mode batches are built as fast as the
//! in-flight window allows and latency is measured from the batch's creation.

use super::admin::TopicPlan;
use super::net::{self, read_frame, BenchReader, BenchWriter, FRAME_MAX_BYTES};
use super::stats::{RunControl, LATENCY_MAX_US};
use super::wire::{self, BatchProducer, ProduceWriter, PAYLOAD_TIMESTAMP_BYTES};
use super::workload::{KeyMode, Workload, RECORD_OVERHEAD_MAX_BYTES};
use crate::protocol::codec::Codec;
use futures_lite::io::AsyncWriteExt;
use glommio::channels::local_channel::{self, LocalReceiver};
use std::sync::Arc;
use std::time::Duration;

/// Broker-side timeout of a Produce request.
const PRODUCE_TIMEOUT_MS: i32 = 30_000;
/// Bytes of a key this harness writes (a big-endian integer).
const KEY_BYTES: usize = 8;
/// Longest sleep of the pacing loop, so the end of the run is noticed.
const PACING_SLEEP_MAX: Duration = Duration::from_millis(100);

/// What the reader needs to account for one request when its answer comes.
#[derive(Debug, Clone, Copy)]
struct InFlight {
    correlation_id: i32,
    first_send_ns: u64,
    interval_ns: u64,
    count: u32,
    bytes: u64,
    /// Bytes of the record batch as sent (after compression).
    wire_bytes: u64,
}

/// A small xorshift generator: sizes and keys without a dependency.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a non-zero seed.
    pub fn new(seed: u64) -> Self {
        Rng(seed | 1)
    }
    /// The next pseudo-random value.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Who this producer is and where it writes.
#[derive(Debug, Clone)]
pub struct ProducerSpec {
    /// Executor index (selects its stats block).
    pub executor: usize,
    /// Index of this producer among all producers.
    pub global_index: u64,
    /// Producers in the whole run (the rate is shared among them).
    pub total_producers: u64,
    /// The topic it writes to.
    pub topic: Arc<TopicPlan>,
    /// Producer id and epoch from InitProducerId when idempotent.
    pub producer_id: Option<(i64, i16)>,
}

struct Connection {
    leader: String,
    writer: BenchWriter,
    inflight: local_channel::LocalSender<InFlight>,
    reader: glommio::task::JoinHandle<()>,
}

/// Runs one producer until the end of the run; failures are counted in the stats.
pub async fn run_producer(workload: Arc<Workload>, control: Arc<RunControl>, spec: ProducerSpec) {
    if let Err(message) = produce(&workload, &control, &spec).await {
        control.stats(spec.executor).record_error(0, message, true);
    }
    control
        .producers_running
        .fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
}

async fn produce(
    workload: &Workload,
    control: &Arc<RunControl>,
    spec: &ProducerSpec,
) -> Result<(), String> {
    let mut connections = connect_all(workload, control, spec).await?;
    // Nothing is sent before the run's start: consumers ignore older records.
    let until_start_ns = control.start_ns.saturating_sub(control.clock.now_ns());
    glommio::timer::sleep(Duration::from_nanos(until_start_ns)).await;
    let partitions = &spec.topic.partitions;
    let connection_of: Vec<usize> = partitions
        .iter()
        .map(|p| {
            connections
                .iter()
                .position(|c| c.leader == p.leader)
                .unwrap_or(0)
        })
        .collect();
    let mut filler = vec![0u8; workload.largest_message()];
    let mut rng = Rng::new(0x9E37_79B9_7F4A_7C15 ^ (spec.global_index + 1));
    filler
        .iter_mut()
        .for_each(|b| *b = b'a' + (rng.next_u64() % 26) as u8);
    let codec = Codec::parse(&workload.compression)
        .ok_or_else(|| format!("unknown compression {:?}", workload.compression))?;
    let mut writer = ProduceWriter::with_codec(workload.batch_size, codec)?;
    // Next sequence number per partition index, for idempotent batches.
    let mut sequences = vec![0i32; partitions.len()];
    let interval_ns = if workload.rate == 0 {
        0
    } else {
        (1e9 * spec.total_producers as f64 / workload.rate as f64) as u64
    };
    let mut batcher = Batcher::new(workload, spec, interval_ns, control.start_ns);
    let mut correlation_id: i32 = 0;
    let mut partition_cursor = spec.global_index as usize % partitions.len().max(1);
    while !control.aborted() {
        let now = control.clock.now_ns();
        // Past the end, records intended before it still go out (the last linger), but a
        // producer that fell behind does not keep sending its backlog.
        let tail_over = now >= control.end_ns + batcher.linger_ns;
        if now >= control.end_ns
            && (interval_ns == 0
                || tail_over
                || batcher.intended_ns(batcher.next) >= control.end_ns)
        {
            break;
        }
        let count = match batcher.ready(now, control.end_ns) {
            Ready::Records(n) => n,
            Ready::WaitUntil(ns) => {
                let wait = Duration::from_nanos(ns.saturating_sub(now)).min(PACING_SLEEP_MAX);
                glommio::timer::sleep(wait).await;
                continue;
            }
        };
        let index = partition_cursor % partitions.len();
        partition_cursor = partition_cursor.wrapping_add(1);
        let target = &partitions[index];
        correlation_id = correlation_id.wrapping_add(1);
        let first_send_ns = if interval_ns == 0 {
            now
        } else {
            batcher.intended_ns(batcher.next)
        };
        let timestamp_ms = (first_send_ns / 1_000_000) as i64;
        writer.begin(
            correlation_id,
            workload.acks,
            PRODUCE_TIMEOUT_MS,
            &spec.topic.name,
            target.partition,
            timestamp_ms,
        );
        let bytes = batcher.fill(
            &mut writer,
            &mut rng,
            &filler,
            count,
            index,
            partitions.len(),
            now,
        );
        let record_count = writer.record_count() as u32;
        let producer = match spec.producer_id {
            Some((id, epoch)) => {
                let base_sequence = sequences[index];
                sequences[index] = next_sequence(base_sequence, writer.record_count());
                BatchProducer {
                    id,
                    epoch,
                    base_sequence,
                }
            }
            None => BatchProducer::NONE,
        };
        writer.finish(timestamp_ms, producer)?;
        let wire_bytes = writer.batch_bytes() as u64;
        let frame = writer.frame();
        let connection = &mut connections[connection_of[index]];
        let entry = InFlight {
            correlation_id,
            first_send_ns,
            interval_ns,
            count: record_count,
            bytes,
            wire_bytes,
        };
        if workload.acks == 0 {
            account_unacknowledged(control, spec.executor, &entry);
        } else if connection.inflight.send(entry).await.is_err() {
            break; // the reader stopped on an error it already counted
        }
        if let Err(e) = connection.writer.write_all(frame).await {
            return Err(format!("produce to {}: {e}", connection.leader));
        }
    }
    for connection in connections.drain(..) {
        let Connection {
            inflight,
            reader,
            mut writer,
            ..
        } = connection;
        drop(inflight);
        let _ = writer.flush().await;
        reader.await;
    }
    Ok(())
}

/// The sequence after `count` records from `base`: Kafka wraps sequences
/// from `i32::MAX` to 0.
fn next_sequence(base: i32, count: i32) -> i32 {
    ((i64::from(base) + i64::from(count)) % (i64::from(i32::MAX) + 1)) as i32
}

async fn connect_all(
    workload: &Workload,
    control: &Arc<RunControl>,
    spec: &ProducerSpec,
) -> Result<Vec<Connection>, String> {
    let mut connections: Vec<Connection> = Vec::new();
    for target in &spec.topic.partitions {
        if connections.iter().any(|c| c.leader == target.leader) {
            continue;
        }
        let (writer, reader) = net::connect(&target.leader).await?;
        let (sender, receiver) = local_channel::new_bounded(workload.max_in_flight as usize);
        let task = glommio::spawn_local(read_answers(
            reader,
            receiver,
            control.clone(),
            spec.executor,
            target.leader.clone(),
        ))
        .detach();
        connections.push(Connection {
            leader: target.leader.clone(),
            writer,
            inflight: sender,
            reader: task,
        });
    }
    Ok(connections)
}

/// With acks=0 the broker never answers: a sent message counts as produced.
fn account_unacknowledged(control: &RunControl, executor: usize, entry: &InFlight) {
    let mut stats = control.stats(executor);
    stats.tick.produced_msgs += u64::from(entry.count);
    stats.tick.produced_bytes += entry.bytes;
    if control.measured(entry.first_send_ns) {
        stats.measured.produced_msgs += u64::from(entry.count);
        stats.measured.produced_bytes += entry.bytes;
        stats.measured.produced_wire_bytes += entry.wire_bytes;
    }
    control
        .produced_total
        .fetch_add(u64::from(entry.count), std::sync::atomic::Ordering::Relaxed);
}

async fn read_answers(
    mut reader: BenchReader,
    inflight: LocalReceiver<InFlight>,
    control: Arc<RunControl>,
    executor: usize,
    leader: String,
) {
    let mut body = Vec::new();
    while let Some(entry) = inflight.recv().await {
        let result = read_frame(&mut reader, &mut body, FRAME_MAX_BYTES).await;
        let outcome = result.and_then(|()| {
            let id = wire::correlation_id(&body).map_err(|e| e.to_string())?;
            if id != entry.correlation_id {
                return Err(format!(
                    "correlation id {id}, expected {}",
                    entry.correlation_id
                ));
            }
            wire::produce_error_code(&body).map_err(|e| e.to_string())
        });
        let now = control.clock.now_ns();
        match outcome {
            Ok(0) => account_ack(&control, executor, &entry, now),
            Ok(code) => {
                let error = crate::client::ClientError::broker(code, None);
                let measured = control.measured(entry.first_send_ns);
                control.stats(executor).record_error(
                    u64::from(entry.count),
                    format!("produce to {leader}: {error}"),
                    measured,
                );
            }
            Err(message) => {
                control.stats(executor).record_error(
                    u64::from(entry.count),
                    format!("produce answer from {leader}: {message}"),
                    true,
                );
                return; // the connection is unusable; dropping the receiver stops the writer
            }
        }
    }
}

fn account_ack(control: &RunControl, executor: usize, entry: &InFlight, now_ns: u64) {
    let mut stats = control.stats(executor);
    let stats = &mut *stats;
    stats.tick.produced_msgs += u64::from(entry.count);
    stats.tick.produced_bytes += entry.bytes;
    let average_bytes = entry.bytes / u64::from(entry.count.max(1));
    let average_wire_bytes = entry.wire_bytes / u64::from(entry.count.max(1));
    if entry.interval_ns == 0 {
        // Max mode: every record of the batch shares one send time.
        let latency_us = now_ns.saturating_sub(entry.first_send_ns) / 1_000;
        let count = u64::from(entry.count);
        let _ = stats
            .tick_publish
            .record_n(latency_us.min(LATENCY_MAX_US), count);
        if control.measured(entry.first_send_ns) {
            let _ = stats
                .publish
                .record_n(latency_us.min(LATENCY_MAX_US), count);
            stats.measured.produced_msgs += count;
            stats.measured.produced_bytes += entry.bytes;
            stats.measured.produced_wire_bytes += entry.wire_bytes;
        }
    } else {
        for i in 0..u64::from(entry.count) {
            let send_ns = entry.first_send_ns + i * entry.interval_ns;
            let latency_us = now_ns.saturating_sub(send_ns) / 1_000;
            stats.tick_publish.saturating_record(latency_us);
            if control.measured(send_ns) {
                stats.publish.saturating_record(latency_us);
                stats.measured.produced_msgs += 1;
                stats.measured.produced_bytes += average_bytes;
                stats.measured.produced_wire_bytes += average_wire_bytes;
            }
        }
    }
    control
        .produced_total
        .fetch_add(u64::from(entry.count), std::sync::atomic::Ordering::Relaxed);
}

/// Decides how many records go into the next batch, and writes them.
struct Batcher {
    interval_ns: u64,
    start_ns: u64,
    /// Index of the next record to create.
    next: u64,
    min_size: usize,
    size_span: usize,
    keys: KeyMode,
    key_count: u64,
    batch_size: usize,
    linger_ns: u64,
    key_cursor: u64,
}

enum Ready {
    Records(u64),
    WaitUntil(u64),
}

impl Batcher {
    fn new(workload: &Workload, spec: &ProducerSpec, interval_ns: u64, start_ns: u64) -> Self {
        let min_size = workload.message_size;
        let size_span = workload.message_size_max.saturating_sub(min_size);
        // Spread producers over the interval so they do not send in lockstep.
        let offset_ns = (interval_ns * spec.global_index)
            .checked_div(spec.total_producers)
            .unwrap_or(0);
        Batcher {
            interval_ns,
            start_ns: start_ns + offset_ns,
            next: 0,
            min_size,
            size_span,
            keys: workload.keys,
            key_count: u64::from(workload.key_count),
            batch_size: workload.batch_size,
            linger_ns: workload.linger.as_nanos() as u64,
            key_cursor: spec.global_index,
        }
    }

    fn intended_ns(&self, index: u64) -> u64 {
        self.start_ns + index * self.interval_ns
    }

    /// Records that fit one batch, assuming the largest message.
    fn batch_capacity(&self) -> u64 {
        let per_record = self.min_size + self.size_span + KEY_BYTES + RECORD_OVERHEAD_MAX_BYTES / 4;
        (self.batch_size / per_record).max(1) as u64
    }

    /// How many records to send now, or when to look again; no record
    /// intended at or after `end_ns` is created.
    fn ready(&self, now_ns: u64, end_ns: u64) -> Ready {
        let capacity = self.batch_capacity();
        if self.interval_ns == 0 {
            return Ready::Records(capacity);
        }
        let first_due = self.intended_ns(self.next);
        if now_ns < first_due {
            return Ready::WaitUntil(first_due);
        }
        let due_until = now_ns.min(end_ns.saturating_sub(1)).max(first_due);
        let due = (due_until - self.start_ns) / self.interval_ns + 1 - self.next;
        if due >= capacity || now_ns >= first_due + self.linger_ns || now_ns >= end_ns {
            return Ready::Records(due.min(capacity));
        }
        Ready::WaitUntil(
            (first_due + self.linger_ns).min(self.intended_ns(self.next + capacity - 1)),
        )
    }

    /// Writes up to `count` records into `writer`; returns their payload bytes.
    #[allow(clippy::too_many_arguments)]
    fn fill(
        &mut self,
        writer: &mut ProduceWriter,
        rng: &mut Rng,
        filler: &[u8],
        count: u64,
        partition_index: usize,
        partitions: usize,
        now_ns: u64,
    ) -> u64 {
        let mut bytes = 0u64;
        for _ in 0..count {
            let size = if self.size_span == 0 {
                self.min_size
            } else {
                self.min_size + (rng.next_u64() % (self.size_span as u64 + 1)) as usize
            };
            if writer.record_count() > 0
                && writer.batch_bytes() + size + RECORD_OVERHEAD_MAX_BYTES > self.batch_size
            {
                break;
            }
            let send_ns = if self.interval_ns == 0 {
                now_ns
            } else {
                self.intended_ns(self.next)
            };
            let key = self.key(rng, partition_index as u64, partitions as u64);
            let key_bytes = key.map(u64::to_be_bytes);
            writer.push_record(
                (send_ns / 1_000_000) as i64,
                key_bytes.as_ref().map(|k| &k[..]),
                send_ns,
                size.max(PAYLOAD_TIMESTAMP_BYTES),
                filler,
            );
            bytes += size as u64;
            self.next += 1;
        }
        bytes
    }

    /// A key whose partition (`key % partitions`) is the batch's partition.
    fn key(&mut self, rng: &mut Rng, partition: u64, partitions: u64) -> Option<u64> {
        let partitions = partitions.max(1);
        match self.keys {
            KeyMode::None => None,
            KeyMode::Random => Some((rng.next_u64() >> 16) / partitions * partitions + partition),
            KeyMode::RoundRobin => {
                // Keys of this partition are partition, partition + P, ... below key_count.
                let per_partition = (self.key_count / partitions).max(1);
                self.key_cursor = (self.key_cursor + 1) % per_partition;
                Some(self.key_cursor * partitions + partition)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::admin::PartitionTarget;

    fn spec(producers: u64) -> ProducerSpec {
        ProducerSpec {
            executor: 0,
            global_index: 0,
            total_producers: producers,
            topic: Arc::new(TopicPlan {
                name: "t".into(),
                partitions: vec![PartitionTarget {
                    partition: 0,
                    leader: "x:1".into(),
                    start_offset: 0,
                }],
            }),
            producer_id: None,
        }
    }

    #[test]
    fn sequences_advance_by_record_count_and_wrap_to_zero() {
        assert_eq!(next_sequence(0, 5), 5);
        assert_eq!(next_sequence(i32::MAX - 1, 1), i32::MAX);
        assert_eq!(next_sequence(i32::MAX - 1, 3), 1);
    }

    #[test]
    fn fixed_rate_waits_for_due_records_and_linger() {
        let workload = Workload {
            rate: 1000,
            linger: Duration::from_millis(5),
            ..Workload::default()
        };
        let batcher = Batcher::new(&workload, &spec(1), 1_000_000, 1_000_000_000);
        let end = u64::MAX;
        assert!(matches!(
            batcher.ready(999_000_000, end),
            Ready::WaitUntil(1_000_000_000)
        ));
        // One record due, linger not over: wait for the linger deadline.
        assert!(matches!(
            batcher.ready(1_000_000_000, end),
            Ready::WaitUntil(1_005_000_000)
        ));
        // After linger, every due record goes: 0..=5 ms is 6 records.
        assert!(matches!(
            batcher.ready(1_005_000_000, end),
            Ready::Records(6)
        ));
        // Past the end only records intended before it are due.
        assert!(matches!(
            batcher.ready(1_009_000_000, 1_003_000_000),
            Ready::Records(3)
        ));
    }

    #[test]
    fn keys_land_on_the_batch_partition() {
        let workload = Workload {
            keys: KeyMode::RoundRobin,
            key_count: 10,
            ..Workload::default()
        };
        let mut batcher = Batcher::new(&workload, &spec(1), 0, 0);
        let mut rng = Rng::new(1);
        for _ in 0..20 {
            assert_eq!(batcher.key(&mut rng, 2, 3).unwrap() % 3, 2);
            assert!(batcher.key(&mut rng, 1, 3).unwrap() < 10);
        }
        batcher.keys = KeyMode::Random;
        for _ in 0..20 {
            assert_eq!(batcher.key(&mut rng, 1, 4).unwrap() % 4, 1);
        }
    }
}
