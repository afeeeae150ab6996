//! Whole-buffer decompression of records sections into a reused buffer,
//! bounded in output.

use super::{
    Codec, DECOMPRESSED_MAX_BYTES, GZIP_FCOMMENT, GZIP_FEXTRA, GZIP_FHCRC, GZIP_FNAME, GZIP_HEADER,
    LZ4_BLOCK_BYTES, LZ4_MAGIC, LZ4_UNCOMPRESSED_BIT, SNAPPY_XERIAL_HEADER, ZSTD_WINDOW_LOG_MAX,
};
use flate2::{Crc, Decompress, FlushDecompress, Status};

/// Decompresses records sections of any codec into a reused buffer.
pub struct Decompressor {
    gzip: Decompress,
    snappy: snap::raw::Decoder,
    zstd: zstd::bulk::Decompressor<'static>,
    out: Vec<u8>,
    /// Largest output accepted.
    limit_bytes: usize,
}

impl std::fmt::Debug for Decompressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Decompressor({} bytes buffered)", self.out.capacity())
    }
}

impl Decompressor {
    /// A decompressor for every codec, bounded at 256 MiB of output.
    pub fn new() -> Result<Self, String> {
        Decompressor::with_limit(DECOMPRESSED_MAX_BYTES)
    }

    /// A decompressor whose output may not pass `limit_bytes`.
    pub fn with_limit(limit_bytes: usize) -> Result<Self, String> {
        Ok(Decompressor {
            gzip: Decompress::new(false),
            snappy: snap::raw::Decoder::new(),
            zstd: zstd::bulk::Decompressor::new().map_err(|e| format!("zstd: {e}"))?,
            out: Vec::new(),
            limit_bytes,
        })
    }

    /// `src` decompressed with `codec`; valid until the next call.
    pub fn decompress(&mut self, codec: Codec, src: &[u8]) -> Result<&[u8], String> {
        self.out.clear();
        let limit = self.limit_bytes;
        match codec {
            Codec::None if src.len() > limit => return Err(too_large("none")),
            Codec::None => self.out.extend_from_slice(src),
            Codec::Gzip => gzip_decompress(&mut self.gzip, src, limit, &mut self.out)?,
            Codec::Snappy => snappy_decompress(&mut self.snappy, src, limit, &mut self.out)?,
            Codec::Lz4 => lz4_decompress(src, limit, &mut self.out)?,
            Codec::Zstd => zstd_decompress(&mut self.zstd, src, limit, &mut self.out)?,
        }
        if self.out.len() > limit {
            return Err(too_large(&format!("{codec:?}")));
        }
        Ok(&self.out)
    }
}

fn too_large(codec: &str) -> String {
    format!("{codec}: decompressed batch too large")
}

/// Bytes of a gzip header, which may carry optional fields (RFC 1952).
fn gzip_header_len(src: &[u8]) -> Result<usize, String> {
    let truncated = || "gzip: truncated header".to_string();
    if src.len() < GZIP_HEADER.len() || src[0..3] != GZIP_HEADER[0..3] {
        return Err("gzip: bad magic".to_string());
    }
    let flags = src[3];
    let mut pos = GZIP_HEADER.len();
    if flags & GZIP_FEXTRA != 0 {
        let len = src.get(pos..pos + 2).ok_or_else(truncated)?;
        pos += 2 + usize::from(u16::from_le_bytes([len[0], len[1]]));
    }
    for flag in [GZIP_FNAME, GZIP_FCOMMENT] {
        if flags & flag != 0 {
            let rest = src.get(pos..).ok_or_else(truncated)?;
            pos += rest.iter().position(|b| *b == 0).ok_or_else(truncated)? + 1;
        }
    }
    if flags & GZIP_FHCRC != 0 {
        pos += 2;
    }
    Ok(pos)
}

fn gzip_decompress(
    inflate: &mut Decompress,
    src: &[u8],
    limit: usize,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    let start = gzip_header_len(src)?;
    let body = src.get(start..).ok_or("gzip: truncated header")?;
    inflate.reset(false);
    out.reserve((body.len() * 4).min(limit));
    loop {
        let consumed = inflate.total_in() as usize;
        let before = (consumed, out.len());
        let status = inflate
            // Not `Finish`: miniz treats that as "all output fits in one call"
            // and fails the stream when the buffer must grow.
            .decompress_vec(&body[consumed..], out, FlushDecompress::None)
            .map_err(|e| format!("gzip: {e}"))?;
        if status == Status::StreamEnd {
            break;
        }
        if out.len() >= limit {
            return Err(too_large("gzip"));
        }
        if (inflate.total_in() as usize, out.len()) == before && out.len() < out.capacity() {
            return Err("gzip: truncated stream".to_string());
        }
        out.reserve(out.capacity().clamp(64, limit.max(64)));
    }
    let trailer = &body[inflate.total_in() as usize..];
    let mut crc = Crc::new();
    crc.update(out);
    match trailer.get(0..4) {
        Some(sum) if sum == crc.sum().to_le_bytes() => Ok(()),
        _ => Err("gzip: CRC mismatch or missing trailer".to_string()),
    }
}

