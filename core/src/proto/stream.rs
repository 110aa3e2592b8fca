//! The two halves of a call's HTTP/2 stream, shared by server and client:
//! [`Inbound`] turns DATA into messages and holds back flow-control capacity
//! until the application takes them; [`Outbound`] queues framed messages and
//! hands them to h2 only as h2 assigns send capacity.
//!
//! # Receive flow control
//! Bytes are pulled from h2 as soon as they arrive (so h2's own buffer stays
//! empty) but their capacity is released to the peer only when they are
//! consumed: when the application takes the message they belong to, or, while
//! no whole message is waiting, at once (the bytes of a message still arriving
//! must be released, or a message larger than the window could never
//! complete). So a call holds at most its window of unread whole messages plus
//! one partial message (bounded by the max message size), and a peer that
//! sends faster than the application reads is stopped by the window.
//! Messages leave compressed ([`RawMessage`]) and are decompressed by whoever
//! took them, so a compressed "bomb" never expands in the queue.

use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use h2::{RecvStream, SendStream};
use http::HeaderMap;

use crate::codec::compression::Encoding;
use crate::codec::frame::{FrameError, MessageDecoder};
use crate::codec::queue::InlineFirstQueue;

use super::message::{COPY_THRESHOLD, FramedMessage, RawMessage};

/// The largest capacity request h2 takes without truncating (2^31 - 1).
const MAX_RESERVE: usize = (1 << 31) - 1;

/// A whole message waiting for the application.
#[derive(Debug)]
struct Queued {
    data: Bytes,
    compressed: bool,
    /// Stream offset just past the message: taking it makes everything before
    /// this consumed.
    end: u64,
}

/// Why pulling from the stream stopped the call.
#[derive(Debug)]
pub(crate) enum InboundError {
    /// h2 reported an error on the stream (a reset, a lost connection).
    Stream(h2::Error),
    /// The messages were malformed or too large.
    Frame(FrameError),
}

/// The receiving half of a call.
#[derive(Debug)]
pub(crate) struct Inbound {
    body: Option<RecvStream>,
    decoder: MessageDecoder,
    queue: InlineFirstQueue<Queued>,
    /// Bytes pulled from h2 so far (the stream offset).
    received: u64,
    /// Bytes whose capacity was released back to the peer.
    released: u64,
    /// h2 reported the end of the data (trailers may follow).
    data_done: bool,
    /// The stream's trailers, once read (client side).
    trailers: Option<HeaderMap>,
    /// The whole receive side is over: data and trailers read.
    finished: bool,
    encoding: Encoding,
    max_message_size: usize,
}

impl Inbound {
    pub(crate) fn new(body: RecvStream, encoding: Encoding, max_message_size: usize) -> Inbound {
        Inbound {
            body: Some(body),
            decoder: MessageDecoder::new().with_max_message_size(max_message_size),
            queue: InlineFirstQueue::new(),
            received: 0,
            released: 0,
            data_done: false,
            trailers: None,
            finished: false,
            encoding,
            max_message_size,
        }
    }

    /// An inbound half with no stream: nothing will ever arrive.
    pub(crate) fn closed() -> Inbound {
        Inbound {
            body: None,
            decoder: MessageDecoder::new(),
            queue: InlineFirstQueue::new(),
            received: 0,
            released: 0,
            data_done: true,
            trailers: None,
            finished: true,
            encoding: Encoding::Identity,
            max_message_size: 0,
        }
    }

