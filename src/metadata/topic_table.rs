//! The topic registry: names, ids, partition counts and per-topic configs.
//!
//! A table is immutable once built. Shard 0 (the controller) builds a new
//! table for every change and hands an `Arc` of it to each shard, so no shard
//! ever mutates state another shard reads.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use uuid::Uuid;

/// Longest legal topic name (Kafka's limit).
pub const TOPIC_NAME_BYTES_MAX: usize = 249;

/// Partitions one topic may have.
pub const TOPIC_PARTITIONS_MAX: i32 = 100_000;

/// One topic as every shard sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicMeta {
    /// The topic name.
    pub name: String,
    /// The topic id (Kafka's topic UUID, used by Fetch v13+ and Metadata v10+).
    pub id: Uuid,
    /// Number of partitions, numbered 0..partitions.
    pub partitions: i32,
    /// Per-topic configuration overrides (Kafka topic config keys).
    pub configs: BTreeMap<String, String>,
}

/// An immutable snapshot of all topics.
#[derive(Clone, Debug, Default)]
pub struct TopicTable {
    /// Increases by one with every change.
    pub version: u64,
    by_name: BTreeMap<String, Arc<TopicMeta>>,
    name_by_id: HashMap<Uuid, String>,
}

impl TopicTable {
    /// Builds a table from a list of topics.
    pub fn from_topics(version: u64, topics: impl IntoIterator<Item = TopicMeta>) -> Self {
        let mut table = TopicTable {
            version,
            ..Default::default()
        };
        for topic in topics {
            table.name_by_id.insert(topic.id, topic.name.clone());
            table.by_name.insert(topic.name.clone(), Arc::new(topic));
        }
        table
    }

    /// The topic named `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<TopicMeta>> {
        self.by_name.get(name)
    }

    /// The topic whose id is `id`.
    pub fn get_by_id(&self, id: &Uuid) -> Option<&Arc<TopicMeta>> {
        self.name_by_id
            .get(id)
            .and_then(|name| self.by_name.get(name))
    }

    /// All topics in name order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<TopicMeta>> {
        self.by_name.values()
    }

    /// Number of topics.
    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    /// True when there are no topics.
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// True when `partition` exists in `topic`.
    pub fn has_partition(&self, topic: &str, partition: i32) -> bool {
        self.get(topic)
            .is_some_and(|meta| partition >= 0 && partition < meta.partitions)
    }

    /// A copy of this table with `topic` added or replaced, one version later.
    pub fn with_topic(&self, topic: TopicMeta) -> TopicTable {
        let mut next = self.clone();
        next.version += 1;
        if let Some(old) = next.by_name.get(&topic.name) {
            next.name_by_id.remove(&old.id);
        }
        next.name_by_id.insert(topic.id, topic.name.clone());
        next.by_name.insert(topic.name.clone(), Arc::new(topic));
        next
    }

    /// A copy of this table without `name`, one version later.
    pub fn without_topic(&self, name: &str) -> TopicTable {
        let mut next = self.clone();
        next.version += 1;
        if let Some(old) = next.by_name.remove(name) {
            next.name_by_id.remove(&old.id);
        }
        next
    }
}

/// Why a topic name is not legal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicNameError {
    /// Empty, `.` or `..`.
    Reserved,
    /// Longer than [`TOPIC_NAME_BYTES_MAX`].
    TooLong(usize),
    /// A character outside `[a-zA-Z0-9._-]`.
    IllegalCharacter(char),
}

impl std::fmt::Display for TopicNameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TopicNameError::Reserved => write!(f, "topic name is empty, '.' or '..'"),
            TopicNameError::TooLong(len) => {
                write!(f, "topic name is {len} bytes, over {TOPIC_NAME_BYTES_MAX}")
            }
            TopicNameError::IllegalCharacter(c) => write!(
                f,
                "topic name contains {c:?}; legal characters are ASCII letters, digits, '.', '_', '-'"
            ),
        }
    }
}

/// Kafka's internal topics (`Topic.INTERNAL_TOPICS`): clients may not
/// produce to them, and Metadata names them internal.
pub const INTERNAL_TOPICS: [&str; 3] = [
    "__consumer_offsets",
    "__transaction_state",
    "__share_group_state",
];

/// Whether `name` is one of Kafka's internal topics.
pub fn is_internal_topic(name: &str) -> bool {
    INTERNAL_TOPICS.contains(&name)
}

/// Checks a topic name with Kafka's rules.
pub fn validate_topic_name(name: &str) -> Result<(), TopicNameError> {
    if name.is_empty() || name == "." || name == ".." {
        return Err(TopicNameError::Reserved);
    }
    if name.len() > TOPIC_NAME_BYTES_MAX {
        return Err(TopicNameError::TooLong(name.len()));
    }
    match name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        Some(c) => Err(TopicNameError::IllegalCharacter(c)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic(name: &str, partitions: i32) -> TopicMeta {
        TopicMeta {
            name: name.to_string(),
            id: Uuid::new_v4(),
            partitions,
            configs: BTreeMap::new(),
        }
    }

    #[test]
    fn lookups_by_name_and_id() {
        let a = topic("a", 3);
        let id = a.id;
        let table = TopicTable::default().with_topic(a);
        assert_eq!(table.version, 1);
        assert_eq!(table.get_by_id(&id).map(|t| t.partitions), Some(3));
        assert!(table.has_partition("a", 2));
        assert!(!table.has_partition("a", 3));
        let table = table.without_topic("a");
        assert!(table.get_by_id(&id).is_none());
        assert_eq!(table.version, 2);
    }

    #[test]
    fn topic_names_follow_kafka_rules() {
        assert!(validate_topic_name("orders.v1_x-2").is_ok());
        assert_eq!(validate_topic_name(".."), Err(TopicNameError::Reserved));
        assert_eq!(
            validate_topic_name("a b"),
            Err(TopicNameError::IllegalCharacter(' '))
        );
        assert!(validate_topic_name(&"x".repeat(250)).is_err());
    }
}
