//! The in-memory side of appends and the O_DIRECT writes that follow.
//!
//! When data is where:
//! - *appended*: the batch is in [`RecentBatches`] (stamped header from the
//!   [`HeaderArena`] + the request's body `Bytes`, not copied unless it would
//!   keep a much larger request buffer alive: `recent_copy.rs`) and readable.
//! - *written*: a flush round copied it into 4 KiB-aligned DMA buffers and the
//!   `write_at`s completed ([`ActiveWrite::written`]). The partial last block
//!   is kept in [`ActiveWrite::tail_block`] and rewritten by the next round.
//! - *synced*: an fdatasync of the segment completed after it was written.
//!
//! Recent batches are evicted only once written and beyond the per-partition
//! recent budget (or the shard's bound: `recent_budget.rs`). The flusher
//! never needs a written batch again: it rewrites the partial last block
//! from [`ActiveWrite::tail_block`].

use super::error::StorageError;
use super::io::SegmentFile;
use super::segment::{align_down, align_up, short_write, WRITE_ALIGNMENT_BYTES};
use bytes::{Bytes, BytesMut};
use glommio::io::DmaBuffer;
use std::cell::Cell;
use std::collections::VecDeque;
use std::path::PathBuf;
use std::rc::Rc;

/// Size of an arena's first block: 67 stamped headers. A partition that
/// appends a few batches holds this much, not a whole
/// `StorageLimits::header_arena_bytes` block (10,000 partitions x 64 KiB).
pub const HEADER_ARENA_FIRST_BLOCK_BYTES: usize = 4096;

/// Stamped batch headers are cut from shared blocks instead of one
/// allocation per batch. Blocks double in size, from
/// [`HEADER_ARENA_FIRST_BLOCK_BYTES`] up to the largest size, as a partition
/// keeps appending.
#[derive(Debug)]
pub struct HeaderArena {
    block: BytesMut,
    next_block_bytes: usize,
    block_bytes_max: usize,
}

impl HeaderArena {
    /// An arena allocating blocks of at most `block_bytes_max`.
    pub fn new(block_bytes_max: usize) -> Self {
        HeaderArena {
            block: BytesMut::new(),
            next_block_bytes: HEADER_ARENA_FIRST_BLOCK_BYTES.min(block_bytes_max),
            block_bytes_max,
        }
    }

    /// A frozen copy of `header`.
    pub fn copy(&mut self, header: &[u8]) -> Bytes {
        if self.block.capacity() - self.block.len() < header.len() {
            self.block = BytesMut::with_capacity(self.next_block_bytes.max(header.len()));
            self.next_block_bytes = (self.next_block_bytes * 2).min(self.block_bytes_max);
        }
        self.block.extend_from_slice(header);
        self.block.split().freeze()
    }

    /// Drops the current block (headers cut from it keep it alive as long
    /// as they live) and starts again from the first block size.
    pub fn release(&mut self) {
        *self = HeaderArena::new(self.block_bytes_max);
    }

    /// Bytes of the current block not used yet.
    pub fn room_bytes(&self) -> usize {
        self.block.capacity() - self.block.len()
    }
}

/// One appended batch kept in memory.
#[derive(Clone, Debug)]
pub struct RecentBatch {
    /// First offset.
    pub base_offset: i64,
    /// Last offset.
    pub last_offset: i64,
    /// `maxTimestamp`.
    pub max_timestamp: i64,
    /// Base offset of the segment holding it.
    pub segment_base: i64,
    /// Position in that segment.
    pub position: u64,
    /// Stamped 61-byte header.
    pub header: Bytes,
    /// The rest of the batch.
    pub body: Bytes,
}

impl RecentBatch {
    /// Whole batch length.
    pub fn len(&self) -> usize {
        self.header.len() + self.body.len()
    }

    /// Never true: a batch has at least a header.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Position after the batch.
    pub fn end_position(&self) -> u64 {
        self.position + self.len() as u64
    }
}

