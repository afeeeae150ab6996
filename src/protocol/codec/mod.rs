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
//! - [`stream`]: a streaming decoder for a reader that must not hold a whole
//!   batch in memory (old message sets, a search through records by
//!   timestamp), each codec's memory bounded whatever the data claims.
//! - [`Codec::frame_magic_matches`]: what a payload shows of its codec
//!   without decompressing it (batch validation).
//!
//! One module per direction; the framing constants are shared here.

mod compress;
mod decompress;
pub mod stream;

pub use compress::Compressor;
pub use decompress::Decompressor;

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
pub(crate) const LZ4_MAGIC: u32 = 0x184D_2204;
/// Frame descriptor written: version 01, independent blocks, no checksums,
/// 64 KiB blocks; the last byte is the descriptor checksum
/// (`xxh32(FLG, BD) >> 8`), constant for these two bytes.
const LZ4_DESCRIPTOR: [u8; 3] = [0x60, 0x40, 0x82];
/// Block size of the frames written (the BD byte above).
const LZ4_BLOCK_BYTES: usize = 64 * 1024;
/// High bit of an LZ4 block size: the block is stored uncompressed.
const LZ4_UNCOMPRESSED_BIT: u32 = 0x8000_0000;
/// Largest decompressed batch a [`Decompressor::new`] accepts (the bench's
/// consumer): a bigger claim is a corrupt frame.
const DECOMPRESSED_MAX_BYTES: usize = 256 * 1024 * 1024;
/// Every gzip member starts with these bytes (RFC 1952).
pub(crate) const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
/// A zstd frame (magic 0xFD2FB528, little-endian)...
pub(crate) const ZSTD_FRAME_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];
/// ...or a skippable frame (0x184D2A50..=0x184D2A5F): the last three bytes.
const ZSTD_SKIPPABLE_MAGIC_TAIL: [u8; 3] = [0x2a, 0x4d, 0x18];
/// The high nibble of a skippable frame magic's first byte.
const ZSTD_SKIPPABLE_FIRST_HIGH: u8 = 0x50;
/// Largest zstd window accepted (2^24 = 16 MiB) when a frame is decoded as a
/// stream: a frame may declare up to 2 GiB, which the decoder would
/// allocate. Producers compress one batch at a time, with windows no larger
/// than the batch.
const ZSTD_WINDOW_LOG_MAX: u32 = 24;
/// Most bytes the broker inflates from one batch or message set, so a small
/// compressed payload cannot make it allocate or spin without limit.
pub const DECOMPRESSED_BYTES_MAX: usize = 64 << 20;

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

    /// The codec's `compression.type` name.
    pub fn name(self) -> &'static str {
        match self {
            Codec::None => "none",
            Codec::Gzip => "gzip",
            Codec::Snappy => "snappy",
            Codec::Lz4 => "lz4",
            Codec::Zstd => "zstd",
        }
    }

    /// Whether `payload` starts as this codec's reader requires (Kafka's
    /// LZ4 is the frame format; zstd may open with a skippable frame). Raw
    /// snappy and snappy-java's framing both exist, so snappy has no fixed
    /// prefix: any non-empty payload passes.
    pub fn frame_magic_matches(self, payload: &[u8]) -> bool {
        match self {
            Codec::None => true,
            Codec::Gzip => payload.starts_with(&GZIP_MAGIC),
            Codec::Lz4 => payload.starts_with(&LZ4_MAGIC.to_le_bytes()),
            Codec::Zstd => starts_zstd_frame(payload),
            Codec::Snappy => !payload.is_empty(),
        }
    }
}

fn starts_zstd_frame(payload: &[u8]) -> bool {
    payload.starts_with(&ZSTD_FRAME_MAGIC)
        || matches!(payload, [first, rest @ ..]
            if first & 0xf0 == ZSTD_SKIPPABLE_FIRST_HIGH && rest.starts_with(&ZSTD_SKIPPABLE_MAGIC_TAIL))
}

#[cfg(test)]
mod tests;
