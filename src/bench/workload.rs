//! A benchmark workload: every field has a default, can come from a workload
//! file (a flat TOML subset: `key = value` lines, `#` comments) and can be set
//! by a flag of the same name (`--message-size 100` sets `message_size`).
//!
//! The vocabulary follows the OpenMessaging Benchmark: topics, partitions per
//! topic, producers and consumers per topic, message size, key distribution,
//! producer rate.

use crate::protocol::codec::Codec;
use std::path::PathBuf;
use std::time::Duration;

/// The name of a workload given none (no file, no `--name`).
pub const DEFAULT_WORKLOAD_NAME: &str = "bench";
/// Largest message this harness builds; a larger size is a typo.
pub const MESSAGE_SIZE_MAX_BYTES: usize = 16 * 1024 * 1024;
/// Smallest message: the 8-byte send timestamp must fit.
pub const MESSAGE_SIZE_MIN_BYTES: usize = 8;
/// Upper bound on producers, consumers, topics and partitions (per field).
pub const COUNT_MAX: u32 = 100_000;
/// Upper bound on pipelined requests per connection.
pub const IN_FLIGHT_MAX: u32 = 1024;
/// Requests in flight per connection with idempotence: a broker keeps the
/// last five batches per producer to check sequences (Kafka's limit).
pub const IDEMPOTENT_IN_FLIGHT_MAX: u32 = 5;
/// Largest record batch the harness builds.
pub const BATCH_SIZE_MAX_BYTES: usize = 64 * 1024 * 1024;

/// How records are keyed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyMode {
    /// No key (null).
    None,
    /// A random 8-byte key per record.
    Random,
    /// Round-robin over `key_count` distinct keys.
    RoundRobin,
}

/// Producer acknowledgement level, as Kafka's `acks`.
pub type Acks = i16;

/// Everything that defines one benchmark run.
#[derive(Debug, Clone, PartialEq)]
pub struct Workload {
    /// `host:port` of any broker of the cluster.
    pub bootstrap: String,
    /// Topic names are `{topic_prefix}-{index}`.
    pub topic_prefix: String,
    /// Number of topics.
    pub topics: u32,
    /// Partitions of each topic.
    pub partitions_per_topic: u32,
    /// Producers writing to each topic.
    pub producers_per_topic: u32,
    /// Consumers reading each topic (0 = produce only).
    pub consumers_per_topic: u32,
    /// Message (value) size in bytes; with `message_size_max` the lower bound.
    pub message_size: usize,
    /// When above `message_size`, sizes are uniform in `[message_size, message_size_max]`.
    pub message_size_max: usize,
    /// Key distribution.
    pub keys: KeyMode,
    /// Distinct keys for `KeyMode::RoundRobin`.
    pub key_count: u32,
    /// Target rate in messages per second over all producers; 0 = as fast as possible.
    pub rate: u64,
    /// Kafka `acks`: -1 (all), 1 or 0.
    pub acks: Acks,
    /// Largest record batch in bytes.
    pub batch_size: usize,
    /// How long a batch may wait for more records (fixed-rate mode).
    pub linger: Duration,
    /// Produce requests in flight per connection.
    pub max_in_flight: u32,
    /// Compression codec name: none, gzip, snappy, lz4 or zstd.
    pub compression: String,
    /// Idempotent producers: producer id, epoch and sequences in every batch
    /// (requires acks=all, as in Kafka).
    pub idempotence: bool,
    /// Measured run time after warm-up.
    pub duration: Duration,
    /// Warm-up time: traffic flows, nothing is recorded.
    pub warmup: Duration,
    /// Create missing topics before the run.
    pub create_topics: bool,
    /// Delete the topics after the run.
    pub delete_topics: bool,
    /// Executor threads (one pinned per core); 0 = one per online core.
    pub threads: u32,
    /// Where `result.json` and `chart.svg` go.
    pub output: Option<PathBuf>,
    /// A name for the run, shown in charts and comparisons.
    pub name: String,
    /// Consumers start only when producing ends: they drain a backlog.
    pub backlog: bool,
}

