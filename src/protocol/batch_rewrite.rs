//! Broker-side rewrites of a v2 record batch that a topic's configs ask for,
//! beside the offset and epoch stamping of [`super::record_batch::stamp_header`]:
//!
//! - LogAppendTime: the timestamp-type attribute and maxTimestamp are set in
//!   the 61-byte header. The CRC32C covers attributes to the end of the
//!   batch; it is updated from the old CRC and the changed header bytes
//!   alone (a CRC is linear: the change of the covered bytes, carried past
//!   the body's length in O(log n) steps), so the body is not even read.
//! - Recompression (`compression.type`): the records section decompressed,
//!   with a bound on its size, and compressed again under a new header.
//! - Record timestamps, read record by record in place, for
//!   `message.timestamp.before.max.ms` (Kafka checks every record).

use super::codec::{Codec, Compressor, Decompressor};
pub use super::record_batch::TIMESTAMP_TYPE_FLAG;
use super::record_batch::{
    BatchInfo, COMPRESSION_CODEC_MASK, LOG_OVERHEAD_BYTES, RECORD_BATCH_HEADER_BYTES,
};
use std::borrow::Cow;
use std::fmt;

/// Header positions (see `record_batch`): batchLength, crc, attributes (where
/// the CRC coverage starts), maxTimestamp.
const BATCH_LENGTH_POSITION: usize = 8;
const CRC_POSITION: usize = 17;
const ATTRIBUTES_POSITION: usize = 21;
const MAX_TIMESTAMP_POSITION: usize = 35;
/// A record without a timestamp.
const NO_TIMESTAMP: i64 = -1;
/// Longest varint (i32) and varlong (i64) encodings.
const VARINT_BYTES_MAX: usize = 5;
const VARLONG_BYTES_MAX: usize = 10;

// Kafka error codes of a failed rewrite.
const CORRUPT_MESSAGE: i16 = 2;
const MESSAGE_TOO_LARGE: i16 = 10;
const INVALID_RECORD: i16 = 87;

/// Why a batch could not be read or rebuilt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RewriteError {
    /// The compressed records section does not decompress.
    Corrupt(String),
    /// The records section inflates past the bound.
    TooLarge(String),
    /// The records do not walk to the end of the section, or their count is wrong.
    InvalidRecords(String),
}

impl RewriteError {
    /// Kafka error code for the Produce partition response.
    pub fn wire_error_code(&self) -> i16 {
        match self {
            RewriteError::Corrupt(_) => CORRUPT_MESSAGE,
            RewriteError::TooLarge(_) => MESSAGE_TOO_LARGE,
            RewriteError::InvalidRecords(_) => INVALID_RECORD,
        }
    }
}

impl fmt::Display for RewriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RewriteError::Corrupt(why) => write!(f, "compressed records: {why}"),
            RewriteError::TooLarge(why) => write!(f, "batch too large: {why}"),
            RewriteError::InvalidRecords(why) => write!(f, "invalid records: {why}"),
        }
    }
}

/// Makes the batch whose header is `header` (and whose body after it is
/// `body_len` bytes) a LogAppendTime batch stamped `append_time_ms`, as
/// Kafka's `DefaultRecordBatch.setMaxTimestamp` does, CRC included.
pub fn stamp_log_append_time(
    header: &mut [u8; RECORD_BATCH_HEADER_BYTES],
    body_len: usize,
    append_time_ms: i64,
) {
    let covered_before = crc32c::crc32c(&header[ATTRIBUTES_POSITION..]);
    let attributes =
        i16::from_be_bytes([header[ATTRIBUTES_POSITION], header[ATTRIBUTES_POSITION + 1]]);
    let attributes = attributes | TIMESTAMP_TYPE_FLAG;
    header[ATTRIBUTES_POSITION..ATTRIBUTES_POSITION + 2].copy_from_slice(&attributes.to_be_bytes());
    header[MAX_TIMESTAMP_POSITION..MAX_TIMESTAMP_POSITION + 8]
        .copy_from_slice(&append_time_ms.to_be_bytes());
    let covered_after = crc32c::crc32c(&header[ATTRIBUTES_POSITION..]);
    let crc = read_crc(header) ^ crc32c_shift(covered_before ^ covered_after, body_len);
    header[CRC_POSITION..CRC_POSITION + 4].copy_from_slice(&crc.to_be_bytes());
}

fn read_crc(header: &[u8; RECORD_BATCH_HEADER_BYTES]) -> u32 {
    let mut crc = [0u8; 4];
    crc.copy_from_slice(&header[CRC_POSITION..CRC_POSITION + 4]);
    u32::from_be_bytes(crc)
}