/// Batches in offset order, oldest first. Their bytes are also counted in a
/// counter shared by the shard's logs (the shard-wide memory bound).
#[derive(Debug, Default)]
pub struct RecentBatches {
    batches: VecDeque<RecentBatch>,
    bytes: usize,
    shard_bytes: Rc<Cell<usize>>,
}

impl RecentBatches {
    /// An empty list counting its bytes into `shard_bytes` too.
    pub fn new(shard_bytes: Rc<Cell<usize>>) -> Self {
        RecentBatches {
            batches: VecDeque::new(),
            bytes: 0,
            shard_bytes,
        }
    }

    /// Appends a batch (offsets must follow the previous one).
    pub fn push(&mut self, batch: RecentBatch) {
        self.bytes += batch.len();
        self.shard_bytes.set(self.shard_bytes.get() + batch.len());
        self.batches.push_back(batch);
    }

    fn pop_front(&mut self) {
        if let Some(batch) = self.batches.pop_front() {
            self.bytes -= batch.len();
            self.shard_bytes
                .set(self.shard_bytes.get().saturating_sub(batch.len()));
        }
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// First offset held, if any.
    pub fn first_offset(&self) -> Option<i64> {
        self.batches.front().map(|batch| batch.base_offset)
    }

    /// The oldest batch held.
    pub fn front(&self) -> Option<&RecentBatch> {
        self.batches.front()
    }

    /// Index of the batch holding `offset`, if held.
    ///
    /// Searches from the back: the flusher asks for the written end and
    /// tailing readers for the log end, a few batches from the back of
    /// thousands, so the gallop touches a handful of entries where a binary
    /// search over the whole list would touch ~14 scattered ones.
    pub fn find(&self, offset: i64) -> Option<usize> {
        let first = self.batches.front()?;
        if offset < first.base_offset {
            return None;
        }
        let (low, high) = self.gallop_back(offset);
        let index = low + self.partition_point_in(low, high, offset);
        (index < self.batches.len()).then_some(index)
    }

    /// A range `[low, high)` such that every batch before `low` ends before
    /// `offset` and every batch from `high` on ends at or after it, found by
    /// probing 1, 2, 4... batches back from the end.
    fn gallop_back(&self, offset: i64) -> (usize, usize) {
        let len = self.batches.len();
        let (mut high, mut step) = (len, 1);
        loop {
            let probe = len.saturating_sub(step);
            if self.batches[probe].last_offset < offset {
                return (probe + 1, high);
            }
            high = probe;
            if probe == 0 {
                return (0, 0);
            }
            step *= 2;
        }
    }

    /// How many batches of `[low, high)` end before `offset`.
    fn partition_point_in(&self, low: usize, high: usize, offset: i64) -> usize {
        let (mut lo, mut hi) = (low, high);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.batches[mid].last_offset < offset {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo - low
    }

    /// Batches from `index` on.
    pub fn iter_from(&self, index: usize) -> impl Iterator<Item = &RecentBatch> {
        self.batches.range(index..)
    }

    /// Drops batches from the front while more than `budget_bytes` are held,
    /// but only written ones: in a sealed segment, or ending at or before
    /// `evictable_end` of the active segment. The caller picks that end:
    /// the written size (every written batch; reads of them go to the file,
    /// `log_read.rs`) or that size rounded down to a block (the batches over
    /// the partial last block stay to serve tail reads from memory). Never
    /// past the written size: unwritten batches are the flusher's only copy.
    pub fn evict_written(
        &mut self,
        active_segment_base: i64,
        evictable_end: u64,
        budget_bytes: usize,
    ) {
        while self.bytes > budget_bytes {
            match self.batches.front() {
                Some(batch)
                    if batch.segment_base < active_segment_base
                        || batch.end_position() <= evictable_end =>
                {
                    self.pop_front();
                }
                _ => break,
            }
        }
    }

    /// Drops the batches from `offset` on (a rollback of unwritten batches);
    /// returns how many.
    pub fn truncate_from(&mut self, offset: i64) -> usize {
        let mut removed = 0;
        while let Some(batch) = self.batches.back() {
            if batch.base_offset < offset {
                break;
            }
            let len = batch.len();
            self.batches.pop_back();
            self.bytes -= len;
            self.shard_bytes
                .set(self.shard_bytes.get().saturating_sub(len));
            removed += 1;
        }
        removed
    }

    /// Drops batches below `offset` (retention moved the log start).
    pub fn evict_below(&mut self, offset: i64) {
        while let Some(batch) = self.batches.front() {
            if batch.last_offset >= offset {
                break;
            }
            self.pop_front();
        }
    }

    /// Gives back the batch list's spare room: a cold partition that held
    /// thousands of batches keeps no list for them.
    pub fn release_room(&mut self) {
        self.batches.shrink_to_fit();
    }

    /// Drops everything.
    pub fn clear(&mut self) {
        while !self.batches.is_empty() {
            self.pop_front();
        }
    }
}

impl Drop for RecentBatches {
    fn drop(&mut self) {
        self.clear();
    }
}

/// Write progress of the active segment.
#[derive(Debug, Default)]
pub struct ActiveWrite {
    /// File bytes whose writes completed (a batch boundary).
    pub written: u64,
    /// File bytes covered by a completed fdatasync.
    pub synced: u64,
    /// Bytes `[align_down(written), written)`: the start of the next round.
    pub tail_block: Vec<u8>,
}

/// The O_DIRECT writes of one flush round of one segment.
pub struct WritePlan {
    file: Rc<SegmentFile>,
    path: PathBuf,
    chunks: Vec<(u64, DmaBuffer)>,
    /// Segment the plan writes.
    pub segment_base: i64,
    /// File position after the last batch written.
    pub end_position: u64,
    /// Offset after the last batch written.
    pub end_offset: i64,
    /// Bytes `[align_down(end_position), end_position)` for the next round.
    pub tail_block: Vec<u8>,
}

/// What [`plan_write`] needs to know about the active segment.
pub struct PlanInput<'a> {
    /// The active segment's O_DIRECT handle.
    pub file: &'a Rc<SegmentFile>,
    /// Its path (for errors).
    pub path: &'a std::path::Path,
    /// Its base offset.
    pub segment_base: i64,
    /// Its write progress.
    pub write: &'a ActiveWrite,
    /// Offset after the last written batch.
    pub written_end_offset: i64,
    /// At most this many batch bytes this round (at least one batch).
    pub round_bytes_max: usize,
    /// Size of each DMA write.
    pub chunk_bytes: usize,
}

/// Copies the unwritten batches of the active segment (at most
/// `round_bytes_max`, whole batches) into aligned DMA buffers.
/// `None` when nothing is unwritten.
pub fn plan_write(input: PlanInput<'_>, recent: &RecentBatches) -> Option<WritePlan> {
    let first = recent.find(input.written_end_offset)?;
    let batches: Vec<&RecentBatch> = take_round(recent.iter_from(first), &input);
    let last = batches.last()?;
    let block_start = align_down(input.write.written);
    let end_position = last.end_position();
    let end_offset = last.last_offset + 1;
    let mut chunks = allocate_chunks(
        input.file,
        block_start,
        align_up(end_position),
        input.chunk_bytes,
    );
    let mut filler = ChunkFiller::new(&mut chunks);
    filler.put(&input.write.tail_block);
    for batch in &batches {
        filler.put(&batch.header);
        filler.put(&batch.body);
    }
    filler.zero_rest();
    let tail_block = copy_tail_block(&chunks, end_position);
    Some(WritePlan {
        file: input.file.clone(),
        path: input.path.to_path_buf(),
        chunks,
        segment_base: input.segment_base,
        end_position,
        end_offset,
        tail_block,
    })
}

fn take_round<'a>(
    batches: impl Iterator<Item = &'a RecentBatch>,
    input: &PlanInput<'_>,
) -> Vec<&'a RecentBatch> {
    let mut taken = Vec::new();
    let mut bytes = 0;
    let mut expected_position = input.write.written;
    for batch in batches {
        // Only batches of the active segment, contiguous from `written`.
        if batch.segment_base != input.segment_base || batch.position != expected_position {
            break;
        }
        if !taken.is_empty() && bytes + batch.len() > input.round_bytes_max {
            break;
        }
        bytes += batch.len();
        expected_position = batch.end_position();
        taken.push(batch);
    }
    taken
}

