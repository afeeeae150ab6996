//! Writing a response made of [`Piece`]s to a client socket.
//!
//! Memory pieces go out with one non-blocking `sendmsg` over all of them
//! (a vectored write, no coalescing copy), the remainder through glommio.
//! A response that holds file regions is handed whole to one of the shard's
//! client helpers ([`run_job`] with [`Helpers::Client`]: plain threads with a bounded queue)
//! that reads the regions into its own reused buffer and sends them with
//! the memory pieces around them (`file_send.rs`: why not `sendfile`), so a
//! cold read never blocks the shard's core.
//! The helpers serve only client sends: a slow client can make other sends
//! wait, never a segment roll or an offset commit (those use other pools),
//! and it holds a helper at most [`SEND_RESPONSE_MS_MAX`] per response.

use super::file_send::send_region;
use crate::local::helper_pool::{run_job, Helpers};
use crate::protocol::piece::Piece;
use futures_lite::{future, AsyncWrite, AsyncWriteExt};
use std::future::Future;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

/// Longest a blocking send waits for the client to make room.
pub const SEND_STALL_MS_MAX: i32 = 30_000;
/// Longest one response may take on a send helper, however the client
/// trickles its reads; then the connection is closed.
pub const SEND_RESPONSE_MS_MAX: u64 = 120_000;

/// iovecs per sendmsg call (Linux IOV_MAX is 1024).
const IOVECS_PER_SEND_MAX: usize = 1024;

/// Sends `pieces` in order on the socket behind `writer` / `socket_fd`.
pub async fn send_pieces<W: AsyncWrite + Unpin>(
    writer: &mut W,
    socket_fd: RawFd,
    pieces: Vec<Piece>,
) -> io::Result<()> {
    if pieces.iter().any(|p| matches!(p, Piece::File(_))) {
        return send_with_files(socket_fd, pieces).await;
    }
    let sent = send_now(socket_fd, &pieces, 0)?;
    send_rest(writer, socket_fd, &pieces, sent).await
}

/// Writes what the first non-blocking send left over. glommio's write (it
/// sends at once, unbuffered, after waiting for room) sends the next piece;
/// then one vectored send takes as much of the rest as the socket takes, so
/// a large answer (a lagging consumer read from memory) costs a wait and a
/// `sendmsg` per socket buffer, not per batch. A client that makes no room
/// for [`SEND_STALL_MS_MAX`] fails the send (the same bound as the blocking
/// path), so it cannot hold the answer, and the connection's queue behind
/// it, forever.
async fn send_rest<W: AsyncWrite + Unpin>(
    writer: &mut W,
    socket_fd: RawFd,
    pieces: &[Piece],
    sent: usize,
) -> io::Result<()> {
    let mut cursor = SendCursor::default();
    cursor.advance(pieces, sent);
    while let Some(next) = cursor.unsent(pieces) {
        let n = within_stall_limit(writer.write(next)).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        cursor.advance(pieces, n);
        let more = send_now(socket_fd, &pieces[cursor.piece..], cursor.offset)?;
        cursor.advance(pieces, more);
    }
    within_stall_limit(writer.flush()).await
}

/// Where the unsent bytes of an answer's memory pieces start. It only moves
/// forward, so an answer of many pieces sent over many waits is walked once.
#[derive(Debug, Default, PartialEq)]
struct SendCursor {
    piece: usize,
    offset: usize,
}

impl SendCursor {
    /// Moves past `sent` more bytes, and past pieces with nothing left.
    fn advance(&mut self, pieces: &[Piece], mut sent: usize) {
        while let Some(piece) = pieces.get(self.piece) {
            let len = match piece {
                Piece::Mem(bytes) => bytes.len(),
                Piece::File(_) => 0,
            };
            let left = len - self.offset;
            if sent < left {
                self.offset += sent;
                return;
            }
            sent -= left;
            self.piece += 1;
            self.offset = 0;
        }
    }

    /// The unsent bytes of the piece under the cursor; `None` once all are
    /// sent.
    fn unsent<'a>(&self, pieces: &'a [Piece]) -> Option<&'a [u8]> {
        match pieces.get(self.piece)? {
            Piece::Mem(bytes) => Some(&bytes[self.offset..]),
            Piece::File(_) => None,
        }
    }
}

