//! Raw HTTP/2 frames for tests: encoders for every frame type (including
//! deliberately malformed ones through [`raw_frame`]) and [`FrameReader`],
//! which parses a byte stream back into [`Frame`] values, joining
//! HEADERS/PUSH_PROMISE with their CONTINUATIONs and HPACK-decoding them.
//!
//! Written from RFC 9113 and independent of the crate under test, so that
//! the two can check each other.

use std::fmt;

/// The HTTP/2 client connection preface.
pub const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Frame type numbers (RFC 9113 §6).
pub mod kind {
    pub const DATA: u8 = 0x0;
    pub const HEADERS: u8 = 0x1;
    pub const PRIORITY: u8 = 0x2;
    pub const RST_STREAM: u8 = 0x3;
    pub const SETTINGS: u8 = 0x4;
    pub const PUSH_PROMISE: u8 = 0x5;
    pub const PING: u8 = 0x6;
    pub const GOAWAY: u8 = 0x7;
    pub const WINDOW_UPDATE: u8 = 0x8;
    pub const CONTINUATION: u8 = 0x9;
}

/// Frame flags.
pub mod flag {
    pub const END_STREAM: u8 = 0x1;
    pub const ACK: u8 = 0x1;
    pub const END_HEADERS: u8 = 0x4;
    pub const PADDED: u8 = 0x8;
    pub const PRIORITY: u8 = 0x20;
}

/// SETTINGS identifiers.
pub mod setting {
    pub const HEADER_TABLE_SIZE: u16 = 0x1;
    pub const ENABLE_PUSH: u16 = 0x2;
    pub const MAX_CONCURRENT_STREAMS: u16 = 0x3;
    pub const INITIAL_WINDOW_SIZE: u16 = 0x4;
    pub const MAX_FRAME_SIZE: u16 = 0x5;
    pub const MAX_HEADER_LIST_SIZE: u16 = 0x6;
}

/// HTTP/2 error codes (RFC 9113 §7).
pub mod error_code {
    pub const NO_ERROR: u32 = 0x0;
    pub const PROTOCOL_ERROR: u32 = 0x1;
    pub const INTERNAL_ERROR: u32 = 0x2;
    pub const FLOW_CONTROL_ERROR: u32 = 0x3;
    pub const SETTINGS_TIMEOUT: u32 = 0x4;
    pub const STREAM_CLOSED: u32 = 0x5;
    pub const FRAME_SIZE_ERROR: u32 = 0x6;
    pub const REFUSED_STREAM: u32 = 0x7;
    pub const CANCEL: u32 = 0x8;
    pub const COMPRESSION_ERROR: u32 = 0x9;
    pub const CONNECT_ERROR: u32 = 0xa;
    pub const ENHANCE_YOUR_CALM: u32 = 0xb;
    pub const INADEQUATE_SECURITY: u32 = 0xc;
    pub const HTTP_1_1_REQUIRED: u32 = 0xd;
}

/// A header list as decoded or to encode: `(name, value)` in wire order.
/// Values are text (gRPC binary metadata travels base64-encoded).
pub type Fields = Vec<(String, String)>;

/// Builds a [`Fields`] list from string pairs.
pub fn fields(pairs: &[(&str, &str)]) -> Fields {
    pairs
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect()
}

/// The first value of `name` in a header list.
pub fn field<'a>(fields: &'a Fields, name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// One parsed frame. HEADERS and PUSH_PROMISE come with their header block
/// already joined with any CONTINUATIONs and decoded.
#[derive(Clone, PartialEq, Eq)]
pub enum Frame {
    Data {
        stream_id: u32,
        data: Vec<u8>,
        end_stream: bool,
        /// Padding length including the pad-length byte, 0 when unpadded
        /// (counts against flow control like the data).
        padding: usize,
    },
    Headers {
        stream_id: u32,
        fields: Fields,
        end_stream: bool,
        /// Number of CONTINUATION frames the block arrived in.
        continuations: usize,
    },
    Priority {
        stream_id: u32,
        dependency: u32,
        exclusive: bool,
        weight: u8,
    },
    RstStream {
        stream_id: u32,
        error_code: u32,
    },
    Settings {
        ack: bool,
        settings: Vec<(u16, u32)>,
    },
    PushPromise {
        stream_id: u32,
        promised_id: u32,
        fields: Fields,
    },
    Ping {
        ack: bool,
        payload: [u8; 8],
    },
    GoAway {
        last_stream_id: u32,
        error_code: u32,
        debug_data: Vec<u8>,
    },
    WindowUpdate {
        stream_id: u32,
        increment: u32,
    },
    Unknown {
        kind: u8,
        flags: u8,
        stream_id: u32,
        payload: Vec<u8>,
    },
}

