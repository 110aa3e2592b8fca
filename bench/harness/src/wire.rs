//! gRPC messages as bytes, without a gRPC or protobuf library.
//!
//! The load generator and the bare h2 server speak the benchmark's two services through
//! these helpers, so neither depends on any implementation under test. The encoders
//! produce exactly what prost produces (the tests check), which lets the load generator
//! compare every response byte for byte.

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// `helloworld.Greeter/SayHello`.
pub const SAY_HELLO: &str = "/helloworld.Greeter/SayHello";
/// `echo.Echo/ServerStream`.
pub const SERVER_STREAM: &str = "/echo.Echo/ServerStream";
/// `echo.Echo/BidiStream`.
pub const BIDI_STREAM: &str = "/echo.Echo/BidiStream";

/// Length of the gRPC message prefix: one flag byte, four length bytes.
pub const FRAME_HEADER_LEN: usize = 5;

/// What went wrong reading gRPC messages or the benchmark's protobuf messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WireError {
    /// The compressed flag was set; the benchmark never negotiates compression.
    Compressed,
    /// A message longer than the reader's limit.
    TooLarge {
        /// Declared length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The body ended inside a message.
    Truncated,
    /// A protobuf message that does not parse.
    BadProtobuf(&'static str),
}

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WireError::Compressed => {
                f.write_str("compressed message, but no compression was negotiated")
            }
            WireError::TooLarge { len, max } => {
                write!(f, "message of {len} bytes exceeds the limit of {max}")
            }
            WireError::Truncated => f.write_str("body ended in the middle of a message"),
            WireError::BadProtobuf(what) => write!(f, "malformed protobuf: {what}"),
        }
    }
}

impl std::error::Error for WireError {}

/// Writes the 5-byte prefix for an uncompressed message of `len` bytes.
///
/// # Panics
/// If `len` does not fit the 32-bit length field; benchmark messages are at most a few MiB.
pub fn put_frame_header(buf: &mut BytesMut, len: usize) {
    let len = u32::try_from(len).expect("gRPC message length fits in 32 bits");
    buf.put_u8(0);
    buf.put_u32(len);
}

/// `message` with its gRPC prefix, in one buffer.
pub fn frame(message: &[u8]) -> Bytes {
    let mut buf = BytesMut::with_capacity(FRAME_HEADER_LEN + message.len());
    put_frame_header(&mut buf, message.len());
    buf.put_slice(message);
    buf.freeze()
}

/// Splits a stream of DATA chunks into gRPC messages, whatever the chunking.
///
/// A message that lies within one chunk is handed out as a slice of that chunk (no
/// copy); only a message split across chunks is gathered into a buffer.
#[derive(Debug)]
pub struct Deframer {
    /// The unread rest of the last chunk, while nothing is being gathered.
    head: Bytes,
    /// A message being gathered across chunks.
    gathered: BytesMut,
    max_message: usize,
}

impl Deframer {
    /// A deframer that rejects messages longer than `max_message` bytes.
    pub fn new(max_message: usize) -> Self {
        Self {
            head: Bytes::new(),
            gathered: BytesMut::new(),
            max_message,
        }
    }

    /// Appends a DATA chunk.
    pub fn push(&mut self, chunk: Bytes) {
        if self.head.is_empty() && self.gathered.is_empty() {
            self.head = chunk;
        } else {
            self.gather();
            self.gathered.extend_from_slice(&chunk);
        }
    }

    fn gather(&mut self) {
        if !self.head.is_empty() {
            self.gathered.extend_from_slice(&self.head);
            self.head = Bytes::new();
        }
    }

