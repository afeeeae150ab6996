//! Kafka's console-tool conventions in millrace's console tools: the flag
//! names a Kafka user types (`kafka-topics`, `kafka-console-producer`,
//! `kafka-console-consumer`, `kafka-consumer-groups`) and the console
//! consumer's output format.
//!
//! [`rewrite`] turns a Kafka-style command line into millrace's own form
//! before the command parses it, so both spellings reach one parser:
//! ```text
//! millrace topic --create --topic T --partitions 3     # = topic create T --partitions 3
//! millrace produce --bootstrap-server H:P --topic T --property parse.key=true --property key.separator=:
//! millrace consume --topic T --from-beginning --max-messages 10 --property print.key=true
//! millrace group --describe --group G                  # = group describe G
//! ```
//! [`MessageFormat`] prints records as Kafka's DefaultMessageFormatter does,
//! for `consume --property print.*=...`.

use super::console::option_value;
use crate::client::fetch::FetchedRecord;
use std::io::Write;

/// Console-consumer properties [`MessageFormat`] understands.
const FORMATTER_PROPERTIES: &[&str] = &[
    "print.timestamp",
    "print.partition",
    "print.offset",
    "print.headers",
    "print.key",
    "print.value",
    "key.separator",
    "line.separator",
    "headers.separator",
    "null.literal",
];

/// Kafka's action flags per command, each standing for a millrace subcommand.
fn action_flags(command: &str) -> &'static [(&'static str, &'static str)] {
    match command {
        "topic" => &[
            ("--create", "create"),
            ("--list", "list"),
            ("--describe", "describe"),
            ("--delete", "delete"),
        ],
        "group" => &[
            ("--list", "list"),
            ("--describe", "describe"),
            ("--delete", "delete"),
            ("--reset-offsets", "reset-offsets"),
        ],
        _ => &[],
    }
}

/// Kafka options (taking a value) that this rewrite consumes, per command.
fn kafka_value_options(command: &str) -> &'static [&'static str] {
    match command {
        "topic" => &["--topic"],
        "group" => &["--group"],
        "produce" => &[
            "--topic",
            "--property",
            "--reader-property",
            "--producer-property",
            "--request-required-acks",
            "--compression-codec",
        ],
        "consume" => &[
            "--topic",
            "--max-messages",
            "--timeout-ms",
            "--offset",
            "--formatter-property",
        ],
        _ => &[],
    }
}

/// Accumulates the rewritten command line.
#[derive(Default)]
struct Rewritten {
    subcommand: Option<String>,
    positional: Vec<String>,
    options: Vec<String>,
    parse_key: bool,
    key_separator: Option<String>,
}

/// `args` of millrace `command` with Kafka's flag names rewritten into
/// millrace's own; anything else passes through unchanged.
pub fn rewrite(command: &str, args: &[String]) -> Result<Vec<String>, String> {
    let mut out = Rewritten::default();
    let mut rest = args.iter().peekable();
    // millrace's own form names the subcommand first; then Kafka's action
    // flags mean nothing (`topic alter-config T --delete KEY` is millrace's).
    let mut actions = action_flags(command);
    if !actions.is_empty() {
        if let Some(first) = rest.next_if(|a| !a.starts_with('-')) {
            out.subcommand = Some(first.clone());
            actions = &[];
        }
    }
    while let Some(arg) = rest.next() {
        if let Some((_, subcommand)) = actions.iter().find(|(f, _)| f == arg) {
            if let Some(first) = out.subcommand.replace(subcommand.to_string()) {
                return Err(format!("give one action, not both {first} and {arg}"));
            }
            continue;
        }
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) if name.starts_with("--") => (name, Some(value.to_string())),
            _ => (arg.as_str(), None),
        };
        if !kafka_value_options(command).contains(&name) {
            out.options.push(arg.clone());
            continue;
        }
        let value = option_value(name, inline, &mut rest)?;
        out.kafka_option(command, name, value)?;
    }
    out.finish()
}