impl fmt::Debug for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Frame::Data {
                stream_id,
                data,
                end_stream,
                padding,
            } => write!(
                f,
                "DATA(stream {stream_id}, {} bytes{}{}) {:?}",
                data.len(),
                if *end_stream { ", END_STREAM" } else { "" },
                if *padding > 0 { ", padded" } else { "" },
                Printable(data)
            ),
            Frame::Headers {
                stream_id,
                fields,
                end_stream,
                continuations,
            } => write!(
                f,
                "HEADERS(stream {stream_id}{}{}) {fields:?}",
                if *end_stream { ", END_STREAM" } else { "" },
                if *continuations > 0 {
                    format!(", {continuations} CONTINUATION")
                } else {
                    String::new()
                },
            ),
            Frame::Priority {
                stream_id,
                dependency,
                exclusive,
                weight,
            } => write!(
                f,
                "PRIORITY(stream {stream_id}, on {dependency}, weight {weight}{})",
                if *exclusive { ", exclusive" } else { "" }
            ),
            Frame::RstStream {
                stream_id,
                error_code,
            } => write!(f, "RST_STREAM(stream {stream_id}, code {error_code:#x})"),
            Frame::Settings { ack, settings } => {
                write!(
                    f,
                    "SETTINGS{} {settings:?}",
                    if *ack { "(ACK)" } else { "" }
                )
            }
            Frame::PushPromise {
                stream_id,
                promised_id,
                fields,
            } => write!(
                f,
                "PUSH_PROMISE(stream {stream_id} -> {promised_id}) {fields:?}"
            ),
            Frame::Ping { ack, payload } => {
                write!(f, "PING{} {payload:?}", if *ack { "(ACK)" } else { "" })
            }
            Frame::GoAway {
                last_stream_id,
                error_code,
                debug_data,
            } => write!(
                f,
                "GOAWAY(last {last_stream_id}, code {error_code:#x}) {:?}",
                Printable(debug_data)
            ),
            Frame::WindowUpdate {
                stream_id,
                increment,
            } => write!(f, "WINDOW_UPDATE(stream {stream_id}, +{increment})"),
            Frame::Unknown {
                kind,
                flags,
                stream_id,
                payload,
            } => write!(
                f,
                "FRAME(type {kind:#x}, flags {flags:#x}, stream {stream_id}) {:?}",
                Printable(payload)
            ),
        }
    }
}

struct Printable<'a>(&'a [u8]);

impl fmt::Debug for Printable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 64;
        let shown = &self.0[..self.0.len().min(SHOWN)];
        write!(f, "b\"{}", shown.escape_ascii())?;
        if self.0.len() > SHOWN {
            f.write_str("...")?;
        }
        f.write_str("\"")
    }
}

// ===== encoding =====

/// Appends one frame with exactly these header fields and payload. The
/// length field is the payload's length; anything goes otherwise, which is
/// how malformed frames are made (wrong stream, bad flags, bad payload).
pub fn raw_frame(out: &mut Vec<u8>, kind: u8, flags: u8, stream_id: u32, payload: &[u8]) {
    let len = u32::try_from(payload.len()).expect("payload length fits u32");
    assert!(
        len < 1 << 24,
        "an HTTP/2 frame payload is at most 2^24-1 bytes"
    );
    frame_header(out, len, kind, flags, stream_id);
    out.extend_from_slice(payload);
}

/// Appends a frame header alone, with any length field (to lie about the
/// length, or to send a payload in pieces).
pub fn frame_header(out: &mut Vec<u8>, length: u32, kind: u8, flags: u8, stream_id: u32) {
    out.extend_from_slice(&length.to_be_bytes()[1..]);
    out.push(kind);
    out.push(flags);
    out.extend_from_slice(&stream_id.to_be_bytes());
}

