//! Retention: deletes whole sealed segments, oldest first, when their newest
//! batch is older than `retention.ms` or while the log without them is still
//! at least `retention.bytes` (Kafka's rule), as far as the partition's read
//! bound (`log_start.rs`), and any wholly below the log start. The active
//! segment is never deleted, nor a sealed one whose seal is pending
//! (`roll.rs`). Segments without any timestamp are kept by time retention.

use super::error::StorageError;
use super::log::PartitionLog;
use super::segment::Segment;

impl PartitionLog {
    /// Applies retention now rather than at the next periodic pass: used
    /// when a topic's retention settings change, so a lowered limit takes
    /// effect as soon as the change is acknowledged. Returns segments deleted.
    pub async fn apply_retention_now(&self) -> Result<usize, StorageError> {
        self.apply_retention(super::log::now_ms()).await
    }

    /// Applies retention at wall-clock `now_ms`; returns segments deleted.
    pub(super) async fn apply_retention(&self, now_ms: i64) -> Result<usize, StorageError> {
        if self.is_failed() || self.closed.get() {
            return Ok(0);
        }
        let expired = self.detach_expired_segments(now_ms);
        if expired.is_empty() {
            return Ok(0);
        }
        log::info!(
            "{}: retention deleted {} segment(s) up to offset {}, log start offset {}",
            self.name,
            expired.len(),
            expired.last().map_or(0, |segment| segment.next_offset),
            self.log_start_offset()
        );
        for segment in &expired {
            // Open handles (fetches in flight) keep the data readable.
            segment.remove_files().await?;
        }
        Ok(expired.len())
    }

    /// Takes the expired segments out of the log and advances its start.
    fn detach_expired_segments(&self, now_ms: i64) -> Vec<Segment> {
        let config = self.config.borrow().clone();
        let bound = self.retention_end_offset();
        let mut state = self.state.borrow_mut();
        let log_start = state.log_start_offset;
        let mut total_bytes = state.sealed_bytes + state.active.size;
        let mut expired = Vec::new();
        let sealing = state.sealing.map(|sealing| sealing.base_offset);
        while let Some(entry) = state.sealed.first_entry() {
            let segment = entry.get();
            if Some(segment.base_offset) == sealing {
                // Its seal writes its index files: kept until sealed.
                break;
            }
            let by_time = config.retention_ms >= 0
                && segment
                    .indexes
                    .max_timestamp()
                    .is_some_and(|max| now_ms.saturating_sub(max) > config.retention_ms);
            let by_size = config.retention_bytes >= 0
                && total_bytes - segment.size >= config.retention_bytes as u64;
            let due = (by_time || by_size) && segment.next_offset <= bound;
            let below_start = segment.next_offset <= log_start;
            if !(due || below_start) {
                break;
            }
            let segment = entry.remove();
            total_bytes -= segment.size;
            state.sealed_bytes -= segment.size;
            expired.push(segment);
        }
        if let Some(last) = expired.last() {
            let start = last.next_offset.max(state.log_start_offset);
            state.log_start_offset = start;
            state.recent.evict_below(start);
        }
        expired
    }
}
