//! Java properties text: `key=value` (or `key: value`) lines, `#` and `!`
//! comments, blank lines, a trailing `\` continuing a line. Keys and values
//! are trimmed; escapes other than the continuation are not interpreted
//! (Kafka broker values never need them).

/// Largest config file read, so a wrong path (a log file, a device) fails fast.
pub const CONFIG_FILE_BYTES_MAX: u64 = 1 << 20;

/// One `key=value` entry with the line it started on (1-based).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Property {
    /// Trimmed key.
    pub key: String,
    /// Trimmed value (may be empty).
    pub value: String,
    /// Line number where the entry starts.
    pub line: usize,
}

/// Parses properties text; `Err` carries the line number of a line with a
/// key but no separator.
pub fn parse_properties(text: &str) -> Result<Vec<Property>, usize> {
    let mut properties = Vec::new();
    let mut pending: Option<(String, usize)> = None;
    for (index, raw_line) in text.lines().enumerate() {
        let line = raw_line.trim_start();
        let (logical, start_line) = match pending.take() {
            Some((mut joined, start)) => {
                joined.push_str(line);
                (joined, start)
            }
            None if line.is_empty() || line.starts_with('#') || line.starts_with('!') => continue,
            None => (line.to_string(), index + 1),
        };
        if let Some(continued) = logical.strip_suffix('\\') {
            pending = Some((continued.to_string(), start_line));
            continue;
        }
        properties.push(split_entry(&logical, start_line)?);
    }
    if let Some((logical, start_line)) = pending {
        properties.push(split_entry(&logical, start_line)?);
    }
    Ok(properties)
}

/// Splits an entry as `java.util.Properties` does (Kafka reads its files
/// with it): the key ends at the first `=`, `:` or whitespace, and one `=` or
/// `:` may follow, with whitespace around it. So `key value` is an entry too,
/// and a value holding `=` (a base64 password) never ends up in the key,
/// where an error message would print it. A lone key is an error.
pub fn split_entry(logical: &str, line: usize) -> Result<Property, usize> {
    let text = logical.trim_start();
    let key_end = text.find(is_key_end).ok_or(line)?;
    let key = &text[..key_end];
    if key.is_empty() {
        return Err(line);
    }
    let rest = text[key_end..].trim_start();
    let value = rest.strip_prefix(['=', ':']).unwrap_or(rest);
    Ok(Property {
        key: key.to_string(),
        value: value.trim().to_string(),
        line,
    })
}

/// Where a key ends: at a separator or whitespace.
pub fn is_key_end(c: char) -> bool {
    c == '=' || c == ':' || c.is_whitespace()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(text: &str) -> Vec<(String, String, usize)> {
        let parsed = parse_properties(text).unwrap();
        parsed
            .into_iter()
            .map(|p| (p.key, p.value, p.line))
            .collect()
    }

    #[test]
    fn a_key_ends_at_whitespace_as_in_java_properties() {
        let text = "ssl.keystore.password c2VjcmV0cGFzcw==\nlog.retention.hours   168\n\
                    a = =b\nc:d=e\n";
        assert_eq!(
            pairs(text),
            vec![
                ("ssl.keystore.password".into(), "c2VjcmV0cGFzcw==".into(), 1),
                ("log.retention.hours".into(), "168".into(), 2),
                ("a".into(), "=b".into(), 3),
                ("c".into(), "d=e".into(), 4),
            ]
        );
        assert_eq!(split_entry("lonely.key", 7).err(), Some(7));
        assert_eq!(split_entry("=value", 8).err(), Some(8));
    }

    #[test]
    fn parses_entries_comments_and_continuations() {
        let text = "# broker\n\n! also a comment\n  node.id = 3 \nlisteners=PLAINTEXT://:9092\n\
                    log.dirs=/a,\\\n    /b\nempty=\ncolon: value\n";
        assert_eq!(
            pairs(text),
            vec![
                ("node.id".into(), "3".into(), 4),
                ("listeners".into(), "PLAINTEXT://:9092".into(), 5),
                ("log.dirs".into(), "/a,/b".into(), 6),
                ("empty".into(), "".into(), 8),
                ("colon".into(), "value".into(), 9),
            ]
        );
    }

    #[test]
    fn reports_the_line_of_a_bad_entry() {
        assert_eq!(parse_properties("a=1\njust-a-key\n"), Err(2));
        assert_eq!(parse_properties("=value\n"), Err(1));
    }
}
