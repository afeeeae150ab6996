//! A simulated replica's log: entries from its log start offset to its log
//! end offset. Retention (or DeleteRecords) moves a leader's start up; a
//! follower whose log ends below its leader's start starts an empty log
//! there (Kafka's `truncateFullyAndStartAt`), so offsets are absolute and
//! the entries below the start are gone.

use super::Entry;

#[derive(Clone, Debug, Default)]
pub(super) struct SimLog {
    /// The log start offset: the offset of `entries[0]`.
    start: i64,
    entries: Vec<Entry>,
}

impl SimLog {
    /// The log start offset.
    pub(super) fn start(&self) -> i64 {
        self.start
    }

    /// The log end offset.
    pub(super) fn end(&self) -> i64 {
        self.start + self.entries.len() as i64
    }

    /// The entry at `offset`: none below the start or at or past the end.
    pub(super) fn get(&self, offset: i64) -> Option<&Entry> {
        let index = usize::try_from(offset.checked_sub(self.start)?).ok()?;
        self.entries.get(index)
    }

    /// Every entry with its offset, from the start.
    pub(super) fn iter(&self) -> impl Iterator<Item = (i64, &Entry)> {
        (self.start..).zip(self.entries.iter())
    }

    pub(super) fn push(&mut self, entry: Entry) {
        self.entries.push(entry);
    }

    pub(super) fn extend(&mut self, entries: &[Entry]) {
        self.entries.extend_from_slice(entries);
    }

    /// Cuts the log at `end` (nothing when it ends there already); a cut
    /// below the start starts an empty log there, as the storage's
    /// `truncate` does.
    pub(super) fn truncate(&mut self, end: i64) {
        if end < self.start {
            self.restart_at(end);
            return;
        }
        self.entries.truncate((end - self.start) as usize);
    }

    /// The first offset of the batch holding `offset`, or `offset` itself
    /// when it holds none: where a deletion up to `offset` may stop, as
    /// retention deletes whole segments (of whole batches).
    pub(super) fn batch_start(&self, offset: i64) -> i64 {
        self.get(offset)
            .map_or(offset, |entry| offset - i64::from(entry.batch_index))
    }

    /// The entries from `from` on, at most `max` of them, then to the end
    /// of the batch the last one is in (a fetch answer carries whole
    /// batches, as Kafka's does).
    pub(super) fn read(&self, from: i64, max: usize) -> Vec<Entry> {
        let Some(first) = usize::try_from(from - self.start).ok() else {
            return Vec::new();
        };
        let len = self.entries.len();
        let mut to = len.min(first.saturating_add(max));
        while to < len && self.entries[to].batch_index != 0 {
            to += 1;
        }
        self.entries
            .get(first..to)
            .map_or_else(Vec::new, <[_]>::to_vec)
    }

    /// Retention or DeleteRecords: the entries below `start` are deleted
    /// (never past the end). Returns whether the start moved.
    pub(super) fn advance_start(&mut self, start: i64) -> bool {
        let start = start.min(self.end());
        if start <= self.start {
            return false;
        }
        self.entries.drain(..(start - self.start) as usize);
        self.start = start;
        true
    }

    /// Kafka's `truncateFullyAndStartAt`: every entry deleted, an empty
    /// log starting at `start`.
    pub(super) fn restart_at(&mut self, start: i64) {
        self.entries.clear();
        self.start = start;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::partition::replica::sim::ProducerStamp;

    fn entry(record: u64, batch_index: u32, batch_records: u32) -> Entry {
        Entry {
            epoch: 1,
            record,
            stamp: ProducerStamp {
                producer_id: 1,
                producer_epoch: 0,
                sequence: record as i32,
            },
            timestamp_ms: 0,
            batch_index,
            batch_records,
        }
    }

    #[test]
    fn offsets_stay_absolute_after_the_start_moves() {
        let mut log = SimLog::default();
        log.extend(&[entry(0, 0, 1), entry(1, 0, 2), entry(2, 1, 2)]);
        assert!(log.advance_start(1));
        assert!(!log.advance_start(1), "the start never moves back");
        assert_eq!((log.start(), log.end()), (1, 3));
        assert_eq!(log.get(0), None);
        assert_eq!(log.get(2).map(|e| e.record), Some(2));
        assert_eq!(log.read(0, 8), Vec::new(), "below the start: nothing");
        assert_eq!(log.read(1, 1).len(), 2, "the whole batch");
        log.restart_at(10);
        assert_eq!((log.start(), log.end()), (10, 10));
    }
}
