//! Batch semantics: the input chooses a record batch that is structurally
//! valid (magic 2, a `batchLength` that matches its bytes, a correct CRC32C)
//! but whose fields may disagree: `recordsCount`, `lastOffsetDelta`,
//! `baseOffset`, producer id / epoch / sequence, attributes (codec, flags),
//! the records' varint lengths, a compressed payload's first bytes, bytes
//! after the last record, a second batch. `validate_batches` (what Produce
//! runs on a partition's records) must never panic, must refuse every batch
//! that the slow reference check below finds inconsistent, with the error code
//! of one of the rules it breaks, and must accept every batch the reference
//! finds consistent, reporting its header as it is.
//!
//! The reference is written apart from the broker's code on purpose: it
//! decodes each field with its own big-endian reads and each varint byte by
//! byte into a vector, so a shared mistake is unlikely.
#![no_main]

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use millrace::protocol::error_code::{CORRUPT_MESSAGE, INVALID_RECORD, MESSAGE_TOO_LARGE};
use millrace::protocol::record_batch::{put_varint, validate_batches, BatchInfo};

/// The broker's default `message.max.bytes` is 1 MiB; sometimes a small limit
/// is drawn instead, so that the size check is exercised too.
const MAX_BATCH_BYTES: usize = 1 << 20;
const RECORDS_MAX: usize = 12;
const FIELD_BYTES_MAX: usize = 40;
const PAYLOAD_BYTES_MAX: usize = 96;
const HEADER_BYTES: usize = 61;
const OVERHEAD_BYTES: usize = 12;
/// The reference's own figures (see `client_batch.rs` for the broker's).
const SMALLEST_RECORD_BODY: i64 = 6;
const SMALLEST_RECORD: u128 = 7;
const HIGHEST_COMPRESSION_RATIO: u128 = 32768;

/// What a seed or an input makes inconsistent on purpose (besides the small
/// independent chance every field has).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Twist {
    Nothing,
    Count,
    LastOffsetDelta,
    BaseOffset,
    ProducerFields,
    RecordLength,
    StrayBytes,
    Codec,
    SecondBatch,
    Crc,
}

const TWISTS: [Twist; 10] = [
    Twist::Nothing,
    Twist::Count,
    Twist::LastOffsetDelta,
    Twist::BaseOffset,
    Twist::ProducerFields,
    Twist::RecordLength,
    Twist::StrayBytes,
    Twist::Codec,
    Twist::SecondBatch,
    Twist::Crc,
];

fuzz_target!(|data: &[u8]| {
    let mut input = Unstructured::new(data);
    let Ok((records, limit)) = build(&mut input) else {
        return;
    };
    let expected = reference(&records, limit);
    let mut infos: Vec<BatchInfo> = Vec::new();
    let got = validate_batches(&records, limit, &mut infos);
    match (&expected, got) {
        (Ok(header), Ok(())) => {
            assert_eq!(infos.len(), 1, "one batch per partition");
            check_reported(&infos[0], header, records.len());
        }
        (Ok(_), Err(error)) => panic!("refused a consistent batch: {error} ({error:?})"),
        (Err(broken), Ok(())) => panic!("accepted an inconsistent batch: {broken:?}"),
        (Err(broken), Err(error)) => assert!(
            broken
                .iter()
                .any(|(code, _)| *code == error.wire_error_code()),
            "refused with {} ({error}) but the broken rules are {broken:?}",
            error.wire_error_code()
        ),
    }
});

// ---------------------------------------------------------------- the batch

