//! The harness's own wire encoding: Produce v3 requests carrying one record
//! batch (magic 2, CRC32C) written straight into a reused buffer, Fetch v4
//! requests, and minimal parsing of both answers.
//!
//! Produce v3 and Fetch v4 are the oldest versions Kafka 4 still accepts and
//! are non-flexible, so the encoding stays short and works against any
//! current broker. Nothing here allocates per record; compressed batches go
//! through per-writer buffers ([`super::codec`]) that are reused.

use crate::protocol::codec::{Codec, Compressor, Decompressor};
use crate::protocol::error_code;

/// Produce API key.
const API_PRODUCE: i16 = 0;
/// Fetch API key.
const API_FETCH: i16 = 1;
/// Produce version written by [`ProduceWriter`].
const PRODUCE_VERSION: i16 = 3;
/// Fetch version written by [`write_fetch_request`].
const FETCH_VERSION: i16 = 4;
/// `client.id` of the harness.
pub const CLIENT_ID: &str = "millrace-bench";
/// Bytes of a record batch header before the first record.
const BATCH_HEADER_BYTES: usize = 61;
/// Offset of the CRC field in a batch; the CRC covers everything after it.
const BATCH_CRC_OFFSET: usize = 17;
/// First byte covered by the CRC (the attributes field).
const BATCH_ATTRIBUTES_OFFSET: usize = 21;
/// Record batch magic byte written and accepted.
const MAGIC_V2: i8 = 2;
/// Attribute bits naming the compression codec.
const COMPRESSION_MASK: i16 = 0x7;
/// Attribute bit of a control batch (transaction markers).
const CONTROL_BIT: i16 = 0x20;
/// Bytes of the send timestamp at the start of every payload.
pub const PAYLOAD_TIMESTAMP_BYTES: usize = 8;

/// A malformed answer from the broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireError(pub String);

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "malformed response: {}", self.0)
    }
}

fn put_str(buf: &mut Vec<u8>, s: &str) {
    buf.extend_from_slice(&(s.len() as i16).to_be_bytes());
    buf.extend_from_slice(s.as_bytes());
}

fn put_varint(buf: &mut Vec<u8>, value: i64) {
    let mut zigzag = ((value << 1) ^ (value >> 63)) as u64;
    while zigzag >= 0x80 {
        buf.push((zigzag as u8) | 0x80);
        zigzag >>= 7;
    }
    buf.push(zigzag as u8);
}

fn patch_i32(buf: &mut [u8], at: usize, value: i32) {
    buf[at..at + 4].copy_from_slice(&value.to_be_bytes());
}

fn patch_i64(buf: &mut [u8], at: usize, value: i64) {
    buf[at..at + 8].copy_from_slice(&value.to_be_bytes());
}

fn put_header(buf: &mut Vec<u8>, api_key: i16, version: i16, correlation_id: i32) {
    buf.extend_from_slice(&0i32.to_be_bytes()); // size, patched at the end
    buf.extend_from_slice(&api_key.to_be_bytes());
    buf.extend_from_slice(&version.to_be_bytes());
    buf.extend_from_slice(&correlation_id.to_be_bytes());
    put_str(buf, CLIENT_ID);
}

/// The idempotence fields of a batch header: Kafka's producer id, its epoch
/// and the sequence number of the batch's first record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchProducer {
    /// Producer id from InitProducerId, or -1.
    pub id: i64,
    /// Producer epoch, or -1.
    pub epoch: i16,
    /// Sequence of the first record in this partition, or -1.
    pub base_sequence: i32,
}

impl BatchProducer {
    /// A producer without idempotence: every field is Kafka's "none" (-1).
    pub const NONE: BatchProducer = BatchProducer {
        id: -1,
        epoch: -1,
        base_sequence: -1,
    };
}

/// Builds one Produce request with one record batch for one partition, in a
/// buffer that is cleared and reused for every request.
#[derive(Debug, Default)]
pub struct ProduceWriter {
    buf: Vec<u8>,
    records_size_at: usize,
    batch_start: usize,
    record_count: i32,
    base_timestamp_ms: i64,
    /// Set for a compressing writer, with its reused output buffer.
    compressor: Option<Compressor>,
    compressed: Vec<u8>,
}

