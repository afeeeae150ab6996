//! One client connection: a reader task that decodes requests and puts each
//! in line in arrival order, and a writer task that sends the answers in the
//! same order. Clients pipeline; up to `connection.max.inflight.requests`
//! answers may be pending at once, which bounds the memory a connection holds.

use super::handlers::{self, Pending};
use super::send::send_pieces;
use crate::protocol::frame::{self, FrameError, FRAME_SIZE_PREFIX_BYTES};
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

/// Longest idle limit honoured (a larger configured value would overflow
/// the timer's deadline).
const CONNECTION_IDLE_MS_MAX: u64 = 30 * 24 * 3600 * 1000;

/// Why a connection is closed by the broker.
#[derive(Debug)]
enum CloseReason {
    Frame(FrameError),
    Io(std::io::Error),
    TruncatedFrame { expected: usize, got: usize },
    Dispatch(handlers::DispatchError),
}

/// A request in line for the writer, with what its metrics need.
struct Queued {
    pending: Pending,
    api_key: i16,
    started: Instant,
}

/// Counts the connection for shutdown draining while it lives.
struct ConnectionGuard(Rc<ShardContext>);

impl ConnectionGuard {
    fn new(ctx: &Rc<ShardContext>) -> Self {
        ctx.connections.set(ctx.connections.get() + 1);
        crate::metrics::with_local(|m| m.connections_accepted.inc());
        ConnectionGuard(ctx.clone())
    }
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.connections.set(self.0.connections.get() - 1);
    }
}

/// Serves one accepted connection until the client leaves, sends something
/// the broker cannot answer, or shutdown begins.
pub async fn serve(ctx: Rc<ShardContext>, stream: TcpStream) {
    let _guard = ConnectionGuard::new(&ctx);
    let peer = stream.peer_addr().ok();
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
    let read_side = read_requests(&ctx, reader, queue_tx, peer);
    let write_side = write_responses(writer, socket_fd, queue_rx, peer);
    future::zip(read_side, write_side).await;
}

/// The direct `sendmsg` and off-reactor `sendfile` paths must never block on
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

async fn read_requests<R: AsyncRead + Unpin>(
    ctx: &Rc<ShardContext>,
    mut reader: R,
    queue: LocalSender<Queued>,
    peer: Option<SocketAddr>,
) {
    let mut buffer = ReadBuffer::default();
    let max_bytes = ctx.config.socket_request_max_bytes;
    let idle = Duration::from_millis(
        ctx.config
            .connections_max_idle_ms
            .min(CONNECTION_IDLE_MS_MAX),
    );
    loop {
        let next = future::or(
            async { Some(read_frame(&mut reader, &mut buffer, max_bytes).await) },
            async {
                // Whichever comes first: shutdown, or no whole request for
                // `connections.max.idle.ms` (idle clients and slowloris alike).
                future::or(ctx.shutting_down.wait(), async {
                    glommio::timer::sleep(idle).await;
                    log::info!(
                        "connection {}: closed after {} ms without a request (connections.max.idle.ms)",
                        peer.map_or_else(|| "?".to_string(), |p| p.to_string()),
                        idle.as_millis()
                    );
                })
                .await;
                None
            },
        )
        .await;
        let frame = match next {
            None | Some(Ok(None)) => break,
            Some(Ok(Some(frame))) => frame,
            Some(Err(reason)) => {
                log_close(peer, &reason);
                break;
            }
        };
        let started = Instant::now();
        let frame_bytes = FRAME_SIZE_PREFIX_BYTES + frame.len();
        let (api_key, pending) = match frame::decode_request_header(frame) {
            Ok(request) => {
                crate::metrics::count_request(request.api_key, frame_bytes);
                (request.api_key, handlers::dispatch(ctx, request).await)
            }
            Err(e) => (-1, Err(handlers::DispatchError::Frame(e))),
        };
        let pending = match pending {
            Ok(pending) => pending,
            Err(e) => {
                crate::metrics::count_request_error(api_key);
                log_close(peer, &CloseReason::Dispatch(e));
                break;
            }
        };
        let queued = Queued {
            pending,
            api_key,
            started,
        };
        if queue.send(queued).await.is_err() {
            break;
        }
    }
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
        }
    }
}

fn log_close(peer: Option<SocketAddr>, reason: &CloseReason) {
    let peer = peer.map_or_else(|| "?".to_string(), |p| p.to_string());
    match reason {
        CloseReason::Io(e) => log::debug!("connection {peer}: closed: {e}"),
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
}

impl ReadBuffer {
    /// Makes room for at least `wanted` bytes in total.
    fn reserve_to(&mut self, wanted: usize) {
        if self.bytes.len() < wanted {
            // Drop stale spare bytes first so a reallocation copies only data.
            self.bytes.truncate(self.filled);
            self.bytes.resize(wanted, 0);
        }
    }

    /// Splits off the first `len` filled bytes.
    fn take(&mut self, len: usize) -> BytesMut {
        self.filled -= len;
        self.bytes.split_to(len)
    }
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
        buffer.reserve_to(wanted.max(buffer.filled + READ_CHUNK_BYTES));
        let filled = buffer.filled;
        match reader.read(&mut buffer.bytes[filled..]).await {
            Ok(0) => return Ok(false),
            Ok(n) => buffer.filled += n,
            Err(e) => return Err(CloseReason::Io(e)),
        }
    }
    Ok(true)
}

async fn write_responses<W: AsyncWrite + Unpin>(
    mut writer: W,
    socket_fd: RawFd,
    queue: LocalReceiver<Queued>,
    peer: Option<SocketAddr>,
) {
    while let Some(queued) = queue.recv().await {
        let Some(pieces) = queued.pending.await else {
            crate::metrics::count_response(queued.api_key, queued.started, 0);
            continue;
        };
        let response_bytes = crate::storage::piece::pieces_len(&pieces);
        let sent = send_pieces(&mut writer, socket_fd, pieces).await;
        crate::metrics::count_response(queued.api_key, queued.started, response_bytes);
        if let Err(e) = sent {
            log_close(peer, &CloseReason::Io(e));
            break;
        }
    }
    // Dropping the queue receiver makes the reader stop at its next request.
    drop(queue);
}
