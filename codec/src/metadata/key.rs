//! Key rules: the spec's Header-Name grammar, `-bin` keys and reserved names.

use alloc::string::String;
use core::fmt::Write as _;

/// The suffix that marks a key whose values are binary.
pub(crate) const BINARY_SUFFIX: &[u8] = b"-bin";

/// Names the engine owns, compared without regard to ASCII case. The `:` and
/// `grpc-` prefixes are checked separately.
const RESERVED_NAMES: &[&[u8]] = &[
    b"content-type",
    b"te",
    b"user-agent",
    b"host",
    b"content-length",
    b"connection",
    b"keep-alive",
    b"proxy-connection",
    b"transfer-encoding",
    b"upgrade",
];

const GRPC_PREFIX: &[u8] = b"grpc-";

/// Longest key shown in an error message; a peer's key can be long.
const MAX_KEY_TEXT: usize = 64;

/// Whether a key names binary values: it ends in `-bin` (ASCII case ignored).
pub fn is_binary_key(key: &[u8]) -> bool {
    key.len() >= BINARY_SUFFIX.len()
        && key[key.len() - BINARY_SUFFIX.len()..].eq_ignore_ascii_case(BINARY_SUFFIX)
}

/// Whether a header name is kept out of user metadata (ASCII case ignored).
///
/// See the [module documentation](super) for the list and the reasons.
pub fn is_reserved(name: &[u8]) -> bool {
    name.first() == Some(&b':')
        || (name.len() >= GRPC_PREFIX.len()
            && name[..GRPC_PREFIX.len()].eq_ignore_ascii_case(GRPC_PREFIX))
        || RESERVED_NAMES.iter().any(|r| name.eq_ignore_ascii_case(r))
}

/// Whether `key` is a valid key as sent on the wire: non-empty, and only
/// `0-9 a-z _ - .` (the spec's Header-Name). Reserved names can be valid keys.
pub fn is_valid_key(key: &[u8]) -> bool {
    !key.is_empty() && key.iter().all(|&b| is_key_byte(b))
}

/// Whether a key supplied by the user is valid once lowercased.
pub(crate) fn is_valid_user_key(key: &[u8]) -> bool {
    !key.is_empty() && key.iter().all(|&b| is_key_byte(b.to_ascii_lowercase()))
}

fn is_key_byte(b: u8) -> bool {
    matches!(b, b'0'..=b'9' | b'a'..=b'z' | b'_' | b'-' | b'.')
}

/// A key as shown in an error message: printable ASCII kept, other bytes
/// escaped as `\xNN`, cut after [`MAX_KEY_TEXT`] bytes.
pub(crate) fn key_text(key: &[u8]) -> String {
    let shown = &key[..key.len().min(MAX_KEY_TEXT)];
    let mut text = String::with_capacity(shown.len() + 3);
    for &b in shown {
        if (0x20..=0x7e).contains(&b) && b != b'\\' {
            text.push(char::from(b));
        } else {
            // Writing to a String cannot fail.
            let _ = write!(text, "\\x{b:02x}");
        }
    }
    if key.len() > MAX_KEY_TEXT {
        text.push_str("...");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_keys_follow_the_header_name_grammar() {
        let cases: &[(&[u8], bool)] = &[
            (b"a", true),
            (b"x-user-id", true),
            (b"trace_id.v2", true),
            (b"0123456789", true),
            (b"-bin", true),
            (b"", false),
            (b"X-User", false),
            (b"a b", false),
            (b"a:b", false),
            (b":path", false),
            (b"caf\xc3\xa9", false),
            (b"a\0", false),
            (b"a/b", false),
            (b"a+b", false),
        ];
        for &(key, valid) in cases {
            assert_eq!(is_valid_key(key), valid, "{key:?}");
        }
    }

    #[test]
    fn user_keys_may_use_uppercase() {
        assert!(is_valid_user_key(b"X-User-Id"));
        assert!(!is_valid_user_key(b"X User"));
        assert!(!is_valid_user_key(b""));
    }

    #[test]
    fn reserved_names() {
        let cases: &[(&[u8], bool)] = &[
            (b":path", true),
            (b":authority", true),
            (b"grpc-timeout", true),
            (b"grpc-status-details-bin", true),
            (b"GRPC-Encoding", true),
            (b"grpc-", true),
            (b"content-type", true),
            (b"Content-Type", true),
            (b"te", true),
            (b"user-agent", true),
            (b"host", true),
            (b"content-length", true),
            (b"connection", true),
            (b"keep-alive", true),
            (b"proxy-connection", true),
            (b"transfer-encoding", true),
            (b"upgrade", true),
            (b"grpc", false),
            (b"grpcx-a", false),
            (b"x-grpc-timeout", false),
            (b"tea", false),
            (b"authorization", false),
            (b"content-types", false),
            (b"", false),
        ];
        for &(name, reserved) in cases {
            assert_eq!(is_reserved(name), reserved, "{name:?}");
        }
    }

    #[test]
    fn binary_keys() {
        assert!(is_binary_key(b"trace-bin"));
        assert!(is_binary_key(b"Trace-BIN"));
        assert!(is_binary_key(b"-bin"));
        assert!(!is_binary_key(b"bin"));
        assert!(!is_binary_key(b"trace-bin2"));
        assert!(!is_binary_key(b""));
    }

    #[test]
    fn key_text_escapes_and_truncates() {
        assert_eq!(key_text(b"x-id"), "x-id");
        assert_eq!(key_text(b"a\0\xff\\"), "a\\x00\\xff\\x5c");
        let long = [b'k'; 100];
        let text = key_text(&long);
        assert_eq!(text.len(), MAX_KEY_TEXT + 3);
        assert!(text.ends_with("..."));
    }
}
