//! `millrace produce`: one record per input line, to any Kafka broker.
//!
//! ```text
//! millrace produce TOPIC [--file PATH] [--key-separator SEP] [--header KEY=VALUE]...
//!     [--partition N] [--acks 0|1|all] [--compression none|gzip|snappy|lz4|zstd]
//!     [--batch-size N] [--bootstrap HOST:PORT]
//! ```
//! Lines come from stdin, or from PATH with `--file`; the line ending (`\n`
//! or `\r\n`) is not part of the value, an empty line is an empty value.
//! With `--key-separator`, the text before the first separator is the key and
//! the rest the value; a line without the separator is an error. Every
//! `--header` is attached to every record. Without `--partition`, keyed
//! records go where Kafka's default partitioner (murmur2) puts them and
//! unkeyed ones fill one batch per partition in turn. Records are sent in
//! batches of at most `--batch-size` records (default 500) and
//! [`MAX_BATCH_BYTES`]; `--acks` defaults to `all`.
//!
//! On success it prints `Produced N record(s) to TOPIC` on stderr.
//! Exit codes: 0 every record acknowledged (or sent, with acks 0); 1 runtime
//! or broker failure (missing topic or partition, a line over
//! [`MAX_LINE_BYTES`] or without the key separator, a Kafka error code,
//! named) — records before the failing batch may have been written; 2 bad usage.

use super::console::{
    connect, existing_topic, key_value, parse_args, run_command, BrokerPool, CommandError,
    ParsedArgs,
};
use crate::client::producer::{
    encode_batch, parse_compression, partition_for_key, Acks, ProducerRecord,
};
use crate::client::topics_admin::TopicDescription;
use bytes::Bytes;
use kafka_protocol::records::Compression;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::time::{SystemTime, UNIX_EPOCH};

/// Records per batch unless `--batch-size` says otherwise.
const DEFAULT_BATCH_RECORDS: usize = 500;
/// Largest `--batch-size`.
const MAX_BATCH_RECORDS: usize = 100_000;
/// A batch is sent once its records hold this many bytes, below Kafka's
/// default `message.max.bytes` (1 MiB).
pub const MAX_BATCH_BYTES: usize = 512 * 1024;
/// Longest input line accepted.
pub const MAX_LINE_BYTES: usize = 1024 * 1024;
/// How long the leader may take to replicate before answering.
const PRODUCE_TIMEOUT_MS: i32 = 30_000;

/// Usage text of `millrace produce`.
pub const PRODUCE_USAGE: &str =
    "  millrace produce TOPIC [--file PATH] [--key-separator SEP] [--header KEY=VALUE]...
      [--partition N] [--acks 0|1|all] [--compression none|gzip|snappy|lz4|zstd]
      [--batch-size N] [--bootstrap HOST:PORT]
      One record per line of stdin (or PATH). Exit 0 when every record is
      acknowledged, 1 on a broker or input failure, 2 on bad usage.
      kafka-console-producer's flags work too: --bootstrap-server, --topic T,
      --property parse.key=true --property key.separator=SEP (also
      --reader-property), --request-required-acks, --compression-codec,
      --producer-property acks=...|compression.type=....
";

/// Parsed `millrace produce` arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ProduceArgs {
    bootstrap: String,
    topic: String,
    file: Option<String>,
    key_separator: Option<String>,
    headers: Vec<(String, Bytes)>,
    partition: Option<i32>,
    acks: Acks,
    compression: Compression,
    batch_records: usize,
}

/// Runs `millrace produce ARGS...`; returns the exit code.
pub fn run(args: &[String]) -> i32 {
    run_command("produce", PRODUCE_USAGE, args, parse_produce_args, produce)
}

