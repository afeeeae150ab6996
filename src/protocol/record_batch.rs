//! Kafka record batch format v2 (magic 2): a zero-copy header view, validation
//! of a Produce request's `records`, and the header scan used by the storage
//! engine (recovery, index rebuild, offset lookup).
//!
//! Layout of the 61-byte header (big-endian):
//! `baseOffset i64, batchLength i32, partitionLeaderEpoch i32, magic i8,
//! crc u32, attributes i16, lastOffsetDelta i32, baseTimestamp i64,
//! maxTimestamp i64, producerId i64, producerEpoch i16, baseSequence i32,
//! recordsCount i32`. The CRC32C covers `attributes` to the end of the batch,
//! so rewriting `baseOffset` and `partitionLeaderEpoch` keeps it valid.

use super::client_batch::{check_client_batch, codec_name};
use std::fmt;
use zerocopy::byteorder::big_endian::{I16, I32, I64, U32};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// Size of the fixed record batch header (v2).
pub const RECORD_BATCH_HEADER_BYTES: usize = 61;
/// Bytes before `batchLength` counts: baseOffset (8) + batchLength (4).
pub const LOG_OVERHEAD_BYTES: usize = 12;
/// The only record batch format still current (KIP-724 dropped v0/v1).
pub const RECORD_BATCH_MAGIC_V2: i8 = 2;

/// Smallest legal `batchLength`: the header after the 12-byte overhead.
const BATCH_LENGTH_MIN: i32 = (RECORD_BATCH_HEADER_BYTES - LOG_OVERHEAD_BYTES) as i32;
/// Position of `magic` in the header.
const MAGIC_POSITION: usize = 16;
/// Position of `attributes`, where the CRC32C coverage starts.
const CRC_COVERAGE_START: usize = 21;
/// Attribute bits (Kafka `DefaultRecordBatch`); the codec bits are the same
/// in the old message formats.
pub const COMPRESSION_CODEC_MASK: i16 = 0x07;
/// LogAppendTime: every record's timestamp is the batch's maxTimestamp.
pub const TIMESTAMP_TYPE_FLAG: i16 = 0x08;
const TRANSACTIONAL_FLAG: i16 = 0x10;
const CONTROL_FLAG: i16 = 0x20;
/// `baseSequence` of a batch sent without idempotence.
pub const NO_SEQUENCE: i32 = -1;

use super::error_code::{
    CORRUPT_MESSAGE, INVALID_RECORD, MESSAGE_TOO_LARGE, UNSUPPORTED_FOR_MESSAGE_FORMAT,
};

/// Zero-copy view of the 61-byte record batch header.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Debug)]
#[repr(C)]
pub struct RecordBatchHeader {
    /// Offset of the first record.
    pub base_offset: I64,
    /// Bytes after this field to the end of the batch.
    pub batch_length: I32,
    /// Leader epoch stamped by the broker.
    pub partition_leader_epoch: I32,
    /// Format version, 2.
    pub magic: i8,
    /// CRC32C over `attributes` to the end of the batch.
    pub crc: U32,
    /// Compression codec, timestamp type, transactional and control flags.
    pub attributes: I16,
    /// Offset of the last record relative to `base_offset`.
    pub last_offset_delta: I32,
    /// Timestamp of the first record.
    pub base_timestamp: I64,
    /// Largest timestamp in the batch.
    pub max_timestamp: I64,
    /// Idempotent producer id, -1 when none.
    pub producer_id: I64,
    /// Idempotent producer epoch, -1 when none.
    pub producer_epoch: I16,
    /// Sequence of the first record, -1 when none.
    pub base_sequence: I32,
    /// Number of records.
    pub records_count: I32,
}

const _: () = assert!(std::mem::size_of::<RecordBatchHeader>() == RECORD_BATCH_HEADER_BYTES);

/// What a scan learned about one batch; no record is decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchInfo {
    /// Start of the batch in the scanned buffer.
    pub position: usize,
    /// Whole batch length including the 12-byte overhead.
    pub len: usize,
    /// `baseOffset` as found in the buffer.
    pub base_offset: i64,
    /// `lastOffsetDelta`.
    pub last_offset_delta: i32,
    /// `recordsCount`.
    pub record_count: i32,
    /// `baseTimestamp`.
    pub base_timestamp: i64,
    /// `maxTimestamp`.
    pub max_timestamp: i64,
    /// `producerId`, -1 when none.
    pub producer_id: i64,
    /// `producerEpoch`.
    pub producer_epoch: i16,
    /// `baseSequence`.
    pub base_sequence: i32,
    /// `attributes`.
    pub attributes: i16,
    /// `partitionLeaderEpoch`.
    pub partition_leader_epoch: i32,
}

