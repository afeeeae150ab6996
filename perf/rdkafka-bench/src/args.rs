//! Command-line parsing (hand-written: keeps the build free of clap).

use std::fmt;

/// Largest payload the tool accepts; a Kafka broker's default message limit is about 1 MiB.
pub const MAX_RECORD_SIZE_BYTES: usize = 16 * 1024 * 1024;
/// Largest partition count the tool will create or assign.
pub const MAX_PARTITIONS: i32 = 10_000;

/// Which phases to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Produce `records` records.
    Produce,
    /// Consume `records` records from the beginning of the topic.
    Consume,
    /// Produce, then catch-up consume what was just produced.
    Both,
}

/// Producer acknowledgement level (`acks`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acks {
    /// `acks=all`: every in-sync replica has the record.
    All,
    /// `acks=1`: the leader has the record.
    Leader,
    /// `acks=0`: fire and forget.
    None,
}

impl Acks {
    /// The value librdkafka's `acks` property expects, also used in the JSON report.
    pub fn as_config_value(self) -> &'static str {
        match self {
            Acks::All => "all",
            Acks::Leader => "1",
            Acks::None => "0",
        }
    }
}

/// Every knob of one benchmark run.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchArgs {
    /// `host:port` of a bootstrap broker.
    pub bootstrap: String,
    /// Topic to produce to and consume from.
    pub topic: String,
    /// Partitions to create the topic with when it is missing.
    pub partitions: i32,
    /// Records to produce (and to expect when consuming).
    pub records: u64,
    /// Payload size of every record.
    pub record_size_bytes: usize,
    /// Producer acknowledgement level.
    pub acks: Acks,
    /// librdkafka `linger.ms`.
    pub linger_ms: u32,
    /// librdkafka `batch.size`.
    pub batch_bytes: u32,
    /// librdkafka `queue.buffering.max.kbytes`: how much the producer may buffer locally.
    pub queue_kbytes: u32,
    /// librdkafka `compression.type` (none, gzip, snappy, lz4, zstd).
    pub compression: String,
    /// Phases to run.
    pub mode: Mode,
    /// Enable the idempotent producer.
    pub idempotent: bool,
    /// librdkafka `fetch.wait.max.ms` of the consumer (None: librdkafka's default, 500). A
    /// catch-up read is answered at once by a broker that has the data, whatever its value.
    pub fetch_wait_max_ms: Option<u32>,
    /// librdkafka `max.partition.fetch.bytes` of the consumer: how much one fetch may carry of
    /// one partition (librdkafka's and Kafka's default is 1 MiB; this tool's 10 MiB).
    pub max_partition_fetch_bytes: u32,
    /// Upper bound on each phase's duration.
    pub phase_timeout_s: u64,
    /// Broker process whose CPU time is sampled around each phase.
    pub broker_pid: Option<u32>,
}

impl Default for BenchArgs {
    fn default() -> Self {
        BenchArgs {
            bootstrap: "127.0.0.1:9092".to_string(),
            topic: "rdkafka-bench".to_string(),
            partitions: 1,
            records: 1_000_000,
            record_size_bytes: 1024,
            acks: Acks::All,
            linger_ms: 5,
            batch_bytes: 1_000_000,
            queue_kbytes: 1024 * 1024,
            compression: "none".to_string(),
            mode: Mode::Both,
            idempotent: false,
            fetch_wait_max_ms: None,
            max_partition_fetch_bytes: 10 * 1024 * 1024,
            phase_timeout_s: 600,
            broker_pid: None,
        }
    }
}

/// Why the command line was rejected (or help was asked for).
#[derive(Debug, PartialEq, Eq)]
pub enum ArgsError {
    /// `--help` / `-h`.
    HelpRequested,
    /// A flag that the tool does not know.
    UnknownFlag(String),
    /// A flag given as the last argument, without its value.
    MissingValue(String),
    /// A value that does not parse or is out of range.
    InvalidValue { flag: String, value: String },
}

