//! Fetch for the `millrace consume` tool: one Fetch request per leader and
//! topic, record batches decoded (and decompressed) with kafka-protocol's
//! `RecordBatchDecoder`.
//!
//! Brokers may cut the last batch of a partition short at the size limit;
//! the incomplete tail is dropped and fetched again from its offset.

use super::{ClientError, KafkaClient};
use bytes::{Buf, Bytes};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{BrokerId, FetchRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{RecordBatchDecoder, TimestampType};

/// Fetch v13 addresses topics by id; v12 is the last by name.
const FETCH_MAX_VERSION: i16 = 12;
/// Replica id of an ordinary consumer.
const CONSUMER_REPLICA_ID: i32 = -1;
/// READ_UNCOMMITTED: every appended record, as the console consumer reads.
const ISOLATION_READ_UNCOMMITTED: i8 = 0;
/// Session epoch of a full fetch that opens no fetch session.
const SESSIONLESS_EPOCH: i32 = -1;
/// Leader epoch when unknown.
const UNKNOWN_LEADER_EPOCH: i32 = -1;
/// A v2 batch starts with base offset (8 bytes) and batch length (4 bytes);
/// the length counts the bytes after those 12.
const BATCH_LENGTH_END: usize = 12;
/// Offset of the batch length field.
const BATCH_LENGTH_OFFSET: usize = 8;

/// One record read from a partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedRecord {
    /// Its offset.
    pub offset: i64,
    /// Its timestamp, ms since the epoch.
    pub timestamp_ms: i64,
    /// Whether the broker set the timestamp (LogAppendTime) rather than the
    /// producer (CreateTime).
    pub log_append_time: bool,
    /// The key, if any.
    pub key: Option<Bytes>,
    /// The value (`None` for a tombstone).
    pub value: Option<Bytes>,
    /// Headers in order.
    pub headers: Vec<(String, Option<Bytes>)>,
}

/// What one partition answered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartitionFetch {
    /// The partition.
    pub partition: i32,
    /// Kafka error code (0 = fine).
    pub error_code: i16,
    /// The high watermark: offset of the next record to be written.
    pub high_watermark: i64,
    /// Records at or after the fetch offset, in order (control records left out).
    pub records: Vec<FetchedRecord>,
}

/// Limits of one fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchLimits {
    /// Longest the broker may wait for data.
    pub max_wait_ms: i32,
    /// Most bytes per partition.
    pub partition_max_bytes: i32,
    /// Most bytes in the whole answer.
    pub max_bytes: i32,
}

impl KafkaClient {
    /// Fetches `topic` from `(partition, offset)` positions (send it to their leader).
    pub fn fetch(
        &mut self,
        topic: &str,
        positions: &[(i32, i64)],
        limits: FetchLimits,
    ) -> Result<Vec<PartitionFetch>, ClientError> {
        let version = self
            .required_version::<FetchRequest>()?
            .min(FETCH_MAX_VERSION);
        let partitions = positions
            .iter()
            .map(|(partition, offset)| {
                FetchPartition::default()
                    .with_partition(*partition)
                    .with_current_leader_epoch(UNKNOWN_LEADER_EPOCH)
                    .with_fetch_offset(*offset)
                    .with_log_start_offset(-1)
                    .with_partition_max_bytes(limits.partition_max_bytes)
            })
            .collect();
        let request = FetchRequest::default()
            .with_replica_id(BrokerId(CONSUMER_REPLICA_ID))
            .with_max_wait_ms(limits.max_wait_ms)
            .with_min_bytes(1)
            .with_max_bytes(limits.max_bytes)
            .with_isolation_level(ISOLATION_READ_UNCOMMITTED)
            .with_session_id(0)
            .with_session_epoch(SESSIONLESS_EPOCH)
            .with_topics(vec![FetchTopic::default()
                .with_topic(TopicName(StrBytes::from_string(topic.to_string())))
                .with_partitions(partitions)]);
        let response = self.send_at(version, &request)?;
        ClientError::check(response.error_code, None)?;
        let mut answers = Vec::new();
        for t in response
            .responses
            .iter()
            .filter(|t| t.topic.0.as_str() == topic)
        {
            for p in &t.partitions {
                let from = positions
                    .iter()
                    .find(|(partition, _)| *partition == p.partition_index)
                    .map_or(0, |(_, offset)| *offset);
                let records = match (&p.records, p.error_code) {
                    (Some(bytes), 0) => decode_records(bytes.clone(), from)?,
                    _ => Vec::new(),
                };
                answers.push(PartitionFetch {
                    partition: p.partition_index,
                    error_code: p.error_code,
                    high_watermark: p.high_watermark,
                    records,
                });
            }
        }
        Ok(answers)
    }
}

