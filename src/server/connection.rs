//! One client connection: a reader task that decodes requests and puts each
//! in line in arrival order, and a writer task that sends the answers in the
//! same order. Clients pipeline; up to `connection.max.inflight.requests`
//! answers and `connection.max.queued.bytes` of requests and answers may be
//! pending at once, which bounds the memory a connection holds.

use super::handlers::{self, Pending};
use super::limits::{QueuedBytes, QueuedCharge};
use super::send::send_pieces;
use crate::config::ListenerIndex;
use crate::local::notify::LocalEvent;
use crate::protocol::frame::{self, FrameError, FRAME_SIZE_PREFIX_BYTES};
use crate::protocol::piece::Piece;
use crate::shard::ShardContext;
use bytes::{Bytes, BytesMut};
use futures_lite::{future, AsyncRead, AsyncReadExt, AsyncWrite};
use glommio::channels::local_channel::{self, LocalReceiver, LocalSender};
use glommio::net::TcpStream;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Bytes read from the socket at a time when no larger frame is pending.
const READ_CHUNK_BYTES: usize = 64 * 1024;

/// Largest buffer set aside for a frame before its bytes arrive. A larger
/// size prefix gets room as its bytes come in (doubling), so a prefix that
/// claims `socket.request.max.bytes` and sends nothing costs no more than this.
const FRAME_PREALLOC_BYTES_MAX: usize = 1 << 20;
/// The page size assumed where the process cannot read its own.
const PAGE_BYTES_DEFAULT: usize = 4096;

/// Longest idle or request-read limit honoured (a larger configured value
/// would overflow the timer's deadline).
const CONNECTION_TIMER_MS_MAX: u64 = 30 * 24 * 3600 * 1000;

/// One request in line for the writer, with the bytes it holds counted
/// against `connection.max.queued.bytes` until its answer is sent.
struct Queued {
    answer: Pending,
    charge: QueuedCharge,
    /// For the request metrics: which API, and when its frame was read.
    api_key: i16,
    started: Instant,
}

/// What a connection's two tasks share.
struct ConnectionState {
    peer: Option<SocketAddr>,
    listener: ListenerIndex,
    queued: Rc<QueuedBytes>,
    /// Fired when the writer stops (send failure or stall): the reader then
    /// stops too instead of waiting for the client's next request.
    writer_done: LocalEvent,
}

/// Why a connection is closed by the broker.
#[derive(Debug)]
enum CloseReason {
    Frame(FrameError),
    Io(std::io::Error),
    TruncatedFrame { expected: usize, got: usize },
    Dispatch(handlers::DispatchError),
    Idle { idle_ms: u64 },
    SlowRequest { timeout_ms: u64, got: usize },
}

/// Counts the connection for shutdown draining while it lives.
struct ConnectionGuard(Rc<ShardContext>);

impl ConnectionGuard {
    fn new(ctx: &Rc<ShardContext>) -> Self {
        ctx.lifecycle
            .connections
            .set(ctx.lifecycle.connections.get() + 1);
        crate::metrics::with_local(|m| m.connections_accepted.inc());
        ConnectionGuard(ctx.clone())
    }
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0
            .lifecycle
            .connections
            .set(self.0.lifecycle.connections.get() - 1);
    }
}

/// The client's address, an IPv4 one as IPv4 when it came in on a
/// dual-stack `::` listener (as `::ffff:a.b.c.d`): so it counts against
/// `max.connections.per.ip`, and shows in logs and DescribeGroups, as the
/// same client on an IPv4 listener does (Java maps it the same way).
pub(super) fn peer_address(stream: &TcpStream) -> Option<SocketAddr> {
    let peer = stream.peer_addr().ok()?;
    Some(SocketAddr::new(peer.ip().to_canonical(), peer.port()))
}

