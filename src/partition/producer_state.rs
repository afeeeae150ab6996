//! Idempotent producer state of one partition: per producer id, its epoch,
//! the max timestamp of its last batch and its last 5 batches (Kafka's
//! `ProducerStateEntry.NUM_BATCHES_TO_RETAIN`).
//!
//! The partition layer decides on every append with it (storage appends only
//! what it accepted) and records each appended batch. It is a function of the
//! log: rebuilt on open from the newest valid snapshot plus every batch after
//! it (`snapshots.rs`), so any replica holding the log can rebuild it.
//!
//! A producer is forgotten only when its last batch's max timestamp is
//! `producer.id.expiration.ms` or more in the past (Kafka's rule, checked
//! lazily: when the table is full, at a snapshot, after a rebuild). The table
//! is bounded (`producer.ids.per.partition.max`): while it is full of
//! producers that have not expired, a new producer's batch is refused
//! ([`AppendCheck::ProducersFull`]) rather than anyone's de-duplication
//! silently dropped. Kafka has no such bound; memory per producer is small,
//! so the default is generous.

use super::producer_snapshot::{SnapshotEntry, NO_COORDINATOR_EPOCH, NO_TRANSACTION};
use crate::protocol::record_batch::{increment_sequence, BatchInfo, NO_SEQUENCE};
use crate::storage::AppendBatch;
use std::collections::{HashMap, VecDeque};

/// Batches remembered per producer for duplicate detection.
pub const PRODUCER_BATCHES_RETAINED: usize = 5;
/// Default of `producer.ids.per.partition.max`: about 25 MB of state at most
/// per partition (about 250 bytes per producer).
pub const PRODUCER_IDS_PER_PARTITION_MAX_DEFAULT: usize = 100_000;
/// Default of `producer.id.expiration.ms` (Kafka's: one day).
pub const PRODUCER_ID_EXPIRATION_MS_DEFAULT: i64 = 86_400_000;

/// Limits of a partition's producer state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProducerStateConfig {
    /// `producer.ids.per.partition.max`: producers remembered at most.
    pub producers_max: usize,
    /// `producer.id.expiration.ms`: a producer whose last batch's max
    /// timestamp is this far in the past is forgotten.
    pub expiration_ms: i64,
}

impl Default for ProducerStateConfig {
    fn default() -> Self {
        ProducerStateConfig {
            producers_max: PRODUCER_IDS_PER_PARTITION_MAX_DEFAULT,
            expiration_ms: PRODUCER_ID_EXPIRATION_MS_DEFAULT,
        }
    }
}

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
    /// The batch's max timestamp as stored (the append time on a LogAppendTime
    /// topic): Kafka answers a retry of it with this as `log_append_time_ms`.
    pub timestamp: i64,
}

#[derive(Clone, Debug)]
struct ProducerEntry {
    epoch: i16,
    /// Max timestamp of the producer's last batch (Kafka's `lastTimestamp`).
    last_timestamp: i64,
    batches: VecDeque<ProducerBatch>,
    /// The sequence the log holds last for this producer when no batch is
    /// remembered (a truncation cut them all, its earlier batches staying
    /// in the log), else [`NO_SEQUENCE`]: the next batch must follow it.
    cut_last_sequence: i32,
}

impl ProducerEntry {
    fn new(epoch: i16, last_timestamp: i64) -> Self {
        ProducerEntry {
            epoch,
            last_timestamp,
            batches: VecDeque::with_capacity(PRODUCER_BATCHES_RETAINED),
            cut_last_sequence: NO_SEQUENCE,
        }
    }

    /// The sequence the next batch must follow, [`NO_SEQUENCE`] for any.
    fn last_sequence(&self) -> i32 {
        self.batches
            .back()
            .map_or(self.cut_last_sequence, |last| last.last_sequence)
    }

    /// Forgets the batches at or above `offset`. When that cuts every
    /// remembered batch, the log below still holds the batch before the
    /// earliest cut one (same epoch: sequences are contiguous), so its
    /// sequence stays the one to follow, without offsets to answer a retry
    /// with: a retry of a cut batch is appended again, as it must be.
    fn truncate_from(&mut self, offset: i64) {
        let mut earliest_cut = None;
        while let Some(batch) = self.batches.back().filter(|b| b.base_offset >= offset) {
            earliest_cut = Some(batch.first_sequence);
            self.batches.pop_back();
        }
        if let (Some(first_sequence), true) = (earliest_cut, self.batches.is_empty()) {
            // Sequence 0 gives i32::MAX, which 0 follows: the epoch restarts.
            self.cut_last_sequence = decrement_sequence(first_sequence, 1);
        }
    }