impl BatchInfo {
    /// Offset of the last record: `base_offset + last_offset_delta`.
    ///
    /// Saturates: a corrupt on-disk baseOffset (not covered by the CRC) must
    /// not overflow; recovery rejects such a batch by its offsets.
    pub fn last_offset(&self) -> i64 {
        self.base_offset
            .saturating_add(i64::from(self.last_offset_delta))
    }

    /// Number of offsets the batch occupies in the log.
    pub fn offset_count(&self) -> i64 {
        i64::from(self.last_offset_delta) + 1
    }

    /// True for a batch of a transactional producer.
    pub fn is_transactional(&self) -> bool {
        self.attributes & TRANSACTIONAL_FLAG != 0
    }

    /// True for a control batch (transaction markers).
    pub fn is_control(&self) -> bool {
        self.attributes & CONTROL_FLAG != 0
    }

    /// True for a LogAppendTime batch (the broker's timestamps).
    pub fn is_log_append_time(&self) -> bool {
        self.attributes & TIMESTAMP_TYPE_FLAG != 0
    }

    /// Compression codec: 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd.
    pub fn compression_codec(&self) -> u8 {
        (self.attributes & COMPRESSION_CODEC_MASK) as u8
    }

    /// Sequence of the last record, wrapping past `i32::MAX` to 0 like Kafka.
    pub fn last_sequence(&self) -> i32 {
        if self.base_sequence == NO_SEQUENCE {
            return NO_SEQUENCE;
        }
        increment_sequence(self.base_sequence, self.last_offset_delta)
    }

    /// True when the batch carries an idempotent producer id.
    pub fn has_producer_id(&self) -> bool {
        self.producer_id >= 0
    }
}

/// Kafka's `DefaultRecordBatch.incrementSequence`: sequences wrap to 0.
pub fn increment_sequence(sequence: i32, increment: i32) -> i32 {
    if sequence > i32::MAX - increment {
        increment - (i32::MAX - sequence) - 1
    } else {
        sequence + increment
    }
}

/// Why a record batch was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchError {
    /// The bytes end inside a batch (or inside its 12-byte overhead).
    Truncated,
    /// `batchLength` smaller than a header or negative.
    InvalidLength(i32),
    /// Not magic 2.
    UnsupportedMagic(i8),
    /// CRC32C does not match.
    CrcMismatch,
    /// The batch (including overhead) is larger than allowed.
    TooLarge(usize),
    /// `recordsCount` is negative (or, from a client, zero).
    InvalidRecordCount(i32),
    /// `lastOffsetDelta` is negative.
    InvalidLastOffsetDelta(i32),
    /// No batch at all.
    Empty,
    /// More than one batch for one partition (Kafka: exactly one).
    MultipleBatches,
    /// A client's batch must carry `baseOffset` 0; the broker assigns offsets.
    NonZeroBaseOffset(i64),
    /// `lastOffsetDelta + 1` is not `recordsCount`.
    InconsistentOffsetRange {
        /// `lastOffsetDelta`.
        last_offset_delta: i32,
        /// `recordsCount`.
        record_count: i32,
    },
    /// `producerId` below -1.
    InvalidProducerId(i64),
    /// A producer id with a negative epoch.
    InvalidProducerEpoch {
        /// `producerId`.
        producer_id: i64,
        /// `producerEpoch`.
        producer_epoch: i16,
    },
    /// A producer id with a negative `baseSequence`.
    InvalidSequence {
        /// `producerId`.
        producer_id: i64,
        /// `baseSequence`.
        base_sequence: i32,
    },
    /// Compression codec bits 5 to 7.
    UnknownCompression(u8),
    /// A compressed payload that does not start as its codec's frames must.
    CompressedFrameMismatch(u8),
    /// More records than the compressed payload could hold at any ratio.
    CompressedCountTooLarge {
        /// `recordsCount`.
        record_count: i32,
        /// Bytes of compressed records.
        payload_bytes: usize,
    },
    /// The batch ends before record `index` (of `recordsCount`) starts.
    RecordsEndEarly {
        /// Zero-based record index.
        index: i32,
    },
    /// Record `index` has a length prefix that is no varint, or a length
    /// smaller than a record or past the batch end.
    InvalidRecordSize {
        /// Zero-based record index.
        index: i32,
        /// The length read, `None` when the prefix is no varint.
        length: Option<i32>,
    },
    /// Bytes left after `recordsCount` records.
    RecordsRemaining {
        /// How many.
        bytes: usize,
    },
}

