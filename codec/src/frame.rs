//! Length-Prefixed-Message framing (grpc/grpc `doc/PROTOCOL-HTTP2.md`).
//!
//! Every gRPC message travels in DATA frames as
//!
//! ```text
//! Length-Prefixed-Message -> Compressed-Flag Message-Length Message
//! Compressed-Flag         -> 0 / 1            (1 byte)
//! Message-Length          -> length of Message (4 bytes, big-endian u32)
//! ```
//!
//! DATA frame boundaries have no relation to message boundaries, so the
//! receiving side is an incremental [`MessageDecoder`] fed chunks of any size.
//! The sending side is [`MessageEncoder`] (or the [`encode_message`]
//! shortcut), which writes the 5-byte header and the message into one buffer.
//!
//! gRPC-Web (`doc/PROTOCOL-WEB.md`) reuses this framing and sends the
//! trailers as a last frame whose flag byte has its high bit set (`0x80`,
//! `0x81` when compressed). The decoder yields such frames only when asked to:
//! see [`MessageDecoder::with_web_trailers`] and [`MessageDecoder::next_frame`].
//!
//! # Limits
//! The receive limit ([`DEFAULT_MAX_RECEIVE_MESSAGE_SIZE`], 4 MiB, like the
//! other implementations) is checked against the length in the header before
//! any of the message is buffered or copied. The send limit defaults to
//! "anything the 32-bit length prefix can carry".

use alloc::string::ToString;
use alloc::vec::Vec;
use core::fmt;

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::queue::{self, InlineFirstQueue};
use crate::{Code, Status};

/// Length of the prefix in front of every message: one flag byte and a
/// big-endian `u32` length.
pub const HEADER_LEN: usize = 5;

/// Flag bit: the message is compressed with the call's `grpc-encoding`.
pub const FLAG_COMPRESSED: u8 = 0x01;

/// Flag bit: the frame carries gRPC-Web trailers instead of a message.
pub const FLAG_WEB_TRAILERS: u8 = 0x80;

/// The receive limit a new [`MessageDecoder`] enforces: 4 MiB, the default of
/// grpc-go, grpc-java and grpc-core.
pub const DEFAULT_MAX_RECEIVE_MESSAGE_SIZE: usize = 4 * 1024 * 1024;

/// The most a [`MessageDecoder`] reserves for a message spanning chunks on
/// the word of its header alone; a longer message (possible only with a
/// raised limit) grows its buffer as its bytes arrive. With the default limit
/// every message is reserved at once, in full.
const MAX_EAGER_RESERVE: usize = DEFAULT_MAX_RECEIVE_MESSAGE_SIZE;

/// The send limit a new [`MessageEncoder`] enforces: none beyond what the
/// 32-bit length prefix can carry.
pub const DEFAULT_MAX_SEND_MESSAGE_SIZE: usize = usize::MAX;

/// The 5-byte prefix for a frame with these flags and this length.
///
/// A low-level building block, for gRPC-Web trailer frames
/// ([`FLAG_WEB_TRAILERS`]) and tests; messages are better written with
/// [`MessageEncoder`], which checks the limits.
pub const fn encode_header(flags: u8, len: u32) -> [u8; HEADER_LEN] {
    let [a, b, c, d] = len.to_be_bytes();
    [flags, a, b, c, d]
}

/// Appends one framed message (`payload` behind its 5-byte header) to `dst`.
///
/// Only the 32-bit length limit applies; use [`MessageEncoder`] to enforce a
/// max send message size. On error `dst` is left as it was.
pub fn encode_message(
    dst: &mut BytesMut,
    compressed: bool,
    payload: &[u8],
) -> Result<(), FrameError> {
    MessageEncoder::new().encode(dst, compressed, payload)
}

/// Writes messages behind their 5-byte headers, enforcing a max send size.
///
/// ```
/// use bytes::{BufMut, BytesMut};
/// use ferrule_codec::frame::{FrameError, MessageEncoder};
///
/// let encoder = MessageEncoder::new().with_max_message_size(1024);
/// let mut buf = BytesMut::new();
/// encoder.encode_with(&mut buf, false, |body| {
///     body.put_slice(b"hello");
///     Ok::<(), FrameError>(())
/// })?;
/// assert_eq!(&buf[..], b"\x00\x00\x00\x00\x05hello");
/// # Ok::<(), FrameError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MessageEncoder {
    max_message_size: usize,
}

impl Default for MessageEncoder {
    fn default() -> Self {
        MessageEncoder::new()
    }
}

impl MessageEncoder {
    /// An encoder with [`DEFAULT_MAX_SEND_MESSAGE_SIZE`].
    pub const fn new() -> Self {
        MessageEncoder {
            max_message_size: DEFAULT_MAX_SEND_MESSAGE_SIZE,
        }
    }

    /// This encoder, refusing messages longer than `max` bytes.
    #[must_use]
    pub const fn with_max_message_size(mut self, max: usize) -> Self {
        self.max_message_size = max;
        self
    }

    /// Refuses messages longer than `max` bytes from now on.
    pub fn set_max_message_size(&mut self, max: usize) {
        self.max_message_size = max;
    }

    /// The longest message this encoder writes.
    pub const fn max_message_size(&self) -> usize {
        self.max_message_size
    }

    /// Appends one framed message to `dst`, the message written in place by
    /// `body`; returns the message's length.
    ///
    /// The header is reserved first, `body` appends the message behind it
    /// (and may grow `dst`), then the flag and length are filled in: one
    /// buffer, no copy. `body` must only append; it must not remove bytes
    /// that were in `dst` before it ran.
    ///
    /// # Errors
    /// `body`'s own error, or (converted with `From`) a [`FrameError`] when the
    /// message is longer than the max send size or than the 32-bit length
    /// prefix allows. In every error case `dst` is truncated back to the
    /// length it had (its capacity may have grown).
    pub fn encode_with<E, F>(
        &self,
        dst: &mut BytesMut,
        compressed: bool,
        body: F,
    ) -> Result<usize, E>
    where
        E: From<FrameError>,
        F: FnOnce(&mut BytesMut) -> Result<(), E>,
    {
        let start = dst.len();
        dst.put_slice(&[0; HEADER_LEN]);
        let body_start = dst.len();
        if let Err(err) = body(dst) {
            dst.truncate(start);
            return Err(err);
        }
        let frame = dst
            .len()
            .checked_sub(body_start)
            .ok_or(FrameError::EncoderBufferShrunk {
                frame_start: start,
                len: dst.len(),
            })
            .and_then(|len| self.check_len(len).map(|len32| (len, len32)));
        match frame {
            Ok((len, len32)) => match dst.get_mut(start..body_start) {
                Some(header) => {
                    header.copy_from_slice(&encode_header(flags_for(compressed), len32));
                    Ok(len)
                }
                None => {
                    // Unreachable: `checked_sub` above proved `dst.len() >= body_start`.
                    dst.truncate(start);
                    Err(FrameError::EncoderBufferShrunk {
                        frame_start: start,
                        len: dst.len(),
                    }
                    .into())
                }
            },
            Err(err) => {
                dst.truncate(start);
                Err(err.into())
            }
        }
    }

