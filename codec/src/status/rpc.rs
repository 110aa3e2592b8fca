//! `google.rpc.Status` and `google.protobuf.Any`, the rich error model carried in
//! the `grpc-status-details-bin` trailer, encoded and decoded by hand so that it
//! works without the `prost` feature.
//!
//! ```proto
//! message Status { int32 code = 1; string message = 2; repeated google.protobuf.Any details = 3; }
//! message Any { string type_url = 1; bytes value = 2; }
//! ```

use super::wire::{self, Reader, Tag, WIRE_LEN, WIRE_VARINT};
use super::{Code, Status};
use alloc::string::String;
use alloc::vec::Vec;
use bytes::{BufMut, Bytes};
use core::fmt;

/// A `google.rpc.Status` message: the value of `grpc-status-details-bin` once
/// base64-decoded (the metadata module does the base64).
///
/// Proto3 rules apply: a zero code, an empty message and empty strings are not
/// written; unknown fields are skipped on decode and not kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RpcStatus {
    /// `code` (field 1). Kept as sent, like [`Code`] itself.
    pub code: Code,
    /// `message` (field 2): the developer-facing error message.
    pub message: String,
    /// `details` (field 3): messages describing the error, each packed in an
    /// [`Any`] (for example `google.rpc.BadRequest`, `google.rpc.RetryInfo`).
    pub details: Vec<Any>,
}

/// A `google.protobuf.Any` message: a serialized message and the URL naming its
/// type.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Any {
    /// `type_url` (field 1), such as `"type.googleapis.com/google.rpc.RetryInfo"`.
    pub type_url: String,
    /// `value` (field 2): the serialized message.
    pub value: Bytes,
}

impl Default for RpcStatus {
    /// `OK`, no message, no details: what an empty message decodes to.
    fn default() -> RpcStatus {
        RpcStatus::new(Code::OK, String::new())
    }
}

const STATUS_CODE: u32 = 1;
const STATUS_MESSAGE: u32 = 2;
const STATUS_DETAILS: u32 = 3;
const ANY_TYPE_URL: u32 = 1;
const ANY_VALUE: u32 = 2;

/// The varint of an `int32`: negative values are sign-extended to 64 bits, as
/// protobuf specifies.
fn int32_varint(value: i32) -> u64 {
    i64::from(value) as u64
}

impl Any {
    /// The length of the encoded message, without a field key or length prefix.
    pub fn encoded_len(&self) -> usize {
        let mut len = 0;
        if !self.type_url.is_empty() {
            len += wire::len_delimited_len(self.type_url.len());
        }
        if !self.value.is_empty() {
            len += wire::len_delimited_len(self.value.len());
        }
        len
    }

    /// Appends the encoded message to `buf`.
    pub fn encode(&self, buf: &mut impl BufMut) {
        if !self.type_url.is_empty() {
            wire::put_len_delimited(buf, ANY_TYPE_URL, self.type_url.as_bytes());
        }
        if !self.value.is_empty() {
            wire::put_len_delimited(buf, ANY_VALUE, &self.value);
        }
    }

    /// Decodes an `Any` message; `value` shares memory with `bytes`.
    pub fn decode(bytes: &Bytes) -> Result<Any, RpcStatusError> {
        let mut any = Any::default();
        let mut reader = Reader::new(bytes);
        while !reader.is_empty() {
            let tag = reader.tag()?;
            match tag {
                Tag {
                    field: ANY_TYPE_URL,
                    wire_type: WIRE_LEN,
                } => any.type_url = utf8(reader.len_delimited()?, "Any.type_url")?,
                Tag {
                    field: ANY_VALUE,
                    wire_type: WIRE_LEN,
                } => any.value = reader.len_delimited()?,
                // Unknown fields, and known ones with another wire type (as the
                // C++ and Go runtimes treat them), are skipped.
                _ => reader.skip(tag, 0)?,
            }
        }
        Ok(any)
    }
}

