//! The offset and time indexes of a segment, held in memory (lookups never
//! touch a file or an mmap) and persisted in Kafka's file formats:
//! `.index` entries are 8 bytes (u32 offset relative to the segment base, u32
//! file position of a batch start); `.timeindex` entries are 12 bytes (i64
//! timestamp, u32 relative offset). Both big-endian, like Kafka.
//!
//! As in Kafka, an offset entry names the *last* offset of the batch that
//! starts at the position, and a time entry names the largest timestamp seen
//! so far in the segment and the last offset of the first batch that reached
//! it. An entry is added when more than `index.interval.bytes` were appended
//! since the previous one.

use std::fmt;

/// Bytes of one `.index` entry.
pub const OFFSET_INDEX_ENTRY_BYTES: usize = 8;
/// Bytes of one `.timeindex` entry.
pub const TIME_INDEX_ENTRY_BYTES: usize = 12;
/// Kafka's "no timestamp".
pub const NO_TIMESTAMP: i64 = -1;
/// The block size of O_DIRECT writes (`segment::WRITE_ALIGNMENT_BYTES`).
const BLOCK_BYTES: u64 = 4096;

/// Why an index file was rejected (it is then rebuilt by scanning the log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexDamage {
    /// The file size is not a multiple of the entry size.
    PartialEntry,
    /// Offsets, positions or timestamps go backwards.
    NotMonotonic,
    /// A position lies past the end of the segment.
    PositionPastEnd,
}

impl fmt::Display for IndexDamage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IndexDamage::PartialEntry => write!(f, "size is not a multiple of the entry size"),
            IndexDamage::NotMonotonic => write!(f, "entries are not monotonic"),
            IndexDamage::PositionPastEnd => write!(f, "a position lies past the segment end"),
        }
    }
}

/// `OffsetEntry::relative_base_offset` of an entry read from a `.index` file,
/// which records last offsets only.
const UNKNOWN_BASE: u32 = u32::MAX;

#[derive(Clone, Copy, Debug)]
struct OffsetEntry {
    /// Last offset of the batch (what the file records).
    relative_offset: u32,
    position: u32,
    /// First offset of the batch, known for batches appended or scanned by
    /// this process (memory only): it lets a read start at the batch
    /// without reading its header ([`OffsetIndex::batch_holding`]).
    relative_base_offset: u32,
}

/// Sparse map from offsets to file positions of batch starts.
#[derive(Clone, Debug, Default)]
pub struct OffsetIndex {
    entries: Vec<OffsetEntry>,
    /// Entries whose batch base offset is unknown (read from a file and not
    /// filled yet: `base_fill.rs`).
    unknown_bases: usize,
}

/// Two indexes are equal when their files are: the base offsets are a
/// memory-only addition.
impl PartialEq for OffsetIndex {
    fn eq(&self, other: &Self) -> bool {
        let file_entry = |entry: &OffsetEntry| (entry.relative_offset, entry.position);
        self.entries.len() == other.entries.len()
            && self
                .entries
                .iter()
                .map(file_entry)
                .eq(other.entries.iter().map(file_entry))
    }
}

impl Eq for OffsetIndex {}

/// An indexed batch found without reading the segment file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IndexedStart {
    /// File position of the batch start.
    pub position: u32,
    /// Position of the next entry's batch, which starts at or after this
    /// batch's end (`None` for the last entry: the batch's end is unknown).
    pub next_position: Option<u32>,
}

impl OffsetIndex {
    /// Adds an entry from a `.index` file (the batch's base offset is
    /// unknown); ignored unless both offset and position grow.
    pub fn push(&mut self, relative_offset: u32, position: u32) {
        self.push_batch(UNKNOWN_BASE, relative_offset, position);
    }