impl Rewritten {
    fn kafka_option(&mut self, command: &str, name: &str, value: String) -> Result<(), String> {
        match (command, name) {
            (_, "--topic" | "--group") => self.positional.push(value),
            (_, "--max-messages") => self.push("--count", value),
            (_, "--timeout-ms") => self.push("--timeout", value),
            (_, "--offset") => match value.as_str() {
                "earliest" => self.options.push("--from-beginning".into()),
                "latest" => self.options.push("--from-end".into()),
                _ => self.push("--offset", value),
            },
            (_, "--formatter-property") => self.push("--property", value),
            (_, "--request-required-acks") => self.push("--acks", acks(&value)),
            (_, "--compression-codec") => self.push("--compression", value),
            (_, "--property" | "--reader-property") => self.reader_property(&value)?,
            (_, "--producer-property") => self.producer_property(&value)?,
            _ => return Err(format!("unknown option {name:?}")),
        }
        Ok(())
    }

    fn push(&mut self, option: &str, value: String) {
        self.options.push(option.to_string());
        self.options.push(value);
    }

    /// kafka-console-producer's line reader: parse.key and key.separator.
    fn reader_property(&mut self, text: &str) -> Result<(), String> {
        match key_value(text)? {
            ("parse.key", value) => self.parse_key = boolean("parse.key", value)?,
            ("key.separator", value) => self.key_separator = Some(value.to_string()),
            (key, _) => {
                return Err(format!(
                    "producer property {key:?} is not supported (parse.key, key.separator are)"
                ))
            }
        }
        Ok(())
    }

    fn producer_property(&mut self, text: &str) -> Result<(), String> {
        match key_value(text)? {
            ("acks", value) => self.push("--acks", acks(value)),
            ("compression.type", value) => self.push("--compression", value.to_string()),
            (key, _) => {
                return Err(format!(
                    "--producer-property {key:?} is not supported (acks, compression.type are)"
                ))
            }
        }
        Ok(())
    }

    fn finish(mut self) -> Result<Vec<String>, String> {
        if self.parse_key {
            // Kafka's LineMessageReader splits on a tab unless told otherwise.
            let separator = self.key_separator.take().unwrap_or_else(|| "\t".into());
            self.push("--key-separator", separator);
        }
        let mut args: Vec<String> = self.subcommand.into_iter().collect();
        args.extend(self.positional);
        args.extend(self.options);
        Ok(args)
    }
}

/// Kafka writes acks=all as -1.
fn acks(value: &str) -> String {
    if value == "-1" {
        "all".to_string()
    } else {
        value.to_string()
    }
}

fn key_value(text: &str) -> Result<(&str, &str), String> {
    text.split_once('=')
        .filter(|(key, _)| !key.is_empty())
        .ok_or_else(|| format!("property needs key=value, got {text:?}"))
}

fn boolean(key: &str, value: &str) -> Result<bool, String> {
    match value.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(format!("{key} must be true or false, got {value:?}")),
    }
}

/// How kafka-console-consumer's DefaultMessageFormatter prints a record:
/// the chosen fields in a fixed order (timestamp, partition, offset,
/// headers, key, value), each followed by `key.separator`, the last by
/// `line.separator`; absent keys and values print `null.literal`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageFormat {
    timestamp: bool,
    partition: bool,
    offset: bool,
    headers: bool,
    key: bool,
    value: bool,
    key_separator: String,
    line_separator: String,
    headers_separator: String,
    null_literal: String,
}

impl Default for MessageFormat {
    fn default() -> Self {
        MessageFormat {
            timestamp: false,
            partition: false,
            offset: false,
            headers: false,
            key: false,
            value: true,
            key_separator: "\t".into(),
            line_separator: "\n".into(),
            headers_separator: ",".into(),
            null_literal: "null".into(),
        }
    }
}

