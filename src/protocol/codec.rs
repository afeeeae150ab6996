//! Record-batch compression: the records section of a batch compressed with
//! gzip, snappy (xerial framing), lz4 (frame format) or zstd, byte-compatible
//! with what Kafka's clients write, and the reverse. The broker recompresses
//! with it when a topic's `compression.type` differs from the producer's
//! codec; `millrace bench` compresses and reads payloads with it.
//!
//! The codec crates are the ones kafka-protocol uses, called directly: its
//! compressors allocate fresh buffers and contexts per batch, while these
//! keep their state and output buffer per producer or consumer, so the hot
//! loop does not allocate once buffers have grown to the batch size.
//! Decompression is bounded: a small batch that claims or inflates to more
//! than the decompressor's limit is an error, not an allocation.
//!
//! The API, whole-buffer and allocation-free once warm:
//! - [`Codec`]: the codec of a batch's attributes ([`Codec::from_attribute`],
//!   [`Codec::attribute`]) or of a `compression.type` name ([`Codec::parse`]).
//! - [`Compressor`]: one per writer, for one codec at Kafka's default level
//!   ([`Compressor::new`]) or a `compression.*.level` ([`Compressor::with_level`]);
//!   [`Compressor::compress`] replaces a caller's buffer with the output.
//! - [`Decompressor`]: one per reader, every codec, output bounded by
//!   [`Decompressor::with_limit`]; [`Decompressor::decompress`] returns a
//!   borrow of its reused buffer. Errors are messages for the log or the
//!   client (the caller picks the wire code: CORRUPT_MESSAGE, INVALID_RECORD).
//!
//! A reader that must not hold a whole batch in memory (a search through
//! records) wants a streaming decoder instead; it belongs beside these,
//! sharing the framing constants below, not in a second codec module.

use flate2::{Compress, Crc, Decompress, FlushCompress, FlushDecompress, Status};

/// Kafka's gzip level (Java's `Deflater` default, `compression.gzip.level` -1).
const GZIP_LEVEL: u32 = 6;
/// gzip levels `compression.gzip.level` accepts besides -1 (the default).
const GZIP_LEVELS: std::ops::RangeInclusive<i32> = 1..=9;
/// Kafka's default zstd level.
const ZSTD_LEVEL: i32 = 3;
/// Kafka's default `compression.lz4.level`: the fast compressor; any other
/// level selects LZ4 HC at that level, as Kafka's lz4 stream does.
const LZ4_DEFAULT_LEVEL: i32 = 9;
/// gzip member header: magic, deflate, no flags, no mtime, no extra flags, OS unknown.
const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
/// gzip header flag bits that add optional fields.
const GZIP_FHCRC: u8 = 0x02;
const GZIP_FEXTRA: u8 = 0x04;
const GZIP_FNAME: u8 = 0x08;
const GZIP_FCOMMENT: u8 = 0x10;
/// Magic header of snappy-java's framing, which Kafka writes and expects.
const SNAPPY_XERIAL_HEADER: &[u8; 16] = b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01";
/// snappy-java's block size: Kafka clients compress in 32 KiB blocks.
const SNAPPY_BLOCK_BYTES: usize = 32 * 1024;
/// LZ4 frame magic number (little endian on the wire).
const LZ4_MAGIC: u32 = 0x184D_2204;
/// Frame descriptor written: version 01, independent blocks, no checksums,
/// 64 KiB blocks; the last byte is the descriptor checksum
/// (`xxh32(FLG, BD) >> 8`), constant for these two bytes.
const LZ4_DESCRIPTOR: [u8; 3] = [0x60, 0x40, 0x82];
/// Block size of the frames written (the BD byte above).
const LZ4_BLOCK_BYTES: usize = 64 * 1024;
/// High bit of an LZ4 block size: the block is stored uncompressed.
const LZ4_UNCOMPRESSED_BIT: u32 = 0x8000_0000;
/// Largest decompressed batch the bench's consumer accepts: a bigger claim is
/// a corrupt frame.
const DECOMPRESSED_MAX_BYTES: usize = 256 * 1024 * 1024;

/// A record batch compression codec, as the batch attributes name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// No compression.
    None,
    /// gzip (attribute 1).
    Gzip,
    /// snappy in snappy-java framing (attribute 2).
    Snappy,
    /// LZ4 frame format (attribute 3).
    Lz4,
    /// zstd (attribute 4).
    Zstd,
}

impl Codec {
    /// Parses a `compression` value as Kafka's `compression.type` names it.
    pub fn parse(name: &str) -> Option<Codec> {
        match name.to_ascii_lowercase().as_str() {
            "none" => Some(Codec::None),
            "gzip" => Some(Codec::Gzip),
            "snappy" => Some(Codec::Snappy),
            "lz4" => Some(Codec::Lz4),
            "zstd" => Some(Codec::Zstd),
            _ => None,
        }
    }

    /// The codec bits of a batch's attributes.
    pub fn attribute(self) -> i16 {
        match self {
            Codec::None => 0,
            Codec::Gzip => 1,
            Codec::Snappy => 2,
            Codec::Lz4 => 3,
            Codec::Zstd => 4,
        }
    }