/// SETTINGS with these `(identifier, value)` pairs.
pub fn settings(out: &mut Vec<u8>, settings: &[(u16, u32)]) {
    let mut payload = Vec::with_capacity(settings.len() * 6);
    for (id, value) in settings {
        payload.extend_from_slice(&id.to_be_bytes());
        payload.extend_from_slice(&value.to_be_bytes());
    }
    raw_frame(out, kind::SETTINGS, 0, 0, &payload);
}

/// An empty SETTINGS with the ACK flag.
pub fn settings_ack(out: &mut Vec<u8>) {
    raw_frame(out, kind::SETTINGS, flag::ACK, 0, &[]);
}

/// DATA, unpadded.
pub fn data(out: &mut Vec<u8>, stream_id: u32, data: &[u8], end_stream: bool) {
    let flags = if end_stream { flag::END_STREAM } else { 0 };
    raw_frame(out, kind::DATA, flags, stream_id, data);
}

/// DATA with the PADDED flag and `pad_len` zero bytes of padding.
pub fn data_padded(out: &mut Vec<u8>, stream_id: u32, data: &[u8], pad_len: u8, end_stream: bool) {
    let mut flags = flag::PADDED;
    if end_stream {
        flags |= flag::END_STREAM;
    }
    let mut payload = Vec::with_capacity(1 + data.len() + usize::from(pad_len));
    payload.push(pad_len);
    payload.extend_from_slice(data);
    payload.resize(payload.len() + usize::from(pad_len), 0);
    raw_frame(out, kind::DATA, flags, stream_id, &payload);
}

/// RST_STREAM with an error code.
pub fn rst_stream(out: &mut Vec<u8>, stream_id: u32, error_code: u32) {
    raw_frame(
        out,
        kind::RST_STREAM,
        0,
        stream_id,
        &error_code.to_be_bytes(),
    );
}

/// PING (or its ACK) with an 8-byte payload.
pub fn ping(out: &mut Vec<u8>, payload: [u8; 8], ack: bool) {
    raw_frame(
        out,
        kind::PING,
        if ack { flag::ACK } else { 0 },
        0,
        &payload,
    );
}

/// GOAWAY with the last stream id, error code and debug data.
pub fn goaway(out: &mut Vec<u8>, last_stream_id: u32, error_code: u32, debug_data: &[u8]) {
    let mut payload = Vec::with_capacity(8 + debug_data.len());
    payload.extend_from_slice(&last_stream_id.to_be_bytes());
    payload.extend_from_slice(&error_code.to_be_bytes());
    payload.extend_from_slice(debug_data);
    raw_frame(out, kind::GOAWAY, 0, 0, &payload);
}

/// WINDOW_UPDATE for a stream (0 for the connection).
pub fn window_update(out: &mut Vec<u8>, stream_id: u32, increment: u32) {
    raw_frame(
        out,
        kind::WINDOW_UPDATE,
        0,
        stream_id,
        &increment.to_be_bytes(),
    );
}

/// PRIORITY. `weight` is the wire value (actual weight minus one).
pub fn priority(out: &mut Vec<u8>, stream_id: u32, dependency: u32, exclusive: bool, weight: u8) {
    let dep = dependency | if exclusive { 0x8000_0000 } else { 0 };
    let mut payload = dep.to_be_bytes().to_vec();
    payload.push(weight);
    raw_frame(out, kind::PRIORITY, 0, stream_id, &payload);
}

/// A header block cut into a HEADERS frame and as many CONTINUATION frames
/// as needed so that no fragment exceeds `fragment_size` bytes.
pub fn header_block_frames(
    out: &mut Vec<u8>,
    stream_id: u32,
    block: &[u8],
    end_stream: bool,
    fragment_size: usize,
) {
    assert!(fragment_size > 0, "fragment size must be positive");
    let mut chunks = block.chunks(fragment_size);
    let first = chunks.next().unwrap_or(&[]);
    let rest: Vec<&[u8]> = chunks.collect();
    let mut flags = if end_stream { flag::END_STREAM } else { 0 };
    if rest.is_empty() {
        flags |= flag::END_HEADERS;
    }
    raw_frame(out, kind::HEADERS, flags, stream_id, first);
    for (i, chunk) in rest.iter().enumerate() {
        let flags = if i + 1 == rest.len() {
            flag::END_HEADERS
        } else {
            0
        };
        raw_frame(out, kind::CONTINUATION, flags, stream_id, chunk);
    }
}

