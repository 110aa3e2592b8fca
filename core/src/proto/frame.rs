//! HTTP/2 frames as the engine sees them beside h2: the 9-byte header
//! ([`FrameHeader`], [`FrameKind`]), the GOAWAY frame h2 cannot send
//! ([`encode_goaway`]), and [`FrameWalker`], the one walker over a byte
//! stream's frames. h2 parses the frames; the walker only follows their
//! boundaries and notes the few things h2 does not tell its user (a PING
//! arrived, the peer's first SETTINGS arrived, the debug data of a GOAWAY).

use core::fmt;

use bytes::Bytes;

/// The connection preface an HTTP/2 client sends before its first frame
/// (RFC 9113 §3.4).
pub const CLIENT_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Length of an HTTP/2 frame header.
pub const FRAME_HEADER_LEN: usize = 9;

/// The initial `SETTINGS_MAX_FRAME_SIZE` of every HTTP/2 endpoint.
pub const DEFAULT_MAX_FRAME_SIZE: u32 = 16_384;

/// The HTTP/2 error code ENHANCE_YOUR_CALM (0xb).
pub const ENHANCE_YOUR_CALM: u32 = 0xb;

/// The GOAWAY debug data gRPC sends with ENHANCE_YOUR_CALM for ping abuse;
/// gRPC clients look for it to double their keepalive interval.
pub const TOO_MANY_PINGS: &[u8] = b"too_many_pings";

/// Debug data beyond this is cut, so that the frame fits the smallest
/// maximum frame size every peer accepts.
pub const MAX_GOAWAY_DEBUG_DATA: usize = DEFAULT_MAX_FRAME_SIZE as usize - 8;

/// The most GOAWAY payload a walker captures (last stream id, code, debug
/// data).
const MAX_GOAWAY_CAPTURE: usize = 8 + 256;

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

    /// A SETTINGS frame that is not an acknowledgement: the first one is the
    /// peer's half of the HTTP/2 handshake.
    pub const fn is_settings(&self) -> bool {
        self.kind.0 == FrameKind::SETTINGS.0 && self.flags & FLAG_ACK == 0
    }

    /// A HEADERS or DATA frame.
    pub const fn is_headers_or_data(&self) -> bool {
        self.kind.0 == FrameKind::HEADERS.0 || self.kind.0 == FrameKind::DATA.0
    }
}

/// Appends a complete GOAWAY frame to `out`: `last_stream_id` (the highest
/// client stream the server processed, or may still process), the error
/// code, and the debug data (cut to [`MAX_GOAWAY_DEBUG_DATA`]).
///
/// h2 can send GOAWAY (`abrupt_shutdown`) but not with debug data, so the
/// engine writes the ping-abuse GOAWAY itself:
/// `encode_goaway(last_id, ENHANCE_YOUR_CALM, TOO_MANY_PINGS, out)`.
pub fn encode_goaway(last_stream_id: u32, error_code: u32, debug_data: &[u8], out: &mut Vec<u8>) {
    let debug_data = debug_data
        .get(..MAX_GOAWAY_DEBUG_DATA)
        .unwrap_or(debug_data);
    let header = FrameHeader {
        // At most 16 384, far below the 24-bit limit.
        length: (8 + debug_data.len()) as u32,
        kind: FrameKind::GOAWAY,
        flags: 0,
        stream_id: 0,
    };
    out.reserve(9 + 8 + debug_data.len());
    out.extend_from_slice(&header.encode());
    out.extend_from_slice(&(last_stream_id & 0x7fff_ffff).to_be_bytes());
    out.extend_from_slice(&error_code.to_be_bytes());
    out.extend_from_slice(debug_data);
}

/// A GOAWAY the peer sent, as captured on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedGoAway {
    /// The highest stream the peer processed or may still process.
    pub last_stream_id: u32,
    /// The peer's error code.
    pub code: u32,
    /// The debug data (the first 256 bytes at most).
    pub debug_data: Bytes,
}

