//! Base offsets for offset index entries loaded from `.index` files.
//!
//! A Fetch starts at the batch holding its offset without a header read
//! when the offset index knows that batch's *base* offset
//! (`OffsetIndex::batch_holding`), and ends its answer at such a batch
//! (`known_batch_start_in`) so the next sequential Fetch finds it too.
//! Kafka's `.index` format records only a batch's last offset and its
//! position, so the entries of segments loaded at start-up know no base
//! offset and every Fetch of data written before a restart scanned headers
//! (one or two O_DIRECT reads each). The position alone is not enough: the
//! batch at an entry holds the offsets after the previous entry's only when
//! no unindexed batch lies between them, which the file cannot tell. What
//! is needed is each entry's batch header, read once: the fill below reads
//! it for every such entry and records the base offset.
//!
//! When: lazily, on the first Fetch that has to scan in a segment whose
//! entries lack base offsets; such a reader usually goes on forward, so the
//! fill covers that segment from its start, then each later segment still
//! lacking them. Bounded and off the critical path: one fill task per log at
//! a time, in the background (the Fetch that started it scans as before),
//! reading [`StorageLimits::base_fill_entries_per_step`] headers per step
//! with one read in flight (windows of `scan_read_bytes`: entries closer
//! than that share a read), and no log state borrowed across a read. Reads
//! count in `millrace_index_base_fill_reads_total`. A header that does not
//! name the batch its entry names (a truncation meanwhile, or damage) ends
//! the fill of that segment; its entries stay as they were, and Fetches
//! scan there as before.
//!
//! [`StorageLimits::base_fill_entries_per_step`]: super::config::StorageLimits

use super::log::PartitionLog;
use super::scan::ScanWindow;
use super::segment::SegmentReader;
use crate::protocol::record_batch::{peek_batch_header, RECORD_BATCH_HEADER_BYTES};
use std::ops::Bound;
use std::rc::Weak;

/// What one step of a fill works on: the segment's reader, the bytes it
/// may read, and entries as (position, relative last offset).
struct FillStep {
    reader: SegmentReader,
    limit: u64,
    entries: Vec<(u32, u32)>,
}

impl PartitionLog {
    /// Starts a fill of the base offsets of segment `segment_base` and the
    /// later segments, unless one runs or fills are off (module doc).
    pub(super) fn start_base_fill(&self, segment_base: i64) {
        if self.limits.base_fill_entries_per_step == 0 || self.base_fill_running.replace(true) {
            return;
        }
        let log = self.self_ref.clone();
        glommio::spawn_local(async move {
            let mut next = Some(segment_base);
            while let Some(segment_base) = next {
                next = fill_segment(&log, segment_base).await;
            }
            if let Some(log) = log.upgrade() {
                log.base_fill_running.set(false);
            }
        })
        .detach();
    }

    /// True while a segment's offset index has entries without base offset.
    pub fn has_unknown_index_bases(&self) -> bool {
        let state = self.state.borrow();
        state.active.indexes.offsets.has_unknown_bases()
            || state
                .sealed
                .values()
                .any(|segment| segment.indexes.offsets.has_unknown_bases())
    }

    /// The next step of the fill of segment `segment_base` from
    /// `from_position`; `None` when the segment is gone or the log closed.
    fn base_fill_step(&self, segment_base: i64, from_position: u32) -> Option<FillStep> {
        if self.check_open().is_err() {
            return None;
        }
        let state = self.state.borrow();
        let (segment, limit) = match segment_base == state.active.base_offset {
            true => (&state.active, state.write.written),
            false => {
                let segment = state.sealed.get(&segment_base)?;
                (segment, segment.size)
            }
        };
        let entries = segment
            .indexes
            .offsets
            .unknown_bases_from(from_position, self.limits.base_fill_entries_per_step);
        Some(FillStep {
            reader: segment.reader(),
            limit,
            entries,
        })
    }

    /// Records base offsets read for segment `segment_base`: (position,
    /// relative last offset, relative base offset).
    fn fill_bases(&self, segment_base: i64, filled: &[(u32, u32, u32)]) {
        let mut state = self.state.borrow_mut();
        let state = &mut *state;
        let segment = match segment_base == state.active.base_offset {
            true => &mut state.active,
            false => match state.sealed.get_mut(&segment_base) {
                Some(segment) => segment,
                None => return,
            },
        };
        for &(position, relative_last, relative_base) in filled {
            segment
                .indexes
                .offsets
                .fill_base(position, relative_last, relative_base);
        }
    }

    /// The first segment after `segment_base` whose index lacks base offsets.
    fn next_segment_to_fill(&self, segment_base: i64) -> Option<i64> {
        let state = self.state.borrow();
        let later = state
            .sealed
            .range((Bound::Excluded(segment_base), Bound::Unbounded))
            .map(|(base, segment)| (*base, segment))
            .chain(std::iter::once((state.active.base_offset, &state.active)))
            .filter(|(base, _)| *base > segment_base);
        later
            .filter(|(_, segment)| segment.indexes.offsets.has_unknown_bases())
            .map(|(base, _)| base)
            .next()
    }
}

/// Fills segment `segment_base`; returns the next segment to fill.
async fn fill_segment(log: &Weak<PartitionLog>, segment_base: i64) -> Option<i64> {
    let read_bytes = log.upgrade()?.limits.scan_read_bytes;
    let mut window = ScanWindow::for_base_fill(read_bytes);
    let mut from_position = 0;
    loop {
        let step = log.upgrade()?.base_fill_step(segment_base, from_position)?;
        let Some(&(last_position, _)) = step.entries.last() else {
            break;
        };
        let filled = read_bases(&mut window, &step, segment_base).await;
        let complete = filled.len() == step.entries.len();
        log.upgrade()?.fill_bases(segment_base, &filled);
        if !complete {
            break;
        }
        from_position = last_position + 1;
    }
    log.upgrade()?.next_segment_to_fill(segment_base)
}

/// Reads the headers of `step`'s entries, in order, stopping at the first
/// that cannot be read or does not name its entry's batch.
async fn read_bases(
    window: &mut ScanWindow,
    step: &FillStep,
    segment_base: i64,
) -> Vec<(u32, u32, u32)> {
    let mut filled = Vec::with_capacity(step.entries.len());
    for &(position, relative_last) in &step.entries {
        let header = window
            .bytes(
                &step.reader,
                u64::from(position),
                RECORD_BATCH_HEADER_BYTES as u64,
                step.limit,
            )
            .await;
        let Ok(Ok(Some(info))) = header.map(peek_batch_header) else {
            break;
        };
        let relative_base = info.base_offset - segment_base;
        let names_entry = info.last_offset() - segment_base == i64::from(relative_last)
            && (0..=i64::from(relative_last)).contains(&relative_base);
        if !names_entry {
            break;
        }
        filled.push((position, relative_last, relative_base as u32));
    }
    filled
}