impl Default for Workload {
    fn default() -> Self {
        Workload {
            bootstrap: "127.0.0.1:9092".to_string(),
            topic_prefix: "millrace-bench".to_string(),
            topics: 1,
            partitions_per_topic: 1,
            producers_per_topic: 1,
            consumers_per_topic: 1,
            message_size: 1024,
            message_size_max: 0,
            keys: KeyMode::None,
            key_count: 1000,
            rate: 0,
            acks: -1,
            // librdkafka's tuned value: measured best for max throughput here (perf/RESULTS.md).
            batch_size: 1_000_000,
            linger: Duration::from_millis(1),
            max_in_flight: 5,
            compression: "none".to_string(),
            idempotence: false,
            duration: Duration::from_secs(30),
            warmup: Duration::from_secs(0),
            create_topics: true,
            delete_topics: false,
            threads: 0,
            output: None,
            name: String::new(),
            backlog: false,
        }
    }
}

/// Every key a workload file or flag may set, for the usage text.
pub const WORKLOAD_KEYS: &[(&str, &str)] = &[
    (
        "bootstrap",
        "host:port of a broker (default 127.0.0.1:9092)",
    ),
    (
        "name",
        "run name shown in charts (default: the workload file stem)",
    ),
    (
        "topic_prefix",
        "topics are PREFIX-0.. (default millrace-bench)",
    ),
    ("topics", "number of topics (1)"),
    ("partitions_per_topic", "partitions of each topic (1)"),
    ("producers_per_topic", "producers per topic (1)"),
    (
        "consumers_per_topic",
        "consumers per topic, 0 = produce only (1)",
    ),
    ("message_size", "message size in bytes, >= 8 (1024)"),
    (
        "message_size_max",
        "if larger: uniform sizes in [message_size, max] (0)",
    ),
    ("keys", "none | random | round-robin (none)"),
    ("key_count", "distinct keys for round-robin (1000)"),
    ("rate", "target msgs/s over all producers, 0 = max (0)"),
    ("acks", "all | 1 | 0 (all)"),
    ("batch_size", "largest record batch in bytes (1000000)"),
    ("linger", "how long a batch may wait, e.g. 1ms (1ms)"),
    (
        "max_in_flight",
        "pipelined produce requests per connection (5)",
    ),
    ("compression", "none | gzip | snappy | lz4 | zstd (none)"),
    (
        "idempotence",
        "idempotent producers, needs acks=all and max_in_flight <= 5 (false)",
    ),
    ("duration", "measured time, e.g. 30s, 2m (30s)"),
    ("warmup", "unmeasured time before it (0s)"),
    ("create_topics", "create missing topics (true)"),
    ("delete_topics", "delete the topics afterwards (false)"),
    ("threads", "pinned executor threads, 0 = one per core (0)"),
    ("output", "folder for result.json and chart.svg"),
    (
        "backlog",
        "consumers start when producing ends: drain a backlog (false)",
    ),
];

