//! `millrace consume`: print records of a topic, from any Kafka broker.
//!
//! ```text
//! millrace consume TOPIC [--partitions 0,1 | --partition N]... [--group GROUP]
//!     [--from-beginning | --from-end | --offset N | --from-time MS]
//!     [--count N] [--timeout MS] [--format value|json] [--bootstrap HOST:PORT]
//! ```
//! Reads the chosen partitions (default: all) from their leaders, starting at
//! the log start (`--from-beginning`), the log end (`--from-end`, the
//! default, as `kafka-console-consumer`), offset N of every partition, or the
//! first record whose timestamp is at or after MS ms since the epoch (the log
//! end when there is none).
//!
//! With `--group`, each partition starts at the group's committed offset
//! (the start option applies where nothing is committed) and the position
//! is committed after every batch printed and at exit. This is the simple
//! "assigned partitions" form (OffsetCommit with generation -1, no
//! JoinGroup): the group must have no active members, and this consumer is
//! not a member, so no rebalancing happens.
//!
//! It stops after `--count` records, or when `--timeout` ms pass without a
//! new record; without either it runs until interrupted.
//!
//! Output, one line per record: `value` prints the value bytes as they are
//! (a null value prints an empty line); `json` prints an object with topic,
//! partition, offset, timestamp (ms), key, value (strings, null when absent;
//! bytes that are not UTF-8 are replaced with U+FFFD) and headers (an object).
//!
//! With `--property KEY=VALUE` (kafka-console-consumer's print.* properties
//! and separators, see [`MessageFormat`]) each line is what
//! kafka-console-consumer prints. Kafka's own flag names are accepted too
//! (see [`super::kafka_style`]).
//!
//! Exit codes: 0 done (count reached, idle timeout without `--count`, or the
//! output pipe closed); 1 runtime or broker failure: unreachable broker,
//! missing topic or partition, offset out of range, any Kafka error code
//! (named), or `--timeout` expiring before `--count` records; 2 bad usage.

use super::console::{
    connect, existing_topic, parse_args, parse_partition_list, run_command, BrokerPool,
    CommandError, ParsedArgs,
};
use super::kafka_style::MessageFormat;
use crate::client::admin::{OffsetSpec, NO_COMMITTED_OFFSET};
use crate::client::fetch::{FetchLimits, FetchedRecord};
use crate::client::{ClientError, KafkaClient};
use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, Instant};

/// Longest a fetch waits at the broker, so timeouts are checked often.
const FETCH_MAX_WAIT_MS: u64 = 500;
/// Most bytes fetched per partition per request.
const FETCH_PARTITION_MAX_BYTES: i32 = 1024 * 1024;
/// Most bytes in one fetch answer.
const FETCH_MAX_BYTES: i32 = 16 * 1024 * 1024;
/// ListOffsets' answer when no record has a timestamp at or after the one asked.
const NO_OFFSET: i64 = -1;

/// Usage text of `millrace consume`.
pub const CONSUME_USAGE: &str = "  millrace consume TOPIC [--partitions 0,1] [--group GROUP]
      [--from-beginning | --from-end | --offset N | --from-time MS]
      [--count N] [--timeout MS] [--format value|json] [--bootstrap HOST:PORT]
      Print records, one per line. Stops after --count records or when
      --timeout ms pass without one. Exit 0 when done, 1 on a broker failure
      or a timeout before --count, 2 on bad usage.
      kafka-console-consumer's flags work too: --bootstrap-server, --topic T,
      --max-messages N, --timeout-ms MS, --offset earliest|latest|N, and
      --property (or --formatter-property) print.timestamp|print.partition|
      print.offset|print.headers|print.key|print.value=true|false,
      key.separator, line.separator, headers.separator, null.literal: the
      output is then kafka-console-consumer's.
";

/// Where reading starts (where a group has no committed offset).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StartAt {
    Beginning,
    End,
    Offset(i64),
    Time(i64),
}