impl BatchError {
    /// Kafka error code for a Produce partition response.
    pub fn wire_error_code(&self) -> i16 {
        match self {
            BatchError::InvalidLength(_)
            | BatchError::CrcMismatch
            | BatchError::CompressedFrameMismatch(_) => CORRUPT_MESSAGE,
            BatchError::UnsupportedMagic(_) => UNSUPPORTED_FOR_MESSAGE_FORMAT,
            BatchError::TooLarge(_) => MESSAGE_TOO_LARGE,
            // Kafka's request check finds no whole batch in a cut one: "must have at
            // least one record batch per partition".
            BatchError::Truncated
            | BatchError::InvalidRecordCount(_)
            | BatchError::InvalidLastOffsetDelta(_)
            | BatchError::Empty
            | BatchError::MultipleBatches
            | BatchError::NonZeroBaseOffset(_)
            | BatchError::InconsistentOffsetRange { .. }
            | BatchError::InvalidProducerId(_)
            | BatchError::InvalidProducerEpoch { .. }
            | BatchError::InvalidSequence { .. }
            | BatchError::UnknownCompression(_)
            | BatchError::CompressedCountTooLarge { .. }
            | BatchError::RecordsEndEarly { .. }
            | BatchError::InvalidRecordSize { .. }
            | BatchError::RecordsRemaining { .. } => INVALID_RECORD,
        }
    }
}

/// The messages follow Kafka's (`LogValidator`, `DefaultRecordBatch`) where
/// Kafka has one, so a client's log reads the same against either broker.
impl fmt::Display for BatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BatchError::Truncated => write!(f, "record batch truncated"),
            BatchError::InvalidLength(len) => write!(f, "invalid record batch length {len}"),
            BatchError::UnsupportedMagic(magic) => {
                write!(f, "unsupported record batch magic {magic}")
            }
            BatchError::CrcMismatch => write!(f, "record batch CRC32C mismatch"),
            BatchError::TooLarge(len) => write!(f, "record batch of {len} bytes is too large"),
            BatchError::InvalidRecordCount(count) => {
                write!(f, "Invalid reported count for record batch: {count}")
            }
            BatchError::InvalidLastOffsetDelta(delta) => {
                write!(f, "Batch has an invalid offset range: [0, {delta}]")
            }
            BatchError::Empty => write!(f, "no record batch"),
            BatchError::MultipleBatches => write!(
                f,
                "Produce requests are only allowed to contain exactly one record batch per partition"
            ),
            BatchError::NonZeroBaseOffset(offset) => write!(
                f,
                "The baseOffset of the record batch should be 0, but it is {offset}"
            ),
            BatchError::InconsistentOffsetRange {
                last_offset_delta,
                record_count,
            } => write!(
                f,
                "Inconsistent batch offset range [0, {last_offset_delta}] and count of records {record_count}"
            ),
            BatchError::InvalidProducerId(id) => {
                write!(f, "Invalid producer id {id}: -1 (none) or an id >= 0")
            }
            BatchError::InvalidProducerEpoch {
                producer_id,
                producer_epoch,
            } => write!(
                f,
                "Invalid producer epoch {producer_epoch} in record batch with producerId {producer_id}"
            ),
            BatchError::InvalidSequence {
                producer_id,
                base_sequence,
            } => write!(
                f,
                "Invalid sequence number {base_sequence} in record batch with producerId {producer_id}"
            ),
            BatchError::UnknownCompression(codec) => {
                write!(f, "Unknown compression type id: {codec}")
            }
            BatchError::CompressedFrameMismatch(codec) => write!(
                f,
                "Record batch is corrupt: its {} records do not start with a {} frame",
                codec_name(*codec),
                codec_name(*codec)
            ),
            BatchError::CompressedCountTooLarge {
                record_count,
                payload_bytes,
            } => write!(
                f,
                "Invalid reported count for record batch: {record_count} records cannot fit in {payload_bytes} compressed bytes"
            ),
            BatchError::RecordsEndEarly { index } => write!(
                f,
                "Incorrect declared batch size, premature EOF reached before record {index}"
            ),
            BatchError::InvalidRecordSize {
                index,
                length: Some(length),
            } => write!(f, "Invalid record size {length} of record {index}"),
            BatchError::InvalidRecordSize {
                index,
                length: None,
            } => write!(f, "Invalid record size of record {index}: no varint"),
            BatchError::RecordsRemaining { bytes } => write!(
                f,
                "Incorrect declared batch size, records still remaining in file ({bytes} bytes)"
            ),
        }
    }
}

