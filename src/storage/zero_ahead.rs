//! Zero-ahead: the active segment is written with zeros ahead of its data.
//!
//! Why: to ext4 a preallocated block is an *unwritten* extent. An O_DIRECT
//! write into one must convert it, so io_uring cannot finish the write
//! without blocking (every flush round went to an io-wq worker, whose CPU
//! the broker pays), and the next fdatasync commits the conversion. Zeros
//! written over the preallocated blocks beforehand, off the flush round,
//! make the data writes overwrites of written blocks. The price is a second
//! device write of every byte, and a longer latency tail: each fdatasync
//! also flushes the zeros written since the one before.
//!
//! Measured on the 2-vCPU VM (perf/RESULTS.md, 2026-12-05): with the Java
//! producer over 16 partitions, where the broker's CPU sets the rate, 0.74x
//! the broker CPU per GB and 1.10x the MB/s; at a fixed 50 MB/s, acks=1
//! end-to-end p99 4.2x and acks=all publish p99 2.5x; the most one producer
//! reaches, 0.88x (device bandwidth). 128 KiB pieces kept more of the tail
//! and lost the CPU gain. So `log.zero.ahead.bytes` is 0 (off) by default,
//! for deployments whose throughput the CPU bounds to turn on.
//!
//! How:
//! - after a flusher round, when at least half of `log.zero.ahead.bytes`
//!   past the known-written end ([`Segment::zeroed`]) is due (or all the
//!   preallocation has left), one task zeroes towards that distance past
//!   the data, within the preallocation, one [`ZERO_BUFFER_BYTES`] write at
//!   a time, so a round or a cut waiting for it waits for one piece at most
//!   (the tail cost above was about the same with 16 MiB zero rounds, each
//!   followed by an fdatasync). No fdatasync of its own: the next data sync
//!   commits the conversions;
//! - at most one such task per log, started only by a flusher round, under
//!   `flush_lock`;
//! - a round whose writes reach into the piece being zeroed waits for it:
//!   zeros must never land over data;
//! - whatever cuts the file being zeroed waits for the task first: the flush
//!   turn does (truncation, give-back, close, deletion, ENOSPC rollback), the
//!   ENOSPC cut does, and so does the seal of a rolled segment. A zero write
//!   landing after a cut would extend the file again. The roll itself does
//!   not wait: appends go on into the new segment. A task with a waiter
//!   stops after its current piece;
//! - a failed zero write loses nothing (it carries no data): it is logged
//!   and counted, and the log zeroes ahead no more; its writes go on into
//!   unwritten blocks as without zero-ahead.
//!
//! [`Segment::zeroed`]: super::segment::Segment::zeroed

use super::io::{SegmentFile, ZERO_BUFFER_BYTES};
use super::log::PartitionLog;
use super::segment::{align_down, align_up};
use glommio::sync::Semaphore;
use std::cell::Cell;
use std::rc::Rc;

/// The zero task of one log.
pub(super) struct ZeroAhead {
    /// Held by the zero task in flight.
    turn: Rc<Semaphore>,
    /// What is being zeroed, while a task runs.
    in_flight: Cell<Option<ZeroInFlight>>,
    /// Callers waiting for the task to end: it stops after its piece.
    waiting: Cell<usize>,
    /// A zero write failed: this log zeroes ahead no more.
    stopped: Cell<bool>,
}

impl Default for ZeroAhead {
    fn default() -> Self {
        ZeroAhead {
            turn: Rc::new(Semaphore::new(1)),
            in_flight: Cell::new(None),
            waiting: Cell::new(0),
            stopped: Cell::new(false),
        }
    }
}

/// Where the zero task in flight writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ZeroInFlight {
    /// Base offset of the segment it zeroes.
    segment_base: i64,
    /// Start of the piece being written.
    from: u64,
}

/// One zero write: `[from, to)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct ZeroRange {
    pub(super) from: u64,
    pub(super) to: u64,
}

/// The next piece to zero, if any: from the known-written end (at least the
/// data's end) towards `ahead_bytes` past the data, within the
/// preallocation, at most [`ZERO_BUFFER_BYTES`].
pub(super) fn next_zero_piece(
    written: u64,
    zeroed: u64,
    allocated: u64,
    ahead_bytes: u64,
) -> Option<ZeroRange> {
    let from = zeroed.max(align_up(written));
    let limit = zero_limit(written, allocated, ahead_bytes);
    (limit > from).then(|| ZeroRange {
        from,
        to: limit.min(from + ZERO_BUFFER_BYTES as u64),
    })
}