impl MessageFormat {
    /// The format `key=value` properties ask for (Kafka's names and defaults).
    pub fn from_properties(properties: &[String]) -> Result<Self, String> {
        let mut format = MessageFormat::default();
        for text in properties {
            let (key, value) = key_value(text)?;
            let flag = || boolean(key, value);
            match key {
                "print.timestamp" => format.timestamp = flag()?,
                "print.partition" => format.partition = flag()?,
                "print.offset" => format.offset = flag()?,
                "print.headers" => format.headers = flag()?,
                "print.key" => format.key = flag()?,
                "print.value" => format.value = flag()?,
                "key.separator" => format.key_separator = value.to_string(),
                "line.separator" => format.line_separator = value.to_string(),
                "headers.separator" => format.headers_separator = value.to_string(),
                "null.literal" => format.null_literal = value.to_string(),
                _ => {
                    return Err(format!(
                        "--property {key:?} is not supported (supported: {})",
                        FORMATTER_PROPERTIES.join(", ")
                    ))
                }
            }
        }
        Ok(format)
    }

    /// Writes one record of `partition`.
    pub fn write(
        &self,
        out: &mut impl Write,
        partition: i32,
        record: &FetchedRecord,
    ) -> std::io::Result<()> {
        let mut fields: Vec<Vec<u8>> = Vec::new();
        if self.timestamp {
            let kind = if record.log_append_time {
                "LogAppendTime"
            } else {
                "CreateTime"
            };
            fields.push(format!("{kind}:{}", record.timestamp_ms).into_bytes());
        }
        if self.partition {
            fields.push(format!("Partition:{partition}").into_bytes());
        }
        if self.offset {
            fields.push(format!("Offset:{}", record.offset).into_bytes());
        }
        if self.headers {
            fields.push(self.headers_field(record));
        }
        if self.key {
            fields.push(self.or_null(record.key.as_deref()));
        }
        if self.value {
            fields.push(self.or_null(record.value.as_deref()));
        }
        for (index, field) in fields.iter().enumerate() {
            out.write_all(field)?;
            let last = index + 1 == fields.len();
            let separator = if last {
                &self.line_separator
            } else {
                &self.key_separator
            };
            out.write_all(separator.as_bytes())?;
        }
        Ok(())
    }

    fn or_null(&self, bytes: Option<&[u8]>) -> Vec<u8> {
        bytes.map_or_else(|| self.null_literal.as_bytes().to_vec(), <[u8]>::to_vec)
    }

