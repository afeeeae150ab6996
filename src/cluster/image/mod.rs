//! The metadata image: the state the metadata log describes, built by applying
//! its records in offset order (KRaft's `MetadataImage` plus the replay side
//! of its control managers).
//!
//! `apply` is deterministic and refuses a record that does not fit the image
//! (an unknown broker, a broker epoch that does not match, a partition of an
//! unknown topic, an ISR outside the replicas...): on a committed log that is a
//! bug to stop on, never something to paper over. Every map is ordered, so two
//! images built from the same records are equal and iterate alike.
//!
//! Snapshots ([`snapshot`]) are the image written as records, so a restart
//! replays the snapshot and the log tail after it instead of the whole history.

mod index;
pub mod partition;
pub mod snapshot;
#[cfg(test)]
mod tests;

pub use crate::cluster::records::{BrokerRegistration, PartitionRegistration};

use super::records::*;
use super::{BrokerId, TopicIdPartition};
use index::ReplicaIndex;
use std::collections::{BTreeMap, BTreeSet};
use std::hash::{Hash, Hasher};
use uuid::Uuid;

/// A topic and its partitions, indexed by partition id.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TopicImage {
    /// Name.
    pub name: String,
    /// Id.
    pub topic_id: Uuid,
    /// Partitions `0..len`.
    pub partitions: Vec<PartitionRegistration>,
}

/// Why a record did not apply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApplyError {
    /// The record's offset does not follow the image's.
    OffsetGap {
        /// The offset the image expects next.
        expected: i64,
        /// The offset given.
        found: i64,
    },
    /// A record about a broker that is not registered.
    UnknownBroker(BrokerId),
    /// A record naming a broker epoch other than the registration's.
    BrokerEpochMismatch {
        /// The broker.
        broker_id: BrokerId,
        /// The registration's epoch.
        registered: i64,
        /// The record's.
        found: i64,
    },
    /// A topic name or id already in use.
    DuplicateTopic(String),
    /// A record about a topic that does not exist.
    UnknownTopic(String),
    /// A partition record out of order (partitions are created densely).
    PartitionOutOfOrder(TopicIdPartition),
    /// A change of a partition that does not exist.
    UnknownPartition(TopicIdPartition),
    /// A registration that fails [`PartitionRegistration::validate`].
    InvalidPartition {
        /// The partition.
        tp: TopicIdPartition,
        /// What is wrong.
        reason: &'static str,
    },
    /// A producer id block that does not move forward.
    ProducerIdsBackwards {
        /// The current next producer id.
        current: i64,
        /// The record's.
        found: i64,
    },
}

impl std::fmt::Display for ApplyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "metadata record does not apply: {self:?}")
    }
}

impl std::error::Error for ApplyError {}

/// The metadata image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetadataImage {
    offset: i64,
    brokers: BTreeMap<BrokerId, BrokerRegistration>,
    topics: BTreeMap<Uuid, TopicImage>,
    topic_ids: BTreeMap<String, Uuid>,
    configs: BTreeMap<ConfigResource, BTreeMap<String, String>>,
    producer_ids: Option<ProducerIdsRecord>,
    index: ReplicaIndex,
}

impl Default for MetadataImage {
    fn default() -> Self {
        MetadataImage {
            offset: -1,
            brokers: BTreeMap::new(),
            topics: BTreeMap::new(),
            topic_ids: BTreeMap::new(),
            configs: BTreeMap::new(),
            producer_ids: None,
            index: ReplicaIndex::default(),
        }
    }
}

impl MetadataImage {
    /// The empty image, before offset 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// Offset of the last record applied; -1 when none.
    pub fn offset(&self) -> i64 {
        self.offset
    }

    /// Applies the record at `offset`, which must be `self.offset() + 1`. On
    /// error the image is unchanged.
    pub fn apply(&mut self, offset: i64, record: &MetadataRecord) -> Result<(), ApplyError> {
        if offset != self.offset + 1 {
            return Err(ApplyError::OffsetGap {
                expected: self.offset + 1,
                found: offset,
            });
        }
        self.apply_record(record)?;
        self.offset = offset;
        Ok(())
    }

    /// Applies every record of `batch` in order. On error the image holds the
    /// records before the failing one.
    pub fn apply_batch(&mut self, batch: &RecordBatch) -> Result<(), ApplyError> {
        for (i, record) in batch.records.iter().enumerate() {
            self.apply(batch.base_offset + i as i64, record)?;
        }
        Ok(())
    }