fn allocate_chunks(
    file: &SegmentFile,
    start: u64,
    end: u64,
    chunk_bytes: usize,
) -> Vec<(u64, DmaBuffer)> {
    let chunk_bytes = align_down(chunk_bytes as u64).max(WRITE_ALIGNMENT_BYTES);
    let mut chunks = Vec::new();
    let mut position = start;
    while position < end {
        let len = chunk_bytes.min(end - position);
        chunks.push((position, file.alloc_dma_buffer(len as usize)));
        position += len;
    }
    chunks
}

/// Sequential copy across a list of buffers.
struct ChunkFiller<'a> {
    chunks: &'a mut [(u64, DmaBuffer)],
    chunk: usize,
    filled: usize,
}

impl<'a> ChunkFiller<'a> {
    fn new(chunks: &'a mut [(u64, DmaBuffer)]) -> Self {
        ChunkFiller {
            chunks,
            chunk: 0,
            filled: 0,
        }
    }

    fn put(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() && self.chunk < self.chunks.len() {
            let out = self.chunks[self.chunk].1.as_bytes_mut();
            let n = bytes.len().min(out.len() - self.filled);
            out[self.filled..self.filled + n].copy_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
            self.filled += n;
            if self.filled == out.len() {
                self.chunk += 1;
                self.filled = 0;
            }
        }
    }

