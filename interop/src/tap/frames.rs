//! [`FrameWatcher`]: follows one direction of an HTTP/2 connection and
//! reports the gRPC messages its DATA frames carry (with their
//! Compressed-Flag), the streams HEADERS open, and RST_STREAM codes.
//!
//! It validates nothing that h2 validates; it only has to stay in step with
//! the frame boundaries. Anything it cannot follow (a padding length longer
//! than its frame) stops it for good ([`Event::Lost`]) rather than letting it
//! report wrong messages.

use std::collections::HashMap;

/// HTTP/2 frame header length.
const FRAME_HEADER_LEN: usize = 9;
const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const END_STREAM: u8 = 0x1;
const PADDED: u8 = 0x8;
/// gRPC message prefix: flags byte + 4-byte big-endian length.
const PREFIX_LEN: usize = 5;

/// What the watcher saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Event {
    /// A whole gRPC message on `stream`: its Compressed-Flag and its body as
    /// sent (`None` when longer than the watcher keeps).
    Message {
        stream: u32,
        compressed: bool,
        body: Option<Vec<u8>>,
    },
    /// A HEADERS frame on `stream`.
    Headers { stream: u32 },
    /// RST_STREAM on `stream` with `code`.
    Reset { stream: u32, code: u32 },
    /// The bytes stopped making sense as HTTP/2 frames; nothing follows.
    Lost,
}

/// The frame being read.
#[derive(Debug)]
struct Frame {
    kind: u8,
    flags: u8,
    stream: u32,
    len: usize,
    pos: usize,
    /// DATA: padding at the end (known once the pad length byte was read).
    pad: usize,
    /// RST_STREAM: the error code bytes.
    small: Vec<u8>,
}

/// One stream's gRPC messages being reassembled from DATA payloads.
#[derive(Debug, Default)]
struct Assembler {
    prefix: [u8; PREFIX_LEN],
    prefix_len: usize,
    compressed: bool,
    left: usize,
    keep: bool,
    body: Vec<u8>,
}

impl Assembler {
    fn push(&mut self, stream: u32, mut data: &[u8], max_body: usize, events: &mut Vec<Event>) {
        while !data.is_empty() {
            if self.prefix_len < PREFIX_LEN {
                let n = (PREFIX_LEN - self.prefix_len).min(data.len());
                self.prefix[self.prefix_len..self.prefix_len + n].copy_from_slice(&data[..n]);
                self.prefix_len += n;
                data = &data[n..];
                if self.prefix_len == PREFIX_LEN {
                    self.compressed = self.prefix[0] & 1 == 1;
                    let [_, a, b, c, d] = self.prefix;
                    self.left = u32::from_be_bytes([a, b, c, d]) as usize;
                    self.keep = self.left <= max_body;
                    self.body = Vec::new();
                    if self.left == 0 {
                        self.emit(stream, events);
                    }
                }
                continue;
            }
            let n = self.left.min(data.len());
            if self.keep {
                self.body.extend_from_slice(&data[..n]);
            }
            self.left -= n;
            data = &data[n..];
            if self.left == 0 {
                self.emit(stream, events);
            }
        }
    }

    fn emit(&mut self, stream: u32, events: &mut Vec<Event>) {
        let body = std::mem::take(&mut self.body);
        events.push(Event::Message {
            stream,
            compressed: self.compressed,
            body: self.keep.then_some(body),
        });
        self.prefix_len = 0;
    }
}

/// Follows one direction of a connection.
#[derive(Debug)]
pub(crate) struct FrameWatcher {
    /// Bytes still to skip before the first frame (the client preface).
    skip: usize,
    header: [u8; FRAME_HEADER_LEN],
    header_len: usize,
    frame: Option<Frame>,
    /// Whether DATA payloads are reassembled into messages.
    messages: bool,
    max_body: usize,
    streams: HashMap<u32, Assembler>,
    lost: bool,
}

impl FrameWatcher {
    /// A watcher whose byte stream starts with `skip` bytes that are not
    /// frames; it reassembles messages (keeping bodies up to `max_body`
    /// bytes) only if `messages`.
    pub(crate) fn new(skip: usize, messages: bool, max_body: usize) -> FrameWatcher {
        FrameWatcher {
            skip,
            header: [0; FRAME_HEADER_LEN],
            header_len: 0,
            frame: None,
            messages,
            max_body,
            streams: HashMap::new(),
            lost: false,
        }
    }