    /// Remembers `batch` as the newest, dropping the oldest beyond 5.
    fn push(&mut self, batch: ProducerBatch) {
        if self.batches.len() == PRODUCER_BATCHES_RETAINED {
            self.batches.pop_front();
        }
        self.batches.push_back(batch);
    }
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
        /// The first batch's stored max timestamp ([`ProducerBatch::timestamp`]).
        timestamp: i64,
    },
    /// A producer epoch older than the one the partition knows.
    InvalidEpoch,
    /// A sequence that does not follow, or retries mixed with new batches.
    OutOfOrder,
    /// A new producer, while the table is full of producers that have not
    /// expired: refused, so that none of them loses de-duplication.
    ProducersFull,
}

/// Producer id -> state, for one partition.
#[derive(Debug)]
pub struct ProducerStateTable {
    producers: HashMap<i64, ProducerEntry>,
    config: ProducerStateConfig,
    /// No producer expires before this time (ms): no scan is needed before.
    next_expiry_ms: i64,
}

impl ProducerStateTable {
    /// An empty table with the given limits.
    pub fn new(config: ProducerStateConfig) -> Self {
        ProducerStateTable {
            producers: HashMap::new(),
            config: ProducerStateConfig {
                producers_max: config.producers_max.max(1),
                ..config
            },
            next_expiry_ms: i64::MAX,
        }
    }

    /// The table's limits.
    pub fn config(&self) -> ProducerStateConfig {
        self.config
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
        match entry.last_sequence() {
            NO_SEQUENCE => SequenceCheck::Accept,
            last if increment_sequence(last, 1) != batch.base_sequence => SequenceCheck::OutOfOrder,
            _ => SequenceCheck::Accept,
        }
    }

    /// Checks the batches of one append, in order, at wall-clock `now_ms`. A
    /// batch that follows an earlier batch of the same producer in the same
    /// append must continue its sequence; the others are checked against the
    /// state. All must be new, or all retries of remembered batches. New
    /// producers need room: expired producers are forgotten to make it.
    pub fn check_append(&mut self, batches: &[AppendBatch], now_ms: i64) -> AppendCheck {
        match self.check_sequences(batches) {
            AppendCheck::Append => self.check_room(batches, now_ms),
            verdict => verdict,
        }
    }