    fn zero_rest(&mut self) {
        if let Some((_, buffer)) = self.chunks.get_mut(self.chunk) {
            buffer.as_bytes_mut()[self.filled..].fill(0);
        }
    }
}

fn copy_tail_block(chunks: &[(u64, DmaBuffer)], end_position: u64) -> Vec<u8> {
    let block_start = align_down(end_position);
    if block_start == end_position {
        return Vec::new();
    }
    let Some((chunk_start, buffer)) = chunks.iter().rev().find(|(start, _)| *start <= block_start)
    else {
        return Vec::new();
    };
    let from = (block_start - chunk_start) as usize;
    let to = (end_position - chunk_start) as usize;
    buffer.as_bytes()[from..to].to_vec()
}

impl WritePlan {
    /// File position just past the last block the plan writes.
    pub fn write_end(&self) -> u64 {
        self.chunks
            .iter()
            .map(|(position, buffer)| position + buffer.len() as u64)
            .max()
            .unwrap_or(0)
    }

    /// Bytes the plan writes (whole aligned blocks).
    pub fn bytes(&self) -> u64 {
        self.chunks
            .iter()
            .map(|(_, buffer)| buffer.len() as u64)
            .sum()
    }

    /// Issues all writes concurrently and waits for every one of them.
    pub async fn execute(self) -> Result<(), StorageError> {
        let tasks: Vec<_> = self
            .chunks
            .into_iter()
            .map(|(position, buffer)| {
                let file = self.file.clone();
                let len = buffer.len();
                glommio::spawn_local(async move {
                    file.write_at(buffer, position)
                        .await
                        .map(|written| written >= len)
                })
            })
            .collect();
        let mut outcome = Ok(());
        for task in tasks {
            let result = match task.await {
                Ok(true) => Ok(()),
                Ok(false) => Err(short_write(&self.path)),
                Err(error) => Err(StorageError::io("write", &self.path, error)),
            };
            if outcome.is_ok() {
                outcome = result;
            }
        }
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recent_batch(base_offset: i64, position: u64, len: usize) -> RecentBatch {
        RecentBatch {
            base_offset,
            last_offset: base_offset,
            max_timestamp: 0,
            segment_base: 0,
            position,
            header: Bytes::from(vec![1u8; 61]),
            body: Bytes::from(vec![2u8; len - 61]),
        }
    }

    #[test]
    fn find_and_evict() {
        let mut recent = RecentBatches::default();
        for i in 0..10 {
            recent.push(recent_batch(i, i as u64 * 100, 100));
        }
        assert_eq!(recent.find(3), Some(3));
        assert_eq!(recent.find(10), None);
        recent.evict_written(0, 500, 300);
        // Batches 0..=4 end by position 500; 5.. do not and must stay.
        assert_eq!(recent.first_offset(), Some(5));
        assert_eq!(recent.find(2), None);
        recent.evict_below(7);
        assert_eq!(recent.first_offset(), Some(7));
        assert_eq!(recent.bytes(), 300);
        assert_eq!(recent.shard_bytes.get(), 300);
        assert_eq!(recent.truncate_from(8), 2);
        assert_eq!(recent.find(8), None);
        assert_eq!(recent.bytes(), 100);
        assert_eq!(recent.shard_bytes.get(), 100);
        drop(recent);
    }

    #[test]
    fn find_from_the_back_agrees_with_a_search_of_the_whole_list() {
        for count in 0..70i64 {
            let mut recent = RecentBatches::default();
            let mut base = 100;
            for i in 0..count {
                // Batches of 1 to 7 offsets.
                let mut batch = recent_batch(base, i as u64 * 100, 100);
                batch.last_offset = base + i % 7;
                base = batch.last_offset + 1;
                recent.push(batch);
            }
            for offset in 97..base + 3 {
                let expected = (offset >= 100)
                    .then(|| recent.batches.partition_point(|b| b.last_offset < offset))
                    .filter(|index| *index < recent.batches.len());
                assert_eq!(
                    recent.find(offset),
                    expected,
                    "{count} batches, offset {offset}"
                );
            }
        }
    }

    #[test]
    fn eviction_to_nothing_stops_at_the_first_unwritten_batch() {
        let mut recent = RecentBatches::default();
        for i in 0..4 {
            recent.push(recent_batch(i, i as u64 * 100, 100));
        }
        // Written up to 300, mid-block: batch 3 is unwritten and stays, even
        // with a budget of nothing; batch 2, over the partial block, goes.
        recent.evict_written(0, 300, 0);
        assert_eq!(recent.first_offset(), Some(3));
        assert_eq!(recent.bytes(), 100);
        recent.evict_written(0, 399, 0);
        assert_eq!(recent.first_offset(), Some(3));
    }

    #[test]
    fn arena_shares_blocks() {
        let mut arena = HeaderArena::new(128);
        let a = arena.copy(&[1u8; 61]);
        let b = arena.copy(&[2u8; 61]);
        let c = arena.copy(&[3u8; 61]);
        assert_eq!(&a[..], &[1u8; 61][..]);
        assert_eq!(&b[..], &[2u8; 61][..]);
        assert_eq!(&c[..], &[3u8; 61][..]);
    }

    #[test]
    fn arena_blocks_grow_from_small_and_restart_after_release() {
        let mut arena = HeaderArena::new(64 * 1024);
        arena.copy(&[1u8; 61]);
        assert_eq!(arena.room_bytes(), HEADER_ARENA_FIRST_BLOCK_BYTES - 61);
        // Fill blocks until the largest size is reached.
        let mut sizes = Vec::new();
        for _ in 0..10_000 {
            if arena.room_bytes() < 61 {
                arena.copy(&[2u8; 61]);
                sizes.push(arena.room_bytes() + 61);
            } else {
                arena.copy(&[2u8; 61]);
            }
        }
        assert_eq!(sizes[..4], [8192, 16384, 32768, 65536]);
        assert!(sizes[4..].iter().all(|&size| size == 65536));
        arena.release();
        assert_eq!(arena.room_bytes(), 0);
        arena.copy(&[3u8; 61]);
        assert_eq!(arena.room_bytes(), HEADER_ARENA_FIRST_BLOCK_BYTES - 61);
    }
}