/// How each record is printed.
#[derive(Debug, Clone, PartialEq, Eq)]
enum OutputFormat {
    Value,
    Json,
    /// As kafka-console-consumer, shaped by `--property print.key=true`...
    Kafka(MessageFormat),
}

/// Parsed `millrace consume` arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ConsumeArgs {
    bootstrap: String,
    topic: String,
    partitions: Option<Vec<i32>>,
    group: Option<String>,
    start: StartAt,
    count: Option<u64>,
    timeout: Option<Duration>,
    format: OutputFormat,
}

/// Runs `millrace consume ARGS...`; returns the exit code.
pub fn run(args: &[String]) -> i32 {
    run_command("consume", CONSUME_USAGE, args, parse_consume_args, consume)
}

fn parse_consume_args(args: &[String]) -> Result<ConsumeArgs, String> {
    let parsed: ParsedArgs = parse_args(
        args,
        &[
            "--partitions",
            "--partition",
            "--group",
            "--offset",
            "--from-time",
            "--count",
            "--timeout",
            "--format",
            "--property",
        ],
        &["--from-beginning", "--from-end"],
    )?;
    let topic = match parsed.positional.as_slice() {
        [topic] if !topic.is_empty() => topic.clone(),
        other => return Err(format!("consume needs exactly one TOPIC, got {other:?}")),
    };
    let mut partitions = Vec::new();
    for list in parsed
        .values("--partitions")
        .iter()
        .chain(parsed.values("--partition"))
    {
        partitions.extend(parse_partition_list(list)?);
    }
    partitions.sort_unstable();
    partitions.dedup();
    let count = parsed.number::<u64>("--count")?;
    if count == Some(0) {
        return Err("--count must be at least 1".into());
    }
    let properties = parsed.values("--property");
    let format = match parsed.value("--format") {
        None if !properties.is_empty() => {
            OutputFormat::Kafka(MessageFormat::from_properties(properties)?)
        }
        _ if !properties.is_empty() => {
            return Err("--property shapes the default output; it does not go with --format".into())
        }
        None | Some("value") => OutputFormat::Value,
        Some("json") => OutputFormat::Json,
        Some(other) => return Err(format!("--format must be value or json, got {other:?}")),
    };
    Ok(ConsumeArgs {
        bootstrap: parsed.bootstrap(),
        topic,
        partitions: (!partitions.is_empty()).then_some(partitions),
        group: parsed.value("--group").map(str::to_string),
        start: parse_start(&parsed)?,
        count,
        timeout: parsed
            .number::<u64>("--timeout")?
            .map(Duration::from_millis),
        format,
    })
}

fn parse_start(parsed: &ParsedArgs) -> Result<StartAt, String> {
    let mut starts = Vec::new();
    if parsed.flag("--from-beginning") {
        starts.push(StartAt::Beginning);
    }
    if parsed.flag("--from-end") {
        starts.push(StartAt::End);
    }
    if let Some(offset) = parsed.number::<i64>("--offset")? {
        if offset < 0 {
            return Err(format!("--offset must not be negative, got {offset}"));
        }
        starts.push(StartAt::Offset(offset));
    }
    if let Some(ms) = parsed.number::<i64>("--from-time")? {
        if ms < 0 {
            return Err(format!("--from-time must not be negative, got {ms}"));
        }
        starts.push(StartAt::Time(ms));
    }
    match starts.as_slice() {
        [] => Ok(StartAt::End),
        [one] => Ok(*one),
        _ => Err("give only one of --from-beginning, --from-end, --offset, --from-time".into()),
    }
}

/// A partition being read: its leader and next offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Position {
    leader: i32,
    next_offset: i64,
}

/// Everything a running consume needs.
struct Session<'a> {
    args: &'a ConsumeArgs,
    pool: BrokerPool,
    positions: BTreeMap<i32, Position>,
    coordinator: Option<KafkaClient>,
    printed: u64,
}

