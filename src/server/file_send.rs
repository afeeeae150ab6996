//! Sending a segment file region from a client helper thread: read with
//! O_DIRECT into the helper's one reused, aligned buffer, then sent from it.
//!
//! Why not `sendfile`: appends are O_DIRECT, so a catch-up read finds the
//! page cache cold, and on the development VM the first touch of pages the
//! guest has just filled from disk costs 4-7x a copy of hot ones. With
//! `sendfile` the receiver pays it (its socket copy reads the new page-cache
//! pages); a buffered read into a reused buffer only moves the cost to the
//! broker (measured: the broker's CPU per GB read rose from 0.4 s to 2 s,
//! the client's fell as much, throughput unchanged). An O_DIRECT read puts
//! the disk's bytes straight into pages used again and again, so no side
//! touches a new page; the cost is one copy of hot memory into the socket.
//! Figures: perf/RESULTS.md (issue 14).
//!
//! The next chunk's read is in flight while the current one is sent
//! (`file_send_overlap.rs`, on the helper's own small io_uring), so a
//! sequential reader streams at about max(disk, socket), not their sum. A
//! filesystem that refuses O_DIRECT gets the same loop with a buffered read,
//! and a helper without io_uring the O_DIRECT loop one read at a time.
//! Memory: two [`SEND_READ_CHUNK_BYTES`] buffers per client helper thread,
//! allocated on its first file send and kept.

use super::file_send_overlap::{send_region_overlapped, OverlapError, READ_RING_ENTRIES};
use super::send::send_all_blocking;
use crate::protocol::piece::FileRegion;
use io_uring::IoUring;
use std::alloc::{alloc, dealloc, Layout};
use std::cell::RefCell;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::ptr::NonNull;
use std::time::Instant;

/// Bytes of a file region a send helper reads and sends at a time: the size
/// of each of its two buffers (one being sent, one being read into). Memory
/// per shard: twice this times `local::helper_pool::CLIENT_HELPERS_PER_SHARD`
/// (8 MiB).
pub const SEND_READ_CHUNK_BYTES: usize = 1 << 20;
/// Alignment O_DIRECT asks of read positions, lengths and buffer addresses.
pub(super) const DIRECT_ALIGNMENT_BYTES: usize = 4096;

thread_local! {
    /// The helper's read buffers and ring: the same pages for every send.
    static SEND_STATE: RefCell<Option<SendState>> = const { RefCell::new(None) };
}

/// What a send helper keeps between sends.
struct SendState {
    /// Two buffers: the chunk being sent and the next one being read.
    buffers: [AlignedBuffer; 2],
    /// The helper's read ring; `None` where io_uring is unavailable (then
    /// reads and sends take turns).
    ring: Option<IoUring>,
}

impl SendState {
    fn new() -> io::Result<Self> {
        Ok(SendState {
            buffers: [
                AlignedBuffer::new(SEND_READ_CHUNK_BYTES)?,
                AlignedBuffer::new(SEND_READ_CHUNK_BYTES)?,
            ],
            ring: IoUring::new(READ_RING_ENTRIES).ok(),
        })
    }
}

/// A heap buffer aligned for O_DIRECT.
pub(super) struct AlignedBuffer {
    ptr: NonNull<u8>,
    layout: Layout,
}

impl AlignedBuffer {
    fn new(len: usize) -> io::Result<Self> {
        let layout = Layout::from_size_align(len, DIRECT_ALIGNMENT_BYTES)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "read buffer layout"))?;
        // SAFETY: `layout` has a non-zero size (callers pass a constant > 0).
        let ptr = unsafe { alloc(layout) };
        NonNull::new(ptr)
            .map(|ptr| AlignedBuffer { ptr, layout })
            .ok_or_else(|| io::Error::new(io::ErrorKind::OutOfMemory, "read buffer"))
    }

    pub(super) fn len(&self) -> usize {
        self.layout.size()
    }

    pub(super) fn as_slice(&self) -> &[u8] {
        // SAFETY: as in `as_mut_slice`, borrowed shared through `self`.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.layout.size()) }
    }

    pub(super) fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: `ptr` owns `layout.size()` bytes, borrowed mutably through
        // `self`; u8 has no invalid values (the bytes are only read after a
        // read(2) filled them).
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.layout.size()) }
    }
}

impl Drop for AlignedBuffer {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout.
        unsafe { dealloc(self.ptr.as_ptr(), self.layout) }
    }
}

