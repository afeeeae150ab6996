//! Produce phase: BaseProducer, payloads sliced from one pre-filled pool.

use std::time::Duration;

use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::ClientConfig;

use crate::args::BenchArgs;
use crate::context::DeliveryCounter;
use crate::error::BenchError;
use crate::report::{PhaseClock, PhaseReport};

/// Random payload bytes that record payloads are sliced from. Large, so that records in one
/// batch rarely overlap and compression ratios resemble real data rather than one repeated record.
const PAYLOAD_POOL_BYTES: usize = 16 * 1024 * 1024;
/// Serve delivery reports after this many sends (poll(0) is cheap but not free).
const SENDS_PER_POLL: u64 = 1024;
/// How long to serve delivery reports when the local queue is full.
const QUEUE_FULL_WAIT: Duration = Duration::from_millis(1);
/// librdkafka `queue.buffering.max.messages`.
const QUEUE_MAX_MESSAGES: u32 = 2_000_000;
/// librdkafka `batch.num.messages` (its maximum): let `batch.size` bound batches.
const BATCH_MAX_MESSAGES: u32 = 1_000_000;
/// librdkafka's default `message.max.bytes`; raised only when `batch.size` needs more.
const DEFAULT_MESSAGE_MAX_BYTES: u32 = 1_000_000;

/// The librdkafka settings of the producer.
pub fn producer_config(args: &BenchArgs) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &args.bootstrap)
        .set("acks", args.acks.as_config_value())
        .set("linger.ms", args.linger_ms.to_string())
        .set("batch.size", args.batch_bytes.to_string())
        .set("batch.num.messages", BATCH_MAX_MESSAGES.to_string())
        .set("queue.buffering.max.kbytes", args.queue_kbytes.to_string())
        .set(
            "queue.buffering.max.messages",
            QUEUE_MAX_MESSAGES.to_string(),
        )
        .set("max.in.flight.requests.per.connection", "5")
        .set("enable.idempotence", args.idempotent.to_string())
        .set("compression.type", &args.compression);
    if args.batch_bytes > DEFAULT_MESSAGE_MAX_BYTES {
        config.set("message.max.bytes", args.batch_bytes.to_string());
    }
    config
}

/// Produces `args.records` records, flushes, and fails on any delivery error.
pub fn run_produce(args: &BenchArgs) -> Result<PhaseReport, BenchError> {
    let producer: BaseProducer<DeliveryCounter> =
        producer_config(args).create_with_context(DeliveryCounter::default())?;
    let pool = PayloadPool::new(args.record_size_bytes);
    let phase_timeout = Duration::from_secs(args.phase_timeout_s);
    let clock = PhaseClock::start(args.broker_pid);

    send_all(&producer, args, &pool, &clock, phase_timeout)?;
    let flush_budget = phase_timeout.saturating_sub(clock.elapsed());
    if producer.flush(flush_budget).is_err() {
        return Err(BenchError::FlushTimedOut {
            outstanding: producer.in_flight_count(),
        });
    }
    let (wall, client_cpu_s, broker_cpu_s) = clock.stop();

    let counter = producer.context();
    if counter.failed_records() > 0 {
        return Err(BenchError::DeliveryErrors {
            errors: counter.failed_records(),
            first: counter.first_failure().unwrap_or_default(),
        });
    }
    if counter.delivered_records() != args.records {
        return Err(BenchError::Mismatch(format!(
            "{} records delivered, {} sent",
            counter.delivered_records(),
            args.records
        )));
    }
    Ok(PhaseReport {
        phase: "produce",
        records: counter.delivered_records(),
        payload_bytes: counter.delivered_bytes(),
        seconds: wall.as_secs_f64(),
        client_cpu_s,
        broker_cpu_s,
        errors: 0,
        offset_gaps: None,
    })
}

/// Enqueues every record, serving delivery reports as it goes.
fn send_all(
    producer: &BaseProducer<DeliveryCounter>,
    args: &BenchArgs,
    pool: &PayloadPool,
    clock: &PhaseClock,
    phase_timeout: Duration,
) -> Result<(), BenchError> {
    let mut sent: u64 = 0;
    while sent < args.records {
        let record = BaseRecord::<(), [u8]>::to(&args.topic).payload(pool.payload(sent));
        match producer.send(record) {
            Ok(()) => {
                sent += 1;
                if sent.is_multiple_of(SENDS_PER_POLL) {
                    producer.poll(Duration::ZERO);
                }
            }
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                producer.poll(QUEUE_FULL_WAIT);
                if clock.elapsed() > phase_timeout {
                    return Err(BenchError::PhaseTimedOut {
                        phase: "produce",
                        done: sent,
                        expected: args.records,
                    });
                }
            }
            Err((error, _)) => return Err(error.into()),
        }
    }
    Ok(())
}

/// One allocation of random uppercase letters (as kafka-producer-perf-test uses) that every
/// payload borrows a window of: no allocation or fill per record.
struct PayloadPool {
    bytes: Vec<u8>,
    record_size_bytes: usize,
}

impl PayloadPool {
    fn new(record_size_bytes: usize) -> Self {
        let len = PAYLOAD_POOL_BYTES.max(record_size_bytes * 2);
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let bytes = (0..len)
            .map(|_| b'A' + (xorshift64(&mut state) % 26) as u8)
            .collect();
        PayloadPool {
            bytes,
            record_size_bytes,
        }
    }

    /// Payload of record `index`: a window starting at a pseudo-random offset.
    fn payload(&self, index: u64) -> &[u8] {
        let start_span = (self.bytes.len() - self.record_size_bytes) as u64 + 1;
        let mut state = index.wrapping_mul(0x2545_F491_4F6C_DD1D) | 1;
        let start = (xorshift64(&mut state) % start_span) as usize;
        &self.bytes[start..start + self.record_size_bytes]
    }
}

fn xorshift64(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_have_the_requested_size_and_vary() {
        let pool = PayloadPool::new(1024);
        let first = pool.payload(0);
        assert_eq!(first.len(), 1024);
        assert!(first.iter().all(u8::is_ascii_uppercase));
        assert_ne!(first, pool.payload(1));
        assert_eq!(PayloadPool::new(0).payload(5).len(), 0);
    }

    #[test]
    fn huge_records_still_fit_the_pool() {
        let pool = PayloadPool::new(PAYLOAD_POOL_BYTES);
        for index in 0..16 {
            assert_eq!(pool.payload(index).len(), PAYLOAD_POOL_BYTES);
        }
    }

    #[test]
    fn config_carries_the_tuning_flags() {
        let args = BenchArgs {
            batch_bytes: 4_000_000,
            idempotent: true,
            ..BenchArgs::default()
        };
        let config = producer_config(&args);
        assert_eq!(config.get("acks"), Some("all"));
        assert_eq!(config.get("linger.ms"), Some("5"));
        assert_eq!(config.get("enable.idempotence"), Some("true"));
        assert_eq!(config.get("message.max.bytes"), Some("4000000"));
        assert_eq!(
            producer_config(&BenchArgs::default()).get("message.max.bytes"),
            None
        );
    }
}
