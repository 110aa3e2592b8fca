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
//! Messages are decompressed when taken, not when received, so a compressed
//! "bomb" never expands in the queue.

use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use h2::{RecvStream, SendStream};
use http::HeaderMap;

use crate::Status;
use crate::codec::compression::{Encoding, decompress, message_encoding};
use crate::codec::frame::{FrameError, MessageDecoder};
use crate::codec::queue::InlineFirstQueue;

use super::message::ReceivedMessage;

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

    /// Takes the next message: `None` if none is waiting. Releases its capacity
    /// and decompresses it.
    pub(crate) fn take(&mut self) -> Option<Result<ReceivedMessage, Status>> {
        let next = self.queue.pop_front()?;
        self.release_to(next.end);
        self.release_unneeded();
        let compressed = next.compressed;
        Some(
            self.decode_payload(next.data, compressed)
                .map(|data| ReceivedMessage { data, compressed }),
        )
    }

    fn decode_payload(&self, data: Bytes, compressed: bool) -> Result<Bytes, Status> {
        match message_encoding(self.encoding, compressed)? {
            Encoding::Identity => Ok(data),
            encoding => {
                let mut out = BytesMut::new();
                decompress(encoding, &data, &mut out, self.max_message_size)?;
                Ok(out.freeze())
            }
        }
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

/// The room reserved for a call's first message (prefix included); larger
/// messages grow the buffer as they are encoded.
const FIRST_MESSAGE_GUESS: usize = 256;

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
    /// How many bytes the last message framed took: the guess for the next.
    last_framed: usize,
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
            last_framed: 0,
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

    /// Frames messages with `frame`, which appends them to the open buffer
    /// and may hand back a large payload to queue after them (uncopied).
    /// Nothing is queued when `frame` fails.
    /// `size_hint` is how many bytes `frame` appends, when known (0 if not).
    pub(crate) fn push_with<E>(
        &mut self,
        size_hint: usize,
        frame: impl FnOnce(&mut BytesMut) -> Result<Option<Bytes>, E>,
    ) -> Result<(), E> {
        self.make_room(size_hint);
        let before = self.open.len();
        let large = frame(&mut self.open)?;
        let framed = self.open.len().saturating_sub(before);
        self.last_framed = framed;
        self.queued = self.queued.saturating_add(framed);
        if let Some(large) = large.filter(|b| !b.is_empty()) {
            self.seal();
            self.queued = self.queued.saturating_add(large.len());
            self.queue.push_back(large);
        } else if self.open.len() >= CHUNK_SIZE {
            self.seal();
        }
        Ok(())
    }

    /// Reserves room for the next message in one allocation, so framing it
    /// does not grow the buffer prefix first and message after: for a call's
    /// first message a small buffer, after that a whole chunk (a stream of
    /// messages is framed into it without allocating). A first message of
    /// known size gets exactly its size: a buffer handed over full becomes
    /// `Bytes` without a shared header to allocate.
    fn make_room(&mut self, size_hint: usize) {
        let expected = if size_hint > 0 {
            size_hint
        } else {
            self.last_framed.max(FIRST_MESSAGE_GUESS)
        };
        let spare = self.open.capacity().saturating_sub(self.open.len());
        if spare < expected {
            let chunk = if self.last_framed == 0 {
                expected
            } else {
                expected.max(CHUNK_SIZE)
            };
            if self.open.capacity() == 0 {
                // Exactly this much (`reserve` would round small sizes up).
                self.open = BytesMut::with_capacity(chunk);
            } else {
                self.open.reserve(chunk);
            }
        }
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
        let chunk = if self.is_open() && spare >= FIRST_MESSAGE_GUESS {
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
        self.queue.is_empty() && self.open.is_empty() && matches!(self.end, End::HalfClose)
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

    fn push(out: &mut Outbound, small: &[u8], large: Option<&'static [u8]>) {
        out.push_with(0, |dst| {
            dst.extend_from_slice(small);
            Ok::<_, ()>(large.map(Bytes::from_static))
        })
        .unwrap();
    }

    /// The chunks queued so far, open buffer last.
    fn chunks(out: &mut Outbound) -> Vec<Vec<u8>> {
        out.seal();
        out.queue.iter().map(|b| b.to_vec()).collect()
    }

    #[test]
    fn small_messages_share_a_chunk_until_it_is_full() {
        let mut out = Outbound::new(usize::MAX);
        push(&mut out, b"ab", None);
        push(&mut out, b"cd", None);
        assert!(out.queue.is_empty(), "still open");
        assert_eq!(out.buffered(), 4);
        let big = vec![1u8; CHUNK_SIZE];
        out.push_with(0, |dst| {
            dst.extend_from_slice(&big);
            Ok::<_, ()>(None)
        })
        .unwrap();
        assert_eq!(out.queue.len(), 1, "a full chunk is queued at once");
        push(&mut out, b"ef", None);
        let got = chunks(&mut out);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].len(), 4 + CHUNK_SIZE);
        assert_eq!(&got[0][..4], b"abcd");
        assert_eq!(got[1], b"ef");
        assert_eq!(out.buffered(), 6 + CHUNK_SIZE);
    }

    #[test]
    fn a_large_payload_follows_the_bytes_framed_before_it() {
        let mut out = Outbound::new(usize::MAX);
        push(&mut out, b"m1", None);
        push(&mut out, b"hd", Some(b"payload"));
        push(&mut out, b"m2", None);
        assert_eq!(
            chunks(&mut out),
            vec![b"m1hd".to_vec(), b"payload".to_vec(), b"m2".to_vec()]
        );
        assert_eq!(out.buffered(), 13);
    }

    #[test]
    fn a_failed_framing_queues_nothing() {
        let mut out = Outbound::new(usize::MAX);
        push(&mut out, b"m1", None);
        assert_eq!(
            out.push_with(0, |_| Err::<Option<Bytes>, _>("boom")),
            Err("boom")
        );
        assert_eq!(chunks(&mut out), vec![b"m1".to_vec()]);
        assert_eq!(out.buffered(), 2);
    }

    #[test]
    fn a_first_message_of_known_size_fills_its_buffer_exactly() {
        let mut out = Outbound::new(usize::MAX);
        out.push_with(7, |dst| {
            dst.extend_from_slice(b"1234567");
            Ok::<_, ()>(None)
        })
        .unwrap();
        assert_eq!(out.open.capacity(), 7);
        out.close();
        assert_eq!(chunks(&mut out), vec![b"1234567".to_vec()]);
    }

    #[test]
    fn the_next_message_gets_room_in_one_reservation() {
        let mut out = Outbound::new(usize::MAX);
        push(&mut out, &[0; 10], None);
        assert!(out.open.capacity() >= FIRST_MESSAGE_GUESS);
        out.seal();
        push(&mut out, &[0; 1000], None);
        out.seal();
        push(&mut out, &[0; 1000], None);
        assert!(
            out.open.capacity() >= CHUNK_SIZE - 1000,
            "after the first message, a chunk"
        );
    }
}
