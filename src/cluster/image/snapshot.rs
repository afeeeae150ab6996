//! Snapshots: the image written as the records that rebuild it (as KRaft's
//! snapshots are), so the same codec and the same `apply` serve both, and
//! "snapshot + log tail" replays to exactly the image of "whole log".
//!
//! Format: `format u8 | crc32c u32 (LE) of the rest | offset varint |
//! record count uvarint | record frames`. Order: the producer id block, the
//! brokers, broker configs, then per topic its record, configs and partitions.

use super::{ApplyError, MetadataImage};
use crate::cluster::records::codec::Writer;
use crate::cluster::records::{
    checked_body, decode_record, encode_record, ConfigRecord, ConfigResource, DecodeError,
    MetadataRecord, PartitionRecord, TopicRecord,
};
use crate::cluster::TopicIdPartition;

/// Version of the snapshot header format.
const SNAPSHOT_FORMAT_VERSION: u8 = 0;

/// Most records one snapshot may hold (a bound for a corrupt count; 100,000
/// partitions take about 100,000 records).
pub const SNAPSHOT_RECORDS_MAX: usize = 50_000_000;

/// Why a snapshot did not load.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SnapshotError {
    /// The bytes are not a snapshot this build reads.
    Decode(DecodeError),
    /// The records do not build an image.
    Apply(ApplyError),
}

impl std::fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SnapshotError::Decode(e) => write!(f, "metadata snapshot: {e}"),
            SnapshotError::Apply(e) => write!(f, "metadata snapshot: {e}"),
        }
    }
}

impl std::error::Error for SnapshotError {}

/// The records that rebuild `image` from empty, in apply order.
pub fn snapshot_records(image: &MetadataImage) -> Vec<MetadataRecord> {
    let mut records = Vec::with_capacity(image.brokers.len() + image.partition_count() + 1);
    if let Some(block) = image.producer_ids {
        records.push(MetadataRecord::ProducerIds(block));
    }
    for broker in image.brokers.values() {
        records.push(MetadataRecord::RegisterBroker(broker.clone()));
    }
    for (resource, entries) in &image.configs {
        if matches!(resource, ConfigResource::Broker(_)) {
            push_configs(&mut records, resource, entries);
        }
    }
    for topic in image.topics.values() {
        records.push(MetadataRecord::Topic(TopicRecord {
            name: topic.name.clone(),
            topic_id: topic.topic_id,
        }));
        let resource = ConfigResource::Topic(topic.name.clone());
        if let Some(entries) = image.configs.get(&resource) {
            push_configs(&mut records, &resource, entries);
        }
        for (i, partition) in topic.partitions.iter().enumerate() {
            let tp = TopicIdPartition {
                topic_id: topic.topic_id,
                partition: i as i32,
            };
            records.push(MetadataRecord::Partition(PartitionRecord {
                topic_id: tp.topic_id,
                partition_id: tp.partition,
                registration: partition.clone(),
            }));
        }
    }
    records
}

fn push_configs(
    records: &mut Vec<MetadataRecord>,
    resource: &ConfigResource,
    entries: &std::collections::BTreeMap<String, String>,
) {
    for (name, value) in entries {
        records.push(MetadataRecord::Config(ConfigRecord {
            resource: resource.clone(),
            name: name.clone(),
            value: Some(value.clone()),
        }));
    }
}

/// Encodes `image` as a snapshot at its offset.
pub fn encode_snapshot(image: &MetadataImage) -> Vec<u8> {
    let records = snapshot_records(image);
    let mut body = Writer::default();
    body.varint(image.offset);
    body.uvarint(records.len() as u64);
    for record in &records {
        encode_record(record, &mut body);
    }
    let mut out = Vec::with_capacity(body.bytes.len() + 5);
    out.push(SNAPSHOT_FORMAT_VERSION);
    out.extend_from_slice(&crc32c::crc32c(&body.bytes).to_le_bytes());
    out.extend_from_slice(&body.bytes);
    out
}

/// Rebuilds the image a snapshot holds.
pub fn decode_snapshot(bytes: &[u8]) -> Result<MetadataImage, SnapshotError> {
    let mut body = checked_body(bytes, SNAPSHOT_FORMAT_VERSION).map_err(SnapshotError::Decode)?;
    let offset = body.varint().map_err(SnapshotError::Decode)?;
    let count = body
        .count(SNAPSHOT_RECORDS_MAX)
        .map_err(SnapshotError::Decode)?;
    let mut image = MetadataImage::new();
    for _ in 0..count {
        let record = decode_record(&mut body).map_err(SnapshotError::Decode)?;
        image.apply_record(&record).map_err(SnapshotError::Apply)?;
    }
    if body.remaining() != 0 {
        return Err(SnapshotError::Decode(DecodeError::TrailingBytes));
    }
    image.offset = offset;
    Ok(image)
}