    /// Pulls everything h2 has for this stream. Returns true if messages were
    /// queued or the receive side finished (the application has something new
    /// to read).
    pub(crate) fn pull(&mut self, cx: &mut Context<'_>) -> Result<bool, InboundError> {
        let Some(body) = self.body.as_mut() else {
            return Ok(false);
        };
        let before = self.queue.len();
        let was_finished = self.finished;
        while !self.data_done {
            match body.poll_data(cx) {
                Poll::Ready(Some(Ok(chunk))) => {
                    self.received = self.received.saturating_add(chunk.len() as u64);
                    self.decoder.push(chunk);
                    decode(&mut self.decoder, &mut self.queue, self.received)?;
                }
                Poll::Ready(Some(Err(err))) => return Err(InboundError::Stream(err)),
                Poll::Ready(None) => {
                    self.data_done = true;
                    self.decoder.finish().map_err(InboundError::Frame)?;
                }
                Poll::Pending => break,
            }
        }
        if self.data_done && !self.finished {
            match body.poll_trailers(cx) {
                Poll::Ready(Ok(trailers)) => {
                    self.trailers = trailers;
                    self.finished = true;
                }
                Poll::Ready(Err(err)) => return Err(InboundError::Stream(err)),
                Poll::Pending => {}
            }
        }
        self.release_unneeded();
        Ok(self.queue.len() > before || (self.finished && !was_finished))
    }

    /// Releases capacity that no waiting message holds (see the module docs).
    fn release_unneeded(&mut self) {
        if self.queue.is_empty() {
            self.release_to(self.received);
        }
    }

    fn release_to(&mut self, offset: u64) {
        let Some(amount) = offset.checked_sub(self.released) else {
            return;
        };
        if amount == 0 {
            return;
        }
        self.released = offset;
        if let Some(body) = self.body.as_mut() {
            // Fails only if the stream is gone, when the capacity no longer matters.
            let _ = body
                .flow_control()
                .release_capacity(usize::try_from(amount).unwrap_or(usize::MAX));
        }
    }

    /// Takes the next message, as it arrived: `None` if none is waiting.
    /// Releases its flow-control capacity (h2 sends the WINDOW_UPDATE when
    /// enough is released, waking the connection itself).
    pub(crate) fn take(&mut self) -> Option<RawMessage> {
        let next = self.queue.pop_front()?;
        self.release_to(next.end);
        self.release_unneeded();
        Some(RawMessage::new(
            next.data,
            next.compressed,
            self.encoding,
            self.max_message_size,
        ))
    }

    /// Whether a message is waiting.
    pub(crate) fn has_message(&self) -> bool {
        !self.queue.is_empty()
    }

    /// Whether the peer's side is over (data and trailers read) — messages may
    /// still be waiting.
    pub(crate) fn is_finished(&self) -> bool {
        self.finished
    }

    /// Takes the trailers the stream ended with.
    pub(crate) fn take_trailers(&mut self) -> Option<HeaderMap> {
        self.trailers.take()
    }

    /// Drops every waiting message and the stream handle.
    pub(crate) fn discard(&mut self) {
        self.queue.clear();
        self.release_to(self.received);
        self.body = None;
        self.finished = true;
        self.data_done = true;
    }

    /// Bytes held: waiting messages plus the partial one in the decoder.
    pub(crate) fn buffered(&self) -> usize {
        self.queue
            .iter()
            .fold(self.decoder.buffered_len(), |sum, q| {
                sum.saturating_add(q.data.len())
            })
    }
}

/// Moves every whole message out of the decoder, noting where each ends in
/// the stream (`received` bytes pushed so far).
fn decode(
    decoder: &mut MessageDecoder,
    queue: &mut InlineFirstQueue<Queued>,
    received: u64,
) -> Result<(), InboundError> {
    while let Some(message) = decoder.next_message().map_err(InboundError::Frame)? {
        let end = received.saturating_sub(decoder.buffered_len() as u64);
        queue.push_back(Queued {
            data: message.data,
            compressed: message.compressed,
            end,
        });
    }
    Ok(())
}

/// Messages are framed into a call's open buffer until it holds this much
/// (the smallest frame size a peer may allow); then it is queued as one
/// chunk. h2 writes every DATA frame with a write of its own, so small
/// messages handed over one by one would cost a system call each.
const CHUNK_SIZE: usize = 16 * 1024;