    /// Adds an entry for a batch of relative offsets
    /// `relative_base_offset..=relative_last_offset`; ignored unless both
    /// offset and position grow.
    pub fn push_batch(
        &mut self,
        relative_base_offset: u32,
        relative_last_offset: u32,
        position: u32,
    ) {
        if let Some(last) = self.entries.last() {
            if relative_last_offset <= last.relative_offset || position <= last.position {
                return;
            }
        }
        self.entries.push(OffsetEntry {
            relative_offset: relative_last_offset,
            position,
            relative_base_offset,
        });
        if relative_base_offset == UNKNOWN_BASE {
            self.unknown_bases += 1;
        }
    }

    /// True while some entry's batch base offset is unknown.
    pub fn has_unknown_bases(&self) -> bool {
        self.unknown_bases > 0
    }

    /// Up to `max` entries at or after `from_position` whose base offset is
    /// unknown, as (position, relative last offset), in position order.
    pub fn unknown_bases_from(&self, from_position: u32, max: usize) -> Vec<(u32, u32)> {
        let start = self
            .entries
            .partition_point(|entry| entry.position < from_position);
        self.entries[start..]
            .iter()
            .filter(|entry| entry.relative_base_offset == UNKNOWN_BASE)
            .take(max)
            .map(|entry| (entry.position, entry.relative_offset))
            .collect()
    }

    /// Records the base offset of the batch at `position`, read from its
    /// header, if an entry names that batch (same position and last offset)
    /// without one. Anything else (the entry went with a truncation, or
    /// names another batch) is left alone.
    pub fn fill_base(
        &mut self,
        position: u32,
        relative_last_offset: u32,
        relative_base_offset: u32,
    ) {
        let at = self
            .entries
            .partition_point(|entry| entry.position < position);
        let Some(entry) = self.entries.get_mut(at) else {
            return;
        };
        let names_it = entry.position == position
            && entry.relative_offset == relative_last_offset
            && entry.relative_base_offset == UNKNOWN_BASE
            && relative_base_offset <= relative_last_offset;
        if names_it {
            entry.relative_base_offset = relative_base_offset;
            self.unknown_bases -= 1;
        }
    }

    fn recount_unknown_bases(&mut self) {
        self.unknown_bases = self
            .entries
            .iter()
            .filter(|entry| entry.relative_base_offset == UNKNOWN_BASE)
            .count();
    }

    /// The indexed batch holding `relative_offset`, when its base offset is
    /// known: a read can start there without a header scan. `None` when the
    /// offset is in a batch without entry (or an entry from a file).
    pub fn batch_holding(&self, relative_offset: u32) -> Option<IndexedStart> {
        let at = self
            .entries
            .partition_point(|entry| entry.relative_offset < relative_offset);
        let entry = self.entries.get(at)?;
        let known = entry.relative_base_offset != UNKNOWN_BASE;
        (known && entry.relative_base_offset <= relative_offset).then(|| IndexedStart {
            position: entry.position,
            next_position: self.entries.get(at + 1).map(|next| next.position),
        })
    }

    /// The last batch start in `(after_position, up_to_position]` whose
    /// entry knows its base offset: where a read answer can end so that the
    /// next read, from that batch, finds it with [`OffsetIndex::batch_holding`].
    pub fn known_batch_start_in(&self, after_position: u64, up_to_position: u64) -> Option<u64> {
        let after = self
            .entries
            .partition_point(|entry| u64::from(entry.position) <= up_to_position);
        let entry = self.entries.get(after.checked_sub(1)?)?;
        let position = u64::from(entry.position);
        let known = entry.relative_base_offset != UNKNOWN_BASE;
        (known && position > after_position).then_some(position)
    }

    /// Position of a batch start at or before the batch holding
    /// `relative_offset`: scanning forward from there finds it.
    pub fn lookup(&self, relative_offset: u32) -> u32 {
        let after = self
            .entries
            .partition_point(|entry| entry.relative_offset <= relative_offset);
        match after {
            0 => 0,
            n => self.entries[n - 1].position,
        }
    }

