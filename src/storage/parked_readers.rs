//! Consumers parked on a log for its next fdatasync (issue 14 §2).
//!
//! Under the durable read bound a consumer reads only synced records, so a
//! tailing consumer whose Fetch parks sees nothing until the next sync.
//! Left to the `log.flush.visibility.ms` timer, that adds up to the timer's
//! period to every record's end-to-end latency. While a consumer is parked,
//! the flusher syncs each round's writes as it does for an acks=all
//! producer (one sync in flight per log; writes arriving meanwhile go in
//! the next), so the consumer waits for one fdatasync instead. The timer
//! still bounds visibility for readers that are not parked.

use super::log::PartitionLog;
use std::rc::Rc;

/// A consumer's fetch parked on a log until the log's next fdatasync. While
/// one is held, every flusher round of the log ends with an fdatasync.
#[must_use = "the reader counts as parked only while this is held"]
pub struct ParkedReader {
    log: Rc<PartitionLog>,
}

impl PartitionLog {
    /// Counts a consumer as parked for the next fdatasync until the returned
    /// guard drops, and has what is written but unsynced synced now.
    pub fn park_reader(self: &Rc<Self>) -> ParkedReader {
        self.parked_readers.set(self.parked_readers.get() + 1);
        if self.unsynced_written() && !self.config.borrow().unflushed_read_enable {
            self.mark_dirty();
        }
        ParkedReader { log: self.clone() }
    }

    /// Whether a parked consumer waits for this log's next fdatasync (and
    /// reads only synced records).
    pub(super) fn reader_waits_for_sync(&self) -> bool {
        self.parked_readers.get() > 0 && !self.config.borrow().unflushed_read_enable
    }

    fn unsynced_written(&self) -> bool {
        let state = self.state.borrow();
        state.synced_end_offset < state.written_end_offset
    }
}

impl Drop for ParkedReader {
    fn drop(&mut self) {
        let parked = &self.log.parked_readers;
        parked.set(parked.get().saturating_sub(1));
    }
}