impl std::error::Error for BatchError {}

/// Validates a Produce request's `records` field for one partition: exactly
/// one complete v2 batch (Kafka's rule from Produce v3 on, and for every
/// magic 2 append) with a sane length, magic 2, its CRC32C, and the checks
/// Kafka applies to a batch from a client ([`check_client_batch`]: offsets,
/// count, records, producer fields). Puts its [`BatchInfo`] in `out`
/// (cleared first).
pub fn validate_batches(
    records: &[u8],
    max_batch_bytes: usize,
    out: &mut Vec<BatchInfo>,
) -> Result<(), BatchError> {
    out.clear();
    if records.is_empty() {
        return Err(BatchError::Empty);
    }
    let header = parse_header(records)?.ok_or(BatchError::Truncated)?;
    let info = header_info(header, 0)?;
    if info.len > max_batch_bytes {
        return Err(BatchError::TooLarge(info.len));
    }
    let batch = records.get(..info.len).ok_or(BatchError::Truncated)?;
    check_crc(header, batch)?;
    check_client_batch(&info, batch)?;
    if let Some(rest) = records.get(info.len..).filter(|rest| !rest.is_empty()) {
        // Bytes that do not make a whole second batch are a truncated one.
        return Err(match peek_batch(rest, false) {
            Ok(Some(_)) => BatchError::MultipleBatches,
            _ => BatchError::Truncated,
        });
    }
    out.push(info);
    Ok(())
}

/// Parses the batch at `buf[0..]` during a segment scan.
///
/// `Ok(None)` means no batch is readable here: fewer than 12 bytes, a zero
/// `batchLength` (preallocated zeroed space), or a batch extending past `buf`
/// (the caller reads more or, at the end of the file, treats it as torn).
/// With `verify_crc` the CRC32C is checked too.
pub fn peek_batch(buf: &[u8], verify_crc: bool) -> Result<Option<BatchInfo>, BatchError> {
    let Some(batch_length) = peek_batch_length(buf) else {
        return Ok(None);
    };
    if batch_length == 0 {
        return Ok(None);
    }
    if batch_length < BATCH_LENGTH_MIN {
        return Err(BatchError::InvalidLength(batch_length));
    }
    let total_len = LOG_OVERHEAD_BYTES + batch_length as usize;
    if buf.len() < total_len {
        return Ok(None);
    }
    let Some(header) = parse_header(buf)? else {
        return Ok(None);
    };
    let info = header_info(header, 0)?;
    if verify_crc {
        check_crc(header, &buf[..total_len])?;
    }
    Ok(Some(info))
}

/// Like [`peek_batch`] but needs only the 61-byte header in `buf`, never the
/// whole batch, and never checks the CRC: for skipping from header to header.
/// `Ok(None)`: fewer than 61 bytes (or 12 with a zero `batchLength`).
pub fn peek_batch_header(buf: &[u8]) -> Result<Option<BatchInfo>, BatchError> {
    match peek_batch_length(buf) {
        None | Some(0) => Ok(None),
        Some(_) => match parse_header(buf)? {
            Some(header) => header_info(header, 0).map(Some),
            None => Ok(None),
        },
    }
}

