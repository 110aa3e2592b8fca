//! gRPC-Web trailer frames.
//!
//! The status and trailing metadata of a gRPC-Web response travel as the last
//! frame of the body: flag byte [`FLAG_WEB_TRAILERS`], a 4-byte big-endian length,
//! then an HTTP/1 header block without the terminating empty line:
//!
//! ```text
//! grpc-status: 0\r\n
//! grpc-message: ok\r\n
//! ```
//!
//! [`encode_trailer_frame`] writes such a frame; [`parse_trailer_block`] reads
//! the payload of one, as [`MessageDecoder::next_frame`] hands it out in
//! [`DecodedFrame::Trailers`] (decompressed by the caller if it was compressed).
//!
//! [`MessageDecoder::next_frame`]: crate::frame::MessageDecoder::next_frame
//! [`DecodedFrame::Trailers`]: crate::frame::DecodedFrame::Trailers
//! Parsing follows the tolerance of HTTP/1 (RFC 9112 section 5) and of the
//! browser clients: names are matched case-insensitively and lowercased,
//! whitespace around the value is dropped, a bare LF ends a line like CRLF, the
//! last line may lack its line ending and empty lines are skipped. Anything
//! else that is not `name: value` is an error naming the line.

use alloc::vec::Vec;
use bytes::{BufMut, Bytes, BytesMut};
use core::fmt;

use crate::Status;
use crate::frame::{FLAG_WEB_TRAILERS, HEADER_LEN, encode_header};

/// A sensible cap on the number of fields in one trailer block, for
/// [`parse_trailer_block`].
///
/// The frame's size is already capped by the maximum message size; this keeps
/// a block of tiny lines (`a:\n` is 3 bytes) from becoming a large vector.
pub const DEFAULT_MAX_TRAILER_FIELDS: usize = 128;

/// Whether `byte` may appear in a field name (RFC 9110 `tchar`).
fn is_token_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

/// Whether `byte` may appear inside a field value: visible ASCII, space, tab
/// and `obs-text`, the same set the `http` crate's `HeaderValue` accepts.
fn is_value_byte(byte: u8) -> bool {
    byte == b'\t' || (byte >= 0x20 && byte != 0x7F)
}

fn is_whitespace(byte: u8) -> bool {
    byte == b' ' || byte == b'\t'
}

fn trim_whitespace(mut value: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = value {
        if !is_whitespace(*first) {
            break;
        }
        value = rest;
    }
    while let [rest @ .., last] = value {
        if !is_whitespace(*last) {
            break;
        }
        value = rest;
    }
    value
}

/// Why a trailer block from the peer was rejected.
///
/// Lines are counted from 1, empty lines included.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TrailerParseError {
    /// A line without a `:` between name and value.
    MissingColon {
        /// The line number.
        line: usize,
    },
    /// An empty name, or a name with a byte that is not allowed in an HTTP
    /// field name (whitespace before the `:` and obsolete line folding
    /// included).
    InvalidName {
        /// The line number.
        line: usize,
    },
    /// A value with a control character (a bare CR, NUL, DEL, ...).
    InvalidValue {
        /// The line number.
        line: usize,
    },
    /// More fields than the caller allows.
    TooManyFields {
        /// The limit that was passed.
        max: usize,
    },
}

impl fmt::Display for TrailerParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            TrailerParseError::MissingColon { line } => write!(
                f,
                "grpc-web trailers, line {line}: no ':' between name and value"
            ),
            TrailerParseError::InvalidName { line } => write!(
                f,
                "grpc-web trailers, line {line}: the name is empty or has a character not allowed in a header name"
            ),
            TrailerParseError::InvalidValue { line } => write!(
                f,
                "grpc-web trailers, line {line}: the value has a control character"
            ),
            TrailerParseError::TooManyFields { max } => {
                write!(f, "grpc-web trailers: more than {max} fields")
            }
        }
    }
}

impl core::error::Error for TrailerParseError {}

