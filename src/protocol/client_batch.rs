//! The checks Kafka applies to a record batch a client produces, beyond its
//! framing and CRC: `LogValidator.validateBatch` for a client append, the
//! base offset rule of `UnifiedLog.analyzeAndValidateRecords`, and the size
//! checks of the record iterator. They run on the connection's shard before a
//! batch is routed, so a refused batch reaches no log and takes no offsets.
//!
//! Nothing is decompressed, allocated or copied. An uncompressed batch's
//! records are walked by their varint length prefixes only: `recordsCount`
//! records must end exactly at the batch end. A compressed batch is checked as
//! far as its compressed bytes allow: a known codec, a payload that starts as
//! that codec's frames must, and enough bytes to hold `recordsCount` records
//! at the highest ratio any codec reaches.

use super::codec::Codec;
use super::record_batch::{BatchError, BatchInfo, RECORD_BATCH_HEADER_BYTES};

/// `producerId` of a batch sent without idempotence.
pub const NO_PRODUCER_ID: i64 = -1;
/// Smallest record body: attributes, timestamp delta, offset delta, key
/// length, value length and header count take a byte each at least.
pub const RECORD_BODY_MIN_BYTES: i32 = 6;
/// Smallest encoded record: a one-byte length prefix and the smallest body.
pub const RECORD_MIN_BYTES: u64 = 1 + RECORD_BODY_MIN_BYTES as u64;
/// Longest varint Kafka reads as an `int` (`ByteUtils.readVarint`).
pub const VARINT_I32_MAX_BYTES: usize = 5;
/// Highest ratio of decompressed to compressed bytes of any codec Kafka
/// knows: a zstd RLE block expands 4 bytes to 128 KiB (deflate stops at
/// 1032:1, LZ4 near 255:1, snappy near 22:1). A compressed batch whose count
/// needs more is refused without decompressing it.
pub const COMPRESSION_RATIO_MAX: u64 = 32 * 1024;

/// Checks one batch a client sent: `info` is its header, `batch` its bytes
/// (12-byte overhead included), whose framing and CRC are already checked.
pub fn check_client_batch(info: &BatchInfo, batch: &[u8]) -> Result<(), BatchError> {
    if info.base_offset != 0 {
        return Err(BatchError::NonZeroBaseOffset(info.base_offset));
    }
    if info.record_count <= 0 {
        return Err(BatchError::InvalidRecordCount(info.record_count));
    }
    if i64::from(info.last_offset_delta) + 1 != i64::from(info.record_count) {
        return Err(BatchError::InconsistentOffsetRange {
            last_offset_delta: info.last_offset_delta,
            record_count: info.record_count,
        });
    }
    check_producer_fields(info)?;
    let records = batch
        .get(RECORD_BATCH_HEADER_BYTES..)
        .ok_or(BatchError::Truncated)?;
    let bits = info.compression_codec();
    match Codec::from_attribute(i16::from(bits)) {
        Some(Codec::None) => walk_record_lengths(records, info.record_count),
        Some(codec) => check_compressed(codec, records, info.record_count),
        None => Err(BatchError::UnknownCompression(bits)),
    }
}

/// Without a producer id Kafka ignores epoch and sequence (Sarama and kafkajs
/// send 0 for both); with one, both must be set.
fn check_producer_fields(info: &BatchInfo) -> Result<(), BatchError> {
    match info.producer_id {
        NO_PRODUCER_ID => Ok(()),
        id if id < 0 => Err(BatchError::InvalidProducerId(id)),
        id if info.producer_epoch < 0 => Err(BatchError::InvalidProducerEpoch {
            producer_id: id,
            producer_epoch: info.producer_epoch,
        }),
        id if info.base_sequence < 0 => Err(BatchError::InvalidSequence {
            producer_id: id,
            base_sequence: info.base_sequence,
        }),
        _ => Ok(()),
    }
}

/// Steps over `count` records by their length prefixes; they must end
/// exactly at the end of `records`. One varint read per record, with a fast
/// path for the one-byte prefix of records under 64 bytes.
fn walk_record_lengths(records: &[u8], count: i32) -> Result<(), BatchError> {
    let mut position = 0;
    for index in 0..count {
        let Some(&first) = records.get(position) else {
            return Err(BatchError::RecordsEndEarly { index });
        };
        let (length, prefix_bytes) = if first & 0x80 == 0 {
            (i32::from(first >> 1) ^ -i32::from(first & 1), 1)
        } else {
            read_varint_i32(&records[position..]).ok_or(BatchError::InvalidRecordSize {
                index,
                length: None,
            })?
        };
        let body_start = position + prefix_bytes;
        if length < RECORD_BODY_MIN_BYTES || length as usize > records.len() - body_start {
            return Err(BatchError::InvalidRecordSize {
                index,
                length: Some(length),
            });
        }
        position = body_start + length as usize;
    }
    match records.len() - position {
        0 => Ok(()),
        bytes => Err(BatchError::RecordsRemaining { bytes }),
    }
}

/// Kafka's `ByteUtils.readVarint`: a zigzag `int` in at most 5 bytes, bits
/// past 32 dropped. `None` when the bytes end first or a 5th byte continues.
fn read_varint_i32(buf: &[u8]) -> Option<(i32, usize)> {
    let mut raw: u32 = 0;
    for (index, &byte) in buf.iter().take(VARINT_I32_MAX_BYTES).enumerate() {
        raw |= u32::from(byte & 0x7f) << (7 * index);
        if byte & 0x80 == 0 {
            let value = (raw >> 1) as i32 ^ -((raw & 1) as i32);
            return Some((value, index + 1));
        }
    }
    None
}

/// What a compressed payload shows without decompressing it: the frame
/// magic its codec's reader requires, and room for `count` records.
fn check_compressed(codec: Codec, payload: &[u8], count: i32) -> Result<(), BatchError> {
    if !codec.frame_magic_matches(payload) {
        return Err(BatchError::CompressedFrameMismatch(codec.attribute() as u8));
    }
    let capacity = payload.len() as u64 * COMPRESSION_RATIO_MAX / RECORD_MIN_BYTES;
    if count as u64 > capacity {
        return Err(BatchError::CompressedCountTooLarge {
            record_count: count,
            payload_bytes: payload.len(),
        });
    }
    Ok(())
}

/// Name of a codec id for messages.
pub fn codec_name(codec: u8) -> &'static str {
    Codec::from_attribute(i16::from(codec)).map_or("unknown", Codec::name)
}

#[cfg(test)]
#[path = "client_batch_tests.rs"]
mod tests;