impl RpcStatus {
    /// A status with this code and message and no details.
    pub fn new(code: Code, message: impl Into<String>) -> RpcStatus {
        RpcStatus {
            code,
            message: message.into(),
            details: Vec::new(),
        }
    }

    /// The length of the encoded message.
    pub fn encoded_len(&self) -> usize {
        let mut len = 0;
        if self.code != Code::OK {
            len += 1 + wire::varint_len(int32_varint(self.code.as_i32()));
        }
        if !self.message.is_empty() {
            len += wire::len_delimited_len(self.message.len());
        }
        for any in &self.details {
            len += wire::len_delimited_len(any.encoded_len());
        }
        len
    }

    /// Appends the encoded message to `buf`.
    pub fn encode(&self, buf: &mut impl BufMut) {
        if self.code != Code::OK {
            wire::put_tag(buf, STATUS_CODE, WIRE_VARINT);
            wire::put_varint(buf, int32_varint(self.code.as_i32()));
        }
        if !self.message.is_empty() {
            wire::put_len_delimited(buf, STATUS_MESSAGE, self.message.as_bytes());
        }
        for any in &self.details {
            wire::put_tag(buf, STATUS_DETAILS, WIRE_LEN);
            wire::put_varint(buf, any.encoded_len() as u64);
            any.encode(buf);
        }
    }

    /// The encoded message in a buffer of its own.
    pub fn to_bytes(&self) -> Bytes {
        let mut buf = Vec::with_capacity(self.encoded_len());
        self.encode(&mut buf);
        Bytes::from(buf)
    }

    /// Decodes a `google.rpc.Status`. Bounded and panic-free: every length is
    /// checked against the input, unknown fields of every wire type are skipped
    /// (groups up to 100 deep), and malformed input is an error. The details'
    /// `value`s share memory with `bytes`.
    pub fn decode(bytes: &Bytes) -> Result<RpcStatus, RpcStatusError> {
        let mut status = RpcStatus::default();
        let mut reader = Reader::new(bytes);
        while !reader.is_empty() {
            let tag = reader.tag()?;
            match tag {
                Tag {
                    field: STATUS_CODE,
                    wire_type: WIRE_VARINT,
                } => {
                    // An int32 is the low 32 bits of the varint, as protobuf
                    // parsers read it.
                    status.code = Code::from_i32(reader.varint()? as i32);
                }
                Tag {
                    field: STATUS_MESSAGE,
                    wire_type: WIRE_LEN,
                } => status.message = utf8(reader.len_delimited()?, "Status.message")?,
                Tag {
                    field: STATUS_DETAILS,
                    wire_type: WIRE_LEN,
                } => status.details.push(Any::decode(&reader.len_delimited()?)?),
                _ => reader.skip(tag, 0)?,
            }
        }
        Ok(status)
    }
}

fn utf8(bytes: Bytes, field: &'static str) -> Result<String, RpcStatusError> {
    match core::str::from_utf8(&bytes) {
        Ok(text) => Ok(String::from(text)),
        Err(_) => Err(RpcStatusError::InvalidUtf8 { field }),
    }
}

impl Status {
    /// The status a `google.rpc.Status` describes: its code and message, with
    /// the encoded message as [`Status::details`] when it has any details (what
    /// `grpc-status-details-bin` will carry).
    pub fn from_rpc_status(rpc: &RpcStatus) -> Status {
        let status = Status::new(rpc.code, rpc.message.clone());
        if rpc.details.is_empty() {
            status
        } else {
            status.with_details(rpc.to_bytes())
        }
    }

    /// This status as a `google.rpc.Status`: the decoded [`Status::details`]
    /// (with no details, just the code and message).
    ///
    /// The status's own code and message win over those inside the details: on
    /// receipt, [`Status::from_header_values`] has already checked they agree,
    /// and a locally built status is what its author set.
    pub fn to_rpc_status(&self) -> Result<RpcStatus, RpcStatusError> {
        let mut rpc = if self.details().is_empty() {
            RpcStatus::default()
        } else {
            RpcStatus::decode(self.details())?
        };
        rpc.code = self.code();
        rpc.message = String::from(self.message());
        Ok(rpc)
    }
}