    /// Appends one framed message holding a copy of `payload` to `dst`.
    ///
    /// # Errors
    /// A [`FrameError`] when `payload` is longer than the max send size or
    /// than the 32-bit length prefix allows; `dst` is then left untouched.
    pub fn encode(
        &self,
        dst: &mut BytesMut,
        compressed: bool,
        payload: &[u8],
    ) -> Result<(), FrameError> {
        let len32 = self.check_len(payload.len())?;
        dst.reserve(HEADER_LEN.saturating_add(payload.len()));
        dst.put_slice(&encode_header(flags_for(compressed), len32));
        dst.put_slice(payload);
        Ok(())
    }

    fn check_len(&self, len: usize) -> Result<u32, FrameError> {
        if len > self.max_message_size {
            return Err(FrameError::SentMessageTooLarge {
                len,
                max: self.max_message_size,
            });
        }
        u32::try_from(len).map_err(|_| FrameError::MessageTooLongForFrame { len })
    }
}

const fn flags_for(compressed: bool) -> u8 {
    if compressed { FLAG_COMPRESSED } else { 0 }
}

/// One message taken from the stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodedMessage {
    /// The Compressed-Flag: `data` is compressed with the call's `grpc-encoding`.
    pub compressed: bool,
    /// The message bytes, still compressed if `compressed` is set.
    pub data: Bytes,
}

/// One frame taken from a stream that may carry gRPC-Web trailers; see
/// [`MessageDecoder::next_frame`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodedFrame {
    /// A message (flag byte `0x00` or `0x01`).
    Message(DecodedMessage),
    /// gRPC-Web trailers (flag byte `0x80` or `0x81`): an HTTP/1-style header
    /// block (`key: value\r\n` lines), compressed if `compressed` is set.
    /// The spec makes it the last frame of a response; enforcing that, and
    /// parsing the block, is the caller's job.
    Trailers {
        /// Flag bit 0: the block is compressed with the call's `grpc-encoding`.
        compressed: bool,
        /// The raw header block.
        data: Bytes,
    },
}

/// The header of the frame whose body is being received.
#[derive(Clone, Copy, Debug)]
struct PendingFrame {
    flags: u8,
    len: usize,
}

/// An incremental decoder of Length-Prefixed-Messages.
///
/// Feed it the stream's bytes in chunks of any size with [`push`](Self::push),
/// take messages out with [`next_message`](Self::next_message) until it returns
/// `Ok(None)`, and call [`finish`](Self::finish) at end of stream.
///
/// - **No copy when possible.** A message that lies wholly in one pushed chunk
///   is handed out as a slice of that chunk (it keeps the chunk's allocation
///   alive). Only a message that spans chunks is assembled, into a buffer
///   allocated once at the size its header announces (for messages over
///   4 MiB, possible only with a raised limit, the buffer grows as bytes
///   arrive instead, so a bare header cannot commit gigabytes).
/// - **Limits first.** The max message size is checked against the header
///   before any of the message is buffered or copied.
/// - **Sticky errors.** After an error every method returning a `Result`
///   returns the same error, and the buffered bytes are released.
/// - **Bounded memory.** Pushed chunks are only referenced until taken; if
///   the caller drains after every push, [`buffered_len`](Self::buffered_len)
///   never exceeds `max_message_size + HEADER_LEN`.
///
/// ```
/// use bytes::Bytes;
/// use ferrule_codec::frame::MessageDecoder;
///
/// let mut decoder = MessageDecoder::new();
/// decoder.push(Bytes::from_static(b"\x00\x00\x00\x00\x02hi\x01\x00"));
/// let msg = decoder.next_message()?.expect("a whole message");
/// assert_eq!((msg.compressed, &msg.data[..]), (false, &b"hi"[..]));
/// assert_eq!(decoder.next_message()?, None); // the next header is incomplete
/// assert!(decoder.finish().is_err()); // and the stream ends inside it
/// # Ok::<(), ferrule_codec::frame::FrameError>(())
/// ```
#[derive(Debug)]
pub struct MessageDecoder {
    /// Pushed bytes not yet consumed; never holds an empty chunk.
    chunks: InlineFirstQueue<Bytes>,
    /// Total length of `chunks`.
    queued: usize,
    /// Set once the header of the next frame has been consumed.
    pending: Option<PendingFrame>,
    /// The start of a pending frame's body that spans chunks; empty otherwise.
    assembly: Vec<u8>,
    max_message_size: usize,
    web_trailers: bool,
    error: Option<FrameError>,
}

impl Default for MessageDecoder {
    fn default() -> Self {
        MessageDecoder::new()
    }
}

impl MessageDecoder {
    /// A decoder with [`DEFAULT_MAX_RECEIVE_MESSAGE_SIZE`] that accepts
    /// messages only (no gRPC-Web trailer frames).
    pub fn new() -> Self {
        MessageDecoder {
            chunks: InlineFirstQueue::new(),
            queued: 0,
            pending: None,
            assembly: Vec::new(),
            max_message_size: DEFAULT_MAX_RECEIVE_MESSAGE_SIZE,
            web_trailers: false,
            error: None,
        }
    }

    /// This decoder, refusing messages (and trailer frames) longer than `max`.
    #[must_use]
    pub fn with_max_message_size(mut self, max: usize) -> Self {
        self.max_message_size = max;
        self
    }

    /// Refuses messages longer than `max` from the next header on (a message
    /// whose header was already read is not checked again).
    pub fn set_max_message_size(&mut self, max: usize) {
        self.max_message_size = max;
    }

    /// The longest message this decoder accepts.
    pub fn max_message_size(&self) -> usize {
        self.max_message_size
    }

    /// This decoder, accepting gRPC-Web trailer frames (flag byte `0x80` or
    /// `0x81`), which [`next_frame`](Self::next_frame) yields as
    /// [`DecodedFrame::Trailers`]. Without this those flag bytes are an
    /// [`FrameError::InvalidFlags`] error, as the native protocol wants.
    #[must_use]
    pub fn with_web_trailers(mut self) -> Self {
        self.web_trailers = true;
        self
    }