    /// An entry to resume checking a segment from when its offsets below
    /// `relative_end` are known good: `(position, relative offset)` of the
    /// last entry at or before the block start of the last batch that ends
    /// below `relative_end`. Every batch of the block holding
    /// `relative_end`'s position starts at or after it. `None`: from the
    /// segment start.
    pub fn resume_before(&self, relative_end: u32) -> Option<(u32, u32)> {
        let good = self
            .entries
            .partition_point(|entry| entry.relative_offset < relative_end);
        let last_good = self.entries.get(good.checked_sub(1)?)?;
        let block_start = (last_good.position as u64 & !(BLOCK_BYTES - 1)) as u32;
        let at = self.entries[..good].partition_point(|entry| entry.position <= block_start);
        let entry = self.entries.get(at.checked_sub(1)?)?;
        Some((entry.position, entry.relative_offset))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True without entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The `.index` file contents.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.entries.len() * OFFSET_INDEX_ENTRY_BYTES);
        for entry in &self.entries {
            out.extend_from_slice(&entry.relative_offset.to_be_bytes());
            out.extend_from_slice(&entry.position.to_be_bytes());
        }
        out
    }

    /// Parses and checks a `.index` file of a segment of `segment_bytes`.
    pub fn decode(bytes: &[u8], segment_bytes: u64) -> Result<Self, IndexDamage> {
        if !bytes.len().is_multiple_of(OFFSET_INDEX_ENTRY_BYTES) {
            return Err(IndexDamage::PartialEntry);
        }
        let mut index = OffsetIndex::default();
        for chunk in bytes.chunks_exact(OFFSET_INDEX_ENTRY_BYTES) {
            let relative_offset = be_u32(&chunk[0..4]);
            let position = be_u32(&chunk[4..8]);
            if u64::from(position) >= segment_bytes {
                return Err(IndexDamage::PositionPastEnd);
            }
            let before = index.entries.len();
            index.push(relative_offset, position);
            if index.entries.len() == before {
                return Err(IndexDamage::NotMonotonic);
            }
        }
        Ok(index)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct TimeEntry {
    timestamp: i64,
    relative_offset: u32,
}

/// Sparse map from timestamps to offsets.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TimeIndex {
    entries: Vec<TimeEntry>,
}

impl TimeIndex {
    /// Adds an entry when the timestamp grows (Kafka `maybeAppend`).
    pub fn maybe_push(&mut self, timestamp: i64, relative_offset: u32) {
        if timestamp == NO_TIMESTAMP {
            return;
        }
        if let Some(last) = self.entries.last() {
            if timestamp <= last.timestamp || relative_offset < last.relative_offset {
                return;
            }
        }
        self.entries.push(TimeEntry {
            timestamp,
            relative_offset,
        });
    }

    /// Relative offset from which to scan for the first batch whose largest
    /// timestamp is at least `timestamp`; `None`: from the segment start.
    pub fn lookup(&self, timestamp: i64) -> Option<u32> {
        let after = self
            .entries
            .partition_point(|entry| entry.timestamp <= timestamp);
        after
            .checked_sub(1)
            .map(|index| self.entries[index].relative_offset)
    }

    /// Largest timestamp recorded.
    pub fn last_timestamp(&self) -> Option<i64> {
        self.entries.last().map(|entry| entry.timestamp)
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True without entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The `.timeindex` file contents.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.entries.len() * TIME_INDEX_ENTRY_BYTES);
        for entry in &self.entries {
            out.extend_from_slice(&entry.timestamp.to_be_bytes());
            out.extend_from_slice(&entry.relative_offset.to_be_bytes());
        }
        out
    }

    /// Parses and checks a `.timeindex` file.
    pub fn decode(bytes: &[u8]) -> Result<Self, IndexDamage> {
        if !bytes.len().is_multiple_of(TIME_INDEX_ENTRY_BYTES) {
            return Err(IndexDamage::PartialEntry);
        }
        let mut index = TimeIndex::default();
        for chunk in bytes.chunks_exact(TIME_INDEX_ENTRY_BYTES) {
            let mut timestamp = [0u8; 8];
            timestamp.copy_from_slice(&chunk[0..8]);
            let timestamp = i64::from_be_bytes(timestamp);
            let before = index.entries.len();
            index.maybe_push(timestamp, be_u32(&chunk[8..12]));
            if index.entries.len() == before {
                return Err(IndexDamage::NotMonotonic);
            }
        }
        Ok(index)
    }
}