    fn check_sequences(&self, batches: &[AppendBatch]) -> AppendCheck {
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
                timestamp: first.timestamp,
            },
            (Some(_), _) => AppendCheck::OutOfOrder,
            _ => AppendCheck::Append,
        }
    }

    /// New producers in `batches` must fit; expired producers are forgotten
    /// first when they do not.
    fn check_room(&mut self, batches: &[AppendBatch], now_ms: i64) -> AppendCheck {
        let mut new_producers: Vec<i64> = Vec::new();
        for batch in batches {
            let id = batch.info.producer_id;
            let tracked = batch.info.has_producer_id() && batch.info.base_sequence != NO_SEQUENCE;
            if tracked && !self.producers.contains_key(&id) && !new_producers.contains(&id) {
                new_producers.push(id);
            }
        }
        let fits = |table: &Self| {
            table.producers.len() + new_producers.len() <= table.config.producers_max
        };
        if new_producers.is_empty() || fits(self) {
            return AppendCheck::Append;
        }
        self.expire(now_ms);
        match fits(self) {
            true => AppendCheck::Append,
            false => AppendCheck::ProducersFull,
        }
    }

    /// Records an appended batch that got offsets `base_offset..`. Never
    /// refuses (the rebuild from the log records whatever the log holds).
    pub fn record(&mut self, batch: &BatchInfo, base_offset: i64) {
        if !batch.has_producer_id() || batch.base_sequence == NO_SEQUENCE {
            return;
        }
        let entry = self.entry_at(batch.producer_id, batch.producer_epoch, batch.max_timestamp);
        entry.push(ProducerBatch {
            first_sequence: batch.base_sequence,
            last_sequence: batch.last_sequence(),
            base_offset,
            last_offset: base_offset + i64::from(batch.last_offset_delta),
            timestamp: batch.max_timestamp,
        });
    }

    /// Forgets the batches at or above `offset` (the log rolled them back).
    /// A producer keeps its epoch even when every batch remembered of it is
    /// cut: its earlier batches may still be in the log (only 5 are
    /// remembered), and forgetting it would accept its next batch at any
    /// sequence, committing a gap; its next batch must follow the last one
    /// left in the log instead.
    pub fn truncate_from(&mut self, offset: i64) {
        for entry in self.producers.values_mut() {
            entry.truncate_from(offset);
        }
    }

    /// The producer's entry at `epoch` (a new epoch forgets the batches of
    /// the old one), its last batch's max timestamp now `last_timestamp`.
    fn entry_at(
        &mut self,
        producer_id: i64,
        epoch: i16,
        last_timestamp: i64,
    ) -> &mut ProducerEntry {
        let expires_ms = last_timestamp.saturating_add(self.config.expiration_ms);
        self.next_expiry_ms = self.next_expiry_ms.min(expires_ms);
        let entry = self
            .producers
            .entry(producer_id)
            .or_insert_with(|| ProducerEntry::new(epoch, last_timestamp));
        if entry.epoch != epoch {
            entry.epoch = epoch;
            entry.batches.clear();
            entry.cut_last_sequence = NO_SEQUENCE;
        }
        entry.last_timestamp = last_timestamp;
        entry
    }

    /// Forgets the producers whose last batch's max timestamp is
    /// `producer.id.expiration.ms` or more before `now_ms`; returns how many.
    /// Scans only when one may have expired since the last scan.
    pub fn expire(&mut self, now_ms: i64) -> usize {
        if now_ms < self.next_expiry_ms {
            return 0;
        }
        let expiration_ms = self.config.expiration_ms;
        let before = self.producers.len();
        self.producers
            .retain(|_, entry| now_ms.saturating_sub(entry.last_timestamp) < expiration_ms);
        self.next_expiry_ms = self
            .producers
            .values()
            .map(|entry| entry.last_timestamp.saturating_add(expiration_ms))
            .min()
            .unwrap_or(i64::MAX);
        before - self.producers.len()
    }

    /// Every remembered batch as a snapshot entry (Kafka's schema), each
    /// producer's oldest first, so a reader that keeps the last entry per
    /// producer (Kafka) gets its last batch. A producer without a batch gets
    /// one entry with `last_offset` -1 and the sequence to follow (Kafka and
    /// older readers ignore the sequence of such an entry).
    pub fn snapshot_entries(&self) -> impl Iterator<Item = SnapshotEntry> + '_ {
        self.producers.iter().flat_map(|(&producer_id, entry)| {
            let empty = entry.batches.is_empty().then_some(None);
            let batches = entry.batches.iter().map(Some);
            empty
                .into_iter()
                .chain(batches)
                .map(move |batch| SnapshotEntry {
                    producer_id,
                    epoch: entry.epoch,
                    last_sequence: batch.map_or(entry.cut_last_sequence, |b| b.last_sequence),
                    last_offset: batch.map_or(-1, |b| b.last_offset),
                    offset_delta: batch.map_or(0, |b| (b.last_offset - b.base_offset) as i32),
                    timestamp: entry.last_timestamp,
                    coordinator_epoch: NO_COORDINATOR_EPOCH,
                    current_txn_first_offset: NO_TRANSACTION,
                })
        })
    }

    /// Number of entries [`ProducerStateTable::snapshot_entries`] yields.
    pub fn snapshot_entry_count(&self) -> usize {
        self.producers
            .values()
            .map(|entry| entry.batches.len().max(1))
            .sum()
    }

    /// Restores one snapshot entry (in file order: a later entry of the same
    /// producer is a later batch).
    pub fn restore(&mut self, entry: &SnapshotEntry) {
        let producer = self.entry_at(entry.producer_id, entry.epoch, entry.timestamp);
        if entry.last_offset >= 0 {
            producer.push(ProducerBatch {
                first_sequence: decrement_sequence(entry.last_sequence, entry.offset_delta),
                last_sequence: entry.last_sequence,
                base_offset: entry.last_offset - i64::from(entry.offset_delta),
                last_offset: entry.last_offset,
                // Kafka's snapshot keeps one timestamp per producer, its last batch's.
                timestamp: entry.timestamp,
            });
        } else {
            producer.cut_last_sequence = entry.last_sequence;
        }
    }
}

