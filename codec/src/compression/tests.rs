//! Round trips, limits and hostile input for [`compress`] and [`decompress`].

#![allow(clippy::unwrap_used)]

use alloc::vec;
use alloc::vec::Vec;

use bytes::BytesMut;
use quickcheck_macros::quickcheck;

use super::*;
use crate::Code;

/// The compressing encodings this build supports.
fn enabled() -> impl Iterator<Item = Encoding> {
    Encoding::ALL
        .into_iter()
        .filter(|e| *e != Encoding::Identity && e.is_supported())
}

fn compressed(encoding: Encoding, src: &[u8]) -> BytesMut {
    let mut out = BytesMut::new();
    compress(encoding, src, &mut out).unwrap();
    out
}

fn decompressed(encoding: Encoding, src: &[u8], max: usize) -> Result<Vec<u8>, CompressionError> {
    let mut out = BytesMut::new();
    decompress(encoding, src, &mut out, max).map(|()| out.to_vec())
}

/// Sample messages: empty, tiny, text, incompressible, long runs.
fn samples() -> Vec<Vec<u8>> {
    let mut noise = Vec::with_capacity(100_000);
    let mut x: u32 = 0x1234_5678;
    for _ in 0..100_000 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        noise.push(x.to_le_bytes()[0]);
    }
    vec![
        Vec::new(),
        b"a".to_vec(),
        b"the quick brown fox jumps over the lazy dog ".repeat(50),
        noise,
        vec![0u8; 300_000],
    ]
}

#[test]
fn round_trips_every_sample_with_every_encoding() {
    for encoding in Encoding::ALL.into_iter().filter(|e| e.is_supported()) {
        for sample in samples() {
            let wire = compressed(encoding, &sample);
            if encoding != Encoding::Identity && sample.len() > 1000 {
                // Only the noise sample may not shrink.
                assert!(wire.len() < sample.len() || sample.iter().any(|&b| b != sample[0]));
            }
            assert_eq!(
                decompressed(encoding, &wire, sample.len()).unwrap(),
                sample,
                "{encoding}"
            );
        }
    }
}

#[test]
fn output_of_exactly_the_limit_is_accepted_and_one_more_byte_is_not() {
    for encoding in Encoding::ALL.into_iter().filter(|e| e.is_supported()) {
        for len in [1usize, 255, 256, 257, 70_000] {
            let sample = vec![7u8; len];
            let wire = compressed(encoding, &sample);
            assert_eq!(
                decompressed(encoding, &wire, len).unwrap().len(),
                len,
                "{encoding} {len}"
            );
            let err = decompressed(encoding, &wire, len - 1).unwrap_err();
            assert_eq!(
                err,
                CompressionError::LimitExceeded {
                    encoding,
                    limit: len - 1
                },
                "{encoding} {len}"
            );
            assert_eq!(err.code(), Code::RESOURCE_EXHAUSTED);
        }
    }
}

#[test]
fn appends_to_dst_and_restores_it_on_error() {
    for encoding in Encoding::ALL.into_iter().filter(|e| e.is_supported()) {
        let wire = compressed(encoding, b"payload");
        let mut dst = BytesMut::from(&b"prefix:"[..]);
        decompress(encoding, &wire, &mut dst, 7).unwrap();
        assert_eq!(&dst[..], b"prefix:payload");

        let mut dst = BytesMut::from(&b"prefix:"[..]);
        assert!(decompress(encoding, &wire, &mut dst, 6).is_err());
        assert_eq!(&dst[..], b"prefix:", "{encoding}");

        let mut dst = BytesMut::from(&b"prefix:"[..]);
        compress(encoding, b"payload", &mut dst).unwrap();
        assert_eq!(&dst[..7], b"prefix:");
        assert_eq!(&dst[7..], &wire[..]);
    }
}

