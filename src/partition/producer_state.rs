//! Idempotent producer state of one partition: per producer id, its epoch and
//! its last 5 batches (Kafka's `ProducerStateEntry.NUM_BATCHES_TO_RETAIN`).
//!
//! The partition layer decides on every append with it (storage appends only
//! what it accepted) and records each appended batch. It is rebuilt on open
//! from the batches of the active segment only, which storage hands over as
//! it loads them: a producer whose last batch is in an older segment is
//! forgotten, and its next batch is accepted whatever its sequence (as for an
//! unknown producer). The table is bounded; beyond the bound the producer
//! with the oldest last append is forgotten.

use crate::protocol::record_batch::{increment_sequence, BatchInfo, NO_SEQUENCE};
use crate::storage::AppendBatch;
use std::collections::{HashMap, VecDeque};

/// Batches remembered per producer for duplicate detection.
pub const PRODUCER_BATCHES_RETAINED: usize = 5;
/// Producer ids remembered per partition; the least recent are forgotten.
pub const PRODUCERS_PER_PARTITION_MAX: usize = 4096;

/// One remembered batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProducerBatch {
    /// `baseSequence`.
    pub first_sequence: i32,
    /// Sequence of the last record.
    pub last_sequence: i32,
    /// Offset the batch got.
    pub base_offset: i64,
    /// Last offset the batch got.
    pub last_offset: i64,
}

#[derive(Clone, Debug)]
struct ProducerEntry {
    epoch: i16,
    batches: VecDeque<ProducerBatch>,
}

/// Verdict on an incoming batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SequenceCheck {
    /// Append it.
    Accept,
    /// A retry of a batch already in the log: answer with its offsets.
    Duplicate(ProducerBatch),
    /// The epoch is older than the producer's current one.
    InvalidEpoch,
    /// The sequence does not follow the last one.
    OutOfOrder,
}

/// The verdict on all the batches of one append.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppendCheck {
    /// New batches: append them.
    Append,
    /// Retries of batches already in the log: answer with their offsets.
    Duplicate {
        /// Offset of the first record of the first batch.
        base_offset: i64,
        /// Offset of the last record of the last batch.
        last_offset: i64,
    },
    /// A producer epoch older than the one the partition knows.
    InvalidEpoch,
    /// A sequence that does not follow, or retries mixed with new batches.
    OutOfOrder,
}

/// Producer id -> state, for one partition.
#[derive(Debug)]
pub struct ProducerStateTable {
    producers: HashMap<i64, ProducerEntry>,
    producers_max: usize,
}

impl ProducerStateTable {
    /// An empty table remembering at most `producers_max` producers.
    pub fn new(producers_max: usize) -> Self {
        ProducerStateTable {
            producers: HashMap::new(),
            producers_max: producers_max.max(1),
        }
    }

    /// Number of producers remembered.
    pub fn len(&self) -> usize {
        self.producers.len()
    }

    /// True when no producer is remembered.
    pub fn is_empty(&self) -> bool {
        self.producers.is_empty()
    }

    /// Checks a batch against the state (the state is not changed).
    pub fn check(&self, batch: &BatchInfo) -> SequenceCheck {
        if !batch.has_producer_id() || batch.base_sequence == NO_SEQUENCE {
            return SequenceCheck::Accept;
        }
        let Some(entry) = self.producers.get(&batch.producer_id) else {
            return SequenceCheck::Accept;
        };
        if batch.producer_epoch < entry.epoch {
            return SequenceCheck::InvalidEpoch;
        }
        if batch.producer_epoch > entry.epoch {
            // A bumped epoch restarts sequences at 0 (Kafka).
            return match batch.base_sequence {
                0 => SequenceCheck::Accept,
                _ => SequenceCheck::OutOfOrder,
            };
        }
        let last_sequence = batch.last_sequence();
        if let Some(original) = entry.batches.iter().find(|cached| {
            cached.first_sequence == batch.base_sequence && cached.last_sequence == last_sequence
        }) {
            return SequenceCheck::Duplicate(*original);
        }
        match entry.batches.back() {
            Some(last) if increment_sequence(last.last_sequence, 1) != batch.base_sequence => {
                SequenceCheck::OutOfOrder
            }
            _ => SequenceCheck::Accept,
        }
    }

    /// Checks the batches of one append, in order. A batch that follows an
    /// earlier batch of the same producer in the same append must continue
    /// its sequence; the others are checked against the state. All must be
    /// new, or all retries of remembered batches.
    pub fn check_append(&self, batches: &[AppendBatch]) -> AppendCheck {
        let mut duplicates = 0;
        let mut first_duplicate = None;
        let mut last_duplicate = None;
        for (i, batch) in batches.iter().enumerate() {
            let verdict = match i.checked_sub(1).map(|prev| &batches[prev].info) {
                Some(prev)
                    if batch.info.has_producer_id()
                        && prev.producer_id == batch.info.producer_id =>
                {
                    follows_in_request(prev, &batch.info)
                }
                _ => self.check(&batch.info),
            };
            match verdict {
                SequenceCheck::Accept => {}
                SequenceCheck::Duplicate(original) => {
                    duplicates += 1;
                    first_duplicate.get_or_insert(original);
                    last_duplicate = Some(original);
                }
                SequenceCheck::InvalidEpoch => return AppendCheck::InvalidEpoch,
                SequenceCheck::OutOfOrder => return AppendCheck::OutOfOrder,
            }
        }
        match (first_duplicate, last_duplicate) {
            (Some(first), Some(last)) if duplicates == batches.len() => AppendCheck::Duplicate {
                base_offset: first.base_offset,
                last_offset: last.last_offset,
            },
            (Some(_), _) => AppendCheck::OutOfOrder,
            _ => AppendCheck::Append,
        }
    }