/// Kafka's `DefaultRecordBatch.decrementSequence`: the inverse of
/// [`increment_sequence`], wrapping below 0.
fn decrement_sequence(sequence: i32, decrement: i32) -> i32 {
    if sequence < decrement {
        i32::MAX - (decrement - sequence) + 1
    } else {
        sequence - decrement
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
    use crate::storage::tests::test_batch;

    /// Batch timestamps of the tests (`TestBatch`'s default).
    const T0: i64 = 1_700_000_000_000;
    const EXPIRATION_MS: i64 = 60_000;

    fn table(producers_max: usize) -> ProducerStateTable {
        ProducerStateTable::new(ProducerStateConfig {
            producers_max,
            expiration_ms: EXPIRATION_MS,
        })
    }

    fn spec(producer_id: i64, epoch: i16, base_sequence: i32, records: i32) -> TestBatch {
        TestBatch {
            record_count: records,
            producer_id,
            producer_epoch: epoch,
            base_sequence,
            base_timestamp: T0,
            ..TestBatch::default()
        }
    }

    fn info(producer_id: i64, epoch: i16, base_sequence: i32, records: i32) -> BatchInfo {
        let bytes = build_test_batch(&spec(producer_id, epoch, base_sequence, records));
        peek_batch(&bytes, true).unwrap().unwrap()
    }

    /// A one-record batch of `producer_id` whose max timestamp is `timestamp`.
    fn at(producer_id: i64, sequence: i32, timestamp: i64) -> AppendBatch {
        test_batch(TestBatch {
            base_timestamp: timestamp,
            ..spec(producer_id, 0, sequence, 1)
        })
    }

    #[test]
    fn sequences_duplicates_and_epochs() {
        let mut table = table(10);
        let first = info(7, 0, 0, 3);
        assert_eq!(table.check(&first), SequenceCheck::Accept);
        table.record(&first, 100);
        let expected = ProducerBatch {
            first_sequence: 0,
            last_sequence: 2,
            base_offset: 100,
            last_offset: 102,
            timestamp: first.max_timestamp,
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
    fn truncation_forgets_rolled_back_batches() {
        let mut table = table(10);
        for sequence in 0..4 {
            table.record(&info(1, 0, sequence, 1), i64::from(sequence));
        }
        table.record(&info(2, 0, 0, 1), 4);
        table.truncate_from(3);
        // Producer 1 continues after its batch at offset 2; its rolled-back
        // batch is new again, not a duplicate. Producer 2 lost its only
        // batch: it starts again at sequence 0, not at any sequence.
        assert_eq!(table.check(&info(1, 0, 3, 1)), SequenceCheck::Accept);
        assert!(matches!(
            table.check(&info(1, 0, 2, 1)),
            SequenceCheck::Duplicate(_)
        ));
        assert_eq!(table.len(), 2);
        assert_eq!(table.check(&info(2, 0, 5, 1)), SequenceCheck::OutOfOrder);
        assert_eq!(table.check(&info(2, 0, 0, 1)), SequenceCheck::Accept);
    }

    /// A truncation that cuts every batch remembered of a producer must
    /// not make it unknown while the log below the cut still holds its
    /// earlier batches: an unknown producer's batch is accepted at any
    /// sequence, so a pipelined later batch reaching a new leader first is
    /// committed with a gap (the replication simulator, seed 13323 with
    /// `truncation_fallback`). A reload from the log (what
    /// `truncate_as_follower` does unless it fails) keeps sequence 4 last.
    #[test]
    fn a_truncation_below_every_remembered_batch_keeps_the_sequence() {
        let mut table = table(10);
        for sequence in 0..10 {
            table.record(&info(1, 0, sequence, 1), i64::from(sequence));
        }
        table.truncate_from(5);
        assert_eq!(table.check(&info(1, 0, 6, 1)), SequenceCheck::OutOfOrder);
        // The cut batch at sequence 5 is appended again, not a duplicate.
        assert_eq!(table.check(&info(1, 0, 5, 1)), SequenceCheck::Accept);
        // A snapshot keeps the sequence to follow (Kafka ignores it: its
        // entry has no batch) and a later batch continues from there.
        let mut restored = self::table(10);
        for entry in table.snapshot_entries() {
            restored.restore(&entry);
        }
        assert_eq!(restored.check(&info(1, 0, 6, 1)), SequenceCheck::OutOfOrder);
        assert_eq!(restored.check(&info(1, 0, 5, 1)), SequenceCheck::Accept);
        table.record(&info(1, 0, 5, 1), 5);
        assert_eq!(table.check(&info(1, 0, 6, 1)), SequenceCheck::Accept);
        // A new epoch restarts at 0 as before.
        assert_eq!(table.check(&info(1, 1, 0, 1)), SequenceCheck::Accept);
    }

    #[test]
    fn only_last_five_batches_are_duplicates() {
        let mut table = table(10);
        for sequence in 0..7 {
            table.record(&info(1, 0, sequence, 1), i64::from(sequence));
        }
        assert_eq!(table.check(&info(1, 0, 1, 1)), SequenceCheck::OutOfOrder);
        assert!(matches!(
            table.check(&info(1, 0, 2, 1)),
            SequenceCheck::Duplicate(_)
        ));
    }

    #[test]
    fn a_producer_is_forgotten_only_after_the_expiration_time() {
        let mut table = table(10);
        table.record(&at(1, 0, T0).info, 0);
        table.record(&at(2, 0, T0 + 30_000).info, 1);
        assert_eq!(table.expire(T0 + EXPIRATION_MS - 1), 0);
        assert_eq!(table.len(), 2);
        assert_eq!(table.expire(T0 + EXPIRATION_MS), 1);
        // Producer 1 is unknown again (any sequence); producer 2 is not.
        assert_eq!(table.check(&at(1, 9, T0).info), SequenceCheck::Accept);
        assert_eq!(table.check(&at(2, 9, T0).info), SequenceCheck::OutOfOrder);
        // A later batch moves a producer's expiry.
        table.record(&at(2, 1, T0 + 90_000).info, 2);
        assert_eq!(table.expire(T0 + 30_000 + EXPIRATION_MS), 0);
        assert_eq!(table.expire(T0 + 90_000 + EXPIRATION_MS), 1);
        assert!(table.is_empty());
    }

    #[test]
    fn a_full_table_refuses_new_producers_and_keeps_every_recent_one() {
        let mut table = table(2);
        let now = T0 + 1_000;
        for (id, offset) in [(1, 0), (2, 1)] {
            let batch = at(id, 0, T0);
            assert_eq!(
                table.check_append(std::slice::from_ref(&batch), now),
                AppendCheck::Append
            );
            table.record(&batch.info, offset);
        }
        // Full of producers that have not expired: the newcomer is refused...
        let newcomer = at(3, 0, now);
        assert_eq!(
            table.check_append(std::slice::from_ref(&newcomer), now),
            AppendCheck::ProducersFull
        );
        // ...and both producers still get their retries recognised.
        for (id, offset) in [(1, 0), (2, 1)] {
            let retry = table.check_append(&[at(id, 0, T0)], now);
            let expected = AppendCheck::Duplicate {
                base_offset: offset,
                last_offset: offset,
                timestamp: T0,
            };
            assert_eq!(retry, expected);
        }
        // Known producers and non-idempotent batches need no room.
        assert_eq!(
            table.check_append(&[at(1, 1, now)], now),
            AppendCheck::Append
        );
        let plain = test_batch(TestBatch::default());
        assert_eq!(table.check_append(&[plain], now), AppendCheck::Append);
        // Once the producers expired, the newcomer gets in.
        let later = T0 + EXPIRATION_MS;
        assert_eq!(table.check_append(&[newcomer], later), AppendCheck::Append);
        assert!(table.is_empty());
    }

    #[test]
    fn snapshot_entries_restore_the_same_state() {
        let mut table = table(10);
        for sequence in 0..7 {
            table.record(&info(1, 0, sequence * 3, 3), i64::from(sequence) * 10);
        }
        table.record(&info(2, 4, i32::MAX - 1, 4), 200);
        assert_eq!(table.snapshot_entry_count(), 6);
        let mut restored = self::table(10);
        for entry in table.snapshot_entries() {
            restored.restore(&entry);
        }
        for (producer, sequence) in [(1, 6), (1, 12), (1, 18), (2, i32::MAX - 1)] {
            let batch = if producer == 1 {
                info(1, 0, sequence, 3)
            } else {
                info(2, 4, sequence, 4)
            };
            assert_eq!(restored.check(&batch), table.check(&batch));
            assert!(matches!(
                restored.check(&batch),
                SequenceCheck::Duplicate(_)
            ));
        }
        assert_eq!(restored.check(&info(1, 0, 21, 1)), SequenceCheck::Accept);
        // Producer 2's batch wrapped: its sequence goes on at 2.
        assert_eq!(restored.check(&info(2, 4, 2, 1)), SequenceCheck::Accept);
        assert_eq!(restored.check(&info(2, 4, 3, 1)), SequenceCheck::OutOfOrder);
    }

    #[test]
    fn sequences_decrement_across_the_wrap() {
        assert_eq!(decrement_sequence(7, 2), 5);
        assert_eq!(decrement_sequence(1, 3), i32::MAX - 1);
        assert_eq!(
            decrement_sequence(increment_sequence(i32::MAX - 1, 3), 3),
            i32::MAX - 1
        );
    }
}
