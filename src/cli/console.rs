//! What the console tools (`topic`, `produce`, `consume`) share: option
//! parsing, the runtime error type and its exit code, broker connections
//! by node id, and table formatting.

use super::{kafka_style, EXIT_FAILURE, EXIT_OK};
use crate::client::topics_admin::{TopicDescription, TopicsMetadata, UNKNOWN_TOPIC_OR_PARTITION};
use crate::client::{ClientError, KafkaClient};
use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;
use std::time::Duration;

/// Bootstrap broker when `--bootstrap` is not given.
pub const DEFAULT_BOOTSTRAP: &str = "127.0.0.1:9092";
/// Connect, read and write timeout of every broker connection.
pub const REQUEST_TIMEOUT_MS: u64 = 30_000;
/// How long the broker may take to create or delete a topic.
pub const ADMIN_OPERATION_TIMEOUT_MS: i32 = 30_000;
/// Options every console tool accepts.
const COMMON_VALUE_OPTIONS: &[&str] = &["--bootstrap"];

/// Why a console command failed at run time (exit code 1).
#[derive(Debug)]
pub enum CommandError {
    /// Talking to a broker failed or the broker answered with an error.
    Client(ClientError),
    /// The command cannot be carried out (missing topic, bad input line...).
    Failed(String),
}

impl std::fmt::Display for CommandError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CommandError::Client(e) => write!(f, "{e}"),
            CommandError::Failed(m) => f.write_str(m),
        }
    }
}

impl From<ClientError> for CommandError {
    fn from(e: ClientError) -> Self {
        CommandError::Client(e)
    }
}

impl From<std::io::Error> for CommandError {
    fn from(e: std::io::Error) -> Self {
        CommandError::Failed(format!("i/o error: {e}"))
    }
}

/// Runs one console command: Kafka's flag names are rewritten into millrace's
/// own first ([`kafka_style::rewrite`]); bad arguments print the usage and
/// exit 2; a failure while executing prints `millrace COMMAND: message` and
/// exits 1.
pub fn run_command<A>(
    command: &str,
    usage: &str,
    args: &[String],
    parse: impl FnOnce(&[String]) -> Result<A, String>,
    execute: impl FnOnce(&A) -> Result<(), CommandError>,
) -> i32 {
    let parsed = kafka_style::rewrite(command, args).and_then(|args| parse(&args));
    match parsed {
        Ok(parsed) => finish(command, execute(&parsed)),
        Err(e) => {
            eprintln!("millrace {command}: {e}\n\nUsage:\n{usage}");
            super::EXIT_USAGE
        }
    }
}

/// Prints a failure as `millrace COMMAND: message` and maps it to an exit code.
pub fn finish(command: &str, result: Result<(), CommandError>) -> i32 {
    match result {
        Ok(()) => EXIT_OK,
        Err(e) => {
            eprintln!("millrace {command}: {e}");
            EXIT_FAILURE
        }
    }
}

/// Options, flags and positional arguments of one command line.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ParsedArgs {
    values: BTreeMap<String, Vec<String>>,
    flags: BTreeSet<String>,
    /// Arguments that are not options, in order.
    pub positional: Vec<String>,
}

impl ParsedArgs {
    /// The last value given for `name`.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.values
            .get(name)
            .and_then(|v| v.last())
            .map(String::as_str)
    }

    /// Every value given for `name`, in order.
    pub fn values(&self, name: &str) -> &[String] {
        self.values.get(name).map_or(&[], Vec::as_slice)
    }

    /// Whether flag `name` was given.
    pub fn flag(&self, name: &str) -> bool {
        self.flags.contains(name)
    }

    /// The value of `name` parsed as a number, if given.
    pub fn number<T: FromStr>(&self, name: &str) -> Result<Option<T>, String> {
        self.value(name)
            .map(|text| {
                text.parse::<T>()
                    .map_err(|_| format!("{name} needs a number, got {text:?}"))
            })
            .transpose()
    }

    /// `--bootstrap`, or the default broker.
    pub fn bootstrap(&self) -> String {
        self.value("--bootstrap")
            .unwrap_or(DEFAULT_BOOTSTRAP)
            .to_string()
    }
}

/// Parses `args` knowing which options take a value and which are flags.
/// `--name value` and `--name=value` both work; `--bootstrap-server` is an
/// alias of `--bootstrap`.
pub fn parse_args(
    args: &[String],
    value_options: &[&str],
    flag_options: &[&str],
) -> Result<ParsedArgs, String> {
    let mut parsed = ParsedArgs::default();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        if !arg.starts_with("--") || arg == "--" {
            parsed.positional.push(arg.clone());
            continue;
        }
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) => (name, Some(value.to_string())),
            None => (arg.as_str(), None),
        };
        let name = if name == "--bootstrap-server" {
            "--bootstrap"
        } else {
            name
        };
        if value_options.contains(&name) || COMMON_VALUE_OPTIONS.contains(&name) {
            let value = option_value(name, inline, &mut rest)?;
            parsed
                .values
                .entry(name.to_string())
                .or_default()
                .push(value);
        } else if flag_options.contains(&name) && inline.is_none() {
            parsed.flags.insert(name.to_string());
        } else {
            return Err(format!("unknown option {arg:?}"));
        }
    }
    Ok(parsed)
}