/// CRC-32C polynomial, bit-reflected.
const CRC32C_POLY: u32 = 0x82F6_3B78;

/// `a * b` modulo the CRC-32C polynomial, bit-reflected (zlib's `multmodp`);
/// `a` must not be zero.
const fn multiply_mod_poly(a: u32, mut b: u32) -> u32 {
    let mut m = 1u32 << 31;
    let mut product = 0;
    loop {
        if a & m != 0 {
            product ^= b;
            if a & (m - 1) == 0 {
                return product;
            }
        }
        m >>= 1;
        b = if b & 1 != 0 {
            (b >> 1) ^ CRC32C_POLY
        } else {
            b >> 1
        };
    }
}

/// `x^(2^k)` modulo the polynomial, for k in 0..32 (zlib's `x2n_table`).
const X_POW_2K: [u32; 32] = {
    let mut table = [0u32; 32];
    let mut power = 1u32 << 30; // x^1
    let mut k = 0;
    while k < 32 {
        table[k] = power;
        power = multiply_mod_poly(power, power);
        k += 1;
    }
    table
};

/// The CRC register `crc` carried past `len` zero bytes: the difference two
/// CRCs of equal-length data keep after the same `len` bytes follow both.
fn crc32c_shift(crc: u32, len: usize) -> u32 {
    // x^(8 * len): bit k of len contributes x^(2^(k + 3)).
    let mut power = 1u32 << 31; // x^0
    let mut bits = len;
    let mut k = 3;
    while bits != 0 {
        if bits & 1 != 0 {
            power = multiply_mod_poly(X_POW_2K[k % 32], power);
        }
        bits >>= 1;
        k += 1;
    }
    multiply_mod_poly(power, crc)
}

/// The records section of a batch: `body` itself when uncompressed, else
/// decompressed (at most `decompressed_max_bytes`).
pub fn records_section<'a>(
    body: &'a [u8],
    info: &BatchInfo,
    decompressed_max_bytes: usize,
) -> Result<Cow<'a, [u8]>, RewriteError> {
    let codec = Codec::from_attribute(info.attributes & COMPRESSION_CODEC_MASK)
        .ok_or_else(|| RewriteError::Corrupt(format!("codec {}", info.compression_codec())))?;
    if codec == Codec::None {
        return Ok(Cow::Borrowed(body));
    }
    let mut decompressor =
        Decompressor::with_limit(decompressed_max_bytes).map_err(RewriteError::Corrupt)?;
    match decompressor.decompress(codec, body) {
        Ok(records) => Ok(Cow::Owned(records.to_vec())),
        Err(why) if why.contains("too large") || why.contains("claims") => Err(
            RewriteError::TooLarge(format!("{why} (bound {decompressed_max_bytes} bytes)")),
        ),
        Err(why) => Err(RewriteError::Corrupt(why)),
    }
}

/// The smallest and largest record timestamps of a records section holding
/// `info.record_count` records (records without a timestamp are skipped;
/// `None` if none has one). Walks the records in place, without copying.
pub fn record_timestamp_range(
    records: &[u8],
    info: &BatchInfo,
) -> Result<Option<(i64, i64)>, RewriteError> {
    let mut range: Option<(i64, i64)> = None;
    walk_record_timestamps(records, info, |_, timestamp| {
        if timestamp != NO_TIMESTAMP {
            range = Some(match range {
                Some((min, max)) => (min.min(timestamp), max.max(timestamp)),
                None => (timestamp, timestamp),
            });
        }
    })?;
    Ok(range)
}

/// The indexes in the batch of the records whose timestamp `refused` says
/// is out of bounds (Kafka's `record_errors` of an INVALID_TIMESTAMP).
pub fn records_refused_by_timestamp(
    records: &[u8],
    info: &BatchInfo,
    refused: impl Fn(i64) -> bool,
) -> Result<Vec<i32>, RewriteError> {
    let mut indexes = Vec::new();
    walk_record_timestamps(records, info, |index, timestamp| {
        if timestamp != NO_TIMESTAMP && refused(timestamp) {
            indexes.push(index);
        }
    })?;
    Ok(indexes)
}

