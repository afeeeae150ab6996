//! The O_DIRECT send loop with the next read in flight while the current
//! chunk is sent: the helper submits the read of chunk k+1 to its own small
//! io_uring, sends chunk k from the other of its two buffers, then reaps the
//! read. A sequential catch-up read then streams at about max(disk, socket)
//! per chunk instead of their sum (perf/RESULTS.md, issue 14 §1).
//!
//! The ring belongs to the helper thread (never a shard's reactor), holds at
//! most one read, and every read submitted is reaped before the send
//! returns, so the buffers are never written behind the helper's back. If
//! the ring itself fails mid-send, the state of its read is unknown: the
//! caller then forgets the buffers (never reused) and drops the ring
//! ([`OverlapError::Ring`]).

use super::file_send::{read_at_retrying, short_file, AlignedBuffer, DIRECT_ALIGNMENT_BYTES};
use super::send::send_all_blocking;
use crate::protocol::piece::FileRegion;
use io_uring::{opcode, types, IoUring};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::time::Instant;

/// Submission entries of a helper's ring: one read in flight at a time.
pub(super) const READ_RING_ENTRIES: u32 = 2;

/// Why an overlapped send failed.
#[derive(Debug)]
pub(super) enum OverlapError {
    /// A read or send failed; no read is in flight, ring and buffers are fine.
    Io(io::Error),
    /// The ring failed with a read possibly in flight: drop the ring, never
    /// reuse the buffers.
    Ring(io::Error),
}

impl From<OverlapError> for io::Error {
    fn from(error: OverlapError) -> Self {
        match error {
            OverlapError::Io(error) | OverlapError::Ring(error) => error,
        }
    }
}

/// One aligned read: where in the file, how many bytes, into which buffer.
#[derive(Debug, Clone, Copy)]
struct Chunk {
    block_start: u64,
    want: usize,
    slot: usize,
}

/// The aligned read that covers `position`, up to `end` (rounded up to a
/// block) and at most `chunk_bytes`, into buffer `slot`.
fn chunk_at(position: u64, end: u64, slot: usize, chunk_bytes: usize) -> Chunk {
    let alignment = DIRECT_ALIGNMENT_BYTES as u64;
    let block_start = position / alignment * alignment;
    let block_end = end.div_ceil(alignment) * alignment;
    let want = (block_end - block_start).min(chunk_bytes as u64) as usize;
    Chunk {
        block_start,
        want,
        slot,
    }
}

/// Sends `region` read through `direct` (O_DIRECT), reading each next chunk
/// into the other buffer while the current one is sent.
pub(super) fn send_region_overlapped(
    fd: RawFd,
    direct: &File,
    region: &FileRegion,
    ring: &mut IoUring,
    buffers: &mut [AlignedBuffer; 2],
    deadline: Instant,
) -> Result<(), OverlapError> {
    let end = region.position + u64::from(region.len);
    let mut position = region.position;
    if position >= end {
        return Ok(());
    }
    let chunk_bytes = buffers[0].len().min(buffers[1].len());
    let mut current = chunk_at(position, end, 0, chunk_bytes);
    submit_read(ring, direct, &mut buffers[current.slot], current)?;
    loop {
        let read = reap_read(ring, direct, &mut buffers[current.slot], current)?;
        let skip = (position - current.block_start) as usize;
        if read <= skip {
            return Err(OverlapError::Io(short_file()));
        }
        let stop = read.min(skip + (end - position) as usize);
        let next_position = position + (stop - skip) as u64;
        let next = (next_position < end)
            .then(|| chunk_at(next_position, end, 1 - current.slot, chunk_bytes));
        if let Some(next) = next {
            submit_read(ring, direct, &mut buffers[next.slot], next)?;
        }
        let sent = send_all_blocking(fd, &buffers[current.slot].as_slice()[skip..stop], deadline);
        if let Err(error) = sent {
            if let Some(next) = next {
                // The read must land before its buffer can be used again.
                reap_read(ring, direct, &mut buffers[next.slot], next)?;
            }
            return Err(OverlapError::Io(error));
        }
        match next {
            Some(next) => (current, position) = (next, next_position),
            None => return Ok(()),
        }
    }
}

/// Queues the read of `chunk` into `buffer` and submits it.
fn submit_read(
    ring: &mut IoUring,
    direct: &File,
    buffer: &mut AlignedBuffer,
    chunk: Chunk,
) -> Result<(), OverlapError> {
    let target = &mut buffer.as_mut_slice()[..chunk.want];
    let entry = opcode::Read::new(
        types::Fd(direct.as_raw_fd()),
        target.as_mut_ptr(),
        chunk.want as u32,
    )
    .offset(chunk.block_start)
    .build()
    .user_data(chunk.slot as u64);
    // SAFETY: the buffer outlives the read: it is reaped (`reap_read`) before
    // the send returns, or the buffer is leaked on a ring failure.
    let pushed = unsafe { ring.submission().push(&entry) };
    if pushed.is_err() {
        return Err(OverlapError::Io(io::Error::other("read ring full")));
    }
    loop {
        match ring.submit() {
            Ok(_) => return Ok(()),
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(OverlapError::Ring(error)),
        }
    }
}

/// Waits for the read of `chunk` and returns the bytes it read. A read the
/// kernel answers with EAGAIN or EINTR is done again synchronously.
fn reap_read(
    ring: &mut IoUring,
    direct: &File,
    buffer: &mut AlignedBuffer,
    chunk: Chunk,
) -> Result<usize, OverlapError> {
    let completion = loop {
        if let Some(completion) = ring.completion().next() {
            break completion;
        }
        match ring.submit_and_wait(1) {
            Ok(_) => {}
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(OverlapError::Ring(error)),
        }
    };
    if completion.user_data() != chunk.slot as u64 {
        return Err(OverlapError::Ring(io::Error::other(
            "read ring answered another read",
        )));
    }
    match completion.result() {
        read if read >= 0 => Ok(read as usize),
        errno if errno == -libc::EAGAIN || errno == -libc::EINTR => {
            let target = &mut buffer.as_mut_slice()[..chunk.want];
            read_at_retrying(direct, target, chunk.block_start).map_err(OverlapError::Io)
        }
        errno => Err(OverlapError::Io(io::Error::from_raw_os_error(-errno))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_whole_blocks_and_stop_at_the_rounded_end() {
        let chunk = chunk_at(5_000, 9_000, 1, 1 << 20);
        assert_eq!(
            (chunk.block_start, chunk.want, chunk.slot),
            (4_096, 8_192, 1)
        );
        let chunk = chunk_at(4_096, 10 << 20, 0, 1 << 20);
        assert_eq!((chunk.block_start, chunk.want), (4_096, 1 << 20));
    }
}
