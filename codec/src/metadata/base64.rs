//! base64 for `-bin` values: written unpadded, read leniently.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use ::base64::Engine as _;
use ::base64::alphabet;
use ::base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

/// Standard alphabet; writes no padding; reads canonical, partial or absent
/// padding and ignores non-zero trailing bits, as grpc C and grpc-go do.
const ENGINE: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// A `-bin` value that is not base64.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidBase64;

impl fmt::Display for InvalidBase64 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("binary header value is not valid base64")
    }
}

impl core::error::Error for InvalidBase64 {}

/// Appends the wire form of a binary value to `out`: standard base64 without
/// padding, as the spec asks implementations to emit.
pub fn encode_binary_value(value: &[u8], out: &mut String) {
    ENGINE.encode_string(value, out);
}

/// The length of [`encode_binary_value`]'s output for `len` bytes.
pub(crate) fn encoded_len(len: usize) -> usize {
    let full = len / 3 * 4;
    match len % 3 {
        0 => full,
        1 => full + 2,
        _ => full + 3,
    }
}

/// Decodes one base64 value (padded or not, surrounding spaces and tabs
/// ignored) and appends the bytes to `out`. On error `out` is left as it was.
///
/// This reads a single value; [`MetadataMap::push_wire_header`] also splits a
/// header field on `,` first, as the spec requires for `-bin` headers.
///
/// [`MetadataMap::push_wire_header`]: super::MetadataMap::push_wire_header
pub fn decode_binary_value(wire: &[u8], out: &mut Vec<u8>) -> Result<(), InvalidBase64> {
    let before = out.len();
    ENGINE.decode_vec(trim_whitespace(wire), out).map_err(|_| {
        // decode_vec may leave its zero-filled estimate behind on error.
        out.truncate(before);
        InvalidBase64
    })
}

/// `value` without leading and trailing spaces and tabs (HTTP's OWS).
pub(crate) fn trim_whitespace(value: &[u8]) -> &[u8] {
    let is_ws = |b: &u8| *b == b' ' || *b == b'\t';
    let start = value.iter().position(|b| !is_ws(b)).unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|b| !is_ws(b))
        .map_or(start, |i| i + 1);
    value.get(start..end).unwrap_or_default()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use alloc::vec;
    use quickcheck_macros::quickcheck;

    fn decode(wire: &[u8]) -> Result<Vec<u8>, InvalidBase64> {
        let mut out = Vec::new();
        decode_binary_value(wire, &mut out).map(|()| out)
    }

    #[test]
    fn encodes_unpadded_standard_alphabet() {
        let cases: &[(&[u8], &str)] = &[
            (b"", ""),
            (b"f", "Zg"),
            (b"fo", "Zm8"),
            (b"foo", "Zm9v"),
            (b"foob", "Zm9vYg"),
            (&[0xfb, 0xff], "+/8"),
        ];
        for &(raw, wire) in cases {
            let mut out = String::new();
            encode_binary_value(raw, &mut out);
            assert_eq!(out, wire);
            assert_eq!(encoded_len(raw.len()), wire.len());
        }
    }

    #[test]
    fn decodes_padded_unpadded_and_lenient_forms() {
        let ok: &[(&[u8], &[u8])] = &[
            (b"", b""),
            (b"Zg", b"f"),
            (b"Zg==", b"f"),
            (b"Zg=", b"f"),
            (b"Zm8", b"fo"),
            (b"Zm8=", b"fo"),
            (b"Zm9v", b"foo"),
            (b" Zm9v\t", b"foo"),
            (b"+/8", &[0xfb, 0xff]),
            // Non-zero trailing bits: "Zh" is "Zg" with a stray low bit.
            (b"Zh", b"f"),
        ];
        for &(wire, raw) in ok {
            assert_eq!(decode(wire).unwrap(), raw, "{wire:?}");
        }
    }

    #[test]
    fn rejects_malformed_base64() {
        let bad: &[&[u8]] = &[
            b"Z",
            b"Zm9vY",
            b"Zg===",
            b"Z===",
            b"====",
            b"Zm 9v",
            b"Zm9v,",
            b"-_8",
            b"Zg==Zg==",
            b"Zm9v\0",
            b"\xff\xfe",
        ];
        for &wire in bad {
            assert_eq!(decode(wire), Err(InvalidBase64), "{wire:?}");
        }
    }

    #[test]
    fn failed_decode_leaves_output_alone() {
        let mut out = vec![1, 2, 3];
        assert!(decode_binary_value(b"Zm9vY", &mut out).is_err());
        assert_eq!(out, [1, 2, 3]);
        decode_binary_value(b"Zg", &mut out).unwrap();
        assert_eq!(out, [1, 2, 3, b'f']);
    }

    #[test]
    fn trims_only_spaces_and_tabs() {
        assert_eq!(trim_whitespace(b"  a b\t"), b"a b");
        assert_eq!(trim_whitespace(b" \t "), b"");
        assert_eq!(trim_whitespace(b"\na\r"), b"\na\r");
    }

    #[quickcheck]
    fn round_trips_unpadded(raw: Vec<u8>) -> bool {
        let mut wire = String::new();
        encode_binary_value(&raw, &mut wire);
        !wire.contains('=') && decode(wire.as_bytes()) == Ok(raw)
    }

    #[quickcheck]
    fn round_trips_padded(raw: Vec<u8>) -> bool {
        let wire = ::base64::engine::general_purpose::STANDARD.encode(&raw);
        decode(wire.as_bytes()) == Ok(raw)
    }
}
