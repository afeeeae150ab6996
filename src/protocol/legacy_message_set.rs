//! Message sets of magic 0 and 1 (before Kafka 0.11), for clients that speak
//! nothing newer: Sarama at its default Version (Produce/Fetch v0) and
//! kafka-go 0.2 (Produce/Fetch v2). A produced message set becomes one
//! uncompressed v2 batch ([`up_convert`]); fetched v2 batches become a message
//! set again ([`down_convert`]). Kafka 4 dropped both formats (KIP-724,
//! KIP-896). Unlike the v2 paths this one copies every record: it only runs
//! for those old request versions.

use super::codec::stream::{read_bounded, CodecError};
use super::codec::{Codec, DECOMPRESSED_BYTES_MAX};
use super::record_batch::{COMPRESSION_CODEC_MASK, RECORD_BATCH_HEADER_BYTES, TIMESTAMP_TYPE_FLAG};
use bytes::{BufMut, BytesMut};
use std::fmt;

/// Offset of `magic` in a message (after offset, size and CRC) and in a v2 batch.
const MAGIC_POSITION: usize = 16;
/// offset (8) + message size (4).
const LOG_OVERHEAD_BYTES: usize = 12;
/// crc (4) + magic (1) + attributes (1) + key length (4) + value length (4).
const MESSAGE_MIN_BYTES: usize = 14;
/// v2 attributes: a control batch (transaction markers), never shown to old clients.
const CONTROL_FLAG: i16 = 0x20;
/// Timestamp of a magic 0 message: none.
const NO_TIMESTAMP: i64 = -1;

/// Why a message set or batch cannot be converted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LegacyError {
    /// Lengths that do not fit the bytes.
    Malformed(&'static str),
    /// A codec this conversion does not know, or a payload it cannot decode.
    Codec(String),
    /// Decompressed data larger than [`DECOMPRESSED_BYTES_MAX`].
    TooLarge,
}

impl fmt::Display for LegacyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LegacyError::Malformed(what) => write!(f, "malformed message set: {what}"),
            LegacyError::Codec(what) => write!(f, "message set codec: {what}"),
            LegacyError::TooLarge => write!(f, "decompressed message set too large"),
        }
    }
}

impl std::error::Error for LegacyError {}

/// Whether `records` starts with a magic 0 or 1 message rather than a v2 batch.
pub fn is_legacy(records: &[u8]) -> bool {
    matches!(records.get(MAGIC_POSITION), Some(0) | Some(1))
}

/// One record, whatever its format.
struct Record<'a> {
    timestamp: i64,
    key: Option<&'a [u8]>,
    value: Option<&'a [u8]>,
}

fn be_i16(buf: &[u8], at: usize) -> Result<i16, LegacyError> {
    let bytes = buf
        .get(at..at + 2)
        .ok_or(LegacyError::Malformed("truncated"))?;
    Ok(i16::from_be_bytes([bytes[0], bytes[1]]))
}