impl ReceivedGoAway {
    fn parse(payload: &[u8]) -> Option<ReceivedGoAway> {
        let id = payload.get(0..4)?;
        let code = payload.get(4..8)?;
        Some(ReceivedGoAway {
            last_stream_id: u32::from_be_bytes([id[0], id[1], id[2], id[3]]) & 0x7fff_ffff,
            code: u32::from_be_bytes([code[0], code[1], code[2], code[3]]),
            debug_data: Bytes::copy_from_slice(payload.get(8..).unwrap_or_default()),
        })
    }
}

/// What a [`FrameWalker`] noted since it was last asked.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FramesSeen {
    /// Frames whose header passed (saturating).
    pub frames: u32,
    /// PINGs that ask for an answer (saturating).
    pub pings: u32,
    /// HEADERS and DATA frames (saturating).
    pub headers_or_data: u32,
    /// A SETTINGS frame (not an ACK) passed.
    pub settings: bool,
}

/// Follows the frame boundaries of one direction of an HTTP/2 connection
/// (no validation: h2 does that), noting what [`FramesSeen`] lists and
/// capturing GOAWAY payloads. It parses only the 9-byte headers and skips
/// payloads without looking at them, so its work is per frame, not per
/// byte; between calls it holds at most one partial header.
#[derive(Debug, Clone, Default)]
pub struct FrameWalker {
    header: [u8; FRAME_HEADER_LEN],
    header_len: u8,
    /// The current frame is a GOAWAY (its payload goes to the capture).
    in_goaway: bool,
    /// GOAWAY payloads are not kept (the walker of our own output).
    ignore_goaway: bool,
    /// A GOAWAY's payload was captured whole and not taken yet: the first
    /// `completed_len` bytes of `goaway`.
    goaway_complete: bool,
    /// How much of `goaway` is the completed capture (a GOAWAY arriving
    /// after it is captured behind it, and replaces it only once whole).
    completed_len: u16,
    /// Payload bytes left in the current frame (or preface bytes to skip):
    /// at most a frame's 24-bit length.
    remaining: u32,
    seen: FramesSeen,
    /// The last GOAWAY completed and not taken yet, then the one being
    /// received (each up to [`MAX_GOAWAY_CAPTURE`] bytes). Empty unless a
    /// GOAWAY passed: most connections never allocate it.
    goaway: Vec<u8>,
}

impl FrameWalker {
    /// A walker over a stream of frames.
    pub fn new() -> FrameWalker {
        FrameWalker::default()
    }

    /// A walker over a stream that starts with the client preface (what a
    /// server receives, what a client sends).
    pub fn after_preface() -> FrameWalker {
        FrameWalker {
            remaining: CLIENT_PREFACE.len() as u32,
            ..FrameWalker::default()
        }
    }

    /// This walker without the GOAWAY capture (for a direction whose GOAWAY
    /// frames nobody reads: our own output).
    pub fn without_goaway_capture(self) -> FrameWalker {
        FrameWalker {
            ignore_goaway: true,
            ..self
        }
    }

    /// Whether the bytes seen so far end exactly at a frame boundary.
    pub fn at_boundary(&self) -> bool {
        self.header_len == 0 && self.remaining == 0
    }

    /// How many bytes of `data` reach the next frame boundary (all of it if
    /// the current frame does not end within it).
    pub fn to_boundary(&self, data: &[u8]) -> usize {
        if self.at_boundary() {
            return data.len();
        }
        let needed = if self.header_len > 0 {
            // The rest of the header, then the payload it announces.
            let filled = usize::from(self.header_len);
            let missing = FRAME_HEADER_LEN - filled;
            let Some(rest) = data.get(..missing) else {
                return data.len();
            };
            let mut header = self.header;
            header[filled..].copy_from_slice(rest);
            missing.saturating_add(FrameHeader::parse(header).length as usize)
        } else {
            self.remaining as usize
        };
        needed.min(data.len())
    }