/// Rewrites `baseOffset` and `partitionLeaderEpoch` of a header in place; the
/// CRC stays valid because it does not cover them. `header` must hold at
/// least the 12-byte overhead and the epoch (16 bytes).
pub fn stamp_header(header: &mut [u8], base_offset: i64, partition_leader_epoch: i32) {
    header[0..8].copy_from_slice(&base_offset.to_be_bytes());
    header[12..16].copy_from_slice(&partition_leader_epoch.to_be_bytes());
}

/// `batchLength` of the batch at `buf[0..]`, if the 12-byte overhead is there.
fn peek_batch_length(buf: &[u8]) -> Option<i32> {
    let bytes: [u8; 4] = buf.get(8..LOG_OVERHEAD_BYTES)?.try_into().ok()?;
    Some(i32::from_be_bytes(bytes))
}

/// The header view, after checking `batchLength` and `magic`. `Ok(None)` when
/// fewer than 61 bytes are available.
fn parse_header(buf: &[u8]) -> Result<Option<&RecordBatchHeader>, BatchError> {
    // Magic first: a v0/v1 message (kafka-go 0.2, Sarama's default version)
    // is shorter than a v2 header, and its answer must say "old format",
    // not "corrupt".
    if let Some(&magic) = buf.get(MAGIC_POSITION) {
        if magic as i8 != RECORD_BATCH_MAGIC_V2 {
            return Err(BatchError::UnsupportedMagic(magic as i8));
        }
    }
    if let Some(batch_length) = peek_batch_length(buf) {
        if batch_length < BATCH_LENGTH_MIN {
            return Err(BatchError::InvalidLength(batch_length));
        }
    }
    match RecordBatchHeader::ref_from_prefix(buf) {
        Ok((header, _)) => Ok(Some(header)),
        Err(_) => Ok(None),
    }
}

fn header_info(header: &RecordBatchHeader, position: usize) -> Result<BatchInfo, BatchError> {
    let record_count = header.records_count.get();
    if record_count < 0 {
        return Err(BatchError::InvalidRecordCount(record_count));
    }
    let last_offset_delta = header.last_offset_delta.get();
    if last_offset_delta < 0 {
        return Err(BatchError::InvalidLastOffsetDelta(last_offset_delta));
    }
    Ok(BatchInfo {
        position,
        len: LOG_OVERHEAD_BYTES + header.batch_length.get() as usize,
        base_offset: header.base_offset.get(),
        last_offset_delta,
        record_count,
        base_timestamp: header.base_timestamp.get(),
        max_timestamp: header.max_timestamp.get(),
        producer_id: header.producer_id.get(),
        producer_epoch: header.producer_epoch.get(),
        base_sequence: header.base_sequence.get(),
        attributes: header.attributes.get(),
        partition_leader_epoch: header.partition_leader_epoch.get(),
    })
}

fn check_crc(header: &RecordBatchHeader, batch: &[u8]) -> Result<(), BatchError> {
    if crc32c::crc32c(&batch[CRC_COVERAGE_START..]) == header.crc.get() {
        Ok(())
    } else {
        Err(BatchError::CrcMismatch)
    }
}

/// Parameters of a hand-built batch for tests ([`build_test_batch`]).
#[doc(hidden)]
#[derive(Clone, Debug)]
pub struct TestBatch {
    /// `baseOffset` written into the header.
    pub base_offset: i64,
    /// Number of records (each gets offset delta = its index).
    pub record_count: i32,
    /// Bytes of each record's value.
    pub value_bytes: usize,
    /// `baseTimestamp`; record `i` has timestamp `base_timestamp + i`.
    pub base_timestamp: i64,
    /// `producerId`.
    pub producer_id: i64,
    /// `producerEpoch`.
    pub producer_epoch: i16,
    /// `baseSequence`.
    pub base_sequence: i32,
    /// `attributes`.
    pub attributes: i16,
}

impl Default for TestBatch {
    fn default() -> Self {
        TestBatch {
            base_offset: 0,
            record_count: 1,
            value_bytes: 10,
            base_timestamp: 1_700_000_000_000,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: NO_SEQUENCE,
            attributes: 0,
        }
    }
}

