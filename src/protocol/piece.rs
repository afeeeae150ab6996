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
    /// Record batches still on disk, read and sent by a client helper (`server::send`).
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

/// Cuts `pieces` to their first `len` bytes without copying: a file region
/// is shortened, memory is sliced, the pieces past `len` are dropped. A cut
/// may end inside a record batch, as Kafka's reads do; clients drop the
/// partial batch.
pub fn truncate_pieces(pieces: &mut Vec<Piece>, len: usize) {
    let mut kept = 0;
    let mut keep_pieces = 0;
    for piece in pieces.iter_mut() {
        let left = len - kept;
        if left == 0 {
            break;
        }
        if piece.len() > left {
            match piece {
                Piece::Mem(bytes) => bytes.truncate(left),
                // `left` < the region's u32 length, so it fits.
                Piece::File(region) => region.len = left as u32,
            }
        }
        kept += piece.len();
        keep_pieces += 1;
    }
    pieces.truncate(keep_pieces);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region(len: u32) -> Piece {
        let file = Arc::new(File::open("/dev/null").unwrap());
        Piece::File(FileRegion {
            file,
            position: 100,
            len,
        })
    }

    #[test]
    fn truncation_shortens_the_piece_at_the_cut_and_drops_the_rest() {
        let mut pieces = vec![
            Piece::Mem(Bytes::from_static(b"header")),
            Piece::Mem(Bytes::from_static(b"body-body")),
            region(50),
        ];
        truncate_pieces(&mut pieces, 10);
        assert_eq!(pieces.len(), 2);
        assert_eq!(pieces_len(&pieces), 10);
        assert!(matches!(&pieces[1], Piece::Mem(bytes) if &bytes[..] == b"body"));

        let mut pieces = vec![Piece::Mem(Bytes::from_static(b"header")), region(50)];
        truncate_pieces(&mut pieces, 26);
        assert!(matches!(&pieces[1], Piece::File(r) if r.len == 20 && r.position == 100));

        truncate_pieces(&mut pieces, 0);
        assert!(pieces.is_empty());
        let mut pieces = vec![region(5)];
        truncate_pieces(&mut pieces, 1000);
        assert_eq!(pieces_len(&pieces), 5);
    }
}