/// Calls `on_record(index, timestamp)` for each of the `info.record_count`
/// records of a plain records section, which they must cover exactly.
fn walk_record_timestamps(
    records: &[u8],
    info: &BatchInfo,
    mut on_record: impl FnMut(i32, i64),
) -> Result<(), RewriteError> {
    let invalid = |why: &str| RewriteError::InvalidRecords(why.to_string());
    let mut position = 0;
    for index in 0..info.record_count {
        let (length, length_bytes) = read_varint(&records[position..], VARINT_BYTES_MAX)
            .ok_or_else(|| invalid("record length"))?;
        let start = position + length_bytes;
        let end = usize::try_from(length)
            .ok()
            .and_then(|length| start.checked_add(length))
            .filter(|end| *end <= records.len())
            .ok_or_else(|| invalid("a record runs past the batch"))?;
        // attributes (1 byte), then the timestamp delta.
        let delta_bytes = records
            .get(start + 1..end)
            .ok_or_else(|| invalid("record too short"))?;
        let (delta, _) = read_varint(delta_bytes, VARLONG_BYTES_MAX)
            .ok_or_else(|| invalid("timestamp delta"))?;
        on_record(index, info.base_timestamp.wrapping_add(delta));
        position = end;
    }
    if position != records.len() {
        return Err(invalid("the records count does not cover the batch"));
    }
    Ok(())
}

/// A zigzag varint of at most `bytes_max` bytes: (value, bytes read).
fn read_varint(buf: &[u8], bytes_max: usize) -> Option<(i64, usize)> {
    let mut raw = 0u64;
    for (index, byte) in buf.iter().take(bytes_max).enumerate() {
        raw |= u64::from(byte & 0x7f) << (7 * index);
        if byte & 0x80 == 0 {
            let value = (raw >> 1) as i64 ^ -((raw & 1) as i64);
            return Some((value, index + 1));
        }
    }
    None
}

/// A batch rebuilt with another codec.
#[derive(Debug)]
pub struct Rebuilt {
    /// The new header (same offsets, producer fields and timestamps).
    pub header: [u8; RECORD_BATCH_HEADER_BYTES],
    /// The records section, compressed with the new codec.
    pub body: Vec<u8>,
    /// What the header says.
    pub info: BatchInfo,
}

