use super::decompress::*;
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

#[test]
fn streamed_zstd_frames_with_windows_past_the_bound_are_refused() {
    // A frame without a content size is decoded as a stream; its declared
    // window is what the decoder would allocate.
    let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
    encoder.include_contentsize(false).unwrap();
    encoder
        .set_parameter(zstd::stream::raw::CParameter::WindowLog(ZSTD_WINDOW_LOG_MAX + 2))
        .unwrap();
    std::io::Write::write_all(&mut encoder, &sample(1 << 20)).unwrap();
    let frame = encoder.finish().unwrap();
    let mut decompressor = Decompressor::with_limit(1 << 30).unwrap();
    assert!(decompressor.decompress(Codec::Zstd, &frame).is_err());
}