/// `operation`, failed with `TimedOut` if it makes no progress for [`SEND_STALL_MS_MAX`].
async fn within_stall_limit<T>(operation: impl Future<Output = io::Result<T>>) -> io::Result<T> {
    let stalled = async {
        glommio::timer::sleep(Duration::from_millis(SEND_STALL_MS_MAX as u64)).await;
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("client did not read for {SEND_STALL_MS_MAX} ms"),
        ))
    };
    future::or(operation, stalled).await
}

/// One non-blocking vectored send of as much as the socket takes now, of
/// the memory pieces past their first `skip` bytes.
fn send_now(socket_fd: RawFd, pieces: &[Piece], mut skip: usize) -> io::Result<usize> {
    let iovecs: Vec<libc::iovec> = pieces
        .iter()
        .filter_map(|p| match p {
            Piece::Mem(bytes) => {
                let from = skip.min(bytes.len());
                skip -= from;
                let rest = &bytes[from..];
                (!rest.is_empty()).then_some(libc::iovec {
                    iov_base: rest.as_ptr() as *mut libc::c_void,
                    iov_len: rest.len(),
                })
            }
            _ => None,
        })
        .take(IOVECS_PER_SEND_MAX)
        .collect();
    if iovecs.is_empty() {
        return Ok(0);
    }
    // SAFETY: the iovecs point into `pieces`, alive for the call.
    let sent = unsafe {
        let mut message: libc::msghdr = std::mem::zeroed();
        message.msg_iov = iovecs.as_ptr() as *mut libc::iovec;
        message.msg_iovlen = iovecs.len();
        libc::sendmsg(socket_fd, &message, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL)
    };
    if sent >= 0 {
        return Ok(sent as usize);
    }
    let error = io::Error::last_os_error();
    match error.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(0),
        _ => Err(error),
    }
}

async fn send_with_files(socket_fd: RawFd, pieces: Vec<Piece>) -> io::Result<()> {
    // The blocking thread gets its own descriptor: if this connection is torn
    // down meanwhile, the number cannot be reused under it.
    // SAFETY: dup of a live descriptor; the result is owned below.
    let duplicate = unsafe { libc::dup(socket_fd) };
    if duplicate < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `duplicate` is a fresh descriptor nobody else owns.
    let socket = unsafe { OwnedFd::from_raw_fd(duplicate) };
    let deadline = Instant::now() + Duration::from_millis(SEND_RESPONSE_MS_MAX);
    run_job(Helpers::Client, move || {
        blocking_send(&socket, &pieces, deadline)
    })
    .await
    .map_err(io::Error::other)?
}

fn blocking_send(socket: &OwnedFd, pieces: &[Piece], deadline: Instant) -> io::Result<()> {
    let fd = socket.as_raw_fd();
    for piece in pieces {
        match piece {
            Piece::Mem(bytes) => send_all_blocking(fd, bytes, deadline)?,
            Piece::File(region) => send_region(fd, region, deadline)?,
        }
    }
    Ok(())
}

/// Sends all of `bytes` on a non-blocking socket, waiting for room (see
/// [`wait_or_fail`]).
pub(super) fn send_all_blocking(fd: RawFd, bytes: &[u8], deadline: Instant) -> io::Result<()> {
    let mut sent_total = 0;
    while sent_total < bytes.len() {
        let rest = &bytes[sent_total..];
        // SAFETY: `rest` is a live slice for the call.
        let sent = unsafe {
            libc::send(
                fd,
                rest.as_ptr() as *const libc::c_void,
                rest.len(),
                libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT,
            )
        };
        if sent >= 0 {
            sent_total += sent as usize;
        } else {
            wait_or_fail(fd, deadline)?;
        }
    }
    Ok(())
}