fn build(u: &mut Unstructured) -> Result<(Vec<u8>, usize)> {
    let twist = *u.choose(&TWISTS)?;
    let codec: u8 = if twist == Twist::Codec {
        u.int_in_range(0..=7)?
    } else if u.ratio(1, 3)? {
        u.int_in_range(1..=4)?
    } else {
        0
    };
    // Bits above the codec: timestamp type, transactional, control, unused.
    let flags: i16 = if u.ratio(1, 8)? {
        u.arbitrary::<i16>()? & !7
    } else {
        0
    };
    let attributes = flags | i16::from(codec);
    let record_total = u.int_in_range(0..=RECORDS_MAX)?;
    let body = if codec == 0 {
        records(u, record_total, twist)?
    } else {
        compressed_payload(u, codec, twist)?
    };
    let count = pick_count(u, record_total as i32, twist)?;
    let last_offset_delta = pick_delta(u, count, twist)?;
    let base_offset = if twist == Twist::BaseOffset || u.ratio(1, 32)? {
        u.arbitrary::<i64>()?
    } else {
        0
    };
    let (producer_id, producer_epoch, base_sequence) = producer_fields(u, twist)?;
    let mut batch = Vec::with_capacity(HEADER_BYTES + body.len());
    batch.extend_from_slice(&base_offset.to_be_bytes());
    batch.extend_from_slice(&((HEADER_BYTES - OVERHEAD_BYTES + body.len()) as i32).to_be_bytes());
    batch.extend_from_slice(&u.arbitrary::<i32>()?.to_be_bytes()); // leader epoch
    batch.push(2);
    batch.extend_from_slice(&[0; 4]); // CRC, below
    batch.extend_from_slice(&attributes.to_be_bytes());
    batch.extend_from_slice(&last_offset_delta.to_be_bytes());
    batch.extend_from_slice(&u.arbitrary::<i64>()?.to_be_bytes()); // base timestamp
    batch.extend_from_slice(&u.arbitrary::<i64>()?.to_be_bytes()); // max timestamp
    batch.extend_from_slice(&producer_id.to_be_bytes());
    batch.extend_from_slice(&producer_epoch.to_be_bytes());
    batch.extend_from_slice(&base_sequence.to_be_bytes());
    batch.extend_from_slice(&count.to_be_bytes());
    batch.extend_from_slice(&body);
    let mut crc = crc32c::crc32c(&batch[21..]);
    if twist == Twist::Crc {
        crc ^= u.int_in_range(1..=u32::MAX)?;
    }
    batch[17..21].copy_from_slice(&crc.to_be_bytes());
    if twist == Twist::SecondBatch {
        let copy = batch.clone();
        match u.int_in_range(0..=2)? {
            0 => batch.extend_from_slice(&copy),
            1 => batch.extend_from_slice(&copy[..u.int_in_range(0..=copy.len() - 1)?]),
            _ => {
                let len = u.int_in_range(1..=PAYLOAD_BYTES_MAX)?;
                batch.extend_from_slice(u.bytes(len)?);
            }
        }
    }
    let limit = if u.ratio(1, 16)? {
        u.int_in_range(HEADER_BYTES..=HEADER_BYTES + 512)?
    } else {
        MAX_BATCH_BYTES
    };
    Ok((batch, limit))
}

/// Uncompressed records with offset deltas 0.., sometimes a length prefix
/// that lies or is no varint, sometimes stray bytes after them.
fn records(u: &mut Unstructured, total: usize, twist: Twist) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let lie_at = match twist {
        Twist::RecordLength if total > 0 => Some(u.int_in_range(0..=total - 1)?),
        _ => None,
    };
    for index in 0..total {
        let mut body = vec![0u8]; // attributes
        put_varint(&mut body, u.int_in_range(-3..=3)?); // timestamp delta
        put_varint(&mut body, index as i64);
        for _ in 0..2 {
            // key, value: null or bytes
            if u.ratio(1, 4)? {
                put_varint(&mut body, -1);
            } else {
                let len = u.int_in_range(0..=FIELD_BYTES_MAX)?;
                let bytes = u.bytes(len)?;
                put_varint(&mut body, bytes.len() as i64);
                body.extend_from_slice(bytes);
            }
        }
        put_varint(&mut body, 0); // headers
        if lie_at == Some(index) || u.ratio(1, 64)? {
            lying_length(u, &mut out, body.len())?;
        } else {
            put_varint(&mut out, body.len() as i64);
        }
        out.extend_from_slice(&body);
    }
    if twist == Twist::StrayBytes || u.ratio(1, 64)? {
        let len = u.int_in_range(1..=8)?;
        out.extend_from_slice(u.bytes(len)?);
    }
    Ok(out)
}

fn lying_length(u: &mut Unstructured, out: &mut Vec<u8>, real: usize) -> Result<()> {
    match u.int_in_range(0..=3)? {
        0 => put_varint(out, real as i64 + i64::from(u.int_in_range(-8..=8)?)),
        1 => put_varint(out, i64::from(u.arbitrary::<i32>()?)),
        2 => put_varint(out, u.arbitrary::<i64>()?), // may need more than 5 bytes
        _ => {
            let len = u.int_in_range(1..=6)?;
            out.extend_from_slice(u.bytes(len)?);
        }
    }
    Ok(())
}

/// A codec's frame magic (usually) and arbitrary bytes: never decompressed.
fn compressed_payload(u: &mut Unstructured, codec: u8, twist: Twist) -> Result<Vec<u8>> {
    let magic: &[u8] = match codec {
        1 => &[0x1f, 0x8b],
        3 => &[0x04, 0x22, 0x4d, 0x18],
        4 if u.ratio(1, 4)? => &[0x5c, 0x2a, 0x4d, 0x18],
        4 => &[0x28, 0xb5, 0x2f, 0xfd],
        _ => &[],
    };
    let mut out = Vec::new();
    if !(twist == Twist::Codec && u.ratio(1, 2)?) {
        out.extend_from_slice(magic);
    }
    let len = u.int_in_range(0..=PAYLOAD_BYTES_MAX)?;
    out.extend_from_slice(u.bytes(len)?);
    Ok(out)
}