    fn apply_record(&mut self, record: &MetadataRecord) -> Result<(), ApplyError> {
        use MetadataRecord as M;
        match record {
            M::RegisterBroker(r) => self.register_broker(r),
            M::UnregisterBroker(r) => {
                self.registered(r.broker_id, r.broker_epoch)?;
                self.brokers.remove(&r.broker_id);
                Ok(())
            }
            M::FenceBroker(r) => {
                self.registered(r.broker_id, r.broker_epoch)?.fenced = true;
                Ok(())
            }
            M::UnfenceBroker(r) => {
                self.registered(r.broker_id, r.broker_epoch)?.fenced = false;
                Ok(())
            }
            M::BrokerControlledShutdown(r) => {
                let broker = self.registered(r.broker_id, r.broker_epoch)?;
                broker.in_controlled_shutdown = true;
                Ok(())
            }
            M::Topic(r) => self.add_topic(r),
            M::RemoveTopic(r) => self.remove_topic(r.topic_id),
            M::Partition(r) => self.add_partition(r),
            M::PartitionChange(r) => self.change_partition(r),
            M::Config(r) => self.set_config(r),
            M::ProducerIds(r) => self.set_producer_ids(r),
            M::NoOp => Ok(()),
        }
    }

    fn register_broker(&mut self, r: &BrokerRegistration) -> Result<(), ApplyError> {
        if let Some(existing) = self.brokers.get(&r.broker_id) {
            if r.broker_epoch < existing.broker_epoch {
                return Err(ApplyError::BrokerEpochMismatch {
                    broker_id: r.broker_id,
                    registered: existing.broker_epoch,
                    found: r.broker_epoch,
                });
            }
        }
        self.brokers.insert(r.broker_id, r.clone());
        Ok(())
    }

    fn registered(
        &mut self,
        broker_id: BrokerId,
        epoch: i64,
    ) -> Result<&mut BrokerRegistration, ApplyError> {
        let broker = self
            .brokers
            .get_mut(&broker_id)
            .ok_or(ApplyError::UnknownBroker(broker_id))?;
        if broker.broker_epoch != epoch {
            return Err(ApplyError::BrokerEpochMismatch {
                broker_id,
                registered: broker.broker_epoch,
                found: epoch,
            });
        }
        Ok(broker)
    }

    fn add_topic(&mut self, r: &TopicRecord) -> Result<(), ApplyError> {
        if self.topic_ids.contains_key(&r.name) || self.topics.contains_key(&r.topic_id) {
            return Err(ApplyError::DuplicateTopic(r.name.clone()));
        }
        self.topic_ids.insert(r.name.clone(), r.topic_id);
        let topic = TopicImage {
            name: r.name.clone(),
            topic_id: r.topic_id,
            partitions: Vec::new(),
        };
        self.topics.insert(r.topic_id, topic);
        Ok(())
    }

    fn remove_topic(&mut self, topic_id: Uuid) -> Result<(), ApplyError> {
        let topic = self
            .topics
            .remove(&topic_id)
            .ok_or_else(|| ApplyError::UnknownTopic(topic_id.to_string()))?;
        for (partition, registration) in topic.partitions.iter().enumerate() {
            let tp = TopicIdPartition {
                topic_id,
                partition: partition as i32,
            };
            self.index.update(tp, Some(registration), None);
        }
        self.topic_ids.remove(&topic.name);
        self.configs.remove(&ConfigResource::Topic(topic.name));
        Ok(())
    }

    fn add_partition(&mut self, r: &PartitionRecord) -> Result<(), ApplyError> {
        let tp = TopicIdPartition {
            topic_id: r.topic_id,
            partition: r.partition_id,
        };
        let topic = self
            .topics
            .get_mut(&r.topic_id)
            .ok_or_else(|| ApplyError::UnknownTopic(r.topic_id.to_string()))?;
        if r.partition_id < 0 || r.partition_id as usize != topic.partitions.len() {
            return Err(ApplyError::PartitionOutOfOrder(tp));
        }
        let registration = r.registration.clone();
        registration.validate(tp)?;
        self.index.update(tp, None, Some(&registration));
        topic.partitions.push(registration);
        Ok(())
    }

    fn change_partition(&mut self, r: &PartitionChangeRecord) -> Result<(), ApplyError> {
        let tp = TopicIdPartition {
            topic_id: r.topic_id,
            partition: r.partition_id,
        };
        let current = self
            .topics
            .get_mut(&r.topic_id)
            .and_then(|t| t.partitions.get_mut(usize::try_from(r.partition_id).ok()?))
            .ok_or(ApplyError::UnknownPartition(tp))?;
        let merged = current.merge(r);
        merged.validate(tp)?;
        self.index.update(tp, Some(current), Some(&merged));
        *current = merged;
        Ok(())
    }

    fn set_config(&mut self, r: &ConfigRecord) -> Result<(), ApplyError> {
        if let ConfigResource::Topic(name) = &r.resource {
            if !self.topic_ids.contains_key(name) {
                return Err(ApplyError::UnknownTopic(name.clone()));
            }
        }
        match &r.value {
            Some(value) => {
                let entries = self.configs.entry(r.resource.clone()).or_default();
                entries.insert(r.name.clone(), value.clone());
            }
            None => {
                if let Some(entries) = self.configs.get_mut(&r.resource) {
                    entries.remove(&r.name);
                    if entries.is_empty() {
                        self.configs.remove(&r.resource);
                    }
                }
            }
        }
        Ok(())
    }