/// After a failed send: waits for room on EAGAIN (at most
/// [`SEND_STALL_MS_MAX`], and never past `deadline`), retries on EINTR,
/// fails otherwise.
fn wait_or_fail(fd: RawFd, deadline: Instant) -> io::Result<()> {
    let error = io::Error::last_os_error();
    match error.kind() {
        io::ErrorKind::Interrupted => Ok(()),
        io::ErrorKind::WouldBlock => {
            let left_ms = deadline
                .saturating_duration_since(Instant::now())
                .as_millis();
            if left_ms == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("response not sent within {SEND_RESPONSE_MS_MAX} ms"),
                ));
            }
            let wait_ms = left_ms.min(SEND_STALL_MS_MAX as u128) as i32;
            let mut poll_fd = libc::pollfd {
                fd,
                events: libc::POLLOUT,
                revents: 0,
            };
            // SAFETY: one pollfd, alive for the call.
            let ready = unsafe { libc::poll(&mut poll_fd, 1, wait_ms) };
            match ready {
                0 => Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("client did not read for {wait_ms} ms"),
                )),
                n if n < 0 => Err(io::Error::last_os_error()),
                _ => Ok(()),
            }
        }
        _ => Err(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use std::io::Read;

    const PIECES: usize = 300;
    const PIECE_BYTES: usize = 7_001;
    /// Small socket buffers, so the first send leaves most of the answer.
    const SOCKET_BUFFER_BYTES: usize = 16 << 10;

    fn set_buffer(fd: RawFd, option: libc::c_int) {
        let bytes = SOCKET_BUFFER_BYTES as libc::c_int;
        // SAFETY: a live socket and an int option for the call.
        let done = unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                option,
                &bytes as *const libc::c_int as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        assert_eq!(done, 0);
    }

    #[test]
    fn a_slow_reader_gets_a_many_piece_answer_byte_for_byte() {
        let pieces: Vec<Piece> = (0..PIECES)
            .map(|i| Piece::Mem(Bytes::from(vec![(i % 251) as u8; PIECE_BYTES])))
            .collect();
        let expected: Vec<u8> = pieces
            .iter()
            .flat_map(|p| match p {
                Piece::Mem(bytes) => bytes.to_vec(),
                Piece::File(_) => Vec::new(),
            })
            .collect();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let reader = std::thread::spawn(move || {
            let mut client = std::net::TcpStream::connect(address).unwrap();
            set_buffer(client.as_raw_fd(), libc::SO_RCVBUF);
            let mut received = Vec::new();
            let mut chunk = [0u8; 4096];
            while received.len() < PIECES * PIECE_BYTES {
                let n = client.read(&mut chunk).unwrap();
                assert!(n > 0, "closed after {} bytes", received.len());
                received.extend_from_slice(&chunk[..n]);
                if received.len() % (64 << 10) < n {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            received
        });
        let (accepted, _) = listener.accept().unwrap();
        accepted.set_nonblocking(true).unwrap();
        set_buffer(accepted.as_raw_fd(), libc::SO_SNDBUF);
        crate::storage::tests::run(async move {
            let fd = accepted.as_raw_fd();
            // SAFETY: `accepted` owns the descriptor; the glommio stream is
            // forgotten below rather than closing it twice.
            let stream = unsafe { glommio::net::TcpStream::from_raw_fd(fd) };
            let mut writer = stream;
            send_pieces(&mut writer, fd, pieces).await.unwrap();
            std::mem::forget(writer);
        });
        assert!(reader.join().unwrap() == expected);
    }

    #[test]
    fn the_cursor_skips_whole_pieces_sent_and_empty_ones() {
        let pieces = vec![
            Piece::Mem(Bytes::from_static(b"abc")),
            Piece::Mem(Bytes::from_static(b"")),
            Piece::Mem(Bytes::from_static(b"defg")),
        ];
        let mut cursor = SendCursor::default();
        cursor.advance(&pieces, 0);
        assert_eq!(cursor.unsent(&pieces), Some(&b"abc"[..]));
        cursor.advance(&pieces, 3);
        assert_eq!(
            cursor,
            SendCursor {
                piece: 2,
                offset: 0
            }
        );
        assert_eq!(cursor.unsent(&pieces), Some(&b"defg"[..]));
        cursor.advance(&pieces, 2);
        assert_eq!(cursor.unsent(&pieces), Some(&b"fg"[..]));
        cursor.advance(&pieces, 2);
        assert_eq!(cursor.unsent(&pieces), None);
    }
}