    /// Moves past `data`, calling `on_header` with each frame header
    /// completed in it.
    pub fn walk(&mut self, mut data: &[u8], mut on_header: impl FnMut(&FrameHeader)) {
        while !data.is_empty() {
            if self.remaining > 0 {
                let n = data
                    .len()
                    .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
                let (payload, rest) = data.split_at(n);
                if self.in_goaway {
                    let captured = self
                        .goaway
                        .len()
                        .saturating_sub(usize::from(self.completed_len));
                    let room = MAX_GOAWAY_CAPTURE.saturating_sub(captured);
                    self.goaway
                        .extend_from_slice(payload.get(..room.min(n)).unwrap_or_default());
                }
                // `n <= remaining`, which is a u32.
                self.remaining = self
                    .remaining
                    .saturating_sub(u32::try_from(n).unwrap_or(u32::MAX));
                data = rest;
                if self.remaining == 0 {
                    self.goaway_ended();
                }
                continue;
            }
            let header = if self.header_len == 0 && data.len() >= FRAME_HEADER_LEN {
                // The common case: a whole header in hand, no copy to the side.
                let (bytes, rest) = data.split_at(FRAME_HEADER_LEN);
                data = rest;
                let mut whole = [0; FRAME_HEADER_LEN];
                whole.copy_from_slice(bytes);
                FrameHeader::parse(whole)
            } else {
                let filled = usize::from(self.header_len);
                let n = (FRAME_HEADER_LEN - filled).min(data.len());
                let (part, rest) = data.split_at(n);
                if let Some(slot) = self.header.get_mut(filled..filled + n) {
                    slot.copy_from_slice(part);
                }
                data = rest;
                // `n` is at most 9.
                self.header_len = self.header_len.saturating_add(n as u8);
                if usize::from(self.header_len) < FRAME_HEADER_LEN {
                    return;
                }
                self.header_len = 0;
                FrameHeader::parse(self.header)
            };
            self.note(&header);
            on_header(&header);
        }
    }

    /// Moves past `data`.
    pub fn advance(&mut self, data: &[u8]) {
        self.walk(data, |_| {});
    }

    fn note(&mut self, header: &FrameHeader) {
        let seen = &mut self.seen;
        seen.frames = seen.frames.saturating_add(1);
        if header.is_ping() {
            seen.pings = seen.pings.saturating_add(1);
        } else if header.is_headers_or_data() {
            seen.headers_or_data = seen.headers_or_data.saturating_add(1);
        } else if header.is_settings() {
            seen.settings = true;
        }
        self.remaining = header.length;
        if header.kind == FrameKind::GOAWAY && !self.ignore_goaway {
            self.in_goaway = true;
            self.goaway.truncate(usize::from(self.completed_len));
            if self.remaining == 0 {
                self.goaway_ended();
            }
        }
    }

    fn goaway_ended(&mut self) {
        if std::mem::take(&mut self.in_goaway) {
            self.goaway.drain(..usize::from(self.completed_len));
            // At most MAX_GOAWAY_CAPTURE bytes.
            self.completed_len = u16::try_from(self.goaway.len()).unwrap_or(u16::MAX);
            self.goaway_complete = true;
        }
    }

    /// What passed since the last call.
    pub fn take_seen(&mut self) -> FramesSeen {
        std::mem::take(&mut self.seen)
    }

    /// The last GOAWAY that passed whole, if not taken yet.
    pub fn take_goaway(&mut self) -> Option<ReceivedGoAway> {
        if !std::mem::take(&mut self.goaway_complete) {
            return None;
        }
        let completed = usize::from(std::mem::take(&mut self.completed_len));
        let goaway = ReceivedGoAway::parse(self.goaway.get(..completed).unwrap_or_default());
        // A GOAWAY still being received stays, alone.
        self.goaway.drain(..completed);
        goaway
    }
}