/// Whether `next` starts where `open` ends in memory (then `unsplit` joins
/// them without a copy when they are pieces of one buffer).
fn follows(open: &BytesMut, next: &BytesMut) -> bool {
    (open.as_ptr() as usize).wrapping_add(open.len()) == next.as_ptr() as usize
}

/// Room left in a chunk buffer worth keeping for the next messages when
/// the chunk is queued (splitting a buffer makes it shared, which costs an
/// allocation; handing it over whole costs none).
const MIN_KEPT_ROOM: usize = 256;

/// How the sending half ends once its queue is flushed.
#[derive(Debug)]
enum End {
    /// Not decided yet.
    Open,
    /// END_STREAM on the last DATA frame (client half-close).
    HalfClose,
    /// Trailers (server finish).
    Trailers(HeaderMap),
    /// Sent.
    Sent,
}

/// The sending half of a call.
#[derive(Debug)]
pub(crate) struct Outbound {
    queue: InlineFirstQueue<Bytes>,
    /// Framed messages not yet queued (see [`CHUNK_SIZE`]); they follow
    /// `queue`.
    open: BytesMut,
    /// Bytes in `queue` and `open`.
    queued: usize,
    limit: usize,
    end: End,
    /// `send_message` answered `NotReady`; report `Writable` when room appears.
    blocked: bool,
}

impl Outbound {
    pub(crate) fn new(limit: usize) -> Outbound {
        Outbound {
            queue: InlineFirstQueue::new(),
            open: BytesMut::new(),
            queued: 0,
            limit,
            end: End::Open,
            blocked: false,
        }
    }

    /// Whether a message would be accepted now. Records the refusal so that a
    /// `Writable` edge follows.
    pub(crate) fn check_ready(&mut self) -> bool {
        if self.queued == 0 || self.queued < self.limit {
            true
        } else {
            self.blocked = true;
            false
        }
    }

    /// Whether the application may still queue messages.
    pub(crate) fn is_open(&self) -> bool {
        matches!(self.end, End::Open)
    }