    /// Whether [`next_frame`](Self::next_frame) yields gRPC-Web trailer frames.
    pub fn accepts_web_trailers(&self) -> bool {
        self.web_trailers
    }

    /// Appends a chunk of the stream. Empty chunks are ignored, and so is
    /// everything pushed after an error.
    pub fn push(&mut self, chunk: Bytes) {
        if chunk.is_empty() || self.error.is_some() {
            return;
        }
        match self.queued.checked_add(chunk.len()) {
            Some(queued) => {
                self.queued = queued;
                self.chunks.push_back(chunk);
            }
            None => {
                self.fail(FrameError::BufferOverflow);
            }
        }
    }

    /// The next whole message, or `Ok(None)` if more bytes are needed.
    ///
    /// Trailer frames are never yielded here: on a stream that may carry
    /// gRPC-Web trailers use [`next_frame`](Self::next_frame) instead.
    ///
    /// # Errors
    /// [`FrameError::ReceivedMessageTooLarge`] (`RESOURCE_EXHAUSTED`) when a
    /// header announces more than the max message size;
    /// [`FrameError::InvalidFlags`] (`INTERNAL`) for a flag byte other than
    /// 0 or 1. The error is sticky.
    #[inline]
    pub fn next_message(&mut self) -> Result<Option<DecodedMessage>, FrameError> {
        Ok(self.decode(false)?.map(|(flags, data)| DecodedMessage {
            compressed: flags & FLAG_COMPRESSED != 0,
            data,
        }))
    }

    /// The next whole frame, message or (if enabled with
    /// [`with_web_trailers`](Self::with_web_trailers)) gRPC-Web trailers, or
    /// `Ok(None)` if more bytes are needed.
    ///
    /// # Errors
    /// As [`next_message`](Self::next_message); flag bytes `0x80` and `0x81`
    /// are errors only when web trailers are not enabled.
    #[inline]
    pub fn next_frame(&mut self) -> Result<Option<DecodedFrame>, FrameError> {
        let web = self.web_trailers;
        Ok(self.decode(web)?.map(|(flags, data)| {
            let compressed = flags & FLAG_COMPRESSED != 0;
            if flags & FLAG_WEB_TRAILERS != 0 {
                DecodedFrame::Trailers { compressed, data }
            } else {
                DecodedFrame::Message(DecodedMessage { compressed, data })
            }
        }))
    }

    /// Ends the stream: `Ok(())` if the bytes received so far are whole frames.
    ///
    /// Call it after draining with `next_message`/`next_frame`. Frames still
    /// buffered are not lost (they can be drained afterwards); an invalid
    /// header among them is reported here as it would be by draining.
    ///
    /// # Errors
    /// [`FrameError::TruncatedHeader`] or [`FrameError::TruncatedMessage`]
    /// (`INTERNAL`) if the stream ends inside a frame, naming how many bytes
    /// were expected and received; or the sticky error. The error is sticky.
    pub fn finish(&mut self) -> Result<(), FrameError> {
        if let Some(err) = &self.error {
            return Err(err.clone());
        }
        match self.check_whole_frames() {
            Ok(()) => Ok(()),
            Err(err) => Err(self.fail(err)),
        }
    }

    /// Bytes received and not yet handed out: queued chunks, the part of a
    /// message assembled so far, and the header of a message being received
    /// (counted as [`HEADER_LEN`] although it is no longer held).
    ///
    /// An engine can bound memory with it: drained after every push, it
    /// stays at most `max_message_size + HEADER_LEN`. Zero after an error.
    pub fn buffered_len(&self) -> usize {
        let header = if self.pending.is_some() {
            HEADER_LEN
        } else {
            0
        };
        self.queued
            .saturating_add(self.assembly.len())
            .saturating_add(header)
    }

    /// The error this decoder stopped on, if any.
    pub fn error(&self) -> Option<&FrameError> {
        self.error.as_ref()
    }

    /// Records `err` as sticky, releases the buffers and returns `err`.
    #[cold]
    fn fail(&mut self, err: FrameError) -> FrameError {
        self.chunks = InlineFirstQueue::new();
        self.queued = 0;
        self.pending = None;
        self.assembly = Vec::new();
        self.error = Some(err.clone());
        err
    }

    /// The flag byte and body of the next whole frame.
    #[inline]
    fn decode(&mut self, allow_trailers: bool) -> Result<Option<(u8, Bytes)>, FrameError> {
        if let Some(err) = &self.error {
            return Err(err.clone());
        }
        let frame = match self.pending {
            Some(frame) => frame,
            None => {
                let Some(header) = self.take_header() else {
                    return Ok(None);
                };
                match parse_header(header, self.max_message_size, allow_trailers) {
                    Ok(frame) => frame,
                    Err(err) => return Err(self.fail(err)),
                }
            }
        };
        match self.take_body(frame.len) {
            Ok(Some(data)) => {
                self.pending = None;
                Ok(Some((frame.flags, data)))
            }
            Ok(None) => {
                self.pending = Some(frame);
                Ok(None)
            }
            Err(err) => Err(self.fail(err)),
        }
    }

    /// Consumes the next 5 bytes if they are all there.
    #[inline]
    fn take_header(&mut self) -> Option<[u8; HEADER_LEN]> {
        if self.queued < HEADER_LEN {
            return None;
        }
        let front = self.chunks.front_mut()?;
        if let Some(&header) = front.first_chunk::<HEADER_LEN>() {
            front.advance(HEADER_LEN);
            if front.is_empty() {
                self.chunks.pop_front();
            }
            self.queued -= HEADER_LEN;
            return Some(header);
        }
        self.take_split_header()
    }

    /// The header spans chunks: gather it byte range by byte range.
    #[cold]
    fn take_split_header(&mut self) -> Option<[u8; HEADER_LEN]> {
        let mut header = [0; HEADER_LEN];
        let mut filled = 0;
        while filled < HEADER_LEN {
            let front = self.chunks.front_mut()?;
            let n = front.len().min(HEADER_LEN - filled);
            header
                .get_mut(filled..filled + n)?
                .copy_from_slice(front.get(..n)?);
            front.advance(n);
            if front.is_empty() {
                self.chunks.pop_front();
            }
            filled += n;
        }
        self.queued -= HEADER_LEN;
        Some(header)
    }

