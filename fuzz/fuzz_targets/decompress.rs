#![no_main]
//! `decompress` fed fuzzer-chosen bytes under a fuzzer-chosen encoding and
//! limit, and `compress` -> `decompress` round trips of the same bytes.
//! Invariants:
//! - decompression never panics; on success the output is at most the
//!   limit, on error `dst` is back to its prefix;
//! - `dst`'s capacity never grows past prefix + limit (small floor for the
//!   allocator's minimum);
//! - errors map to RESOURCE_EXHAUSTED (limit) or INTERNAL (corrupt input);
//! - compressing then decompressing gives the input back with a limit of
//!   its exact length, and LimitExceeded with one byte less.

use arbitrary::Arbitrary;
use bytes::BytesMut;
use ferrule_codec::Code;
use ferrule_codec::compression::{CompressionError, Encoding, compress, decompress};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Limit {
    Small(u8),
    Medium(u16),
    Large(u32),
}

#[derive(Arbitrary, Debug)]
struct Input {
    encoding: u8,
    limit: Limit,
    prefix: u8,
    /// Feed `data` compressed first (a valid stream) rather than raw.
    compress_first: bool,
    data: Vec<u8>,
}

/// Room the allocator may round a tiny buffer up to.
const SMALL_FLOOR: usize = 64;

fuzz_target!(|input: Input| {
    let encoding = Encoding::ALL[usize::from(input.encoding) % Encoding::ALL.len()];
    let limit = match input.limit {
        Limit::Small(n) => usize::from(n),
        Limit::Medium(n) => usize::from(n),
        // Up to 16 MiB: large enough to let bombs try, small enough to run.
        Limit::Large(n) => (n % (16 << 20)) as usize,
    };
    let prefix = vec![0xa5u8; usize::from(input.prefix % 16)];

    let src = if input.compress_first {
        let mut wire = BytesMut::new();
        compress(encoding, &input.data, &mut wire).expect("in-memory compression cannot fail");
        wire.to_vec()
    } else {
        input.data.clone()
    };

    let mut dst = BytesMut::with_capacity(prefix.len());
    dst.extend_from_slice(&prefix);
    let capacity_before = dst.capacity();
    match decompress(encoding, &src, &mut dst, limit) {
        Ok(()) => {
            assert!(dst.len() - prefix.len() <= limit, "output over the limit");
            if input.compress_first {
                assert!(input.data.len() <= limit);
                assert_eq!(&dst[prefix.len()..], &input.data[..]);
            }
        }
        Err(err) => {
            assert_eq!(&dst[..], &prefix[..], "dst not restored on error");
            match err {
                CompressionError::LimitExceeded { limit: l, .. } => {
                    assert_eq!(l, limit);
                    assert_eq!(err.code(), Code::RESOURCE_EXHAUSTED);
                }
                CompressionError::Corrupt { .. } => {
                    assert!(!input.compress_first, "valid stream rejected: {err}");
                    assert_eq!(err.code(), Code::INTERNAL);
                }
                other => panic!("unexpected error {other:?}"),
            }
            if input.compress_first {
                assert!(
                    input.data.len() > limit,
                    "valid stream within limit rejected"
                );
            }
        }
    }
    let bound = capacity_before.max(prefix.len() + limit).max(SMALL_FLOOR);
    assert!(
        dst.capacity() <= bound,
        "capacity {} > {bound}",
        dst.capacity()
    );

    // Exact-limit round trip of the fuzz bytes.
    let mut wire = BytesMut::new();
    compress(encoding, &input.data, &mut wire).expect("in-memory compression cannot fail");
    let mut out = BytesMut::new();
    decompress(encoding, &wire, &mut out, input.data.len()).expect("round trip at exact limit");
    assert_eq!(&out[..], &input.data[..]);
    if let Some(less) = input.data.len().checked_sub(1) {
        let mut out = BytesMut::new();
        let err = decompress(encoding, &wire, &mut out, less).expect_err("one byte over the limit");
        assert!(
            matches!(err, CompressionError::LimitExceeded { .. }),
            "{err:?}"
        );
    }
});