impl ProduceWriter {
    /// A writer whose buffer is sized for `batch_size` bytes of records.
    pub fn with_capacity(batch_size: usize) -> Self {
        ProduceWriter {
            buf: Vec::with_capacity(batch_size + 256),
            ..Default::default()
        }
    }

    /// A writer that compresses each batch's records with `codec`.
    pub fn with_codec(batch_size: usize, codec: Codec) -> Result<Self, String> {
        let mut writer = Self::with_capacity(batch_size);
        if codec != Codec::None {
            writer.compressor = Some(Compressor::new(codec)?);
            writer.compressed = Vec::with_capacity(batch_size + 256);
        }
        Ok(writer)
    }

    /// Starts a request; records follow with [`Self::push_record`].
    pub fn begin(
        &mut self,
        correlation_id: i32,
        acks: i16,
        timeout_ms: i32,
        topic: &str,
        partition: i32,
        base_timestamp_ms: i64,
    ) {
        let buf = &mut self.buf;
        buf.clear();
        put_header(buf, API_PRODUCE, PRODUCE_VERSION, correlation_id);
        buf.extend_from_slice(&(-1i16).to_be_bytes()); // transactional_id: null
        buf.extend_from_slice(&acks.to_be_bytes());
        buf.extend_from_slice(&timeout_ms.to_be_bytes());
        buf.extend_from_slice(&1i32.to_be_bytes()); // one topic
        put_str(buf, topic);
        buf.extend_from_slice(&1i32.to_be_bytes()); // one partition
        buf.extend_from_slice(&partition.to_be_bytes());
        self.records_size_at = buf.len();
        buf.extend_from_slice(&0i32.to_be_bytes());
        self.batch_start = buf.len();
        buf.resize(self.batch_start + BATCH_HEADER_BYTES, 0);
        self.record_count = 0;
        self.base_timestamp_ms = base_timestamp_ms;
    }

    /// Bytes of the batch so far: uncompressed records while filling, the
    /// whole batch as sent after [`Self::finish`].
    pub fn batch_bytes(&self) -> usize {
        self.buf.len() - self.batch_start
    }

    /// Appends a record whose value is `send_time_ns` (8 bytes, big endian)
    /// followed by `value_len - 8` bytes of `filler`.
    pub fn push_record(
        &mut self,
        timestamp_ms: i64,
        key: Option<&[u8]>,
        send_time_ns: u64,
        value_len: usize,
        filler: &[u8],
    ) {
        let key_len = key.map_or(0, <[u8]>::len);
        let body_len = 1
            + varint_len(timestamp_ms - self.base_timestamp_ms)
            + varint_len(self.record_count as i64)
            + varint_len(key.map_or(-1, |k| k.len() as i64))
            + key_len
            + varint_len(value_len as i64)
            + value_len
            + 1;
        let buf = &mut self.buf;
        put_varint(buf, body_len as i64);
        buf.push(0); // record attributes
        put_varint(buf, timestamp_ms - self.base_timestamp_ms);
        put_varint(buf, self.record_count as i64);
        match key {
            Some(k) => {
                put_varint(buf, k.len() as i64);
                buf.extend_from_slice(k);
            }
            None => put_varint(buf, -1),
        }
        put_varint(buf, value_len as i64);
        buf.extend_from_slice(&send_time_ns.to_be_bytes());
        buf.extend_from_slice(&filler[..value_len - PAYLOAD_TIMESTAMP_BYTES]);
        buf.push(0); // no headers
        self.record_count += 1;
    }

    /// Records pushed since `begin`.
    pub fn record_count(&self) -> i32 {
        self.record_count
    }

    /// The request frame as [`Self::finish`] left it.
    pub fn frame(&self) -> &[u8] {
        &self.buf
    }