/// The batch of `header` with its plain `records` compressed with `codec`
/// (at `level`), as Kafka rebuilds a batch whose codec differs from the
/// topic's: same producer fields, offsets and record timestamps.
pub fn rebuild_with_codec(
    header: &[u8; RECORD_BATCH_HEADER_BYTES],
    records: &[u8],
    info: &BatchInfo,
    codec: Codec,
    level: Option<i32>,
) -> Result<Rebuilt, RewriteError> {
    let mut body = Vec::new();
    Compressor::with_level(codec, level)
        .and_then(|mut compressor| compressor.compress(records, &mut body))
        .map_err(RewriteError::Corrupt)?;
    let batch_length = RECORD_BATCH_HEADER_BYTES - LOG_OVERHEAD_BYTES + body.len();
    let batch_length = i32::try_from(batch_length)
        .map_err(|_| RewriteError::TooLarge(format!("{batch_length} bytes recompressed")))?;
    let attributes = (info.attributes & !COMPRESSION_CODEC_MASK) | codec.attribute();
    let mut rebuilt = *header;
    rebuilt[BATCH_LENGTH_POSITION..BATCH_LENGTH_POSITION + 4]
        .copy_from_slice(&batch_length.to_be_bytes());
    rebuilt[ATTRIBUTES_POSITION..ATTRIBUTES_POSITION + 2]
        .copy_from_slice(&attributes.to_be_bytes());
    let crc = crc32c::crc32c_append(crc32c::crc32c(&rebuilt[ATTRIBUTES_POSITION..]), &body);
    rebuilt[CRC_POSITION..CRC_POSITION + 4].copy_from_slice(&crc.to_be_bytes());
    let info = BatchInfo {
        len: RECORD_BATCH_HEADER_BYTES + body.len(),
        attributes,
        ..*info
    };
    Ok(Rebuilt {
        header: rebuilt,
        body,
        info,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::record_batch::{build_test_batch, peek_batch, TestBatch};

    fn header_of(batch: &[u8]) -> [u8; RECORD_BATCH_HEADER_BYTES] {
        let mut header = [0u8; RECORD_BATCH_HEADER_BYTES];
        header.copy_from_slice(&batch[..RECORD_BATCH_HEADER_BYTES]);
        header
    }

    #[test]
    fn the_crc_shift_is_crc32c_combine_with_nothing_after() {
        for (crc, len) in [
            (0xdead_beef, 0),
            (1, 1),
            (0x1234_5678, 61),
            (u32::MAX, 1 << 20),
            (7, 999_983),
        ] {
            assert_eq!(
                crc32c_shift(crc, len),
                crc32c::crc32c_combine(crc, 0, len),
                "{crc:x} {len}"
            );
        }
    }

    #[test]
    fn log_append_time_sets_the_type_and_max_timestamp_and_keeps_the_crc_valid() {
        for records in [1, 7, 500] {
            let mut batch = build_test_batch(&TestBatch {
                record_count: records,
                value_bytes: 100,
                ..TestBatch::default()
            });
            let mut header = header_of(&batch);
            stamp_log_append_time(
                &mut header,
                batch.len() - RECORD_BATCH_HEADER_BYTES,
                1_800_000_000_123,
            );
            batch[..RECORD_BATCH_HEADER_BYTES].copy_from_slice(&header);
            let info = peek_batch(&batch, true)
                .expect("the CRC still holds")
                .unwrap();
            assert_eq!(info.max_timestamp, 1_800_000_000_123);
            assert_eq!(info.attributes & TIMESTAMP_TYPE_FLAG, TIMESTAMP_TYPE_FLAG);
            assert_eq!(
                info.base_timestamp,
                TestBatch::default().base_timestamp,
                "records keep their deltas"
            );
        }
    }

    #[test]
    fn record_timestamps_are_read_in_place() {
        let batch = build_test_batch(&TestBatch {
            record_count: 5,
            ..TestBatch::default()
        });
        let info = peek_batch(&batch, true).unwrap().unwrap();
        let base = info.base_timestamp;
        let records = &batch[RECORD_BATCH_HEADER_BYTES..];
        assert_eq!(
            record_timestamp_range(records, &info),
            Ok(Some((base, base + 4)))
        );
        let short = BatchInfo {
            record_count: 4,
            ..info
        };
        assert!(matches!(
            record_timestamp_range(records, &short),
            Err(RewriteError::InvalidRecords(_))
        ));
        let long = BatchInfo {
            record_count: 6,
            ..info
        };
        assert!(record_timestamp_range(records, &long).is_err());
        assert!(record_timestamp_range(&records[..records.len() - 1], &info).is_err());
    }

    #[test]
    fn a_rebuilt_batch_holds_the_same_records_under_a_valid_header() {
        let batch = build_test_batch(&TestBatch {
            record_count: 50,
            value_bytes: 200,
            producer_id: 42,
            producer_epoch: 1,
            base_sequence: 10,
            ..TestBatch::default()
        });
        let info = peek_batch(&batch, true).unwrap().unwrap();
        let plain = &batch[RECORD_BATCH_HEADER_BYTES..];
        for codec in [Codec::Gzip, Codec::Snappy, Codec::Lz4, Codec::Zstd] {
            let zipped = rebuild_with_codec(&header_of(&batch), plain, &info, codec, None).unwrap();
            let mut whole = zipped.header.to_vec();
            whole.extend_from_slice(&zipped.body);
            let read = peek_batch(&whole, true).unwrap().unwrap();
            assert_eq!(
                read,
                BatchInfo {
                    position: 0,
                    ..zipped.info
                }
            );
            assert_eq!(read.compression_codec(), codec.attribute() as u8);
            assert_eq!(
                (read.producer_id, read.base_sequence, read.record_count),
                (42, 10, 50)
            );
            assert!(zipped.body.len() < plain.len(), "{codec:?} compresses");
            let back = records_section(&zipped.body, &read, 1 << 20).unwrap();
            assert_eq!(&back[..], plain, "{codec:?}");
            // And back to uncompressed, as compression.type=uncompressed stores it.
            let unzipped =
                rebuild_with_codec(&zipped.header, &back, &read, Codec::None, None).unwrap();
            let mut again = unzipped.header.to_vec();
            again.extend_from_slice(&unzipped.body);
            assert_eq!(again, batch, "{codec:?}: the original batch, byte for byte");
        }
    }

    #[test]
    fn decompression_is_bounded() {
        let batch = build_test_batch(&TestBatch {
            record_count: 100,
            value_bytes: 1000,
            ..TestBatch::default()
        });
        let info = peek_batch(&batch, true).unwrap().unwrap();
        let plain = &batch[RECORD_BATCH_HEADER_BYTES..];
        let zipped =
            rebuild_with_codec(&header_of(&batch), plain, &info, Codec::Zstd, None).unwrap();
        let err = records_section(&zipped.body, &zipped.info, plain.len() - 1).unwrap_err();
        assert_eq!(err.wire_error_code(), MESSAGE_TOO_LARGE, "{err}");
        let err = records_section(&zipped.body[..10], &zipped.info, 1 << 20).unwrap_err();
        assert_eq!(err.wire_error_code(), CORRUPT_MESSAGE, "{err}");
    }
}