    /// Consumes the `len`-byte body of the pending frame if it is all there:
    /// a slice of one chunk when it lies in one, assembled otherwise.
    #[inline]
    fn take_body(&mut self, len: usize) -> Result<Option<Bytes>, FrameError> {
        if self.assembly.is_empty() {
            if len == 0 {
                return Ok(Some(Bytes::new()));
            }
            let Some(front) = self.chunks.front_mut() else {
                return Ok(None);
            };
            if front.len() > len {
                self.queued -= len;
                return Ok(Some(front.split_to(len)));
            }
            if front.len() == len {
                self.queued -= len;
                return Ok(self.chunks.pop_front());
            }
            // The body spans chunks: reserve it whole, once (up to a cap,
            // so that a 5-byte header cannot commit more memory than that).
            self.assembly
                .try_reserve_exact(len.min(MAX_EAGER_RESERVE))
                .map_err(|_| FrameError::AllocationFailed { len })?;
        }
        self.assemble(len)
    }

    /// Copies queued bytes into the assembly until it holds `len` bytes.
    fn assemble(&mut self, len: usize) -> Result<Option<Bytes>, FrameError> {
        while let Some(need) = len.checked_sub(self.assembly.len()).filter(|&n| n > 0) {
            let Some(front) = self.chunks.front_mut() else {
                return Ok(None);
            };
            let incoming = need.min(front.len());
            if self.assembly.capacity() - self.assembly.len() < incoming {
                grow_assembly(&mut self.assembly, incoming, len)?;
            }
            if front.len() <= need {
                self.assembly.extend_from_slice(front);
                self.queued -= front.len();
                self.chunks.pop_front();
            } else {
                self.assembly
                    .extend_from_slice(front.get(..need).unwrap_or_default());
                front.advance(need);
                self.queued -= need;
            }
        }
        Ok(Some(Bytes::from(core::mem::take(&mut self.assembly))))
    }

    /// Walks the buffered bytes frame by frame without consuming them.
    fn check_whole_frames(&self) -> Result<(), FrameError> {
        let mut cursor = ChunkCursor::new(&self.chunks);
        let mut remaining = self.queued;
        if let Some(frame) = self.pending {
            let received = self.assembly.len().saturating_add(remaining);
            let need = frame.len.saturating_sub(self.assembly.len());
            if remaining < need {
                return Err(FrameError::TruncatedMessage {
                    expected: frame.len,
                    received,
                });
            }
            cursor.skip(need);
            remaining -= need;
        }
        while remaining > 0 {
            let Some(header) = cursor.read_header() else {
                return Err(FrameError::TruncatedHeader {
                    received: remaining,
                });
            };
            remaining -= HEADER_LEN;
            let frame = parse_header(header, self.max_message_size, self.web_trailers)?;
            if remaining < frame.len {
                return Err(FrameError::TruncatedMessage {
                    expected: frame.len,
                    received: remaining,
                });
            }
            cursor.skip(frame.len);
            remaining -= frame.len;
        }
        Ok(())
    }
}

/// Makes room for `incoming` more bytes of a `len`-byte body that is
/// larger than [`MAX_EAGER_RESERVE`]: geometric growth, so the copies stay
/// amortized, capped at `len`, so the final buffer is exact.
#[cold]
fn grow_assembly(assembly: &mut Vec<u8>, incoming: usize, len: usize) -> Result<(), FrameError> {
    let used = assembly.len();
    let target = used
        .saturating_add(incoming)
        .max(assembly.capacity().saturating_mul(2))
        .min(len);
    assembly
        .try_reserve_exact(target.saturating_sub(used))
        .map_err(|_| FrameError::AllocationFailed { len })
}

/// Validates a header against the flags allowed and the size limit.
#[inline]
fn parse_header(
    header: [u8; HEADER_LEN],
    max: usize,
    allow_trailers: bool,
) -> Result<PendingFrame, FrameError> {
    let [flags, a, b, c, d] = header;
    let len32 = u32::from_be_bytes([a, b, c, d]);
    match flags {
        0x00 | 0x01 => {}
        0x80 | 0x81 if allow_trailers => {}
        _ => return Err(FrameError::InvalidFlags { flags }),
    }
    match usize::try_from(len32) {
        Ok(len) if len <= max => Ok(PendingFrame { flags, len }),
        _ => Err(FrameError::ReceivedMessageTooLarge { len: len32, max }),
    }
}

/// A read position in a queue of chunks, for looking ahead without consuming.
struct ChunkCursor<'a> {
    chunks: queue::Iter<'a, Bytes>,
    current: &'a [u8],
}

impl<'a> ChunkCursor<'a> {
    fn new(chunks: &'a InlineFirstQueue<Bytes>) -> Self {
        ChunkCursor {
            chunks: chunks.iter(),
            current: &[],
        }
    }

    /// Advances `n` bytes, or to the end.
    fn skip(&mut self, mut n: usize) {
        loop {
            if n <= self.current.len() {
                self.current = self.current.get(n..).unwrap_or_default();
                return;
            }
            n -= self.current.len();
            match self.chunks.next() {
                Some(chunk) => self.current = chunk,
                None => {
                    self.current = &[];
                    return;
                }
            }
        }
    }

    /// Reads 5 bytes, or `None` if fewer remain.
    fn read_header(&mut self) -> Option<[u8; HEADER_LEN]> {
        let mut header = [0; HEADER_LEN];
        let mut filled = 0;
        while filled < HEADER_LEN {
            if self.current.is_empty() {
                self.current = self.chunks.next()?;
            }
            let n = self.current.len().min(HEADER_LEN - filled);
            let (head, rest) = self.current.split_at_checked(n)?;
            header.get_mut(filled..filled + n)?.copy_from_slice(head);
            self.current = rest;
            filled += n;
        }
        Some(header)
    }
}

/// A framing error: the peer sent a bad or oversized frame, the stream ended
/// inside one, or a message is too large to send.
///
/// [`code`](FrameError::code) gives the status code the spec asks for; the
/// `From` conversion makes a [`Status`] with this error's text.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FrameError {
    /// Peer: a header announced a message longer than the receive limit.
    ReceivedMessageTooLarge {
        /// The length in the header.
        len: u32,
        /// The receive limit.
        max: usize,
    },
    /// Peer: the flag byte was not 0 or 1 (nor, where gRPC-Web trailers are
    /// accepted, `0x80` or `0x81`).
    InvalidFlags {
        /// The flag byte received.
        flags: u8,
    },
    /// Peer: the stream ended inside a frame header.
    TruncatedHeader {
        /// How many of the header's 5 bytes arrived.
        received: usize,
    },
    /// Peer: the stream ended inside a message.
    TruncatedMessage {
        /// The message length announced by the header.
        expected: usize,
        /// How many message bytes arrived.
        received: usize,
    },
    /// Resources: the buffer for a message spanning chunks (of a size within
    /// the limit) could not be allocated.
    AllocationFailed {
        /// The message length.
        len: usize,
    },
    /// Resources: more bytes were pushed without draining than a `usize` counts.
    BufferOverflow,
    /// Local: a message to send is longer than the send limit.
    SentMessageTooLarge {
        /// The message length.
        len: usize,
        /// The send limit.
        max: usize,
    },
    /// Local: a message to send is longer than the 32-bit length prefix allows.
    MessageTooLongForFrame {
        /// The message length.
        len: usize,
    },
    /// Local bug: the closure given to [`MessageEncoder::encode_with`] removed
    /// bytes from the buffer that were there before the message.
    EncoderBufferShrunk {
        /// Where the frame's header started.
        frame_start: usize,
        /// The buffer's length after the closure ran.
        len: usize,
    },
}