#[test]
fn corrupt_truncated_empty_and_trailing_input_is_internal() {
    for encoding in enabled() {
        let sample = b"the quick brown fox jumps over the lazy dog ".repeat(20);
        let wire = compressed(encoding, &sample);
        let mut cases: Vec<(&str, Vec<u8>)> = vec![
            ("empty", Vec::new()),
            ("garbage", b"this is not compressed at all".to_vec()),
            ("truncated by one", wire[..wire.len() - 1].to_vec()),
            ("truncated to half", wire[..wire.len() / 2].to_vec()),
            ("header only", wire[..4].to_vec()),
            ("trailing byte", [&wire[..], b"x"].concat()),
            ("trailing garbage", [&wire[..], b"garbage garbage"].concat()),
        ];
        // gzip and zlib carry a checksum; zstd frames have none by default,
        // so a flipped literal byte there can decode to other bytes.
        if encoding != Encoding::Zstd {
            let mut flipped = wire.to_vec();
            let middle = flipped.len() / 2;
            flipped[middle] ^= 0x55;
            cases.push(("flipped byte", flipped));
        }
        for (what, input) in cases {
            let err = decompressed(encoding, &input, 1 << 20)
                .expect_err(&alloc::format!("{encoding}: {what} decoded"));
            assert!(
                matches!(err, CompressionError::Corrupt { .. }),
                "{encoding}: {what}: {err:?}"
            );
            assert_eq!(err.code(), Code::INTERNAL);
        }
    }
}

#[test]
fn multi_member_gzip_and_multi_frame_zstd_concatenate() {
    for encoding in enabled().filter(|e| *e != Encoding::Deflate) {
        let two = [compressed(encoding, b"abc"), compressed(encoding, b"def")].concat();
        assert_eq!(
            decompressed(encoding, &two, 6).unwrap(),
            b"abcdef",
            "{encoding}"
        );
        assert!(decompressed(encoding, &two, 5).is_err());
    }
}

#[test]
fn deflate_means_zlib_and_gzip_means_gzip() {
    if Encoding::Deflate.is_supported() {
        let wire = compressed(Encoding::Deflate, b"x");
        // zlib header: CM=8, and the first two bytes are a multiple of 31.
        assert_eq!(wire[0] & 0x0f, 8);
        assert_eq!(u16::from_be_bytes([wire[0], wire[1]]) % 31, 0);
    }
    if Encoding::Gzip.is_supported() {
        assert_eq!(&compressed(Encoding::Gzip, b"x")[..3], &[0x1f, 0x8b, 8]);
    }
    if Encoding::Zstd.is_supported() {
        assert_eq!(
            &compressed(Encoding::Zstd, b"x")[..4],
            &[0x28, 0xb5, 0x2f, 0xfd]
        );
    }
}

#[test]
fn identity_is_a_bounded_copy() {
    assert_eq!(decompressed(Encoding::Identity, b"abc", 3).unwrap(), b"abc");
    assert_eq!(
        decompressed(Encoding::Identity, b"abc", 2),
        Err(CompressionError::LimitExceeded {
            encoding: Encoding::Identity,
            limit: 2
        })
    );
    assert_eq!(&compressed(Encoding::Identity, b"abc")[..], b"abc");
}

#[test]
fn disabled_encodings_are_reported() {
    for encoding in Encoding::ALL.into_iter().filter(|e| !e.is_supported()) {
        let mut dst = BytesMut::new();
        assert_eq!(
            compress(encoding, b"x", &mut dst),
            Err(CompressionError::NotEnabled(encoding))
        );
        assert_eq!(
            decompress(encoding, b"x", &mut dst, 10),
            Err(CompressionError::NotEnabled(encoding))
        );
    }
}

#[test]
fn small_messages_get_small_buffers() {
    for encoding in enabled() {
        let wire = compressed(encoding, b"hello");
        let mut dst = BytesMut::new();
        decompress(encoding, &wire, &mut dst, 4 << 20).unwrap();
        assert!(dst.capacity() <= 1024, "{encoding}: {}", dst.capacity());
    }
}

/// 64 MiB of zeros, compressed: each compresses to well under 1 MiB.
#[cfg(feature = "std")]
fn bomb(encoding: Encoding) -> &'static [u8] {
    use std::sync::OnceLock;
    static BOMBS: [OnceLock<Vec<u8>>; 4] = [const { OnceLock::new() }; 4];
    BOMBS[encoding as usize].get_or_init(|| {
        let zeros = vec![0u8; 64 << 20];
        compressed(encoding, &zeros).to_vec()
    })
}