fn consume(args: &ConsumeArgs) -> Result<(), CommandError> {
    let mut bootstrap = connect(&args.bootstrap)?;
    let (metadata, topic) = existing_topic(&mut bootstrap, &args.topic)?;
    let wanted: Vec<i32> = match &args.partitions {
        Some(list) => list.clone(),
        None => topic.partitions.iter().map(|p| p.partition).collect(),
    };
    let mut leaders = BTreeMap::new();
    for partition in &wanted {
        let found = topic.partitions.iter().find(|p| p.partition == *partition);
        let leader = found.map(|p| p.leader).ok_or_else(|| {
            CommandError::Failed(format!(
                "topic {:?} has no partition {partition} (it has {})",
                args.topic,
                topic.partitions.len()
            ))
        })?;
        leaders.insert(*partition, leader);
    }
    let coordinator = match &args.group {
        Some(group) => Some(connect(&bootstrap.find_coordinator(group)?.address)?),
        None => None,
    };
    let mut session = Session {
        args,
        pool: BrokerPool::new(metadata.brokers),
        positions: BTreeMap::new(),
        coordinator,
        printed: 0,
    };
    session.start_positions(&leaders)?;
    let outcome = session.read_loop();
    session.commit()?;
    outcome
}

impl Session<'_> {
    /// Committed offsets where the group has them, else the start option.
    fn start_positions(&mut self, leaders: &BTreeMap<i32, i32>) -> Result<(), CommandError> {
        let topic = self.args.topic.clone();
        let mut committed = BTreeMap::new();
        if let (Some(group), Some(coordinator)) = (&self.args.group, self.coordinator.as_mut()) {
            let partitions: Vec<i32> = leaders.keys().copied().collect();
            committed = coordinator.offset_fetch(group, Some(&[(topic.clone(), partitions)]))?;
        }
        let mut by_leader: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
        for (partition, leader) in leaders {
            match committed.get(&(topic.clone(), *partition)) {
                Some(offset) if *offset != NO_COMMITTED_OFFSET => {
                    self.set_position(*partition, *leader, *offset);
                }
                _ => by_leader.entry(*leader).or_default().push(*partition),
            }
        }
        for (leader, partitions) in by_leader {
            let offsets = self.resolve_start(leader, &partitions)?;
            for partition in partitions {
                let offset = offsets.get(&partition).copied().ok_or_else(|| {
                    CommandError::Failed(format!("no start offset for {topic}[{partition}]"))
                })?;
                self.set_position(partition, leader, offset);
            }
        }
        Ok(())
    }

    fn set_position(&mut self, partition: i32, leader: i32, next_offset: i64) {
        self.positions.insert(
            partition,
            Position {
                leader,
                next_offset,
            },
        );
    }

    fn resolve_start(
        &mut self,
        leader: i32,
        partitions: &[i32],
    ) -> Result<BTreeMap<i32, i64>, ClientError> {
        let topic = &self.args.topic;
        let client = self.pool.client(leader)?;
        match self.args.start {
            StartAt::Offset(offset) => Ok(partitions.iter().map(|p| (*p, offset)).collect()),
            StartAt::Beginning => client.list_offsets(topic, partitions, OffsetSpec::Earliest),
            StartAt::End => client.list_offsets(topic, partitions, OffsetSpec::Latest),
            StartAt::Time(ms) => {
                let mut found =
                    client.list_offsets(topic, partitions, OffsetSpec::Timestamp(ms))?;
                let ends = client.list_offsets(topic, partitions, OffsetSpec::Latest)?;
                for (partition, offset) in found.iter_mut() {
                    if *offset == NO_OFFSET {
                        *offset = ends.get(partition).copied().unwrap_or(NO_OFFSET);
                    }
                }
                Ok(found)
            }
        }
    }

    /// Fetches and prints until the count is reached, the idle timeout
    /// passes, or the output closes.
    fn read_loop(&mut self) -> Result<(), CommandError> {
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::new(stdout.lock());
        let mut last_record_at = Instant::now();
        loop {
            let wait_ms = match self.args.timeout {
                Some(timeout) => {
                    let idle = last_record_at.elapsed();
                    if idle >= timeout {
                        return self.timed_out(timeout);
                    }
                    FETCH_MAX_WAIT_MS.min(timeout.saturating_sub(idle).as_millis() as u64)
                }
                None => FETCH_MAX_WAIT_MS,
            };
            let printed_before = self.printed;
            let done = match self.fetch_round(&mut out, wait_ms) {
                Err(CommandError::Failed(m)) if m == BROKEN_PIPE => return Ok(()),
                other => other?,
            };
            if let Err(e) = out.flush() {
                return broken_pipe_is_done(e);
            }
            if self.printed > printed_before {
                last_record_at = Instant::now();
                self.commit()?;
            }
            if done {
                return Ok(());
            }
        }
    }

    fn timed_out(&self, timeout: Duration) -> Result<(), CommandError> {
        match self.args.count {
            Some(count) => Err(CommandError::Failed(format!(
                "timed out: no record for {} ms after {} of {count} record(s)",
                timeout.as_millis(),
                self.printed
            ))),
            None => Ok(()),
        }
    }

    /// One fetch per leader; returns whether `--count` is reached.
    fn fetch_round(&mut self, out: &mut impl Write, wait_ms: u64) -> Result<bool, CommandError> {
        let mut by_leader: BTreeMap<i32, Vec<(i32, i64)>> = BTreeMap::new();
        for (partition, position) in &self.positions {
            by_leader
                .entry(position.leader)
                .or_default()
                .push((*partition, position.next_offset));
        }
        let limits = FetchLimits {
            max_wait_ms: i32::try_from(wait_ms).unwrap_or(i32::MAX),
            partition_max_bytes: FETCH_PARTITION_MAX_BYTES,
            max_bytes: FETCH_MAX_BYTES,
        };
        for (leader, positions) in by_leader {
            let topic = self.args.topic.clone();
            let answers = self
                .pool
                .client(leader)?
                .fetch(&topic, &positions, limits)?;
            for answer in answers {
                if answer.error_code != crate::protocol::error_code::NONE {
                    let at = self
                        .positions
                        .get(&answer.partition)
                        .map_or(-1, |p| p.next_offset);
                    return Err(CommandError::Failed(format!(
                        "{topic}[{}] at offset {at}: {}",
                        answer.partition,
                        ClientError::broker(answer.error_code, None)
                    )));
                }
                for record in &answer.records {
                    write_record(out, &self.args.format, &topic, answer.partition, record)
                        .map_err(|e| pipe_error(&e))?;
                    if let Some(position) = self.positions.get_mut(&answer.partition) {
                        position.next_offset = record.offset + 1;
                    }
                    self.printed += 1;
                    if self.args.count.is_some_and(|count| self.printed >= count) {
                        return Ok(true);
                    }
                }
            }
        }
        Ok(false)
    }

    /// Commits the positions for `--group` (no-op without one).
    fn commit(&mut self) -> Result<(), CommandError> {
        let (Some(group), Some(coordinator)) = (&self.args.group, self.coordinator.as_mut()) else {
            return Ok(());
        };
        let offsets = self
            .positions
            .iter()
            .map(|(partition, position)| {
                ((self.args.topic.clone(), *partition), position.next_offset)
            })
            .collect();
        coordinator.offset_commit(group, &offsets)?;
        Ok(())
    }
}