fn parse_produce_args(args: &[String]) -> Result<ProduceArgs, String> {
    let parsed: ParsedArgs = parse_args(
        args,
        &[
            "--file",
            "--key-separator",
            "--header",
            "--partition",
            "--acks",
            "--compression",
            "--batch-size",
        ],
        &[],
    )?;
    let topic = match parsed.positional.as_slice() {
        [topic] if !topic.is_empty() => topic.clone(),
        other => return Err(format!("produce needs exactly one TOPIC, got {other:?}")),
    };
    if parsed.value("--key-separator") == Some("") {
        return Err("--key-separator must not be empty".into());
    }
    let headers = parsed
        .values("--header")
        .iter()
        .map(|h| key_value(h, "--header").map(|(k, v)| (k, Bytes::from(v))))
        .collect::<Result<_, _>>()?;
    let partition = parsed.number::<i32>("--partition")?;
    if partition.is_some_and(|p| p < 0) {
        return Err("--partition must not be negative".into());
    }
    let acks = match parsed.value("--acks") {
        None => Acks::All,
        Some(text) => {
            Acks::parse(text).ok_or_else(|| format!("--acks must be 0, 1 or all, got {text:?}"))?
        }
    };
    let compression = match parsed.value("--compression") {
        None => Compression::None,
        Some(text) => parse_compression(text).ok_or_else(|| {
            format!("--compression must be none, gzip, snappy, lz4 or zstd, got {text:?}")
        })?,
    };
    let batch_records = parsed
        .number::<usize>("--batch-size")?
        .unwrap_or(DEFAULT_BATCH_RECORDS);
    if !(1..=MAX_BATCH_RECORDS).contains(&batch_records) {
        return Err(format!(
            "--batch-size must be 1..={MAX_BATCH_RECORDS}, got {batch_records}"
        ));
    }
    Ok(ProduceArgs {
        bootstrap: parsed.bootstrap(),
        topic,
        file: parsed.value("--file").map(str::to_string),
        key_separator: parsed.value("--key-separator").map(str::to_string),
        headers,
        partition,
        acks,
        compression,
        batch_records,
    })
}

/// Records waiting to be sent, per partition, and where the next unkeyed
/// batch goes.
struct Batcher<'a> {
    args: &'a ProduceArgs,
    topic: TopicDescription,
    pool: BrokerPool,
    pending: BTreeMap<i32, (Vec<ProducerRecord>, usize)>,
    next_unkeyed_partition: usize,
    produced: u64,
}

