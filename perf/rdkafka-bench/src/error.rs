//! The tool's error type.

use std::fmt;

use rdkafka::error::KafkaError;

/// Why a run failed.
#[derive(Debug)]
pub enum BenchError {
    /// A librdkafka call failed.
    Kafka(KafkaError),
    /// Topic creation was refused for a reason other than "already exists".
    TopicCreation(String),
    /// The producer saw failed deliveries.
    DeliveryErrors { errors: u64, first: String },
    /// Not every record was acknowledged within the phase timeout.
    FlushTimedOut { outstanding: i32 },
    /// The consumer received nothing for too long.
    ConsumerStalled {
        consumed: u64,
        expected: u64,
        stalled_s: u64,
    },
    /// The phase hit `--timeout-s`.
    PhaseTimedOut {
        phase: &'static str,
        done: u64,
        expected: u64,
    },
    /// Counts disagree (records, bytes or watermarks).
    Mismatch(String),
}

impl fmt::Display for BenchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BenchError::Kafka(err) => write!(f, "kafka: {err}"),
            BenchError::TopicCreation(reason) => write!(f, "topic creation failed: {reason}"),
            BenchError::DeliveryErrors { errors, first } => {
                write!(f, "{errors} delivery errors, first: {first}")
            }
            BenchError::FlushTimedOut { outstanding } => {
                write!(f, "flush timed out with {outstanding} records outstanding")
            }
            BenchError::ConsumerStalled {
                consumed,
                expected,
                stalled_s,
            } => write!(
                f,
                "consumer stalled {stalled_s} s at {consumed} of {expected} records"
            ),
            BenchError::PhaseTimedOut {
                phase,
                done,
                expected,
            } => {
                write!(f, "{phase} timed out at {done} of {expected} records")
            }
            BenchError::Mismatch(what) => write!(f, "mismatch: {what}"),
        }
    }
}

impl std::error::Error for BenchError {}

impl From<KafkaError> for BenchError {
    fn from(err: KafkaError) -> Self {
        BenchError::Kafka(err)
    }
}