fn be_u32(bytes: &[u8]) -> u32 {
    let mut buf = [0u8; 4];
    buf.copy_from_slice(bytes);
    u32::from_be_bytes(buf)
}

/// Where a batch lies in its segment, as the indexes need it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IndexedBatch {
    /// First offset of the batch relative to the segment base.
    pub relative_base_offset: u32,
    /// Last offset of the batch relative to the segment base.
    pub relative_last_offset: u32,
    /// File position of the batch start.
    pub position: u32,
    /// Whole batch length.
    pub len: u32,
    /// The batch's `maxTimestamp`.
    pub max_timestamp: i64,
}

/// Both indexes of a segment plus the state that decides the next entry.
#[derive(Clone, Debug, Default)]
pub struct SegmentIndexes {
    /// Offset index.
    pub offsets: OffsetIndex,
    /// Time index.
    pub times: TimeIndex,
    bytes_since_entry: u64,
    max_timestamp: Option<i64>,
    relative_offset_of_max_timestamp: u32,
}

impl SegmentIndexes {
    /// Indexes loaded from files; `max_timestamp` comes from the time index.
    pub fn from_loaded(offsets: OffsetIndex, times: TimeIndex) -> Self {
        let max_timestamp = times.last_timestamp();
        SegmentIndexes {
            offsets,
            times,
            bytes_since_entry: 0,
            max_timestamp,
            relative_offset_of_max_timestamp: 0,
        }
    }

    /// Accounts for an appended (or scanned) batch; adds index entries every
    /// `interval_bytes`.
    pub fn on_batch(&mut self, batch: IndexedBatch, interval_bytes: u32) {
        self.observe_timestamp(batch.max_timestamp, batch.relative_last_offset);
        if self.bytes_since_entry > u64::from(interval_bytes) {
            self.offsets.push_batch(
                batch.relative_base_offset,
                batch.relative_last_offset,
                batch.position,
            );
            if let Some(max) = self.max_timestamp {
                self.times
                    .maybe_push(max, self.relative_offset_of_max_timestamp);
            }
            self.bytes_since_entry = 0;
        }
        self.bytes_since_entry += u64::from(batch.len);
    }

    /// Keeps the largest timestamp seen and the batch that reached it.
    pub fn observe_timestamp(&mut self, max_timestamp: i64, relative_last_offset: u32) {
        if self.max_timestamp.is_none_or(|max| max_timestamp > max) {
            self.max_timestamp = Some(max_timestamp);
            self.relative_offset_of_max_timestamp = relative_last_offset;
        }
    }

    /// Forgets what the batches from `end_position` on (relative offsets
    /// from `end_relative_offset`) added: their entries, and the counters,
    /// recomputed. The largest timestamp falls back to the last kept time
    /// entry's; the caller re-observes the batches from the returned
    /// position (the last kept offset entry's) with
    /// [`SegmentIndexes::observe_timestamp`].
    pub fn truncate(&mut self, end_position: u64, end_relative_offset: u32) -> u64 {
        self.offsets
            .entries
            .retain(|entry| u64::from(entry.position) < end_position);
        self.offsets.recount_unknown_bases();
        self.times
            .entries
            .retain(|entry| entry.relative_offset < end_relative_offset);
        let observe_from = self
            .offsets
            .entries
            .last()
            .map_or(0, |entry| u64::from(entry.position));
        self.bytes_since_entry = end_position - observe_from;
        let last_time = self.times.entries.last();
        self.max_timestamp = last_time.map(|entry| entry.timestamp);
        self.relative_offset_of_max_timestamp = last_time.map_or(0, |entry| entry.relative_offset);
        observe_from
    }