/// Message of the error that means the reader of stdout went away.
const BROKEN_PIPE: &str = "output closed";

fn pipe_error(e: &std::io::Error) -> CommandError {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        CommandError::Failed(BROKEN_PIPE.to_string())
    } else {
        CommandError::Failed(format!("writing output: {e}"))
    }
}

fn broken_pipe_is_done(e: std::io::Error) -> Result<(), CommandError> {
    match pipe_error(&e) {
        CommandError::Failed(m) if m == BROKEN_PIPE => Ok(()),
        other => Err(other),
    }
}

fn write_record(
    out: &mut impl Write,
    format: &OutputFormat,
    topic: &str,
    partition: i32,
    record: &FetchedRecord,
) -> std::io::Result<()> {
    match format {
        OutputFormat::Value => {
            out.write_all(record.value.as_deref().unwrap_or_default())?;
            out.write_all(b"\n")
        }
        OutputFormat::Json => {
            let line = json_line(topic, partition, record);
            out.write_all(line.as_bytes())
        }
        OutputFormat::Kafka(kafka) => kafka.write(out, partition, record),
    }
}

/// One JSON object and a newline.
fn json_line(topic: &str, partition: i32, record: &FetchedRecord) -> String {
    let headers: Vec<String> = record
        .headers
        .iter()
        .map(|(k, v)| format!("{}:{}", json_string(k.as_bytes()), json_bytes(v.as_deref())))
        .collect();
    format!(
        "{{\"topic\":{},\"partition\":{partition},\"offset\":{},\"timestamp\":{},\"key\":{},\"value\":{},\"headers\":{{{}}}}}\n",
        json_string(topic.as_bytes()),
        record.offset,
        record.timestamp_ms,
        json_bytes(record.key.as_deref()),
        json_bytes(record.value.as_deref()),
        headers.join(",")
    )
}

