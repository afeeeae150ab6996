//! Why the configuration could not be loaded, with the words printed at
//! start (each error names its key and where it was set).

use super::properties::CONFIG_FILE_BYTES_MAX;
use std::fmt;
use std::path::PathBuf;

/// Why the configuration could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error text.
        reason: String,
    },
    /// The file is larger than [`CONFIG_FILE_BYTES_MAX`].
    FileTooLarge {
        /// The file.
        path: PathBuf,
    },
    /// A line or override without `=`.
    Syntax {
        /// `file:line` or `--override`.
        origin: String,
        /// The offending line's or override's key part: its text up to the
        /// first whitespace (the rest may be a secret's value).
        text: String,
    },
    /// A Kafka key millrace does not honour, set to a value that asks for
    /// something (TLS, SASL, an authorizer...): ignoring it would weaken
    /// what the operator asked for ([`refused_kafka_keys`](super::refused_kafka_keys)).
    Refused {
        /// The key.
        key: String,
        /// `file:line` or `--override`.
        origin: String,
        /// The values accepted: Kafka's default, or empty.
        accepted: String,
        /// What the value asks for that millrace does not do.
        why: &'static str,
    },
    /// A key millrace does not know.
    UnknownKey {
        /// The key as written.
        key: String,
        /// `file:line` or `--override`.
        origin: String,
        /// The closest known key, when one is close.
        suggestion: Option<&'static str>,
    },
    /// A value of the wrong form.
    BadValue {
        /// The key.
        key: String,
        /// The value as written.
        value: String,
        /// `file:line` or `--override`.
        origin: String,
        /// The expected form.
        expected: String,
    },
    /// Keys that contradict each other (or a key another one requires).
    Invalid {
        /// The key to change.
        key: String,
        /// What is wrong.
        reason: String,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Io { path, reason } => {
                write!(f, "cannot read config file {}: {reason}", path.display())
            }
            ConfigError::FileTooLarge { path } => write!(
                f,
                "config file {} is larger than {CONFIG_FILE_BYTES_MAX} bytes",
                path.display()
            ),
            ConfigError::Syntax { origin, text } => {
                write!(f, "{origin}: expected key=value, got {text:?} without '='")
            }
            ConfigError::Refused {
                key,
                origin,
                accepted,
                why,
            } => write!(
                f,
                "{origin}: {key} is refused: {why}; millrace accepts it only empty or at \
                 Kafka's default ({accepted})"
            ),
            ConfigError::UnknownKey {
                key,
                origin,
                suggestion,
            } => {
                write!(f, "{origin}: unknown config key {key:?}")?;
                match suggestion {
                    Some(known) => write!(f, " (did you mean {known}?)"),
                    None => Ok(()),
                }
            }
            ConfigError::BadValue {
                key,
                value,
                origin,
                expected,
            } => write!(
                f,
                "{origin}: invalid value {value:?} for {key}: expected {expected}"
            ),
            ConfigError::Invalid { key, reason } => write!(f, "{key}: {reason}"),
        }
    }
}

impl std::error::Error for ConfigError {}
