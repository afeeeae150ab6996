//! The metadata records, modelled on KRaft's (apache/kafka
//! `metadata/src/main/resources/common/metadata/*.json`), and the batch that
//! one Raft log entry carries.
//!
//! Every record has a type number (KRaft's `apiKey` where the record matches
//! one of KRaft's, see [`RecordType`]) and a version; [`codec`] encodes them
//! compactly (varints, no field names, no JSON). Offsets are per record, as in
//! KRaft: a batch of `n` records at `base_offset` holds offsets
//! `base_offset..base_offset + n`. A broker's epoch is the offset of its
//! [`BrokerRegistration`] record.
//!
//! Left out of KRaft's set for now: ACLs, SCRAM, delegation tokens, quotas,
//! features and log directories; each would be a new record type or a new
//! version of an existing one. Partition reassignment (KIP-455) is carried as
//! KRaft carries it: `adding` and `removing` replica lists on the partition.

pub mod codec;
mod encode;
#[cfg(test)]
mod tests;

pub use codec::DecodeError;
pub(crate) use encode::checked_body;
pub use encode::{decode_batch, decode_record, encode_batch, encode_record};

use super::BrokerId;
use uuid::Uuid;

/// Most records in one batch (KRaft's `MAX_RECORDS_PER_BATCH`). Larger
/// controller operations are split across batches, in order.
pub const BATCH_RECORDS_MAX: usize = 10_000;

/// Longest string field (topic names, hosts, config values), in bytes.
pub const STRING_BYTES_MAX: usize = 32 * 1024;

/// Longest broker id list (replicas, ISR, ELR) in one record.
pub const BROKER_LIST_LEN_MAX: usize = 1024;

/// Most listeners in one broker registration.
pub const ENDPOINTS_MAX: usize = 64;

/// Type numbers of the records. Where a record matches one of KRaft's, the
/// number is KRaft's `apiKey` for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum RecordType {
    /// [`BrokerRegistration`] (KRaft's `RegisterBrokerRecord`, 0).
    RegisterBroker = 0,
    /// [`UnregisterBrokerRecord`] (KRaft 1).
    UnregisterBroker = 1,
    /// [`TopicRecord`] (KRaft 2).
    Topic = 2,
    /// [`PartitionRecord`] (KRaft 3).
    Partition = 3,
    /// [`ConfigRecord`] (KRaft 4).
    Config = 4,
    /// [`PartitionChangeRecord`] (KRaft 5).
    PartitionChange = 5,
    /// [`FenceBrokerRecord`] (KRaft 7).
    FenceBroker = 7,
    /// [`UnfenceBrokerRecord`] (KRaft 8).
    UnfenceBroker = 8,
    /// [`RemoveTopicRecord`] (KRaft 9).
    RemoveTopic = 9,
    /// [`ProducerIdsRecord`] (KRaft 15).
    ProducerIds = 15,
    /// [`BrokerControlledShutdownRecord`] (KRaft 17, `BrokerRegistrationChangeRecord`
    /// with `InControlledShutdown = 1`).
    BrokerControlledShutdown = 17,
    /// [`MetadataRecord::NoOp`] (KRaft 20).
    NoOp = 20,
}

/// One metadata record.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum MetadataRecord {
    /// A broker registered (or amended its registration).
    RegisterBroker(BrokerRegistration),
    /// A broker's registration was removed.
    UnregisterBroker(UnregisterBrokerRecord),
    /// A broker was fenced: it may lead nothing and sits in no ISR.
    FenceBroker(FenceBrokerRecord),
    /// A broker was unfenced: it caught up on metadata.
    UnfenceBroker(UnfenceBrokerRecord),
    /// A broker asked for a controlled shutdown (leadership moves away).
    BrokerControlledShutdown(BrokerControlledShutdownRecord),
    /// A topic was created.
    Topic(TopicRecord),
    /// A topic and its partitions and configs were removed.
    RemoveTopic(RemoveTopicRecord),
    /// A partition was created (or restored from a snapshot) in full.
    Partition(PartitionRecord),
    /// A partition changed (only the changed fields are set).
    PartitionChange(PartitionChangeRecord),
    /// A topic or broker config was set or deleted.
    Config(ConfigRecord),
    /// A block of producer ids was handed to a broker.
    ProducerIds(ProducerIdsRecord),
    /// Nothing; written by a newly active controller to commit its term.
    NoOp,
}

