//! An incremental scanner over the HTTP/2 bytes a connection receives.
//!
//! h2 answers PINGs on its own and never tells its user that one arrived, so
//! ping-abuse enforcement and keepalive need a second, very small reader of
//! the same bytes. [`InboundFrameSniffer`] parses only the 9-byte frame
//! headers, skips payloads without buffering them, and holds at most one
//! partial frame header (9 bytes) between calls.

use core::fmt;

/// The connection preface an HTTP/2 client sends before its first frame
/// (RFC 9113 §3.4).
pub const CLIENT_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Length of an HTTP/2 frame header.
pub const FRAME_HEADER_LEN: usize = 9;

/// The initial `SETTINGS_MAX_FRAME_SIZE` of every HTTP/2 endpoint.
pub const DEFAULT_MAX_FRAME_SIZE: u32 = 16_384;

/// The largest `SETTINGS_MAX_FRAME_SIZE` the protocol allows (2^24 - 1).
pub const MAX_FRAME_SIZE_LIMIT: u32 = (1 << 24) - 1;

/// The longest HTTP/1.x method token the sniffer accepts before it calls the
/// input garbage. Long enough for every registered method
/// (`BASELINE-CONTROL`, 16 bytes) and short enough that a verdict is always
/// reached within the first 24 bytes.
const MAX_METHOD_LEN: usize = 20;

/// An HTTP/2 frame type. An open newtype like h2's `Reason`: extension types
/// are legal and survive as their number.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FrameKind(u8);

impl FrameKind {
    /// DATA (0x0).
    pub const DATA: FrameKind = FrameKind(0x0);
    /// HEADERS (0x1).
    pub const HEADERS: FrameKind = FrameKind(0x1);
    /// PRIORITY (0x2).
    pub const PRIORITY: FrameKind = FrameKind(0x2);
    /// RST_STREAM (0x3).
    pub const RST_STREAM: FrameKind = FrameKind(0x3);
    /// SETTINGS (0x4).
    pub const SETTINGS: FrameKind = FrameKind(0x4);
    /// PUSH_PROMISE (0x5).
    pub const PUSH_PROMISE: FrameKind = FrameKind(0x5);
    /// PING (0x6).
    pub const PING: FrameKind = FrameKind(0x6);
    /// GOAWAY (0x7).
    pub const GOAWAY: FrameKind = FrameKind(0x7);
    /// WINDOW_UPDATE (0x8).
    pub const WINDOW_UPDATE: FrameKind = FrameKind(0x8);
    /// CONTINUATION (0x9).
    pub const CONTINUATION: FrameKind = FrameKind(0x9);

    /// The frame type with this number, known or not.
    pub const fn from_u8(value: u8) -> FrameKind {
        FrameKind(value)
    }

    /// The number on the wire.
    pub const fn as_u8(self) -> u8 {
        self.0
    }

    /// The RFC 9113 name (`"WINDOW_UPDATE"`), or `None` for an extension type.
    pub const fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0x0 => "DATA",
            0x1 => "HEADERS",
            0x2 => "PRIORITY",
            0x3 => "RST_STREAM",
            0x4 => "SETTINGS",
            0x5 => "PUSH_PROMISE",
            0x6 => "PING",
            0x7 => "GOAWAY",
            0x8 => "WINDOW_UPDATE",
            0x9 => "CONTINUATION",
            _ => return None,
        })
    }
}

impl fmt::Debug for FrameKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "FrameKind({:#04x})", self.0),
        }
    }
}

impl fmt::Display for FrameKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// The ACK flag of PING and SETTINGS frames.
pub const FLAG_ACK: u8 = 0x1;

/// A parsed 9-byte HTTP/2 frame header (RFC 9113 §4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FrameHeader {
    /// Payload length (24 bits).
    pub length: u32,
    /// Frame type.
    pub kind: FrameKind,
    /// Flags byte, uninterpreted.
    pub flags: u8,
    /// Stream identifier, reserved bit cleared (31 bits).
    pub stream_id: u32,
}

impl FrameHeader {
    /// Parses a frame header. Every 9-byte string is a header; the reserved
    /// bit of the stream id is dropped, as the RFC says receivers must.
    pub const fn parse(bytes: [u8; FRAME_HEADER_LEN]) -> FrameHeader {
        FrameHeader {
            length: u32::from_be_bytes([0, bytes[0], bytes[1], bytes[2]]),
            kind: FrameKind(bytes[3]),
            flags: bytes[4],
            stream_id: u32::from_be_bytes([bytes[5], bytes[6], bytes[7], bytes[8]]) & 0x7fff_ffff,
        }
    }