/// Serves one accepted connection until the client leaves, sends something
/// the broker cannot answer, or shutdown begins.
/// `listener` is the client listener it came in on.
pub async fn serve(ctx: Rc<ShardContext>, stream: TcpStream, listener: ListenerIndex) {
    let _guard = ConnectionGuard::new(&ctx);
    let peer = peer_address(&stream);
    if let Err(e) = stream.set_nodelay(true) {
        log::debug!("set_nodelay failed: {e}");
    }
    let socket_fd = stream.as_raw_fd();
    if let Err(e) = set_nonblocking(socket_fd) {
        log::warn!("connection {peer:?}: cannot set O_NONBLOCK: {e}");
        return;
    }
    let (reader, writer) = futures_lite::io::split(stream);
    let (queue_tx, queue_rx) =
        local_channel::new_bounded(ctx.config.max_inflight_requests_per_connection.max(1));
    let state = ConnectionState {
        peer,
        listener,
        queued: Rc::new(QueuedBytes::new(ctx.config.connection_max_queued_bytes)),
        writer_done: LocalEvent::default(),
    };
    let read_side = read_requests(&ctx, &state, reader, queue_tx);
    let write_side = write_responses(&state, writer, socket_fd, queue_rx);
    future::zip(read_side, write_side).await;
}

/// The direct `sendmsg` and off-reactor file-send paths must never block on
/// a full socket (they poll with a bound instead); io_uring, which glommio
/// uses for everything else, handles a non-blocking socket the same way.
fn set_nonblocking(fd: RawFd) -> std::io::Result<()> {
    // SAFETY: fcntl on a descriptor this connection owns.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags < 0 || libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The read-side time limits of a connection.
#[derive(Clone, Copy)]
struct ReadLimits {
    max_frame_bytes: u32,
    /// `connections.max.idle.ms`: no whole request for this long.
    idle: Duration,
    /// `connection.request.read.timeout.ms`: one request, first byte to last.
    request_read: Duration,
}

impl ReadLimits {
    fn of(ctx: &ShardContext) -> ReadLimits {
        let config = &ctx.config;
        ReadLimits {
            max_frame_bytes: config.socket_request_max_bytes,
            idle: Duration::from_millis(
                config.connections_max_idle_ms.min(CONNECTION_TIMER_MS_MAX),
            ),
            request_read: Duration::from_millis(
                config
                    .connection_request_read_timeout_ms
                    .min(CONNECTION_TIMER_MS_MAX),
            ),
        }
    }
}

async fn read_requests<R: AsyncRead + Unpin>(
    ctx: &Rc<ShardContext>,
    state: &ConnectionState,
    mut reader: R,
    queue: LocalSender<Queued>,
) {
    let mut buffer = ReadBuffer::default();
    let limits = ReadLimits::of(ctx);
    // Shutdown, or the writer gone: nothing read from here on would be answered.
    let stopped = || {
        let shutdown = ctx.lifecycle.shutting_down.wait();
        let writer_done = state.writer_done.wait();
        future::or(shutdown, writer_done)
    };
    loop {
        // A client that does not read its answers stops being read here.
        let has_room = future::or(
            async {
                state.queued.below_limit().await;
                true
            },
            async {
                stopped().await;
                false
            },
        )
        .await;
        if !has_room {
            break;
        }
        let next = future::or(
            async { Some(next_frame(&mut reader, &mut buffer, limits).await) },
            async {
                stopped().await;
                None
            },
        )
        .await;
        let frame = match next {
            None | Some(Ok(None)) => break,
            Some(Ok(Some(frame))) => frame,
            Some(Err(reason)) => {
                log_close(state.peer, &reason);
                break;
            }
        };
        let frame_bytes = FRAME_SIZE_PREFIX_BYTES + frame.len();
        // No read since the frame was cut: still the allocation it slices.
        let buffer_bytes = buffer.allocation_bytes.max(frame_bytes);
        let charge = QueuedCharge::new(&state.queued, frame_bytes);
        let started = Instant::now();
        let (api_key, answer) = match frame::decode_request_header(frame) {
            Ok(request) => {
                crate::metrics::count_request(request.api_key, frame_bytes);
                let api_key = request.api_key;
                (
                    api_key,
                    handlers::dispatch(ctx, request, (state.peer, state.listener), buffer_bytes)
                        .await,
                )
            }
            Err(e) => (-1, Err(handlers::DispatchError::Frame(e))),
        };
        let answer = match answer {
            Ok(answer) => answer,
            Err(e) => {
                crate::metrics::count_request_error(api_key);
                log_close(state.peer, &CloseReason::Dispatch(e));
                break;
            }
        };
        let queued = Queued {
            answer,
            charge,
            api_key,
            started,
        };
        if queue.send(queued).await.is_err() {
            break;
        }
    }
}

/// The next whole frame, within the connection's time limits: the idle limit
/// runs from the start, the request-read limit from the frame's first byte
/// (so a client trickling bytes, slowloris, is closed well before it would
/// count as idle).
async fn next_frame<R: AsyncRead + Unpin>(
    reader: &mut R,
    buffer: &mut ReadBuffer,
    limits: ReadLimits,
) -> Result<Option<Bytes>, CloseReason> {
    let read = async {
        if !fill_to(reader, buffer, 1).await? {
            return Ok(None);
        }
        let started_frame =
            async { Some(read_frame(reader, buffer, limits.max_frame_bytes).await) };
        let too_slow = async {
            glommio::timer::sleep(limits.request_read).await;
            None
        };
        match future::or(started_frame, too_slow).await {
            Some(result) => result,
            None => Err(CloseReason::SlowRequest {
                timeout_ms: limits.request_read.as_millis() as u64,
                got: buffer.filled,
            }),
        }
    };
    let idle = async {
        glommio::timer::sleep(limits.idle).await;
        Err(CloseReason::Idle {
            idle_ms: limits.idle.as_millis() as u64,
        })
    };
    future::or(read, idle).await
}

impl std::fmt::Display for CloseReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CloseReason::Frame(e) => write!(f, "bad frame: {e}"),
            CloseReason::Io(e) => write!(f, "{e}"),
            CloseReason::TruncatedFrame { expected, got } => {
                write!(f, "stream ended inside a frame ({got} of {expected} bytes)")
            }
            CloseReason::Dispatch(e) => write!(f, "{e}"),
            CloseReason::Idle { idle_ms } => {
                write!(f, "no request for {idle_ms} ms (connections.max.idle.ms)")
            }
            CloseReason::SlowRequest { timeout_ms, got } => write!(
                f,
                "request not complete after {timeout_ms} ms, {got} bytes in \
                 (connection.request.read.timeout.ms)"
            ),
        }
    }
}