    /// Completes the batch (compression, idempotence fields, lengths, CRC)
    /// and returns the whole request frame.
    pub fn finish(
        &mut self,
        max_timestamp_ms: i64,
        producer: BatchProducer,
    ) -> Result<&[u8], String> {
        let start = self.batch_start;
        let mut attributes = 0i16;
        if let Some(compressor) = self.compressor.as_mut() {
            // Only the records section is compressed; the header stays readable.
            let records_at = start + BATCH_HEADER_BYTES;
            compressor.compress(&self.buf[records_at..], &mut self.compressed)?;
            self.buf.truncate(records_at);
            self.buf.extend_from_slice(&self.compressed);
            attributes = compressor.codec().attribute();
        }
        let batch_len = self.buf.len() - start;
        let buf = &mut self.buf;
        let size = buf.len() as i32 - 4;
        patch_i32(buf, 0, size);
        patch_i32(buf, self.records_size_at, batch_len as i32);
        let batch = &mut buf[start..];
        patch_i64(batch, 0, 0);
        patch_i32(batch, 8, (batch_len - 12) as i32);
        patch_i32(batch, 12, -1);
        batch[16] = MAGIC_V2 as u8;
        batch[21..23].copy_from_slice(&attributes.to_be_bytes());
        patch_i32(batch, 23, self.record_count - 1);
        patch_i64(batch, 27, self.base_timestamp_ms);
        patch_i64(batch, 35, max_timestamp_ms);
        patch_i64(batch, 43, producer.id);
        batch[51..53].copy_from_slice(&producer.epoch.to_be_bytes());
        patch_i32(batch, 53, producer.base_sequence);
        patch_i32(batch, 57, self.record_count);
        let crc = crc32c::crc32c(&batch[BATCH_ATTRIBUTES_OFFSET..]);
        batch[BATCH_CRC_OFFSET..BATCH_CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
        Ok(&self.buf)
    }
}

fn varint_len(value: i64) -> usize {
    let mut zigzag = ((value << 1) ^ (value >> 63)) as u64;
    let mut len = 1;
    while zigzag >= 0x80 {
        zigzag >>= 7;
        len += 1;
    }
    len
}

/// A cursor over a response body with bounds-checked reads.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|end| *end <= self.buf.len())
            .ok_or_else(|| WireError(format!("truncated at byte {}", self.pos)))?;
        let slice = &self.buf[self.pos..end];
        self.pos = end;
        Ok(slice)
    }
    fn i16(&mut self) -> Result<i16, WireError> {
        let b = self.take(2)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }
    fn i32(&mut self) -> Result<i32, WireError> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn i64(&mut self) -> Result<i64, WireError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(i64::from_be_bytes(a))
    }
    fn skip_str(&mut self) -> Result<(), WireError> {
        let len = self.i16()?;
        if len > 0 {
            self.take(len as usize)?;
        }
        Ok(())
    }
    fn count(&mut self) -> Result<usize, WireError> {
        let n = self.i32()?;
        // Every array element takes at least one byte: a larger count is garbage.
        if n > 0 && n as usize > self.buf.len() {
            return Err(WireError(format!("array count {n} exceeds the frame")));
        }
        Ok(n.max(0) as usize)
    }
    fn varint(&mut self) -> Result<i64, WireError> {
        let mut value: u64 = 0;
        for shift in (0..64).step_by(7) {
            let byte = self.take(1)?[0];
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(((value >> 1) as i64) ^ -((value & 1) as i64));
            }
        }
        Err(WireError("varint longer than 10 bytes".to_string()))
    }
}

/// The correlation id at the start of a response body.
pub fn correlation_id(body: &[u8]) -> Result<i32, WireError> {
    Reader { buf: body, pos: 0 }.i32()
}

/// The first partition error code of a Produce v3 answer, or NONE.
pub fn produce_error_code(body: &[u8]) -> Result<i16, WireError> {
    let mut r = Reader { buf: body, pos: 4 };
    let mut first_error = error_code::NONE;
    for _ in 0..r.count()? {
        r.skip_str()?;
        for _ in 0..r.count()? {
            r.i32()?;
            let code = r.i16()?;
            r.i64()?;
            r.i64()?;
            if first_error == error_code::NONE {
                first_error = code;
            }
        }
    }
    Ok(first_error)
}

/// One topic of a Fetch request: its name and (partition, fetch offset) pairs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchTopic {
    /// Topic name.
    pub name: String,
    /// Partition index and the next offset to fetch.
    pub partitions: Vec<(i32, i64)>,
}