    /// Follows `data`, the next bytes of the direction, appending what it
    /// saw to `events`.
    pub(crate) fn feed(&mut self, mut data: &[u8], events: &mut Vec<Event>) {
        while !data.is_empty() && !self.lost {
            if self.skip > 0 {
                let n = self.skip.min(data.len());
                self.skip -= n;
                data = &data[n..];
                continue;
            }
            match self.frame.take() {
                None => {
                    let n = (FRAME_HEADER_LEN - self.header_len).min(data.len());
                    self.header[self.header_len..self.header_len + n].copy_from_slice(&data[..n]);
                    self.header_len += n;
                    data = &data[n..];
                    if self.header_len == FRAME_HEADER_LEN {
                        self.header_len = 0;
                        self.start_frame(events);
                    }
                }
                Some(mut frame) => {
                    let n = (frame.len - frame.pos).min(data.len());
                    self.payload(&mut frame, &data[..n], events);
                    data = &data[n..];
                    if frame.pos == frame.len {
                        self.end_frame(frame, events);
                    } else {
                        self.frame = Some(frame);
                    }
                }
            }
        }
    }

    fn start_frame(&mut self, events: &mut Vec<Event>) {
        let h = self.header;
        let len = u32::from_be_bytes([0, h[0], h[1], h[2]]) as usize;
        let stream = u32::from_be_bytes([h[5], h[6], h[7], h[8]]) & 0x7fff_ffff;
        let frame = Frame {
            kind: h[3],
            flags: h[4],
            stream,
            len,
            pos: 0,
            pad: 0,
            small: Vec::new(),
        };
        if frame.kind == HEADERS && stream != 0 {
            events.push(Event::Headers { stream });
        }
        if len == 0 {
            self.end_frame(frame, events);
        } else {
            self.frame = Some(frame);
        }
    }

    fn payload(&mut self, frame: &mut Frame, mut chunk: &[u8], events: &mut Vec<Event>) {
        match frame.kind {
            DATA if self.messages => {
                if frame.flags & PADDED != 0
                    && frame.pos == 0
                    && let Some((&pad, rest)) = chunk.split_first()
                {
                    frame.pad = usize::from(pad);
                    frame.pos = 1;
                    chunk = rest;
                    if frame.pad >= frame.len {
                        return self.lose(events);
                    }
                }
                let data_end = frame.len - frame.pad;
                let useful = data_end.saturating_sub(frame.pos).min(chunk.len());
                if useful > 0 {
                    let max_body = self.max_body;
                    self.streams.entry(frame.stream).or_default().push(
                        frame.stream,
                        &chunk[..useful],
                        max_body,
                        events,
                    );
                }
                frame.pos += chunk.len();
            }
            RST_STREAM => {
                let room = 4usize.saturating_sub(frame.small.len()).min(chunk.len());
                frame.small.extend_from_slice(&chunk[..room]);
                frame.pos += chunk.len();
            }
            _ => frame.pos += chunk.len(),
        }
    }

    fn end_frame(&mut self, frame: Frame, events: &mut Vec<Event>) {
        match frame.kind {
            DATA | HEADERS if frame.flags & END_STREAM != 0 => {
                self.streams.remove(&frame.stream);
            }
            RST_STREAM => {
                self.streams.remove(&frame.stream);
                if let [a, b, c, d] = frame.small[..] {
                    events.push(Event::Reset {
                        stream: frame.stream,
                        code: u32::from_be_bytes([a, b, c, d]),
                    });
                }
            }
            _ => {}
        }
    }

    fn lose(&mut self, events: &mut Vec<Event>) {
        self.lost = true;
        self.streams.clear();
        events.push(Event::Lost);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use quickcheck::{Arbitrary, Gen};
    use quickcheck_macros::quickcheck;

    fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let len = u32::try_from(payload.len()).unwrap().to_be_bytes();
        let mut out = vec![len[1], len[2], len[3], kind, flags];
        out.extend_from_slice(&stream.to_be_bytes());
        out.extend_from_slice(payload);
        out
    }

    fn message(compressed: bool, body: &[u8]) -> Vec<u8> {
        let mut out = vec![u8::from(compressed)];
        out.extend_from_slice(&u32::try_from(body.len()).unwrap().to_be_bytes());
        out.extend_from_slice(body);
        out
    }

    fn watch(bytes: &[u8], chunk: usize, skip: usize, max_body: usize) -> Vec<Event> {
        let mut watcher = FrameWatcher::new(skip, true, max_body);
        let mut events = Vec::new();
        for piece in bytes.chunks(chunk.max(1)) {
            watcher.feed(piece, &mut events);
        }
        events
    }

    fn msg(stream: u32, compressed: bool, body: &[u8]) -> Event {
        Event::Message {
            stream,
            compressed,
            body: Some(body.to_vec()),
        }
    }