/// Sends `region` on socket `fd` through this helper's buffers.
pub(super) fn send_region(fd: RawFd, region: &FileRegion, deadline: Instant) -> io::Result<()> {
    SEND_STATE.with(|cell| {
        let mut slot = cell.borrow_mut();
        let state = match slot.as_mut() {
            Some(state) => state,
            None => slot.insert(SendState::new()?),
        };
        let Ok(direct) = open_direct(&region.file) else {
            let buffer = state.buffers[0].as_mut_slice();
            return send_region_buffered(fd, region, buffer, deadline);
        };
        let Some(ring) = state.ring.as_mut() else {
            let buffer = state.buffers[0].as_mut_slice();
            return send_region_direct(fd, &direct, region, buffer, deadline);
        };
        match send_region_overlapped(fd, &direct, region, ring, &mut state.buffers, deadline) {
            Ok(()) => Ok(()),
            Err(OverlapError::Io(error)) => Err(error),
            Err(ring_failure) => {
                // A read may still land in the buffers: never reuse or free
                // them; the next send starts afresh.
                if let Some(state) = slot.take() {
                    std::mem::forget(state.buffers);
                }
                Err(ring_failure.into())
            }
        }
    })
}

/// An O_DIRECT handle on the file behind `file`, opened through its
/// descriptor so it works after retention unlinked the segment.
fn open_direct(file: &File) -> io::Result<File> {
    File::options()
        .read(true)
        .custom_flags(libc::O_DIRECT)
        .open(format!("/proc/self/fd/{}", file.as_raw_fd()))
}

/// Sends `region` read through `direct` (O_DIRECT): each read covers whole
/// aligned blocks, of which the region's bytes are sent.
fn send_region_direct(
    fd: RawFd,
    direct: &File,
    region: &FileRegion,
    buffer: &mut [u8],
    deadline: Instant,
) -> io::Result<()> {
    let alignment = DIRECT_ALIGNMENT_BYTES as u64;
    let end = region.position + u64::from(region.len);
    let mut position = region.position;
    while position < end {
        let block_start = position / alignment * alignment;
        let skip = (position - block_start) as usize;
        let block_end = end.div_ceil(alignment) * alignment;
        let want = (block_end - block_start).min(buffer.len() as u64) as usize;
        let read = read_at_retrying(direct, &mut buffer[..want], block_start)?;
        if read <= skip {
            return Err(short_file());
        }
        let stop = read.min(skip + (end - position) as usize);
        send_all_blocking(fd, &buffer[skip..stop], deadline)?;
        position += (stop - skip) as u64;
    }
    Ok(())
}

/// Sends `region` read through its buffered handle, one chunk of at most
/// `buffer`'s length at a time.
fn send_region_buffered(
    fd: RawFd,
    region: &FileRegion,
    buffer: &mut [u8],
    deadline: Instant,
) -> io::Result<()> {
    let mut position = region.position;
    let mut remaining = region.len as usize;
    let chunk_bytes = buffer.len();
    while remaining > 0 {
        let chunk = &mut buffer[..remaining.min(chunk_bytes)];
        let read = read_at_retrying(&region.file, chunk, position)?;
        if read == 0 {
            return Err(short_file());
        }
        send_all_blocking(fd, &chunk[..read], deadline)?;
        position += read as u64;
        remaining -= read;
    }
    Ok(())
}

pub(super) fn read_at_retrying(file: &File, buffer: &mut [u8], position: u64) -> io::Result<usize> {
    loop {
        match file.read_at(buffer, position) {
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            result => return result,
        }
    }
}

