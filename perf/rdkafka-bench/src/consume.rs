//! Consume phase: BaseConsumer with manual assignment, counting records, bytes and offset gaps.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

use crate::args::BenchArgs;
use crate::context::StderrContext;
use crate::error::BenchError;
use crate::report::{PhaseClock, PhaseReport};

/// The consumer fails when no record arrives for this long.
const STALL_LIMIT: Duration = Duration::from_secs(30);
/// One poll waits at most this long for a record.
const POLL_TIMEOUT: Duration = Duration::from_millis(100);
/// Check the phase deadline after this many records (reading the clock per record is waste).
const RECORDS_PER_DEADLINE_CHECK: u64 = 65_536;
/// Metadata and watermark queries give up after this long.
const METADATA_TIMEOUT: Duration = Duration::from_secs(10);
/// Consumer errors printed to stderr before going quiet.
const MAX_PRINTED_ERRORS: u64 = 10;

/// Low and high watermark of every partition of `topic`, indexed by partition id.
pub fn partition_watermarks(bootstrap: &str, topic: &str) -> Result<Vec<(i64, i64)>, BenchError> {
    let client: BaseConsumer<StderrContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create_with_context(StderrContext)?;
    let metadata = client.fetch_metadata(Some(topic), METADATA_TIMEOUT)?;
    let partition_count = metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .map_or(0, |t| t.partitions().len());
    if partition_count == 0 {
        return Err(BenchError::Mismatch(format!(
            "topic {topic} has no partitions"
        )));
    }
    (0..partition_count as i32)
        .map(|partition| {
            client
                .fetch_watermarks(topic, partition, METADATA_TIMEOUT)
                .map_err(BenchError::from)
        })
        .collect()
}

/// The librdkafka settings of the consumer.
pub fn consumer_config(args: &BenchArgs) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &args.bootstrap)
        .set("group.id", unique_group_id())
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("fetch.max.bytes", (50 * 1024 * 1024).to_string())
        .set("max.partition.fetch.bytes", args.max_partition_fetch_bytes.to_string())
        // 256 MiB of prefetched records per partition keeps the fetcher ahead of the poll loop.
        .set("queued.max.messages.kbytes", (256 * 1024).to_string());
    if let Some(wait_ms) = args.fetch_wait_max_ms {
        config.set("fetch.wait.max.ms", wait_ms.to_string());
    }
    config
}

/// A group id nobody else uses, so no committed offsets or members interfere.
fn unique_group_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("rdkafka-bench-{}-{nanos}", std::process::id())
}

/// Consumes `expected` records starting at `start_offsets[partition]` in each partition.
pub fn run_consume(
    args: &BenchArgs,
    start_offsets: &[i64],
    expected: u64,
) -> Result<PhaseReport, BenchError> {
    let consumer: BaseConsumer<StderrContext> =
        consumer_config(args).create_with_context(StderrContext)?;
    let mut assignment = TopicPartitionList::new();
    for (partition, &offset) in start_offsets.iter().enumerate() {
        assignment.add_partition_offset(&args.topic, partition as i32, Offset::Offset(offset))?;
    }
    let clock = PhaseClock::start(args.broker_pid);
    consumer.assign(&assignment)?;
    let mut tally = ConsumeTally::new(start_offsets, args.record_size_bytes);
    poll_until(
        &consumer,
        &mut tally,
        expected,
        &clock,
        args.phase_timeout_s,
    )?;
    let (wall, client_cpu_s, broker_cpu_s) = clock.stop();

    if tally.wrong_size_records > 0 {
        return Err(BenchError::Mismatch(format!(
            "{} records were not {} bytes",
            tally.wrong_size_records, args.record_size_bytes
        )));
    }
    Ok(PhaseReport {
        phase: "consume",
        records: tally.records,
        payload_bytes: tally.payload_bytes,
        seconds: wall.as_secs_f64(),
        client_cpu_s,
        broker_cpu_s,
        errors: tally.errors,
        offset_gaps: Some(tally.offset_gaps),
    })
}