/// Why bytes are not a valid `google.rpc.Status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RpcStatusError {
    /// The input ends inside a field.
    Truncated,
    /// A varint is longer than 10 bytes or overflows 64 bits.
    VarintOverflow,
    /// A field key has field number 0, or one above 2^29 - 1.
    InvalidTag,
    /// A field key has wire type 6 or 7, which protobuf does not define.
    InvalidWireType(u8),
    /// An end-group key with no matching start-group.
    UnexpectedEndGroup,
    /// Groups nested more than 100 deep.
    TooDeep,
    /// A `string` field is not UTF-8.
    InvalidUtf8 {
        /// The message and field (`"Status.message"`).
        field: &'static str,
    },
}

impl fmt::Display for RpcStatusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RpcStatusError::Truncated => f.write_str("google.rpc.Status is truncated"),
            RpcStatusError::VarintOverflow => {
                f.write_str("google.rpc.Status has a varint longer than 64 bits")
            }
            RpcStatusError::InvalidTag => {
                f.write_str("google.rpc.Status has a field key with an invalid field number")
            }
            RpcStatusError::InvalidWireType(wire_type) => {
                write!(
                    f,
                    "google.rpc.Status has a field of unknown wire type {wire_type}"
                )
            }
            RpcStatusError::UnexpectedEndGroup => {
                f.write_str("google.rpc.Status has an end-group key with no matching start-group")
            }
            RpcStatusError::TooDeep => write!(
                f,
                "google.rpc.Status nests groups more than {} deep",
                wire::MAX_GROUP_DEPTH
            ),
            RpcStatusError::InvalidUtf8 { field } => {
                write!(f, "google.rpc.Status field {field} is not valid UTF-8")
            }
        }
    }
}

impl core::error::Error for RpcStatusError {}

