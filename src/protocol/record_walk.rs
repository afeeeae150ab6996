//! Finding a record of a batch by its timestamp without building the
//! records: the walk reads each record's length, attributes, timestamp
//! delta and offset delta and skips the rest (key, value, headers), from
//! any buffered reader of the uncompressed records section: the batch's own
//! bytes, or a decompressor (`codec::stream::decoder`). What it reads is
//! bounded by the caller, so a record that inflates to gigabytes is never
//! held, nor walked past the bound.

use super::record_batch::BatchInfo;
use std::fmt;
use std::io::{self, BufRead};

/// v2 attributes: the timestamps are the broker's (every record has
/// the batch's maxTimestamp).
const LOG_APPEND_TIME_FLAG: i16 = 0x08;
/// Longest varint (a varlong) in bytes.
const VARINT_BYTES_MAX: u32 = 10;

/// What a walk found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordSearch {
    /// The first matching record at or after the starting offset.
    Found {
        /// Its offset.
        offset: i64,
        /// Its timestamp.
        timestamp: i64,
    },
    /// No record of the batch matches.
    NotFound,
    /// The walk read its bound first: the records before `next_offset` do
    /// not match, the others were not seen.
    Stopped {
        /// The first offset not examined.
        next_offset: i64,
    },
}

/// Why a records section cannot be walked.
#[derive(Debug)]
pub enum WalkError {
    /// The reader failed (a corrupt compressed stream, for one).
    Io(io::Error),
    /// Lengths or varints that do not fit the bytes.
    Malformed(&'static str),
}

impl fmt::Display for WalkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WalkError::Io(error) => write!(f, "cannot read records: {error}"),
            WalkError::Malformed(what) => write!(f, "malformed record: {what}"),
        }
    }
}

impl std::error::Error for WalkError {}

impl From<io::Error> for WalkError {
    fn from(error: io::Error) -> Self {
        WalkError::Io(error)
    }
}

/// Where a walk starts and how far it may read.
#[derive(Debug, Clone, Copy)]
pub struct WalkLimits {
    /// Records below this offset never match (Kafka's starting offset: the
    /// log start offset).
    pub from_offset: i64,
    /// Bytes of the records section read at most.
    pub read_bytes_max: u64,
}

/// The first record of `batch` at or after `limits.from_offset` whose
/// timestamp `matches`, reading its records section from `records`.
pub fn find_record(
    records: impl BufRead,
    batch: &BatchInfo,
    limits: WalkLimits,
    matches: impl Fn(i64) -> bool,
) -> Result<RecordSearch, WalkError> {
    if batch.attributes & LOG_APPEND_TIME_FLAG != 0 {
        let offset = batch.base_offset.max(limits.from_offset);
        return Ok(
            match matches(batch.max_timestamp) && offset <= batch.last_offset() {
                true => RecordSearch::Found {
                    offset,
                    timestamp: batch.max_timestamp,
                },
                false => RecordSearch::NotFound,
            },
        );
    }
    let mut reader = CountingReader {
        inner: records,
        read: 0,
    };
    for _ in 0..batch.record_count.max(0) {
        let length = reader.varint()?;
        let start = reader.read;
        reader.byte()?; // attributes
        let timestamp = batch.base_timestamp.saturating_add(reader.varint()?);
        let offset = batch.base_offset.saturating_add(reader.varint()?);
        if offset >= limits.from_offset && matches(timestamp) {
            return Ok(RecordSearch::Found { offset, timestamp });
        }
        let rest = u64::try_from(length)
            .ok()
            .and_then(|length| length.checked_sub(reader.read - start))
            .ok_or(WalkError::Malformed("record length"))?;
        let allowed = limits.read_bytes_max.saturating_sub(reader.read);
        reader.skip(rest.min(allowed))?;
        if rest > allowed {
            return Ok(RecordSearch::Stopped {
                next_offset: offset.saturating_add(1),
            });
        }
    }
    Ok(RecordSearch::NotFound)
}

/// A buffered reader that counts what it consumed.
struct CountingReader<R> {
    inner: R,
    read: u64,
}

impl<R: BufRead> CountingReader<R> {
    fn byte(&mut self) -> Result<u8, WalkError> {
        let byte = *self
            .inner
            .fill_buf()?
            .first()
            .ok_or(WalkError::Malformed("records end early"))?;
        self.inner.consume(1);
        self.read += 1;
        Ok(byte)
    }