/// Polls until `expected` records arrived, the consumer stalls, or the phase times out.
fn poll_until(
    consumer: &BaseConsumer<StderrContext>,
    tally: &mut ConsumeTally,
    expected: u64,
    clock: &PhaseClock,
    phase_timeout_s: u64,
) -> Result<(), BenchError> {
    let phase_timeout = Duration::from_secs(phase_timeout_s);
    let mut last_progress = Instant::now();
    let mut records_at_last_progress = 0;
    while tally.records < expected {
        match consumer.poll(POLL_TIMEOUT) {
            Some(Ok(message)) => {
                tally.record(message.partition(), message.offset(), message.payload_len());
                if !tally.records.is_multiple_of(RECORDS_PER_DEADLINE_CHECK) {
                    continue;
                }
            }
            Some(Err(error)) => {
                tally.errors += 1;
                if tally.errors <= MAX_PRINTED_ERRORS {
                    eprintln!("consumer error: {error}");
                }
            }
            None => {}
        }
        if tally.records != records_at_last_progress {
            records_at_last_progress = tally.records;
            last_progress = Instant::now();
        } else if last_progress.elapsed() > STALL_LIMIT {
            return Err(BenchError::ConsumerStalled {
                consumed: tally.records,
                expected,
                stalled_s: STALL_LIMIT.as_secs(),
            });
        }
        if clock.elapsed() > phase_timeout {
            return Err(BenchError::PhaseTimedOut {
                phase: "consume",
                done: tally.records,
                expected,
            });
        }
    }
    Ok(())
}

/// Running counts of the consume phase.
struct ConsumeTally {
    records: u64,
    payload_bytes: u64,
    errors: u64,
    offset_gaps: u64,
    wrong_size_records: u64,
    expected_size_bytes: usize,
    next_offsets: Vec<i64>,
}

impl ConsumeTally {
    fn new(start_offsets: &[i64], expected_size_bytes: usize) -> Self {
        ConsumeTally {
            records: 0,
            payload_bytes: 0,
            errors: 0,
            offset_gaps: 0,
            wrong_size_records: 0,
            expected_size_bytes,
            next_offsets: start_offsets.to_vec(),
        }
    }

    fn record(&mut self, partition: i32, offset: i64, payload_len: usize) {
        self.records += 1;
        self.payload_bytes += payload_len as u64;
        if payload_len != self.expected_size_bytes {
            self.wrong_size_records += 1;
        }
        match self.next_offsets.get_mut(partition as usize) {
            Some(next) => {
                if offset != *next {
                    self.offset_gaps += 1;
                }
                *next = offset + 1;
            }
            None => self.offset_gaps += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tally_counts_gaps_and_wrong_sizes() {
        let mut tally = ConsumeTally::new(&[0, 10], 4);
        tally.record(0, 0, 4);
        tally.record(0, 1, 4);
        tally.record(1, 10, 4);
        assert_eq!(
            (tally.records, tally.payload_bytes, tally.offset_gaps),
            (3, 12, 0)
        );
        tally.record(0, 5, 3);
        tally.record(7, 0, 4);
        assert_eq!(tally.offset_gaps, 2);
        assert_eq!(tally.wrong_size_records, 1);
        tally.record(0, 6, 4);
        assert_eq!(tally.offset_gaps, 2);
    }

    #[test]
    fn consumer_config_has_the_fetch_tuning_and_a_fresh_group() {
        let args = BenchArgs::default();
        let config = consumer_config(&args);
        assert_eq!(config.get("fetch.max.bytes"), Some("52428800"));
        assert_eq!(config.get("max.partition.fetch.bytes"), Some("10485760"));
        assert_eq!(config.get("enable.auto.commit"), Some("false"));
        assert_ne!(
            config.get("group.id"),
            consumer_config(&args).get("group.id")
        );
    }
}
