//! Adopting a new topic table on one shard: open the partitions it now owns,
//! update configs, delete the partitions of removed topics.

use super::log_config_for;
use super::topic_table::TopicTable;
use crate::shard::ShardContext;
use crate::storage::PartitionLog;
use std::rc::Rc;
use std::sync::Arc;

/// Makes `table` this shard's topic table, opening and deleting owned
/// partitions to match. New partitions are opened before the table is
/// published, deleted ones removed after, so a request never finds a
/// partition in the table whose log is missing.
pub async fn apply_topics(ctx: &Rc<ShardContext>, table: Arc<TopicTable>) -> Result<(), String> {
    let old = ctx.topic_table();
    if table.version <= old.version {
        return Ok(());
    }
    open_new_partitions(ctx, &old, &table).await?;
    *ctx.topics.borrow_mut() = table.clone();
    delete_removed_partitions(ctx, &old, &table).await
}

async fn open_new_partitions(
    ctx: &Rc<ShardContext>,
    old: &TopicTable,
    new: &TopicTable,
) -> Result<(), String> {
    for topic in new.iter() {
        let log_config = log_config_for(&ctx.config, topic);
        let same_topic = old.get(&topic.name).filter(|o| o.id == topic.id);
        for partition in 0..topic.partitions {
            if ctx.owner_of(&topic.name, partition) != ctx.shard_id {
                continue;
            }
            if let Some(open) = ctx.partitions.get(&topic.name, partition) {
                if same_topic.is_some_and(|o| o.configs != topic.configs) {
                    open.set_config(log_config.clone());
                    enforce_retention_soon(open.log().clone());
                }
                continue;
            }
            ctx.partitions
                .open(&topic.name, partition, log_config.clone(), true)
                .await
                .map_err(|e| format!("cannot create {}-{partition}: {e}", topic.name))?;
        }
    }
    Ok(())
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

async fn delete_removed_partitions(
    ctx: &Rc<ShardContext>,
    old: &TopicTable,
    new: &TopicTable,
) -> Result<(), String> {
    for topic in old.iter() {
        if new.get(&topic.name).is_some_and(|n| n.id == topic.id) {
            continue;
        }
        for partition in 0..topic.partitions {
            if ctx.owner_of(&topic.name, partition) != ctx.shard_id {
                continue;
            }
            log::debug!(
                "shard {}: deleting {}-{partition}",
                ctx.shard_id,
                topic.name
            );
            ctx.partitions
                .delete(&topic.name, partition)
                .await
                .map_err(|e| format!("cannot delete {}-{partition}: {e}", topic.name))?;
        }
        log::info!("shard {}: deleted topic {}", ctx.shard_id, topic.name);
    }
    forget_removed_topic_offsets(ctx, old, new).await
}

/// Every shard's coordinator deletes, durably, the committed offsets its
/// groups hold for topics no longer in the table (or recreated with a new id).
async fn forget_removed_topic_offsets(
    ctx: &Rc<ShardContext>,
    old: &TopicTable,
    new: &TopicTable,
) -> Result<(), String> {
    let removed: Vec<String> = old
        .iter()
        .filter(|topic| new.get(&topic.name).is_none_or(|n| n.id != topic.id))
        .map(|topic| topic.name.clone())
        .collect();
    if removed.is_empty() {
        return Ok(());
    }
    ctx.coordinator
        .forget_topics(&removed)
        .await
        .map_err(|e| format!("cannot delete committed offsets of {removed:?}: {e}"))
}