    /// Adds the final time index entry when the segment becomes inactive, so
    /// the file records the segment's largest timestamp (as Kafka does).
    pub fn seal(&mut self) {
        if let Some(max) = self.max_timestamp {
            self.times
                .maybe_push(max, self.relative_offset_of_max_timestamp);
        }
    }

    /// Largest batch timestamp in the segment, if any batch had one.
    pub fn max_timestamp(&self) -> Option<i64> {
        self.max_timestamp.filter(|&max| max != NO_TIMESTAMP)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(relative_last_offset: u32, position: u32, max_timestamp: i64) -> IndexedBatch {
        IndexedBatch {
            relative_base_offset: relative_last_offset.saturating_sub(1),
            relative_last_offset,
            position,
            len: 100,
            max_timestamp,
        }
    }

    #[test]
    fn entries_follow_the_interval() {
        let mut indexes = SegmentIndexes::default();
        for i in 0..10u32 {
            indexes.on_batch(batch(i * 2 + 1, i * 100, 1000 + i64::from(i)), 250);
        }
        // An entry whenever more than 250 bytes passed: batches 3, 6, 9.
        assert_eq!(indexes.offsets.len(), 3);
        assert_eq!(indexes.offsets.lookup(0), 0);
        assert_eq!(indexes.offsets.lookup(7), 300);
        assert_eq!(indexes.offsets.lookup(8), 300);
        assert_eq!(indexes.offsets.lookup(13), 600);
        assert_eq!(indexes.offsets.lookup(1000), 900);
        assert_eq!(indexes.times.lookup(999), None);
        assert_eq!(indexes.times.lookup(1003), Some(7));
        indexes.seal();
        assert_eq!(indexes.times.last_timestamp(), Some(1009));
        assert_eq!(indexes.max_timestamp(), Some(1009));
    }

    #[test]
    fn truncate_forgets_the_removed_batches() {
        let mut whole = SegmentIndexes::default();
        let mut kept = SegmentIndexes::default();
        for i in 0..10u32 {
            whole.on_batch(batch(i * 2 + 1, i * 100, 1000 + i64::from(i)), 250);
            if i < 7 {
                kept.on_batch(batch(i * 2 + 1, i * 100, 1000 + i64::from(i)), 250);
            }
        }
        // Batch 7 starts at position 700 with relative offsets 14..=15.
        let observe_from = whole.truncate(700, 14);
        assert_eq!(observe_from, 600);
        for i in 6..7u32 {
            whole.observe_timestamp(1000 + i64::from(i), i * 2 + 1);
        }
        assert_eq!(whole.offsets, kept.offsets);
        assert_eq!(whole.times, kept.times);
        assert_eq!(whole.max_timestamp(), kept.max_timestamp());
        // Appending the same batches again gives the same indexes.
        for i in 7..10u32 {
            whole.on_batch(batch(i * 2 + 1, i * 100, 1), 250);
            kept.on_batch(batch(i * 2 + 1, i * 100, 1), 250);
        }
        assert_eq!(whole.offsets, kept.offsets);
        assert_eq!(whole.times, kept.times);
    }

    #[test]
    fn resume_points_start_a_block_before_the_recovery_point() {
        let mut index = OffsetIndex::default();
        // Batches of 3 offsets; entries every ~5000 bytes.
        for (relative_last, position) in [(2, 5000), (5, 10_000), (8, 15_000), (11, 20_000)] {
            index.push(relative_last, position);
        }
        assert_eq!(index.resume_before(0), None);
        // The last batch below 3 starts at 5000, in the block from 4096: no
        // entry is at or before that block.
        assert_eq!(index.resume_before(3), None);
        // Below 6: the batch at 10000, block 8192: entry (2, 5000).
        assert_eq!(index.resume_before(6), Some((5000, 2)));
        assert_eq!(index.resume_before(9), Some((10_000, 5)));
        assert_eq!(index.resume_before(12), Some((15_000, 8)));
        assert_eq!(index.resume_before(1000), Some((15_000, 8)));
    }

    #[test]
    fn known_base_offsets_find_batches_without_a_scan() {
        let mut index = OffsetIndex::default();
        // Batches 0..=3 at 0 (no entry: read from a file), 4..=7 at 1000,
        // 8..=9 at 2000 (no entry), 10..=12 at 2500, 13..=20 at 4000.
        index.push(3, 0);
        index.push_batch(4, 7, 1000);
        index.push_batch(10, 12, 2500);
        index.push_batch(13, 20, 4000);
        let at = |position, next_position| {
            Some(IndexedStart {
                position,
                next_position,
            })
        };
        assert_eq!(index.batch_holding(0), None, "base unknown");
        assert_eq!(index.batch_holding(3), None, "base unknown");
        assert_eq!(index.batch_holding(4), at(1000, Some(2500)));
        assert_eq!(index.batch_holding(7), at(1000, Some(2500)));
        assert_eq!(index.batch_holding(8), None, "a batch without entry");
        assert_eq!(index.batch_holding(9), None, "a batch without entry");
        assert_eq!(index.batch_holding(10), at(2500, Some(4000)));
        assert_eq!(index.batch_holding(20), at(4000, None));
        assert_eq!(index.batch_holding(21), None, "past the last entry");
        // Where an answer from position 1000 may end.
        assert_eq!(index.known_batch_start_in(1000, 2499), None);
        assert_eq!(index.known_batch_start_in(1000, 2500), Some(2500));
        assert_eq!(index.known_batch_start_in(1000, 3999), Some(2500));
        assert_eq!(index.known_batch_start_in(1000, 9999), Some(4000));
        assert_eq!(
            index.known_batch_start_in(2500, 3000),
            None,
            "past the start only"
        );
        assert_eq!(index.known_batch_start_in(0, 500), None, "base unknown");
        // Truncation drops the entries of the removed batches.
        let mut indexes = SegmentIndexes::from_loaded(index, TimeIndex::default());
        indexes.truncate(2500, 10);
        assert_eq!(indexes.offsets.batch_holding(10), None);
        assert_eq!(indexes.offsets.batch_holding(4), at(1000, None));
    }

    #[test]
    fn files_round_trip() {
        let mut indexes = SegmentIndexes::default();
        for i in 0..50u32 {
            indexes.on_batch(batch(i, i * 100, i64::from(i)), 0);
        }
        let offsets = OffsetIndex::decode(&indexes.offsets.encode(), 5000).unwrap();
        assert_eq!(offsets, indexes.offsets);
        let times = TimeIndex::decode(&indexes.times.encode()).unwrap();
        assert_eq!(times, indexes.times);
    }

    #[test]
    fn damaged_files_are_rejected() {
        let mut offsets = OffsetIndex::default();
        offsets.push(1, 100);
        offsets.push(5, 300);
        let bytes = offsets.encode();
        assert_eq!(
            OffsetIndex::decode(&bytes[..12], 1000),
            Err(IndexDamage::PartialEntry)
        );
        assert_eq!(
            OffsetIndex::decode(&bytes, 200),
            Err(IndexDamage::PositionPastEnd)
        );
        let mut swapped = bytes[8..].to_vec();
        swapped.extend_from_slice(&bytes[..8]);
        assert_eq!(
            OffsetIndex::decode(&swapped, 1000),
            Err(IndexDamage::NotMonotonic)
        );
        let zeros = vec![0u8; 24];
        assert_eq!(TimeIndex::decode(&zeros), Err(IndexDamage::NotMonotonic));
    }
}
