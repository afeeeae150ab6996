//! The shard's bound on appended but unwritten bytes
//! (`log.unwritten.bytes.per.shard.max`).
//!
//! Batches stay in memory from their append until the flusher has written
//! them. Each partition bounds its own unwritten bytes, but with many
//! partitions (or acks=0 producers, which are answered at the append) the
//! shard's sum would be unbounded; so appends also wait while the shard is
//! over this bound. The wait holds the append's request, so its connection
//! stops being read: back-pressure, not errors.

use super::log::PartitionLog;
use crate::local::notify::LocalEvent;
use std::cell::{Cell, RefCell};

/// Unwritten bytes of all logs of a shard, and the appends waiting for room.
pub(crate) struct ShardUnwritten {
    bytes: Cell<u64>,
    max_bytes: u64,
    /// Fired (and replaced) when the sum drops to the bound or below.
    room: RefCell<LocalEvent>,
}

impl ShardUnwritten {
    pub(crate) fn new(max_bytes: usize) -> Self {
        ShardUnwritten {
            bytes: Cell::new(0),
            max_bytes: max_bytes as u64,
            room: RefCell::new(LocalEvent::default()),
        }
    }

    /// Unwritten bytes of the shard now.
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes.get()
    }

    /// One log's unwritten bytes went from `old` to `new`.
    fn change(&self, old: u64, new: u64) {
        let bytes = (self.bytes.get() + new).saturating_sub(old);
        self.bytes.set(bytes);
        if new < old && bytes <= self.max_bytes {
            let room = std::mem::take(&mut *self.room.borrow_mut());
            room.fire();
        }
    }

    /// Waits while the shard is over its bound. A single append may take
    /// the sum past it (so a batch larger than the bound still goes in).
    pub(crate) async fn wait_for_room(&self) {
        while self.bytes.get() > self.max_bytes {
            let room = self.room.borrow().clone();
            room.wait().await;
        }
    }
}

impl PartitionLog {
    /// Brings the shard's count up to date with this log's unwritten bytes
    /// (none once it failed or closed: they will never be written).
    pub(super) fn recount_unwritten(&self) {
        let now = match self.failure.borrow().is_some() || self.closed.get() {
            true => 0,
            false => {
                let state = self.state.borrow();
                state.active.size.saturating_sub(state.write.written)
            }
        };
        let before = self.unwritten_counted.replace(now);
        if before != now {
            self.flush_queue.unwritten.change(before, now);
        }
    }
}

impl Drop for PartitionLog {
    fn drop(&mut self) {
        let counted = self.unwritten_counted.replace(0);
        if counted > 0 {
            self.flush_queue.unwritten.change(counted, 0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_lite::future::{block_on, poll_once};

    #[test]
    fn appends_wait_while_the_shard_is_over_its_bound() {
        let shard = ShardUnwritten::new(100);
        shard.change(0, 80);
        assert!(block_on(poll_once(shard.wait_for_room())).is_some());
        shard.change(0, 50);
        assert_eq!(shard.bytes(), 130);
        let mut waiting = Box::pin(shard.wait_for_room());
        assert!(block_on(poll_once(waiting.as_mut())).is_none());
        shard.change(80, 60);
        assert!(
            block_on(poll_once(waiting.as_mut())).is_none(),
            "110 is still over 100"
        );
        shard.change(60, 0);
        assert_eq!(shard.bytes(), 50);
        assert!(block_on(poll_once(waiting.as_mut())).is_some());
    }
}