impl Batcher<'_> {
    fn partition_for(&mut self, record: &ProducerRecord) -> i32 {
        let count = self.topic.partitions.len();
        if let Some(partition) = self.args.partition {
            return partition;
        }
        match &record.key {
            Some(key) => partition_for_key(key, i32::try_from(count).unwrap_or(i32::MAX)),
            None => self.topic.partitions[self.next_unkeyed_partition % count.max(1)].partition,
        }
    }

    fn add(&mut self, record: ProducerRecord) -> Result<(), CommandError> {
        let partition = self.partition_for(&record);
        let size = record.key.as_ref().map_or(0, Bytes::len)
            + record.value.as_ref().map_or(0, Bytes::len)
            + record
                .headers
                .iter()
                .map(|(k, v)| k.len() + v.len())
                .sum::<usize>();
        let (records, bytes) = self.pending.entry(partition).or_default();
        records.push(record);
        *bytes += size;
        if records.len() >= self.args.batch_records || *bytes >= MAX_BATCH_BYTES {
            self.send(partition)?;
        }
        Ok(())
    }

    fn send(&mut self, partition: i32) -> Result<(), CommandError> {
        let Some((records, _)) = self.pending.remove(&partition) else {
            return Ok(());
        };
        if records.is_empty() {
            return Ok(());
        }
        let leader = self
            .topic
            .partitions
            .iter()
            .find(|p| p.partition == partition)
            .map(|p| p.leader)
            .ok_or_else(|| {
                CommandError::Failed(format!(
                    "topic {:?} has no partition {partition}",
                    self.args.topic
                ))
            })?;
        let batch = encode_batch(&records, self.args.compression, now_ms())?;
        let client = self.pool.client(leader)?;
        client
            .produce_batch(
                &self.args.topic,
                partition,
                batch,
                self.args.acks,
                PRODUCE_TIMEOUT_MS,
            )
            .map_err(|e| CommandError::Failed(format!("{}[{partition}]: {e}", self.args.topic)))?;
        self.produced += records.len() as u64;
        if self.args.partition.is_none() && records.iter().any(|r| r.key.is_none()) {
            self.next_unkeyed_partition = self.next_unkeyed_partition.wrapping_add(1);
        }
        Ok(())
    }

    fn send_all(&mut self) -> Result<(), CommandError> {
        let partitions: Vec<i32> = self.pending.keys().copied().collect();
        for partition in partitions {
            self.send(partition)?;
        }
        Ok(())
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn produce(args: &ProduceArgs) -> Result<(), CommandError> {
    let mut bootstrap = connect(&args.bootstrap)?;
    let (metadata, topic) = existing_topic(&mut bootstrap, &args.topic)?;
    if let Some(partition) = args.partition {
        if !topic.partitions.iter().any(|p| p.partition == partition) {
            return Err(CommandError::Failed(format!(
                "topic {:?} has no partition {partition} (it has {})",
                args.topic,
                topic.partitions.len()
            )));
        }
    }
    if topic.partitions.is_empty() {
        return Err(CommandError::Failed(format!(
            "topic {:?} has no partitions",
            args.topic
        )));
    }
    let input: Box<dyn Read> = match &args.file {
        Some(path) => Box::new(
            std::fs::File::open(path)
                .map_err(|e| CommandError::Failed(format!("cannot open {path}: {e}")))?,
        ),
        None => Box::new(std::io::stdin()),
    };
    let mut batcher = Batcher {
        args,
        topic,
        pool: BrokerPool::new(metadata.brokers),
        pending: BTreeMap::new(),
        next_unkeyed_partition: 0,
        produced: 0,
    };
    let mut reader = BufReader::new(input);
    let mut line_number = 0u64;
    while let Some(line) = read_line(&mut reader, line_number + 1)? {
        line_number += 1;
        let record = to_record(line, args, line_number)?;
        batcher.add(record)?;
    }
    batcher.send_all()?;
    eprintln!("Produced {} record(s) to {}", batcher.produced, args.topic);
    Ok(())
}

/// The next line without its ending, or `None` at end of input.
fn read_line(reader: &mut impl BufRead, line_number: u64) -> Result<Option<Vec<u8>>, CommandError> {
    let mut line = Vec::new();
    let limit = u64::try_from(MAX_LINE_BYTES + 2).unwrap_or(u64::MAX);
    let read = reader.by_ref().take(limit).read_until(b'\n', &mut line)?;
    if read == 0 {
        return Ok(None);
    }
    if line.last() == Some(&b'\n') {
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
    }
    if line.len() > MAX_LINE_BYTES {
        return Err(CommandError::Failed(format!(
            "line {line_number} is longer than {MAX_LINE_BYTES} bytes"
        )));
    }
    Ok(Some(line))
}

fn to_record(
    line: Vec<u8>,
    args: &ProduceArgs,
    line_number: u64,
) -> Result<ProducerRecord, CommandError> {
    let (key, value) = match &args.key_separator {
        None => (None, Bytes::from(line)),
        Some(separator) => {
            let at = find(&line, separator.as_bytes()).ok_or_else(|| {
                CommandError::Failed(format!(
                    "line {line_number} has no key separator {separator:?}"
                ))
            })?;
            let line = Bytes::from(line);
            (Some(line.slice(..at)), line.slice(at + separator.len()..))
        }
    };
    Ok(ProducerRecord {
        key,
        value: Some(value),
        headers: args.headers.clone(),
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_every_option() {
        let parsed = parse_produce_args(&args(&[
            "t",
            "--file",
            "in.txt",
            "--key-separator",
            ":",
            "--header",
            "a=1",
            "--partition",
            "2",
            "--acks",
            "1",
            "--compression",
            "zstd",
            "--batch-size",
            "10",
        ]))
        .unwrap();
        assert_eq!(parsed.topic, "t");
        assert_eq!(parsed.file.as_deref(), Some("in.txt"));
        assert_eq!(parsed.headers, vec![("a".to_string(), Bytes::from("1"))]);
        assert_eq!(parsed.partition, Some(2));
        assert_eq!(parsed.acks, Acks::Leader);
        assert_eq!(parsed.compression, Compression::Zstd);
        assert_eq!(parsed.batch_records, 10);
    }

    #[test]
    fn rejects_bad_usage() {
        for bad in [
            &[][..],
            &["a", "b"],
            &["t", "--acks", "2"],
            &["t", "--compression", "brotli"],
            &["t", "--batch-size", "0"],
            &["t", "--partition", "-1"],
            &["t", "--header", "nokv"],
            &["t", "--key-separator", ""],
            &["t", "--bogus"],
        ] {
            assert!(parse_produce_args(&args(bad)).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn reads_lines_without_endings_and_bounds_their_length() {
        let mut input = std::io::Cursor::new(b"a\r\nb\n\nlast".to_vec());
        let mut lines = Vec::new();
        while let Some(line) = read_line(&mut input, 1).unwrap() {
            lines.push(line);
        }
        assert_eq!(
            lines,
            vec![b"a".to_vec(), b"b".to_vec(), b"".to_vec(), b"last".to_vec()]
        );
        let mut long = std::io::Cursor::new(vec![b'x'; MAX_LINE_BYTES + 10]);
        assert!(read_line(&mut long, 1).is_err());
    }

    #[test]
    fn splits_key_at_the_first_separator() {
        let parsed = parse_produce_args(&args(&["t", "--key-separator", "::"])).unwrap();
        let record = to_record(b"k::v::w".to_vec(), &parsed, 1).unwrap();
        assert_eq!(record.key, Some(Bytes::from("k")));
        assert_eq!(record.value, Some(Bytes::from("v::w")));
        assert!(to_record(b"novalue".to_vec(), &parsed, 1).is_err());
    }
}