impl From<TrailerParseError> for Status {
    fn from(error: TrailerParseError) -> Status {
        Status::internal(alloc::format!("{error}"))
    }
}

/// Parses the payload of a trailer frame into `(name, value)` pairs, in order.
///
/// Names come back lowercased; a value is a slice of `block` without the
/// whitespace around it. Duplicate names are kept as separate pairs. More than
/// `max_fields` pairs is an error (see [`DEFAULT_MAX_TRAILER_FIELDS`]).
///
/// Interpreting the pairs (`grpc-status`, percent-decoding `grpc-message`,
/// base64 of `-bin` values) is left to the caller.
pub fn parse_trailer_block(
    block: &Bytes,
    max_fields: usize,
) -> Result<Vec<(Bytes, Bytes)>, TrailerParseError> {
    let mut fields = Vec::new();
    let mut rest: &[u8] = block;
    let mut line_number = 0usize;
    while !rest.is_empty() {
        line_number = line_number.saturating_add(1);
        let (line, next) = match rest.iter().position(|&b| b == b'\n') {
            Some(end) => (&rest[..end], &rest[end + 1..]),
            None => (rest, &[][..]),
        };
        rest = next;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        match line.first() {
            None => continue,
            // Obsolete line folding: a continuation of the previous value.
            Some(&first) if is_whitespace(first) => {
                return Err(TrailerParseError::InvalidName { line: line_number });
            }
            Some(_) => {}
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            return Err(TrailerParseError::MissingColon { line: line_number });
        };
        let name = &line[..colon];
        if name.is_empty() || !name.iter().all(|&b| is_token_byte(b)) {
            return Err(TrailerParseError::InvalidName { line: line_number });
        }
        let value = trim_whitespace(&line[colon + 1..]);
        if !value.iter().all(|&b| is_value_byte(b)) {
            return Err(TrailerParseError::InvalidValue { line: line_number });
        }
        if fields.len() >= max_fields {
            return Err(TrailerParseError::TooManyFields { max: max_fields });
        }
        let name = if name.iter().any(u8::is_ascii_uppercase) {
            Bytes::from(name.to_ascii_lowercase())
        } else {
            block.slice_ref(name)
        };
        fields.push((name, block.slice_ref(value)));
    }
    Ok(fields)
}

/// Why [`encode_trailer_frame`] refused to write a frame: a mistake of the
/// local caller, not of the peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TrailerEncodeError {
    /// Metadata entry `index` has an empty name, or one with a byte that is
    /// not a lowercase HTTP token character.
    InvalidName {
        /// Position of the entry in the metadata passed.
        index: usize,
    },
    /// Metadata entry `index` has a value with a control character, or with
    /// whitespace at either end (which a parser would drop).
    InvalidValue {
        /// Position of the entry in the metadata passed.
        index: usize,
    },
    /// Metadata entry `index` is named `grpc-status`, `grpc-message` or
    /// `grpc-status-details-bin`, which the status itself provides.
    ReservedName {
        /// Position of the entry in the metadata passed.
        index: usize,
    },
    /// The block is longer than the 4-byte length prefix can express.
    TooLarge,
}

impl fmt::Display for TrailerEncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            TrailerEncodeError::InvalidName { index } => write!(
                f,
                "trailing metadata entry {index}: the name must be a non-empty lowercase header name"
            ),
            TrailerEncodeError::InvalidValue { index } => write!(
                f,
                "trailing metadata entry {index}: the value has a control character or surrounding whitespace"
            ),
            TrailerEncodeError::ReservedName { index } => write!(
                f,
                "trailing metadata entry {index}: grpc-status, grpc-message and grpc-status-details-bin come from the status"
            ),
            TrailerEncodeError::TooLarge => {
                f.write_str("grpc-web trailers: the block does not fit a 4-byte length")
            }
        }
    }
}

impl core::error::Error for TrailerEncodeError {}

impl From<TrailerEncodeError> for Status {
    fn from(error: TrailerEncodeError) -> Status {
        Status::internal(alloc::format!("{error}"))
    }
}