fn log_close(peer: Option<SocketAddr>, reason: &CloseReason) {
    let peer = peer.map_or_else(|| "?".to_string(), |p| p.to_string());
    match reason {
        // A client too slow to take its answers is the broker's decision.
        CloseReason::Io(e) if e.kind() == std::io::ErrorKind::TimedOut => {
            log::warn!("connection {peer}: closing: {e}")
        }
        CloseReason::Io(e) => log::debug!("connection {peer}: closed: {e}"),
        CloseReason::Idle { .. } => log::info!("connection {peer}: closed: {reason}"),
        other => log::warn!("connection {peer}: closing: {other}"),
    }
}

/// The connection's read buffer: `bytes[..filled]` holds received data, the
/// rest is initialised spare room (zeroed once, then reused) so that a read
/// does not zero memory it may not fill.
#[derive(Default)]
struct ReadBuffer {
    bytes: BytesMut,
    filled: usize,
    /// Size of the allocation `bytes` ends: what a frame cut from it keeps
    /// alive (recent batches slice frames: `storage::recent_copy`).
    allocation_bytes: usize,
}

impl ReadBuffer {
    /// Makes room for at least `wanted` bytes in total.
    fn reserve_to(&mut self, wanted: usize) {
        if self.bytes.len() < wanted {
            // Drop stale spare bytes first so a reallocation copies only data.
            self.bytes.truncate(self.filled);
            if self.bytes.capacity() < wanted {
                self.reallocate(wanted);
            }
            self.bytes.resize(wanted, 0);
        }
    }