    fn headers_field(&self, record: &FetchedRecord) -> Vec<u8> {
        if record.headers.is_empty() {
            return b"NO_HEADERS".to_vec();
        }
        let mut field = Vec::new();
        for (index, (name, value)) in record.headers.iter().enumerate() {
            if index > 0 {
                field.extend_from_slice(self.headers_separator.as_bytes());
            }
            field.extend_from_slice(name.as_bytes());
            field.push(b':');
            field.extend_from_slice(&self.or_null(value.as_deref()));
        }
        field
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn rewritten(command: &str, list: &[&str]) -> Vec<String> {
        rewrite(command, &args(list)).unwrap()
    }

    #[test]
    fn topic_actions_and_topic_flag_become_the_subcommand_and_name() {
        assert_eq!(
            rewritten(
                "topic",
                &[
                    "--bootstrap-server",
                    "h:1",
                    "--create",
                    "--topic",
                    "t",
                    "--partitions",
                    "3"
                ]
            ),
            args(&[
                "create",
                "t",
                "--bootstrap-server",
                "h:1",
                "--partitions",
                "3"
            ])
        );
        assert_eq!(rewritten("topic", &["--list"]), args(&["list"]));
        assert_eq!(
            rewritten("topic", &["describe", "x"]),
            args(&["describe", "x"])
        );
        assert_eq!(
            rewritten("topic", &["create", "--topic", "t"]),
            args(&["create", "t"])
        );
        assert_eq!(
            rewritten("topic", &["alter-config", "t", "--delete", "k"]),
            args(&["alter-config", "t", "--delete", "k"])
        );
        assert!(rewrite("topic", &args(&["--create", "--delete"])).is_err());
    }

    #[test]
    fn group_actions_and_group_flag() {
        assert_eq!(
            rewritten(
                "group",
                &[
                    "--reset-offsets",
                    "--group=g",
                    "--topic",
                    "t",
                    "--to-earliest",
                    "--execute"
                ]
            ),
            args(&[
                "reset-offsets",
                "g",
                "--topic",
                "t",
                "--to-earliest",
                "--execute"
            ])
        );
    }

    #[test]
    fn console_producer_flags() {
        assert_eq!(
            rewritten(
                "produce",
                &[
                    "--topic",
                    "t",
                    "--property",
                    "parse.key=true",
                    "--reader-property",
                    "key.separator=:",
                    "--request-required-acks",
                    "-1",
                    "--producer-property",
                    "compression.type=zstd",
                ]
            ),
            args(&[
                "t",
                "--acks",
                "all",
                "--compression",
                "zstd",
                "--key-separator",
                ":"
            ])
        );
        // parse.key alone splits on a tab; key.separator alone parses no key.
        assert_eq!(
            rewritten("produce", &["t", "--property", "parse.key=true"]),
            args(&["t", "--key-separator", "\t"])
        );
        assert_eq!(
            rewritten("produce", &["t", "--property", "key.separator=:"]),
            args(&["t"])
        );
        assert!(rewrite("produce", &args(&["t", "--property", "parse.headers=true"])).is_err());
        assert!(rewrite("produce", &args(&["t", "--property", "parse.key=maybe"])).is_err());
        assert!(rewrite(
            "produce",
            &args(&["t", "--producer-property", "linger.ms=5"])
        )
        .is_err());
    }

    #[test]
    fn console_consumer_flags() {
        assert_eq!(
            rewritten(
                "consume",
                &[
                    "--topic",
                    "t",
                    "--max-messages",
                    "5",
                    "--timeout-ms=900",
                    "--offset",
                    "earliest",
                    "--formatter-property",
                    "print.key=true",
                    "--property",
                    "print.offset=true",
                ]
            ),
            args(&[
                "t",
                "--count",
                "5",
                "--timeout",
                "900",
                "--from-beginning",
                "--property",
                "print.key=true",
                "--property",
                "print.offset=true",
            ])
        );
        assert_eq!(
            rewritten("consume", &["t", "--offset", "7"]),
            args(&["t", "--offset", "7"])
        );
        assert!(rewrite("consume", &args(&["t", "--max-messages"])).is_err());
    }

    fn record() -> FetchedRecord {
        FetchedRecord {
            offset: 7,
            timestamp_ms: 1000,
            log_append_time: false,
            key: None,
            value: Some(Bytes::from_static(b"v")),
            headers: vec![
                ("h".into(), Some(Bytes::from_static(b"x"))),
                ("n".into(), None),
            ],
        }
    }

    fn formatted(properties: &[&str]) -> String {
        let format = MessageFormat::from_properties(&args(properties)).unwrap();
        let mut out = Vec::new();
        format.write(&mut out, 2, &record()).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn formats_as_kafkas_default_message_formatter() {
        assert_eq!(formatted(&[]), "v\n");
        assert_eq!(
            formatted(&[
                "print.timestamp=true",
                "print.partition=true",
                "print.offset=true",
                "print.headers=true",
                "print.key=true",
            ]),
            "CreateTime:1000\tPartition:2\tOffset:7\th:x,n:null\tnull\tv\n"
        );
        assert_eq!(
            formatted(&[
                "print.key=true",
                "print.value=false",
                "key.separator=|",
                "null.literal=-",
                "line.separator=;"
            ]),
            "-;"
        );
        assert!(MessageFormat::from_properties(&args(&["print.everything=true"])).is_err());
        assert!(MessageFormat::from_properties(&args(&["print.key=yes"])).is_err());
    }
}