impl FrameError {
    /// The status code this error ends a call with: `RESOURCE_EXHAUSTED` for
    /// size limits, `INTERNAL` for malformed or truncated frames.
    pub fn code(&self) -> Code {
        match self {
            FrameError::ReceivedMessageTooLarge { .. }
            | FrameError::SentMessageTooLarge { .. }
            | FrameError::MessageTooLongForFrame { .. }
            | FrameError::AllocationFailed { .. }
            | FrameError::BufferOverflow => Code::RESOURCE_EXHAUSTED,
            FrameError::InvalidFlags { .. }
            | FrameError::TruncatedHeader { .. }
            | FrameError::TruncatedMessage { .. }
            | FrameError::EncoderBufferShrunk { .. } => Code::INTERNAL,
        }
    }
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::ReceivedMessageTooLarge { len, max } => {
                write!(
                    f,
                    "grpc: received message larger than max ({len} vs. {max})"
                )
            }
            FrameError::InvalidFlags { flags }
                if flags & FLAG_WEB_TRAILERS != 0 && flags & !0x81 == 0 =>
            {
                write!(
                    f,
                    "grpc: received a gRPC-Web trailers frame (flag byte {flags:#04x}) where only messages are allowed"
                )
            }
            FrameError::InvalidFlags { flags } => write!(
                f,
                "grpc: received message with invalid flag byte {flags:#04x} (the compressed flag must be 0 or 1)"
            ),
            FrameError::TruncatedHeader { received } => write!(
                f,
                "grpc: stream ended inside a message header ({received} of {HEADER_LEN} bytes received)"
            ),
            FrameError::TruncatedMessage { expected, received } => write!(
                f,
                "grpc: stream ended inside a message ({received} of {expected} bytes received)"
            ),
            FrameError::AllocationFailed { len } => {
                write!(
                    f,
                    "grpc: could not allocate {len} bytes for a received message"
                )
            }
            FrameError::BufferOverflow => {
                f.write_str("grpc: too many bytes buffered by the message decoder")
            }
            FrameError::SentMessageTooLarge { len, max } => {
                write!(
                    f,
                    "grpc: trying to send message larger than max ({len} vs. {max})"
                )
            }
            FrameError::MessageTooLongForFrame { len } => write!(
                f,
                "grpc: message of {len} bytes is too long for the 32-bit length prefix (max {})",
                u32::MAX
            ),
            FrameError::EncoderBufferShrunk { frame_start, len } => write!(
                f,
                "grpc: the message encoder shrank the buffer to {len} bytes, below the frame header at {frame_start}"
            ),
        }
    }
}

impl core::error::Error for FrameError {}

