//! Async connections of the harness: a glommio TCP stream split into a
//! buffered reader and a writer, and bounded frame reads.

use futures_lite::io::{split, AsyncReadExt, BufReader, ReadHalf, WriteHalf};
use glommio::net::TcpStream;

/// Largest answer frame accepted; a larger size prefix means a broken peer.
pub const FRAME_MAX_BYTES: usize = 256 * 1024 * 1024;
/// Read buffer per connection: several small answers per read call.
const READ_BUFFER_BYTES: usize = 256 * 1024;

/// The reading half of a connection.
pub type BenchReader = BufReader<ReadHalf<TcpStream>>;
/// The writing half of a connection.
pub type BenchWriter = WriteHalf<TcpStream>;

/// Connects to `address` with Nagle off (requests go out whole, at once).
pub async fn connect(address: &str) -> Result<(BenchWriter, BenchReader), String> {
    let stream = TcpStream::connect(address)
        .await
        .map_err(|e| format!("cannot connect to {address}: {e}"))?;
    stream
        .set_nodelay(true)
        .map_err(|e| format!("set_nodelay on {address}: {e}"))?;
    let (reader, writer) = split(stream);
    Ok((writer, BufReader::with_capacity(READ_BUFFER_BYTES, reader)))
}

/// Reads one size-prefixed frame into `body` (resized, its allocation reused).
pub async fn read_frame(
    reader: &mut BenchReader,
    body: &mut Vec<u8>,
    max_bytes: usize,
) -> Result<(), String> {
    let mut size = [0u8; 4];
    reader
        .read_exact(&mut size)
        .await
        .map_err(|e| format!("read: {e}"))?;
    let size = i32::from_be_bytes(size);
    if size < 4 || size as usize > max_bytes {
        return Err(format!("answer frame of {size} bytes (limit {max_bytes})"));
    }
    body.resize(size as usize, 0);
    reader
        .read_exact(body)
        .await
        .map_err(|e| format!("read: {e}"))
}