pub(super) fn short_file() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "segment file shorter than the region being sent",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::fd::OwnedFd;
    use std::os::unix::net::UnixStream;
    use std::path::PathBuf;
    use std::sync::Arc;
    use std::time::Duration;

    /// A file of `len` bytes whose content shows any misplaced chunk.
    fn patterned_file(len: usize) -> (PathBuf, Arc<File>, Vec<u8>) {
        let path = std::env::temp_dir().join(format!("millrace-send-{}", uuid::Uuid::new_v4()));
        let bytes: Vec<u8> = (0..len).map(|i| (i ^ (i >> 11)) as u8).collect();
        File::create(&path)
            .and_then(|mut f| f.write_all(&bytes))
            .expect("test file");
        let file = Arc::new(File::open(&path).expect("open test file"));
        (path, file, bytes)
    }

    /// Runs `send` on one end of a socket pair and returns what the other got.
    fn collect(send: impl FnOnce(RawFd) -> io::Result<()>) -> (io::Result<()>, Vec<u8>) {
        let (sender, mut receiver) = UnixStream::pair().expect("socketpair");
        sender.set_nonblocking(true).expect("nonblocking");
        let socket = OwnedFd::from(sender);
        let reader = std::thread::spawn(move || {
            let mut got = Vec::new();
            receiver.read_to_end(&mut got).map(|_| got)
        });
        let sent = send(socket.as_raw_fd());
        drop(socket);
        (sent, reader.join().expect("reader").expect("read"))
    }

    fn deadline() -> Instant {
        Instant::now() + Duration::from_secs(30)
    }

    #[test]
    fn a_region_longer_than_the_buffer_goes_out_whole_at_any_alignment() {
        let len = 3 * SEND_READ_CHUNK_BYTES + 12_345;
        let (path, file, expected) = patterned_file(len);
        // (start, bytes short of the file's end): unaligned both ends, aligned
        // both ends, to the file's unaligned end, and within one block.
        for (position, short) in [
            (4097, 100),
            (8192, 4096 + 12_345),
            (1, 0),
            (5000, len - 5100),
        ] {
            let region = FileRegion {
                file: file.clone(),
                position: position as u64,
                len: (len - position - short) as u32,
            };
            let (sent, got) = collect(|fd| send_region(fd, &region, deadline()));
            sent.expect("send");
            assert!(
                got[..] == expected[position..len - short],
                "region at {position}, {short} short of the end"
            );
        }
        std::fs::remove_file(&path).ok();
        // The helper's buffers stay at their bound, however long the region,
        // and the sends took the overlapped path.
        SEND_STATE.with(|state| {
            let state = state.borrow();
            let state = state.as_ref().expect("the helper's state");
            assert!(state.ring.is_some(), "io_uring on the test machine");
            for buffer in &state.buffers {
                assert_eq!(buffer.len(), SEND_READ_CHUNK_BYTES);
            }
        });
    }

    #[test]
    fn the_direct_path_is_taken_on_this_filesystem_and_reads_whole_blocks() {
        let (path, file, expected) = patterned_file(10_000);
        let direct = open_direct(&file).expect("the test filesystem takes O_DIRECT");
        let region = FileRegion {
            file,
            position: 3,
            len: 9_990,
        };
        // Two blocks per read: every chunk is cut from an aligned read.
        let mut buffer = AlignedBuffer::new(2 * DIRECT_ALIGNMENT_BYTES).expect("buffer");
        let (sent, got) = collect(|fd| {
            send_region_direct(fd, &direct, &region, buffer.as_mut_slice(), deadline())
        });
        std::fs::remove_file(&path).ok();
        sent.expect("send");
        assert!(got[..] == expected[3..9_993]);
    }

    #[test]
    fn the_buffered_fallback_sends_a_region_in_bounded_chunks() {
        let (path, file, expected) = patterned_file(10_000);
        let region = FileRegion {
            file,
            position: 3,
            len: 9_990,
        };
        let mut buffer = [0u8; 7];
        let (sent, got) = collect(|fd| send_region_buffered(fd, &region, &mut buffer, deadline()));
        std::fs::remove_file(&path).ok();
        sent.expect("send");
        assert!(got[..] == expected[3..9_993]);
    }

    #[test]
    fn a_region_past_the_end_of_the_file_fails_the_send_on_both_paths() {
        let (path, file, _) = patterned_file(5_000);
        let region = FileRegion {
            file,
            position: 4_000,
            len: 2_000,
        };
        let (sent, got) = collect(|fd| send_region(fd, &region, deadline()));
        let error = sent.expect_err("a short file fails the send");
        assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);
        assert_eq!(
            got.len(),
            1_000,
            "what the file had was sent before the failure"
        );

        let mut buffer = [0u8; 512];
        let (sent, got) = collect(|fd| send_region_buffered(fd, &region, &mut buffer, deadline()));
        std::fs::remove_file(&path).ok();
        assert_eq!(
            sent.map_err(|e| e.kind()),
            Err(io::ErrorKind::UnexpectedEof)
        );
        assert_eq!(got.len(), 1_000);
    }

    #[test]
    fn a_send_that_fails_with_a_read_ahead_in_flight_leaves_the_helper_usable() {
        let len = 3 * SEND_READ_CHUNK_BYTES;
        let (path, file, expected) = patterned_file(len);
        let region = FileRegion {
            file,
            position: 0,
            len: len as u32,
        };
        let (sender, receiver) = UnixStream::pair().expect("socketpair");
        sender.set_nonblocking(true).expect("nonblocking");
        drop(receiver);
        let error = send_region(sender.as_raw_fd(), &region, deadline())
            .expect_err("nobody reads: the send fails");
        assert_eq!(error.kind(), io::ErrorKind::BrokenPipe);
        // The read submitted ahead was reaped: same ring, same buffers.
        let (sent, got) = collect(|fd| send_region(fd, &region, deadline()));
        std::fs::remove_file(&path).ok();
        sent.expect("send");
        assert!(got == expected);
        SEND_STATE.with(|state| assert!(state.borrow().as_ref().is_some_and(|s| s.ring.is_some())));
    }

    #[test]
    fn a_region_of_an_unlinked_segment_is_still_sent() {
        let (path, file, expected) = patterned_file(20_000);
        std::fs::remove_file(&path).expect("unlink");
        let region = FileRegion {
            file,
            position: 100,
            len: 19_000,
        };
        let (sent, got) = collect(|fd| send_region(fd, &region, deadline()));
        sent.expect("send");
        assert!(got[..] == expected[100..19_100]);
    }
}