// ===== decoding =====

/// Which end's bytes a [`FrameReader`] reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reading {
    /// A client's output: starts with the 24-byte preface.
    FromClient,
    /// A server's output: frames from the first byte.
    FromServer,
}

struct PendingBlock {
    kind: u8,
    stream_id: u32,
    end_stream: bool,
    promised_id: u32,
    block: Vec<u8>,
    continuations: usize,
}

/// Parses frames out of a byte stream fed in any chunking, decoding header
/// blocks with its own HPACK decoder (so feed it one connection direction,
/// all of it, in order).
///
/// It panics with a message naming the problem when the stream is not
/// valid HTTP/2: in a test, that is the assertion.
pub struct FrameReader {
    buf: Vec<u8>,
    preface_pending: bool,
    decoder: loona_hpack::Decoder<'static>,
    pending: Option<PendingBlock>,
}

impl FrameReader {
    pub fn new(reading: Reading) -> FrameReader {
        FrameReader {
            buf: Vec::new(),
            preface_pending: reading == Reading::FromClient,
            decoder: loona_hpack::Decoder::new(),
            pending: None,
        }
    }

    /// Adds received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes received but not yet parsed (a partial frame).
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next complete frame, or `None` if more bytes are needed.
    pub fn next_frame(&mut self) -> Option<Frame> {
        if self.preface_pending {
            if self.buf.len() < PREFACE.len() {
                assert!(
                    PREFACE.starts_with(&self.buf),
                    "expected the client preface, got {:?}",
                    self.buf.escape_ascii().to_string()
                );
                return None;
            }
            assert_eq!(
                &self.buf[..PREFACE.len()],
                PREFACE,
                "expected the client preface"
            );
            self.buf.drain(..PREFACE.len());
            self.preface_pending = false;
        }
        loop {
            if self.buf.len() < 9 {
                return None;
            }
            let len = u32::from_be_bytes([0, self.buf[0], self.buf[1], self.buf[2]]) as usize;
            if self.buf.len() < 9 + len {
                return None;
            }
            let kind = self.buf[3];
            let flags = self.buf[4];
            let stream_id =
                u32::from_be_bytes([self.buf[5], self.buf[6], self.buf[7], self.buf[8]])
                    & 0x7fff_ffff;
            let payload: Vec<u8> = self.buf[9..9 + len].to_vec();
            self.buf.drain(..9 + len);
            if let Some(frame) = self.parse(kind, flags, stream_id, payload) {
                return Some(frame);
            }
        }
    }

    /// Every complete frame buffered now.
    pub fn frames(&mut self) -> Vec<Frame> {
        std::iter::from_fn(|| self.next_frame()).collect()
    }

