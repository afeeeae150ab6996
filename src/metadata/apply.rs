//! Adopting a new topic table on one shard: open the partitions it now owns,
//! update configs, delete the partitions of removed topics.

use super::control_plane::ControlPlane;
use super::log_config_for;
use super::topic_table::{TopicMeta, TopicTable};
use crate::config::Config;
use crate::partition::{PartitionToOpen, ShardPartitions};
use crate::storage::PartitionLog;
use std::rc::Rc;
use std::sync::Arc;

/// What adopting a table changes on one shard.
pub struct ApplyTarget<'a> {
    /// Broker configuration (topic config defaults).
    pub config: &'a Config,
    /// The shard's topic table and controller state.
    pub control: &'a ControlPlane,
    /// The shard's partitions.
    pub partitions: &'a ShardPartitions,
    /// The shard's index (for logs).
    pub shard_id: usize,
    /// Whether this shard owns partition `.1` of topic `.0`.
    pub owns: &'a dyn Fn(&str, i32) -> bool,
    /// Whether a partition opened now may skip recovery (false when its
    /// files may predate an unclean stop, as a cluster replica's can).
    pub clean_open: bool,
}

/// Makes `table` this shard's topic table, opening and deleting owned
/// partitions to match. New partitions are opened before the table is
/// published, deleted ones removed after, so a request never finds a
/// partition in the table whose log is missing; but the partitions of a
/// topic created again under its name (a new id) are deleted first, or the
/// new topic's would find them open, be skipped, and go with them. Returns
/// the names of the topics that are gone (deleted, or recreated with a new
/// id), whose committed offsets must go too.
pub async fn apply_topics(
    target: &ApplyTarget<'_>,
    table: Arc<TopicTable>,
) -> Result<Vec<String>, String> {
    let old = target.control.topic_table();
    if table.version <= old.version {
        return Ok(Vec::new());
    }
    let recreated = |t: &TopicMeta| table.get(&t.name).is_some_and(|n| n.id != t.id);
    delete_partitions_of(target, &old, recreated).await?;
    open_new_partitions(target, &old, &table).await?;
    target.control.topics.replace(table.clone());
    let removed = |t: &TopicMeta| table.get(&t.name).is_none();
    delete_partitions_of(target, &old, removed).await?;
    Ok(removed_topics(&old, &table))
}

async fn open_new_partitions(
    target: &ApplyTarget<'_>,
    old: &TopicTable,
    new: &TopicTable,
) -> Result<(), String> {
    let created = partitions_to_open(target, old, new);
    target
        .partitions
        .open_many(&created, target.clean_open)
        .await
}

/// The owned partitions of `new` not open on the shard; an open one of a
/// topic whose configs changed gets the new configs here.
fn partitions_to_open(
    target: &ApplyTarget<'_>,
    old: &TopicTable,
    new: &TopicTable,
) -> Vec<PartitionToOpen> {
    let mut created = Vec::new();
    for topic in new.iter() {
        let log_config = log_config_for(target.config, topic);
        let same_topic = old.get(&topic.name).filter(|o| o.id == topic.id);
        for partition in 0..topic.partitions {
            if !(target.owns)(&topic.name, partition) {
                continue;
            }
            if let Some(open) = target.partitions.get(&topic.name, partition) {
                if same_topic.is_some_and(|o| o.configs != topic.configs) {
                    open.set_config(log_config.clone());
                    enforce_retention_soon(open.log().clone());
                }
                continue;
            }
            created.push(PartitionToOpen {
                topic: topic.name.clone(),
                partition,
                topic_id: topic.id,
                config: log_config.clone(),
            });
        }
    }
    created
}

/// A topic's configs changed (IncrementalAlterConfigs): a lowered
/// retention deletes segments now, not at the next periodic pass. Spawned so
/// that the table change is not held up by file deletions.
fn enforce_retention_soon(log: Rc<PartitionLog>) {
    glommio::spawn_local(async move {
        if let Err(error) = log.apply_retention_now().await {
            log::warn!(
                "{}: retention after a config change failed: {error}",
                log.name()
            );
        }
    })
    .detach();
}

/// Deletes the owned partitions of the topics of `old` that are `gone`.
async fn delete_partitions_of(
    target: &ApplyTarget<'_>,
    old: &TopicTable,
    gone: impl Fn(&TopicMeta) -> bool,
) -> Result<(), String> {
    for topic in old.iter() {
        if !gone(topic) {
            continue;
        }
        for partition in 0..topic.partitions {
            if !(target.owns)(&topic.name, partition) {
                continue;
            }
            log::debug!(
                "shard {}: deleting {}-{partition}",
                target.shard_id,
                topic.name
            );
            target
                .partitions
                .delete(&topic.name, partition)
                .await
                .map_err(|e| format!("cannot delete {}-{partition}: {e}", topic.name))?;
        }
        log::info!("shard {}: deleted topic {}", target.shard_id, topic.name);
    }
    Ok(())
}

/// Topics of `old` not in `new`, or recreated there with a new id.
fn removed_topics(old: &TopicTable, new: &TopicTable) -> Vec<String> {
    old.iter()
        .filter(|topic| new.get(&topic.name).is_none_or(|n| n.id != topic.id))
        .map(|topic| topic.name.clone())
        .collect()
}