impl fmt::Display for ArgsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArgsError::HelpRequested => write!(f, "{USAGE}"),
            ArgsError::UnknownFlag(flag) => write!(f, "unknown flag {flag}\n{USAGE}"),
            ArgsError::MissingValue(flag) => write!(f, "flag {flag} needs a value"),
            ArgsError::InvalidValue { flag, value } => {
                write!(f, "invalid value {value:?} for {flag}")
            }
        }
    }
}

/// Usage text printed for `--help` and on an unknown flag.
pub const USAGE: &str = "\
usage: rdkafka-bench [flags]
  --bootstrap HOST:PORT      bootstrap broker (default 127.0.0.1:9092)
  --topic T                  topic, created with the admin API if missing (default rdkafka-bench)
  --partitions N             partitions when creating the topic (default 1)
  --records N                records to produce / expect (default 1000000)
  --size BYTES               payload bytes per record (default 1024)
  --acks all|1|0             producer acks (default all)
  --linger-ms MS             producer linger.ms (default 5)
  --batch-bytes BYTES        producer batch.size (default 1000000)
  --queue-kbytes KB          producer queue.buffering.max.kbytes (default 1048576)
  --compression C            none|gzip|snappy|lz4|zstd (default none)
  --mode produce|consume|both  (default both)
  --idempotent               enable.idempotence=true
  --fetch-wait-max-ms MS     consumer fetch.wait.max.ms (default: librdkafka's, 500)
  --max-partition-fetch-bytes N  consumer max.partition.fetch.bytes (default 10485760;
                             librdkafka's own default is 1048576)
  --timeout-s S              bound on each phase (default 600)
  --broker-pid PID           sample this process's CPU time around each phase";

const COMPRESSIONS: [&str; 5] = ["none", "gzip", "snappy", "lz4", "zstd"];

/// Parses the arguments after the program name.
pub fn parse_args<I: IntoIterator<Item = String>>(raw: I) -> Result<BenchArgs, ArgsError> {
    let mut args = BenchArgs::default();
    let mut iter = raw.into_iter();
    while let Some(flag) = iter.next() {
        match flag.as_str() {
            "-h" | "--help" => return Err(ArgsError::HelpRequested),
            "--idempotent" => args.idempotent = true,
            _ => {
                let value = iter
                    .next()
                    .ok_or_else(|| ArgsError::MissingValue(flag.clone()))?;
                apply_flag(&mut args, &flag, value)?;
            }
        }
    }
    Ok(args)
}

fn apply_flag(args: &mut BenchArgs, flag: &str, value: String) -> Result<(), ArgsError> {
    let invalid = || ArgsError::InvalidValue {
        flag: flag.to_string(),
        value: value.clone(),
    };
    match flag {
        "--bootstrap" => args.bootstrap = non_empty(&value).ok_or_else(invalid)?,
        "--topic" => args.topic = non_empty(&value).ok_or_else(invalid)?,
        "--partitions" => {
            args.partitions = in_range(&value, 1, MAX_PARTITIONS).ok_or_else(invalid)?
        }
        "--records" => args.records = in_range(&value, 1, u64::MAX).ok_or_else(invalid)?,
        "--size" => {
            args.record_size_bytes =
                in_range(&value, 0, MAX_RECORD_SIZE_BYTES).ok_or_else(invalid)?
        }
        "--acks" => args.acks = parse_acks(&value).ok_or_else(invalid)?,
        "--linger-ms" => args.linger_ms = in_range(&value, 0, 900_000).ok_or_else(invalid)?,
        "--fetch-wait-max-ms" => {
            args.fetch_wait_max_ms = Some(in_range(&value, 0, 300_000).ok_or_else(invalid)?)
        }
        "--max-partition-fetch-bytes" => {
            args.max_partition_fetch_bytes = in_range(&value, 1, 1_000_000_000).ok_or_else(invalid)?
        }
        "--batch-bytes" => {
            args.batch_bytes = in_range(&value, 1, 2_147_483_647).ok_or_else(invalid)?
        }
        "--queue-kbytes" => {
            args.queue_kbytes = in_range(&value, 1, 2_147_483_647).ok_or_else(invalid)?
        }
        "--compression" => {
            args.compression = COMPRESSIONS
                .contains(&value.as_str())
                .then(|| value.clone())
                .ok_or_else(invalid)?
        }
        "--mode" => args.mode = parse_mode(&value).ok_or_else(invalid)?,
        "--timeout-s" => args.phase_timeout_s = in_range(&value, 1, 86_400).ok_or_else(invalid)?,
        "--broker-pid" => {
            args.broker_pid = Some(in_range(&value, 1, u32::MAX).ok_or_else(invalid)?)
        }
        _ => return Err(ArgsError::UnknownFlag(flag.to_string())),
    }
    Ok(())
}

fn non_empty(value: &str) -> Option<String> {
    (!value.is_empty()).then(|| value.to_string())
}

fn in_range<T: std::str::FromStr + PartialOrd>(value: &str, min: T, max: T) -> Option<T> {
    let parsed: T = value.parse().ok()?;
    (parsed >= min && parsed <= max).then_some(parsed)
}

fn parse_acks(value: &str) -> Option<Acks> {
    match value {
        "all" | "-1" => Some(Acks::All),
        "1" => Some(Acks::Leader),
        "0" => Some(Acks::None),
        _ => None,
    }
}

fn parse_mode(value: &str) -> Option<Mode> {
    match value {
        "produce" => Some(Mode::Produce),
        "consume" => Some(Mode::Consume),
        "both" => Some(Mode::Both),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<BenchArgs, ArgsError> {
        parse_args(line.split_whitespace().map(str::to_string))
    }

    #[test]
    fn empty_command_line_gives_defaults() {
        assert_eq!(parse(""), Ok(BenchArgs::default()));
    }

    #[test]
    fn every_flag_is_applied() {
        let args = parse(
            "--bootstrap h:1 --topic t --partitions 3 --records 10 --size 100 --acks 1 \
             --linger-ms 0 --batch-bytes 2000 --queue-kbytes 64 --compression zstd --mode produce --idempotent \
             --timeout-s 9 --broker-pid 42 --fetch-wait-max-ms 5 --max-partition-fetch-bytes 1048576",
        )
        .unwrap();
        assert_eq!(args.bootstrap, "h:1");
        assert_eq!(args.topic, "t");
        assert_eq!(args.partitions, 3);
        assert_eq!(args.records, 10);
        assert_eq!(args.record_size_bytes, 100);
        assert_eq!(args.acks, Acks::Leader);
        assert_eq!(args.linger_ms, 0);
        assert_eq!(args.batch_bytes, 2000);
        assert_eq!(args.queue_kbytes, 64);
        assert_eq!(args.compression, "zstd");
        assert_eq!(args.mode, Mode::Produce);
        assert!(args.idempotent);
        assert_eq!(args.phase_timeout_s, 9);
        assert_eq!(args.broker_pid, Some(42));
        assert_eq!(args.fetch_wait_max_ms, Some(5));
        assert_eq!(args.max_partition_fetch_bytes, 1_048_576);
    }

    #[test]
    fn bad_values_are_rejected() {
        assert!(matches!(
            parse("--acks 2"),
            Err(ArgsError::InvalidValue { .. })
        ));
        assert!(matches!(
            parse("--records 0"),
            Err(ArgsError::InvalidValue { .. })
        ));
        assert!(matches!(
            parse("--partitions x"),
            Err(ArgsError::InvalidValue { .. })
        ));
        assert!(matches!(
            parse("--compression brotli"),
            Err(ArgsError::InvalidValue { .. })
        ));
        assert!(matches!(
            parse("--mode both2"),
            Err(ArgsError::InvalidValue { .. })
        ));
        assert_eq!(
            parse("--topic"),
            Err(ArgsError::MissingValue("--topic".into()))
        );
        assert_eq!(
            parse("--nope 1"),
            Err(ArgsError::UnknownFlag("--nope".into()))
        );
        assert_eq!(parse("-h"), Err(ArgsError::HelpRequested));
    }

    #[test]
    fn acks_round_trip_to_config_values() {
        for acks in [Acks::All, Acks::Leader, Acks::None] {
            assert_eq!(parse_acks(acks.as_config_value()), Some(acks));
        }
    }
}