/// Whether a new zero task is due: half the distance ahead is not zeroed,
/// or all the preallocation left is not (a slow partition's small steps).
pub(super) fn zero_task_due(written: u64, zeroed: u64, allocated: u64, ahead_bytes: u64) -> bool {
    let from = zeroed.max(align_up(written));
    let limit = zero_limit(written, allocated, ahead_bytes);
    limit > from && (limit - from >= ahead_bytes / 2 || limit == align_down(allocated))
}

/// How far zeroing goes: `ahead_bytes` past the data, within the
/// preallocation (0 = nowhere).
fn zero_limit(written: u64, allocated: u64, ahead_bytes: u64) -> u64 {
    if ahead_bytes == 0 {
        return 0;
    }
    align_down(allocated).min(align_up(written).saturating_add(align_down(ahead_bytes)))
}

impl PartitionLog {
    /// Starts a zero task if one is due (module doc). Caller is a flusher
    /// round holding `flush_lock`.
    pub(super) fn zero_ahead_if_due(&self) {
        let zero = &self.zero_ahead;
        if zero.in_flight.get().is_some() || !self.may_zero() {
            return;
        }
        let (due, task_end) = {
            let state = self.state.borrow();
            let (written, allocated) = (state.write.written, state.active.allocated);
            let ahead_bytes = self.limits.zero_ahead_bytes;
            (
                zero_task_due(written, state.active.zeroed, allocated, ahead_bytes),
                zero_limit(written, allocated, ahead_bytes),
            )
        };
        let Some(log) = self.self_ref.upgrade().filter(|_| due) else {
            return;
        };
        let Some((file, segment_base, piece)) = self.next_piece(None, task_end) else {
            return;
        };
        let Ok(turn) = zero.turn.try_acquire_static_permit(1) else {
            return;
        };
        zero.in_flight.set(Some(ZeroInFlight {
            segment_base,
            from: piece.from,
        }));
        glommio::spawn_local(async move {
            let mut piece = piece;
            loop {
                let result = file.write_zeros(piece.from, piece.to - piece.from).await;
                if !log.on_zero_piece_end(&file, piece, result) {
                    break;
                }
                let Some((_, _, next)) = log.next_piece(Some(segment_base), task_end) else {
                    break;
                };
                piece = next;
                log.zero_ahead.in_flight.set(Some(ZeroInFlight {
                    segment_base,
                    from: piece.from,
                }));
            }
            log.zero_ahead.in_flight.set(None);
            drop(turn);
        })
        .detach();
    }

    /// Zeroing may go on: it did not fail here, and the log is open,
    /// healthy and has disk space.
    fn may_zero(&self) -> bool {
        !self.zero_ahead.stopped.get()
            && !self.closed.get()
            && !self.is_failed()
            && !self.is_disk_full()
    }

    /// The active segment's file, base offset and next piece to zero, below
    /// `task_end` (where the task stops, so it ends however fast data
    /// comes), if zeroing may go on (and, for a running task, nobody waits
    /// for it and its segment is still the active one).
    fn next_piece(
        &self,
        running_in: Option<i64>,
        task_end: u64,
    ) -> Option<(Rc<SegmentFile>, i64, ZeroRange)> {
        if !self.may_zero() || self.zero_ahead.waiting.get() > 0 {
            return None;
        }
        let state = self.state.borrow();
        let base = state.active.base_offset;
        if running_in.is_some_and(|running| running != base) {
            return None;
        }
        let piece = next_zero_piece(
            state.write.written,
            state.active.zeroed,
            state.active.allocated,
            self.limits.zero_ahead_bytes,
        )?;
        let piece = ZeroRange {
            from: piece.from,
            to: piece.to.min(task_end),
        };
        (piece.from < piece.to).then(|| (state.active.dma.clone(), base, piece))
    }

    /// Waits for the zero task in flight, if any; it stops after its
    /// current piece. With `flush_lock` held none starts afterwards.
    pub(super) async fn zero_task_done(&self) {
        if self.zero_ahead.in_flight.get().is_none() {
            return;
        }
        let waiting = &self.zero_ahead.waiting;
        waiting.set(waiting.get() + 1);
        let _ = self.zero_ahead.turn.acquire_permit(1).await;
        waiting.set(waiting.get() - 1);
    }