    fn parse(&mut self, kind: u8, flags: u8, stream_id: u32, payload: Vec<u8>) -> Option<Frame> {
        if let Some(pending) = &mut self.pending {
            assert!(
                kind == kind::CONTINUATION && stream_id == pending.stream_id,
                "expected CONTINUATION on stream {}, got type {kind:#x} on stream {stream_id}",
                pending.stream_id
            );
            pending.block.extend_from_slice(&payload);
            pending.continuations += 1;
            if flags & flag::END_HEADERS != 0 {
                let done = self.pending.take().expect("pending block");
                return Some(self.finish_block(done));
            }
            return None;
        }
        let frame = match kind {
            kind::DATA => {
                let (data, padding) = strip_padding(flags, payload);
                Frame::Data {
                    stream_id,
                    data,
                    end_stream: flags & flag::END_STREAM != 0,
                    padding,
                }
            }
            kind::HEADERS | kind::PUSH_PROMISE => {
                let (mut block, _) = strip_padding(flags, payload);
                let mut promised_id = 0;
                if kind == kind::HEADERS && flags & flag::PRIORITY != 0 {
                    assert!(block.len() >= 5, "HEADERS with PRIORITY flag too short");
                    block.drain(..5);
                }
                if kind == kind::PUSH_PROMISE {
                    assert!(block.len() >= 4, "PUSH_PROMISE too short");
                    promised_id =
                        u32::from_be_bytes([block[0], block[1], block[2], block[3]]) & 0x7fff_ffff;
                    block.drain(..4);
                }
                let pending = PendingBlock {
                    kind,
                    stream_id,
                    end_stream: flags & flag::END_STREAM != 0,
                    promised_id,
                    block,
                    continuations: 0,
                };
                if flags & flag::END_HEADERS == 0 {
                    self.pending = Some(pending);
                    return None;
                }
                self.finish_block(pending)
            }
            kind::PRIORITY => {
                assert_eq!(payload.len(), 5, "PRIORITY payload must be 5 bytes");
                let dep = u32::from_be_bytes([payload[0], payload[1], payload[2], payload[3]]);
                Frame::Priority {
                    stream_id,
                    dependency: dep & 0x7fff_ffff,
                    exclusive: dep & 0x8000_0000 != 0,
                    weight: payload[4],
                }
            }
            kind::RST_STREAM => Frame::RstStream {
                stream_id,
                error_code: be_u32(&payload, "RST_STREAM"),
            },
            kind::SETTINGS => {
                assert_eq!(
                    payload.len() % 6,
                    0,
                    "SETTINGS payload must be a multiple of 6"
                );
                Frame::Settings {
                    ack: flags & flag::ACK != 0,
                    settings: payload
                        .chunks(6)
                        .map(|c| {
                            (
                                u16::from_be_bytes([c[0], c[1]]),
                                u32::from_be_bytes([c[2], c[3], c[4], c[5]]),
                            )
                        })
                        .collect(),
                }
            }
            kind::PING => Frame::Ping {
                ack: flags & flag::ACK != 0,
                payload: payload
                    .as_slice()
                    .try_into()
                    .expect("PING payload must be 8 bytes"),
            },
            kind::GOAWAY => {
                assert!(payload.len() >= 8, "GOAWAY payload too short");
                Frame::GoAway {
                    last_stream_id: be_u32(&payload[..4], "GOAWAY") & 0x7fff_ffff,
                    error_code: be_u32(&payload[4..8], "GOAWAY"),
                    debug_data: payload[8..].to_vec(),
                }
            }
            kind::WINDOW_UPDATE => Frame::WindowUpdate {
                stream_id,
                increment: be_u32(&payload, "WINDOW_UPDATE") & 0x7fff_ffff,
            },
            kind::CONTINUATION => panic!("CONTINUATION on stream {stream_id} without HEADERS"),
            _ => Frame::Unknown {
                kind,
                flags,
                stream_id,
                payload,
            },
        };
        Some(frame)
    }

    fn finish_block(&mut self, pending: PendingBlock) -> Frame {
        let mut fields = Fields::new();
        self.decoder
            .decode_with_cb(&pending.block, |name, value| {
                fields.push((
                    String::from_utf8_lossy(&name).into_owned(),
                    String::from_utf8_lossy(&value).into_owned(),
                ));
            })
            .unwrap_or_else(|e| panic!("HPACK decoding failed: {e:?}"));
        if pending.kind == kind::PUSH_PROMISE {
            Frame::PushPromise {
                stream_id: pending.stream_id,
                promised_id: pending.promised_id,
                fields,
            }
        } else {
            Frame::Headers {
                stream_id: pending.stream_id,
                fields,
                end_stream: pending.end_stream,
                continuations: pending.continuations,
            }
        }
    }
}

fn be_u32(payload: &[u8], what: &str) -> u32 {
    u32::from_be_bytes(
        payload
            .try_into()
            .unwrap_or_else(|_| panic!("{what} payload must be 4 bytes, got {}", payload.len())),
    )
}

/// Removes the padding of a PADDED frame; returns the content and the
/// padding length counted the way flow control counts it.
fn strip_padding(flags: u8, mut payload: Vec<u8>) -> (Vec<u8>, usize) {
    if flags & flag::PADDED == 0 {
        return (payload, 0);
    }
    assert!(!payload.is_empty(), "PADDED frame without a pad length");
    let pad = usize::from(payload[0]);
    assert!(pad < payload.len(), "padding longer than the frame");
    payload.truncate(payload.len() - pad);
    payload.remove(0);
    (payload, pad + 1)
}