/// Writes a whole Fetch v4 request frame into `buf` (cleared first).
pub fn write_fetch_request(
    buf: &mut Vec<u8>,
    correlation_id: i32,
    max_wait_ms: i32,
    max_bytes: i32,
    partition_max_bytes: i32,
    topics: &[FetchTopic],
) {
    buf.clear();
    put_header(buf, API_FETCH, FETCH_VERSION, correlation_id);
    buf.extend_from_slice(&(-1i32).to_be_bytes()); // replica id: a consumer
    buf.extend_from_slice(&max_wait_ms.to_be_bytes());
    buf.extend_from_slice(&1i32.to_be_bytes()); // min bytes
    buf.extend_from_slice(&max_bytes.to_be_bytes());
    buf.push(0); // read uncommitted
    buf.extend_from_slice(&(topics.len() as i32).to_be_bytes());
    for topic in topics {
        put_str(buf, &topic.name);
        buf.extend_from_slice(&(topic.partitions.len() as i32).to_be_bytes());
        for (partition, offset) in &topic.partitions {
            buf.extend_from_slice(&partition.to_be_bytes());
            buf.extend_from_slice(&offset.to_be_bytes());
            buf.extend_from_slice(&partition_max_bytes.to_be_bytes());
        }
    }
    let size = buf.len() as i32 - 4;
    patch_i32(buf, 0, size);
}

/// What a Fetch answer said about one requested partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchedPartition {
    /// Index of the topic in the request.
    pub topic_index: usize,
    /// Partition index.
    pub partition: i32,
    /// Kafka error code.
    pub error_code: i16,
    /// Offset after the last complete batch, when any batch came back.
    pub next_offset: Option<i64>,
}

/// Walks a Fetch v4 answer: calls `on_record(send_time_ns, value_len)` for
/// each record of each complete data batch (decompressed with
/// `decompressor` when compressed) and `on_partition` once per partition
/// afterwards.
pub fn parse_fetch_response(
    body: &[u8],
    decompressor: &mut Decompressor,
    mut on_record: impl FnMut(u64, usize),
    on_partition: impl FnMut(FetchedPartition),
) -> Result<(), WireError> {
    walk_fetch_response(body, Some((decompressor, &mut on_record)), on_partition)
}

/// Walks a Fetch v4 answer's partitions and batch headers only (no record
/// is decoded): `on_partition` once per partition, with its next offset.
/// Cheap, so the next Fetch can go out before the records are read.
pub fn fetch_positions(
    body: &[u8],
    on_partition: impl FnMut(FetchedPartition),
) -> Result<(), WireError> {
    walk_fetch_response::<fn(u64, usize)>(body, None, on_partition)
}

/// Decompressor and record callback of a walk that reads the records.
type RecordSink<'a, F> = Option<(&'a mut Decompressor, &'a mut F)>;

fn walk_fetch_response<F: FnMut(u64, usize)>(
    body: &[u8],
    mut records_to: RecordSink<'_, F>,
    mut on_partition: impl FnMut(FetchedPartition),
) -> Result<(), WireError> {
    let mut r = Reader { buf: body, pos: 4 };
    r.i32()?; // throttle time
    for topic_index in 0..r.count()? {
        r.skip_str()?;
        for _ in 0..r.count()? {
            let partition = r.i32()?;
            let error_code = r.i16()?;
            r.i64()?; // high watermark
            r.i64()?; // last stable offset
            let aborted = r.i32()?;
            if aborted > 0 {
                r.take(aborted as usize * 16)?;
            }
            let records_len = r.i32()?;
            let records = if records_len > 0 {
                r.take(records_len as usize)?
            } else {
                &[][..]
            };
            let next_offset = walk_batches(records, &mut records_to)?;
            on_partition(FetchedPartition {
                topic_index,
                partition,
                error_code,
                next_offset,
            });
        }
    }
    Ok(())
}