    /// The 9 bytes of this header. `length` is cut to 24 bits and the
    /// reserved bit of `stream_id` is written as zero.
    pub const fn encode(&self) -> [u8; FRAME_HEADER_LEN] {
        let len = self.length.to_be_bytes();
        let id = (self.stream_id & 0x7fff_ffff).to_be_bytes();
        [
            len[1],
            len[2],
            len[3],
            self.kind.0,
            self.flags,
            id[0],
            id[1],
            id[2],
            id[3],
        ]
    }

    /// A PING that asks for an answer (no ACK flag): the frames ping-abuse
    /// enforcement counts.
    pub const fn is_ping(&self) -> bool {
        self.kind.0 == FrameKind::PING.0 && self.flags & FLAG_ACK == 0
    }

    /// A PING with the ACK flag: the answer to a PING we sent.
    pub const fn is_ping_ack(&self) -> bool {
        self.kind.0 == FrameKind::PING.0 && self.flags & FLAG_ACK != 0
    }

    /// A HEADERS or DATA frame.
    pub const fn is_headers_or_data(&self) -> bool {
        self.kind.0 == FrameKind::HEADERS.0 || self.kind.0 == FrameKind::DATA.0
    }
}

/// How many frames of each kind a sniffer has seen. Counters saturate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct FrameCounts {
    /// All frames, of every type.
    pub frames: u64,
    /// DATA frames.
    pub data: u64,
    /// HEADERS frames (not counting their CONTINUATIONs).
    pub headers: u64,
    /// CONTINUATION frames.
    pub continuations: u64,
    /// PING frames without the ACK flag.
    pub pings: u64,
    /// PING frames with the ACK flag.
    pub ping_acks: u64,
    /// SETTINGS frames, ACKs included.
    pub settings: u64,
    /// RST_STREAM frames.
    pub rst_streams: u64,
    /// GOAWAY frames.
    pub goaways: u64,
    /// WINDOW_UPDATE frames.
    pub window_updates: u64,
    /// PRIORITY, PUSH_PROMISE and extension frames.
    pub other: u64,
}

impl FrameCounts {
    /// Counts one frame.
    pub fn record(&mut self, header: &FrameHeader) {
        self.frames = self.frames.saturating_add(1);
        let slot = match header.kind {
            FrameKind::DATA => &mut self.data,
            FrameKind::HEADERS => &mut self.headers,
            FrameKind::CONTINUATION => &mut self.continuations,
            FrameKind::PING if header.is_ping_ack() => &mut self.ping_acks,
            FrameKind::PING => &mut self.pings,
            FrameKind::SETTINGS => &mut self.settings,
            FrameKind::RST_STREAM => &mut self.rst_streams,
            FrameKind::GOAWAY => &mut self.goaways,
            FrameKind::WINDOW_UPDATE => &mut self.window_updates,
            _ => &mut self.other,
        };
        *slot = slot.saturating_add(1);
    }
}

/// Which end of the connection the sniffer reads for, which decides what the
/// first bytes must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SniffSide {
    /// We are the server: the input starts with [`CLIENT_PREFACE`], then a
    /// SETTINGS frame.
    Server,
    /// We are the client: the input starts with the server's SETTINGS frame.
    Client,
}

/// Why a sniffer stopped. Sticky: once returned, every later
/// [`InboundFrameSniffer::feed`] returns it again without reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SniffError {
    /// (Server only.) The input starts like an HTTP/1.x request line
    /// (`GET `, `POST `, ...), not the HTTP/2 preface. The caller may hand
    /// the connection to an HTTP/1.1 path (gRPC-Web).
    Http1Request,
    /// (Server only.) The input is neither the HTTP/2 client preface nor an
    /// HTTP/1.x request.
    InvalidPreface,
    /// The first frame is not SETTINGS (RFC 9113 §3.4 requires it).
    FirstFrameNotSettings {
        /// The type of the frame that came instead.
        kind: FrameKind,
    },
    /// A frame declares a payload longer than the configured maximum frame
    /// size (a FRAME_SIZE_ERROR for the connection).
    FrameTooLarge {
        /// The declared payload length.
        length: u32,
        /// The configured maximum.
        max: u32,
    },
}

impl fmt::Display for SniffError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SniffError::Http1Request => {
                f.write_str("the peer sent an HTTP/1.x request instead of the HTTP/2 preface")
            }
            SniffError::InvalidPreface => {
                f.write_str("the peer did not start with the HTTP/2 connection preface")
            }
            SniffError::FirstFrameNotSettings { kind } => {
                write!(f, "the peer's first HTTP/2 frame is {kind}, not SETTINGS")
            }
            SniffError::FrameTooLarge { length, max } => write!(
                f,
                "the peer sent an HTTP/2 frame of {length} bytes, over the maximum frame size of {max}"
            ),
        }
    }
}