    /// A zigzag varint (up to a varlong).
    fn varint(&mut self) -> Result<i64, WalkError> {
        let mut value = 0u64;
        for shift in 0..VARINT_BYTES_MAX {
            let byte = self.byte()?;
            value |= u64::from(byte & 0x7f) << (7 * shift);
            if byte & 0x80 == 0 {
                return Ok((value >> 1) as i64 ^ -((value & 1) as i64));
            }
        }
        Err(WalkError::Malformed("varint too long"))
    }

    /// Consumes exactly `count` bytes without copying them anywhere.
    fn skip(&mut self, mut count: u64) -> Result<(), WalkError> {
        while count > 0 {
            let available = self.inner.fill_buf()?.len() as u64;
            if available == 0 {
                return Err(WalkError::Malformed("records end early"));
            }
            let n = available.min(count);
            self.inner.consume(n as usize);
            self.read += n;
            count -= n;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::record_batch::{
        build_test_batch, peek_batch, TestBatch, RECORD_BATCH_HEADER_BYTES,
    };

    const UNBOUNDED: WalkLimits = WalkLimits {
        from_offset: 0,
        read_bytes_max: u64::MAX,
    };

    /// A batch at base offset 100 whose record i has timestamp 1000 + i.
    fn batch(records: i32, value_bytes: usize) -> (Vec<u8>, BatchInfo) {
        let bytes = build_test_batch(&TestBatch {
            base_offset: 100,
            record_count: records,
            value_bytes,
            base_timestamp: 1000,
            ..TestBatch::default()
        });
        let info = peek_batch(&bytes, false).unwrap().unwrap();
        (bytes, info)
    }

    fn search(bytes: &[u8], info: &BatchInfo, limits: WalkLimits, target: i64) -> RecordSearch {
        let records = &bytes[RECORD_BATCH_HEADER_BYTES..];
        find_record(records, info, limits, |ts| ts >= target).unwrap()
    }

    #[test]
    fn finds_the_first_record_at_or_after_the_time() {
        let (bytes, info) = batch(5, 30);
        let found = |offset, timestamp| RecordSearch::Found { offset, timestamp };
        assert_eq!(search(&bytes, &info, UNBOUNDED, 0), found(100, 1000));
        assert_eq!(search(&bytes, &info, UNBOUNDED, 1002), found(102, 1002));
        assert_eq!(search(&bytes, &info, UNBOUNDED, 1004), found(104, 1004));
        assert_eq!(
            search(&bytes, &info, UNBOUNDED, 1005),
            RecordSearch::NotFound
        );
        let from_103 = WalkLimits {
            from_offset: 103,
            ..UNBOUNDED
        };
        assert_eq!(search(&bytes, &info, from_103, 0), found(103, 1003));
    }

    #[test]
    fn stops_at_its_read_bound_with_the_next_offset() {
        let (bytes, info) = batch(5, 1000);
        let bounded = WalkLimits {
            from_offset: 0,
            read_bytes_max: 2500,
        };
        // Records 0 and 1 fit in 2,500 bytes; record 2 does not.
        assert_eq!(
            search(&bytes, &info, bounded, 1004),
            RecordSearch::Stopped { next_offset: 103 }
        );
    }

    #[test]
    fn log_append_time_batches_match_on_their_max_timestamp() {
        let (bytes, mut info) = batch(3, 10);
        info.attributes |= LOG_APPEND_TIME_FLAG;
        let found = search(&bytes, &info, UNBOUNDED, info.max_timestamp);
        assert_eq!(
            found,
            RecordSearch::Found {
                offset: 100,
                timestamp: info.max_timestamp
            }
        );
    }

    #[test]
    fn truncated_or_bad_records_are_errors() {
        let (bytes, info) = batch(3, 50);
        for cut in RECORD_BATCH_HEADER_BYTES..bytes.len() - 1 {
            let records = &bytes[RECORD_BATCH_HEADER_BYTES..cut];
            let walked = find_record(records, &info, UNBOUNDED, |_| false);
            assert!(walked.is_err(), "cut at {cut}");
        }
        let mut bad_length = bytes.clone();
        bad_length[RECORD_BATCH_HEADER_BYTES] = 0x01; // length -1
        let records = &bad_length[RECORD_BATCH_HEADER_BYTES..];
        assert!(find_record(records, &info, UNBOUNDED, |_| false).is_err());
    }
}
