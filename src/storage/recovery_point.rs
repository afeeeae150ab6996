//! A log's recovery point (Kafka's): an offset below which the log was
//! fdatasynced, named in the log directory's checkpoint file
//! (`checkpoint.rs`), so that a restart after a crash checks only what
//! follows it (`recovery.rs`) instead of the whole active segment.
//!
//! Advancing it, for one log: capture the log end offset and where it lies
//! ([`PartitionLog::capture_recovery_point`]), wait until everything below
//! it is fdatasynced, write the active segment's index files up to it
//! ([`PartitionLog::persist_recovery_point`]), and only then name it in the
//! checkpoint file. What is safe:
//! - the checkpoint names only fdatasynced offsets, so a crash cannot take
//!   the data below it; a torn or stale tail after it is still found (the
//!   check from there verifies every CRC) and cut;
//! - the index files hold entries for batches below it only, so they are
//!   true after any crash; entries past it are rebuilt by the check;
//! - a rollback (ENOSPC) only removes unwritten batches, above any
//!   recovery point.
//!
//! When: a log whose unchecked bytes (appended since its recovery point)
//! reach [`RECOVERY_POINT_BYTES_PER_LOG`] gets a new one at the next pass,
//! and any log with unchecked bytes after
//! `log.flush.offset.checkpoint.interval.ms`; the passes run in the
//! partition layer (`partition/recovery_points.rs`).

use super::config::Durability;
use super::error::StorageError;
use super::log::{now_ms, PartitionLog};
use super::segment::IndexFiles;
use std::path::Path;

/// Bytes appended past its recovery point at which a log gets a new one:
/// what a crash makes the next start check (per log) is about this much
/// plus what arrives between passes.
pub const RECOVERY_POINT_BYTES_PER_LOG: u64 = 32 << 20;

/// A log's end and where it lies, captured at one instant: the recovery
/// point to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecoveryCapture {
    /// The recovery point: every batch below it is in the log.
    pub offset: i64,
    segment_base: i64,
    position: u64,
    appended_bytes: u64,
}

/// What the recovery point policy tracks of a log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct RecoveryPointState {
    /// Bytes appended since the log was opened, rolled-back ones taken
    /// away, plus what the open did not find under a recovery point.
    pub(super) appended_bytes: u64,
    /// `appended_bytes` at the capture the checkpoint file names.
    pub(super) recorded_bytes: u64,
    /// Wall-clock ms when the checkpoint file last named this log (0: never
    /// in this run and unchecked bytes were found at open).
    pub(super) recorded_ms: i64,
}

impl RecoveryPointState {
    /// The state of a log just opened with `unchecked_bytes` past its
    /// recovery point: due at the first pass if any.
    pub(super) fn opened(unchecked_bytes: u64) -> Self {
        RecoveryPointState {
            appended_bytes: unchecked_bytes,
            recorded_bytes: 0,
            recorded_ms: if unchecked_bytes > 0 { 0 } else { now_ms() },
        }
    }
}

impl PartitionLog {
    /// Bytes a start after a crash would check past the recovery point.
    pub fn unchecked_bytes(&self) -> u64 {
        let recovery = self.state.borrow().recovery_point;
        recovery
            .appended_bytes
            .saturating_sub(recovery.recorded_bytes)
    }

    /// Whether the log should get a new recovery point at `now_ms`: its
    /// unchecked bytes reached [`RECOVERY_POINT_BYTES_PER_LOG`], or it has
    /// some and its recovery point is older than `interval_ms`.
    pub fn recovery_point_due(&self, now_ms: i64, interval_ms: u64) -> bool {
        let unchecked = self.unchecked_bytes();
        let recorded_ms = self.state.borrow().recovery_point.recorded_ms;
        let age_ms = now_ms.saturating_sub(recorded_ms);
        unchecked >= RECOVERY_POINT_BYTES_PER_LOG
            || (unchecked > 0 && age_ms >= interval_ms.min(i64::MAX as u64) as i64)
    }

    /// Captures the log end offset as the next recovery point; `None` while
    /// the log failed or rolls back refused batches.
    pub fn capture_recovery_point(&self) -> Option<RecoveryCapture> {
        if self.is_failed() {
            return None;
        }
        let state = self.state.borrow();
        if state.rollback_pending {
            return None;
        }
        Some(RecoveryCapture {
            offset: state.log_end_offset(),
            segment_base: state.active.base_offset,
            position: state.active.size,
            appended_bytes: state.recovery_point.appended_bytes,
        })
    }

    /// Makes `capture` safe to name in the checkpoint file: waits until
    /// every batch below it is fdatasynced (asking the flusher for it), then
    /// writes the active segment's index files up to it, unless the segment
    /// rolled since (a sealed segment has its own) or the log was closed
    /// (closing wrote them whole).
    pub async fn persist_recovery_point(
        &self,
        capture: &RecoveryCapture,
    ) -> Result<(), StorageError> {
        if capture.offset > 0 {
            self.wait_durable(capture.offset - 1, Durability::Synced)
                .await?;
        }
        // Only the index files' turn, not the flush turn: the files are
        // written from a copy, so the log's writes (acks=1 answers, what
        // consumers may read) and syncs go on meanwhile (issue 14 §2).
        // A roll, truncation or close writes its own files after these.
        let _index = self.index_files_turn().await?;
        if self.closed.get() {
            return Ok(());
        }
        let files: Option<IndexFiles> = {
            let state = self.state.borrow();
            let active = &state.active;
            (active.base_offset == capture.segment_base)
                .then(|| active.index_files_up_to(capture.position, capture.offset))
        };
        match files {
            Some(files) => files.write().await,
            None => Ok(()),
        }
    }

    /// The checkpoint file names `capture` now (`ShardStorage`).
    pub(super) fn recovery_point_recorded(&self, capture: &RecoveryCapture) {
        let mut state = self.state.borrow_mut();
        state.recovery_point.recorded_bytes = capture.appended_bytes;
        state.recovery_point.recorded_ms = now_ms();
    }

    /// The partition's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}
