//! A partition's leader epoch cache (KIP-101, KIP-279): for each leader
//! epoch whose batches are in the log, the offset of its first batch. It
//! answers OffsetForLeaderEpoch and Fetch's `LastFetchedEpoch` (where a
//! follower's or a consumer's log diverges from this one), and follows the
//! log: entries past its end are dropped when it is cut, entries before its
//! start are clamped to it.
//!
//! Persisted in Kafka's format and file, `leader-epoch-checkpoint` in the
//! partition directory (a version line `0`, a count line, then one `epoch
//! start_offset` line per entry), replaced atomically. An entry is added
//! when the partition becomes leader at a new epoch (at the log end offset)
//! or a batch of a newer epoch is appended (a follower); either way the
//! file is written before any batch of that epoch is appended, so after a
//! crash the file lacks at most entries whose batches recovery then cuts.
//! At open it is loaded, cut to the recovered log, and completed from the
//! batches recovery replays; without a file the whole log is walked.

use std::fmt;

/// The checkpoint format version Kafka writes and reads.
const CHECKPOINT_VERSION: u32 = 0;
/// Entries a checkpoint may hold: one per leader change of the partition,
/// a bound no sane cluster reaches; a file claiming more is damaged.
pub const EPOCH_ENTRIES_MAX: usize = 1 << 16;
/// The leader epoch of every partition of a single-node broker: Kafka's
/// first leader of a new partition is at epoch 0, and one node never
/// changes leader.
pub const SINGLE_NODE_LEADER_EPOCH: i32 = 0;
/// No epoch: in requests, "do not check"; in answers, "unknown".
pub const NO_EPOCH: i32 = -1;
/// No offset in an OffsetForLeaderEpoch or DivergingEpoch answer.
pub const NO_OFFSET: i64 = -1;

/// One entry: `epoch`'s first batch is at `start_offset`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EpochEntry {
    /// The leader epoch.
    pub epoch: i32,
    /// Offset of its first batch.
    pub start_offset: i64,
}

/// The end of an epoch as OffsetForLeaderEpoch answers it: the largest
/// epoch at or below the one asked for, and the offset where the next
/// epoch starts (or the log end offset for the latest one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EpochEnd {
    /// The epoch the answer is about ([`NO_EPOCH`] when unknown).
    pub epoch: i32,
    /// The first offset after it ([`NO_OFFSET`] when unknown).
    pub end_offset: i64,
}

impl EpochEnd {
    /// Kafka's answer when nothing is known: (-1, -1).
    pub const UNKNOWN: EpochEnd = EpochEnd {
        epoch: NO_EPOCH,
        end_offset: NO_OFFSET,
    };
}

/// Why a checkpoint file cannot be used.
#[derive(Debug, PartialEq, Eq)]
pub enum CheckpointDamage {
    /// Not UTF-8 text, or a line that does not parse.
    Malformed(String),
    /// A version this broker does not read.
    Version(String),
    /// The count line disagrees with the entries, or exceeds the bound.
    Count(String),
    /// Entries not strictly increasing in epoch and start offset.
    Order,
}

impl fmt::Display for CheckpointDamage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckpointDamage::Malformed(line) => write!(f, "malformed line {line:?}"),
            CheckpointDamage::Version(line) => write!(f, "unknown version {line:?}"),
            CheckpointDamage::Count(what) => write!(f, "bad entry count: {what}"),
            CheckpointDamage::Order => write!(f, "entries out of order"),
        }
    }
}

/// The cache: entries ascending in both epoch and start offset.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LeaderEpochCache {
    entries: Vec<EpochEntry>,
}

impl LeaderEpochCache {
    /// The entries, ascending.
    pub fn entries(&self) -> &[EpochEntry] {
        &self.entries
    }

    /// The newest epoch, if any.
    pub fn latest_epoch(&self) -> Option<i32> {
        self.entries.last().map(|e| e.epoch)
    }

