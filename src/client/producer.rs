//! Produce for the `millrace produce` tool: record batches built with
//! kafka-protocol's `RecordBatchEncoder` (any compression it supports) and
//! sent to a partition's leader with the chosen acks.
//!
//! This is a command-line tool's path, not the broker's: records are owned
//! and copied into the batch.

use super::{frame, ClientError, KafkaClient};
use bytes::{Bytes, BytesMut};
use indexmap::IndexMap;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ProduceRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    NO_PARTITION_LEADER_EPOCH, NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE,
};
use std::io::Write;

/// Record batch format version (magic) written: v2, the only one since Kafka 0.11.
const RECORD_BATCH_VERSION: i8 = 2;
/// Produce v13 addresses topics by id; v12 is the last by name.
const PRODUCE_MAX_VERSION: i16 = 12;

/// One record to produce.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProducerRecord {
    /// The key, if any.
    pub key: Option<Bytes>,
    /// The value (`None` is a tombstone).
    pub value: Option<Bytes>,
    /// Headers in order; a later duplicate key replaces an earlier one.
    pub headers: Vec<(String, Bytes)>,
}

/// How many acknowledgements the leader waits for before answering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acks {
    /// No answer at all (fire and forget).
    None,
    /// The leader has appended the records.
    Leader,
    /// Every in-sync replica has them.
    All,
}

impl Acks {
    /// The wire value: 0, 1 or -1.
    pub fn wire_value(self) -> i16 {
        match self {
            Acks::None => 0,
            Acks::Leader => 1,
            Acks::All => -1,
        }
    }

    /// Parses `0`, `1`, `-1` or `all`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "0" => Some(Acks::None),
            "1" => Some(Acks::Leader),
            "-1" | "all" => Some(Acks::All),
            _ => None,
        }
    }
}

/// Parses a compression name: none, gzip, snappy, lz4 or zstd.
pub fn parse_compression(text: &str) -> Option<Compression> {
    match text {
        "none" => Some(Compression::None),
        "gzip" => Some(Compression::Gzip),
        "snappy" => Some(Compression::Snappy),
        "lz4" => Some(Compression::Lz4),
        "zstd" => Some(Compression::Zstd),
        _ => None,
    }
}

/// One v2 record batch holding `records`, stamped `timestamp_ms`.
pub fn encode_batch(
    records: &[ProducerRecord],
    compression: Compression,
    timestamp_ms: i64,
) -> Result<Bytes, ClientError> {
    let owned: Vec<Record> = records
        .iter()
        .zip(0i64..)
        .map(|(record, offset)| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
            producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            timestamp_type: TimestampType::Creation,
            offset,
            // The encoder starts a new batch when offset - sequence changes;
            // this keeps one batch (Kafka wants one per partition) whose base
            // sequence is NO_SEQUENCE, as a non-idempotent producer sends.
            sequence: i32::try_from(offset)
                .unwrap_or(i32::MAX)
                .wrapping_add(NO_SEQUENCE),
            timestamp: timestamp_ms,
            key: record.key.clone(),
            value: record.value.clone(),
            headers: record
                .headers
                .iter()
                .map(|(k, v)| (StrBytes::from_string(k.clone()), Some(v.clone())))
                .collect::<IndexMap<_, _>>(),
        })
        .collect();
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version: RECORD_BATCH_VERSION,
        compression,
    };
    RecordBatchEncoder::encode(&mut buf, &owned, &options)
        .map_err(|e| ClientError::Protocol(format!("encoding a record batch: {e}")))?;
    Ok(buf.freeze())
}