    /// Moves the data to the front of its allocation when no frame uses the
    /// allocation any more, else into a new one of exactly `wanted` bytes.
    /// Never BytesMut's own growth, which may double the allocation: its size
    /// would then be unknown here, and a small frame read into the spare room
    /// could keep a large allocation alive unseen.
    fn reallocate(&mut self, wanted: usize) {
        if !self.bytes.try_reclaim(wanted - self.bytes.len()) {
            let mut fresh = BytesMut::zeroed(wanted);
            // Only a cost saved: where the kernel refuses, pages fault in as they are written.
            let _ = prefault(&mut fresh);
            fresh[..self.bytes.len()].copy_from_slice(&self.bytes);
            self.bytes = fresh;
        }
        // Either way the data now starts the allocation.
        self.allocation_bytes = self.bytes.capacity();
    }

    /// Splits off the first `len` filled bytes.
    fn take(&mut self, len: usize) -> BytesMut {
        self.filled -= len;
        self.bytes.split_to(len)
    }
}

/// Faults in every whole page of `bytes` with one system call
/// (`MADV_POPULATE_WRITE`, Linux 5.14) rather than one fault per page as the
/// socket read first writes each: while the recent-data room fills, every
/// new allocation is memory the process never touched (perf/RESULTS.md, the
/// room's first fill). An older kernel refuses (EINVAL); pages then fault in
/// one at a time, as without this call.
fn prefault(bytes: &mut [u8]) -> std::io::Result<()> {
    let Some((start, len)) = whole_pages(bytes.as_mut_ptr() as usize, bytes.len(), page_bytes())
    else {
        return Ok(());
    };
    // SAFETY: the range lies inside `bytes`, memory this process owns;
    // populating changes no byte of it.
    let populated =
        unsafe { libc::madvise(start as *mut libc::c_void, len, libc::MADV_POPULATE_WRITE) };
    match populated {
        0 => Ok(()),
        _ => Err(std::io::Error::last_os_error()),
    }
}

/// The whole pages of `page_bytes` inside `[addr, addr + len)`: the first
/// one's address and their length, or None when no page is whole.
fn whole_pages(addr: usize, len: usize, page_bytes: usize) -> Option<(usize, usize)> {
    let start = addr.checked_next_multiple_of(page_bytes)?;
    let end = addr.checked_add(len)? & !(page_bytes - 1);
    (end > start).then_some((start, end - start))
}

/// The page size of this process, or [`PAGE_BYTES_DEFAULT`] if it cannot be read.
fn page_bytes() -> usize {
    // SAFETY: sysconf only reads a value of the process.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(size)
        .ok()
        .filter(|size| size.is_power_of_two())
        .unwrap_or(PAGE_BYTES_DEFAULT)
}

/// Reads one frame (without its size prefix). `Ok(None)` is a clean end of
/// stream between frames. The size is checked against `max_bytes` before any
/// buffer is sized from it.
async fn read_frame<R: AsyncRead + Unpin>(
    reader: &mut R,
    buffer: &mut ReadBuffer,
    max_bytes: u32,
) -> Result<Option<Bytes>, CloseReason> {
    if !fill_to(reader, buffer, FRAME_SIZE_PREFIX_BYTES).await? {
        return if buffer.filled == 0 {
            Ok(None)
        } else {
            Err(CloseReason::TruncatedFrame {
                expected: FRAME_SIZE_PREFIX_BYTES,
                got: buffer.filled,
            })
        };
    }
    let head = &buffer.bytes[..FRAME_SIZE_PREFIX_BYTES];
    let prefix = [head[0], head[1], head[2], head[3]];
    let body_len = frame::frame_body_len(prefix, max_bytes).map_err(CloseReason::Frame)?;
    let frame_len = FRAME_SIZE_PREFIX_BYTES + body_len;
    if !fill_to(reader, buffer, frame_len).await? {
        return Err(CloseReason::TruncatedFrame {
            expected: frame_len,
            got: buffer.filled,
        });
    }
    let mut frame = buffer.take(frame_len);
    let _prefix = frame.split_to(FRAME_SIZE_PREFIX_BYTES);
    Ok(Some(frame.freeze()))
}