    /// Records that `epoch` starts at `start_offset`, as Kafka's `assign`:
    /// batches of the latest epoch at or past its start change nothing;
    /// otherwise entries of this epoch or newer, or starting at or past
    /// `start_offset`, were overwritten and go, and the entry is added.
    /// Returns whether the cache changed (the checkpoint must be written).
    pub fn assign(&mut self, epoch: i32, start_offset: i64) -> bool {
        if epoch < 0 || start_offset < 0 {
            return false;
        }
        let needed = self
            .entries
            .last()
            .is_none_or(|last| epoch != last.epoch || start_offset < last.start_offset);
        if !needed {
            return false;
        }
        self.entries
            .retain(|e| e.epoch < epoch && e.start_offset < start_offset);
        if self.entries.len() == EPOCH_ENTRIES_MAX {
            // Keep the newest: only they decide divergence near the log end.
            self.entries.remove(0);
        }
        self.entries.push(EpochEntry {
            epoch,
            start_offset,
        });
        true
    }

    /// Recovery's rule (Kafka's `LogSegment.recover`): a replayed batch adds
    /// its epoch only if it is newer than every known one, since batches
    /// older than the checkpoint's entries are replayed too.
    pub fn assign_if_newer(&mut self, epoch: i32, start_offset: i64) -> bool {
        match self.latest_epoch() {
            Some(latest) if epoch <= latest => false,
            _ => self.assign(epoch, start_offset),
        }
    }

    /// The log was cut to end at `end_offset`: epochs starting there or
    /// later are gone. Returns whether the cache changed.
    pub fn truncate_from_end(&mut self, end_offset: i64) -> bool {
        let before = self.entries.len();
        self.entries.retain(|e| e.start_offset < end_offset);
        self.entries.len() != before
    }

    /// The log now starts at `start_offset`: epochs wholly before it go, and
    /// the one it falls in starts there. Returns whether the cache changed.
    pub fn truncate_from_start(&mut self, start_offset: i64) -> bool {
        let inside = self
            .entries
            .iter()
            .rposition(|e| e.start_offset <= start_offset);
        let Some(first_kept) = inside else {
            return false;
        };
        let changed = first_kept > 0 || self.entries[first_kept].start_offset != start_offset;
        self.entries.drain(..first_kept);
        self.entries[0].start_offset = start_offset;
        changed
    }

    /// The epoch of the batch holding `offset`, if known.
    pub fn epoch_for_offset(&self, offset: i64) -> Option<i32> {
        let index = self
            .entries
            .iter()
            .rposition(|e| e.start_offset <= offset)?;
        Some(self.entries[index].epoch)
    }

    /// Kafka's `endOffsetFor`: the end of `requested` in a log ending at
    /// `log_end_offset`. The latest epoch ends at the log end; an older
    /// one where the next known epoch starts, answered with the largest
    /// known epoch at or below it; one older than every known epoch at the
    /// first known start; a newer one, or [`NO_EPOCH`], is unknown.
    pub fn end_offset_for(&self, requested: i32, log_end_offset: i64) -> EpochEnd {
        if requested == NO_EPOCH {
            return EpochEnd::UNKNOWN;
        }
        if self.latest_epoch() == Some(requested) {
            return EpochEnd {
                epoch: requested,
                end_offset: log_end_offset,
            };
        }
        let Some(higher) = self.entries.iter().position(|e| e.epoch > requested) else {
            return EpochEnd::UNKNOWN;
        };
        let epoch = match higher {
            0 => requested,
            _ => self.entries[higher - 1].epoch,
        };
        EpochEnd {
            epoch,
            end_offset: self.entries[higher].start_offset,
        }
    }

    /// The checkpoint file's bytes (Kafka's text format).
    pub fn encode(&self) -> Vec<u8> {
        let mut text = format!("{CHECKPOINT_VERSION}\n{}\n", self.entries.len());
        for entry in &self.entries {
            text.push_str(&format!("{} {}\n", entry.epoch, entry.start_offset));
        }
        text.into_bytes()
    }