fn pick_count(u: &mut Unstructured, records: i32, twist: Twist) -> Result<i32> {
    if twist != Twist::Count && !u.ratio(1, 32)? {
        return Ok(records);
    }
    Ok(match u.int_in_range(0..=4)? {
        0 => records + u.int_in_range(-3..=3)?,
        1 => 0,
        2 => i32::MAX,
        3 => i32::MIN,
        _ => u.arbitrary()?,
    })
}

fn pick_delta(u: &mut Unstructured, count: i32, twist: Twist) -> Result<i32> {
    if twist != Twist::LastOffsetDelta && !u.ratio(1, 32)? {
        return Ok(count.wrapping_sub(1));
    }
    Ok(match u.int_in_range(0..=3)? {
        0 => count.wrapping_add(u.int_in_range(-3..=3)?),
        1 => i32::MAX,
        2 => -1,
        _ => u.arbitrary()?,
    })
}

fn producer_fields(u: &mut Unstructured, twist: Twist) -> Result<(i64, i16, i32)> {
    let arbitrary = twist == Twist::ProducerFields || u.ratio(1, 32)?;
    Ok(match u.int_in_range(0..=2)? {
        _ if arbitrary => (
            *u.choose(&[-1, -2, 0, 7, i64::MIN, i64::MAX])?,
            *u.choose(&[-1, 0, 3, i16::MIN, i16::MAX])?,
            *u.choose(&[-1, 0, 9, i32::MIN, i32::MAX])?,
        ),
        0 => (-1, -1, -1),
        // Sarama and kafkajs without idempotence.
        1 => (-1, 0, 0),
        _ => (
            u.int_in_range(0..=i64::MAX)?,
            u.int_in_range(0..=i16::MAX)?,
            u.int_in_range(0..=i32::MAX)?,
        ),
    })
}

// ---------------------------------------------------------------- the reference

/// The header as the reference reads it.
#[derive(Debug)]
struct Header {
    base_offset: i64,
    last_offset_delta: i32,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    count: i32,
    attributes: i16,
}