impl MetadataRecord {
    /// The record's type number.
    pub fn record_type(&self) -> RecordType {
        match self {
            MetadataRecord::RegisterBroker(_) => RecordType::RegisterBroker,
            MetadataRecord::UnregisterBroker(_) => RecordType::UnregisterBroker,
            MetadataRecord::FenceBroker(_) => RecordType::FenceBroker,
            MetadataRecord::UnfenceBroker(_) => RecordType::UnfenceBroker,
            MetadataRecord::BrokerControlledShutdown(_) => RecordType::BrokerControlledShutdown,
            MetadataRecord::Topic(_) => RecordType::Topic,
            MetadataRecord::RemoveTopic(_) => RecordType::RemoveTopic,
            MetadataRecord::Partition(_) => RecordType::Partition,
            MetadataRecord::PartitionChange(_) => RecordType::PartitionChange,
            MetadataRecord::Config(_) => RecordType::Config,
            MetadataRecord::ProducerIds(_) => RecordType::ProducerIds,
            MetadataRecord::NoOp => RecordType::NoOp,
        }
    }
}

/// A listener a broker can be reached on (KRaft's `BrokerEndpoint`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Endpoint {
    /// Listener name, e.g. `PLAINTEXT`.
    pub name: String,
    /// Advertised host.
    pub host: String,
    /// Advertised port.
    pub port: u16,
    /// Kafka's `SecurityProtocol` id (0 = PLAINTEXT).
    pub security_protocol: i16,
}

/// A broker's registration: KRaft's `RegisterBrokerRecord`, and what the
/// image keeps per broker.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BrokerRegistration {
    /// `node.id`.
    pub broker_id: BrokerId,
    /// A fresh id per broker process start.
    pub incarnation_id: Uuid,
    /// The offset of the registration record; identifies the registration.
    pub broker_epoch: i64,
    /// Advertised listeners.
    pub endpoints: Vec<Endpoint>,
    /// `broker.rack`.
    pub rack: Option<String>,
    /// Fenced: leads nothing, in no ISR. A new registration starts fenced.
    pub fenced: bool,
    /// Controlled shutdown requested (kept by an amended registration).
    pub in_controlled_shutdown: bool,
}

impl BrokerRegistration {
    /// May lead partitions and join ISRs: unfenced and not shutting down.
    pub fn is_active(&self) -> bool {
        !self.fenced && !self.in_controlled_shutdown
    }
}

/// KRaft's `UnregisterBrokerRecord`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct UnregisterBrokerRecord {
    /// The broker.
    pub broker_id: BrokerId,
    /// Its registration's epoch.
    pub broker_epoch: i64,
}

/// KRaft's `FenceBrokerRecord`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FenceBrokerRecord {
    /// The broker.
    pub broker_id: BrokerId,
    /// Its registration's epoch.
    pub broker_epoch: i64,
}

/// KRaft's `UnfenceBrokerRecord`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct UnfenceBrokerRecord {
    /// The broker.
    pub broker_id: BrokerId,
    /// Its registration's epoch.
    pub broker_epoch: i64,
}

/// KRaft's `BrokerRegistrationChangeRecord` with `InControlledShutdown = 1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BrokerControlledShutdownRecord {
    /// The broker.
    pub broker_id: BrokerId,
    /// Its registration's epoch.
    pub broker_epoch: i64,
}

/// KRaft's `TopicRecord`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TopicRecord {
    /// Topic name.
    pub name: String,
    /// Topic id (never nil).
    pub topic_id: Uuid,
}

/// KRaft's `RemoveTopicRecord`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RemoveTopicRecord {
    /// The topic to remove, with its partitions and configs.
    pub topic_id: Uuid,
}

/// KIP-704's leader recovery state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum LeaderRecoveryState {
    /// The leader was elected cleanly, or has recovered.
    #[default]
    Recovered = 0,
    /// The leader was elected uncleanly and has not yet recovered.
    Recovering = 1,
}

/// KRaft's `PartitionRecord` (v2: with ELR and last known ELR, KIP-966).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PartitionRecord {
    /// The topic.
    pub topic_id: Uuid,
    /// Partition index; partitions of a topic are created densely from 0.
    pub partition_id: i32,
    /// The partition's whole state.
    pub registration: PartitionRegistration,
}

