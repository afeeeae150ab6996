//! librdkafka callbacks: warnings to stderr, delivery reports counted.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::ConsumerContext;
use rdkafka::error::KafkaError;
use rdkafka::producer::{DeliveryResult, ProducerContext};
use rdkafka::ClientContext;

/// Writes librdkafka warnings and errors to stderr (there is no `log` backend in this tool).
fn print_client_log(level: RDKafkaLogLevel, facility: &str, message: &str) {
    if (level as i32) <= RDKafkaLogLevel::Warning as i32 {
        eprintln!("librdkafka {facility}: {message}");
    }
}

fn print_client_error(error: KafkaError, reason: &str) {
    eprintln!("librdkafka error: {error}: {reason}");
}

/// Consumer (and admin) context: only reports librdkafka's own warnings.
pub struct StderrContext;

impl ClientContext for StderrContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        print_client_log(level, fac, log_message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        print_client_error(error, reason);
    }
}

impl ConsumerContext for StderrContext {}

/// Producer context counting delivery reports. Callbacks run on the thread calling `poll`.
#[derive(Default)]
pub struct DeliveryCounter {
    delivered_records: AtomicU64,
    delivered_bytes: AtomicU64,
    failed_records: AtomicU64,
    first_failure: Mutex<Option<String>>,
}

impl DeliveryCounter {
    /// Records the broker acknowledged.
    pub fn delivered_records(&self) -> u64 {
        self.delivered_records.load(Ordering::Relaxed)
    }

    /// Payload bytes of the acknowledged records.
    pub fn delivered_bytes(&self) -> u64 {
        self.delivered_bytes.load(Ordering::Relaxed)
    }

    /// Records whose delivery failed.
    pub fn failed_records(&self) -> u64 {
        self.failed_records.load(Ordering::Relaxed)
    }

    /// The first delivery error seen, if any.
    pub fn first_failure(&self) -> Option<String> {
        self.first_failure
            .lock()
            .ok()
            .and_then(|first| first.clone())
    }
}

impl ClientContext for DeliveryCounter {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        print_client_log(level, fac, log_message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        print_client_error(error, reason);
    }
}

impl ProducerContext for DeliveryCounter {
    type DeliveryOpaque = ();

    fn delivery(&self, delivery_result: &DeliveryResult<'_>, _: Self::DeliveryOpaque) {
        match delivery_result {
            Ok(message) => {
                self.delivered_records.fetch_add(1, Ordering::Relaxed);
                self.delivered_bytes
                    .fetch_add(message.payload_len() as u64, Ordering::Relaxed);
            }
            Err((error, _)) => {
                self.failed_records.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut first) = self.first_failure.lock() {
                    first.get_or_insert_with(|| error.to_string());
                }
            }
        }
    }
}
