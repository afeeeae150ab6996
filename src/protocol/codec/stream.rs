//! Streaming decompression of the payloads the broker sometimes has to open
//! (old message sets for old clients, a batch searched by timestamp): gzip,
//! snappy (raw or snappy-java's xerial framing, as Kafka's clients write
//! it), lz4 frames and zstd. Every decoder holds a bounded amount of memory
//! whatever the data claims (zstd windows, snappy blocks); callers bound how
//! much they read from it, as [`read_bounded`] does.

use std::fmt;
use std::io::{self, Read};

use super::{Codec, DECOMPRESSED_BYTES_MAX, SNAPPY_XERIAL_HEADER, ZSTD_WINDOW_LOG_MAX};

/// The magic that opens snappy-java's framing (its version words follow).
const XERIAL_MAGIC_BYTES: usize = 8;
/// Magic, version and compatible version: where the first chunk starts.
const XERIAL_PREAMBLE_BYTES: usize = SNAPPY_XERIAL_HEADER.len();

/// Why a payload cannot be decompressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodecError {
    /// The payload does not decode.
    Corrupt(String),
    /// It inflates past the bound it was read with.
    TooLarge,
}

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CodecError::Corrupt(what) => write!(f, "corrupt compressed data: {what}"),
            CodecError::TooLarge => write!(f, "decompressed data too large"),
        }
    }
}

impl std::error::Error for CodecError {}

fn corrupt(error: impl fmt::Display) -> CodecError {
    CodecError::Corrupt(error.to_string())
}

/// A reader of `data` decompressed with `codec` ([`Codec::None`] reads the
/// bytes as they are).
pub fn decoder<'a>(codec: Codec, data: &'a [u8]) -> Result<Box<dyn Read + 'a>, CodecError> {
    match codec {
        Codec::None => Ok(Box::new(data)),
        Codec::Gzip => Ok(Box::new(flate2::read::GzDecoder::new(data))),
        Codec::Snappy => Ok(Box::new(SnappyReader::new(data))),
        Codec::Lz4 => Ok(Box::new(lz4::Decoder::new(data).map_err(corrupt)?)),
        Codec::Zstd => {
            let mut zstd = zstd::stream::read::Decoder::with_buffer(data).map_err(corrupt)?;
            zstd.window_log_max(ZSTD_WINDOW_LOG_MAX).map_err(corrupt)?;
            Ok(Box::new(zstd))
        }
    }
}

/// All of `data` decompressed, refused past `max_bytes`.
pub fn read_bounded(codec: Codec, data: &[u8], max_bytes: usize) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::new();
    decoder(codec, data)?
        .take(max_bytes as u64 + 1)
        .read_to_end(&mut out)
        .map_err(corrupt)?;
    if out.len() > max_bytes {
        return Err(CodecError::TooLarge);
    }
    Ok(out)
}

/// Snappy, raw (one block) or in xerial framing (chunks of an i32 length
/// and a raw block), one block in memory at a time.
struct SnappyReader<'a> {
    /// Compressed blocks not yet opened.
    rest: &'a [u8],
    xerial: bool,
    block: Vec<u8>,
    block_position: usize,
}

impl<'a> SnappyReader<'a> {
    fn new(data: &'a [u8]) -> Self {
        let xerial = data.starts_with(&SNAPPY_XERIAL_HEADER[..XERIAL_MAGIC_BYTES])
            && data.len() >= XERIAL_PREAMBLE_BYTES;
        SnappyReader {
            rest: if xerial {
                &data[XERIAL_PREAMBLE_BYTES..]
            } else {
                data
            },
            xerial,
            block: Vec::new(),
            block_position: 0,
        }
    }

    /// The next compressed block, taken off `rest`.
    fn next_block(&mut self) -> io::Result<&'a [u8]> {
        if !self.xerial {
            return Ok(std::mem::take(&mut self.rest));
        }
        let invalid = |what| io::Error::new(io::ErrorKind::InvalidData, what);
        let (length, rest) = self
            .rest
            .split_first_chunk::<4>()
            .ok_or_else(|| invalid("truncated snappy chunk length"))?;
        let length = usize::try_from(i32::from_be_bytes(*length))
            .map_err(|_| invalid("negative snappy chunk length"))?;
        if length > rest.len() {
            return Err(invalid("snappy chunk past the data"));
        }
        let (block, rest) = rest.split_at(length);
        self.rest = rest;
        Ok(block)
    }
}

impl Read for SnappyReader<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.block_position == self.block.len() {
            if self.rest.is_empty() {
                return Ok(0);
            }
            let block = self.next_block()?;
            let invalid = |e: snap::Error| io::Error::new(io::ErrorKind::InvalidData, e);
            if snap::raw::decompress_len(block).map_err(invalid)? > DECOMPRESSED_BYTES_MAX {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    CodecError::TooLarge,
                ));
            }
            self.block = snap::raw::Decoder::new()
                .decompress_vec(block)
                .map_err(invalid)?;
            self.block_position = 0;
        }
        let n = out.len().min(self.block.len() - self.block_position);
        out[..n].copy_from_slice(&self.block[self.block_position..self.block_position + n]);
        self.block_position += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn payload() -> Vec<u8> {
        (0..200_000u32)
            .flat_map(|i| (i % 251).to_be_bytes())
            .collect()
    }

    fn compressed(codec: Codec, data: &[u8]) -> Vec<u8> {
        match codec {
            Codec::Gzip => {
                let mut encoder =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                encoder.write_all(data).unwrap();
                encoder.finish().unwrap()
            }
            Codec::Snappy => {
                let mut out = SNAPPY_XERIAL_HEADER.to_vec();
                for chunk in data.chunks(32 << 10) {
                    let block = snap::raw::Encoder::new().compress_vec(chunk).unwrap();
                    out.extend_from_slice(&(block.len() as i32).to_be_bytes());
                    out.extend_from_slice(&block);
                }
                out
            }
            Codec::Lz4 => {
                let mut encoder = lz4::EncoderBuilder::new().build(Vec::new()).unwrap();
                encoder.write_all(data).unwrap();
                encoder.finish().0
            }
            _ => zstd::encode_all(data, 3).unwrap(),
        }
    }

    #[test]
    fn every_codec_round_trips_within_its_bound() {
        let data = payload();
        for codec in [Codec::Gzip, Codec::Snappy, Codec::Lz4, Codec::Zstd] {
            let packed = compressed(codec, &data);
            assert_eq!(read_bounded(codec, &packed, data.len()).unwrap(), data);
            assert_eq!(
                read_bounded(codec, &packed, data.len() - 1),
                Err(CodecError::TooLarge),
                "codec {codec:?}"
            );
        }
        let raw_snappy = snap::raw::Encoder::new().compress_vec(&data).unwrap();
        assert_eq!(
            read_bounded(Codec::Snappy, &raw_snappy, 1 << 30).unwrap(),
            data
        );
        assert_eq!(read_bounded(Codec::None, &data, data.len()).unwrap(), data);
        assert!(read_bounded(Codec::Gzip, b"not gzip", 10).is_err());
    }

    #[test]
    fn zstd_windows_past_the_bound_are_refused() {
        let big_window = zstd::bulk::Compressor::new(3)
            .and_then(|mut c| {
                c.set_parameter(zstd::stream::raw::CParameter::WindowLog(
                    ZSTD_WINDOW_LOG_MAX + 2,
                ))?;
                c.compress(&vec![7u8; 100 << 20])
            })
            .unwrap();
        assert!(read_bounded(Codec::Zstd, &big_window, 200 << 20).is_err());
    }
}