    /// The cache a checkpoint file holds.
    pub fn decode(bytes: &[u8]) -> Result<Self, CheckpointDamage> {
        let text = std::str::from_utf8(bytes)
            .map_err(|_| CheckpointDamage::Malformed("(not UTF-8)".to_string()))?;
        let mut lines = text.lines();
        let version = lines.next().unwrap_or_default();
        if version.trim().parse::<u32>() != Ok(CHECKPOINT_VERSION) {
            return Err(CheckpointDamage::Version(version.to_string()));
        }
        let count_line = lines.next().unwrap_or_default();
        let count: usize = count_line
            .trim()
            .parse()
            .map_err(|_| CheckpointDamage::Malformed(count_line.to_string()))?;
        if count > EPOCH_ENTRIES_MAX {
            return Err(CheckpointDamage::Count(format!("{count} entries")));
        }
        let mut cache = LeaderEpochCache::default();
        for line in lines.by_ref().take(count) {
            let entry = parse_entry(line).ok_or(CheckpointDamage::Malformed(line.to_string()))?;
            let ordered = cache.entries.last().is_none_or(|last| {
                entry.epoch > last.epoch && entry.start_offset >= last.start_offset
            });
            if !ordered {
                return Err(CheckpointDamage::Order);
            }
            cache.entries.push(entry);
        }
        if cache.entries.len() != count || lines.any(|line| !line.trim().is_empty()) {
            return Err(CheckpointDamage::Count(format!(
                "{count} announced, {} found",
                cache.entries.len()
            )));
        }
        Ok(cache)
    }
}

fn parse_entry(line: &str) -> Option<EpochEntry> {
    let mut fields = line.split_whitespace();
    let epoch = fields.next()?.parse().ok()?;
    let start_offset = fields.next()?.parse().ok()?;
    if fields.next().is_some() || epoch < 0 || start_offset < 0 {
        return None;
    }
    Some(EpochEntry {
        epoch,
        start_offset,
    })
}

/// Where a fetcher whose last batch is of `last_fetched_epoch` and whose
/// log ends at `fetch_offset` diverges from a log with `cache` from
/// `log_start_offset` to `log_end_offset` (Kafka's `readRecords`): `None`
/// when it does not (or names no epoch), the end of the largest common
/// epoch when it does (the fetcher truncates there). An epoch this log
/// cannot place, or an offset below its start, is OFFSET_OUT_OF_RANGE.
pub fn divergence(
    cache: &LeaderEpochCache,
    log_start_offset: i64,
    log_end_offset: i64,
    last_fetched_epoch: i32,
    fetch_offset: i64,
) -> Result<Option<EpochEnd>, i16> {
    if last_fetched_epoch < 0 {
        return Ok(None);
    }
    let end = cache.end_offset_for(last_fetched_epoch, log_end_offset);
    let unknown = end.epoch == NO_EPOCH || end.end_offset == NO_OFFSET;
    if unknown || fetch_offset < log_start_offset {
        return Err(crate::protocol::error_code::OFFSET_OUT_OF_RANGE);
    }
    let diverges = end.epoch < last_fetched_epoch || end.end_offset < fetch_offset;
    Ok(diverges.then_some(end))
}

/// Kafka's KIP-320 check of a client's `current_leader_epoch` against the
/// partition's: none (-1) passes, an older one is FENCED_LEADER_EPOCH (the
/// client's metadata is stale), a newer one UNKNOWN_LEADER_EPOCH (this
/// broker's is).
pub fn check_current_epoch(requested: i32, current: i32) -> Result<(), EpochMismatch> {
    if requested == NO_EPOCH || requested == current {
        Ok(())
    } else if requested < current {
        Err(EpochMismatch::Fenced)
    } else {
        Err(EpochMismatch::Unknown)
    }
}

/// How a request's epoch disagrees with the partition's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EpochMismatch {
    /// Older than the partition's: FENCED_LEADER_EPOCH.
    Fenced,
    /// Newer than the partition's: UNKNOWN_LEADER_EPOCH.
    Unknown,
}

