//! Compression of records sections, one reused context per writer.

use super::{
    Codec, GZIP_HEADER, GZIP_LEVEL, GZIP_LEVELS, LZ4_BLOCK_BYTES, LZ4_DEFAULT_LEVEL,
    LZ4_DESCRIPTOR, LZ4_MAGIC, LZ4_UNCOMPRESSED_BIT, SNAPPY_BLOCK_BYTES, SNAPPY_XERIAL_HEADER,
    ZSTD_LEVEL,
};
use flate2::{Compress, Crc, FlushCompress, Status};

/// Compresses records sections with one codec, reusing its state.
pub struct Compressor {
    codec: Codec,
    gzip: Option<Compress>,
    snappy: snap::raw::Encoder,
    zstd: Option<zstd::bulk::Compressor<'static>>,
    /// LZ4 HC level; `None` = the fast compressor.
    lz4_high: Option<i32>,
}

impl std::fmt::Debug for Compressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Compressor({:?})", self.codec)
    }
}

impl Compressor {
    /// A compressor for `codec` at Kafka's default level (its context is
    /// created once, here).
    pub fn new(codec: Codec) -> Result<Self, String> {
        Compressor::with_level(codec, None)
    }

    /// A compressor for `codec` at `level` as Kafka's
    /// `compression.{gzip,lz4,zstd}.level` names it (`None`: the default;
    /// snappy has no level).
    pub fn with_level(codec: Codec, level: Option<i32>) -> Result<Self, String> {
        let gzip_level = match level {
            Some(level) if codec == Codec::Gzip && GZIP_LEVELS.contains(&level) => level as u32,
            _ => GZIP_LEVEL,
        };
        let gzip = (codec == Codec::Gzip)
            .then(|| Compress::new(flate2::Compression::new(gzip_level), false));
        let zstd = match codec {
            Codec::Zstd => Some(
                zstd::bulk::Compressor::new(level.unwrap_or(ZSTD_LEVEL))
                    .map_err(|e| format!("zstd compressor: {e}"))?,
            ),
            _ => None,
        };
        let lz4_high = level.filter(|level| codec == Codec::Lz4 && *level != LZ4_DEFAULT_LEVEL);
        Ok(Compressor {
            codec,
            gzip,
            snappy: snap::raw::Encoder::new(),
            zstd,
            lz4_high,
        })
    }

    /// The codec this compressor writes.
    pub fn codec(&self) -> Codec {
        self.codec
    }

    /// Replaces `out` with `src` compressed (for `Codec::None`, a copy).
    pub fn compress(&mut self, src: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
        out.clear();
        match self.codec {
            Codec::None => out.extend_from_slice(src),
            Codec::Gzip => {
                let deflate = self.gzip.as_mut().ok_or("gzip state missing")?;
                gzip_compress(deflate, src, out)?
            }
            Codec::Snappy => snappy_compress(&mut self.snappy, src, out)?,
            Codec::Lz4 => lz4_compress(src, self.lz4_high, out)?,
            Codec::Zstd => {
                let zstd = self.zstd.as_mut().ok_or("zstd state missing")?;
                out.reserve(zstd::zstd_safe::compress_bound(src.len()));
                zstd.compress_to_buffer(src, out)
                    .map_err(|e| format!("zstd: {e}"))?;
            }
        }
        Ok(())
    }
}

fn gzip_compress(deflate: &mut Compress, src: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
    deflate.reset();
    out.extend_from_slice(&GZIP_HEADER);
    // Deflate's worst case is a few bytes per 16 KiB block over the input.
    out.reserve(src.len() + src.len() / 1000 + 64);
    loop {
        let consumed = deflate.total_in() as usize;
        let status = deflate
            .compress_vec(&src[consumed..], out, FlushCompress::Finish)
            .map_err(|e| format!("gzip: {e}"))?;
        if status == Status::StreamEnd {
            break;
        }
        out.reserve(out.capacity().max(64)); // output full: grow and go on
    }
    let mut crc = Crc::new();
    crc.update(src);
    out.extend_from_slice(&crc.sum().to_le_bytes());
    out.extend_from_slice(&(src.len() as u32).to_le_bytes());
    Ok(())
}

fn snappy_compress(
    encoder: &mut snap::raw::Encoder,
    src: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), String> {
    out.extend_from_slice(SNAPPY_XERIAL_HEADER);
    for block in src.chunks(SNAPPY_BLOCK_BYTES) {
        let at = out.len();
        out.resize(at + 4 + snap::raw::max_compress_len(block.len()), 0);
        let written = encoder
            .compress(block, &mut out[at + 4..])
            .map_err(|e| format!("snappy: {e}"))?;
        out[at..at + 4].copy_from_slice(&(written as u32).to_be_bytes());
        out.truncate(at + 4 + written);
    }
    Ok(())
}

fn lz4_compress(src: &[u8], high: Option<i32>, out: &mut Vec<u8>) -> Result<(), String> {
    let mode = high.map(lz4::block::CompressionMode::HIGHCOMPRESSION);
    out.extend_from_slice(&LZ4_MAGIC.to_le_bytes());
    out.extend_from_slice(&LZ4_DESCRIPTOR);
    for block in src.chunks(LZ4_BLOCK_BYTES) {
        let at = out.len();
        let bound = lz4::block::compress_bound(block.len()).map_err(|e| format!("lz4: {e}"))?;
        out.resize(at + 4 + bound, 0);
        let written = lz4::block::compress_to_buffer(block, mode, false, &mut out[at + 4..])
            .map_err(|e| format!("lz4: {e}"))?;
        // Incompressible data is stored as is, as the frame format allows.
        let size = if written >= block.len() {
            out[at + 4..at + 4 + block.len()].copy_from_slice(block);
            out.truncate(at + 4 + block.len());
            block.len() as u32 | LZ4_UNCOMPRESSED_BIT
        } else {
            out.truncate(at + 4 + written);
            written as u32
        };
        out[at..at + 4].copy_from_slice(&size.to_le_bytes());
    }
    out.extend_from_slice(&0u32.to_le_bytes()); // end mark
    Ok(())
}