    fn set_producer_ids(&mut self, r: &ProducerIdsRecord) -> Result<(), ApplyError> {
        let current = self.next_producer_id();
        if r.next_producer_id <= current {
            return Err(ApplyError::ProducerIdsBackwards {
                current,
                found: r.next_producer_id,
            });
        }
        self.producer_ids = Some(*r);
        Ok(())
    }
}

/// Queries.
impl MetadataImage {
    /// Registered brokers, by id.
    pub fn brokers(&self) -> impl Iterator<Item = &BrokerRegistration> {
        self.brokers.values()
    }

    /// One broker's registration.
    pub fn broker(&self, broker_id: BrokerId) -> Option<&BrokerRegistration> {
        self.brokers.get(&broker_id)
    }

    /// True when `broker_id` is registered, unfenced and not shutting down.
    pub fn is_active(&self, broker_id: BrokerId) -> bool {
        self.broker(broker_id)
            .is_some_and(BrokerRegistration::is_active)
    }

    /// Active brokers (see [`BrokerRegistration::is_active`]), by id.
    pub fn active_brokers(&self) -> impl Iterator<Item = &BrokerRegistration> {
        self.brokers().filter(|b| b.is_active())
    }

    /// Fenced brokers, by id.
    pub fn fenced_brokers(&self) -> impl Iterator<Item = &BrokerRegistration> {
        self.brokers().filter(|b| b.fenced)
    }

    /// Topics, by id.
    pub fn topics(&self) -> impl Iterator<Item = &TopicImage> {
        self.topics.values()
    }

    /// One topic by id.
    pub fn topic(&self, topic_id: Uuid) -> Option<&TopicImage> {
        self.topics.get(&topic_id)
    }

    /// One topic by name.
    pub fn topic_by_name(&self, name: &str) -> Option<&TopicImage> {
        self.topic(*self.topic_ids.get(name)?)
    }

    /// One partition.
    pub fn partition(&self, tp: TopicIdPartition) -> Option<&PartitionRegistration> {
        let index = usize::try_from(tp.partition).ok()?;
        self.topic(tp.topic_id)?.partitions.get(index)
    }

    /// Every partition, by topic id then index.
    pub fn partitions(&self) -> impl Iterator<Item = (TopicIdPartition, &PartitionRegistration)> {
        self.topics.values().flat_map(|topic| {
            topic.partitions.iter().enumerate().map(|(i, p)| {
                let tp = TopicIdPartition {
                    topic_id: topic.topic_id,
                    partition: i as i32,
                };
                (tp, p)
            })
        })
    }

    /// How many partitions there are.
    pub fn partition_count(&self) -> usize {
        self.topics.values().map(|t| t.partitions.len()).sum()
    }

    /// Partitions `broker_id` leads.
    pub fn leaders_of(&self, broker_id: BrokerId) -> &BTreeSet<TopicIdPartition> {
        self.index.leaders_of(broker_id)
    }

    /// Partitions whose ISR holds `broker_id`.
    pub fn isr_partitions_of(&self, broker_id: BrokerId) -> &BTreeSet<TopicIdPartition> {
        self.index.isr_of(broker_id)
    }

    /// Partitions whose ELR holds `broker_id`.
    pub fn elr_partitions_of(&self, broker_id: BrokerId) -> &BTreeSet<TopicIdPartition> {
        self.index.elr_of(broker_id)
    }

    /// Partitions without a leader.
    pub fn leaderless_partitions(&self) -> &BTreeSet<TopicIdPartition> {
        self.index.leaderless()
    }

    /// A topic's config value set in the log (no broker default applied).
    pub fn topic_config(&self, topic: &str, key: &str) -> Option<&str> {
        self.config(&ConfigResource::Topic(topic.to_string()), key)
    }

    /// A config value set in the log for `resource`.
    pub fn config(&self, resource: &ConfigResource, key: &str) -> Option<&str> {
        self.configs.get(resource)?.get(key).map(String::as_str)
    }

    /// Every config entry of `resource`, by key.
    pub fn configs_of(&self, resource: &ConfigResource) -> Option<&BTreeMap<String, String>> {
        self.configs.get(resource)
    }

    /// The first producer id not yet handed out.
    pub fn next_producer_id(&self) -> i64 {
        self.producer_ids.map_or(0, |r| r.next_producer_id)
    }

    /// A 64-bit digest of everything the log describes (not the derived
    /// indexes), stable for one build: equal images have equal digests.
    pub fn digest(&self) -> u64 {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        self.offset.hash(&mut hasher);
        self.brokers.hash(&mut hasher);
        self.topics.hash(&mut hasher);
        self.configs.hash(&mut hasher);
        self.producer_ids.hash(&mut hasher);
        hasher.finish()
    }
}