    /// The next complete message, `None` if more bytes are needed.
    pub fn next_message(&mut self) -> Result<Option<Bytes>, WireError> {
        let unread: &[u8] = if self.gathered.is_empty() {
            &self.head
        } else {
            &self.gathered
        };
        let Some(header) = unread.get(..FRAME_HEADER_LEN) else {
            self.gather();
            return Ok(None);
        };
        if header[0] != 0 {
            return Err(WireError::Compressed);
        }
        let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
        if len > self.max_message {
            return Err(WireError::TooLarge {
                len,
                max: self.max_message,
            });
        }
        if unread.len() - FRAME_HEADER_LEN < len {
            self.gather();
            self.gathered
                .reserve(FRAME_HEADER_LEN + len - self.gathered.len());
            return Ok(None);
        }
        if self.gathered.is_empty() {
            self.head.advance(FRAME_HEADER_LEN);
            Ok(Some(self.head.split_to(len)))
        } else {
            self.gathered.advance(FRAME_HEADER_LEN);
            Ok(Some(self.gathered.split_to(len).freeze()))
        }
    }

    /// Checks that the body ended on a message boundary.
    pub fn finish(&self) -> Result<(), WireError> {
        if self.head.is_empty() && self.gathered.is_empty() {
            Ok(())
        } else {
            Err(WireError::Truncated)
        }
    }
}

/// Appends `value` as a protobuf varint.
pub fn put_varint(buf: &mut BytesMut, mut value: u64) {
    while value >= 0x80 {
        buf.put_u8((value as u8) | 0x80);
        value >>= 7;
    }
    buf.put_u8(value as u8);
}

/// Bytes `value` takes as a varint.
pub fn varint_len(value: u64) -> usize {
    (64 - (value | 1).leading_zeros() as usize).div_ceil(7)
}

fn get_varint(buf: &mut &[u8]) -> Result<u64, WireError> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = buf
            .split_first()
            .ok_or(WireError::BadProtobuf("truncated varint"))?;
        *buf = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return Ok(value);
        }
    }
    Err(WireError::BadProtobuf("varint longer than 10 bytes"))
}

/// One field of a protobuf message; only the wire types the benchmark uses are decoded.
enum Field<'a> {
    Varint(u32, u64),
    Bytes(u32, &'a [u8]),
    Other,
}

fn next_field<'a>(buf: &mut &'a [u8]) -> Result<Field<'a>, WireError> {
    let key = get_varint(buf)?;
    let number = u32::try_from(key >> 3).map_err(|_| WireError::BadProtobuf("field number"))?;
    match key & 7 {
        0 => Ok(Field::Varint(number, get_varint(buf)?)),
        1 | 5 => {
            let width = if key & 7 == 1 { 8 } else { 4 };
            let rest = buf
                .get(width..)
                .ok_or(WireError::BadProtobuf("truncated fixed field"))?;
            *buf = rest;
            Ok(Field::Other)
        }
        2 => {
            let len =
                usize::try_from(get_varint(buf)?).map_err(|_| WireError::BadProtobuf("length"))?;
            if buf.len() < len {
                return Err(WireError::BadProtobuf("truncated length-delimited field"));
            }
            let (value, rest) = buf.split_at(len);
            *buf = rest;
            Ok(Field::Bytes(number, value))
        }
        _ => Err(WireError::BadProtobuf("unsupported wire type")),
    }
}

fn put_bytes_field(buf: &mut BytesMut, number: u32, value: &[u8]) {
    if !value.is_empty() {
        put_varint(buf, u64::from(number) << 3 | 2);
        put_varint(buf, value.len() as u64);
        buf.put_slice(value);
    }
}

fn put_varint_field(buf: &mut BytesMut, number: u32, value: u64) {
    if value != 0 {
        put_varint(buf, u64::from(number) << 3);
        put_varint(buf, value);
    }
}

/// A `HelloRequest` whose encoding is `message_len` bytes (0, or at least 3),
/// with a name of repeating lowercase letters.
pub fn hello_request(message_len: usize) -> Bytes {
    let name_len = hello_name_len(message_len);
    let name: Vec<u8> = (0..name_len).map(|i| b'a' + (i % 26) as u8).collect();
    let mut buf = BytesMut::with_capacity(message_len);
    put_bytes_field(&mut buf, 1, &name);
    buf.freeze()
}