impl std::error::Error for SniffError {}

/// What the sniffer knows about the start of the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PrefaceStatus {
    /// Not enough bytes yet to decide. A server sniffer always decides within
    /// the first 24 bytes.
    Pending,
    /// The input is HTTP/2: the client preface matched (server side), or
    /// there is no preface to check (client side).
    Http2,
    /// The input starts like an HTTP/1.x request (see [`SniffError::Http1Request`]).
    Http1,
    /// The input is not HTTP at all (see [`SniffError::InvalidPreface`]).
    Invalid,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// `matched` bytes of the client preface have been seen.
    Preface {
        matched: u8,
    },
    /// The preface failed but the bytes so far are a method token of `len`
    /// bytes; a space would make them an HTTP/1.x request line.
    Method {
        len: u8,
    },
    /// Between frames, or inside a frame header whose first bytes sit in
    /// `partial`.
    Header,
    /// Inside a payload with this many bytes left to skip.
    Payload {
        remaining: u32,
    },
    Failed(SniffError),
}

/// An incremental scanner over the bytes a connection receives, reporting
/// every HTTP/2 frame header it passes.
///
/// Feed it every received chunk, in order, with [`feed`](Self::feed) — the
/// same bytes, before or after they go to h2. It never panics, whatever the
/// input, and holds at most [`FRAME_HEADER_LEN`] bytes between calls
/// ([`buffered_len`](Self::buffered_len)).
///
/// ```
/// use ferrule_core::proto::keepalive::{InboundFrameSniffer, DEFAULT_MAX_FRAME_SIZE};
///
/// let mut sniffer = InboundFrameSniffer::client(DEFAULT_MAX_FRAME_SIZE);
/// // An empty SETTINGS frame, then a PING split across two chunks.
/// let mut pings = 0;
/// let mut count = |h: &ferrule_core::proto::keepalive::FrameHeader| pings += h.is_ping() as u32;
/// sniffer.feed(&[0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 8, 6, 0], &mut count).unwrap();
/// sniffer.feed(&[0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8], &mut count).unwrap();
/// assert_eq!(pings, 1);
/// assert_eq!(sniffer.totals().frames, 2);
/// ```
#[derive(Clone, Debug)]
pub struct InboundFrameSniffer {
    scanner: FrameScanner,
    totals: FrameCounts,
}

impl InboundFrameSniffer {
    /// A sniffer for one side of a connection. `max_frame_size` is our
    /// `SETTINGS_MAX_FRAME_SIZE` (h2's `max_frame_size` builder setting);
    /// it is clamped to the range the protocol allows.
    pub fn new(side: SniffSide, max_frame_size: u32) -> InboundFrameSniffer {
        InboundFrameSniffer {
            scanner: FrameScanner::new(side, max_frame_size),
            totals: FrameCounts::default(),
        }
    }

    /// A sniffer for a server connection: checks and skips the client preface.
    pub fn server(max_frame_size: u32) -> InboundFrameSniffer {
        InboundFrameSniffer::new(SniffSide::Server, max_frame_size)
    }

    /// A sniffer for a client connection: frames from the first byte.
    pub fn client(max_frame_size: u32) -> InboundFrameSniffer {
        InboundFrameSniffer::new(SniffSide::Client, max_frame_size)
    }

    /// Changes the maximum accepted payload length, for frames whose header
    /// has not been completed yet. Clamped like in [`new`](Self::new).
    pub fn set_max_frame_size(&mut self, max_frame_size: u32) {
        self.scanner.max_frame_size = clamp_frame_size(max_frame_size);
    }

    /// The maximum accepted payload length.
    pub fn max_frame_size(&self) -> u32 {
        self.scanner.max_frame_size
    }

    /// Scans `input`, calling `on_frame` once for each frame header
    /// completed in it, in order. A frame is reported when its header is
    /// complete; its payload may still be on its way.
    ///
    /// On an error the rest of `input` is ignored, and the error is sticky.
    /// Frames reported before the error stay reported.
    pub fn feed(
        &mut self,
        input: &[u8],
        mut on_frame: impl FnMut(&FrameHeader),
    ) -> Result<(), SniffError> {
        let totals = &mut self.totals;
        self.scanner.feed(input, |header| {
            totals.record(header);
            on_frame(header);
        })
    }

