//! Stray logs: partition directories a cluster member holds that the
//! cluster metadata no longer places on it, because their topic was deleted
//! while the broker was down or their partition was reassigned away
//! meanwhile. Adopting views only deletes what a view change shows going
//! (a topic removed from the table, a replica moved away since the previous
//! view), so such a directory, never opened or opened before the view that
//! moved it, stayed forever. Kafka 3.7+ finds them at its first metadata
//! image after it caught up (`LogManager.isStrayKraftReplica`: the topic is
//! not in the image, or its assignment does not name this broker) and
//! deletes them; so does each shard here, for the directories it owns, at
//! the first view holding this process's registration: the controller wrote
//! that record after every change made while the broker was down, so such a
//! view has seen them all.

use super::ShardContext;
use crate::cluster::member::view::ClusterView;
use crate::cluster::raft::log_store::METADATA_LOG_DIR_NAME;
use crate::coordinator::offsets::OFFSETS_DIR_PREFIX;
use crate::local::helper_pool::{run_job, Helpers};
use crate::storage::error::StorageError;
use std::path::Path;
use std::rc::Rc;

/// Partition directories looked at in one pass: a data directory holding
/// more is cleaned over the next restarts.
const DIRECTORIES_SCANNED_MAX: usize = 1_000_000;

/// Deletes the log and directory of `topic`-`index`; an open partition first
/// stops serving (no leader to follow: produce is refused, acks=all waits
/// end), at `leader_epoch` or else its own.
pub(super) async fn stop_serving_and_delete(
    ctx: &ShardContext,
    view: &ClusterView,
    topic: &str,
    index: i32,
    leader_epoch: Option<i32>,
) -> Result<(), StorageError> {
    if let Some(partition) = ctx.partitions.get(topic, index) {
        let epoch = leader_epoch.unwrap_or_else(|| partition.leader_epoch());
        partition.become_follower(view.node_id, -1, epoch).await;
    }
    ctx.partitions.delete(topic, index).await
}

/// True for the first view holding this process's registration (`previous`
/// did not).
pub fn first_registered_view(previous: Option<&ClusterView>, view: &ClusterView) -> bool {
    view.registered && !previous.is_some_and(|p| p.registered)
}

/// Deletes, with a log line each, the partitions in this shard's share of
/// the data directory that `view` does not place on this broker; an open
/// one first stops serving (no leader to follow: produce is refused, acks=all
/// waits end).
pub async fn delete_stray_logs(ctx: &Rc<ShardContext>, view: &ClusterView) -> Result<(), String> {
    let data_dir = ctx.partitions.storage().data_dir().to_path_buf();
    let listed = run_job(Helpers::Control, move || partition_directories(&data_dir))
        .await
        .map_err(|e| format!("listing the data directory for stray logs: {e:?}"))?
        .map_err(|e| format!("listing the data directory for stray logs: {e}"))?;
    for (topic, index) in listed {
        if ctx.owner_of(&topic, index) != ctx.shard_id {
            continue;
        }
        let Some(reason) = stray_reason(view, &topic, index) else {
            continue;
        };
        stop_serving_and_delete(ctx, view, &topic, index, None)
            .await
            .map_err(|e| format!("cannot delete stray log {topic}-{index}: {e}"))?;
        log::warn!(
            "shard {}: stray log {topic}-{index} deleted: {reason}",
            ctx.shard_id
        );
    }
    Ok(())
}

/// Why `view` makes partition `index` of `topic` a stray here, if it does.
fn stray_reason(view: &ClusterView, topic: &str, index: i32) -> Option<String> {
    let Some(meta) = view.table.get(topic) else {
        return Some(format!("topic {topic} is not in the cluster metadata"));
    };
    let Some(placement) = view.partition(&meta.id, index) else {
        return Some(format!("topic {topic} has no partition {index}"));
    };
    match placement.replicas.contains(&view.node_id) {
        true => None,
        false => Some(format!(
            "its replicas {:?} do not include broker {}",
            placement.replicas, view.node_id
        )),
    }
}

/// The (topic, partition) of each directory of `data_dir` named like a
/// partition's (`<topic>-<index>`), except the metadata log's and a single
/// node's offsets partitions'. Blocking: run on a helper.
fn partition_directories(data_dir: &Path) -> std::io::Result<Vec<(String, i32)>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(data_dir)?.take(DIRECTORIES_SCANNED_MAX) {
        let entry = entry?;
        if !entry.file_type()?.is_dir() {
            continue;
        }
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        if name == METADATA_LOG_DIR_NAME || name.starts_with(OFFSETS_DIR_PREFIX) {
            continue;
        }
        if let Some(parsed) = parse_partition_dir(&name) {
            found.push(parsed);
        }
    }
    Ok(found)
}

/// `<topic>-<index>` as (topic, index); `None` for any other name (a
/// renamed or temporary directory).
pub(super) fn parse_partition_dir(name: &str) -> Option<(String, i32)> {
    let (topic, index) = name.rsplit_once('-')?;
    let digits = !index.is_empty() && index.bytes().all(|b| b.is_ascii_digit());
    let index: i32 = index.parse().ok().filter(|_| digits)?;
    (!topic.is_empty()).then(|| (topic.to_string(), index))
}

#[cfg(test)]
mod tests {
    use super::parse_partition_dir;

    #[test]
    fn only_partition_directory_names_parse() {
        assert_eq!(parse_partition_dir("orders-0"), Some(("orders".into(), 0)));
        assert_eq!(parse_partition_dir("a-b-12"), Some(("a-b".into(), 12)));
        assert_eq!(parse_partition_dir("orders-0-stray"), None);
        assert_eq!(parse_partition_dir("orders-+1"), None);
        assert_eq!(parse_partition_dir("orders-"), None);
        assert_eq!(parse_partition_dir("-3"), None);
        assert_eq!(parse_partition_dir("orders"), None);
        assert_eq!(parse_partition_dir("orders-99999999999"), None);
    }
}