/// Walks complete batches (their records too when `records_to` is given);
/// a partial batch at the end is normal and ignored.
fn walk_batches<F: FnMut(u64, usize)>(
    records: &[u8],
    records_to: &mut RecordSink<'_, F>,
) -> Result<Option<i64>, WireError> {
    let mut r = Reader {
        buf: records,
        pos: 0,
    };
    let mut next_offset = None;
    while records.len() - r.pos >= BATCH_HEADER_BYTES {
        let start = r.pos;
        let base_offset = r.i64()?;
        let batch_len = r.i32()?;
        let end = start + 12 + batch_len.max(0) as usize;
        if end > records.len() {
            break;
        }
        let batch = &records[start..end];
        let magic = batch[16] as i8;
        if magic != MAGIC_V2 {
            return Err(WireError(format!("record batch magic {magic}")));
        }
        let mut h = Reader {
            buf: batch,
            pos: 21,
        };
        let attributes = h.i16()?;
        let last_offset_delta = h.i32()?;
        h.pos = 57;
        let count = h.count()?;
        let codec = Codec::from_attribute(attributes & COMPRESSION_MASK)
            .ok_or_else(|| WireError(format!("batch attributes {attributes:#x}")))?;
        if let Some((decompressor, on_record)) = records_to.as_mut() {
            if attributes & CONTROL_BIT == 0 {
                let records = &batch[BATCH_HEADER_BYTES..];
                let records = match codec {
                    Codec::None => records,
                    _ => decompressor
                        .decompress(codec, records)
                        .map_err(|e| WireError(format!("batch at offset {base_offset}: {e}")))?,
                };
                walk_records(records, count, &mut **on_record)?;
            }
        }
        next_offset = Some(base_offset + i64::from(last_offset_delta) + 1);
        r.pos = end;
    }
    Ok(next_offset)
}