impl EpochMismatch {
    /// The Kafka error code.
    pub fn wire_error_code(self) -> i16 {
        match self {
            EpochMismatch::Fenced => crate::protocol::error_code::FENCED_LEADER_EPOCH,
            EpochMismatch::Unknown => crate::protocol::error_code::UNKNOWN_LEADER_EPOCH,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(entries: &[(i32, i64)]) -> LeaderEpochCache {
        let mut cache = LeaderEpochCache::default();
        for &(epoch, start) in entries {
            assert!(cache.assign(epoch, start));
        }
        cache
    }

    #[test]
    fn checkpoint_round_trips_in_kafkas_format() {
        let cache = cache(&[(0, 0), (3, 150), (4, 151)]);
        let bytes = cache.encode();
        assert_eq!(bytes, b"0\n3\n0 0\n3 150\n4 151\n");
        assert_eq!(LeaderEpochCache::decode(&bytes), Ok(cache));
        assert_eq!(
            LeaderEpochCache::decode(b"0\n0\n"),
            Ok(LeaderEpochCache::default())
        );
    }

    #[test]
    fn damaged_checkpoints_are_refused() {
        for bad in [
            &b"1\n0\n"[..],
            b"0\n2\n0 0\n",
            b"0\n1\n0 0\n1 5\n",
            b"0\n2\n1 5\n0 9\n",
            b"0\n1\nzero 0\n",
            b"0\n99999999\n",
            b"",
            b"\xff",
        ] {
            assert!(LeaderEpochCache::decode(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn assign_is_kafkas() {
        let mut cache = cache(&[(0, 0), (2, 10)]);
        assert!(!cache.assign(2, 20), "the latest epoch changes nothing");
        assert!(cache.assign(5, 5), "a newer epoch at an earlier offset");
        assert_eq!(cache, self::cache(&[(0, 0), (5, 5)]));
        assert!(cache.assign(1, 3), "an older epoch overwrites newer ones");
        assert_eq!(cache, self::cache(&[(0, 0), (1, 3)]));
    }

    #[test]
    fn truncation_follows_both_ends_of_the_log() {
        let mut cache = cache(&[(0, 0), (2, 10), (3, 20)]);
        assert!(cache.truncate_from_end(20));
        assert_eq!(cache, self::cache(&[(0, 0), (2, 10)]));
        assert!(!cache.truncate_from_end(15));
        assert!(cache.truncate_from_start(12));
        assert_eq!(cache, self::cache(&[(2, 12)]));
        assert!(!cache.truncate_from_start(12));
        assert!(!cache.truncate_from_start(5), "below the first entry");
        assert_eq!(cache.epoch_for_offset(11), None);
        assert_eq!(cache.epoch_for_offset(13), Some(2));
    }

    #[test]
    fn end_offsets_are_kafkas_answers() {
        let cache = cache(&[(1, 5), (3, 10), (6, 20)]);
        let end = |epoch| {
            let e = cache.end_offset_for(epoch, 30);
            (e.epoch, e.end_offset)
        };
        assert_eq!(end(6), (6, 30), "the latest epoch ends at the log end");
        assert_eq!(end(3), (3, 20));
        assert_eq!(end(4), (3, 20), "an unknown epoch between known ones");
        assert_eq!(end(0), (0, 5), "older than every known epoch");
        assert_eq!(end(7), (-1, -1), "a future epoch");
        assert_eq!(end(-1), (-1, -1));
        let empty = LeaderEpochCache::default();
        assert_eq!(empty.end_offset_for(0, 9), EpochEnd::UNKNOWN);
    }

    #[test]
    fn divergence_is_kafkas_read_records_check() {
        let cache = cache(&[(0, 0), (2, 10)]);
        let at = |epoch, offset| divergence(&cache, 0, 20, epoch, offset);
        assert_eq!(at(-1, 50), Ok(None), "no epoch named: no check");
        assert_eq!(at(2, 15), Ok(None));
        assert_eq!(at(0, 10), Ok(None), "all of epoch 0");
        let end_of_0 = EpochEnd {
            epoch: 0,
            end_offset: 10,
        };
        assert_eq!(at(0, 12), Ok(Some(end_of_0)), "past the end of epoch 0");
        assert_eq!(at(1, 12), Ok(Some(end_of_0)), "an epoch this log never had");
        let end_of_2 = EpochEnd {
            epoch: 2,
            end_offset: 20,
        };
        assert_eq!(at(2, 25), Ok(Some(end_of_2)), "past the log end");
        assert_eq!(
            at(3, 5),
            Err(crate::protocol::error_code::OFFSET_OUT_OF_RANGE)
        );
        assert_eq!(
            divergence(&cache, 8, 20, 2, 5),
            Err(crate::protocol::error_code::OFFSET_OUT_OF_RANGE),
            "below the log start"
        );
    }

    #[test]
    fn current_epoch_checks_are_kip_320s() {
        assert_eq!(check_current_epoch(-1, 4), Ok(()));
        assert_eq!(check_current_epoch(4, 4), Ok(()));
        assert_eq!(check_current_epoch(3, 4), Err(EpochMismatch::Fenced));
        assert_eq!(check_current_epoch(5, 4), Err(EpochMismatch::Unknown));
    }
}