    /// Records an appended batch that got offsets `base_offset..`.
    pub fn record(&mut self, batch: &BatchInfo, base_offset: i64) {
        if !batch.has_producer_id() || batch.base_sequence == NO_SEQUENCE {
            return;
        }
        if !self.producers.contains_key(&batch.producer_id) {
            self.make_room();
        }
        let entry = self
            .producers
            .entry(batch.producer_id)
            .or_insert_with(|| ProducerEntry {
                epoch: batch.producer_epoch,
                batches: VecDeque::with_capacity(PRODUCER_BATCHES_RETAINED),
            });
        if entry.epoch != batch.producer_epoch {
            entry.epoch = batch.producer_epoch;
            entry.batches.clear();
        }
        if entry.batches.len() == PRODUCER_BATCHES_RETAINED {
            entry.batches.pop_front();
        }
        entry.batches.push_back(ProducerBatch {
            first_sequence: batch.base_sequence,
            last_sequence: batch.last_sequence(),
            base_offset,
            last_offset: base_offset + i64::from(batch.last_offset_delta),
        });
    }

    fn make_room(&mut self) {
        if self.producers.len() < self.producers_max {
            return;
        }
        let oldest = self
            .producers
            .iter()
            .min_by_key(|(_, entry)| entry.batches.back().map_or(i64::MIN, |b| b.last_offset))
            .map(|(id, _)| *id);
        if let Some(id) = oldest {
            self.producers.remove(&id);
        }
    }
}

/// Checks that `batch` directly follows `prev` of the same producer within
/// one request.
fn follows_in_request(prev: &BatchInfo, batch: &BatchInfo) -> SequenceCheck {
    if batch.producer_epoch != prev.producer_epoch {
        return SequenceCheck::OutOfOrder;
    }
    if batch.base_sequence == increment_sequence(prev.last_sequence(), 1) {
        SequenceCheck::Accept
    } else {
        SequenceCheck::OutOfOrder
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::record_batch::{build_test_batch, peek_batch, TestBatch};

    fn info(producer_id: i64, epoch: i16, base_sequence: i32, records: i32) -> BatchInfo {
        let bytes = build_test_batch(&TestBatch {
            record_count: records,
            producer_id,
            producer_epoch: epoch,
            base_sequence,
            ..TestBatch::default()
        });
        peek_batch(&bytes, true).unwrap().unwrap()
    }

    #[test]
    fn sequences_duplicates_and_epochs() {
        let mut table = ProducerStateTable::new(10);
        let first = info(7, 0, 0, 3);
        assert_eq!(table.check(&first), SequenceCheck::Accept);
        table.record(&first, 100);
        let expected = ProducerBatch {
            first_sequence: 0,
            last_sequence: 2,
            base_offset: 100,
            last_offset: 102,
        };
        assert_eq!(table.check(&first), SequenceCheck::Duplicate(expected));
        assert_eq!(table.check(&info(7, 0, 5, 1)), SequenceCheck::OutOfOrder);
        assert_eq!(table.check(&info(7, 0, 3, 1)), SequenceCheck::Accept);
        assert_eq!(table.check(&info(7, 1, 3, 1)), SequenceCheck::OutOfOrder);
        let bumped = info(7, 1, 0, 1);
        assert_eq!(table.check(&bumped), SequenceCheck::Accept);
        table.record(&bumped, 103);
        assert_eq!(table.check(&info(7, 0, 3, 1)), SequenceCheck::InvalidEpoch);
    }

    #[test]
    fn unknown_producer_any_sequence_and_bounded_table() {
        let mut table = ProducerStateTable::new(2);
        assert_eq!(table.check(&info(1, 0, 42, 1)), SequenceCheck::Accept);
        for (id, offset) in [(1, 0), (2, 1), (3, 2)] {
            table.record(&info(id, 0, 0, 1), offset);
        }
        assert_eq!(table.len(), 2);
        // Producer 1 had the oldest append and was forgotten.
        assert_eq!(table.check(&info(1, 0, 9, 1)), SequenceCheck::Accept);
        assert_eq!(table.check(&info(3, 0, 9, 1)), SequenceCheck::OutOfOrder);
    }

    #[test]
    fn only_last_five_batches_are_duplicates() {
        let mut table = ProducerStateTable::new(10);
        for sequence in 0..7 {
            table.record(&info(1, 0, sequence, 1), i64::from(sequence));
        }
        assert_eq!(table.check(&info(1, 0, 1, 1)), SequenceCheck::OutOfOrder);
        assert!(matches!(
            table.check(&info(1, 0, 2, 1)),
            SequenceCheck::Duplicate(_)
        ));
    }
}
