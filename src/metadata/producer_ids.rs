//! Producer ids for idempotent producers, unique without coordination.
//!
//! An id is `(milliseconds since the epoch << 22) | (shard << 12) | counter`:
//! unique across shards by the shard bits, across restarts by the clock (the
//! allocator never goes back below the last millisecond it used), 4,096 ids per
//! millisecond per shard. Fits a positive i64 until the year 2527.

use std::cell::Cell;
use std::time::{SystemTime, UNIX_EPOCH};

const COUNTER_BITS: u32 = 12;
const SHARD_BITS: u32 = 10;
const COUNTER_MAX: u64 = (1 << COUNTER_BITS) - 1;

/// Hands out producer ids on one shard.
pub struct ProducerIdAllocator {
    shard_bits: u64,
    last_ms: Cell<u64>,
    counter: Cell<u64>,
}

impl ProducerIdAllocator {
    /// An allocator for `shard_id` (only its low 10 bits are used).
    pub fn new(shard_id: usize) -> Self {
        ProducerIdAllocator {
            shard_bits: (shard_id as u64) & ((1 << SHARD_BITS) - 1),
            last_ms: Cell::new(0),
            counter: Cell::new(0),
        }
    }

    /// A new producer id.
    pub fn allocate(&self) -> i64 {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        if now_ms > self.last_ms.get() {
            self.last_ms.set(now_ms);
            self.counter.set(0);
        } else if self.counter.get() == COUNTER_MAX {
            // Out of ids for this millisecond: borrow the next one.
            self.last_ms.set(self.last_ms.get() + 1);
            self.counter.set(0);
        } else {
            self.counter.set(self.counter.get() + 1);
        }
        let id = (self.last_ms.get() << (COUNTER_BITS + SHARD_BITS))
            | (self.shard_bits << COUNTER_BITS)
            | self.counter.get();
        id as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_positive_and_shard_specific() {
        let a = ProducerIdAllocator::new(0);
        let b = ProducerIdAllocator::new(1);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..10_000 {
            assert!(seen.insert(a.allocate()));
            assert!(seen.insert(b.allocate()));
        }
        assert!(seen.iter().all(|id| *id > 0));
    }
}