/// The records at or after `from_offset` in a fetched `records` field,
/// without control records and without an incomplete last batch.
pub fn decode_records(
    mut bytes: Bytes,
    from_offset: i64,
) -> Result<Vec<FetchedRecord>, ClientError> {
    let mut records = Vec::new();
    while bytes.len() >= BATCH_LENGTH_END {
        let length_field = &bytes[BATCH_LENGTH_OFFSET..BATCH_LENGTH_END];
        let batch_length = i32::from_be_bytes([
            length_field[0],
            length_field[1],
            length_field[2],
            length_field[3],
        ]);
        let Ok(batch_length) = usize::try_from(batch_length) else {
            return Err(ClientError::Protocol(format!(
                "record batch with negative length {batch_length}"
            )));
        };
        let whole = BATCH_LENGTH_END + batch_length;
        if bytes.len() < whole {
            break;
        }
        let mut batch = bytes.split_to(whole);
        let set = RecordBatchDecoder::decode(&mut batch)
            .map_err(|e| ClientError::Protocol(format!("decoding a record batch: {e}")))?;
        records.extend(
            set.records
                .into_iter()
                .filter(|r| !r.control && r.offset >= from_offset)
                .map(|r| FetchedRecord {
                    offset: r.offset,
                    timestamp_ms: r.timestamp,
                    log_append_time: r.timestamp_type == TimestampType::LogAppend,
                    key: r.key,
                    value: r.value,
                    headers: r
                        .headers
                        .into_iter()
                        .map(|(k, v)| (k.to_string(), v))
                        .collect(),
                }),
        );
    }
    // Whatever is left is a batch the broker cut short; it comes again next fetch.
    bytes.advance(bytes.len());
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::producer::{encode_batch, ProducerRecord};
    use kafka_protocol::records::Compression;

    fn batch(values: &[&'static [u8]]) -> Bytes {
        let records: Vec<ProducerRecord> = values
            .iter()
            .map(|v| ProducerRecord {
                key: None,
                value: Some(Bytes::from_static(v)),
                headers: vec![("h".into(), Bytes::from_static(b"1"))],
            })
            .collect();
        encode_batch(&records, Compression::Lz4, 77).unwrap()
    }

    #[test]
    fn decodes_whole_batches_and_drops_a_cut_tail() {
        let first = batch(&[b"a", b"b", b"c"]);
        let second = batch(&[b"d"]);
        let mut joined = first.to_vec();
        joined.extend_from_slice(&second[..second.len() - 3]);
        let records = decode_records(Bytes::from(joined), 1).unwrap();
        let values: Vec<_> = records.iter().map(|r| r.value.clone().unwrap()).collect();
        assert_eq!(
            values,
            vec![Bytes::from_static(b"b"), Bytes::from_static(b"c")]
        );
        assert_eq!(records[0].offset, 1);
        assert_eq!(records[0].timestamp_ms, 77);
        assert_eq!(
            records[0].headers,
            vec![("h".to_string(), Some(Bytes::from_static(b"1")))]
        );
    }

    #[test]
    fn a_negative_batch_length_is_an_error() {
        let mut bytes = vec![0u8; 20];
        bytes[8..12].copy_from_slice(&(-5i32).to_be_bytes());
        assert!(decode_records(Bytes::from(bytes), 0).is_err());
    }
}