fn walk_records(
    records: &[u8],
    count: usize,
    on_record: &mut impl FnMut(u64, usize),
) -> Result<(), WireError> {
    let mut r = Reader {
        buf: records,
        pos: 0,
    };
    for _ in 0..count {
        let len = r.varint()?;
        let record_end = r.pos + len.max(0) as usize;
        r.take(1)?; // attributes
        r.varint()?; // timestamp delta
        r.varint()?; // offset delta
        let key_len = r.varint()?;
        if key_len > 0 {
            r.take(key_len as usize)?;
        }
        let value_len = r.varint()?.max(0) as usize;
        let value = r.take(value_len)?;
        let send_time_ns = if value.len() >= PAYLOAD_TIMESTAMP_BYTES {
            let mut a = [0u8; 8];
            a.copy_from_slice(&value[..PAYLOAD_TIMESTAMP_BYTES]);
            u64::from_be_bytes(a)
        } else {
            0
        };
        on_record(send_time_ns, value_len);
        if record_end > records.len() {
            return Err(WireError("record runs past its batch".to_string()));
        }
        r.pos = record_end;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk_all(
        batch: &[u8],
        d: &mut Decompressor,
        on_record: &mut impl FnMut(u64, usize),
    ) -> Result<Option<i64>, WireError> {
        walk_batches(batch, &mut Some((d, on_record)))
    }

    #[test]
    fn varints_round_trip() {
        for value in [0i64, 1, -1, 63, 64, -65, 300, i32::MAX as i64, -(1 << 40)] {
            let mut buf = Vec::new();
            put_varint(&mut buf, value);
            assert_eq!(buf.len(), varint_len(value));
            let mut r = Reader { buf: &buf, pos: 0 };
            assert_eq!(r.varint().unwrap(), value);
        }
    }

    #[test]
    fn a_produced_batch_parses_back_with_its_timestamps_and_crc() {
        let filler = vec![b'x'; 100];
        let mut w = ProduceWriter::with_capacity(4096);
        w.begin(7, -1, 30_000, "t", 2, 1_000);
        w.push_record(1_000, None, 11, 20, &filler);
        w.push_record(1_001, Some(b"key"), 22, 50, &filler);
        let frame = w.finish(1_001, BatchProducer::NONE).unwrap().to_vec();
        assert_eq!(
            i32::from_be_bytes(frame[0..4].try_into().unwrap()) as usize,
            frame.len() - 4
        );
        // The batch is the tail of the frame.
        let batch_len = w.batch_bytes();
        let batch = &frame[frame.len() - batch_len..];
        let crc = u32::from_be_bytes(batch[17..21].try_into().unwrap());
        assert_eq!(crc, crc32c::crc32c(&batch[21..]));
        let mut seen = Vec::new();
        let mut d = Decompressor::new().unwrap();
        let next = walk_all(batch, &mut d, &mut |ts, len| seen.push((ts, len))).unwrap();
        assert_eq!(seen, vec![(11, 20), (22, 50)]);
        assert_eq!(next, Some(2));
        // Positions alone come from the batch headers, no record read.
        assert_eq!(
            walk_batches::<fn(u64, usize)>(batch, &mut None).unwrap(),
            Some(2)
        );
        // A truncated batch is left for the next fetch, not an error.
        assert_eq!(
            walk_all(&batch[..batch.len() - 1], &mut d, &mut |_, _| {}).unwrap(),
            None
        );
    }

    #[test]
    fn compressed_idempotent_batches_decode_with_kafka_protocol_and_here() {
        use kafka_protocol::records::{Compression, RecordBatchDecoder};
        let filler: Vec<u8> = (0..300u32).map(|i| b'a' + (i % 7) as u8).collect();
        let codecs = [
            (Codec::Gzip, Compression::Gzip),
            (Codec::Snappy, Compression::Snappy),
            (Codec::Lz4, Compression::Lz4),
            (Codec::Zstd, Compression::Zstd),
        ];
        let producer = BatchProducer {
            id: 42,
            epoch: 3,
            base_sequence: 100,
        };
        let mut d = Decompressor::new().unwrap();
        for (codec, expected) in codecs {
            let mut w = ProduceWriter::with_codec(64 * 1024, codec).unwrap();
            // Twice: the second batch reuses the writer's buffers.
            for _ in 0..2 {
                w.begin(1, -1, 30_000, "t", 0, 5_000);
                for i in 0..50u64 {
                    w.push_record(5_000 + i as i64, None, 1_000 + i, 300, &filler);
                }
                let uncompressed = w.batch_bytes();
                let frame = w.finish(5_049, producer).unwrap().to_vec();
                let batch = &frame[frame.len() - w.batch_bytes()..];
                assert!(
                    w.batch_bytes() < uncompressed / 2,
                    "{codec:?} did not compress"
                );
                let mut bytes = bytes::Bytes::copy_from_slice(batch);
                let set = RecordBatchDecoder::decode(&mut bytes).unwrap();
                assert_eq!(set.compression, expected);
                assert_eq!(set.records.len(), 50);
                for (i, record) in set.records.iter().enumerate() {
                    assert_eq!(record.producer_id, 42);
                    assert_eq!(record.producer_epoch, 3);
                    assert_eq!(record.sequence, 100 + i as i32);
                    assert_eq!(record.offset, i as i64);
                    let value = record.value.as_ref().unwrap();
                    assert_eq!(value[..8], (1_000 + i as u64).to_be_bytes());
                }
                let mut seen = Vec::new();
                walk_all(batch, &mut d, &mut |ts, len| seen.push((ts, len))).unwrap();
                assert_eq!(seen.len(), 50);
                assert_eq!(seen[49], (1_049, 300));
            }
        }
    }

    #[test]
    fn produce_answer_error_code_is_found() {
        let mut body = Vec::new();
        body.extend_from_slice(&5i32.to_be_bytes());
        body.extend_from_slice(&1i32.to_be_bytes());
        put_str(&mut body, "t");
        body.extend_from_slice(&1i32.to_be_bytes());
        body.extend_from_slice(&0i32.to_be_bytes());
        body.extend_from_slice(&3i16.to_be_bytes());
        body.extend_from_slice(&(-1i64).to_be_bytes());
        body.extend_from_slice(&(-1i64).to_be_bytes());
        body.extend_from_slice(&0i32.to_be_bytes());
        assert_eq!(correlation_id(&body).unwrap(), 5);
        assert_eq!(produce_error_code(&body).unwrap(), 3);
        assert!(produce_error_code(&body[..10]).is_err());
    }
}