/// Builds a valid, uncompressed v2 batch with real records (null key, value of
/// `value_bytes` bytes, no headers) and a correct CRC32C. For tests.
#[doc(hidden)]
pub fn build_test_batch(spec: &TestBatch) -> Vec<u8> {
    let mut records = Vec::new();
    for index in 0..spec.record_count {
        encode_test_record(&mut records, index, spec.value_bytes);
    }
    let last_offset_delta = (spec.record_count - 1).max(0);
    let batch_length = (RECORD_BATCH_HEADER_BYTES - LOG_OVERHEAD_BYTES + records.len()) as i32;
    let mut batch = Vec::with_capacity(RECORD_BATCH_HEADER_BYTES + records.len());
    batch.extend_from_slice(&spec.base_offset.to_be_bytes());
    batch.extend_from_slice(&batch_length.to_be_bytes());
    batch.extend_from_slice(&0i32.to_be_bytes());
    batch.push(RECORD_BATCH_MAGIC_V2 as u8);
    batch.extend_from_slice(&0u32.to_be_bytes());
    batch.extend_from_slice(&spec.attributes.to_be_bytes());
    batch.extend_from_slice(&last_offset_delta.to_be_bytes());
    batch.extend_from_slice(&spec.base_timestamp.to_be_bytes());
    let max_timestamp = spec.base_timestamp + i64::from(last_offset_delta);
    batch.extend_from_slice(&max_timestamp.to_be_bytes());
    batch.extend_from_slice(&spec.producer_id.to_be_bytes());
    batch.extend_from_slice(&spec.producer_epoch.to_be_bytes());
    batch.extend_from_slice(&spec.base_sequence.to_be_bytes());
    batch.extend_from_slice(&spec.record_count.to_be_bytes());
    batch.extend_from_slice(&records);
    let crc = crc32c::crc32c(&batch[CRC_COVERAGE_START..]);
    batch[17..21].copy_from_slice(&crc.to_be_bytes());
    batch
}

fn encode_test_record(out: &mut Vec<u8>, index: i32, value_bytes: usize) {
    let mut body = Vec::new();
    body.push(0); // attributes
    put_varint(&mut body, i64::from(index)); // timestamp delta
    put_varint(&mut body, i64::from(index)); // offset delta
    put_varint(&mut body, -1); // null key
    put_varint(&mut body, value_bytes as i64);
    body.extend((0..value_bytes).map(|i| (i as u8).wrapping_add(index as u8)));
    put_varint(&mut body, 0); // no headers
    put_varint(out, body.len() as i64);
    out.extend_from_slice(&body);
}

