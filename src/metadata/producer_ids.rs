//! Producer ids for idempotent producers.
//!
//! On a single node, [`ProducerIdAllocator`] makes them unique without
//! coordination. In a cluster, every shard hands out ids from blocks the
//! active controller allotted (AllocateProducerIds, key 67, committed to the
//! metadata log, so unique across brokers and restarts): [`ProducerIdBlocks`]
//! holds them, asking for the next block before the current one runs out
//! (Kafka's `RPCProducerIdManager` prefetches at 90%).
//!
//! A single node's id is `(milliseconds since the epoch << 22) | (shard << 12) | counter`:
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

/// Fraction of a block used (in tenths) after which the next one is asked for.
const PREFETCH_AT_TENTHS: i64 = 9;

/// The producer id blocks one shard of a cluster member hands ids out of:
/// the current one and at most one fetched ahead.
#[derive(Debug, Default)]
pub struct ProducerIdBlocks {
    /// Next id to hand out and the end (exclusive) of the current block.
    current: Option<(i64, i64)>,
    /// The block after the current one, once fetched.
    next: Option<(i64, i64)>,
    /// The length of the last block received (the prefetch threshold).
    block_len: i64,
}

impl ProducerIdBlocks {
    /// The next id, or `None` when every block is used up (fetch one).
    pub fn take(&mut self) -> Option<i64> {
        if self.current.is_none_or(|(next, end)| next >= end) {
            self.current = self.next.take();
        }
        let (next, end) = self.current.as_mut()?;
        if *next >= *end {
            return None;
        }
        let id = *next;
        *next += 1;
        Some(id)
    }

    /// True when the next block should be fetched now: none is held ahead
    /// and the current one is used up or past 90%.
    pub fn wants_block(&self) -> bool {
        if self.next.is_some() {
            return false;
        }
        match self.current {
            None => true,
            Some((next, end)) => (end - next) * 10 <= self.block_len * (10 - PREFETCH_AT_TENTHS),
        }
    }

    /// Adds the block of `len` ids from `first` the controller allotted.
    pub fn add_block(&mut self, first: i64, len: i32) {
        let block = (first, first.saturating_add(len as i64));
        self.block_len = len as i64;
        if self.current.is_none_or(|(next, end)| next >= end) {
            self.current = Some(block);
        } else if self.next.is_none() {
            self.next = Some(block);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_hand_out_every_id_once_and_ask_ahead_at_ninety_percent() {
        let mut blocks = ProducerIdBlocks::default();
        assert!(blocks.wants_block());
        assert_eq!(blocks.take(), None);
        blocks.add_block(1000, 10);
        assert!(!blocks.wants_block());
        let first: Vec<i64> = (0..8).filter_map(|_| blocks.take()).collect();
        assert_eq!(first, (1000..1008).collect::<Vec<_>>());
        assert!(!blocks.wants_block(), "2 of 10 left: not yet");
        assert_eq!(blocks.take(), Some(1008));
        assert!(blocks.wants_block(), "1 of 10 left: ask ahead");
        blocks.add_block(5000, 10);
        assert!(!blocks.wants_block());
        assert_eq!(blocks.take(), Some(1009));
        assert_eq!(blocks.take(), Some(5000), "then the block fetched ahead");
        let rest: Vec<i64> = (0..20).filter_map(|_| blocks.take()).collect();
        assert_eq!(rest, (5001..5010).collect::<Vec<_>>());
        assert!(blocks.wants_block());
    }

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
