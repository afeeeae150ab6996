//! The leader epoch checkpoint of a partition directory, Kafka's
//! `leader-epoch-checkpoint`. Storage keeps the file (read, replaced
//! atomically); the partition layer owns its content
//! ([`crate::partition::leader_epochs`]).

use super::atomic_file::write_atomically;
use super::error::StorageError;
use super::log::PartitionLog;
use super::segment::read_whole_file;
use std::path::PathBuf;

/// Name of the file in the partition directory (Kafka's).
pub const LEADER_EPOCH_CHECKPOINT_FILE: &str = "leader-epoch-checkpoint";

impl PartitionLog {
    /// Path of the leader epoch checkpoint.
    pub fn leader_epoch_checkpoint_path(&self) -> PathBuf {
        self.dir.join(LEADER_EPOCH_CHECKPOINT_FILE)
    }

    /// The checkpoint's bytes, `None` if there is none.
    pub async fn read_leader_epoch_checkpoint(&self) -> Result<Option<Vec<u8>>, StorageError> {
        read_whole_file(&self.leader_epoch_checkpoint_path()).await
    }

    /// Replaces the checkpoint with `bytes` atomically ([`write_atomically`])
    /// on the storage pool: a crash leaves the old file or the new one whole.
    pub async fn write_leader_epoch_checkpoint(&self, bytes: Vec<u8>) -> Result<(), StorageError> {
        let dir = self.dir.clone();
        glommio::executor()
            .spawn_blocking(move || write_atomically(&dir, LEADER_EPOCH_CHECKPOINT_FILE, &bytes))
            .await
            .map_err(|e| StorageError::io("write", &self.leader_epoch_checkpoint_path(), e))
    }
}