const RESERVED_NAMES: [&[u8]; 3] = [b"grpc-status", b"grpc-message", b"grpc-status-details-bin"];

/// Appends one uncompressed trailer frame (flag byte [`FLAG_WEB_TRAILERS`])
/// carrying `status` and then `metadata` to `dst`.
///
/// `metadata` is pre-rendered `(name, value)` pairs, in the order they should
/// appear: `-bin` values already base64-encoded, names lowercase. The status
/// comes first, rendered by [`Status::to_header_values`] as in native
/// trailers: `grpc-status` (a code gRPC does not define is sent as `UNKNOWN`),
/// then `grpc-message` (percent-encoded, only when not empty) and
/// `grpc-status-details-bin` (unpadded base64, only when there are details).
///
/// On error nothing is appended.
pub fn encode_trailer_frame<I, N, V>(
    status: &Status,
    metadata: I,
    dst: &mut BytesMut,
) -> Result<(), TrailerEncodeError>
where
    I: IntoIterator<Item = (N, V)>,
    N: AsRef<[u8]>,
    V: AsRef<[u8]>,
{
    let start = dst.len();
    dst.reserve(HEADER_LEN + 32);
    dst.put_bytes(0, HEADER_LEN);
    match write_block(status, metadata, dst) {
        Ok(()) => {
            let block_len = dst.len() - start - HEADER_LEN;
            let Ok(block_len) = u32::try_from(block_len) else {
                dst.truncate(start);
                return Err(TrailerEncodeError::TooLarge);
            };
            let header = encode_header(FLAG_WEB_TRAILERS, block_len);
            dst[start..start + HEADER_LEN].copy_from_slice(&header);
            Ok(())
        }
        Err(error) => {
            dst.truncate(start);
            Err(error)
        }
    }
}

fn write_block<I, N, V>(
    status: &Status,
    metadata: I,
    dst: &mut BytesMut,
) -> Result<(), TrailerEncodeError>
where
    I: IntoIterator<Item = (N, V)>,
    N: AsRef<[u8]>,
    V: AsRef<[u8]>,
{
    // The same values as native trailers carry, so both paths normalize
    // unknown codes and details alike.
    let values = status.to_header_values();
    dst.put_slice(b"grpc-status: ");
    dst.put_slice(values.grpc_status.as_bytes());
    dst.put_slice(b"\r\n");
    if let Some(message) = &values.grpc_message {
        dst.put_slice(b"grpc-message: ");
        write_message(message, dst);
        dst.put_slice(b"\r\n");
    }
    if let Some(details) = &values.grpc_status_details {
        dst.put_slice(b"grpc-status-details-bin: ");
        write_base64(details, dst);
        dst.put_slice(b"\r\n");
    }
    for (index, (name, value)) in metadata.into_iter().enumerate() {
        let (name, value) = (name.as_ref(), value.as_ref());
        if name.is_empty()
            || !name
                .iter()
                .all(|&b| is_token_byte(b) && !b.is_ascii_uppercase())
        {
            return Err(TrailerEncodeError::InvalidName { index });
        }
        if RESERVED_NAMES.contains(&name) {
            return Err(TrailerEncodeError::ReservedName { index });
        }
        if !value.iter().all(|&b| is_value_byte(b)) || trim_whitespace(value).len() != value.len() {
            return Err(TrailerEncodeError::InvalidValue { index });
        }
        dst.reserve(name.len() + value.len() + 4);
        dst.put_slice(name);
        dst.put_slice(b": ");
        dst.put_slice(value);
        dst.put_slice(b"\r\n");
    }
    Ok(())
}

fn write_base64(bytes: &[u8], dst: &mut BytesMut) {
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD_NO_PAD.encode(bytes);
    dst.put_slice(encoded.as_bytes());
}