/// The name length whose `HelloRequest` encodes to `message_len` bytes, or the nearest
/// shorter one when no name length hits it exactly (at a varint length boundary).
fn hello_name_len(message_len: usize) -> usize {
    if message_len < 2 {
        return 0;
    }
    let mut name_len = message_len - 2;
    while name_len > 0 && 1 + varint_len(name_len as u64) + name_len > message_len {
        name_len -= 1;
    }
    name_len
}

/// The `name` of a `HelloRequest`.
pub fn parse_hello_request(mut message: &[u8]) -> Result<&[u8], WireError> {
    let mut name: &[u8] = &[];
    while !message.is_empty() {
        if let Field::Bytes(1, value) = next_field(&mut message)? {
            name = value;
        }
    }
    Ok(name)
}

/// The `HelloReply` the canonical Greeter sends for `name`: `"Hello " + name`.
pub fn hello_reply(name: &[u8]) -> Bytes {
    let mut buf = BytesMut::with_capacity(hello_reply_len(name.len()));
    put_hello_reply(&mut buf, name);
    buf.freeze()
}

/// Length of the `HelloReply` for a name of `name_len` bytes.
pub fn hello_reply_len(name_len: usize) -> usize {
    let text = "Hello ".len() + name_len;
    1 + varint_len(text as u64) + text
}

/// Appends the `HelloReply` for `name`.
pub fn put_hello_reply(buf: &mut BytesMut, name: &[u8]) {
    put_varint(buf, 1 << 3 | 2);
    put_varint(buf, ("Hello ".len() + name.len()) as u64);
    buf.put_slice(b"Hello ");
    buf.put_slice(name);
}

/// The fields of an `EchoRequest` that matter to a server.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EchoRequest {
    /// Payload bytes in each response.
    pub response_size: u32,
    /// Responses to a `ServerStream` call.
    pub response_count: u32,
    /// Length of the request's own (ignored) payload.
    pub payload_len: usize,
}

/// Encodes an `EchoRequest` with `payload_len` zero bytes of payload.
pub fn echo_request(request: EchoRequest) -> Bytes {
    let mut buf = BytesMut::with_capacity(24 + request.payload_len);
    put_varint_field(&mut buf, 1, u64::from(request.response_size));
    put_varint_field(&mut buf, 2, u64::from(request.response_count));
    if request.payload_len > 0 {
        put_varint(&mut buf, 3 << 3 | 2);
        put_varint(&mut buf, request.payload_len as u64);
        buf.put_bytes(0, request.payload_len);
    }
    buf.freeze()
}

/// Decodes an `EchoRequest`.
pub fn parse_echo_request(mut message: &[u8]) -> Result<EchoRequest, WireError> {
    let mut request = EchoRequest::default();
    while !message.is_empty() {
        match next_field(&mut message)? {
            Field::Varint(1, v) => request.response_size = v as u32,
            Field::Varint(2, v) => request.response_count = v as u32,
            Field::Bytes(3, payload) => request.payload_len = payload.len(),
            _ => {}
        }
    }
    Ok(request)
}

/// An `EchoResponse` with `size` zero bytes of payload.
pub fn echo_response(size: usize) -> Bytes {
    let mut buf = BytesMut::with_capacity(echo_response_len(size));
    put_echo_response_head(&mut buf, size);
    buf.put_bytes(0, size);
    buf.freeze()
}

/// Bytes an `EchoResponse` with `size` bytes of payload takes (proto3 leaves an
/// empty payload out).
pub fn echo_response_len(size: usize) -> usize {
    if size == 0 {
        0
    } else {
        1 + varint_len(size as u64) + size
    }
}

/// Appends an `EchoResponse` carrying `payload`.
pub fn put_echo_response(buf: &mut BytesMut, payload: &[u8]) {
    put_echo_response_head(buf, payload.len());
    buf.put_slice(payload);
}

