//! Narrow error types of the storage engine, one per operation family, each
//! with the Kafka wire error code a partition response carries.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use crate::protocol::error_code::{
    INVALID_RECORD, INVALID_TOPIC_EXCEPTION, KAFKA_STORAGE_ERROR, MESSAGE_TOO_LARGE,
    OFFSET_OUT_OF_RANGE,
};

/// A failure of the disk or of the log's state. Cloneable (every waiter of a
/// failed flush gets it) and `Send` (it travels back to the requesting shard).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StorageError {
    /// An I/O operation failed.
    Io {
        /// What was being done ("write", "fdatasync", ...).
        operation: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The OS error kind.
        kind: io::ErrorKind,
        /// The OS error message.
        message: String,
    },
    /// An earlier write or fdatasync of this partition failed; the log refuses
    /// appends and reads until the broker restarts (Kafka: log dir offline).
    LogFailed {
        /// `<topic>-<partition>`.
        partition: String,
    },
    /// The partition was closed by shutdown or deleted.
    Closed {
        /// `<topic>-<partition>`.
        partition: String,
    },
    /// A topic name that cannot be a directory name.
    InvalidTopicName(String),
    /// The on-disk data contradicts itself in a way recovery cannot repair.
    Corrupt {
        /// The file concerned.
        path: PathBuf,
        /// What was found.
        reason: String,
    },
}

impl StorageError {
    /// Wraps an I/O error with what was being done and where.
    pub fn io(operation: &'static str, path: &Path, error: impl Into<io::Error>) -> Self {
        let error: io::Error = error.into();
        StorageError::Io {
            operation,
            path: path.to_path_buf(),
            kind: error.kind(),
            message: error.to_string(),
        }
    }

    /// Kafka error code for a partition response.
    pub fn wire_error_code(&self) -> i16 {
        match self {
            StorageError::InvalidTopicName(_) => INVALID_TOPIC_EXCEPTION,
            _ => KAFKA_STORAGE_ERROR,
        }
    }
}

impl fmt::Display for StorageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StorageError::Io {
                operation,
                path,
                message,
                ..
            } => write!(f, "{operation} {}: {message}", path.display()),
            StorageError::LogFailed { partition } => {
                write!(f, "partition {partition} is offline after an I/O error")
            }
            StorageError::Closed { partition } => write!(f, "partition {partition} is closed"),
            StorageError::InvalidTopicName(name) => write!(f, "invalid topic name {name:?}"),
            StorageError::Corrupt { path, reason } => {
                write!(f, "corrupt {}: {reason}", path.display())
            }
        }
    }
}

impl std::error::Error for StorageError {}

/// Why an append was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AppendError {
    /// The disk failed or the log is failed/closed.
    Storage(StorageError),
    /// A batch is larger than the topic's `max.message.bytes`.
    RecordTooLarge,
    /// The append carried no batch, or a batch contradicts its header copy.
    InvalidRecord,
}

impl AppendError {
    /// Kafka error code for a Produce partition response.
    pub fn wire_error_code(&self) -> i16 {
        match self {
            AppendError::Storage(error) => error.wire_error_code(),
            AppendError::RecordTooLarge => MESSAGE_TOO_LARGE,
            AppendError::InvalidRecord => INVALID_RECORD,
        }
    }
}

impl From<StorageError> for AppendError {
    fn from(error: StorageError) -> Self {
        AppendError::Storage(error)
    }
}

impl fmt::Display for AppendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AppendError::Storage(error) => write!(f, "{error}"),
            AppendError::RecordTooLarge => write!(f, "record batch too large"),
            AppendError::InvalidRecord => write!(f, "invalid record"),
        }
    }
}

impl std::error::Error for AppendError {}

/// Why a read was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReadError {
    /// The offset is below the log start or above the log end.
    OffsetOutOfRange,
    /// The disk failed or the log is failed/closed.
    Storage(StorageError),
}

impl ReadError {
    /// Kafka error code for a Fetch partition response.
    pub fn wire_error_code(&self) -> i16 {
        match self {
            ReadError::OffsetOutOfRange => OFFSET_OUT_OF_RANGE,
            ReadError::Storage(error) => error.wire_error_code(),
        }
    }
}

impl From<StorageError> for ReadError {
    fn from(error: StorageError) -> Self {
        ReadError::Storage(error)
    }
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::OffsetOutOfRange => write!(f, "offset out of range"),
            ReadError::Storage(error) => write!(f, "{error}"),
        }
    }
}

impl std::error::Error for ReadError {}