/// Reads until `buffer` holds at least `wanted` bytes; false on end of stream.
/// Reads up to [`READ_CHUNK_BYTES`] beyond what is wanted, so small pipelined
/// requests arrive in one read.
async fn fill_to<R: AsyncRead + Unpin>(
    reader: &mut R,
    buffer: &mut ReadBuffer,
    wanted: usize,
) -> Result<bool, CloseReason> {
    while buffer.filled < wanted {
        buffer.reserve_to(read_room_bytes(buffer.filled, wanted));
        let filled = buffer.filled;
        match reader.read(&mut buffer.bytes[filled..]).await {
            Ok(0) => return Ok(false),
            Ok(n) => buffer.filled += n,
            Err(e) => return Err(CloseReason::Io(e)),
        }
    }
    Ok(true)
}

/// How large the read buffer should be to read towards `wanted` bytes when
/// `filled` are in: all of `wanted` (plus read-ahead) up to
/// [`FRAME_PREALLOC_BYTES_MAX`], beyond that twice what arrived, so memory
/// follows the bytes received rather than the size the client claimed.
fn read_room_bytes(filled: usize, wanted: usize) -> usize {
    let read_ahead = filled + READ_CHUNK_BYTES;
    let grown = filled.saturating_mul(2).max(FRAME_PREALLOC_BYTES_MAX);
    wanted.min(grown).max(read_ahead)
}

async fn write_responses<W: AsyncWrite + Unpin>(
    state: &ConnectionState,
    mut writer: W,
    socket_fd: RawFd,
    queue: LocalReceiver<Queued>,
) {
    while let Some(queued) = queue.recv().await {
        let Queued {
            answer,
            mut charge,
            api_key,
            started,
        } = queued;
        let Some(pieces) = answer.await else {
            crate::metrics::count_response(api_key, started, 0);
            continue;
        };
        let response_bytes = crate::protocol::piece::pieces_len(&pieces);
        charge.grow(memory_bytes(&pieces));
        let sent = send_pieces(&mut writer, socket_fd, pieces).await;
        crate::metrics::count_response(api_key, started, response_bytes);
        if let Err(e) = sent {
            log_close(state.peer, &CloseReason::Io(e));
            break;
        }
    }
    state.writer_done.fire();
    // Dropping the queue drops what is still in line, releasing its bytes.
    drop(queue);
}

