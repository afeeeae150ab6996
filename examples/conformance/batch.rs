//! Record batch v2 headers: read to compare, rewritten to build the corpus's bad batches and to
//! give replayed batches the producer id each broker handed out.

use bytes::Bytes;

/// Bytes before `batchLength`'s count starts (base offset and the length itself).
const LOG_OVERHEAD_BYTES: usize = 12;
/// A v2 batch header, up to the first record.
pub const HEADER_BYTES: usize = 61;
const PARTITION_LEADER_EPOCH_AT: usize = 12;
const MAGIC_AT: usize = 16;
const CRC_AT: usize = 17;
/// The CRC covers everything from the attributes on.
const ATTRIBUTES_AT: usize = 21;
const LAST_OFFSET_DELTA_AT: usize = 23;
const BASE_TIMESTAMP_AT: usize = 27;
const MAX_TIMESTAMP_AT: usize = 35;
const PRODUCER_ID_AT: usize = 43;
const PRODUCER_EPOCH_AT: usize = 51;
const BASE_SEQUENCE_AT: usize = 53;
const RECORD_COUNT_AT: usize = 57;

/// The fixed fields of one v2 record batch.
pub struct Header {
    base_offset: i64,
    batch_length: i32,
    partition_leader_epoch: i32,
    magic: i8,
    crc: u32,
    records_crc: u32,
    attributes: i16,
    last_offset_delta: i32,
    base_timestamp: i64,
    max_timestamp: i64,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    record_count: i32,
}

fn i16_at(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}
fn i32_at(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn i64_at(b: &[u8], at: usize) -> i64 {
    let mut raw = [0u8; 8];
    raw.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(raw)
}

impl Header {
    /// The header at the start of `bytes` and the whole batch's size, if a full header is there.
    pub fn parse(bytes: &[u8]) -> Option<(Header, usize)> {
        if bytes.len() < HEADER_BYTES {
            return None;
        }
        let batch_length = i32_at(bytes, 8);
        let size = LOG_OVERHEAD_BYTES + usize::try_from(batch_length).ok()?;
        let header = Header {
            base_offset: i64_at(bytes, 0),
            batch_length,
            partition_leader_epoch: i32_at(bytes, PARTITION_LEADER_EPOCH_AT),
            magic: bytes[MAGIC_AT] as i8,
            crc: u32::from_be_bytes([
                bytes[CRC_AT],
                bytes[CRC_AT + 1],
                bytes[CRC_AT + 2],
                bytes[CRC_AT + 3],
            ]),
            records_crc: crc32c::crc32c(
                &bytes[HEADER_BYTES..size.clamp(HEADER_BYTES, bytes.len())],
            ),
            attributes: i16_at(bytes, ATTRIBUTES_AT),
            last_offset_delta: i32_at(bytes, LAST_OFFSET_DELTA_AT),
            base_timestamp: i64_at(bytes, BASE_TIMESTAMP_AT),
            max_timestamp: i64_at(bytes, MAX_TIMESTAMP_AT),
            producer_id: i64_at(bytes, PRODUCER_ID_AT),
            producer_epoch: i16_at(bytes, PRODUCER_EPOCH_AT),
            base_sequence: i32_at(bytes, BASE_SEQUENCE_AT),
            record_count: i32_at(bytes, RECORD_COUNT_AT),
        };
        Some((header, size))
    }

    /// The producer id and epoch the batch carries.
    pub fn producer(&self) -> (i64, i16) {
        (self.producer_id, self.producer_epoch)
    }

    /// Every field by name.
    pub fn fields(&self) -> Vec<(&'static str, String)> {
        vec![
            ("base_offset", self.base_offset.to_string()),
            ("batch_length", self.batch_length.to_string()),
            (
                "partition_leader_epoch",
                self.partition_leader_epoch.to_string(),
            ),
            ("magic", self.magic.to_string()),
            ("crc", self.crc.to_string()),
            // The records alone: equal when only header fields (producer id) differ.
            ("records_crc", self.records_crc.to_string()),
            ("attributes", self.attributes.to_string()),
            ("last_offset_delta", self.last_offset_delta.to_string()),
            ("base_timestamp", self.base_timestamp.to_string()),
            ("max_timestamp", self.max_timestamp.to_string()),
            ("producer_id", self.producer_id.to_string()),
            ("producer_epoch", self.producer_epoch.to_string()),
            ("base_sequence", self.base_sequence.to_string()),
            ("record_count", self.record_count.to_string()),
        ]
    }
}

/// A change to one batch header; `rewrite` applies it and recomputes the CRC.
#[derive(Clone, Copy)]
pub enum Edit {
    /// Producer id and epoch (an idempotent producer's).
    Producer(i64, i16),
    /// The first record's sequence number.
    BaseSequence(i32),
    /// `lastOffsetDelta`, left inconsistent with the records.
    LastOffsetDelta(i32),
    /// The record count, left inconsistent with the records.
    RecordCount(i32),
    /// The base offset a client sends (Kafka expects 0).
    BaseOffset(i64),
}

/// Every batch in `batches` with `edits` applied and a correct CRC.
pub fn rewrite(batches: &Bytes, edits: &[Edit]) -> Bytes {
    let mut out = batches.to_vec();
    let mut at = 0;
    while let Some((_, size)) = Header::parse(&out[at..]) {
        let end = (at + size).min(out.len());
        let batch = &mut out[at..end];
        for edit in edits {
            apply(batch, *edit);
        }
        let crc = crc32c::crc32c(&batch[ATTRIBUTES_AT..]);
        batch[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
        at = end;
    }
    Bytes::from(out)
}

fn apply(batch: &mut [u8], edit: Edit) {
    match edit {
        Edit::Producer(id, epoch) => {
            batch[PRODUCER_ID_AT..PRODUCER_ID_AT + 8].copy_from_slice(&id.to_be_bytes());
            batch[PRODUCER_EPOCH_AT..PRODUCER_EPOCH_AT + 2].copy_from_slice(&epoch.to_be_bytes());
        }
        Edit::BaseSequence(sequence) => {
            batch[BASE_SEQUENCE_AT..BASE_SEQUENCE_AT + 4].copy_from_slice(&sequence.to_be_bytes())
        }
        Edit::LastOffsetDelta(delta) => batch[LAST_OFFSET_DELTA_AT..LAST_OFFSET_DELTA_AT + 4]
            .copy_from_slice(&delta.to_be_bytes()),
        Edit::RecordCount(count) => {
            batch[RECORD_COUNT_AT..RECORD_COUNT_AT + 4].copy_from_slice(&count.to_be_bytes())
        }
        Edit::BaseOffset(offset) => batch[..8].copy_from_slice(&offset.to_be_bytes()),
    }
}

/// `batches` with the first batch's CRC flipped: a corrupt batch.
pub fn with_bad_crc(batches: &Bytes) -> Bytes {
    let mut out = batches.to_vec();
    if out.len() >= HEADER_BYTES {
        out[CRC_AT] ^= 0xff;
    }
    Bytes::from(out)
}