/// Appends `value` as a zigzag varint, as records encode their fields. For
/// building test batches.
#[doc(hidden)]
pub fn put_varint(out: &mut Vec<u8>, value: i64) {
    let mut zigzag = ((value << 1) ^ (value >> 63)) as u64;
    while zigzag >= 0x80 {
        out.push((zigzag as u8) | 0x80);
        zigzag >>= 7;
    }
    out.push(zigzag as u8);
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: usize = 1 << 20;

    fn batch(base_offset: i64, record_count: i32) -> Vec<u8> {
        build_test_batch(&TestBatch {
            base_offset,
            record_count,
            ..TestBatch::default()
        })
    }

    #[test]
    fn validates_one_batch() {
        let records = batch(0, 3);
        let mut out = Vec::new();
        validate_batches(&records, MAX, &mut out).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].position, 0);
        assert_eq!(out[0].len, records.len());
        assert_eq!(out[0].record_count, 3);
        assert_eq!(out[0].last_offset(), 2);
        assert_eq!(out[0].max_timestamp, out[0].base_timestamp + 2);
    }

    #[test]
    fn rejects_corrupt_crc() {
        let mut records = batch(0, 2);
        let last = records.len() - 1;
        records[last] ^= 0xff;
        let mut out = Vec::new();
        let err = validate_batches(&records, MAX, &mut out).unwrap_err();
        assert_eq!(err, BatchError::CrcMismatch);
        assert_eq!(err.wire_error_code(), 2);
    }

    #[test]
    fn rejects_truncated() {
        let records = batch(0, 2);
        let mut out = Vec::new();
        for cut in [5, 20, records.len() - 1] {
            let err = validate_batches(&records[..cut], MAX, &mut out).unwrap_err();
            assert_eq!(err, BatchError::Truncated, "cut at {cut}");
        }
        let mut two = records.clone();
        two.extend_from_slice(&records[..30]);
        assert_eq!(
            validate_batches(&two, MAX, &mut out),
            Err(BatchError::Truncated)
        );
    }

    #[test]
    fn a_short_magic_1_message_is_an_old_format_not_a_corrupt_one() {
        // kafka-go 0.2's Produce v2 message set: offset, size 26, crc, magic 1,
        // attributes, timestamp, null key, 4-byte value.
        let mut message = Vec::new();
        message.extend_from_slice(&0i64.to_be_bytes());
        message.extend_from_slice(&26i32.to_be_bytes());
        message.extend_from_slice(&[0, 0, 0, 0, 1, 0]);
        message.extend_from_slice(&0i64.to_be_bytes());
        message.extend_from_slice(&(-1i32).to_be_bytes());
        message.extend_from_slice(&4i32.to_be_bytes());
        message.extend_from_slice(b"abcd");
        let err = validate_batches(&message, MAX, &mut Vec::new()).unwrap_err();
        assert_eq!(err, BatchError::UnsupportedMagic(1));
        assert_eq!(err.wire_error_code(), 43);
    }

    #[test]
    fn rejects_wrong_magic_and_length_and_size() {
        let mut out = Vec::new();
        let mut records = batch(0, 1);
        records[MAGIC_POSITION] = 1;
        let err = validate_batches(&records, MAX, &mut out).unwrap_err();
        assert_eq!(err, BatchError::UnsupportedMagic(1));
        assert_eq!(err.wire_error_code(), 43);

        let mut records = batch(0, 1);
        records[8..12].copy_from_slice(&10i32.to_be_bytes());
        assert_eq!(
            validate_batches(&records, MAX, &mut out),
            Err(BatchError::InvalidLength(10))
        );

        let records = batch(0, 1);
        let err = validate_batches(&records, 20, &mut out).unwrap_err();
        assert_eq!(err, BatchError::TooLarge(records.len()));
        assert_eq!(err.wire_error_code(), 10);
        assert_eq!(validate_batches(&[], MAX, &mut out), Err(BatchError::Empty));
    }

    #[test]
    fn stamping_keeps_crc_valid() {
        let mut records = batch(0, 4);
        stamp_header(&mut records, 1234, 7);
        let info = peek_batch(&records, true).unwrap().unwrap();
        assert_eq!(info.base_offset, 1234);
        assert_eq!(info.partition_leader_epoch, 7);
        assert_eq!(info.last_offset(), 1237);
    }

    #[test]
    fn peek_stops_at_zeroes_and_partial_batches() {
        let records = batch(5, 2);
        let mut buf = records.clone();
        buf.extend_from_slice(&[0u8; 100]);
        let info = peek_batch(&buf, true).unwrap().unwrap();
        assert_eq!(info.base_offset, 5);
        assert_eq!(info.len, records.len());
        assert_eq!(peek_batch(&buf[info.len..], true), Ok(None));
        assert_eq!(peek_batch(&records[..records.len() - 1], true), Ok(None));
        assert_eq!(peek_batch(&records[..8], true), Ok(None));
        let header = peek_batch_header(&records[..RECORD_BATCH_HEADER_BYTES])
            .unwrap()
            .unwrap();
        assert_eq!(header.len, records.len());
        let mut corrupt = records.clone();
        corrupt[40] ^= 1;
        assert_eq!(peek_batch(&corrupt, true), Err(BatchError::CrcMismatch));
        assert!(peek_batch(&corrupt, false).unwrap().is_some());
    }

    #[test]
    fn sequences_wrap_like_kafka() {
        let mut out = Vec::new();
        let records = build_test_batch(&TestBatch {
            record_count: 3,
            producer_id: 9,
            producer_epoch: 0,
            base_sequence: i32::MAX - 1,
            ..TestBatch::default()
        });
        validate_batches(&records, MAX, &mut out).unwrap();
        assert!(out[0].has_producer_id());
        assert_eq!(out[0].last_sequence(), 0);
        assert_eq!(increment_sequence(5, 2), 7);
    }

    #[test]
    fn attribute_flags() {
        let info = BatchInfo {
            attributes: 0x10 | 0x20 | 0x03,
            ..peek_batch(&batch(0, 1), true).unwrap().unwrap()
        };
        assert!(info.is_transactional());
        assert!(info.is_control());
        assert_eq!(info.compression_codec(), 3);
    }
}