#[cfg(feature = "std")]
#[test]
fn bombs_fail_at_the_limit_without_allocating_past_it() {
    const LIMIT: usize = 4 << 20;
    for encoding in enabled() {
        let bomb = bomb(encoding);
        assert!(bomb.len() < 1 << 20, "{encoding}: {}", bomb.len());

        let mut dst = BytesMut::new();
        let err = decompress(encoding, bomb, &mut dst, LIMIT).unwrap_err();
        assert_eq!(
            err,
            CompressionError::LimitExceeded {
                encoding,
                limit: LIMIT
            }
        );
        assert!(dst.is_empty());
        assert!(
            dst.capacity() <= LIMIT,
            "{encoding}: capacity {}",
            dst.capacity()
        );

        // With data already in dst, growth is bounded relative to it.
        let mut dst = BytesMut::with_capacity(1000);
        dst.extend_from_slice(&[1; 1000]);
        assert!(decompress(encoding, bomb, &mut dst, LIMIT).is_err());
        assert_eq!(&dst[..], &[1; 1000][..]);
        assert!(
            dst.capacity() <= LIMIT + 1000,
            "{encoding}: capacity {}",
            dst.capacity()
        );

        // An odd limit that is not a power of two.
        let mut dst = BytesMut::new();
        let odd = 3_000_001;
        assert!(decompress(encoding, bomb, &mut dst, odd).is_err());
        assert!(
            dst.capacity() <= odd,
            "{encoding}: capacity {}",
            dst.capacity()
        );
    }
}

#[quickcheck]
fn every_encoding_round_trips(data: Vec<u8>) -> bool {
    Encoding::ALL
        .into_iter()
        .filter(|e| e.is_supported())
        .all(|encoding| {
            let wire = compressed(encoding, &data);
            decompressed(encoding, &wire, data.len()).as_deref() == Ok(&data[..])
        })
}

#[quickcheck]
fn arbitrary_input_never_panics_or_exceeds_the_limit(data: Vec<u8>, limit: u16) -> bool {
    let limit = usize::from(limit);
    Encoding::ALL.into_iter().all(|encoding| {
        let mut dst = BytesMut::new();
        match decompress(encoding, &data, &mut dst, limit) {
            Ok(()) => dst.len() <= limit,
            Err(_) => dst.is_empty(),
        }
    })
}

#[quickcheck]
fn mangled_streams_never_exceed_the_limit(data: Vec<u8>, cut: usize, flip: usize) -> bool {
    enabled().all(|encoding| {
        let mut wire = compressed(encoding, &data).to_vec();
        let len = wire.len();
        wire.truncate(len - cut % (len / 4 + 1));
        if let Some(b) = wire.get_mut(flip % len) {
            *b ^= 0x20;
        }
        let limit = data.len() / 2;
        let mut dst = BytesMut::new();
        match decompress(encoding, &wire, &mut dst, limit) {
            Ok(()) => dst.len() <= limit,
            Err(_) => dst.is_empty(),
        }
    })
}

/// A zstd frame from a streaming encoder with a 16 MiB window and no
/// content size: decoding it needs a 16 MiB window buffer.
#[cfg(feature = "zstd")]
fn zstd_frame_with_large_window() -> Vec<u8> {
    use std::io::Write;
    let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
    encoder.window_log(24).unwrap();
    encoder.write_all(b"small message").unwrap();
    encoder.finish().unwrap()
}

#[cfg(feature = "zstd")]
#[test]
fn zstd_window_is_capped_by_the_limit() {
    let frame = zstd_frame_with_large_window();
    let err = decompressed(Encoding::Zstd, &frame, 4 << 20).unwrap_err();
    assert!(matches!(err, CompressionError::Corrupt { .. }), "{err:?}");
    assert_eq!(
        decompressed(Encoding::Zstd, &frame, 16 << 20).unwrap(),
        b"small message"
    );
}

#[test]
fn an_unbounded_limit_works_with_data_already_in_dst() {
    for encoding in Encoding::ALL.into_iter().filter(|e| e.is_supported()) {
        let wire = compressed(encoding, &[9u8; 100_000]);
        let mut dst = BytesMut::from(&b"head"[..]);
        decompress(encoding, &wire, &mut dst, usize::MAX).unwrap();
        assert_eq!(dst.len(), 100_004, "{encoding}");
    }
}