fn snappy_decompress(
    decoder: &mut snap::raw::Decoder,
    src: &[u8],
    limit: usize,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    let Some(mut rest) = src.strip_prefix(&SNAPPY_XERIAL_HEADER[..]) else {
        // Without snappy-java's header the whole section is one raw block.
        return snappy_block(decoder, src, limit, out);
    };
    while !rest.is_empty() {
        let (len, tail) = rest.split_at_checked(4).ok_or("snappy: truncated block")?;
        let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
        let (block, tail) = tail
            .split_at_checked(len)
            .ok_or("snappy: truncated block")?;
        snappy_block(decoder, block, limit, out)?;
        rest = tail;
    }
    Ok(())
}

fn snappy_block(
    decoder: &mut snap::raw::Decoder,
    block: &[u8],
    limit: usize,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    let len = snap::raw::decompress_len(block).map_err(|e| format!("snappy: {e}"))?;
    let at = out.len();
    if at + len > limit {
        return Err(too_large("snappy"));
    }
    out.resize(at + len, 0);
    decoder
        .decompress(block, &mut out[at..])
        .map_err(|e| format!("snappy: {e}"))?;
    Ok(())
}

fn lz4_decompress(src: &[u8], limit: usize, out: &mut Vec<u8>) -> Result<(), String> {
    let truncated = || "lz4: truncated frame".to_string();
    let header = src.get(0..6).ok_or_else(truncated)?;
    if header[0..4] != LZ4_MAGIC.to_le_bytes() {
        return Err("lz4: bad frame magic".to_string());
    }
    let (flags, block_id) = (header[4], (header[5] >> 4) & 0x7);
    if flags & 0x20 == 0 {
        return Err("lz4: linked blocks are not supported".to_string());
    }
    let block_max = match block_id {
        4..=7 => LZ4_BLOCK_BYTES << (2 * (block_id - 4)),
        _ => return Err(format!("lz4: block size id {block_id}")),
    };
    // Optional content size (8 bytes) and dictionary id (4), then the header checksum.
    let mut pos = 6 + if flags & 0x08 != 0 { 8 } else { 0 } + if flags & 0x01 != 0 { 4 } else { 0 };
    pos += 1;
    let block_checksum = if flags & 0x10 != 0 { 4 } else { 0 };
    loop {
        let size = src.get(pos..pos + 4).ok_or_else(truncated)?;
        let size = u32::from_le_bytes([size[0], size[1], size[2], size[3]]);
        pos += 4;
        if size == 0 {
            return Ok(()); // end mark; a content checksum may follow
        }
        let len = (size & !LZ4_UNCOMPRESSED_BIT) as usize;
        let block = src.get(pos..pos + len).ok_or_else(truncated)?;
        pos += len + block_checksum;
        let at = out.len();
        if at + len.min(block_max) > limit {
            return Err(too_large("lz4"));
        }
        if size & LZ4_UNCOMPRESSED_BIT != 0 {
            out.extend_from_slice(block);
            continue;
        }
        // A block inflates to at most block_max; near the limit, to the room left.
        let room = (limit - at).min(block_max);
        out.resize(at + room, 0);
        let written = lz4::block::decompress_to_buffer(block, Some(room as i32), &mut out[at..])
            .map_err(|e| match room < block_max {
                true => too_large("lz4"),
                false => format!("lz4: {e}"),
            })?;
        out.truncate(at + written);
    }
}

fn zstd_decompress(
    zstd: &mut zstd::bulk::Decompressor<'static>,
    src: &[u8],
    limit: usize,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    match zstd::zstd_safe::get_frame_content_size(src) {
        Ok(Some(size)) if size as usize <= limit => {
            out.reserve(size as usize);
            zstd.decompress_to_buffer(src, out)
                .map_err(|e| format!("zstd: {e}"))?;
            Ok(())
        }
        Ok(Some(size)) => Err(format!("zstd: frame claims {size} bytes")),
        // A streamed frame does not state its size: decode it as a stream,
        // reading at most one byte past the limit to tell that it is over.
        Ok(None) => {
            let mut decoder =
                zstd::stream::read::Decoder::new(src).map_err(|e| format!("zstd: {e}"))?;
            decoder
                .window_log_max(ZSTD_WINDOW_LOG_MAX)
                .map_err(|e| format!("zstd: {e}"))?;
            let bound = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
            std::io::Read::read_to_end(&mut std::io::Read::take(decoder, bound), out)
                .map_err(|e| format!("zstd: {e}"))?;
            Ok(())
        }
        Err(e) => Err(format!("zstd: bad frame header ({e:?})")),
    }
}