    /// Like [`feed`](Self::feed), returning how many frames of each kind the
    /// chunk completed. On an error the counts of this chunk are lost, but
    /// [`totals`](Self::totals) still has them.
    pub fn scan(&mut self, input: &[u8]) -> Result<FrameCounts, SniffError> {
        let mut counts = FrameCounts::default();
        self.feed(input, |header| counts.record(header))?;
        Ok(counts)
    }

    /// Every frame reported since the start.
    pub fn totals(&self) -> &FrameCounts {
        &self.totals
    }

    /// What the start of the input turned out to be.
    pub fn preface_status(&self) -> PrefaceStatus {
        self.scanner.preface_status()
    }

    /// The sticky error, if the sniffer has stopped.
    pub fn error(&self) -> Option<SniffError> {
        self.scanner.error()
    }

    /// Bytes of a partial frame header held until the next chunk (0..=9).
    /// The preface is matched without buffering.
    pub fn buffered_len(&self) -> usize {
        usize::from(self.scanner.partial_len)
    }
}

/// The [`InboundFrameSniffer`] without its totals: what a connection's IO
/// wrapper keeps per connection (it counts only what it needs itself).
#[derive(Clone, Debug)]
pub(crate) struct FrameScanner {
    state: State,
    partial: [u8; FRAME_HEADER_LEN],
    partial_len: u8,
    max_frame_size: u32,
    first_frame_seen: bool,
}

impl FrameScanner {
    /// See [`InboundFrameSniffer::new`].
    pub(crate) fn new(side: SniffSide, max_frame_size: u32) -> FrameScanner {
        FrameScanner {
            state: match side {
                SniffSide::Server => State::Preface { matched: 0 },
                SniffSide::Client => State::Header,
            },
            partial: [0; FRAME_HEADER_LEN],
            partial_len: 0,
            max_frame_size: clamp_frame_size(max_frame_size),
            first_frame_seen: false,
        }
    }

    /// See [`InboundFrameSniffer::feed`].
    pub(crate) fn feed(
        &mut self,
        mut input: &[u8],
        mut on_frame: impl FnMut(&FrameHeader),
    ) -> Result<(), SniffError> {
        loop {
            match (self.state, input.split_first()) {
                (State::Failed(error), _) => return Err(error),
                (_, None) => return Ok(()),
                (State::Preface { matched }, Some((&byte, rest))) => {
                    self.state = preface_step(matched, byte);
                    input = rest;
                }
                (State::Method { len }, Some((&byte, rest))) => {
                    self.state = method_step(len, byte);
                    input = rest;
                }
                (State::Header, Some(_)) => {
                    let filled = usize::from(self.partial_len);
                    let wanted = FRAME_HEADER_LEN.saturating_sub(filled).min(input.len());
                    let (taken, rest) = input.split_at(wanted);
                    if let Some(slot) = self.partial.get_mut(filled..filled + wanted) {
                        slot.copy_from_slice(taken);
                    }
                    input = rest;
                    // `wanted` is at most 9, so this cannot truncate.
                    self.partial_len = self.partial_len.saturating_add(wanted as u8);
                    if usize::from(self.partial_len) == FRAME_HEADER_LEN {
                        self.partial_len = 0;
                        let header = FrameHeader::parse(self.partial);
                        self.state = self.frame_started(&header);
                        if !matches!(self.state, State::Failed(_)) {
                            on_frame(&header);
                        }
                    }
                }
                (State::Payload { remaining }, Some(_)) => {
                    let skip = input
                        .len()
                        .min(usize::try_from(remaining).unwrap_or(usize::MAX));
                    input = input.get(skip..).unwrap_or_default();
                    // `skip <= remaining`, which fits in a u32.
                    let left = remaining.saturating_sub(u32::try_from(skip).unwrap_or(u32::MAX));
                    self.state = if left == 0 {
                        State::Header
                    } else {
                        State::Payload { remaining: left }
                    };
                }
            }
        }
    }

    /// What the start of the input turned out to be.
    pub(crate) fn preface_status(&self) -> PrefaceStatus {
        match self.state {
            State::Preface { .. } | State::Method { .. } => PrefaceStatus::Pending,
            State::Failed(SniffError::Http1Request) => PrefaceStatus::Http1,
            State::Failed(SniffError::InvalidPreface) => PrefaceStatus::Invalid,
            State::Header | State::Payload { .. } | State::Failed(_) => PrefaceStatus::Http2,
        }
    }

    /// The sticky error, if the sniffer has stopped.
    pub(crate) fn error(&self) -> Option<SniffError> {
        match self.state {
            State::Failed(error) => Some(error),
            _ => None,
        }
    }

