//! Turns a decoded answer into `path = value` leaves, so two brokers' answers compare field by
//! field whatever their API. The walk reads the answer's pretty `Debug` text (kafka-protocol
//! derives it for every message) instead of one hand-written walker per message type.
//! Array elements are labelled by their key field (topic name, partition index, api key...)
//! so order does not matter; record batches inside `records` are decoded into header fields.

use std::fmt::Debug;

/// Fields that identify an array element, tried in this order.
const KEY_FIELDS: &[&str] = &[
    "name",
    "topic",
    "partition_index",
    "partition",
    // Produce answers' partitions, which Kafka may list in another order than asked.
    "index",
    "api_key",
    "group_id",
    "resource_name",
    "key",
];
/// Arrays whose elements outside this run's names are dropped: a shared Kafka holds the
/// topics and groups of every other sequence of the run.
const SCOPED_ARRAYS: &[&str] = &["topics", "groups"];

/// One field of an answer: its path from the root and its value as `Debug` prints it.
pub type Leaf = (String, String);

#[derive(Debug)]
enum Node {
    Leaf(String),
    Fields(Vec<(String, Node)>),
    Items(Vec<Node>),
}

/// The leaves of `value`. Elements of topic or group arrays whose name does not start with
/// `scope` are left out.
pub fn leaves(value: &impl Debug, scope: &str) -> Vec<Leaf> {
    let text = format!("{value:#?}");
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    let mut at = 0;
    let root = parse(&lines, &mut at);
    let mut out = Vec::new();
    walk(&root, "", scope, &mut out);
    out
}

/// Parses the value that starts on `lines[*at]` (its `key: ` prefix already stripped).
fn parse(lines: &[&str], at: &mut usize) -> Node {
    let line = strip_comma(lines[*at]);
    parse_from(line, lines, at)
}

fn parse_from(head: &str, lines: &[&str], at: &mut usize) -> Node {
    *at += 1;
    let Some(open) = head.chars().last().filter(|c| matches!(c, '{' | '[' | '(')) else {
        return Node::Leaf(head.to_string());
    };
    let close = match open {
        '{' => "}",
        '[' => "]",
        _ => ")",
    };
    let mut fields = Vec::new();
    let mut items = Vec::new();
    while *at < lines.len() && strip_comma(lines[*at]) != close {
        let line = strip_comma(lines[*at]);
        match (open, split_key(line)) {
            ('{', Some((key, rest))) => fields.push((key, parse_from(rest, lines, at))),
            _ => items.push(parse_from(line, lines, at)),
        }
    }
    *at += 1;
    match open {
        '{' => Node::Fields(fields),
        // A tuple struct or `Some` around one value is that value.
        '(' if items.len() == 1 => items.pop().unwrap_or(Node::Leaf(String::new())),
        _ => Node::Items(items),
    }
}

fn strip_comma(line: &str) -> &str {
    line.strip_suffix(',').unwrap_or(line)
}

/// Splits `key: value` (a field name, or a quoted or numeric map key).
fn split_key(line: &str) -> Option<(String, &str)> {
    let key_end = if let Some(quoted) = line.strip_prefix('"') {
        let mut escaped = false;
        let end = quoted.char_indices().find(|&(_, c)| {
            let ends = c == '"' && !escaped;
            escaped = c == '\\' && !escaped;
            ends
        })?;
        end.0 + 2
    } else {
        line.find(|c: char| !(c.is_alphanumeric() || c == '_'))?
    };
    let rest = line[key_end..].strip_prefix(": ")?;
    Some((line[..key_end].trim_matches('"').to_string(), rest))
}