impl From<RpcStatusError> for Status {
    /// An `INTERNAL` status ("malformed grpc-status-details-bin: ..."), for a
    /// caller that treats bad details as an error. The trailer helpers do not:
    /// they drop bad details and keep `grpc-status`.
    fn from(err: RpcStatusError) -> Status {
        Status::internal(alloc::format!("malformed grpc-status-details-bin: {err}"))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use alloc::vec;
    use quickcheck_macros::quickcheck;

    fn retry_info() -> Any {
        Any {
            type_url: String::from("type.googleapis.com/google.rpc.RetryInfo"),
            value: Bytes::from_static(b"\x0a\x02\x08\x05"),
        }
    }

    #[test]
    fn encodes_known_bytes() {
        let cases: &[(RpcStatus, &[u8])] = &[
            (RpcStatus::default(), b""),
            (RpcStatus::new(Code::NOT_FOUND, ""), b"\x08\x05"),
            (RpcStatus::new(Code::OK, "hi"), b"\x12\x02hi"),
            (
                RpcStatus::new(Code::from_i32(-1), ""),
                b"\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",
            ),
            (
                RpcStatus {
                    code: Code::INVALID_ARGUMENT,
                    message: String::from("bad"),
                    details: vec![
                        Any {
                            type_url: String::from("t/x"),
                            value: Bytes::from_static(b"\x01"),
                        },
                        Any::default(),
                    ],
                },
                b"\x08\x03\x12\x03bad\x1a\x08\x0a\x03t/x\x12\x01\x01\x1a\x00",
            ),
        ];
        for (status, bytes) in cases {
            assert_eq!(status.to_bytes(), *bytes, "{status:?}");
            assert_eq!(status.encoded_len(), bytes.len(), "{status:?}");
            assert_eq!(
                RpcStatus::decode(&Bytes::from_static(bytes)).as_ref(),
                Ok(status),
                "{status:?}"
            );
        }
    }

    #[test]
    fn decodes_like_protobuf_parsers() {
        let cases: &[(&[u8], RpcStatus)] = &[
            // Last value wins for singular fields.
            (
                b"\x08\x05\x08\x07\x12\x01a\x12\x01b",
                RpcStatus::new(Code::PERMISSION_DENIED, "b"),
            ),
            // int32 from a 64-bit varint keeps the low 32 bits.
            (
                b"\x08\x80\x80\x80\x80\x10",
                RpcStatus::new(Code::OK, ""),
            ),
            // Unknown fields of every wire type are skipped.
            (
                b"\x20\x01\x29\x01\x02\x03\x04\x05\x06\x07\x08\x32\x01z\x3b\x08\x01\x3c\x45\x01\x02\x03\x04\x08\x02",
                RpcStatus::new(Code::UNKNOWN, ""),
            ),
            // A known field with another wire type is skipped, as C++ and Go do.
            (b"\x0a\x01x\x08\x03", RpcStatus::new(Code::INVALID_ARGUMENT, "")),
            (b"\x10\x05", RpcStatus::default()),
            // Unknown fields inside Any are skipped too.
            (
                b"\x1a\x05\x18\x01\x12\x01v",
                RpcStatus {
                    details: vec![Any {
                        type_url: String::new(),
                        value: Bytes::from_static(b"v"),
                    }],
                    ..RpcStatus::default()
                },
            ),
        ];
        for (bytes, expected) in cases {
            assert_eq!(
                RpcStatus::decode(&Bytes::from_static(bytes)).as_ref(),
                Ok(expected),
                "input {bytes:?}"
            );
        }
    }

    #[test]
    fn rejects_malformed_input() {
        let cases: &[(&[u8], RpcStatusError)] = &[
            (b"\x08", RpcStatusError::Truncated),
            (b"\x08\x80", RpcStatusError::Truncated),
            (b"\x12\x05abc", RpcStatusError::Truncated),
            (b"\x12", RpcStatusError::Truncated),
            (b"\x1a\x03\x0a\x05x", RpcStatusError::Truncated),
            (b"\x1a\x02\x0a", RpcStatusError::Truncated),
            (
                b"\x12\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",
                RpcStatusError::Truncated,
            ),
            (
                b"\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",
                RpcStatusError::VarintOverflow,
            ),
            (b"\x00", RpcStatusError::InvalidTag),
            (b"\x06", RpcStatusError::InvalidTag),
            (b"\x0e", RpcStatusError::InvalidWireType(6)),
            (b"\x1f", RpcStatusError::InvalidWireType(7)),
            (b"\x0c", RpcStatusError::UnexpectedEndGroup),
            (b"\x0b\x14", RpcStatusError::UnexpectedEndGroup),
            (b"\x0b", RpcStatusError::Truncated),
            (
                b"\x12\x01\xff",
                RpcStatusError::InvalidUtf8 {
                    field: "Status.message",
                },
            ),
            (
                b"\x1a\x03\x0a\x01\xc3",
                RpcStatusError::InvalidUtf8 {
                    field: "Any.type_url",
                },
            ),
        ];
        for (bytes, err) in cases {
            assert_eq!(
                RpcStatus::decode(&Bytes::from_static(bytes)),
                Err(*err),
                "input {bytes:?}"
            );
        }
    }

    #[test]
    fn truncating_a_valid_message_never_panics() {
        let status = RpcStatus {
            code: Code::from_i32(-7),
            message: String::from("quota exceeded é"),
            details: vec![retry_info(), Any::default(), retry_info()],
        };
        let bytes = status.to_bytes();
        for len in 0..bytes.len() {
            // Some prefixes end on a field boundary and decode; the rest are errors.
            if let Ok(prefix) = RpcStatus::decode(&bytes.slice(..len)) {
                assert!(prefix.details.len() <= status.details.len());
            }
        }
        assert_eq!(RpcStatus::decode(&bytes).unwrap(), status);
    }

    #[test]
    fn details_share_the_input() {
        let bytes = RpcStatus {
            details: vec![retry_info()],
            ..RpcStatus::new(Code::UNAVAILABLE, "later")
        }
        .to_bytes();
        let decoded = RpcStatus::decode(&bytes).unwrap();
        let value = &decoded.details[0].value;
        let input = bytes.as_ptr_range();
        assert!(input.contains(&value.as_ptr()));
    }

    #[test]
    fn status_conversions() {
        let rpc = RpcStatus {
            details: vec![retry_info()],
            ..RpcStatus::new(Code::UNAVAILABLE, "later")
        };
        let status = Status::from_rpc_status(&rpc);
        assert_eq!(status.code(), Code::UNAVAILABLE);
        assert_eq!(status.message(), "later");
        assert_eq!(status.details(), &rpc.to_bytes());
        assert_eq!(status.to_rpc_status().as_ref(), Ok(&rpc));

        // No details: nothing to send in grpc-status-details-bin.
        let plain = Status::from_rpc_status(&RpcStatus::new(Code::NOT_FOUND, "gone"));
        assert!(plain.details().is_empty());
        assert_eq!(
            plain.to_rpc_status(),
            Ok(RpcStatus::new(Code::NOT_FOUND, "gone"))
        );

        // The status's own code and message win.
        let status = Status::aborted("retry").with_details(rpc.to_bytes());
        let back = status.to_rpc_status().unwrap();
        assert_eq!(back.code, Code::ABORTED);
        assert_eq!(back.message, "retry");
        assert_eq!(back.details, vec![retry_info()]);

        let broken = Status::internal("x").with_details(Bytes::from_static(b"\x12"));
        assert_eq!(broken.to_rpc_status(), Err(RpcStatusError::Truncated));
        let status = Status::from(RpcStatusError::Truncated);
        assert_eq!(status.code(), Code::INTERNAL);
        assert_eq!(
            status.message(),
            "malformed grpc-status-details-bin: google.rpc.Status is truncated"
        );
    }

    #[quickcheck]
    fn round_trips(code: i32, message: String, details: Vec<(String, Vec<u8>)>) -> bool {
        let status = RpcStatus {
            code: Code::from_i32(code),
            message,
            details: details
                .into_iter()
                .map(|(type_url, value)| Any {
                    type_url,
                    value: Bytes::from(value),
                })
                .collect(),
        };
        let bytes = status.to_bytes();
        bytes.len() == status.encoded_len() && RpcStatus::decode(&bytes) == Ok(status)
    }

    #[quickcheck]
    fn decode_never_panics(bytes: Vec<u8>) -> bool {
        let bytes = Bytes::from(bytes);
        match RpcStatus::decode(&bytes) {
            // What decodes re-encodes and decodes to the same value.
            Ok(status) => RpcStatus::decode(&status.to_bytes()) == Ok(status),
            Err(_) => true,
        }
    }

    #[quickcheck]
    fn decode_never_panics_on_field_soup(fields: Vec<(u8, u8, Vec<u8>)>) -> bool {
        // Plausible keys followed by random payloads reach deeper than pure noise.
        let mut input = Vec::new();
        for (field, wire_type, payload) in fields {
            let key = (u32::from(field % 5) << 3) | u32::from(wire_type % 8);
            wire::put_varint(&mut input, u64::from(key));
            if wire_type % 8 == 2 {
                wire::put_varint(&mut input, payload.len() as u64);
            }
            input.extend_from_slice(&payload);
        }
        let bytes = Bytes::from(input);
        match RpcStatus::decode(&bytes) {
            Ok(status) => RpcStatus::decode(&status.to_bytes()) == Ok(status),
            Err(_) => true,
        }
    }
}