/// Writes an already percent-encoded `grpc-message`, escaping a space at
/// either end too: an HTTP parser would trim it away, and `%20` decodes the
/// same.
fn write_message(encoded: &str, dst: &mut BytesMut) {
    let (lead, rest) = match encoded.strip_prefix(' ') {
        Some(rest) => (true, rest),
        None => (false, encoded),
    };
    let (rest, trail) = match rest.strip_suffix(' ') {
        Some(rest) => (rest, true),
        None => (rest, false),
    };
    if lead {
        dst.put_slice(b"%20");
    }
    dst.put_slice(rest.as_bytes());
    if trail {
        dst.put_slice(b"%20");
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::Code;
    use alloc::string::String;
    use alloc::vec;
    use quickcheck::{Arbitrary, Gen};
    use quickcheck_macros::quickcheck;

    type Fields = Vec<(&'static [u8], &'static [u8])>;

    fn parse(block: &'static [u8]) -> Result<Vec<(Bytes, Bytes)>, TrailerParseError> {
        parse_trailer_block(&Bytes::from_static(block), DEFAULT_MAX_TRAILER_FIELDS)
    }

    #[test]
    fn parses_tolerantly() {
        let cases: &[(&str, &[u8], Fields)] = &[
            ("empty block", b"", vec![]),
            (
                "spec example",
                b"grpc-status: 0\r\ngrpc-message: ok\r\n",
                vec![(b"grpc-status", b"0"), (b"grpc-message", b"ok")],
            ),
            (
                "no space after colon",
                b"grpc-status:0\r\n",
                vec![(b"grpc-status", b"0")],
            ),
            (
                "last line without CRLF",
                b"a: 1\r\nb: 2",
                vec![(b"a", b"1"), (b"b", b"2")],
            ),
            ("last line ends in CR only", b"a: 1\r", vec![(b"a", b"1")]),
            ("bare LF", b"a: 1\nb: 2\n", vec![(b"a", b"1"), (b"b", b"2")]),
            (
                "mixed case name",
                b"Grpc-STATUS: 5\r\n",
                vec![(b"grpc-status", b"5")],
            ),
            (
                "whitespace around value",
                b"a: \t x  y \t\r\n",
                vec![(b"a", b"x  y")],
            ),
            (
                "empty value",
                b"grpc-message:\r\n",
                vec![(b"grpc-message", b"")],
            ),
            ("only whitespace value", b"a:   \r\n", vec![(b"a", b"")]),
            ("colon in value", b"a: b: c\r\n", vec![(b"a", b"b: c")]),
            (
                "empty lines skipped",
                b"\r\n\na:1\r\n\r\n",
                vec![(b"a", b"1")],
            ),
            (
                "duplicates kept in order",
                b"a: 1\r\na: 2\r\n",
                vec![(b"a", b"1"), (b"a", b"2")],
            ),
            (
                "obs-text in value",
                b"a: caf\xc3\xa9\r\n",
                vec![(b"a", b"caf\xc3\xa9")],
            ),
            (
                "token punctuation in name",
                b"x-a.b_c!~: v\r\n",
                vec![(b"x-a.b_c!~", b"v")],
            ),
            (
                "base64 value kept verbatim",
                b"grpc-status-details-bin: CAMSBGJhZCE\r\n",
                vec![(b"grpc-status-details-bin", b"CAMSBGJhZCE")],
            ),
        ];
        for (what, block, expected) in cases {
            let fields = parse(block).unwrap_or_else(|e| panic!("{what}: {e}"));
            let fields: Vec<(&[u8], &[u8])> =
                fields.iter().map(|(n, v)| (&n[..], &v[..])).collect();
            assert_eq!(fields, *expected, "{what}");
        }
    }

    #[test]
    fn rejects_malformed_lines() {
        use TrailerParseError::*;
        let cases: &[(&str, &[u8], TrailerParseError)] = &[
            ("no colon", b"grpc-status 0\r\n", MissingColon { line: 1 }),
            (
                "no colon on a later line",
                b"a:1\r\n\r\nbad\r\n",
                MissingColon { line: 3 },
            ),
            (
                "truncated before colon",
                b"grpc-stat",
                MissingColon { line: 1 },
            ),
            ("empty name", b": v\r\n", InvalidName { line: 1 }),
            ("space in name", b"a b: v\r\n", InvalidName { line: 1 }),
            ("space before colon", b"a : v\r\n", InvalidName { line: 1 }),
            (
                "obsolete line folding",
                b"a: v\r\n  w\r\n",
                InvalidName { line: 2 },
            ),
            ("leading tab", b"\ta: v\r\n", InvalidName { line: 1 }),
            (
                "non-ascii name",
                b"caf\xc3\xa9: v\r\n",
                InvalidName { line: 1 },
            ),
            ("bare CR in value", b"a: b\rc\r\n", InvalidValue { line: 1 }),
            ("CR CR LF", b"a: b\r\r\n", InvalidValue { line: 1 }),
            ("NUL in value", b"a: b\0\r\n", InvalidValue { line: 1 }),
            ("DEL in value", b"a: \x7f\r\n", InvalidValue { line: 1 }),
            (
                "escape in value",
                b"a: \x1b[0m\r\n",
                InvalidValue { line: 1 },
            ),
        ];
        for (what, block, expected) in cases {
            assert_eq!(parse(block), Err(*expected), "{what}");
        }
    }

    #[test]
    fn enforces_field_limit() {
        let block = Bytes::from_static(b"a:1\r\nb:2\r\nc:3\r\n");
        assert_eq!(parse_trailer_block(&block, 3).unwrap().len(), 3);
        assert_eq!(
            parse_trailer_block(&block, 2),
            Err(TrailerParseError::TooManyFields { max: 2 })
        );
        assert_eq!(
            parse_trailer_block(&block, 0),
            Err(TrailerParseError::TooManyFields { max: 0 })
        );
        // Empty lines do not count.
        let sparse = Bytes::from_static(b"\r\n\r\n\r\na:1\r\n\n\n");
        assert_eq!(parse_trailer_block(&sparse, 1).unwrap().len(), 1);
    }

    #[test]
    fn every_prefix_of_a_block_parses_or_errors() {
        let block: &[u8] = b"grpc-status: 0\r\ngrpc-message: a%20b\r\nx-trace: 1\r\n";
        for end in 0..=block.len() {
            let prefix = Bytes::copy_from_slice(&block[..end]);
            let complete_lines = block[..end].iter().filter(|&&b| b == b'\n').count();
            match parse_trailer_block(&prefix, DEFAULT_MAX_TRAILER_FIELDS) {
                // A cut inside a line still yields the lines before it, and
                // the cut line itself when it already has its colon.
                Ok(fields) => {
                    assert!(fields.len() >= complete_lines, "prefix {end}");
                    assert!(fields.len() <= complete_lines + 1, "prefix {end}");
                    for (name, value) in &fields {
                        assert!(!name.is_empty(), "prefix {end}");
                        let line = [&name[..], b": ", &value[..]].concat();
                        let found = block.windows(line.len()).any(|w| w == &line[..]);
                        assert!(found, "prefix {end}");
                    }
                }
                Err(error) => {
                    assert_eq!(
                        error,
                        TrailerParseError::MissingColon {
                            line: complete_lines + 1
                        },
                        "prefix {end}"
                    );
                }
            }
        }
    }

    #[test]
    fn values_are_slices_of_the_block() {
        let block = Bytes::from_static(b"a: value\r\n");
        let fields = parse_trailer_block(&block, 8).unwrap();
        assert_eq!(fields[0].1.as_ptr(), block[3..].as_ptr());
        assert_eq!(fields[0].0.as_ptr(), block.as_ptr());
    }

    #[test]
    fn parse_errors_read_well_and_become_internal() {
        let error = parse(b"ok: 1\r\nbroken\r\n").unwrap_err();
        assert_eq!(
            alloc::format!("{error}"),
            "grpc-web trailers, line 2: no ':' between name and value"
        );
        let status = Status::from(error);
        assert_eq!(status.code(), Code::INTERNAL);
    }

    fn encode<'a>(
        status: &Status,
        metadata: &[(&'a str, &'a str)],
    ) -> Result<BytesMut, TrailerEncodeError> {
        let mut dst = BytesMut::new();
        encode_trailer_frame(status, metadata.iter().copied(), &mut dst)?;
        Ok(dst)
    }

    #[test]
    fn encodes_exact_frames() {
        type Case<'a> = (Status, &'a [(&'a str, &'a str)], &'a [u8]);
        let cases: &[Case] = &[
            (Status::ok(), &[], b"\x80\0\0\0\x10grpc-status: 0\r\n"),
            (
                Status::not_found("no such book"),
                &[],
                b"\x80\0\0\0\x2cgrpc-status: 5\r\ngrpc-message: no such book\r\n",
            ),
            (
                Status::internal(" 100% caf\u{e9}\n "),
                &[],
                b"\x80\0\0\0\x3agrpc-status: 13\r\ngrpc-message: %20100%25 caf%C3%A9%0A%20\r\n",
            ),
            (
                Status::unknown(" "),
                &[],
                b"\x80\0\0\0\x23grpc-status: 2\r\ngrpc-message: %20\r\n",
            ),
            (
                Status::new(Code::from_i32(-7), ""),
                &[("x-a", "1"), ("x-b", "two words")],
                b"\x80\0\0\0\x28grpc-status: 2\r\nx-a: 1\r\nx-b: two words\r\n",
            ),
            (
                Status::aborted("").with_details(Bytes::from_static(b"\x08\x0a")),
                &[],
                b"\x80\0\0\0\x2fgrpc-status: 10\r\ngrpc-status-details-bin: CAo\r\n",
            ),
        ];
        for (status, metadata, expected) in cases {
            let frame = encode(status, metadata).unwrap();
            assert_eq!(&frame[..], *expected, "{status:?}");
            let len = u32::from_be_bytes([frame[1], frame[2], frame[3], frame[4]]) as usize;
            assert_eq!(len, frame.len() - 5, "{status:?}");
        }
    }

    #[test]
    fn encode_appends_and_leaves_dst_alone_on_error() {
        let mut dst = BytesMut::from(&b"\0\0\0\0\x01z"[..]);
        encode_trailer_frame(&Status::ok(), [("a", "1")], &mut dst).unwrap();
        assert_eq!(
            &dst[..],
            b"\0\0\0\0\x01z\x80\0\0\0\x16grpc-status: 0\r\na: 1\r\n"
        );
        let before = dst.clone();
        let error = encode_trailer_frame(&Status::ok(), [("a", "1"), ("B", "2")], &mut dst);
        assert_eq!(error, Err(TrailerEncodeError::InvalidName { index: 1 }));
        assert_eq!(dst, before);
    }

    #[test]
    fn encode_rejects_bad_metadata() {
        use TrailerEncodeError::*;
        let cases: &[(&str, (&str, &str), TrailerEncodeError)] = &[
            ("uppercase name", ("X-Trace", "1"), InvalidName { index: 0 }),
            ("empty name", ("", "1"), InvalidName { index: 0 }),
            ("colon in name", ("a:b", "1"), InvalidName { index: 0 }),
            ("space in name", ("a b", "1"), InvalidName { index: 0 }),
            (
                "CRLF injection",
                ("a", "1\r\nb: 2"),
                InvalidValue { index: 0 },
            ),
            ("NUL in value", ("a", "\0"), InvalidValue { index: 0 }),
            ("leading space", ("a", " 1"), InvalidValue { index: 0 }),
            ("trailing tab", ("a", "1\t"), InvalidValue { index: 0 }),
            (
                "grpc-status",
                ("grpc-status", "0"),
                ReservedName { index: 0 },
            ),
            (
                "grpc-message",
                ("grpc-message", "x"),
                ReservedName { index: 0 },
            ),
            (
                "grpc-status-details-bin",
                ("grpc-status-details-bin", "AA"),
                ReservedName { index: 0 },
            ),
        ];
        for (what, entry, expected) in cases {
            assert_eq!(encode(&Status::ok(), &[*entry]), Err(*expected), "{what}");
        }
    }

    /// Trailing metadata that the encoder accepts.
    #[derive(Clone, Debug)]
    struct Metadata(Vec<(String, Vec<u8>)>);

    impl Arbitrary for Metadata {
        fn arbitrary(g: &mut Gen) -> Metadata {
            const NAME: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789-_.!#$&'*+^`|~";
            let len = usize::arbitrary(g) % 8;
            let entries = (0..len)
                .filter_map(|_| {
                    let name_len = 1 + usize::arbitrary(g) % 12;
                    let name: String = (0..name_len)
                        .map(|_| char::from(*g.choose(NAME).unwrap()))
                        .collect();
                    let value: Vec<u8> = Vec::<u8>::arbitrary(g)
                        .into_iter()
                        .filter(|&b| is_value_byte(b))
                        .collect();
                    let value = trim_whitespace(&value).to_vec();
                    let reserved = RESERVED_NAMES.contains(&name.as_bytes());
                    (!reserved).then_some((name, value))
                })
                .collect();
            Metadata(entries)
        }
    }

    #[quickcheck]
    fn encode_then_parse_round_trips(
        code: i32,
        message: String,
        details: Vec<u8>,
        metadata: Metadata,
    ) -> bool {
        let status =
            Status::new(Code::from_i32(code), message.clone()).with_details(Bytes::from(details));
        let mut dst = BytesMut::new();
        encode_trailer_frame(&status, metadata.0.iter().map(|(n, v)| (n, v)), &mut dst).unwrap();
        assert_eq!(dst[0], FLAG_WEB_TRAILERS);
        let len = u32::from_be_bytes([dst[1], dst[2], dst[3], dst[4]]) as usize;
        assert_eq!(len, dst.len() - 5);

        let block = dst.freeze().slice(5..);
        let fields = parse_trailer_block(&block, usize::MAX).unwrap();
        let mut fields = fields.into_iter();

        let expected = status.to_header_values();
        let (name, value) = fields.next().unwrap();
        assert_eq!(name, "grpc-status");
        assert_eq!(value, expected.grpc_status.as_bytes());
        if !message.is_empty() {
            let (name, value) = fields.next().unwrap();
            assert_eq!(name, "grpc-message");
            assert_eq!(crate::status::decode_grpc_message(&value), message);
        }
        if let Some(details) = expected.grpc_status_details {
            use base64::Engine as _;
            let (name, value) = fields.next().unwrap();
            assert_eq!(name, "grpc-status-details-bin");
            let decoded = base64::engine::general_purpose::STANDARD_NO_PAD
                .decode(&value)
                .unwrap();
            assert_eq!(decoded, details);
        }
        let rest: Vec<(Vec<u8>, Vec<u8>)> = fields.map(|(n, v)| (n.to_vec(), v.to_vec())).collect();
        let expected: Vec<(Vec<u8>, Vec<u8>)> = metadata
            .0
            .into_iter()
            .map(|(n, v)| (n.into_bytes(), v))
            .collect();
        rest == expected
    }

    #[quickcheck]
    fn arbitrary_blocks_never_panic_and_yield_valid_fields(block: Vec<u8>, max: u8) -> bool {
        let block = Bytes::from(block);
        match parse_trailer_block(&block, usize::from(max)) {
            Ok(fields) => {
                fields.len() <= usize::from(max)
                    && fields.iter().all(|(name, value)| {
                        !name.is_empty()
                            && name
                                .iter()
                                .all(|&b| is_token_byte(b) && !b.is_ascii_uppercase())
                            && value.iter().all(|&b| is_value_byte(b))
                            && trim_whitespace(value).len() == value.len()
                    })
            }
            Err(_) => true,
        }
    }
}
