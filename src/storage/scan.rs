//! Walking batch headers of a segment file with aligned O_DIRECT reads
//! (never a blocking read on the reactor).

use super::error::StorageError;
use super::segment::{align_down, SegmentReader};
use crate::protocol::record_batch::{peek_batch_header, BatchInfo, RECORD_BATCH_HEADER_BYTES};

/// A window of a segment file read through O_DIRECT.
pub struct ScanWindow {
    start: u64,
    data: glommio::io::ReadResult,
    read_bytes: usize,
}

impl ScanWindow {
    /// An empty window that reads `read_bytes` at a time.
    pub fn new(read_bytes: usize) -> Self {
        ScanWindow {
            start: 0,
            data: Default::default(),
            read_bytes,
        }
    }

    /// Bytes `[position, min(position + need, limit))`, reading if the window
    /// does not hold them. Fewer bytes only if the file is shorter.
    pub async fn bytes(
        &mut self,
        reader: &SegmentReader,
        position: u64,
        need: u64,
        limit: u64,
    ) -> Result<&[u8], StorageError> {
        let want_end = (position + need).min(limit);
        let have_end = self.start + self.data.len() as u64;
        if position < self.start || want_end > have_end {
            let read_start = align_down(position);
            let read_len = (self.read_bytes as u64)
                .max(want_end - read_start)
                .min(limit - read_start);
            self.data = reader.read_at(read_start, read_len as usize).await?;
            self.start = read_start;
        }
        let from = ((position - self.start) as usize).min(self.data.len());
        let to = ((want_end.max(position) - self.start) as usize).min(self.data.len());
        Ok(&self.data[from..to])
    }
}

/// The first batch at or after `start_position` (a batch start) for which
/// `is_target` holds, reading headers only, below `limit`. `None` if none.
pub async fn find_batch(
    reader: &SegmentReader,
    start_position: u64,
    limit: u64,
    read_bytes: usize,
    mut is_target: impl FnMut(&BatchInfo) -> bool,
) -> Result<Option<(u64, BatchInfo)>, StorageError> {
    let mut window = ScanWindow::new(read_bytes);
    let mut position = start_position;
    while position < limit {
        let bytes = window
            .bytes(reader, position, RECORD_BATCH_HEADER_BYTES as u64, limit)
            .await?;
        let info = match peek_batch_header(bytes) {
            Ok(Some(info)) => info,
            Ok(None) => return Ok(None),
            Err(error) => {
                return Err(StorageError::Corrupt {
                    path: reader.log_path.to_path_buf(),
                    reason: format!("{error} at position {position}"),
                })
            }
        };
        if position + info.len as u64 > limit {
            return Ok(None);
        }
        if is_target(&info) {
            return Ok(Some((position, info)));
        }
        position += info.len as u64;
    }
    Ok(None)
}