fn walk(node: &Node, path: &str, scope: &str, out: &mut Vec<Leaf>) {
    match node {
        Node::Leaf(value) if path.ends_with("records") && value.starts_with("b\"") => {
            batch_leaves(path, value, out)
        }
        Node::Leaf(value) => out.push((path.to_string(), value.clone())),
        Node::Fields(fields) => {
            for (key, child) in fields {
                walk(child, &join(path, key), scope, out);
            }
        }
        Node::Items(items) => {
            let scoped = SCOPED_ARRAYS.iter().any(|name| path.ends_with(name));
            let mut seen: Vec<String> = Vec::new();
            for (index, item) in items.iter().enumerate() {
                let label = key_of(item).unwrap_or_else(|| index.to_string());
                if scoped && !label.starts_with(scope) {
                    continue;
                }
                let repeats = seen.iter().filter(|s| **s == label).count();
                seen.push(label.clone());
                let label = if repeats > 0 {
                    format!("{label}#{repeats}")
                } else {
                    label
                };
                walk(item, &format!("{path}[{label}]"), scope, out);
            }
            if items.is_empty() {
                out.push((path.to_string(), "[]".to_string()));
            }
        }
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn key_of(item: &Node) -> Option<String> {
    let Node::Fields(fields) = item else {
        return None;
    };
    KEY_FIELDS.iter().find_map(|key| {
        fields.iter().find_map(|(name, value)| match value {
            Node::Leaf(text) if name == key => Some(text.trim_matches('"').to_string()),
            _ => None,
        })
    })
}

/// Header fields of each record batch in a `records` field, so that what differs is named
/// (the batch CRC covers attributes through the last record, so equal CRCs mean equal records).
fn batch_leaves(path: &str, debug_bytes: &str, out: &mut Vec<Leaf>) {
    let bytes = unescape_bytes(debug_bytes);
    let mut rest = bytes.as_slice();
    let mut index = 0;
    while !rest.is_empty() {
        let prefix = format!("{path}.batch[{index}]");
        match crate::batch::Header::parse(rest) {
            Some((header, size)) => {
                for (field, value) in header.fields() {
                    out.push((format!("{prefix}.{field}"), value.to_string()));
                }
                rest = &rest[size.min(rest.len())..];
            }
            None => {
                out.push((
                    format!("{prefix}.partial_tail_bytes"),
                    rest.len().to_string(),
                ));
                break;
            }
        }
        index += 1;
    }
    if bytes.is_empty() {
        out.push((path.to_string(), "b\"\"".to_string()));
    }
}

/// The bytes of a `Debug`-printed `Bytes` value (`b"..."` with `\xNN`, `\n`, `\\`... escapes).
fn unescape_bytes(text: &str) -> Vec<u8> {
    let inner = text
        .strip_prefix("b\"")
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or("");
    let raw = inner.as_bytes();
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] != b'\\' || i + 1 >= raw.len() {
            out.push(raw[i]);
            i += 1;
            continue;
        }
        let (byte, width) = match raw[i + 1] {
            b'n' => (b'\n', 2),
            b'r' => (b'\r', 2),
            b't' => (b'\t', 2),
            b'0' => (0, 2),
            b'x' => (hex_byte(raw.get(i + 2..i + 4)), 4),
            other => (other, 2),
        };
        out.push(byte);
        i += width;
    }
    out
}

fn hex_byte(digits: Option<&[u8]>) -> u8 {
    digits
        .and_then(|d| std::str::from_utf8(d).ok())
        .and_then(|d| u8::from_str_radix(d, 16).ok())
        .unwrap_or(0)
}

#[cfg(test)]
// The answer-like structs below are read only through Debug, as the flattener reads answers.
#[allow(dead_code)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Part {
        partition_index: i32,
        error_code: i16,
    }
    #[derive(Debug)]
    struct Topic {
        error_code: i16,
        name: Option<String>,
        partitions: Vec<Part>,
    }
    #[derive(Debug)]
    struct Answer {
        throttle_time_ms: i32,
        topics: Vec<Topic>,
    }

    #[test]
    fn arrays_are_keyed_and_scoped() {
        let answer = Answer {
            throttle_time_ms: 5,
            topics: vec![
                Topic {
                    error_code: 0,
                    name: Some("run-a".into()),
                    partitions: vec![Part {
                        partition_index: 2,
                        error_code: 3,
                    }],
                },
                Topic {
                    error_code: 0,
                    name: Some("__consumer_offsets".into()),
                    partitions: vec![],
                },
            ],
        };
        let got = leaves(&answer, "run-");
        assert!(
            got.contains(&("throttle_time_ms".into(), "5".into())),
            "{got:?}"
        );
        assert!(
            got.contains(&("topics[run-a].partitions[2].error_code".into(), "3".into())),
            "{got:?}"
        );
        assert!(
            !got.iter().any(|(p, _)| p.contains("consumer_offsets")),
            "{got:?}"
        );
    }

    #[test]
    fn byte_escapes_round_trip() {
        let raw: Vec<u8> = (0u8..=255).collect();
        let text = format!("{:?}", bytes::Bytes::from(raw.clone()));
        assert_eq!(unescape_bytes(&text), raw);
    }
}