fn json_bytes(bytes: Option<&[u8]>) -> String {
    bytes.map_or_else(|| "null".to_string(), json_string)
}

/// A JSON string literal of `bytes` read as UTF-8 (invalid bytes become U+FFFD).
fn json_string(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 2);
    crate::bench::json::write_string(&mut out, &String::from_utf8_lossy(bytes));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_every_option() {
        let parsed = parse_consume_args(&args(&[
            "t",
            "--partitions",
            "1,0",
            "--partition",
            "3",
            "--group",
            "g",
            "--from-time",
            "99",
            "--count",
            "5",
            "--timeout",
            "1500",
            "--format",
            "json",
        ]))
        .unwrap();
        assert_eq!(parsed.partitions, Some(vec![0, 1, 3]));
        assert_eq!(parsed.group.as_deref(), Some("g"));
        assert_eq!(parsed.start, StartAt::Time(99));
        assert_eq!(parsed.count, Some(5));
        assert_eq!(parsed.timeout, Some(Duration::from_millis(1500)));
        assert_eq!(parsed.format, OutputFormat::Json);
        let defaults = parse_consume_args(&args(&["t"])).unwrap();
        assert_eq!(defaults.start, StartAt::End);
        assert_eq!(defaults.format, OutputFormat::Value);
    }

    #[test]
    fn rejects_bad_usage() {
        for bad in [
            &[][..],
            &["a", "b"],
            &["t", "--from-beginning", "--offset", "3"],
            &["t", "--offset", "-1"],
            &["t", "--count", "0"],
            &["t", "--format", "xml"],
            &["t", "--partitions", "a"],
            &["t", "--timeout", "soon"],
        ] {
            assert!(parse_consume_args(&args(bad)).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn json_lines_escape_and_show_nulls() {
        let record = FetchedRecord {
            offset: 7,
            timestamp_ms: 1000,
            log_append_time: false,
            key: None,
            value: Some(Bytes::from_static(b"a\"b\n\x01")),
            headers: vec![
                ("h".into(), Some(Bytes::from_static(b"x"))),
                ("n".into(), None),
            ],
        };
        assert_eq!(
            json_line("t", 2, &record),
            "{\"topic\":\"t\",\"partition\":2,\"offset\":7,\"timestamp\":1000,\"key\":null,\
             \"value\":\"a\\\"b\\n\\u0001\",\"headers\":{\"h\":\"x\",\"n\":null}}\n"
        );
    }
}