/// Kafka's murmur2 hash, as its default partitioner uses for keyed records.
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let mut h: u32 = SEED ^ (data.len() as u32);
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = chunks.remainder();
    if tail.len() >= 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if !tail.is_empty() {
        h ^= u32::from(tail[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The partition Kafka's default partitioner picks for `key`.
pub fn partition_for_key(key: &[u8], partition_count: i32) -> i32 {
    (murmur2(key) & 0x7fff_ffff) % partition_count.max(1)
}

impl KafkaClient {
    /// Sends `batch` to `partition` of `topic` (send it to the leader).
    /// Returns the base offset, or `None` with acks 0 (no answer comes).
    pub fn produce_batch(
        &mut self,
        topic: &str,
        partition: i32,
        batch: Bytes,
        acks: Acks,
        timeout_ms: i32,
    ) -> Result<Option<i64>, ClientError> {
        let version = self
            .required_version::<ProduceRequest>()?
            .min(PRODUCE_MAX_VERSION);
        let request = ProduceRequest::default()
            .with_acks(acks.wire_value())
            .with_timeout_ms(timeout_ms)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                .with_partition_data(vec![PartitionProduceData::default()
                    .with_index(partition)
                    .with_records(Some(batch))])]);
        if acks == Acks::None {
            // The broker sends nothing back for acks=0: write and return.
            let correlation_id = self.next_correlation_id;
            self.next_correlation_id = self.next_correlation_id.wrapping_add(1);
            let bytes = frame::encode_request(&request, version, correlation_id, super::CLIENT_ID)?;
            self.stream.write_all(&bytes)?;
            return Ok(None);
        }
        let response = self.send_at(version, &request)?;
        let answer = response
            .responses
            .iter()
            .filter(|t| t.name.0.as_str() == topic)
            .flat_map(|t| t.partition_responses.iter())
            .find(|p| p.index == partition)
            .ok_or_else(|| {
                ClientError::Protocol(format!(
                    "Produce answer has no entry for {topic}[{partition}]"
                ))
            })?;
        ClientError::check(answer.error_code, answer.error_message.as_ref())?;
        Ok(Some(answer.base_offset))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::records::RecordBatchDecoder;

    #[test]
    fn murmur2_matches_kafkas_test_vectors() {
        // From Kafka's UtilsTest.testMurmur2.
        assert_eq!(murmur2(b"21"), -973932308);
        assert_eq!(murmur2(b"foobar"), -790332482);
        assert_eq!(murmur2(b"a-little-bit-long-string"), -985981536);
        assert_eq!(murmur2(b"a-little-bit-longer-string"), -1486304829);
        assert_eq!(
            murmur2(b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8"),
            -58897971
        );
        assert_eq!(murmur2(b"abc"), 479470107);
    }

    #[test]
    fn batches_round_trip_with_every_compression() {
        let records = vec![
            ProducerRecord {
                key: Some(Bytes::from_static(b"k")),
                value: Some(Bytes::from_static(b"v1")),
                headers: vec![("h".into(), Bytes::from_static(b"x"))],
            },
            ProducerRecord {
                key: None,
                value: Some(Bytes::from_static(b"v2")),
                headers: Vec::new(),
            },
        ];
        for name in ["none", "gzip", "snappy", "lz4", "zstd"] {
            let compression = parse_compression(name).unwrap();
            let batch = encode_batch(&records, compression, 1234).unwrap();
            let infos = RecordBatchDecoder::decode_batch_info(&mut batch.clone()).unwrap();
            assert_eq!(infos.len(), 1, "one batch per partition");
            assert_eq!(infos[0].base_sequence, NO_SEQUENCE);
            assert_eq!(infos[0].producer_id, NO_PRODUCER_ID);
            let decoded = RecordBatchDecoder::decode(&mut batch.clone()).unwrap();
            assert_eq!(decoded.compression, compression);
            assert_eq!(decoded.records.len(), 2);
            assert_eq!(decoded.records[0].key.as_deref(), Some(&b"k"[..]));
            assert_eq!(decoded.records[1].value.as_deref(), Some(&b"v2"[..]));
            assert_eq!(decoded.records[1].offset, 1);
            assert_eq!(decoded.records[0].timestamp, 1234);
        }
    }

    #[test]
    fn acks_parse_the_kafka_spellings() {
        assert_eq!(Acks::parse("all"), Some(Acks::All));
        assert_eq!(Acks::parse("-1").map(Acks::wire_value), Some(-1));
        assert_eq!(Acks::parse("0"), Some(Acks::None));
        assert_eq!(Acks::parse("2"), None);
    }
}