    /// Waits for the zero task in flight if it zeroes segment `segment_base`
    /// below `end`: that segment's writes ending at `end` must not meet it,
    /// nor its seal (`end` = `u64::MAX`), which cuts the file.
    pub(super) async fn zero_task_done_in(&self, segment_base: i64, end: u64) {
        let in_flight = self.zero_ahead.in_flight.get();
        if in_flight.is_some_and(|zero| zero.segment_base == segment_base && end > zero.from) {
            self.zero_task_done().await;
        }
    }

    /// True while a zero task runs.
    pub(super) fn zero_task_in_flight(&self) -> bool {
        self.zero_ahead.in_flight.get().is_some()
    }

    /// Records a written piece (true: go on) or a failed one (false).
    fn on_zero_piece_end(
        &self,
        file: &Rc<SegmentFile>,
        piece: ZeroRange,
        result: std::io::Result<()>,
    ) -> bool {
        match result {
            Ok(()) => {
                let mut state = self.state.borrow_mut();
                // Every cut of this file waits for the task: it is whole.
                if Rc::ptr_eq(&state.active.dma, file) {
                    state.active.zeroed = state.active.zeroed.max(piece.to);
                }
                drop(state);
                let bytes = piece.to - piece.from;
                self.update_stats(|stats| stats.zeroed_bytes += bytes);
                crate::metrics::with_local(|m| m.zero_ahead_bytes.add(bytes));
                true
            }
            Err(error) => {
                self.zero_ahead.stopped.set(true);
                self.update_stats(|stats| stats.zero_write_errors += 1);
                crate::metrics::with_local(|m| m.zero_ahead_write_errors.inc());
                log::warn!(
                    "{}: writing zeros ahead of the data failed ({error}); this log stops \
                     zeroing ahead, its writes go on into preallocated blocks",
                    self.name
                );
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;
    const PIECE: u64 = ZERO_BUFFER_BYTES as u64;

    #[test]
    fn nothing_is_zeroed_when_zero_ahead_is_off() {
        assert_eq!(next_zero_piece(0, 0, 64 * MIB, 0), None);
        assert!(!zero_task_due(0, 0, 64 * MIB, 0));
    }

    #[test]
    fn a_piece_starts_at_the_data_end_or_where_zeroing_stopped() {
        let piece = next_zero_piece(10_000, 0, 64 * MIB, 32 * MIB).unwrap();
        assert_eq!(
            piece,
            ZeroRange {
                from: align_up(10_000),
                to: align_up(10_000) + PIECE
            }
        );
        let piece = next_zero_piece(MIB, 17 * MIB, 64 * MIB, 32 * MIB).unwrap();
        assert_eq!(
            piece,
            ZeroRange {
                from: 17 * MIB,
                to: 17 * MIB + PIECE
            }
        );
    }

    #[test]
    fn zeroing_stops_at_the_distance_ahead_and_at_the_preallocation() {
        // 32 MiB past the data's end (1 MiB): nothing more.
        assert_eq!(next_zero_piece(MIB, 33 * MIB, 64 * MIB, 32 * MIB), None);
        let last = next_zero_piece(MIB, 33 * MIB - 4096, 64 * MIB, 32 * MIB).unwrap();
        assert_eq!(last.to, 33 * MIB);
        assert_eq!(next_zero_piece(64 * MIB, 0, 64 * MIB, 32 * MIB), None);
        // An unaligned allocation (cut to the written end) is never passed.
        assert_eq!(next_zero_piece(5000, 0, 6000, 32 * MIB), None);
    }

    #[test]
    fn a_task_is_due_for_half_the_distance_or_the_whole_rest_of_a_small_preallocation() {
        assert!(zero_task_due(MIB, 0, 64 * MIB, 32 * MIB));
        assert!(!zero_task_due(MIB, 30 * MIB, 64 * MIB, 32 * MIB));
        assert!(zero_task_due(MIB, 17 * MIB, 64 * MIB, 32 * MIB));
        // A slow partition's small preallocation is zeroed whole.
        assert!(zero_task_due(4096, 0, 256 << 10, 32 * MIB));
        assert!(!zero_task_due(4096, 256 << 10, 256 << 10, 32 * MIB));
    }
}