type Broken = Vec<(i16, &'static str)>;

/// Every rule the bytes break, with the code Kafka answers for it; or the
/// header when none is broken. Slow and plain on purpose.
fn reference(bytes: &[u8], limit: usize) -> std::result::Result<Header, Broken> {
    let mut broken: Broken = Vec::new();
    // The builder always writes a whole header, magic 2 and a true length.
    let be = |at: usize, n: usize| -> i128 {
        let mut value: i128 = if bytes[at] & 0x80 != 0 { -1 } else { 0 };
        for byte in &bytes[at..at + n] {
            value = (value << 8) | i128::from(*byte);
        }
        value
    };
    let batch_len = OVERHEAD_BYTES + be(8, 4) as usize;
    let header = Header {
        base_offset: be(0, 8) as i64,
        last_offset_delta: be(23, 4) as i32,
        producer_id: be(43, 8) as i64,
        producer_epoch: be(51, 2) as i16,
        base_sequence: be(53, 4) as i32,
        count: be(57, 4) as i32,
        attributes: be(21, 2) as i16,
    };
    if batch_len > limit {
        broken.push((MESSAGE_TOO_LARGE, "larger than the limit"));
    }
    let crc_stored = be(17, 4) as u32;
    if crc32c::crc32c(&bytes[21..batch_len]) != crc_stored {
        broken.push((CORRUPT_MESSAGE, "CRC32C"));
    }
    if header.base_offset != 0 {
        broken.push((INVALID_RECORD, "base offset not 0"));
    }
    if header.count <= 0 {
        broken.push((INVALID_RECORD, "count not positive"));
    }
    if header.last_offset_delta < 0 {
        broken.push((INVALID_RECORD, "negative last offset delta"));
    }
    if i128::from(header.last_offset_delta) + 1 != i128::from(header.count) {
        broken.push((INVALID_RECORD, "offset range is not the count"));
    }
    if header.producer_id < -1 {
        broken.push((INVALID_RECORD, "producer id below -1"));
    }
    if header.producer_id >= 0 && header.producer_epoch < 0 {
        broken.push((INVALID_RECORD, "producer id without an epoch"));
    }
    if header.producer_id >= 0 && header.base_sequence < 0 {
        broken.push((INVALID_RECORD, "producer id without a sequence"));
    }
    let payload = &bytes[HEADER_BYTES..batch_len];
    match header.attributes & 7 {
        0 => {
            if let Some(why) = records_do_not_fit(payload, header.count) {
                broken.push((INVALID_RECORD, why));
            }
        }
        codec @ 1..=4 => broken.extend(compressed_breaks(codec, payload, header.count)),
        _ => broken.push((INVALID_RECORD, "unknown codec")),
    }
    let rest = &bytes[batch_len..];
    if !rest.is_empty() {
        // Bytes after the batch that are not a whole one: the broker refuses them as a
        // truncated batch, INVALID_RECORD like Kafka's "at least one record batch" check
        // (commit 24d264c). Kafka itself trims such bytes, or answers CORRUPT_MESSAGE when
        // their size field is below a record's minimum; a non-retriable refusal keeps a
        // client from retrying a malformed request until its delivery timeout.
        broken.push(if is_whole_batch(rest) {
            (INVALID_RECORD, "a second batch")
        } else {
            (INVALID_RECORD, "trailing bytes")
        });
    }
    if broken.is_empty() {
        Ok(header)
    } else {
        Err(broken)
    }
}

/// Reads `count` records by their length prefixes; `None` when they end
/// exactly at the end of `payload`.
fn records_do_not_fit(payload: &[u8], count: i32) -> Option<&'static str> {
    let mut at = 0usize;
    for _ in 0..count.max(0) {
        if at == payload.len() {
            return Some("fewer records than the count");
        }
        let mut prefix: Vec<u8> = Vec::new();
        loop {
            let Some(&byte) = payload.get(at) else {
                return Some("a length prefix cut off");
            };
            at += 1;
            prefix.push(byte);
            if byte & 0x80 == 0 {
                break;
            }
            if prefix.len() == 5 {
                return Some("a length prefix longer than 5 bytes");
            }
        }
        // Kafka keeps the low 32 bits, then undoes the zigzag.
        let mut raw: u64 = 0;
        for (i, byte) in prefix.iter().enumerate() {
            raw += u64::from(byte & 0x7f) << (7 * i);
        }
        let raw = raw as u32;
        let length = i64::from((raw >> 1) as i32) * if raw & 1 == 1 { -1 } else { 1 }
            - if raw & 1 == 1 { 1 } else { 0 };
        if length < SMALLEST_RECORD_BODY || length > (payload.len() - at) as i64 {
            return Some("a record length that does not fit");
        }
        at += length as usize;
    }
    (at != payload.len()).then_some("bytes after the last record")
}

fn compressed_breaks(codec: i16, payload: &[u8], count: i32) -> Broken {
    let magic_ok = match codec {
        1 => payload.len() >= 2 && payload[0] == 0x1f && payload[1] == 0x8b,
        3 => payload.len() >= 4 && payload[..4] == [0x04, 0x22, 0x4d, 0x18],
        4 => {
            payload.len() >= 4
                && (payload[..4] == [0x28, 0xb5, 0x2f, 0xfd]
                    || (payload[0] >> 4 == 5 && payload[1..4] == [0x2a, 0x4d, 0x18]))
        }
        _ => !payload.is_empty(),
    };
    let mut broken = Broken::new();
    if !magic_ok {
        broken.push((
            CORRUPT_MESSAGE,
            "compressed payload is no frame of its codec",
        ));
    }
    if count > 0
        && count as u128 * SMALLEST_RECORD > payload.len() as u128 * HIGHEST_COMPRESSION_RATIO
    {
        broken.push((INVALID_RECORD, "more records than the payload can hold"));
    }
    broken
}

fn is_whole_batch(rest: &[u8]) -> bool {
    if rest.len() < HEADER_BYTES || rest[16] != 2 {
        return false;
    }
    let length = i32::from_be_bytes([rest[8], rest[9], rest[10], rest[11]]);
    length >= (HEADER_BYTES - OVERHEAD_BYTES) as i32
        && rest.len() >= OVERHEAD_BYTES + length as usize
}

/// An accepted batch is reported as the reference read it.
fn check_reported(info: &BatchInfo, header: &Header, bytes: usize) {
    assert_eq!(info.position, 0);
    assert_eq!(info.len, bytes);
    assert_eq!(info.base_offset, header.base_offset);
    assert_eq!(info.last_offset_delta, header.last_offset_delta);
    assert_eq!(info.record_count, header.count);
    assert_eq!(
        info.offset_count(),
        i64::from(header.count),
        "offsets charged"
    );
    assert_eq!(info.producer_id, header.producer_id);
    assert_eq!(info.producer_epoch, header.producer_epoch);
    assert_eq!(info.base_sequence, header.base_sequence);
    assert_eq!(info.attributes, header.attributes);
}
