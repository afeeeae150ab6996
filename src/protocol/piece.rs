//! The unit a fetch response is assembled from: bytes already in memory, or a
//! region of a segment file that goes to the socket without a user-space copy.
//!
//! Both variants are owned `Send` values so a shard can hand them to the shard
//! that owns the client connection.

use bytes::Bytes;
use std::fs::File;
use std::sync::Arc;

/// A byte range of a segment file, kept readable by its own file handle.
///
/// Holding an `Arc<File>` keeps the data readable even if retention unlinks
/// the segment while the response is being written.
#[derive(Clone, Debug)]
pub struct FileRegion {
    /// A buffered (not O_DIRECT) read handle of the segment's `.log` file.
    pub file: Arc<File>,
    /// Byte position of the region in the file.
    pub position: u64,
    /// Length of the region in bytes.
    pub len: u32,
}

/// One piece of a response: memory or a file region.
#[derive(Clone, Debug)]
pub enum Piece {
    /// Bytes in memory: encoded protocol fields, or record batches from the
    /// shard's recent-write buffers.
    Mem(Bytes),
    /// Record batches still on disk, sent with sendfile/splice.
    File(FileRegion),
}

impl Piece {
    /// Length of the piece in bytes.
    pub fn len(&self) -> usize {
        match self {
            Piece::Mem(bytes) => bytes.len(),
            Piece::File(region) => region.len as usize,
        }
    }

    /// True when the piece holds no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Total length of a list of pieces.
pub fn pieces_len(pieces: &[Piece]) -> usize {
    pieces.iter().map(Piece::len).sum()
}