/// Bytes of an answer held in memory (file regions are sent from the page
/// cache and cost the connection nothing).
fn memory_bytes(pieces: &[Piece]) -> usize {
    pieces
        .iter()
        .filter(|piece| matches!(piece, Piece::Mem(_)))
        .map(Piece::len)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_frames_get_their_whole_size_plus_read_ahead() {
        assert_eq!(read_room_bytes(0, 4), READ_CHUNK_BYTES);
        assert_eq!(read_room_bytes(4, 1000), 4 + READ_CHUNK_BYTES);
        assert_eq!(
            read_room_bytes(4, FRAME_PREALLOC_BYTES_MAX),
            FRAME_PREALLOC_BYTES_MAX
        );
    }

    #[test]
    fn a_frame_knows_the_size_of_the_allocation_it_slices() {
        let mut buffer = ReadBuffer::default();
        buffer.reserve_to(1000);
        assert_eq!(buffer.allocation_bytes, 1000);
        buffer.filled = 1000;
        let frame = buffer.take(300).freeze();
        // The rest grows while the frame lives: a new allocation of exactly
        // the size asked, and the frame keeps only its own.
        buffer.reserve_to(5000);
        assert_eq!(buffer.allocation_bytes, 5000);
        assert_eq!(buffer.bytes.capacity(), 5000);
        assert!(frame.is_unique());
        // With no frame left in it, the allocation is reused from its start.
        drop(frame);
        buffer.filled = 5000;
        buffer.bytes[4900..].fill(7);
        drop(buffer.take(4900));
        buffer.reserve_to(3000);
        assert_eq!(buffer.allocation_bytes, 5000);
        assert_eq!(&buffer.bytes[..100], &[7u8; 100][..]);
    }

    #[test]
    fn a_new_allocation_starts_with_the_bytes_not_yet_cut_into_frames() {
        let mut buffer = ReadBuffer::default();
        buffer.reserve_to(READ_CHUNK_BYTES);
        buffer.bytes[..10_000].fill(1);
        buffer.bytes[10_000..12_345].fill(2);
        buffer.filled = 12_345;
        let frame = buffer.take(10_000).freeze();
        // The frame lives on, so the partial next frame moves to a new
        // allocation (prefaulted, several pages), data first, zeros after.
        buffer.reserve_to(3 << 20);
        assert_eq!(buffer.allocation_bytes, 3 << 20);
        assert_eq!(buffer.bytes.len(), 3 << 20);
        assert!(buffer.bytes[..2_345].iter().all(|&b| b == 2));
        assert!(buffer.bytes[2_345..].iter().all(|&b| b == 0));
        assert!(frame.iter().all(|&b| b == 1));
    }

    #[test]
    fn whole_pages_lie_inside_the_range() {
        const PAGE: usize = 4096;
        assert_eq!(whole_pages(0, 0, PAGE), None);
        assert_eq!(whole_pages(1, PAGE, PAGE), None);
        assert_eq!(whole_pages(4095, PAGE, PAGE), None);
        assert_eq!(whole_pages(4095, PAGE + 1, PAGE), Some((PAGE, PAGE)));
        assert_eq!(whole_pages(0, PAGE, PAGE), Some((0, PAGE)));
        assert_eq!(whole_pages(4095, PAGE + 2, PAGE), Some((PAGE, PAGE)));
        assert_eq!(
            whole_pages(PAGE + 1, 3 * PAGE + 17, PAGE),
            Some((2 * PAGE, 2 * PAGE))
        );
        assert_eq!(whole_pages(usize::MAX - 10, 5, PAGE), None);
    }

    /// Minor page faults of the calling thread so far.
    fn thread_minor_faults() -> i64 {
        // SAFETY: getrusage writes only the struct it is given.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        assert_eq!(
            unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) },
            0
        );
        usage.ru_minflt as i64
    }

    #[test]
    fn prefaulted_memory_is_written_without_page_faults() {
        const PAGES: usize = 64;
        let len = PAGES * page_bytes();
        // Fresh anonymous memory, so that every first write would fault.
        // SAFETY: a new private mapping, unmapped below; no other owner.
        let addr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(addr, libc::MAP_FAILED);
        // SAFETY: the mapping is `len` bytes, readable and writable, zeroed.
        let bytes = unsafe { std::slice::from_raw_parts_mut(addr as *mut u8, len) };
        let populated = prefault(bytes);
        let before = thread_minor_faults();
        bytes.iter_mut().step_by(page_bytes()).for_each(|b| *b = 1);
        let faults = thread_minor_faults() - before;
        match populated {
            Ok(()) => assert!(
                faults < PAGES as i64 / 4,
                "{faults} faults writing {PAGES} pages"
            ),
            // A kernel before 5.14: the pages fault in as written.
            Err(e) => assert_eq!(e.raw_os_error(), Some(libc::EINVAL), "{e}"),
        }
        assert_eq!(bytes.iter().filter(|&&b| b == 1).count(), PAGES);
        // SAFETY: the mapping made above, no longer borrowed.
        unsafe { libc::munmap(addr, len) };
    }

    #[test]
    fn a_claimed_size_beyond_the_preallocation_grows_with_the_bytes_received() {
        let claimed = 100 << 20;
        assert_eq!(read_room_bytes(4, claimed), FRAME_PREALLOC_BYTES_MAX);
        assert_eq!(read_room_bytes(3 << 20, claimed), 6 << 20);
        assert_eq!(read_room_bytes(90 << 20, claimed), claimed);
    }
}