/// A partition as the metadata log describes it (the image keeps one per
/// partition; see `image::partition` for how changes merge into it).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PartitionRegistration {
    /// Replicas, preferred leader first.
    pub replicas: Vec<BrokerId>,
    /// In-sync replicas.
    pub isr: Vec<BrokerId>,
    /// Eligible leader replicas (KIP-966): out of the ISR because it shrank
    /// below `min.insync.replicas`, yet holding every committed record.
    pub elr: Vec<BrokerId>,
    /// Last known ELR (KIP-966: the last leader when the ISR emptied).
    pub last_known_elr: Vec<BrokerId>,
    /// The leader, if any.
    pub leader: Option<BrokerId>,
    /// KIP-704.
    pub leader_recovery_state: LeaderRecoveryState,
    /// Bumped on every leader change.
    pub leader_epoch: i32,
    /// Bumped on every change of any field.
    pub partition_epoch: i32,
    /// KIP-455: replicas a reassignment in flight adds (also in `replicas`).
    pub adding: Vec<BrokerId>,
    /// KIP-455: replicas a reassignment in flight removes (also in
    /// `replicas`, after the target ones).
    pub removing: Vec<BrokerId>,
}

/// The leader field of a [`PartitionChangeRecord`] (KRaft: -2 unchanged,
/// -1 no leader, else the new leader). Any `Set`, even to the same broker,
/// bumps the leader epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum LeaderChange {
    /// The leader stays.
    #[default]
    Unchanged,
    /// The leader becomes this (or none), with a new leader epoch.
    Set(Option<BrokerId>),
}

/// KRaft's `PartitionChangeRecord`: `None` fields did not change.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct PartitionChangeRecord {
    /// The topic.
    pub topic_id: Uuid,
    /// Partition index.
    pub partition_id: i32,
    /// New ISR.
    pub isr: Option<Vec<BrokerId>>,
    /// New leader.
    pub leader: LeaderChange,
    /// New replicas.
    pub replicas: Option<Vec<BrokerId>>,
    /// New ELR.
    pub elr: Option<Vec<BrokerId>>,
    /// New last known ELR.
    pub last_known_elr: Option<Vec<BrokerId>>,
    /// New leader recovery state.
    pub leader_recovery_state: Option<LeaderRecoveryState>,
    /// New adding replicas (KIP-455).
    pub adding: Option<Vec<BrokerId>>,
    /// New removing replicas (KIP-455).
    pub removing: Option<Vec<BrokerId>>,
}

impl PartitionChangeRecord {
    /// True when the record changes nothing (KRaft's `changeRecordIsNoOp`).
    pub fn is_no_op(&self) -> bool {
        self.isr.is_none()
            && self.leader == LeaderChange::Unchanged
            && self.replicas.is_none()
            && self.elr.is_none()
            && self.last_known_elr.is_none()
            && self.leader_recovery_state.is_none()
            && self.adding.is_none()
            && self.removing.is_none()
    }
}

/// What a [`ConfigRecord`] applies to.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ConfigResource {
    /// A topic, by name (Kafka resource type 2).
    Topic(String),
    /// One broker, or with `None` the cluster-wide broker default (type 4).
    Broker(Option<BrokerId>),
}

/// KRaft's `ConfigRecord`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ConfigRecord {
    /// The resource.
    pub resource: ConfigResource,
    /// Config key.
    pub name: String,
    /// New value, or `None` to delete the key.
    pub value: Option<String>,
}

/// KRaft's `ProducerIdsRecord`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ProducerIdsRecord {
    /// The broker the block went to.
    pub broker_id: BrokerId,
    /// That broker's epoch.
    pub broker_epoch: i64,
    /// The first id of the next block (this block ends just before it).
    pub next_producer_id: i64,
}

/// One Raft log entry: records at consecutive offsets from `base_offset`,
/// applied together.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordBatch {
    /// Offset of the first record.
    pub base_offset: i64,
    /// The records, at most [`BATCH_RECORDS_MAX`].
    pub records: Vec<MetadataRecord>,
}

impl RecordBatch {
    /// Offset of the last record (`base_offset - 1` when empty).
    pub fn last_offset(&self) -> i64 {
        self.base_offset + self.records.len() as i64 - 1
    }
}
