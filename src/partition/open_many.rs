//! Opening many partitions at once: the partitions a CreateTopics,
//! CreatePartitions or new cluster view gives a shard. One at a time, each
//! new partition cost a few fsyncs in a row (its directory's entry in the
//! data directory, its segment file's entry in its directory, its leader
//! epoch checkpoint), ~15 ms per partition on a loaded machine, and a topic
//! of 1,000 partitions took seconds to appear. Here the directories are
//! made in one pass with one fsync of the data directory, the logs are
//! opened [`NEW_PARTITION_OPENS_CONCURRENT_MAX`] at a time, and the missing
//! leader epoch checkpoints are written afterwards by one task, one after
//! another, so their fsyncs never queue ahead of the opens on the shard's
//! blocking pool.

use super::{Partition, ShardPartitions};
use crate::storage::LogConfig;
use futures_util::stream::{self, StreamExt};
use std::rc::Rc;
use uuid::Uuid;

/// New partitions opened at once: their file creations and directory
/// fsyncs overlap (the file system commits many in one journal transaction)
/// instead of queueing one behind another, while the files, blocking-pool
/// jobs and memory in flight stay bounded.
pub const NEW_PARTITION_OPENS_CONCURRENT_MAX: usize = 64;

/// One partition to open.
pub struct PartitionToOpen {
    /// Topic name.
    pub topic: String,
    /// Partition index.
    pub partition: i32,
    /// The topic's id in the metadata (checked against the directory's).
    pub topic_id: Uuid,
    /// The topic's log configuration.
    pub config: LogConfig,
}

impl ShardPartitions {
    /// Opens every one of `partitions` (loading or creating it, as
    /// [`Self::open`]): their missing directories are created and made
    /// durable together first ([`crate::storage::ShardStorage::create_partition_dirs`]),
    /// then the logs are opened concurrently. When this returns `Ok`, every
    /// partition is open and its directory and segment file survive a
    /// crash; the leader epoch checkpoints found missing are then written by
    /// one background task (their absence costs only a walk of the log at
    /// the next open). The first error names its partition.
    pub async fn open_many(
        &self,
        partitions: &[PartitionToOpen],
        clean_shutdown: bool,
    ) -> Result<(), String> {
        if partitions.is_empty() {
            return Ok(());
        }
        // Before any concurrent O_DIRECT open (see `prime_io`).
        self.storage.prime_io().await.map_err(|e| e.to_string())?;
        let names: Vec<(&str, i32)> = partitions
            .iter()
            .map(|p| (p.topic.as_str(), p.partition))
            .collect();
        self.storage
            .create_partition_dirs(&names)
            .await
            .map_err(|e| format!("cannot create partition directories: {e}"))?;
        let opens = partitions.iter().map(|p| async move {
            let topic_id = Some(p.topic_id);
            self.open_leaving_epochs(
                &p.topic,
                p.partition,
                topic_id,
                p.config.clone(),
                clean_shutdown,
            )
            .await
            .map_err(|e| format!("cannot create {}-{}: {e}", p.topic, p.partition))
        });
        let results: Vec<_> = stream::iter(opens)
            .buffer_unordered(NEW_PARTITION_OPENS_CONCURRENT_MAX)
            .collect()
            .await;
        let mut epochs_missing = Vec::new();
        let mut first_error = None;
        for result in results {
            match result {
                Ok((opened, true)) => epochs_missing.push(opened),
                Ok((_, false)) => {}
                Err(error) => {
                    first_error.get_or_insert(error);
                }
            }
        }
        write_missing_epochs_soon(epochs_missing);
        first_error.map_or(Ok(()), Err)
    }
}

/// One task writes the missing leader epoch checkpoints, one after another.
fn write_missing_epochs_soon(partitions: Vec<Rc<Partition>>) {
    if partitions.is_empty() {
        return;
    }
    glommio::spawn_local(async move {
        for partition in partitions {
            partition.write_missing_epochs().await;
        }
    })
    .detach();
}

impl Partition {
    /// Writes the leader epoch checkpoint an open found missing.
    pub(super) async fn write_missing_epochs(&self) {
        self.epochs.write_missing_checkpoint(&self.log).await;
    }
}