impl Workload {
    /// Sets one field from its textual value; `key` uses `_` or `-`.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        let key = key.replace('-', "_");
        let value = value.trim();
        let bad = |what: &str| format!("{key}: {what}, got {value:?}");
        match key.as_str() {
            "bootstrap" => self.bootstrap = value.to_string(),
            "name" => self.name = value.to_string(),
            "topic_prefix" => self.topic_prefix = value.to_string(),
            "topics" => self.topics = parse_count(value).map_err(|e| bad(&e))?,
            "partitions_per_topic" => {
                self.partitions_per_topic = parse_count(value).map_err(|e| bad(&e))?
            }
            "producers_per_topic" => {
                self.producers_per_topic = parse_count(value).map_err(|e| bad(&e))?
            }
            "consumers_per_topic" => {
                self.consumers_per_topic = parse_count(value).map_err(|e| bad(&e))?
            }
            "message_size" => self.message_size = parse_size(value).map_err(|e| bad(&e))?,
            "message_size_max" => {
                self.message_size_max = parse_size_or_zero(value).map_err(|e| bad(&e))?
            }
            "keys" => {
                self.keys = parse_keys(value).ok_or_else(|| bad("none|random|round-robin"))?
            }
            "key_count" => self.key_count = parse_count(value).map_err(|e| bad(&e))?.max(1),
            "rate" => self.rate = value.parse().map_err(|_| bad("a msgs/s count"))?,
            "acks" => self.acks = parse_acks(value).ok_or_else(|| bad("all, 1 or 0"))?,
            "batch_size" => {
                self.batch_size = parse_bounded(value, 1, BATCH_SIZE_MAX_BYTES as u64)
                    .map_err(|e| bad(&e))? as usize
            }
            "linger" | "linger_ms" => self.linger = parse_duration(value).map_err(|e| bad(&e))?,
            "max_in_flight" => {
                self.max_in_flight =
                    parse_bounded(value, 1, IN_FLIGHT_MAX as u64).map_err(|e| bad(&e))? as u32
            }
            "compression" => self.compression = value.to_ascii_lowercase(),
            "idempotence" => self.idempotence = parse_bool(value).ok_or_else(|| bad("a bool"))?,
            "duration" => self.duration = parse_duration(value).map_err(|e| bad(&e))?,
            "warmup" => self.warmup = parse_duration(value).map_err(|e| bad(&e))?,
            "create_topics" => {
                self.create_topics = parse_bool(value).ok_or_else(|| bad("a bool"))?
            }
            "delete_topics" => {
                self.delete_topics = parse_bool(value).ok_or_else(|| bad("a bool"))?
            }
            "threads" => self.threads = parse_bounded(value, 0, 1024).map_err(|e| bad(&e))? as u32,
            "output" => self.output = Some(PathBuf::from(value)),
            "backlog" => self.backlog = parse_bool(value).ok_or_else(|| bad("a bool"))?,
            _ => return Err(format!("unknown workload key {key:?}")),
        }
        Ok(())
    }

    /// Applies a workload file's text (flat TOML: `key = value`, `#` comments).
    pub fn apply_file_text(&mut self, text: &str) -> Result<(), String> {
        for (number, line) in text.lines().enumerate() {
            let line = strip_comment(line).trim();
            if line.is_empty() || line.starts_with('[') {
                continue;
            }
            let (key, value) = line
                .split_once('=')
                .ok_or_else(|| format!("line {}: expected key = value", number + 1))?;
            let value = unquote(value.trim());
            self.set(key.trim(), value)
                .map_err(|e| format!("line {}: {e}", number + 1))?;
        }
        Ok(())
    }

    /// Rejects combinations the harness cannot run.
    pub fn validate(&self) -> Result<(), String> {
        if Codec::parse(&self.compression).is_none() {
            return Err(format!(
                "compression {:?} is not one of none, gzip, snappy, lz4, zstd",
                self.compression
            ));
        }
        if self.idempotence && self.acks != -1 {
            return Err(format!(
                "idempotence=true requires acks=all (got acks={}), as in Kafka",
                self.acks
            ));
        }
        if self.idempotence && self.max_in_flight > IDEMPOTENT_IN_FLIGHT_MAX {
            return Err(format!(
                "idempotence=true allows at most {IDEMPOTENT_IN_FLIGHT_MAX} requests in flight \
                 (got max_in_flight={}), as in Kafka",
                self.max_in_flight
            ));
        }
        if self.message_size_max > 0 && self.message_size_max < self.message_size {
            return Err("message_size_max is below message_size".to_string());
        }
        if self.largest_message() + RECORD_OVERHEAD_MAX_BYTES > self.batch_size {
            return Err(format!(
                "batch_size {} cannot hold one message of {} bytes",
                self.batch_size,
                self.largest_message()
            ));
        }
        if self.duration.is_zero() {
            return Err("duration must be above zero".to_string());
        }
        Ok(())
    }

    /// The largest message this workload produces.
    pub fn largest_message(&self) -> usize {
        self.message_size.max(self.message_size_max)
    }

    /// Names of the topics of this run.
    pub fn topic_names(&self) -> Vec<String> {
        (0..self.topics)
            .map(|i| format!("{}-{i}", self.topic_prefix))
            .collect()
    }
}

/// Bytes a record adds around its key and value, at most (varints, header).
pub const RECORD_OVERHEAD_MAX_BYTES: usize = 128;

fn strip_comment(line: &str) -> &str {
    // A '#' inside a quoted string stays; workload values never hold one otherwise.
    let mut in_quotes = false;
    for (i, c) in line.char_indices() {
        match c {
            '"' => in_quotes = !in_quotes,
            '#' if !in_quotes => return &line[..i],
            _ => {}
        }
    }
    line
}

fn unquote(value: &str) -> &str {
    value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value)
}