/// Every frame header in `stream` (a whole direction of a connection,
/// starting with the client preface if `after_preface`): for tests and
/// tools that read transcripts.
pub fn frame_headers(stream: &[u8], after_preface: bool) -> Vec<FrameHeader> {
    let mut walker = if after_preface {
        FrameWalker::after_preface()
    } else {
        FrameWalker::new()
    };
    let mut headers = Vec::new();
    walker.walk(stream, |header| headers.push(*header));
    headers
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;
    use quickcheck_macros::quickcheck;

    /// A frame on stream 0 (tests only; other modules' tests use it too).
    pub(crate) fn frame(kind: FrameKind, flags: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = FrameHeader {
            length: payload.len() as u32,
            kind,
            flags,
            stream_id: 0,
        }
        .encode()
        .to_vec();
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn too_many_pings_frame_bytes() {
        let mut out = vec![0xee];
        encode_goaway(5, ENHANCE_YOUR_CALM, TOO_MANY_PINGS, &mut out);
        let mut expected = vec![0xee, 0, 0, 22, 7, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0x0b];
        expected.extend_from_slice(b"too_many_pings");
        assert_eq!(out, expected);
    }

    #[test]
    fn long_debug_data_is_cut() {
        let mut out = Vec::new();
        encode_goaway(u32::MAX, 0, &vec![b'x'; 100_000], &mut out);
        assert_eq!(out.len(), 9 + DEFAULT_MAX_FRAME_SIZE as usize);
        let header = FrameHeader::parse(out[..9].try_into().unwrap());
        assert_eq!(header.length, DEFAULT_MAX_FRAME_SIZE);
        assert_eq!(
            &out[9..13],
            &[0x7f, 0xff, 0xff, 0xff],
            "reserved bit cleared"
        );
    }

    #[quickcheck]
    fn goaway_decodes_back(last_stream_id: u32, error_code: u32, debug: Vec<u8>) -> bool {
        let mut out = Vec::new();
        encode_goaway(last_stream_id, error_code, &debug, &mut out);
        let mut walker = FrameWalker::new();
        walker.advance(&out);
        let got = walker.take_goaway().unwrap();
        let kept = debug.len().min(MAX_GOAWAY_CAPTURE - 8);
        got.last_stream_id == last_stream_id & 0x7fff_ffff
            && got.code == error_code
            && got.debug_data[..] == debug[..kept]
            && walker.at_boundary()
    }

    #[quickcheck]
    fn headers_encode_and_parse_back(length: u32, kind: u8, flags: u8, stream_id: u32) -> bool {
        let header = FrameHeader {
            length: length & 0xff_ffff,
            kind: FrameKind::from_u8(kind),
            flags,
            stream_id: stream_id & 0x7fff_ffff,
        };
        FrameHeader::parse(header.encode()) == header
    }

    #[test]
    fn the_walker_notes_pings_settings_and_goaway_in_any_chunking() {
        let mut stream = CLIENT_PREFACE.to_vec();
        stream.extend(frame(FrameKind::SETTINGS, 0, &[0; 6]));
        stream.extend(frame(FrameKind::SETTINGS, FLAG_ACK, &[]));
        stream.extend(frame(FrameKind::DATA, 0, b"hello"));
        stream.extend(frame(FrameKind::PING, 0, &[0; 8]));
        stream.extend(frame(FrameKind::PING, FLAG_ACK, &[0; 8]));
        let mut goaway = Vec::new();
        encode_goaway(7, 0xb, b"too_many_pings", &mut goaway);
        stream.extend(&goaway);
        let ends = [24, 39, 48, 62, 79, 96, stream.len()];
        for chunk in [1, 2, 5, 9, 100] {
            let mut walker = FrameWalker::after_preface();
            let mut offset = 0;
            let mut kinds = Vec::new();
            for piece in stream.chunks(chunk) {
                walker.walk(piece, |h| kinds.push(h.kind));
                offset += piece.len();
                assert_eq!(
                    walker.at_boundary(),
                    ends.contains(&offset),
                    "{chunk} at {offset}"
                );
            }
            assert_eq!(kinds.len(), 6);
            let seen = walker.take_seen();
            assert_eq!(
                seen,
                FramesSeen {
                    frames: 6,
                    pings: 1,
                    headers_or_data: 1,
                    settings: true
                }
            );
            assert_eq!(walker.take_seen(), FramesSeen::default(), "taken");
            let g = walker.take_goaway().unwrap();
            assert!(walker.take_goaway().is_none(), "taken once");
            assert_eq!((g.last_stream_id, g.code), (7, 0xb));
            assert_eq!(g.debug_data, Bytes::from_static(b"too_many_pings"));
        }
    }

    #[test]
    fn to_boundary_stops_at_the_end_of_the_current_frame() {
        let mut stream = frame(FrameKind::DATA, 0, b"hello");
        stream.extend(frame(FrameKind::PING, 0, &[0; 8]));
        for cut in 0..stream.len() {
            let mut walker = FrameWalker::new();
            walker.advance(&stream[..cut]);
            let n = walker.to_boundary(&stream[cut..]);
            let expect = if cut == 0 || cut == 14 {
                stream.len() - cut
            } else if cut < 14 {
                14 - cut
            } else {
                stream.len() - cut
            };
            assert_eq!(n, expect, "cut at {cut}");
        }
    }

    /// The last GOAWAY wins; a GOAWAY cut short is reported once it completes.
    #[test]
    fn the_capture_keeps_the_last_goaway() {
        let mut stream = Vec::new();
        encode_goaway(1, 0, b"first", &mut stream);
        encode_goaway(3, 2, b"second", &mut stream);
        let mut walker = FrameWalker::new();
        walker.advance(&stream);
        let g = walker.take_goaway().unwrap();
        assert_eq!((g.last_stream_id, g.code), (3, 2));
        assert_eq!(g.debug_data, Bytes::from_static(b"second"));
        let mut walker = FrameWalker::new();
        walker.advance(&stream[..12]);
        assert!(walker.take_goaway().is_none());
        walker.advance(&stream[12..17 + 5]);
        assert_eq!(
            walker.take_goaway().unwrap().debug_data,
            Bytes::from_static(b"first")
        );
    }

    /// A GOAWAY arriving whole stays captured while the next one is cut
    /// short, and is replaced once that one completes (found by the
    /// frame_walker fuzz target: the second one's start dropped the first).
    #[test]
    fn a_whole_goaway_survives_a_partial_one_behind_it() {
        let mut stream = Vec::new();
        encode_goaway(1, 0, b"first", &mut stream);
        let first_end = stream.len();
        encode_goaway(3, 2, b"second", &mut stream);
        let mut walker = FrameWalker::new();
        walker.advance(&stream[..first_end + 9 + 3]);
        let g = walker.take_goaway().unwrap();
        assert_eq!(
            (g.last_stream_id, g.debug_data),
            (1, Bytes::from_static(b"first"))
        );
        walker.advance(&stream[first_end + 9 + 3..]);
        let g = walker.take_goaway().unwrap();
        assert_eq!(
            (g.last_stream_id, g.debug_data),
            (3, Bytes::from_static(b"second"))
        );

        let mut walker = FrameWalker::new();
        walker.advance(&stream[..first_end + 9 + 3]);
        walker.advance(&stream[first_end + 9 + 3..]);
        let g = walker.take_goaway().unwrap();
        assert_eq!(
            g.debug_data,
            Bytes::from_static(b"second"),
            "the last one whole"
        );
        assert!(walker.take_goaway().is_none());
    }

    /// Every connection holds two walkers for as long as it lives.
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn the_walker_stays_small() {
        let size = std::mem::size_of::<FrameWalker>();
        assert!(size <= 64, "FrameWalker is {size} bytes");
    }

    /// Boundaries and headers do not depend on how the stream is cut.
    #[quickcheck]
    fn walking_does_not_depend_on_chunking(frames: Vec<(u8, u8, Vec<u8>)>, cuts: Vec<u8>) -> bool {
        let mut stream = Vec::new();
        let mut ends = vec![0];
        let mut expected = Vec::new();
        for (kind, flags, payload) in &frames {
            let bytes = frame(FrameKind::from_u8(kind % 10), *flags, payload);
            expected.push(FrameHeader::parse(bytes[..9].try_into().unwrap()));
            stream.extend(bytes);
            ends.push(stream.len());
        }
        let mut walker = FrameWalker::new();
        let mut got = Vec::new();
        let mut offset = 0;
        let mut cuts = cuts.into_iter().map(|c| usize::from(c % 16) + 1).cycle();
        while offset < stream.len() {
            let n = cuts.next().unwrap_or(1).min(stream.len() - offset);
            let next_end = ends.iter().find(|&&e| e > offset).copied();
            let want = match next_end {
                Some(end) if !walker.at_boundary() => end - offset,
                _ => stream.len() - offset,
            };
            if walker.to_boundary(&stream[offset..]) != want {
                return false;
            }
            walker.walk(&stream[offset..offset + n], |h| got.push(*h));
            offset += n;
            if walker.at_boundary() != ends.contains(&offset) {
                return false;
            }
        }
        walker.at_boundary() && got == expected && frame_headers(&stream, false) == expected
    }
}