    /// name, bytes, preface bytes to skip, largest body kept, events wanted
    type Case = (&'static str, Vec<u8>, usize, usize, Vec<Event>);

    #[test]
    fn table() {
        let preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
        let two = [message(true, b"abc"), message(false, b"")].concat();
        let padded = {
            let mut p = vec![3u8];
            p.extend_from_slice(&message(false, b"xy"));
            p.extend_from_slice(&[0, 0, 0]);
            p
        };
        let split = message(true, b"hello world");
        let cases: Vec<Case> = vec![
            (
                "preface, settings, headers, two messages in one frame",
                [
                    preface.to_vec(),
                    frame(0x4, 0, 0, &[0; 6]),
                    frame(HEADERS, 0x4, 1, b"hpack"),
                    frame(DATA, END_STREAM, 1, &two),
                ]
                .concat(),
                preface.len(),
                100,
                vec![
                    Event::Headers { stream: 1 },
                    msg(1, true, b"abc"),
                    msg(1, false, b""),
                ],
            ),
            (
                "padding is not message data",
                frame(DATA, PADDED, 3, &padded),
                0,
                100,
                vec![msg(3, false, b"xy")],
            ),
            (
                "a message split over two frames, interleaved with another stream",
                [
                    frame(DATA, 0, 1, &split[..7]),
                    frame(DATA, 0, 3, &message(false, b"z")),
                    frame(DATA, 0, 1, &split[7..]),
                ]
                .concat(),
                0,
                100,
                vec![msg(3, false, b"z"), msg(1, true, b"hello world")],
            ),
            (
                "rst_stream reports its code and drops the partial message",
                [
                    frame(DATA, 0, 5, &split[..7]),
                    frame(RST_STREAM, 0, 5, &8u32.to_be_bytes()),
                ]
                .concat(),
                0,
                100,
                vec![Event::Reset { stream: 5, code: 8 }],
            ),
            (
                "a body over the kept size is reported without it",
                frame(DATA, 0, 1, &message(false, b"0123456789")),
                0,
                4,
                vec![Event::Message {
                    stream: 1,
                    compressed: false,
                    body: None,
                }],
            ),
            (
                "a pad length past the frame end stops the watcher",
                [
                    frame(DATA, PADDED, 1, &[9, 0, 0]),
                    frame(DATA, 0, 1, &message(false, b"x")),
                ]
                .concat(),
                0,
                100,
                vec![Event::Lost],
            ),
            (
                "a truncated stream reports nothing partial",
                frame(DATA, 0, 1, &message(false, b"abcdef"))[..12].to_vec(),
                0,
                100,
                vec![],
            ),
        ];
        for (name, bytes, skip, max_body, want) in cases {
            for chunk in 1..=bytes.len().max(1) {
                assert_eq!(
                    watch(&bytes, chunk, skip, max_body),
                    want,
                    "{name}, chunk {chunk}"
                );
            }
        }
    }

    #[test]
    fn without_message_tracking_only_headers_and_resets_are_reported() {
        let bytes = [
            frame(HEADERS, 0, 1, b"x"),
            frame(DATA, 0, 1, &message(false, b"abc")),
            frame(RST_STREAM, 0, 1, &8u32.to_be_bytes()),
        ]
        .concat();
        let mut watcher = FrameWatcher::new(0, false, 100);
        let mut events = Vec::new();
        watcher.feed(&bytes, &mut events);
        assert_eq!(
            events,
            vec![
                Event::Headers { stream: 1 },
                Event::Reset { stream: 1, code: 8 }
            ]
        );
    }

    /// Messages on one stream, framed at arbitrary boundaries with
    /// arbitrary padding, read in arbitrary chunks.
    #[derive(Clone, Debug)]
    struct Framing {
        messages: Vec<(bool, Vec<u8>)>,
        frame_sizes: Vec<u8>,
        pads: Vec<Option<u8>>,
        chunk: u8,
    }

    impl Arbitrary for Framing {
        fn arbitrary(g: &mut Gen) -> Framing {
            Framing {
                messages: Vec::<(bool, Vec<u8>)>::arbitrary(g),
                frame_sizes: Vec::<u8>::arbitrary(g),
                pads: Vec::<Option<u8>>::arbitrary(g),
                chunk: u8::arbitrary(g),
            }
        }
    }

    #[quickcheck]
    fn any_framing_and_chunking_yields_the_messages_sent(f: Framing) -> bool {
        let payload: Vec<u8> = f
            .messages
            .iter()
            .flat_map(|(c, body)| message(*c, body))
            .collect();
        let mut bytes = Vec::new();
        let mut rest = &payload[..];
        let mut i = 0;
        while !rest.is_empty() {
            let size = usize::from(f.frame_sizes.get(i).copied().unwrap_or(200)).max(1);
            let (now, later) = rest.split_at(size.min(rest.len()));
            match f.pads.get(i).copied().flatten() {
                Some(pad) => {
                    let mut p = vec![pad];
                    p.extend_from_slice(now);
                    p.extend(std::iter::repeat_n(0, usize::from(pad)));
                    bytes.extend(frame(DATA, PADDED, 7, &p));
                }
                None => bytes.extend(frame(DATA, 0, 7, now)),
            }
            rest = later;
            i += 1;
        }
        let want: Vec<Event> = f
            .messages
            .iter()
            .map(|(c, body)| msg(7, *c, body))
            .collect();
        watch(&bytes, usize::from(f.chunk), 0, usize::MAX) == want
    }
}
