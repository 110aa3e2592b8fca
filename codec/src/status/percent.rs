//! Percent-encoding of `grpc-message` (grpc/grpc `doc/PROTOCOL-HTTP2.md`,
//! *Status-Message*).
//!
//! The message is UTF-8 text; on the wire every byte outside `0x20..=0x7E`, and
//! `%` itself, is written as `%XX` with uppercase hex digits.

use alloc::borrow::Cow;
use alloc::string::String;
use alloc::vec::Vec;

/// Whether `byte` is sent as itself: printable ASCII and space, except `%`.
const fn is_unreserved(byte: u8) -> bool {
    matches!(byte, 0x20..=0x24 | 0x26..=0x7E)
}

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

/// Percent-encodes a status message for the `grpc-message` header.
///
/// Borrows the input when no byte needs escaping (the common case). The
/// result is always ASCII in `0x20..=0x7E`, a valid header value.
pub fn encode_grpc_message(message: &str) -> Cow<'_, str> {
    let bytes = message.as_bytes();
    let Some(first) = bytes.iter().position(|&b| !is_unreserved(b)) else {
        return Cow::Borrowed(message);
    };
    let (clean, rest) = message.split_at(first);
    let mut out = String::with_capacity(bytes.len() + 2 * (bytes.len() - first));
    out.push_str(clean);
    for &byte in rest.as_bytes() {
        if is_unreserved(byte) {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(char::from(HEX_UPPER[usize::from(byte >> 4)]));
            out.push(char::from(HEX_UPPER[usize::from(byte & 0x0F)]));
        }
    }
    Cow::Owned(out)
}

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        _ => None,
    }
}

/// Decodes a `grpc-message` header value into text. Never fails.
///
/// `%XX` sequences become the byte they name (lowercase hex digits are accepted
/// too); a `%` not followed by two hex digits (`"%"`, `"%4"`, `"%zz"`) is kept
/// literally, as the spec allows ("decode valid portions while leaving broken
/// %-encodings as-is"). The bytes are then read as UTF-8, invalid sequences
/// becoming U+FFFD, so raw UTF-8 from a peer that did not encode still reads
/// right. Borrows the input when it holds no `%` and is valid UTF-8.
pub fn decode_grpc_message(value: &[u8]) -> Cow<'_, str> {
    if !value.contains(&b'%') {
        return String::from_utf8_lossy(value);
    }
    let mut out = Vec::with_capacity(value.len());
    let mut rest = value;
    while let Some((&byte, tail)) = rest.split_first() {
        if byte == b'%'
            && let [high, low, after @ ..] = tail
            && let (Some(high), Some(low)) = (hex_value(*high), hex_value(*low))
        {
            out.push(high << 4 | low);
            rest = after;
            continue;
        }
        out.push(byte);
        rest = tail;
    }
    match String::from_utf8(out) {
        Ok(text) => Cow::Owned(text),
        Err(err) => Cow::Owned(String::from_utf8_lossy(err.as_bytes()).into_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quickcheck_macros::quickcheck;

    #[test]
    fn encodes_per_the_spec() {
        let cases: &[(&str, &str)] = &[
            ("", ""),
            ("plain text ~!", "plain text ~!"),
            ("100%", "100%25"),
            ("%", "%25"),
            ("a\tb\nc\r", "a%09b%0Ac%0D"),
            ("\u{7f}", "%7F"),
            ("\0", "%00"),
            ("é", "%C3%A9"),
            ("日本", "%E6%97%A5%E6%9C%AC"),
            ("emoji 😀!", "emoji %F0%9F%98%80!"),
        ];
        for (input, expected) in cases {
            assert_eq!(encode_grpc_message(input), *expected, "input {input:?}");
        }
    }

    #[test]
    fn encoding_borrows_when_nothing_needs_escaping() {
        assert!(matches!(
            encode_grpc_message("not found: /a/b"),
            Cow::Borrowed(_)
        ));
        assert!(matches!(encode_grpc_message("50%"), Cow::Owned(_)));
    }

    #[test]
    fn decodes_valid_and_malformed_escapes() {
        let cases: &[(&[u8], &str)] = &[
            (b"", ""),
            (b"plain", "plain"),
            (b"100%25", "100%"),
            (b"%41%42", "AB"),
            (b"%e6%97%a5", "日"),
            (b"%E6%97%A5%E6%9C%AC", "日本"),
            (b"%", "%"),
            (b"%4", "%4"),
            (b"a%", "a%"),
            (b"%zz", "%zz"),
            (b"%4g", "%4g"),
            (b"%%41", "%A"),
            (b"%%", "%%"),
            (b"%2", "%2"),
            (b"x%2541", "x%41"),
            // Bytes that decode to invalid UTF-8 become U+FFFD.
            (b"%FF", "\u{FFFD}"),
            (b"%C3", "\u{FFFD}"),
            (b"ok%C3%28", "ok\u{FFFD}("),
            // Raw UTF-8 sent without encoding still reads right.
            ("é%21".as_bytes(), "é!"),
            ("é".as_bytes(), "é"),
            (b"\xff", "\u{FFFD}"),
        ];
        for (input, expected) in cases {
            assert_eq!(decode_grpc_message(input), *expected, "input {input:?}");
        }
    }

    #[test]
    fn decoding_borrows_without_escapes() {
        assert!(matches!(
            decode_grpc_message(b"no escapes"),
            Cow::Borrowed(_)
        ));
        assert!(matches!(decode_grpc_message(b"%41"), Cow::Owned(_)));
    }

    #[quickcheck]
    fn round_trips_any_string(message: String) -> bool {
        decode_grpc_message(encode_grpc_message(&message).as_bytes()) == message.as_str()
    }

    #[quickcheck]
    fn encoded_output_is_a_valid_header_value(message: String) -> bool {
        encode_grpc_message(&message)
            .bytes()
            .all(|b| (0x20..=0x7E).contains(&b))
    }

    #[quickcheck]
    fn decode_is_stable_for_any_bytes(bytes: Vec<u8>) -> bool {
        let decoded = decode_grpc_message(&bytes);
        decode_grpc_message(encode_grpc_message(&decoded).as_bytes()) == decoded
    }

    #[quickcheck]
    fn decode_of_escape_heavy_input_never_panics(parts: Vec<(bool, u8)>) -> bool {
        // Mostly '%' and hex digits, so malformed escapes are common.
        let bytes: Vec<u8> = parts
            .iter()
            .map(|&(percent, b)| {
                if percent {
                    b'%'
                } else {
                    b"0aF%g"[usize::from(b % 5)]
                }
            })
            .collect();
        decode_grpc_message(&bytes).len() <= 3 * bytes.len()
    }
}