/// The value of option `name`: given inline (`--name=value`) or as the next
/// argument.
pub fn option_value<'a>(
    name: &str,
    inline: Option<String>,
    rest: &mut impl Iterator<Item = &'a String>,
) -> Result<String, String> {
    match inline {
        Some(value) => Ok(value),
        None => rest
            .next()
            .cloned()
            .ok_or_else(|| format!("{name} needs a value")),
    }
}

/// Splits `key=value`; `what` names the option in the error.
pub fn key_value(text: &str, what: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_string(), value.to_string())),
        _ => Err(format!("{what} needs key=value, got {text:?}")),
    }
}

/// Parses a comma-separated partition list such as `0,2`.
pub fn parse_partition_list(text: &str) -> Result<Vec<i32>, String> {
    let partitions: BTreeSet<i32> = text
        .split(',')
        .map(|p| {
            p.trim()
                .parse::<i32>()
                .ok()
                .filter(|p| *p >= 0)
                .ok_or_else(|| format!("bad partition {p:?}"))
        })
        .collect::<Result<_, _>>()?;
    Ok(partitions.into_iter().collect())
}

/// Connects to one broker with the console tools' timeout.
pub fn connect(address: &str) -> Result<KafkaClient, ClientError> {
    KafkaClient::connect(address, Duration::from_millis(REQUEST_TIMEOUT_MS))
}

/// The description of `topic`, failing with a message naming it when the
/// broker does not know it.
pub fn existing_topic(
    bootstrap: &mut KafkaClient,
    topic: &str,
) -> Result<(TopicsMetadata, TopicDescription), CommandError> {
    let metadata = bootstrap.describe_topics(Some(&[topic]))?;
    match metadata.topics.get(topic) {
        Some(found) if found.error_code == crate::protocol::error_code::NONE => {
            let found = found.clone();
            Ok((metadata, found))
        }
        Some(found) if found.error_code != UNKNOWN_TOPIC_OR_PARTITION => Err(CommandError::Client(
            ClientError::broker(found.error_code, Some(topic)),
        )),
        _ => Err(CommandError::Failed(format!(
            "topic {topic:?} does not exist (UNKNOWN_TOPIC_OR_PARTITION)"
        ))),
    }
}

/// One open connection per broker node, opened on first use.
#[derive(Debug, Default)]
pub struct BrokerPool {
    addresses: BTreeMap<i32, String>,
    clients: BTreeMap<i32, KafkaClient>,
}

impl BrokerPool {
    /// A pool for the brokers in a Metadata answer.
    pub fn new(addresses: BTreeMap<i32, String>) -> Self {
        BrokerPool {
            addresses,
            clients: BTreeMap::new(),
        }
    }

    /// The connection to node `node_id`.
    pub fn client(&mut self, node_id: i32) -> Result<&mut KafkaClient, ClientError> {
        if !self.clients.contains_key(&node_id) {
            let address = self.addresses.get(&node_id).ok_or_else(|| {
                ClientError::Protocol(format!("leader {node_id} is not in the broker list"))
            })?;
            let client = connect(address)?;
            self.clients.insert(node_id, client);
        }
        self.clients
            .get_mut(&node_id)
            .ok_or_else(|| ClientError::Protocol(format!("no connection to node {node_id}")))
    }
}

/// Columns padded to their widest cell, separated by two spaces.
pub fn format_table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in rows {
        for (width, value) in widths.iter_mut().zip(row) {
            *width = (*width).max(value.len());
        }
    }
    let header_row: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
    let mut out = String::new();
    for row in std::iter::once(&header_row).chain(rows.iter()) {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(value, width)| format!("{value:<width$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_both_option_forms_flags_and_positionals() {
        let parsed = parse_args(
            &args(&[
                "t",
                "--config",
                "a=1",
                "--config=b=2",
                "--x",
                "--bootstrap-server",
                "h:1",
            ]),
            &["--config"],
            &["--x"],
        )
        .unwrap();
        assert_eq!(parsed.positional, vec!["t"]);
        assert_eq!(parsed.values("--config"), &["a=1", "b=2"]);
        assert!(parsed.flag("--x"));
        assert_eq!(parsed.bootstrap(), "h:1");
    }

    #[test]
    fn rejects_unknown_options_and_missing_values() {
        assert!(parse_args(&args(&["--nope"]), &[], &[]).is_err());
        assert!(parse_args(&args(&["--config"]), &["--config"], &[]).is_err());
        assert!(parse_args(&args(&["--x=1"]), &[], &["--x"]).is_err());
    }

    #[test]
    fn parses_numbers_pairs_and_partition_lists() {
        let parsed = parse_args(&args(&["--n", "x"]), &["--n"], &[]).unwrap();
        assert!(parsed.number::<i32>("--n").is_err());
        assert_eq!(parsed.number::<i32>("--m"), Ok(None));
        assert_eq!(
            key_value("a=b=c", "--config"),
            Ok(("a".into(), "b=c".into()))
        );
        assert!(key_value("=x", "--config").is_err());
        assert_eq!(parse_partition_list("2,0,2"), Ok(vec![0, 2]));
        assert!(parse_partition_list("1,-1").is_err());
    }

    #[test]
    fn tables_align_columns() {
        let table = format_table(&["A", "LONGER"], &[vec!["xyz".into(), "1".into()]]);
        assert_eq!(table, "A    LONGER\nxyz  1\n");
    }
}