fn be_i32(buf: &[u8], at: usize) -> Result<i32, LegacyError> {
    let bytes = buf
        .get(at..at + 4)
        .ok_or(LegacyError::Malformed("truncated"))?;
    Ok(i32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

fn be_i64(buf: &[u8], at: usize) -> Result<i64, LegacyError> {
    let hi = be_i32(buf, at)? as u32 as u64;
    let lo = be_i32(buf, at + 4)? as u32 as u64;
    Ok(((hi << 32) | lo) as i64)
}

/// A length-prefixed (i32) byte string at `at`; returns it and the position after it.
fn sized_bytes(buf: &[u8], at: usize) -> Result<(Option<&[u8]>, usize), LegacyError> {
    let len = be_i32(buf, at)?;
    let start = at + 4;
    if len < 0 {
        return Ok((None, start));
    }
    let end = start + len as usize;
    let bytes = buf
        .get(start..end)
        .ok_or(LegacyError::Malformed("bytes past the message"))?;
    Ok((Some(bytes), end))
}

/// Codec bits of an uncompressed message or batch.
const CODEC_NONE: i16 = 0;

fn decompress(bits: i16, data: &[u8]) -> Result<Vec<u8>, LegacyError> {
    let codec = Codec::from_attribute(bits)
        .ok_or_else(|| LegacyError::Codec(format!("unknown compression codec {bits}")))?;
    read_bounded(codec, data, DECOMPRESSED_BYTES_MAX).map_err(|error| match error {
        CodecError::TooLarge => LegacyError::TooLarge,
        other => LegacyError::Codec(other.to_string()),
    })
}

/// The records of a magic 0/1 message set, compressed wrappers opened (one
/// level, as Kafka allows). `inflated` keeps the decompressed sets alive.
fn parse_messages<'a>(
    buf: &'a [u8],
    inflated: &'a [Vec<u8>],
    out: &mut Vec<Record<'a>>,
) -> Result<(), LegacyError> {
    let mut next_inflated = inflated.iter();
    let mut position = 0;
    while position < buf.len() {
        let size = be_i32(buf, position + 8)?;
        let size = usize::try_from(size).map_err(|_| LegacyError::Malformed("message size"))?;
        if size < MESSAGE_MIN_BYTES {
            return Err(LegacyError::Malformed("message size"));
        }
        let end = position + LOG_OVERHEAD_BYTES + size;
        let message = buf
            .get(position..end)
            .ok_or(LegacyError::Malformed("message past the set"))?;
        let magic = message[MAGIC_POSITION];
        let codec = i16::from(message[MAGIC_POSITION + 1] as i8) & COMPRESSION_CODEC_MASK;
        let mut at = MAGIC_POSITION + 2;
        let timestamp = match magic {
            0 => NO_TIMESTAMP,
            1 => {
                at += 8;
                be_i64(message, at - 8)?
            }
            _ => return Err(LegacyError::Malformed("magic")),
        };
        let (key, after_key) = sized_bytes(message, at)?;
        let (value, _) = sized_bytes(message, after_key)?;
        if codec == CODEC_NONE {
            out.push(Record {
                timestamp,
                key,
                value,
            });
        } else {
            let inner = next_inflated
                .next()
                .ok_or(LegacyError::Malformed("nested compression"))?;
            parse_messages(inner, &[], out)?;
        }
        position = end;
    }
    Ok(())
}

/// The decompressed payloads of the compressed wrappers in `buf`, in order.
fn inflate_wrappers(buf: &[u8]) -> Result<Vec<Vec<u8>>, LegacyError> {
    let mut inflated = Vec::new();
    let mut position = 0;
    while position + LOG_OVERHEAD_BYTES + MESSAGE_MIN_BYTES <= buf.len() {
        let size = be_i32(buf, position + 8)?;
        let size = usize::try_from(size).map_err(|_| LegacyError::Malformed("message size"))?;
        let end = position + LOG_OVERHEAD_BYTES + size;
        let message = buf
            .get(position..end)
            .ok_or(LegacyError::Malformed("message past the set"))?;
        let codec = i16::from(message[MAGIC_POSITION + 1] as i8) & COMPRESSION_CODEC_MASK;
        if codec != CODEC_NONE {
            let at = MAGIC_POSITION + 2 + if message[MAGIC_POSITION] == 1 { 8 } else { 0 };
            let (_, after_key) = sized_bytes(message, at)?;
            let (value, _) = sized_bytes(message, after_key)?;
            inflated.push(decompress(codec, value.unwrap_or_default())?);
        }
        position = end;
    }
    Ok(inflated)
}

fn put_varint(out: &mut BytesMut, value: i64) {
    let mut zigzag = ((value << 1) ^ (value >> 63)) as u64;
    while zigzag >= 0x80 {
        out.put_u8((zigzag as u8) | 0x80);
        zigzag >>= 7;
    }
    out.put_u8(zigzag as u8);
}

fn put_varint_bytes(out: &mut BytesMut, bytes: Option<&[u8]>) {
    match bytes {
        Some(bytes) => {
            put_varint(out, bytes.len() as i64);
            out.put_slice(bytes);
        }
        None => put_varint(out, -1),
    }
}

/// A Produce v0-2 message set as one uncompressed v2 batch (base offset 0,
/// no producer id), ready for the normal validation and append.
pub fn up_convert(records: &[u8]) -> Result<BytesMut, LegacyError> {
    let inflated = inflate_wrappers(records)?;
    let mut parsed = Vec::new();
    parse_messages(records, &inflated, &mut parsed)?;
    if parsed.is_empty() {
        return Err(LegacyError::Malformed("no message"));
    }
    let base_timestamp = parsed[0].timestamp;
    let max_timestamp = parsed
        .iter()
        .map(|r| r.timestamp)
        .max()
        .unwrap_or(NO_TIMESTAMP);
    let mut body = BytesMut::new();
    let mut record = BytesMut::new();
    for (offset_delta, r) in parsed.iter().enumerate() {
        record.clear();
        record.put_i8(0); // attributes
        put_varint(&mut record, r.timestamp - base_timestamp);
        put_varint(&mut record, offset_delta as i64);
        put_varint_bytes(&mut record, r.key);
        put_varint_bytes(&mut record, r.value);
        put_varint(&mut record, 0); // headers
        put_varint(&mut body, record.len() as i64);
        body.put_slice(&record);
    }
    let mut batch = BytesMut::with_capacity(RECORD_BATCH_HEADER_BYTES + body.len());
    batch.put_i64(0); // base offset, stamped on append
    batch.put_i32((RECORD_BATCH_HEADER_BYTES - LOG_OVERHEAD_BYTES + body.len()) as i32);
    batch.put_i32(0); // partition leader epoch, stamped on append
    batch.put_i8(2);
    batch.put_u32(0); // CRC32C, set below
    let crc_from = batch.len();
    batch.put_i16(0); // attributes: uncompressed, create time
    batch.put_i32(parsed.len() as i32 - 1);
    batch.put_i64(base_timestamp);
    batch.put_i64(max_timestamp);
    batch.put_i64(-1); // producer id
    batch.put_i16(-1); // producer epoch
    batch.put_i32(-1); // base sequence
    batch.put_i32(parsed.len() as i32);
    batch.put_slice(&body);
    let crc = crc32c::crc32c(&batch[crc_from..]);
    batch[crc_from - 4..crc_from].copy_from_slice(&crc.to_be_bytes());
    Ok(batch)
}

/// A zigzag varint at `*at`, advancing it.
fn take_varint(buf: &[u8], at: &mut usize) -> Result<i64, LegacyError> {
    const VARINT_MAX_BYTES: usize = 10;
    let mut value: u64 = 0;
    for shift in 0..VARINT_MAX_BYTES {
        let byte = *buf
            .get(*at)
            .ok_or(LegacyError::Malformed("truncated varint"))?;
        *at += 1;
        value |= u64::from(byte & 0x7f) << (7 * shift);
        if byte & 0x80 == 0 {
            return Ok(((value >> 1) as i64) ^ -((value & 1) as i64));
        }
    }
    Err(LegacyError::Malformed("varint too long"))
}

fn take_varint_bytes<'a>(buf: &'a [u8], at: &mut usize) -> Result<Option<&'a [u8]>, LegacyError> {
    let len = take_varint(buf, at)?;
    if len < 0 {
        return Ok(None);
    }
    let end = *at + len as usize;
    let bytes = buf
        .get(*at..end)
        .ok_or(LegacyError::Malformed("record bytes"))?;
    *at = end;
    Ok(Some(bytes))
}