/// The payload field's tag and length, if the payload is not empty.
fn put_echo_response_head(buf: &mut BytesMut, size: usize) {
    if size > 0 {
        put_varint(buf, 1 << 3 | 2);
        put_varint(buf, size as u64);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use prost::Message;

    // The benchmark protos, declared by hand with prost's derive: the reference encoding.
    #[derive(Clone, PartialEq, prost::Message)]
    struct HelloRequest {
        #[prost(string, tag = "1")]
        name: String,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    struct HelloReply {
        #[prost(string, tag = "1")]
        message: String,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    struct ProstEchoRequest {
        #[prost(uint32, tag = "1")]
        response_size: u32,
        #[prost(uint32, tag = "2")]
        response_count: u32,
        #[prost(bytes = "vec", tag = "3")]
        payload: Vec<u8>,
    }
    /// A payload that is not all zeros, so that misplaced bytes show.
    fn reference_payload(size: u32) -> Vec<u8> {
        (0..size).map(|i| i as u8 ^ 0x5a).collect()
    }

    #[derive(Clone, PartialEq, prost::Message)]
    struct EchoResponse {
        #[prost(bytes = "vec", tag = "1")]
        payload: Vec<u8>,
    }

    #[test]
    fn varint_len_matches_encoding() {
        for v in [
            0,
            1,
            127,
            128,
            16_383,
            16_384,
            2_097_151,
            2_097_152,
            u64::MAX,
        ] {
            let mut buf = BytesMut::new();
            put_varint(&mut buf, v);
            assert_eq!(varint_len(v), buf.len(), "{v}");
            assert_eq!(get_varint(&mut &buf[..]).unwrap(), v);
        }
    }

    #[test]
    fn hello_request_has_the_asked_size_and_matches_prost() {
        for len in [0, 3, 10, 129, 130, 131, 1024, 16_387, 65_536] {
            let bytes = hello_request(len);
            let decoded = HelloRequest::decode(&bytes[..]).unwrap();
            assert_eq!(decoded.encode_to_vec(), bytes.to_vec());
            assert!(
                bytes.len() <= len && len - bytes.len() <= 1,
                "asked {len}, got {}",
                bytes.len()
            );
            assert_eq!(
                parse_hello_request(&bytes).unwrap(),
                decoded.name.as_bytes()
            );
        }
        // The two sizes the scenarios use are hit exactly.
        assert_eq!(hello_request(10).len(), 10);
        assert_eq!(hello_request(65_536).len(), 65_536);
    }

    #[test]
    fn hello_reply_matches_prost_and_its_length() {
        for name in ["", "world", &"x".repeat(200), &"y".repeat(70_000)] {
            let reply = hello_reply(name.as_bytes());
            let expected = HelloReply {
                message: format!("Hello {name}"),
            }
            .encode_to_vec();
            assert_eq!(reply.to_vec(), expected);
            assert_eq!(hello_reply_len(name.len()), reply.len());
        }
    }

    #[test]
    fn echo_messages_match_prost() {
        for (size, count, payload) in [(0, 0, 0), (1024, 100, 0), (1 << 20, 0, 1 << 20), (5, 1, 3)]
        {
            let req = EchoRequest {
                response_size: size,
                response_count: count,
                payload_len: payload,
            };
            let bytes = echo_request(req);
            let reference = ProstEchoRequest {
                response_size: size,
                response_count: count,
                payload: vec![0; payload],
            };
            assert_eq!(bytes.to_vec(), reference.encode_to_vec());
            assert_eq!(parse_echo_request(&bytes).unwrap(), req);
            let resp = echo_response(size as usize);
            let reference = EchoResponse {
                payload: vec![0; size as usize],
            }
            .encode_to_vec();
            assert_eq!(resp.to_vec(), reference);
            assert_eq!(echo_response_len(size as usize), reference.len());
            let mut built = BytesMut::new();
            put_echo_response(&mut built, &reference_payload(size));
            assert_eq!(
                built.to_vec(),
                EchoResponse {
                    payload: reference_payload(size)
                }
                .encode_to_vec()
            );
        }
    }

    #[test]
    fn parsers_skip_unknown_fields_and_reject_malformed_input() {
        // Unknown varint (field 9), fixed64 (10), fixed32 (11) and bytes (12) fields.
        let mut buf = BytesMut::new();
        put_varint_field(&mut buf, 9, 300);
        buf.put_slice(&[10 << 3 | 1, 1, 2, 3, 4, 5, 6, 7, 8, 11 << 3 | 5, 1, 2, 3, 4]);
        put_bytes_field(&mut buf, 12, b"zz");
        put_bytes_field(&mut buf, 1, b"bob");
        assert_eq!(parse_hello_request(&buf).unwrap(), b"bob");

        let cases: &[&[u8]] = &[
            &[0x0a],          // key, no length
            &[0x0a, 5, b'a'], // length past the end
            &[0x08],          // key, no varint
            &[0x08, 0x80],    // unterminated varint
            &[0x09, 1, 2],    // truncated fixed64
            &[0x0d, 1],       // truncated fixed32
            &[0x0b],          // group start: unsupported
            &[0x80; 11],      // varint too long
        ];
        for case in cases {
            assert!(parse_hello_request(case).is_err(), "{case:?}");
            assert!(parse_echo_request(case).is_err(), "{case:?}");
        }
    }

    #[test]
    fn deframer_reassembles_any_chunking() {
        let messages = [
            hello_request(10),
            Bytes::new(),
            echo_response(3000),
            hello_request(200),
        ];
        let mut wire = Vec::new();
        for m in &messages {
            wire.extend_from_slice(&frame(m));
        }
        for chunk in [1, 2, 5, 7, 100, wire.len()] {
            let mut deframer = Deframer::new(1 << 20);
            let mut out = Vec::new();
            for piece in wire.chunks(chunk) {
                deframer.push(Bytes::copy_from_slice(piece));
                while let Some(m) = deframer.next_message().unwrap() {
                    out.push(m);
                }
            }
            deframer.finish().unwrap();
            assert_eq!(out, messages, "chunk size {chunk}");
        }
    }

    #[test]
    fn deframer_rejects_compressed_oversized_and_truncated_bodies() {
        let mut d = Deframer::new(16);
        d.push(Bytes::from_static(&[1, 0, 0, 0, 1, 7]));
        assert_eq!(d.next_message(), Err(WireError::Compressed));

        let mut d = Deframer::new(16);
        d.push(Bytes::from_static(&[0, 0, 0, 0, 17]));
        assert_eq!(
            d.next_message(),
            Err(WireError::TooLarge { len: 17, max: 16 })
        );

        let mut d = Deframer::new(16);
        d.push(Bytes::from_static(&[0, 0, 0, 0, 4, 1, 2]));
        assert_eq!(d.next_message(), Ok(None));
        assert_eq!(d.finish(), Err(WireError::Truncated));
        d.push(Bytes::from_static(&[3, 4]));
        assert_eq!(
            d.next_message(),
            Ok(Some(Bytes::from_static(&[1, 2, 3, 4])))
        );
        assert_eq!(d.finish(), Ok(()));
    }

    #[test]
    fn deframer_slices_whole_messages_out_of_the_chunk_without_copying() {
        let mut wire = frame(b"one").to_vec();
        wire.extend_from_slice(&frame(b"two"));
        let chunk = Bytes::from(wire);
        let mut d = Deframer::new(16);
        d.push(chunk.clone());
        let one = d.next_message().unwrap().unwrap();
        let two = d.next_message().unwrap().unwrap();
        assert_eq!((&one[..], &two[..]), (&b"one"[..], &b"two"[..]));
        // Both point into the chunk's own memory.
        assert_eq!(one.as_ptr(), chunk[5..].as_ptr());
        assert_eq!(two.as_ptr(), chunk[13..].as_ptr());
        assert_eq!(d.next_message(), Ok(None));
        d.finish().unwrap();
    }
}