    /// Queues a framed message: a small one joins the messages waiting (so
    /// that several go out in one DATA frame) — without a copy when they were
    /// framed side by side in one buffer, copied when it was framed alone or
    /// to fill a frame; a large one is queued as it is.
    pub(crate) fn push(&mut self, message: FramedMessage) {
        let standalone = message.is_standalone();
        let (head, large) = message.into_parts();
        let framed = head
            .len()
            .saturating_add(large.as_ref().map_or(0, Bytes::len));
        self.queued = self.queued.saturating_add(framed);
        if large.is_none() && head.len() > COPY_THRESHOLD {
            self.seal();
            self.queue.push_back(head.freeze());
            return;
        }
        if self.open.is_empty() {
            self.open = head;
        } else if follows(&self.open, &head) || standalone || large.is_some() {
            // Framed side by side in one buffer (a call's framer reuses
            // its buffer), two messages are joined without a copy; a
            // standalone small one (or a large payload's prefix) is copied.
            self.open.unsplit(head);
        } else {
            // From another buffer (the framer's room ran out): the bytes
            // that complete the frame are copied and the rest stays where
            // it was framed, so frames stay whole (h2 writes each DATA
            // frame with a system call of its own) and the next messages
            // join it without copies again.
            let mut head = head;
            let fill = CHUNK_SIZE.saturating_sub(self.open.len());
            let rest = (head.len() > fill).then(|| head.split_off(fill));
            self.open.reserve(fill);
            self.open.extend_from_slice(&head);
            if let Some(rest) = rest {
                self.seal();
                self.open = rest;
            }
        }
        if let Some(large) = large.filter(|b| !b.is_empty()) {
            self.seal();
            self.queue.push_back(large);
        } else {
            // Whole frames' worth are cut off the buffer (without a copy): a
            // chunk a little over a frame would cost a second, tiny frame.
            while self.open.len() > CHUNK_SIZE {
                let chunk = self.open.split_to(CHUNK_SIZE);
                self.queue.push_back(chunk.freeze());
            }
            if self.open.len() == CHUNK_SIZE {
                self.seal();
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.queue.is_empty() && self.open.is_empty()
    }

    /// Queues the open buffer's bytes as one chunk. The room left behind them
    /// is kept for the next messages only if there may be any and it is worth
    /// it: splitting a buffer makes it shared, which costs an allocation,
    /// where handing it over whole costs none.
    fn seal(&mut self) {
        if self.open.is_empty() {
            return;
        }
        let spare = self.open.capacity().saturating_sub(self.open.len());
        let chunk = if self.is_open() && spare >= MIN_KEPT_ROOM {
            self.open.split()
        } else {
            std::mem::take(&mut self.open)
        };
        self.queue.push_back(chunk.freeze());
    }

    /// Ends the stream with END_STREAM after the queue (half-close).
    pub(crate) fn close(&mut self) {
        if self.is_open() {
            self.end = End::HalfClose;
        }
    }

    /// Ends the stream with `trailers` after the queue.
    pub(crate) fn finish(&mut self, trailers: HeaderMap) {
        if self.is_open() {
            self.end = End::Trailers(trailers);
        }
    }

    /// Whether the application half-closed without queuing anything (the
    /// request can end with its HEADERS frame).
    pub(crate) fn is_closed_and_empty(&self) -> bool {
        self.is_empty() && matches!(self.end, End::HalfClose)
    }

    /// The end of the stream was sent along with the headers.
    pub(crate) fn mark_end_sent(&mut self) {
        self.end = End::Sent;
    }

    /// Whether everything, end included, was handed to h2.
    pub(crate) fn is_done(&self) -> bool {
        matches!(self.end, End::Sent)
    }

    /// Bytes waiting for capacity.
    pub(crate) fn buffered(&self) -> usize {
        self.queued
    }

    /// Drops what is queued (the call ended).
    pub(crate) fn discard(&mut self) {
        self.queue.clear();
        self.open = BytesMut::new();
        self.queued = 0;
        self.end = End::Sent;
        self.blocked = false;
    }

    /// Returns true once if `send_message` was refused and there is room now.
    pub(crate) fn take_writable(&mut self) -> bool {
        if self.blocked && self.is_open() && self.queued < self.limit {
            self.blocked = false;
            return true;
        }
        false
    }

    /// Hands h2 as much as its capacity allows, then the end of the stream if
    /// the queue is empty. Returns how many DATA/trailer bytes were handed over.
    pub(crate) fn flush(
        &mut self,
        stream: &mut SendStream<Bytes>,
        cx: &mut Context<'_>,
    ) -> Result<usize, h2::Error> {
        let mut sent = 0usize;
        self.seal();
        loop {
            if self.queue.is_empty() {
                match std::mem::replace(&mut self.end, End::Sent) {
                    End::Open => self.end = End::Open,
                    End::HalfClose => stream.send_data(Bytes::new(), true)?,
                    End::Trailers(trailers) => stream.send_trailers(trailers)?,
                    End::Sent => {}
                }
                return Ok(sent);
            }
            let mut capacity = stream.capacity();
            if capacity == 0 {
                stream.reserve_capacity(self.queued.min(MAX_RESERVE));
                capacity = stream.capacity();
            }
            if capacity == 0 {
                match stream.poll_capacity(cx) {
                    Poll::Ready(Some(Ok(_))) => continue,
                    Poll::Ready(Some(Err(err))) => return Err(err),
                    // The send side closed under us (a reset): the reset
                    // itself is reported by the receive side or poll_reset.
                    Poll::Ready(None) | Poll::Pending => return Ok(sent),
                }
            }
            let Some(front) = self.queue.front_mut() else {
                continue;
            };
            let chunk = if capacity >= front.len() {
                let whole = std::mem::take(front);
                self.queue.pop_front();
                whole
            } else {
                front.split_to(capacity)
            };
            self.queued = self.queued.saturating_sub(chunk.len());
            sent = sent.saturating_add(chunk.len());
            let last = self.queue.is_empty() && matches!(self.end, End::HalfClose);
            stream.send_data(chunk, last)?;
            if last {
                self.end = End::Sent;
                return Ok(sent);
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn framed(bytes: &[u8]) -> FramedMessage {
        FramedMessage::from_bytes(
            Bytes::copy_from_slice(bytes),
            Encoding::Identity,
            usize::MAX,
        )
        .unwrap()
    }

    /// The chunks queued so far, open buffer last.
    fn chunks(out: &mut Outbound) -> Vec<Vec<u8>> {
        out.seal();
        out.queue.iter().map(|b| b.to_vec()).collect()
    }

    fn prefix(len: usize) -> Vec<u8> {
        crate::codec::frame::encode_header(0, len as u32).to_vec()
    }

    fn framed_bytes(bytes: &[u8]) -> Vec<u8> {
        [prefix(bytes.len()), bytes.to_vec()].concat()
    }

    /// Frames `payload` into `buf` (kept between messages, as a call's
    /// framer keeps it).
    fn framed_in(buf: &mut BytesMut, payload: &[u8]) -> FramedMessage {
        FramedMessage::encode(
            buf,
            Encoding::Identity,
            usize::MAX,
            None,
            |b: &mut BytesMut| {
                b.extend_from_slice(payload);
                Ok::<(), String>(())
            },
        )
        .unwrap()
    }

    #[test]
    fn a_lone_message_is_queued_without_a_copy() {
        let mut out = Outbound::new(usize::MAX);
        let mut buf = BytesMut::with_capacity(7);
        let at = buf.as_ptr();
        out.push(framed_in(&mut buf, b"ab"));
        let got = chunks(&mut out);
        assert_eq!(got, vec![framed_bytes(b"ab")]);
        assert_eq!(
            out.queue.front().unwrap().as_ptr(),
            at,
            "the framer's buffer"
        );
    }

    #[test]
    fn messages_framed_side_by_side_are_joined_without_a_copy() {
        let mut out = Outbound::new(usize::MAX);
        let mut buf = BytesMut::with_capacity(1024);
        let at = buf.as_ptr();
        for text in [&b"ab"[..], b"cd", b"ef"] {
            out.push(framed_in(&mut buf, text));
        }
        assert_eq!(
            chunks(&mut out),
            vec![
                [
                    framed_bytes(b"ab"),
                    framed_bytes(b"cd"),
                    framed_bytes(b"ef")
                ]
                .concat()
            ]
        );
        assert_eq!(
            out.queue.front().unwrap().as_ptr(),
            at,
            "one buffer, no copy"
        );
        assert_eq!(out.buffered(), 21);
    }

    /// A message framed in another buffer (a framer's first message in a
    /// buffer of its size, or the framer's room ran out) is copied to fill
    /// the frame; what does not fit stays where it was framed, and the
    /// messages after it join it without copies.
    #[test]
    fn a_message_from_another_buffer_fills_the_frame() {
        let mut out = Outbound::new(usize::MAX);
        let mut first = BytesMut::with_capacity(7);
        out.push(framed_in(&mut first, b"m1"));
        let mut room = BytesMut::with_capacity(1024);
        out.push(framed_in(&mut room, b"m2"));
        out.push(framed_in(&mut room, b"m3"));
        assert_eq!(
            chunks(&mut out),
            vec![
                [
                    framed_bytes(b"m1"),
                    framed_bytes(b"m2"),
                    framed_bytes(b"m3")
                ]
                .concat()
            ]
        );

        let mut out = Outbound::new(usize::MAX);
        let mut old = BytesMut::with_capacity(CHUNK_SIZE);
        let almost = vec![1u8; CHUNK_SIZE - 5 - 100];
        out.push(framed_in(&mut old, &almost));
        let mut room = BytesMut::with_capacity(4096);
        let payload = vec![2u8; 1000];
        let rest_at = room.as_ptr().wrapping_add(100);
        out.push(framed_in(&mut room, &payload));
        out.push(framed_in(&mut room, b"m3"));
        assert_eq!(out.queue.len(), 1, "the frame is full");
        assert_eq!(out.queue.front().unwrap().len(), CHUNK_SIZE);
        assert_eq!(out.open.as_ptr(), rest_at, "the rest was not copied");
        let got = chunks(&mut out);
        assert_eq!(
            got.concat(),
            [
                framed_bytes(&almost),
                framed_bytes(&payload),
                framed_bytes(b"m3")
            ]
            .concat()
        );
    }

    /// Messages side by side in a buffer larger than a frame are cut into
    /// chunks of exactly a frame's worth, wherever a message boundary
    /// falls, without a copy: h2 then writes full frames only.
    #[test]
    fn messages_side_by_side_are_cut_into_whole_frames() {
        let mut out = Outbound::new(usize::MAX);
        let mut room = BytesMut::with_capacity(4 * CHUNK_SIZE);
        let at = room.as_ptr();
        let payload = vec![7u8; 1024];
        let mut expected = Vec::new();
        for _ in 0..40 {
            out.push(framed_in(&mut room, &payload));
            expected.extend(framed_bytes(&payload));
        }
        assert_eq!(out.queue.len(), 2, "two full frames queued at once");
        let got = chunks(&mut out);
        assert_eq!(got.len(), 3);
        assert!(got[..2].iter().all(|chunk| chunk.len() == CHUNK_SIZE));
        assert_eq!(got.concat(), expected);
        assert_eq!(out.queue.front().unwrap().as_ptr(), at, "no copy");
    }

    #[test]
    fn small_messages_share_a_chunk_until_it_is_full() {
        let mut out = Outbound::new(usize::MAX);
        out.push(framed(b"ab"));
        out.push(framed(b"cd"));
        out.push(framed(b"ef"));
        assert_eq!(out.buffered(), 21);
        assert_eq!(
            chunks(&mut out),
            vec![
                [
                    framed_bytes(b"ab"),
                    framed_bytes(b"cd"),
                    framed_bytes(b"ef")
                ]
                .concat()
            ]
        );
        let mut out = Outbound::new(usize::MAX);
        let small = vec![1u8; 100];
        while out.queue.is_empty() {
            out.push(framed(&small));
        }
        assert!(
            out.queue.front().unwrap().len() >= CHUNK_SIZE,
            "a full chunk is queued at once"
        );
    }

    #[test]
    fn a_large_payload_follows_the_bytes_framed_before_it() {
        let mut out = Outbound::new(usize::MAX);
        out.push(framed(b"m1"));
        out.push(framed(b"m2"));
        let large = vec![9u8; COPY_THRESHOLD + 1];
        out.push(framed(&large));
        out.push(framed(b"m3"));
        let got = chunks(&mut out);
        assert_eq!(got.len(), 3);
        assert_eq!(
            got[0],
            [
                framed_bytes(b"m1"),
                framed_bytes(b"m2"),
                prefix(large.len())
            ]
            .concat()
        );
        assert_eq!(got[1], large);
        assert_eq!(got[2], framed_bytes(b"m3"));
        assert_eq!(out.buffered(), 7 * 3 + 5 + large.len());
    }

    #[test]
    fn a_large_whole_message_is_queued_as_it_is() {
        let mut out = Outbound::new(usize::MAX);
        out.push(framed(b"m1"));
        let payload = vec![3u8; COPY_THRESHOLD + 10];
        let mut buf = BytesMut::with_capacity(payload.len() + 5);
        let at = buf.as_ptr();
        out.push(framed_in(&mut buf, &payload));
        assert_eq!(out.queue.iter().last().unwrap().as_ptr(), at, "not copied");
        assert_eq!(out.queue.len(), 2);
    }
}