fn put_message(out: &mut BytesMut, magic: i8, offset: i64, record: &Record) {
    out.put_i64(offset);
    let size_at = out.len();
    out.put_i32(0); // size, set below
    out.put_u32(0); // CRC32, set below
    let crc_from = out.len();
    out.put_i8(magic);
    out.put_i8(0); // attributes: uncompressed, create time
    if magic >= 1 {
        out.put_i64(record.timestamp);
    }
    for field in [record.key, record.value] {
        match field {
            Some(bytes) => {
                out.put_i32(bytes.len() as i32);
                out.put_slice(bytes);
            }
            None => out.put_i32(-1),
        }
    }
    let mut crc = flate2::Crc::new();
    crc.update(&out[crc_from..]);
    let size = (out.len() - size_at - 4) as i32;
    out[size_at..size_at + 4].copy_from_slice(&size.to_be_bytes());
    out[crc_from - 4..crc_from].copy_from_slice(&crc.sum().to_be_bytes());
}

/// Every record of the complete v2 batches in `batches` as uncompressed
/// messages of `magic` (0 or 1), appended to `out`. A partial last batch is
/// left out, as a fetch may end inside one; control batches are skipped.
pub fn down_convert(batches: &[u8], magic: i8, out: &mut BytesMut) -> Result<(), LegacyError> {
    let mut position = 0;
    while position + RECORD_BATCH_HEADER_BYTES <= batches.len() {
        let base_offset = be_i64(batches, position)?;
        let batch_length = be_i32(batches, position + 8)?;
        let end = position + LOG_OVERHEAD_BYTES + batch_length.max(0) as usize;
        let Some(batch) = batches.get(position..end) else {
            break;
        };
        position = end;
        if batch.len() < RECORD_BATCH_HEADER_BYTES {
            return Err(LegacyError::Malformed("batch shorter than its header"));
        }
        let attributes = be_i16(batch, 21)?;
        if attributes & CONTROL_FLAG != 0 {
            continue;
        }
        let base_timestamp = be_i64(batch, 27)?;
        let max_timestamp = be_i64(batch, 35)?;
        let count = be_i32(batch, 57)?;
        let codec = attributes & COMPRESSION_CODEC_MASK;
        let inflated;
        let records = if codec == CODEC_NONE {
            &batch[RECORD_BATCH_HEADER_BYTES..]
        } else {
            inflated = decompress(codec, &batch[RECORD_BATCH_HEADER_BYTES..])?;
            &inflated[..]
        };
        let mut at = 0;
        for _ in 0..count.max(0) {
            let _length = take_varint(records, &mut at)?;
            at += 1; // record attributes
            let timestamp_delta = take_varint(records, &mut at)?;
            let offset_delta = take_varint(records, &mut at)?;
            let key = take_varint_bytes(records, &mut at)?;
            let value = take_varint_bytes(records, &mut at)?;
            for _ in 0..take_varint(records, &mut at)?.max(0) {
                take_varint_bytes(records, &mut at)?;
                take_varint_bytes(records, &mut at)?;
            }
            let timestamp = if attributes & TIMESTAMP_TYPE_FLAG != 0 {
                max_timestamp
            } else {
                base_timestamp + timestamp_delta
            };
            let record = Record {
                timestamp,
                key,
                value,
            };
            put_message(out, magic, base_offset + offset_delta, &record);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::record_batch::validate_batches;
    use std::io::Write;

    /// snappy-java's stream header.
    const XERIAL_HEADER: &[u8] = b"\x82SNAPPY\x00";

    fn message(
        magic: i8,
        attributes: i8,
        timestamp: i64,
        key: Option<&[u8]>,
        value: &[u8],
    ) -> Vec<u8> {
        let mut out = BytesMut::new();
        put_message(
            &mut out,
            magic,
            0,
            &Record {
                timestamp,
                key,
                value: Some(value),
            },
        );
        out[MAGIC_POSITION + 1] = attributes as u8; // CRC is not checked on the way in
        out.to_vec()
    }

    /// (offset, key, value, timestamp) of a converted message.
    type Converted = (i64, Option<Vec<u8>>, Vec<u8>, i64);

    fn records_of(batches: &[u8], magic: i8) -> Vec<Converted> {
        let mut out = BytesMut::new();
        down_convert(batches, magic, &mut out).unwrap();
        let mut records = Vec::new();
        let mut position = 0;
        while position < out.len() {
            let offset = be_i64(&out, position).unwrap();
            let size = be_i32(&out, position + 8).unwrap() as usize;
            let message = &out[position..position + LOG_OVERHEAD_BYTES + size];
            let mut crc = flate2::Crc::new();
            crc.update(&message[MAGIC_POSITION..]);
            assert_eq!(
                crc.sum() as i32,
                be_i32(message, 12).unwrap(),
                "CRC32 of the message"
            );
            assert_eq!(message[MAGIC_POSITION] as i8, magic);
            let at = MAGIC_POSITION + 2 + if magic == 1 { 8 } else { 0 };
            let timestamp = if magic == 1 {
                be_i64(message, MAGIC_POSITION + 2).unwrap()
            } else {
                NO_TIMESTAMP
            };
            let (key, after) = sized_bytes(message, at).unwrap();
            let (value, _) = sized_bytes(message, after).unwrap();
            records.push((
                offset,
                key.map(<[u8]>::to_vec),
                value.unwrap().to_vec(),
                timestamp,
            ));
            position += LOG_OVERHEAD_BYTES + size;
        }
        records
    }

    #[test]
    fn magic_1_messages_become_one_valid_v2_batch_and_come_back() {
        let mut set = message(1, 0, 1000, Some(b"k1"), b"v1");
        set.extend(message(1, 0, 1005, None, b"v2"));
        assert!(is_legacy(&set));
        let batch = up_convert(&set).unwrap();
        assert!(!is_legacy(&batch));
        let mut infos = Vec::new();
        validate_batches(&batch, 1 << 20, &mut infos).unwrap();
        assert_eq!(infos.len(), 1);
        assert_eq!(
            records_of(&batch, 1),
            vec![
                (0, Some(b"k1".to_vec()), b"v1".to_vec(), 1000),
                (1, None, b"v2".to_vec(), 1005)
            ]
        );
        let magic_0 = records_of(&batch, 0);
        assert_eq!(magic_0[1], (1, None, b"v2".to_vec(), NO_TIMESTAMP));
    }

    #[test]
    fn a_gzip_wrapper_is_opened() {
        let mut inner = message(1, 0, 7, Some(b"a"), b"1");
        inner.extend(message(1, 0, 8, Some(b"b"), b"2"));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&inner).unwrap();
        let compressed = gz.finish().unwrap();
        let wrapper = message(1, Codec::Gzip.attribute() as i8, 8, None, &compressed);
        let batch = up_convert(&wrapper).unwrap();
        let back = records_of(&batch, 1);
        assert_eq!(back.len(), 2);
        assert_eq!(back[1], (1, Some(b"b".to_vec()), b"2".to_vec(), 8));
    }

    #[test]
    fn xerial_snappy_is_opened() {
        let inner = message(0, 0, NO_TIMESTAMP, None, b"snappy value");
        let block = snap::raw::Encoder::new().compress_vec(&inner).unwrap();
        let mut framed = XERIAL_HEADER.to_vec();
        framed.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1]);
        framed.extend_from_slice(&(block.len() as i32).to_be_bytes());
        framed.extend_from_slice(&block);
        let batch = up_convert(&message(
            0,
            Codec::Snappy.attribute() as i8,
            0,
            None,
            &framed,
        ))
        .unwrap();
        assert_eq!(records_of(&batch, 0)[0].2, b"snappy value".to_vec());
    }

    #[test]
    fn bad_message_sets_are_errors_not_panics() {
        let good = message(1, 0, 1, None, b"v");
        for cut in 1..good.len() {
            assert!(up_convert(&good[..cut]).is_err(), "cut at {cut}");
        }
        let mut huge_key = good.clone();
        huge_key[MAGIC_POSITION + 10..MAGIC_POSITION + 14].copy_from_slice(&i32::MAX.to_be_bytes());
        assert!(up_convert(&huge_key).is_err());
        let bad_codec = message(1, 6, 1, None, b"v");
        assert!(matches!(up_convert(&bad_codec), Err(LegacyError::Codec(_))));
    }

    #[test]
    fn a_partial_last_batch_is_left_out() {
        let batch = up_convert(&message(1, 0, 1, None, b"v")).unwrap();
        let mut two = batch.to_vec();
        two.extend_from_slice(&batch[..batch.len() - 1]);
        assert_eq!(records_of(&two, 1).len(), 1);
    }
}