    /// The codec named by a batch's attribute bits (`attributes & 7`).
    pub fn from_attribute(bits: i16) -> Option<Codec> {
        match bits {
            0 => Some(Codec::None),
            1 => Some(Codec::Gzip),
            2 => Some(Codec::Snappy),
            3 => Some(Codec::Lz4),
            4 => Some(Codec::Zstd),
            _ => None,
        }
    }
}

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
            let decoder =
                zstd::stream::read::Decoder::new(src).map_err(|e| format!("zstd: {e}"))?;
            let bound = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
            std::io::Read::read_to_end(&mut std::io::Read::take(decoder, bound), out)
                .map_err(|e| format!("zstd: {e}"))?;
            Ok(())
        }
        Err(e) => Err(format!("zstd: bad frame header ({e:?})")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Codec; 5] = [
        Codec::None,
        Codec::Gzip,
        Codec::Snappy,
        Codec::Lz4,
        Codec::Zstd,
    ];

    fn sample(len: usize) -> Vec<u8> {
        (0..len)
            .map(|i| (i % 251) as u8 ^ (i / 977) as u8)
            .collect()
    }

    #[test]
    fn every_codec_round_trips_small_large_and_empty_input() {
        let mut decompressor = Decompressor::new().unwrap();
        for codec in ALL {
            let mut compressor = Compressor::new(codec).unwrap();
            let mut out = Vec::new();
            for len in [0, 1, 100, 200_000, 300_000] {
                // The last one is all zeros: it inflates far beyond any first guess.
                let src = if len == 300_000 {
                    vec![0; len]
                } else {
                    sample(len)
                };
                compressor.compress(&src, &mut out).unwrap();
                let back = decompressor.decompress(codec, &out).unwrap();
                assert_eq!(back, &src[..], "{codec:?} at {len} bytes");
            }
        }
    }

    #[test]
    fn kafka_protocol_decompressors_read_what_this_writes() {
        use kafka_protocol::compression::{Decompressor as _, Gzip, Lz4, Snappy, Zstd};
        let src = sample(150_000);
        let mut out = Vec::new();
        for codec in [Codec::Gzip, Codec::Snappy, Codec::Lz4, Codec::Zstd] {
            Compressor::new(codec)
                .unwrap()
                .compress(&src, &mut out)
                .unwrap();
            let mut wire = bytes::Bytes::from(out.clone());
            let back = match codec {
                Codec::Gzip => Gzip::decompress(&mut wire, |b| Ok(b.clone())),
                Codec::Snappy => Snappy::decompress(&mut wire, |b| Ok(b.clone())),
                Codec::Lz4 => Lz4::decompress(&mut wire, |b| Ok(b.clone())),
                _ => Zstd::decompress(&mut wire, |b| Ok(b.clone())),
            };
            assert_eq!(&back.unwrap()[..], &src[..], "{codec:?}");
        }
    }

    #[test]
    fn output_past_the_limit_is_an_error_for_every_codec() {
        let zeros = vec![0u8; 1 << 20];
        let mut out = Vec::new();
        for codec in ALL {
            let mut decompressor = Decompressor::with_limit(64 * 1024).unwrap();
            Compressor::new(codec)
                .unwrap()
                .compress(&zeros, &mut out)
                .unwrap();
            let err = decompressor.decompress(codec, &out).unwrap_err();
            assert!(
                err.contains("too large") || err.contains("claims"),
                "{codec:?}: {err}"
            );
            let mut roomy = Decompressor::with_limit(zeros.len()).unwrap();
            assert_eq!(roomy.decompress(codec, &out).unwrap().len(), zeros.len());
        }
        // A zstd frame that does not state its size (a streamed one) is bounded too.
        let streamed = {
            let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
            std::io::Write::write_all(&mut encoder, &zeros).unwrap();
            encoder.finish().unwrap()
        };
        assert!(matches!(
            zstd::zstd_safe::get_frame_content_size(&streamed),
            Ok(None)
        ));
        let mut small = Decompressor::with_limit(64 * 1024).unwrap();
        assert!(small.decompress(Codec::Zstd, &streamed).is_err());
    }

    #[test]
    fn levels_change_the_output_not_the_content() {
        let src = sample(200_000);
        let mut decompressor = Decompressor::new().unwrap();
        for (codec, levels) in [
            (Codec::Gzip, [1, 9]),
            (Codec::Lz4, [1, 17]),
            (Codec::Zstd, [-5, 19]),
        ] {
            let mut sizes = Vec::new();
            for level in levels {
                let mut out = Vec::new();
                let mut compressor = Compressor::with_level(codec, Some(level)).unwrap();
                compressor.compress(&src, &mut out).unwrap();
                assert_eq!(decompressor.decompress(codec, &out).unwrap(), &src[..]);
                sizes.push(out.len());
            }
            assert!(
                sizes[1] < sizes[0],
                "{codec:?} levels {levels:?}: sizes {sizes:?}"
            );
        }
    }

    #[test]
    fn corrupt_input_is_an_error_not_a_panic() {
        let mut decompressor = Decompressor::new().unwrap();
        let mut out = Vec::new();
        for codec in [Codec::Gzip, Codec::Snappy, Codec::Lz4, Codec::Zstd] {
            Compressor::new(codec)
                .unwrap()
                .compress(&sample(5000), &mut out)
                .unwrap();
            for cut in [0, 3, out.len() / 2] {
                assert!(
                    decompressor.decompress(codec, &out[..cut]).is_err(),
                    "{codec:?} cut at {cut}"
                );
            }
        }
        assert_eq!(Codec::from_attribute(5), None);
        assert_eq!(Codec::parse("LZ4"), Some(Codec::Lz4));
    }
}