    fn frame_started(&mut self, header: &FrameHeader) -> State {
        if !self.first_frame_seen {
            self.first_frame_seen = true;
            if header.kind != FrameKind::SETTINGS {
                return State::Failed(SniffError::FirstFrameNotSettings { kind: header.kind });
            }
        }
        if header.length > self.max_frame_size {
            return State::Failed(SniffError::FrameTooLarge {
                length: header.length,
                max: self.max_frame_size,
            });
        }
        if header.length == 0 {
            State::Header
        } else {
            State::Payload {
                remaining: header.length,
            }
        }
    }
}

fn clamp_frame_size(size: u32) -> u32 {
    size.clamp(DEFAULT_MAX_FRAME_SIZE, MAX_FRAME_SIZE_LIMIT)
}

fn preface_step(matched: u8, byte: u8) -> State {
    let at = usize::from(matched);
    if CLIENT_PREFACE.get(at) == Some(&byte) {
        return if at + 1 == CLIENT_PREFACE.len() {
            State::Header
        } else {
            State::Preface {
                matched: matched.saturating_add(1),
            }
        };
    }
    // "PRI" is itself a method token, so a mismatch inside it can still be
    // an HTTP/1.x request line; past "PRI " it is a broken HTTP/2 preface.
    if at <= 3 {
        method_step(matched, byte)
    } else {
        State::Failed(SniffError::InvalidPreface)
    }
}