fn parse_bounded(value: &str, min: u64, max: u64) -> Result<u64, String> {
    let n: u64 = value
        .replace('_', "")
        .parse()
        .map_err(|_| "not a number".to_string())?;
    if n < min || n > max {
        return Err(format!("must be in {min}..={max}"));
    }
    Ok(n)
}

fn parse_count(value: &str) -> Result<u32, String> {
    parse_bounded(value, 0, COUNT_MAX as u64).map(|n| n as u32)
}

fn parse_size(value: &str) -> Result<usize, String> {
    parse_bounded(
        value,
        MESSAGE_SIZE_MIN_BYTES as u64,
        MESSAGE_SIZE_MAX_BYTES as u64,
    )
    .map(|n| n as usize)
}

fn parse_size_or_zero(value: &str) -> Result<usize, String> {
    if value == "0" {
        return Ok(0);
    }
    parse_size(value)
}

fn parse_keys(value: &str) -> Option<KeyMode> {
    match value.to_ascii_lowercase().as_str() {
        "none" | "null" => Some(KeyMode::None),
        "random" => Some(KeyMode::Random),
        "round-robin" | "round_robin" | "roundrobin" => Some(KeyMode::RoundRobin),
        _ => None,
    }
}

fn parse_acks(value: &str) -> Option<Acks> {
    match value.to_ascii_lowercase().as_str() {
        "all" | "-1" => Some(-1),
        "1" => Some(1),
        "0" => Some(0),
        _ => None,
    }
}

fn parse_bool(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" => Some(true),
        "false" | "no" | "0" => Some(false),
        _ => None,
    }
}

/// `30s`, `500ms`, `2m`, `1h`, or a bare number of seconds.
pub fn parse_duration(value: &str) -> Result<Duration, String> {
    let value = value.trim();
    let split = value
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(value.len());
    let (number, unit) = value.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| "a duration like 30s or 500ms".to_string())?;
    let seconds = match unit.trim() {
        "" | "s" => number,
        "ms" => number / 1000.0,
        "m" | "min" => number * 60.0,
        "h" => number * 3600.0,
        other => return Err(format!("unknown duration unit {other:?}")),
    };
    if !(0.0..=86_400.0 * 7.0).contains(&seconds) {
        return Err("duration out of range (0..7 days)".to_string());
    }
    Ok(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_then_flags_override() {
        let mut w = Workload::default();
        w.apply_file_text(
            "# max throughput\nname = \"max-1k\" # trailing\nrate = 0\nmessage_size = 100\n\
             partitions_per_topic = 6\nacks = \"all\"\nduration = \"2m\"\nkeys = \"round-robin\"\n",
        )
        .unwrap();
        w.set("message-size", "200").unwrap();
        assert_eq!(w.name, "max-1k");
        assert_eq!(w.message_size, 200);
        assert_eq!(w.partitions_per_topic, 6);
        assert_eq!(w.duration, Duration::from_secs(120));
        assert_eq!(w.keys, KeyMode::RoundRobin);
        assert_eq!(w.acks, -1);
    }

    #[test]
    fn rejects_bad_values_and_unknown_keys() {
        let mut w = Workload::default();
        assert!(w.set("message_size", "4").is_err());
        assert!(w.set("acks", "2").is_err());
        assert!(w.set("bogus", "1").is_err());
        assert!(w.apply_file_text("just words").is_err());
        w.set("compression", "lz5").unwrap();
        assert!(w.validate().is_err());
    }

    #[test]
    fn codecs_are_accepted_and_idempotence_needs_acks_all() {
        let mut w = Workload::default();
        for codec in ["none", "gzip", "snappy", "LZ4", "zstd"] {
            w.set("compression", codec).unwrap();
            assert_eq!(w.validate(), Ok(()));
        }
        w.set("idempotence", "true").unwrap();
        assert_eq!(w.validate(), Ok(()));
        w.set("acks", "1").unwrap();
        assert!(w.validate().unwrap_err().contains("acks=all"));
        w.set("acks", "all").unwrap();
        w.set("max_in_flight", "6").unwrap();
        assert!(w.validate().unwrap_err().contains("max_in_flight"));
    }

    #[test]
    fn durations_in_all_units() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("3").unwrap(), Duration::from_secs(3));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert!(parse_duration("3 parsecs").is_err());
    }
}