impl From<FrameError> for Status {
    fn from(err: FrameError) -> Status {
        Status::new(err.code(), err.to_string())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use alloc::vec;
    use alloc::vec::Vec;
    use quickcheck_macros::quickcheck;

    /// Everything a decoder yields for `chunks`, then the outcome of `finish`.
    fn decode_all(
        mut decoder: MessageDecoder,
        chunks: &[&[u8]],
    ) -> (Vec<DecodedFrame>, Result<(), FrameError>) {
        let mut frames = Vec::new();
        for chunk in chunks {
            decoder.push(Bytes::copy_from_slice(chunk));
            loop {
                match decoder.next_frame() {
                    Ok(Some(frame)) => frames.push(frame),
                    Ok(None) => break,
                    Err(err) => return (frames, Err(err)),
                }
            }
        }
        let end = decoder.finish();
        (frames, end)
    }

    fn one_byte_chunks(input: &[u8]) -> Vec<&[u8]> {
        input.chunks(1).collect()
    }

    fn msg(compressed: bool, data: &[u8]) -> DecodedFrame {
        DecodedFrame::Message(DecodedMessage {
            compressed,
            data: Bytes::copy_from_slice(data),
        })
    }

    fn framed(flags: u8, body: &[u8]) -> Vec<u8> {
        let mut out = encode_header(flags, u32::try_from(body.len()).unwrap()).to_vec();
        out.extend_from_slice(body);
        out
    }

    #[test]
    fn header_bytes_are_exact() {
        let cases: &[(bool, &[u8], &[u8])] = &[
            (false, b"", b"\x00\x00\x00\x00\x00"),
            (true, b"", b"\x01\x00\x00\x00\x00"),
            (false, b"abc", b"\x00\x00\x00\x00\x03abc"),
            (true, b"\xff", b"\x01\x00\x00\x00\x01\xff"),
        ];
        for &(compressed, payload, expected) in cases {
            let mut buf = BytesMut::new();
            encode_message(&mut buf, compressed, payload).unwrap();
            assert_eq!(
                &buf[..],
                expected,
                "compressed={compressed} payload={payload:?}"
            );

            let mut buf = BytesMut::from(&b"prefix"[..]);
            let len = MessageEncoder::new()
                .encode_with(&mut buf, compressed, |body| {
                    body.put_slice(payload);
                    Ok::<_, FrameError>(())
                })
                .unwrap();
            assert_eq!(len, payload.len());
            assert_eq!(&buf[..6], b"prefix");
            assert_eq!(&buf[6..], expected);
        }
        assert_eq!(encode_header(0x80, 0x0102_0304), [0x80, 1, 2, 3, 4]);
        assert_eq!(encode_header(0, u32::MAX), [0, 0xff, 0xff, 0xff, 0xff]);
    }

    #[test]
    fn encoder_send_limit_boundary_and_rollback() {
        let encoder = MessageEncoder::new().with_max_message_size(4);
        let mut buf = BytesMut::from(&b"keep"[..]);
        encoder.encode(&mut buf, false, b"1234").unwrap();
        assert_eq!(&buf[..], b"keep\x00\x00\x00\x00\x041234");

        let mut buf = BytesMut::from(&b"keep"[..]);
        let err = encoder.encode(&mut buf, false, b"12345").unwrap_err();
        assert_eq!(err, FrameError::SentMessageTooLarge { len: 5, max: 4 });
        assert_eq!(err.code(), Code::RESOURCE_EXHAUSTED);
        assert_eq!(
            err.to_string(),
            "grpc: trying to send message larger than max (5 vs. 4)"
        );
        assert_eq!(&buf[..], b"keep");

        let err = encoder
            .encode_with(&mut buf, true, |body| {
                body.put_slice(b"12345");
                Ok::<_, FrameError>(())
            })
            .unwrap_err();
        assert_eq!(err, FrameError::SentMessageTooLarge { len: 5, max: 4 });
        assert_eq!(&buf[..], b"keep");
    }

    #[test]
    fn encoder_closure_error_leaves_buffer_alone() {
        #[derive(Debug, PartialEq)]
        enum BodyError {
            Codec,
            Frame(FrameError),
        }
        impl From<FrameError> for BodyError {
            fn from(err: FrameError) -> Self {
                BodyError::Frame(err)
            }
        }
        let mut buf = BytesMut::from(&b"keep"[..]);
        let err = MessageEncoder::new()
            .encode_with(&mut buf, false, |body| {
                body.put_slice(b"half-written");
                Err(BodyError::Codec)
            })
            .unwrap_err();
        assert_eq!(err, BodyError::Codec);
        assert_eq!(&buf[..], b"keep");

        // A Status works as the closure's error type too.
        let status = MessageEncoder::new()
            .with_max_message_size(0)
            .encode_with(&mut buf, false, |body| {
                body.put_u8(1);
                Ok::<_, Status>(())
            })
            .unwrap_err();
        assert_eq!(status.code(), Code::RESOURCE_EXHAUSTED);
        assert_eq!(&buf[..], b"keep");
    }

    #[test]
    fn encoder_closure_that_shrinks_the_buffer_is_an_error_not_a_panic() {
        let mut buf = BytesMut::from(&b"keep"[..]);
        let err = MessageEncoder::new()
            .encode_with(&mut buf, false, |body| {
                body.truncate(2);
                Ok::<_, FrameError>(())
            })
            .unwrap_err();
        assert_eq!(
            err,
            FrameError::EncoderBufferShrunk {
                frame_start: 4,
                len: 2
            }
        );
        assert_eq!(err.code(), Code::INTERNAL);
        assert_eq!(&buf[..], b"ke");
    }

    /// One decoding case: the input, the limit, and what must come out.
    struct Case {
        name: &'static str,
        input: Vec<u8>,
        max: usize,
        web: bool,
        frames: Vec<DecodedFrame>,
        end: Result<(), FrameError>,
    }

    fn cases() -> Vec<Case> {
        let max = 16;
        let mut two = framed(0, b"one");
        two.extend(framed(1, b"two!"));
        let mut web_stream = framed(0, b"m");
        web_stream.extend(framed(0x80, b"grpc-status: 0\r\n"));
        let mut after_good = framed(0, b"ok");
        after_good.extend(framed(0, &[7; 17]));
        vec![
            Case {
                name: "empty stream",
                input: vec![],
                max,
                web: false,
                frames: vec![],
                end: Ok(()),
            },
            Case {
                name: "empty message",
                input: framed(0, b""),
                max,
                web: false,
                frames: vec![msg(false, b"")],
                end: Ok(()),
            },
            Case {
                name: "two messages, the second compressed",
                input: two,
                max,
                web: false,
                frames: vec![msg(false, b"one"), msg(true, b"two!")],
                end: Ok(()),
            },
            Case {
                name: "exactly at the limit",
                input: framed(0, &[9; 16]),
                max,
                web: false,
                frames: vec![msg(false, &[9; 16])],
                end: Ok(()),
            },
            Case {
                name: "one over the limit",
                input: framed(0, &[9; 17]),
                max,
                web: false,
                frames: vec![],
                end: Err(FrameError::ReceivedMessageTooLarge { len: 17, max: 16 }),
            },
            Case {
                name: "over the limit after a good message",
                input: after_good,
                max,
                web: false,
                frames: vec![msg(false, b"ok")],
                end: Err(FrameError::ReceivedMessageTooLarge { len: 17, max: 16 }),
            },
            Case {
                name: "limit zero allows empty messages",
                input: framed(1, b""),
                max: 0,
                web: false,
                frames: vec![msg(true, b"")],
                end: Ok(()),
            },
            Case {
                name: "header announcing u32::MAX",
                input: vec![0, 0xff, 0xff, 0xff, 0xff],
                max: DEFAULT_MAX_RECEIVE_MESSAGE_SIZE,
                web: false,
                frames: vec![],
                end: Err(FrameError::ReceivedMessageTooLarge {
                    len: u32::MAX,
                    max: DEFAULT_MAX_RECEIVE_MESSAGE_SIZE,
                }),
            },
            Case {
                name: "truncated header, 1 byte",
                input: vec![0],
                max,
                web: false,
                frames: vec![],
                end: Err(FrameError::TruncatedHeader { received: 1 }),
            },
            Case {
                name: "truncated header, 4 bytes",
                input: vec![0, 0, 0, 0],
                max,
                web: false,
                frames: vec![],
                end: Err(FrameError::TruncatedHeader { received: 4 }),
            },
            Case {
                name: "truncated body after a whole message",
                input: [framed(0, b"a"), framed(0, b"hello")[..7].to_vec()].concat(),
                max,
                web: false,
                frames: vec![msg(false, b"a")],
                end: Err(FrameError::TruncatedMessage {
                    expected: 5,
                    received: 2,
                }),
            },
            Case {
                name: "header with no body",
                input: framed(0, b"hello")[..5].to_vec(),
                max,
                web: false,
                frames: vec![],
                end: Err(FrameError::TruncatedMessage {
                    expected: 5,
                    received: 0,
                }),
            },
            Case {
                name: "web trailers without the opt-in",
                input: framed(0x80, b"grpc-status: 0\r\n"),
                max,
                web: false,
                frames: vec![],
                end: Err(FrameError::InvalidFlags { flags: 0x80 }),
            },
            Case {
                name: "web trailers with the opt-in",
                input: web_stream,
                max: 64,
                web: true,
                frames: vec![
                    msg(false, b"m"),
                    DecodedFrame::Trailers {
                        compressed: false,
                        data: Bytes::from_static(b"grpc-status: 0\r\n"),
                    },
                ],
                end: Ok(()),
            },
            Case {
                name: "compressed web trailers",
                input: framed(0x81, b"xyz"),
                max,
                web: true,
                frames: vec![DecodedFrame::Trailers {
                    compressed: true,
                    data: Bytes::from_static(b"xyz"),
                }],
                end: Ok(()),
            },
            Case {
                name: "web trailers over the limit",
                input: framed(0x80, &[b'a'; 17]),
                max,
                web: true,
                frames: vec![],
                end: Err(FrameError::ReceivedMessageTooLarge { len: 17, max: 16 }),
            },
            Case {
                name: "0x82 is invalid even with web trailers",
                input: framed(0x82, b""),
                max,
                web: true,
                frames: vec![],
                end: Err(FrameError::InvalidFlags { flags: 0x82 }),
            },
        ]
    }

    #[test]
    fn decoding_table_whole_one_byte_and_every_split() {
        for case in cases() {
            let decoder = || {
                let d = MessageDecoder::new().with_max_message_size(case.max);
                if case.web { d.with_web_trailers() } else { d }
            };
            let whole = decode_all(decoder(), &[&case.input]);
            assert_eq!(
                whole,
                (case.frames.clone(), case.end.clone()),
                "{}: one chunk",
                case.name
            );
            let bytewise = decode_all(decoder(), &one_byte_chunks(&case.input));
            assert_eq!(bytewise, whole, "{}: 1-byte chunks", case.name);
            for at in 0..=case.input.len() {
                let (a, b) = case.input.split_at(at);
                let split = decode_all(decoder(), &[a, b]);
                assert_eq!(split, whole, "{}: split at {at}", case.name);
            }
        }
    }

    #[test]
    fn every_bad_flag_byte_is_internal() {
        for flags in 2..=u8::MAX {
            for web in [false, true] {
                let mut decoder = MessageDecoder::new();
                if web {
                    decoder = decoder.with_web_trailers();
                }
                decoder.push(Bytes::from(framed(flags, b"x")));
                let accepted = web && (flags == 0x80 || flags == 0x81);
                let result = decoder.next_frame();
                if accepted {
                    assert!(
                        matches!(result, Ok(Some(DecodedFrame::Trailers { .. }))),
                        "{flags:#x}"
                    );
                    continue;
                }
                let err = result.unwrap_err();
                assert_eq!(err, FrameError::InvalidFlags { flags });
                assert_eq!(err.code(), Code::INTERNAL);
                assert_eq!(Status::from(err).code(), Code::INTERNAL);
            }
        }
    }

    #[test]
    fn next_message_never_yields_trailers() {
        let mut decoder = MessageDecoder::new().with_web_trailers();
        decoder.push(Bytes::from(framed(0x80, b"grpc-status: 0\r\n")));
        let err = decoder.next_message().unwrap_err();
        assert_eq!(err, FrameError::InvalidFlags { flags: 0x80 });
        assert_eq!(
            err.to_string(),
            "grpc: received a gRPC-Web trailers frame (flag byte 0x80) where only messages are allowed"
        );
    }

    #[test]
    fn limit_is_checked_from_the_header_before_the_body() {
        let mut decoder = MessageDecoder::new();
        decoder.push(Bytes::from_static(&[0, 0x00, 0x4c, 0x4b, 0x40])); // 5_000_000
        assert_eq!(decoder.buffered_len(), 5);
        let err = decoder.next_message().unwrap_err();
        assert_eq!(
            err.to_string(),
            "grpc: received message larger than max (5000000 vs. 4194304)"
        );
        assert_eq!(err.code(), Code::RESOURCE_EXHAUSTED);
        let status = Status::from(err);
        assert_eq!(status.code(), Code::RESOURCE_EXHAUSTED);
        assert_eq!(
            status.message(),
            "grpc: received message larger than max (5000000 vs. 4194304)"
        );
        assert_eq!(decoder.buffered_len(), 0);
    }

    #[test]
    fn errors_are_sticky_and_release_the_buffers() {
        let mut decoder = MessageDecoder::new();
        decoder.push(Bytes::from(
            [framed(7, b"bad"), framed(0, b"good")].concat(),
        ));
        let err = decoder.next_message().unwrap_err();
        assert_eq!(err, FrameError::InvalidFlags { flags: 7 });
        assert_eq!(decoder.buffered_len(), 0);
        decoder.push(Bytes::from(framed(0, b"later")));
        assert_eq!(decoder.buffered_len(), 0);
        assert_eq!(decoder.next_message(), Err(err.clone()));
        assert_eq!(decoder.next_frame(), Err(err.clone()));
        assert_eq!(decoder.finish(), Err(err.clone()));
        assert_eq!(decoder.error(), Some(&err));

        let mut decoder = MessageDecoder::new();
        decoder.push(Bytes::from_static(b"\x00\x00"));
        let truncated = decoder.finish().unwrap_err();
        assert_eq!(truncated, FrameError::TruncatedHeader { received: 2 });
        assert_eq!(
            truncated.to_string(),
            "grpc: stream ended inside a message header (2 of 5 bytes received)"
        );
        decoder.push(Bytes::from_static(b"\x00\x00\x00"));
        assert_eq!(decoder.next_message(), Err(truncated));
    }

    #[test]
    fn finish_before_draining_keeps_whole_frames() {
        let mut decoder = MessageDecoder::new();
        decoder.push(Bytes::from([framed(0, b"a"), framed(1, b"bc")].concat()));
        assert_eq!(decoder.finish(), Ok(()));
        assert_eq!(decoder.next_message().unwrap().unwrap().data, &b"a"[..]);
        assert_eq!(decoder.next_message().unwrap().unwrap().data, &b"bc"[..]);
        assert_eq!(decoder.next_message(), Ok(None));

        let mut decoder = MessageDecoder::new().with_max_message_size(1);
        decoder.push(Bytes::from([framed(0, b"a"), framed(0, b"bc")].concat()));
        assert_eq!(
            decoder.finish(),
            Err(FrameError::ReceivedMessageTooLarge { len: 2, max: 1 })
        );
        let truncated = FrameError::TruncatedMessage {
            expected: 10,
            received: 3,
        };
        assert_eq!(
            truncated.to_string(),
            "grpc: stream ended inside a message (3 of 10 bytes received)"
        );
    }

    fn points_into(data: &Bytes, chunk: &Bytes) -> bool {
        let range = chunk.as_ptr_range();
        data.is_empty() || (range.contains(&data.as_ptr()) && data.as_ptr_range().end <= range.end)
    }

    #[test]
    fn message_in_one_chunk_is_not_copied() {
        let chunk =
            Bytes::from([framed(0, b"first"), framed(0, b"second"), framed(0, b"thi")].concat());
        let mut decoder = MessageDecoder::new();
        decoder.push(chunk.clone());
        let first = decoder.next_message().unwrap().unwrap();
        let second = decoder.next_message().unwrap().unwrap();
        assert_eq!(
            (&first.data[..], &second.data[..]),
            (&b"first"[..], &b"second"[..])
        );
        assert!(points_into(&first.data, &chunk));
        assert!(points_into(&second.data, &chunk));

        // A header split over chunks does not force a copy of a body that
        // lies in one chunk.
        let mut decoder = MessageDecoder::new();
        decoder.push(Bytes::from_static(b"\x00\x00"));
        decoder.push(Bytes::from_static(b"\x00\x00\x04"));
        let body = Bytes::from_static(b"bodyrest");
        decoder.push(body.clone());
        let msg = decoder.next_message().unwrap().unwrap();
        assert_eq!(&msg.data[..], b"body");
        assert!(points_into(&msg.data, &body));
        assert_eq!(decoder.buffered_len(), 4);
    }

    #[test]
    fn message_spanning_chunks_is_assembled_once() {
        let input = framed(1, b"0123456789");
        let (a, b) = input.split_at(9);
        let (a, b) = (Bytes::copy_from_slice(a), Bytes::copy_from_slice(b));
        let mut decoder = MessageDecoder::new();
        decoder.push(a.clone());
        assert_eq!(decoder.next_message(), Ok(None));
        assert_eq!(decoder.buffered_len(), 9);
        assert_eq!(decoder.assembly.capacity(), 10);
        decoder.push(b.clone());
        let msg = decoder.next_message().unwrap().unwrap();
        assert_eq!((msg.compressed, &msg.data[..]), (true, &b"0123456789"[..]));
        assert!(!points_into(&msg.data, &a) && !points_into(&msg.data, &b));
        assert_eq!(decoder.buffered_len(), 0);
        assert_eq!(decoder.finish(), Ok(()));
    }

    #[test]
    fn a_bare_header_commits_at_most_the_eager_cap() {
        let len = MAX_EAGER_RESERVE + 1000;
        let body: Vec<u8> = (0..len).map(|i| i as u8).collect();
        let input = framed(0, &body);
        let mut decoder = MessageDecoder::new().with_max_message_size(usize::MAX);
        decoder.push(Bytes::copy_from_slice(&input[..HEADER_LEN + 1]));
        assert_eq!(decoder.next_message(), Ok(None));
        assert_eq!(decoder.assembly.capacity(), MAX_EAGER_RESERVE);
        for chunk in input[HEADER_LEN + 1..].chunks(64 * 1024) {
            decoder.push(Bytes::copy_from_slice(chunk));
            if let Some(msg) = decoder.next_message().unwrap() {
                assert_eq!(msg.data, body);
            }
            assert!(decoder.assembly.capacity() <= len);
        }
        assert_eq!(decoder.buffered_len(), 0);
        assert_eq!(decoder.finish(), Ok(()));
    }

    #[test]
    fn buffered_len_counts_queued_assembled_and_header() {
        let mut decoder = MessageDecoder::new();
        assert_eq!(decoder.buffered_len(), 0);
        decoder.push(Bytes::from_static(b"\x00\x00\x00"));
        decoder.push(Bytes::new());
        assert_eq!(decoder.buffered_len(), 3);
        assert_eq!(decoder.next_message(), Ok(None));
        decoder.push(Bytes::from_static(b"\x00\x03a"));
        assert_eq!(decoder.next_message(), Ok(None));
        assert_eq!(decoder.buffered_len(), 6);
        decoder.push(Bytes::from_static(b"bc\x00"));
        assert_eq!(decoder.next_message().unwrap().unwrap().data, &b"abc"[..]);
        assert_eq!(decoder.buffered_len(), 1);
    }

    // --- properties -------------------------------------------------------

    fn encode_stream(messages: &[(bool, Vec<u8>)]) -> Vec<u8> {
        let mut buf = BytesMut::new();
        for (compressed, data) in messages {
            encode_message(&mut buf, *compressed, data).unwrap();
        }
        buf.to_vec()
    }

    /// Cuts `input` at the given points (taken modulo its length).
    fn chunk_at(input: &[u8], cuts: &[usize]) -> Vec<Bytes> {
        let mut points: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
        points.push(0);
        points.push(input.len());
        points.sort_unstable();
        points
            .windows(2)
            .map(|w| Bytes::copy_from_slice(&input[w[0]..w[1]]))
            .collect()
    }

    #[quickcheck]
    fn any_chunking_round_trips(messages: Vec<(bool, Vec<u8>)>, cuts: Vec<usize>) -> bool {
        let input = encode_stream(&messages);
        let mut decoder = MessageDecoder::new();
        let mut out = Vec::new();
        for chunk in chunk_at(&input, &cuts) {
            decoder.push(chunk);
            while let Some(msg) = decoder.next_message().unwrap() {
                out.push((msg.compressed, msg.data.to_vec()));
            }
        }
        decoder.finish().is_ok() && decoder.buffered_len() == 0 && out == messages
    }

    #[quickcheck]
    fn buffering_is_bounded_by_the_limit(
        messages: Vec<(bool, Vec<u8>)>,
        cuts: Vec<usize>,
        max: u8,
    ) -> bool {
        let max = usize::from(max);
        let input = encode_stream(&messages);
        let mut decoder = MessageDecoder::new().with_max_message_size(max);
        let mut out = Vec::new();
        let mut failed = None;
        for chunk in chunk_at(&input, &cuts) {
            decoder.push(chunk);
            loop {
                match decoder.next_message() {
                    Ok(Some(msg)) => {
                        if msg.data.len() > max {
                            return false;
                        }
                        out.push((msg.compressed, msg.data.to_vec()));
                    }
                    Ok(None) => break,
                    Err(err) => {
                        failed = Some(err);
                        break;
                    }
                }
            }
            if decoder.buffered_len() > max + HEADER_LEN {
                return false;
            }
        }
        // Exactly the messages before the first oversized one come out.
        let fitting = messages
            .iter()
            .take_while(|(_, data)| data.len() <= max)
            .count();
        let expected_error =
            messages
                .get(fitting)
                .map(|(_, data)| FrameError::ReceivedMessageTooLarge {
                    len: u32::try_from(data.len()).unwrap(),
                    max,
                });
        out[..] == messages[..fitting] && failed == expected_error
    }

    #[quickcheck]
    fn truncating_a_stream_is_reported(messages: Vec<(bool, Vec<u8>)>, cut: usize) -> bool {
        let input = encode_stream(&messages);
        if input.is_empty() {
            return true;
        }
        let cut = cut % input.len();
        let mut boundaries = vec![0];
        for (_, data) in &messages {
            boundaries.push(boundaries.last().unwrap() + HEADER_LEN + data.len());
        }
        let mut decoder = MessageDecoder::new();
        decoder.push(Bytes::copy_from_slice(&input[..cut]));
        while decoder.next_message().unwrap().is_some() {}
        decoder.finish().is_ok() == boundaries.contains(&cut)
    }
}