fn method_step(len: u8, byte: u8) -> State {
    match byte {
        b' ' if len > 0 => State::Failed(SniffError::Http1Request),
        b'A'..=b'Z' | b'-' | b'_' if usize::from(len) < MAX_METHOD_LEN => State::Method {
            len: len.saturating_add(1),
        },
        _ => State::Failed(SniffError::InvalidPreface),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use quickcheck_macros::quickcheck;

    fn frame(kind: FrameKind, flags: u8, stream_id: u32, payload: &[u8]) -> Vec<u8> {
        let header = FrameHeader {
            length: payload.len() as u32,
            kind,
            flags,
            stream_id,
        };
        let mut out = header.encode().to_vec();
        out.extend_from_slice(payload);
        out
    }

    fn settings() -> Vec<u8> {
        frame(FrameKind::SETTINGS, 0, 0, &[])
    }

    fn ping(ack: bool) -> Vec<u8> {
        frame(FrameKind::PING, if ack { FLAG_ACK } else { 0 }, 0, &[7; 8])
    }

    fn server_input(frames: &[Vec<u8>]) -> Vec<u8> {
        let mut out = CLIENT_PREFACE.to_vec();
        for f in frames {
            out.extend_from_slice(f);
        }
        out
    }

    fn headers_seen(sniffer: &mut InboundFrameSniffer, input: &[u8]) -> Vec<FrameHeader> {
        let mut seen = Vec::new();
        sniffer.feed(input, |h| seen.push(*h)).unwrap();
        seen
    }

    #[test]
    fn header_parse_and_encode() {
        let bytes = [0x01, 0x02, 0x03, 0x06, 0x01, 0xff, 0xff, 0xff, 0xff];
        let header = FrameHeader::parse(bytes);
        assert_eq!(header.length, 0x010203);
        assert_eq!(header.kind, FrameKind::PING);
        assert_eq!(header.flags, 1);
        assert_eq!(header.stream_id, 0x7fff_ffff, "reserved bit dropped");
        assert!(header.is_ping_ack());
        assert!(!header.is_ping());
        assert_eq!(
            header.encode(),
            [0x01, 0x02, 0x03, 0x06, 0x01, 0x7f, 0xff, 0xff, 0xff]
        );
    }

    #[quickcheck]
    fn header_round_trip(length: u32, kind: u8, flags: u8, stream_id: u32) -> bool {
        let header = FrameHeader {
            length: length & 0x00ff_ffff,
            kind: FrameKind::from_u8(kind),
            flags,
            stream_id: stream_id & 0x7fff_ffff,
        };
        FrameHeader::parse(header.encode()) == header
    }

    #[quickcheck]
    fn any_nine_bytes_reencode_except_reserved_bit(head: (u8, u8, u8, u8, u8), id: u32) -> bool {
        let id = id.to_be_bytes();
        let raw = [
            head.0, head.1, head.2, head.3, head.4, id[0], id[1], id[2], id[3],
        ];
        let mut expected = raw;
        expected[5] &= 0x7f;
        FrameHeader::parse(raw).encode() == expected
    }

    #[test]
    fn frame_kind_names() {
        assert_eq!(FrameKind::WINDOW_UPDATE.to_string(), "WINDOW_UPDATE");
        assert_eq!(format!("{:?}", FrameKind::from_u8(0xfa)), "FrameKind(0xfa)");
        assert_eq!(FrameKind::from_u8(0xfa).name(), None);
        assert_eq!(FrameKind::CONTINUATION.as_u8(), 9);
    }

    #[test]
    fn server_counts_frames_after_preface() {
        let input = server_input(&[
            settings(),
            frame(FrameKind::HEADERS, 0x4, 1, &[0x82]),
            frame(FrameKind::DATA, 0x1, 1, &[0, 0, 0, 0, 1, 9]),
            ping(false),
            ping(true),
            frame(FrameKind::WINDOW_UPDATE, 0, 0, &[0, 0, 1, 0]),
            frame(FrameKind::RST_STREAM, 0, 1, &[0, 0, 0, 8]),
            frame(FrameKind::GOAWAY, 0, 0, &[0; 8]),
            frame(FrameKind::CONTINUATION, 0x4, 1, &[]),
            frame(FrameKind::PRIORITY, 0, 3, &[0; 5]),
            frame(FrameKind::from_u8(0xbb), 0, 0, b"extension"),
        ]);
        let mut sniffer = InboundFrameSniffer::server(DEFAULT_MAX_FRAME_SIZE);
        assert_eq!(sniffer.preface_status(), PrefaceStatus::Pending);
        let counts = sniffer.scan(&input).unwrap();
        assert_eq!(
            counts,
            FrameCounts {
                frames: 11,
                data: 1,
                headers: 1,
                continuations: 1,
                pings: 1,
                ping_acks: 1,
                settings: 1,
                rst_streams: 1,
                goaways: 1,
                window_updates: 1,
                other: 2,
            }
        );
        assert_eq!(sniffer.totals(), &counts);
        assert_eq!(sniffer.preface_status(), PrefaceStatus::Http2);
        assert_eq!(sniffer.buffered_len(), 0);
    }

    #[test]
    fn byte_by_byte_equals_one_shot() {
        let input = server_input(&[
            settings(),
            ping(false),
            frame(FrameKind::DATA, 0, 1, &[1; 300]),
        ]);
        let mut one_shot = InboundFrameSniffer::server(DEFAULT_MAX_FRAME_SIZE);
        let expected = headers_seen(&mut one_shot, &input);
        let mut sniffer = InboundFrameSniffer::server(DEFAULT_MAX_FRAME_SIZE);
        let mut seen = Vec::new();
        for byte in &input {
            sniffer
                .feed(core::slice::from_ref(byte), |h| seen.push(*h))
                .unwrap();
            assert!(sniffer.buffered_len() <= FRAME_HEADER_LEN);
        }
        assert_eq!(seen, expected);
        assert_eq!(seen.len(), 3);
        assert_eq!(sniffer.totals(), one_shot.totals());
    }

    #[test]
    fn partial_header_is_held_until_completed() {
        let mut sniffer = InboundFrameSniffer::client(DEFAULT_MAX_FRAME_SIZE);
        let settings = settings();
        assert_eq!(sniffer.scan(&settings[..5]).unwrap().frames, 0);
        assert_eq!(sniffer.buffered_len(), 5);
        assert_eq!(sniffer.scan(&settings[5..]).unwrap().settings, 1);
        assert_eq!(sniffer.buffered_len(), 0);
        let ping = ping(false);
        assert_eq!(
            sniffer.scan(&ping[..9]).unwrap().pings,
            1,
            "reported at header time"
        );
        assert_eq!(sniffer.scan(&ping[9..12]).unwrap().frames, 0);
        assert_eq!(sniffer.buffered_len(), 0, "payloads are skipped, not held");
        assert_eq!(sniffer.scan(&ping[12..]).unwrap().frames, 0);
        assert_eq!(sniffer.scan(&[]).unwrap().frames, 0);
    }

    #[test]
    fn preface_verdicts() {
        // (input, status after feeding it, error)
        let cases: &[(&[u8], PrefaceStatus, Option<SniffError>)] = &[
            (b"", PrefaceStatus::Pending, None),
            (b"PRI * HTTP/2.0\r\n", PrefaceStatus::Pending, None),
            (CLIENT_PREFACE, PrefaceStatus::Http2, None),
            (
                b"GET / HTTP/1.1\r\n",
                PrefaceStatus::Http1,
                Some(SniffError::Http1Request),
            ),
            (
                b"POST /x HTTP/1.1\r\n",
                PrefaceStatus::Http1,
                Some(SniffError::Http1Request),
            ),
            (
                b"OPTIONS * HTTP/1.1",
                PrefaceStatus::Http1,
                Some(SniffError::Http1Request),
            ),
            (b"PRI ", PrefaceStatus::Pending, None),
            (b"PR ", PrefaceStatus::Http1, Some(SniffError::Http1Request)),
            (
                b"PRIX ",
                PrefaceStatus::Http1,
                Some(SniffError::Http1Request),
            ),
            (
                b"BASELINE-CONTROL /",
                PrefaceStatus::Http1,
                Some(SniffError::Http1Request),
            ),
            (b"GET", PrefaceStatus::Pending, None),
            (
                b"PRI * HTTP/1.1\r\n",
                PrefaceStatus::Invalid,
                Some(SniffError::InvalidPreface),
            ),
            (
                b"\x16\x03\x01\x02\x00",
                PrefaceStatus::Invalid,
                Some(SniffError::InvalidPreface),
            ),
            (
                b" GET",
                PrefaceStatus::Invalid,
                Some(SniffError::InvalidPreface),
            ),
            (
                b"get / HTTP/1.1",
                PrefaceStatus::Invalid,
                Some(SniffError::InvalidPreface),
            ),
            (
                b"GET\r\n",
                PrefaceStatus::Invalid,
                Some(SniffError::InvalidPreface),
            ),
            (
                b"ABCDEFGHIJKLMNOPQRSTU ",
                PrefaceStatus::Invalid,
                Some(SniffError::InvalidPreface),
            ),
            (
                b"\0\0\0\x04\0\0\0\0\0",
                PrefaceStatus::Invalid,
                Some(SniffError::InvalidPreface),
            ),
        ];
        for (input, status, error) in cases {
            let mut sniffer = InboundFrameSniffer::server(DEFAULT_MAX_FRAME_SIZE);
            let result = sniffer.feed(input, |_| panic!("no frame expected"));
            assert_eq!(sniffer.preface_status(), *status, "{input:?}");
            assert_eq!(result.err(), *error, "{input:?}");
            assert_eq!(sniffer.error(), *error, "{input:?}");
        }
    }

    #[quickcheck]
    fn preface_verdict_within_24_bytes(input: Vec<u8>) -> bool {
        let mut sniffer = InboundFrameSniffer::server(DEFAULT_MAX_FRAME_SIZE);
        let mut padded = input;
        padded.resize(padded.len().max(CLIENT_PREFACE.len()), 0);
        let _ = sniffer.feed(&padded[..CLIENT_PREFACE.len()], |_| {});
        sniffer.preface_status() != PrefaceStatus::Pending
    }

    #[test]
    fn client_does_not_expect_a_preface() {
        let mut sniffer = InboundFrameSniffer::client(DEFAULT_MAX_FRAME_SIZE);
        assert_eq!(sniffer.preface_status(), PrefaceStatus::Http2);
        assert_eq!(sniffer.scan(&settings()).unwrap().settings, 1);
        let mut server = InboundFrameSniffer::server(DEFAULT_MAX_FRAME_SIZE);
        assert_eq!(server.scan(&settings()), Err(SniffError::InvalidPreface));
    }

    #[test]
    fn first_frame_must_be_settings() {
        let mut sniffer = InboundFrameSniffer::client(DEFAULT_MAX_FRAME_SIZE);
        let err = sniffer.scan(&ping(false)).unwrap_err();
        assert_eq!(
            err,
            SniffError::FirstFrameNotSettings {
                kind: FrameKind::PING
            }
        );
        assert_eq!(sniffer.totals().frames, 0);
        assert_eq!(
            err.to_string(),
            "the peer's first HTTP/2 frame is PING, not SETTINGS"
        );
    }

    #[test]
    fn oversized_frame_is_reported_and_sticky() {
        let mut sniffer = InboundFrameSniffer::client(DEFAULT_MAX_FRAME_SIZE);
        sniffer.scan(&settings()).unwrap();
        let mut big = FrameHeader {
            length: DEFAULT_MAX_FRAME_SIZE,
            kind: FrameKind::DATA,
            flags: 0,
            stream_id: 1,
        }
        .encode()
        .to_vec();
        big.resize(9 + DEFAULT_MAX_FRAME_SIZE as usize, 0);
        assert_eq!(
            sniffer.scan(&big).unwrap().data,
            1,
            "exactly the maximum is fine"
        );
        let too_big = FrameHeader {
            length: DEFAULT_MAX_FRAME_SIZE + 1,
            kind: FrameKind::DATA,
            flags: 0,
            stream_id: 1,
        };
        let expected = SniffError::FrameTooLarge {
            length: DEFAULT_MAX_FRAME_SIZE + 1,
            max: DEFAULT_MAX_FRAME_SIZE,
        };
        assert_eq!(sniffer.scan(&too_big.encode()), Err(expected));
        assert_eq!(sniffer.scan(&ping(false)), Err(expected), "sticky");
        assert_eq!(sniffer.totals().frames, 2);
        assert_eq!(sniffer.preface_status(), PrefaceStatus::Http2);

        let mut larger = InboundFrameSniffer::client(1 << 20);
        larger.scan(&settings()).unwrap();
        assert_eq!(larger.scan(&too_big.encode()).unwrap().data, 1);
    }

    #[test]
    fn max_frame_size_is_clamped_and_adjustable() {
        let mut sniffer = InboundFrameSniffer::client(0);
        assert_eq!(sniffer.max_frame_size(), DEFAULT_MAX_FRAME_SIZE);
        sniffer.set_max_frame_size(u32::MAX);
        assert_eq!(sniffer.max_frame_size(), MAX_FRAME_SIZE_LIMIT);
        sniffer.scan(&settings()).unwrap();
        let max = FrameHeader {
            length: MAX_FRAME_SIZE_LIMIT,
            kind: FrameKind::DATA,
            flags: 0,
            stream_id: 1,
        };
        assert_eq!(sniffer.scan(&max.encode()).unwrap().data, 1);
    }

    #[test]
    fn frames_before_an_error_are_reported() {
        let mut input = server_input(&[settings(), ping(false), ping(false)]);
        input.extend_from_slice(
            &FrameHeader {
                length: MAX_FRAME_SIZE_LIMIT,
                kind: FrameKind::DATA,
                flags: 0,
                stream_id: 1,
            }
            .encode(),
        );
        input.extend_from_slice(&ping(false));
        let mut sniffer = InboundFrameSniffer::server(DEFAULT_MAX_FRAME_SIZE);
        let mut pings = 0;
        let result = sniffer.feed(&input, |h| pings += u32::from(h.is_ping()));
        assert!(matches!(result, Err(SniffError::FrameTooLarge { .. })));
        assert_eq!(pings, 2);
        assert_eq!(sniffer.totals().pings, 2);
    }

    #[test]
    fn error_messages() {
        assert_eq!(
            SniffError::Http1Request.to_string(),
            "the peer sent an HTTP/1.x request instead of the HTTP/2 preface"
        );
        assert_eq!(
            SniffError::FrameTooLarge {
                length: 20000,
                max: 16384
            }
            .to_string(),
            "the peer sent an HTTP/2 frame of 20000 bytes, over the maximum frame size of 16384"
        );
    }

    /// Splits `input` at the given cut points and checks that chunked
    /// scanning reports exactly what one-shot scanning reports.
    #[quickcheck]
    fn chunking_does_not_change_what_is_seen(frames: Vec<(u8, u8, u16)>, cuts: Vec<usize>) -> bool {
        let mut encoded = vec![settings()];
        for (kind, flags, len) in frames {
            let payload = vec![0xa5; usize::from(len % 600)];
            encoded.push(frame(FrameKind::from_u8(kind % 12), flags, 1, &payload));
        }
        let input = server_input(&encoded);
        let mut one_shot = InboundFrameSniffer::server(DEFAULT_MAX_FRAME_SIZE);
        let expected = headers_seen(&mut one_shot, &input);

        let mut points: Vec<usize> = cuts.into_iter().map(|c| c % (input.len() + 1)).collect();
        points.sort_unstable();
        let mut sniffer = InboundFrameSniffer::server(DEFAULT_MAX_FRAME_SIZE);
        let mut seen = Vec::new();
        let mut start = 0;
        for end in points.into_iter().chain([input.len()]) {
            sniffer.feed(&input[start..end], |h| seen.push(*h)).unwrap();
            if sniffer.buffered_len() > FRAME_HEADER_LEN {
                return false;
            }
            start = end;
        }
        seen == expected && seen.len() == encoded.len() && sniffer.totals() == one_shot.totals()
    }

    #[quickcheck]
    fn arbitrary_bytes_never_panic(input: Vec<u8>, server: bool) -> bool {
        let side = if server {
            SniffSide::Server
        } else {
            SniffSide::Client
        };
        let mut sniffer = InboundFrameSniffer::new(side, DEFAULT_MAX_FRAME_SIZE);
        let mut reported = 0u64;
        let _ = sniffer.feed(&input, |_| reported += 1);
        sniffer.buffered_len() <= FRAME_HEADER_LEN && sniffer.totals().frames == reported
    }
}
