//! [`Tap`]: the IO wrapper between h2 and the transport (in-memory or the
//! caller's). It sees every byte both ways, which h2 does not let us see:
//!
//! - **inbound**: every frame header goes through keepalive's
//!   [`FrameScanner`] (the `InboundFrameSniffer` without its totals): any
//!   frame is activity; PINGs are counted for the ping-abuse policy, since h2
//!   answers them silently. The payload of a GOAWAY is captured (h2 does not
//!   expose its debug data);
//! - **outbound**: frame boundaries are tracked, so the engine can write its
//!   own GOAWAY (ENHANCE_YOUR_CALM with the debug data `too_many_pings`, which
//!   h2 cannot send) exactly between two of h2's frames, and HEADERS/DATA
//!   sent are noticed (they forgive the client's next ping);
//! - the client's 24-byte connection preface is accepted without waiting, so
//!   h2's client handshake (an `async fn` that only writes the preface)
//!   completes on its first poll and need not be boxed.
//!
//! State the engine reads lives in [`TapState`], shared through a mutex with
//! the engine (h2 owns the `Tap`).

use std::io;
use std::pin::Pin;
use std::sync::{Arc, MutexGuard, PoisonError};
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::keepalive::{
    FRAME_HEADER_LEN, FrameHeader, FrameKind, FrameScanner, SniffError, SniffSide,
};
use super::wake::ConnWaker;

/// The HTTP/2 client connection preface (RFC 9113, section 3.4).
pub(crate) const CLIENT_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The most GOAWAY payload captured (last stream id, code, debug data).
const MAX_GOAWAY_CAPTURE: usize = 8 + 256;

/// Follows the frame boundaries of a byte stream (no validation: h2 does
/// that). Kept small: every connection holds two.
#[derive(Debug, Clone)]
pub(crate) struct FrameTracker {
    header: [u8; FRAME_HEADER_LEN],
    header_len: u8,
    /// The current frame is a GOAWAY (its payload goes to the capture).
    in_goaway: bool,
    /// Payload bytes left in the current frame (or preface bytes to skip):
    /// at most a frame's 24-bit length.
    remaining: u32,
    /// HEADERS and DATA frames passed (wrapping: compared only for change).
    headers_or_data: u32,
}

/// The payload of the GOAWAY frames a [`FrameTracker`] passes.
#[derive(Debug, Default)]
pub(crate) struct GoAwayCapture {
    /// The GOAWAY being received (up to [`MAX_GOAWAY_CAPTURE`] bytes), or the
    /// last one completed and not taken yet.
    payload: Vec<u8>,
    complete: bool,
}

impl GoAwayCapture {
    /// The payload of the last complete GOAWAY, if not taken yet.
    fn take(&mut self) -> Option<Vec<u8>> {
        if !self.complete {
            return None;
        }
        self.complete = false;
        Some(std::mem::take(&mut self.payload))
    }
}

impl FrameTracker {
    /// A tracker whose stream starts with `skip` bytes that are not frames
    /// (the client preface).
    pub(crate) fn new(skip: u32) -> FrameTracker {
        FrameTracker {
            header: [0; FRAME_HEADER_LEN],
            header_len: 0,
            in_goaway: false,
            remaining: skip,
            headers_or_data: 0,
        }
    }

    /// Whether the bytes seen so far end exactly at a frame boundary.
    pub(crate) fn at_boundary(&self) -> bool {
        self.header_len == 0 && self.remaining == 0
    }

    /// How many bytes of `data` reach the next frame boundary (all of it if
    /// the current frame does not end within it).
    pub(crate) fn to_boundary(&self, data: &[u8]) -> usize {
        if self.at_boundary() {
            return data.len();
        }
        let mut probe = self.clone();
        let mut n = 0;
        for &byte in data {
            probe.advance(std::slice::from_ref(&byte));
            n += 1;
            if probe.at_boundary() {
                break;
            }
        }
        n
    }

    /// Moves past `data`.
    pub(crate) fn advance(&mut self, data: &[u8]) {
        self.step(data, None);
    }

    /// Moves past `data`, capturing the payload of GOAWAY frames.
    pub(crate) fn advance_capturing(&mut self, data: &[u8], capture: &mut GoAwayCapture) {
        self.step(data, Some(capture));
    }

    fn step(&mut self, mut data: &[u8], mut capture: Option<&mut GoAwayCapture>) {
        while !data.is_empty() {
            if self.remaining > 0 {
                let n = data
                    .len()
                    .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
                let (payload, rest) = data.split_at(n);
                if self.in_goaway
                    && let Some(capture) = capture.as_deref_mut()
                {
                    let room = MAX_GOAWAY_CAPTURE.saturating_sub(capture.payload.len());
                    capture
                        .payload
                        .extend_from_slice(payload.get(..room.min(n)).unwrap_or_default());
                }
                // `n <= remaining`, which is a u32.
                self.remaining = self
                    .remaining
                    .saturating_sub(u32::try_from(n).unwrap_or(u32::MAX));
                data = rest;
                if self.remaining == 0 {
                    self.goaway_ended(capture.as_deref_mut());
                }
                continue;
            }
            let filled = usize::from(self.header_len);
            let n = (FRAME_HEADER_LEN - filled).min(data.len());
            let (part, rest) = data.split_at(n);
            if let Some(slot) = self.header.get_mut(filled..filled + n) {
                slot.copy_from_slice(part);
            }
            data = rest;
            // `n` is at most 9.
            self.header_len = self.header_len.saturating_add(n as u8);
            if usize::from(self.header_len) == FRAME_HEADER_LEN {
                self.header_len = 0;
                let header = FrameHeader::parse(self.header);
                self.remaining = header.length;
                if header.is_headers_or_data() {
                    self.headers_or_data = self.headers_or_data.wrapping_add(1);
                }
                if header.kind == FrameKind::GOAWAY {
                    self.in_goaway = true;
                    if let Some(capture) = capture.as_deref_mut() {
                        capture.payload.clear();
                        capture.complete = false;
                    }
                    if self.remaining == 0 {
                        self.goaway_ended(capture.as_deref_mut());
                    }
                }
            }
        }
    }

    fn goaway_ended(&mut self, capture: Option<&mut GoAwayCapture>) {
        if std::mem::take(&mut self.in_goaway)
            && let Some(capture) = capture
        {
            capture.complete = true;
        }
    }
}

/// A GOAWAY the peer sent, as captured on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ReceivedGoAway {
    pub(crate) last_stream_id: u32,
    pub(crate) code: u32,
    pub(crate) debug_data: Bytes,
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

/// What the tap observed, and what the engine asked it to inject.
#[derive(Debug)]
pub(crate) struct TapState {
    sniffer: FrameScanner,
    inbound: FrameTracker,
    goaway: GoAwayCapture,
    outbound: FrameTracker,
    /// A frame was received since the engine last looked.
    pub(crate) activity: bool,
    /// PINGs (not ACKs) received since the engine last looked.
    pub(crate) pings: u32,
    /// The sniffer's verdict on malformed input (h2 reports its own).
    pub(crate) sniff_error: Option<SniffError>,
    /// HEADERS/DATA frames written, as of the engine's last look.
    headers_or_data_seen: u32,
    /// Bytes to write at the next frame boundary, after which every write
    /// from h2 is dropped.
    seal: Option<Box<[u8]>>,
    sealed: bool,
}

impl TapState {
    /// The tap state of a server (`client == false`) or client connection.
    pub(crate) fn new(client: bool, max_frame_size: u32) -> TapState {
        let preface = CLIENT_PREFACE.len() as u32;
        let (sniffer, skip) = if client {
            (
                FrameScanner::new(SniffSide::Client, max_frame_size),
                preface,
            )
        } else {
            (FrameScanner::new(SniffSide::Server, max_frame_size), 0)
        };
        TapState {
            sniffer,
            // A server receives the preface first; a client sends it.
            inbound: FrameTracker::new(if client { 0 } else { preface }),
            goaway: GoAwayCapture::default(),
            outbound: FrameTracker::new(skip),
            activity: false,
            pings: 0,
            sniff_error: None,
            headers_or_data_seen: 0,
            seal: None,
            sealed: false,
        }
    }

    fn observe_inbound(&mut self, data: &[u8]) {
        let (mut activity, mut pings) = (false, 0u32);
        let result = self.sniffer.feed(data, |header| {
            activity = true;
            if header.is_ping() {
                pings = pings.saturating_add(1);
            }
        });
        self.activity |= activity;
        self.pings = self.pings.saturating_add(pings);
        if let Err(err) = result {
            self.sniff_error.get_or_insert(err);
        }
        self.inbound.advance_capturing(data, &mut self.goaway);
    }

    /// Takes the GOAWAY the peer sent, if one arrived since the last call.
    pub(crate) fn take_goaway(&mut self) -> Option<ReceivedGoAway> {
        self.goaway
            .take()
            .and_then(|payload| ReceivedGoAway::parse(&payload))
    }

    /// Whether HEADERS or DATA were written since the last call.
    pub(crate) fn take_headers_or_data_sent(&mut self) -> bool {
        let now = self.outbound.headers_or_data;
        let sent = now != self.headers_or_data_seen;
        self.headers_or_data_seen = now;
        sent
    }

    /// Asks the tap to write `frame` at the next boundary of h2's output and
    /// to drop everything h2 writes after it.
    pub(crate) fn seal_with(&mut self, frame: Vec<u8>) {
        if !self.sealed && self.seal.is_none() {
            self.seal = Some(frame.into_boxed_slice());
        }
    }

    /// Whether the sealing frame was written.
    #[cfg(test)]
    pub(crate) fn is_sealed(&self) -> bool {
        self.sealed
    }
}

/// Shared handle to a [`TapState`], which lives in the connection's
/// [`ConnWaker`] (one allocation for both).
#[derive(Debug, Clone)]
pub(crate) struct TapHandle(Arc<ConnWaker>);

impl TapHandle {
    pub(crate) fn new(state: TapState) -> TapHandle {
        TapHandle(Arc::new(ConnWaker::new(state)))
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, TapState> {
        // Only short, non-panicking sections hold the lock.
        self.0.tap.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The connection's waker, which holds the tap state.
    pub(crate) fn conn_waker(&self) -> &Arc<ConnWaker> {
        &self.0
    }
}

/// The IO wrapper (see the module docs).
#[derive(Debug)]
pub(crate) struct Tap<T> {
    io: T,
    state: TapHandle,
    /// Bytes accepted from h2 (the preface) or injected, not yet written.
    staged: BytesMut,
    /// The client preface is still being accepted into `staged`.
    taking_preface: bool,
}

impl<T> Tap<T> {
    pub(crate) fn new(io: T, state: TapHandle, client: bool) -> Tap<T> {
        Tap {
            io,
            state,
            staged: BytesMut::new(),
            taking_preface: client,
        }
    }
}

impl<T: AsyncWrite + Unpin> Tap<T> {
    fn poll_write_staged(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.staged.is_empty() {
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &self.staged))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.staged.advance(n.min(self.staged.len()));
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Tap<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        ready!(Pin::new(&mut self.io).poll_read(cx, buf))?;
        if let Some(new) = buf.filled().get(before..)
            && !new.is_empty()
        {
            self.state.lock().observe_inbound(new);
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Tap<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.taking_preface {
            let want = CLIENT_PREFACE.len() - this.staged.len();
            let n = want.min(data.len());
            this.staged
                .extend_from_slice(data.get(..n).unwrap_or_default());
            if this.staged.len() == CLIENT_PREFACE.len() {
                this.taking_preface = false;
            }
            this.state
                .lock()
                .outbound
                .advance(data.get(..n).unwrap_or_default());
            return Poll::Ready(Ok(n));
        }
        ready!(this.poll_write_staged(cx))?;
        let limit = {
            let mut state = this.state.lock();
            if state.sealed {
                return Poll::Ready(Ok(data.len()));
            }
            if state.outbound.at_boundary()
                && let Some(frame) = state.seal.take()
            {
                state.sealed = true;
                drop(state);
                this.staged.extend_from_slice(&frame);
                // What h2 writes from now on is dropped; the sealing frame
                // goes out as the staged bytes drain.
                let _ = this.poll_write_staged(cx)?;
                return Poll::Ready(Ok(data.len()));
            }
            if state.seal.is_some() {
                state.outbound.to_boundary(data)
            } else {
                data.len()
            }
        };
        let n = ready!(Pin::new(&mut this.io).poll_write(cx, data.get(..limit).unwrap_or(data)))?;
        this.state
            .lock()
            .outbound
            .advance(data.get(..n).unwrap_or_default());
        Poll::Ready(Ok(n))
    }

    /// Vectored writes reach the transport as they are: h2 writes a DATA
    /// frame's header and its (uncopied) payload with one call, and without
    /// this, one system call each. Only while bytes are staged or a sealing
    /// frame waits for a boundary does it go one buffer at a time.
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let plain = !this.taking_preface && this.staged.is_empty() && {
            let state = this.state.lock();
            !state.sealed && state.seal.is_none()
        };
        if !plain {
            let first = bufs
                .iter()
                .find(|b| !b.is_empty())
                .map_or(&[][..], |b| &**b);
            return self.poll_write(cx, first);
        }
        let n = ready!(Pin::new(&mut this.io).poll_write_vectored(cx, bufs))?;
        let mut state = this.state.lock();
        let mut left = n;
        for buf in bufs {
            if left == 0 {
                break;
            }
            let take = left.min(buf.len());
            state.outbound.advance(buf.get(..take).unwrap_or_default());
            left -= take;
        }
        Poll::Ready(Ok(n))
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_write_staged(cx))?;
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_write_staged(cx))?;
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::proto::keepalive::encode_goaway;
    use crate::proto::transport::MemoryTransport;
    use std::task::Waker;

    fn cx() -> Context<'static> {
        Context::from_waker(Waker::noop())
    }

    fn frame(kind: FrameKind, payload: &[u8]) -> Vec<u8> {
        let mut out = FrameHeader {
            length: payload.len() as u32,
            kind,
            flags: 0,
            stream_id: 0,
        }
        .encode()
        .to_vec();
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn the_tracker_follows_boundaries_in_any_chunking() {
        let mut stream = frame(FrameKind::SETTINGS, &[0; 6]);
        stream.extend(frame(FrameKind::DATA, b"hello"));
        let mut goaway = Vec::new();
        encode_goaway(7, 0xb, b"too_many_pings", &mut goaway);
        stream.extend(&goaway);
        let ends = [15, 29, stream.len()];
        for chunk in [1, 2, 5, 9, 100] {
            let mut t = FrameTracker::new(0);
            let mut capture = GoAwayCapture::default();
            let mut offset = 0;
            for piece in stream.chunks(chunk) {
                t.advance_capturing(piece, &mut capture);
                offset += piece.len();
                assert_eq!(
                    t.at_boundary(),
                    ends.contains(&offset) || offset == stream.len(),
                    "{chunk} at {offset}"
                );
            }
            assert_eq!(t.headers_or_data, 1);
            let g = ReceivedGoAway::parse(&capture.take().unwrap()).unwrap();
            assert!(capture.take().is_none(), "taken once");
            assert_eq!(
                g,
                ReceivedGoAway {
                    last_stream_id: 7,
                    code: 0xb,
                    debug_data: Bytes::from_static(b"too_many_pings")
                }
            );
        }
        let mut t = FrameTracker::new(0);
        t.advance(&stream[..3]);
        assert_eq!(t.to_boundary(&stream[3..]), 12);
        assert!(!t.at_boundary());
    }

    #[test]
    fn a_sealed_tap_writes_its_frame_between_frames_and_drops_the_rest() {
        let pipe = MemoryTransport::new(1 << 16);
        let state = TapHandle::new(TapState::new(false, 16384));
        let mut tap = Tap::new(pipe.clone(), state.clone(), false);
        let first = frame(FrameKind::DATA, b"abcdef");
        // h2 wrote half a frame when the engine decides to seal.
        assert!(matches!(
            Pin::new(&mut tap).poll_write(&mut cx(), &first[..5]),
            Poll::Ready(Ok(5))
        ));
        state.lock().seal_with(b"SEAL".to_vec());
        let mut rest = first[5..].to_vec();
        rest.extend(frame(FrameKind::PING, &[0; 8]));
        let n = match Pin::new(&mut tap).poll_write(&mut cx(), &rest) {
            Poll::Ready(Ok(n)) => n,
            other => panic!("{other:?}"),
        };
        assert_eq!(n, first.len() - 5, "only up to the boundary");
        assert!(matches!(
            Pin::new(&mut tap).poll_write(&mut cx(), &rest[n..]),
            Poll::Ready(Ok(_))
        ));
        assert!(state.lock().is_sealed());
        let (out, _) = pipe.take_outbound_bytes();
        let mut expected = first.clone();
        expected.extend_from_slice(b"SEAL");
        assert_eq!(&out[..], &expected[..]);
    }

    /// Takes every vectored write whole, up to `room` bytes.
    struct Vectored {
        out: Vec<u8>,
        room: usize,
    }

    impl AsyncWrite for Vectored {
        fn poll_write(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            data: &[u8],
        ) -> Poll<io::Result<usize>> {
            self.poll_write_vectored(cx, &[io::IoSlice::new(data)])
        }
        fn poll_write_vectored(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            bufs: &[io::IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            let mut n = 0;
            for buf in bufs {
                let take = buf.len().min(self.room - n);
                self.out.extend_from_slice(&buf[..take]);
                n += take;
            }
            Poll::Ready(Ok(n))
        }
        fn is_write_vectored(&self) -> bool {
            true
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    /// A server-side tap over a vectored sink that takes `room` bytes per write.
    fn vectored_tap(room: usize) -> (TapHandle, Tap<Vectored>) {
        let state = TapHandle::new(TapState::new(false, 16384));
        let io = Vectored {
            out: Vec::new(),
            room,
        };
        let tap = Tap::new(io, state.clone(), false);
        (state, tap)
    }

    #[test]
    fn vectored_writes_pass_through_and_are_tracked() {
        let (state, mut tap) = vectored_tap(1 << 16);
        assert!(tap.is_write_vectored());
        let data = frame(FrameKind::DATA, b"payload");
        let headers = frame(FrameKind::HEADERS, b"hd");
        let (head, body) = data.split_at(9);
        let bufs = [
            io::IoSlice::new(&headers),
            io::IoSlice::new(head),
            io::IoSlice::new(body),
        ];
        let n = match Pin::new(&mut tap).poll_write_vectored(&mut cx(), &bufs) {
            Poll::Ready(Ok(n)) => n,
            other => panic!("{other:?}"),
        };
        assert_eq!(n, headers.len() + data.len(), "one write for all three");
        assert_eq!(tap.io.out, [headers.clone(), data.clone()].concat());
        let mut s = state.lock();
        assert!(s.outbound.at_boundary());
        assert!(s.take_headers_or_data_sent());
        assert_eq!(s.outbound.headers_or_data, 2);
    }

    #[test]
    fn a_short_vectored_write_is_tracked_to_where_it_stopped() {
        let (state, mut tap) = vectored_tap(12);
        let data = frame(FrameKind::DATA, b"payload");
        let (head, body) = data.split_at(9);
        let bufs = [io::IoSlice::new(head), io::IoSlice::new(body)];
        assert!(matches!(
            Pin::new(&mut tap).poll_write_vectored(&mut cx(), &bufs),
            Poll::Ready(Ok(12))
        ));
        assert!(!state.lock().outbound.at_boundary());
        assert_eq!(state.lock().outbound.to_boundary(&data[12..]), 4);
    }

    #[test]
    fn a_pending_seal_makes_vectored_writes_stop_at_the_boundary() {
        let (state, mut tap) = vectored_tap(1 << 16);
        let first = frame(FrameKind::DATA, b"abcdef");
        assert!(matches!(
            Pin::new(&mut tap).poll_write(&mut cx(), &first[..5]),
            Poll::Ready(Ok(5))
        ));
        state.lock().seal_with(b"SEAL".to_vec());
        let ping = frame(FrameKind::PING, &[0; 8]);
        let bufs = [io::IoSlice::new(&first[5..]), io::IoSlice::new(&ping)];
        assert!(matches!(
            Pin::new(&mut tap).poll_write_vectored(&mut cx(), &bufs),
            Poll::Ready(Ok(n)) if n == first.len() - 5
        ));
        assert!(matches!(
            Pin::new(&mut tap).poll_write_vectored(&mut cx(), &bufs[1..]),
            Poll::Ready(Ok(_))
        ));
        assert!(state.lock().is_sealed());
        assert_eq!(tap.io.out, [&first[..], b"SEAL"].concat());
    }

    #[test]
    fn the_client_preface_is_accepted_without_io() {
        struct Stuck;
        impl AsyncWrite for Stuck {
            fn poll_write(
                self: Pin<&mut Self>,
                _: &mut Context<'_>,
                _: &[u8],
            ) -> Poll<io::Result<usize>> {
                Poll::Pending
            }
            fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Pending
            }
            fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Pending
            }
        }
        let state = TapHandle::new(TapState::new(true, 16384));
        let mut tap = Tap::new(Stuck, state.clone(), true);
        assert!(matches!(
            Pin::new(&mut tap).poll_write(&mut cx(), &CLIENT_PREFACE[..10]),
            Poll::Ready(Ok(10))
        ));
        assert!(matches!(
            Pin::new(&mut tap).poll_write(&mut cx(), &CLIENT_PREFACE[10..]),
            Poll::Ready(Ok(14))
        ));
        assert!(Pin::new(&mut tap).poll_write(&mut cx(), b"x").is_pending());
        assert!(state.lock().outbound.at_boundary());
    }

    #[test]
    fn inbound_frames_are_sniffed() {
        let pipe = MemoryTransport::new(1024);
        let state = TapHandle::new(TapState::new(true, 16384));
        let mut tap = Tap::new(pipe.clone(), state.clone(), true);
        let mut input = frame(FrameKind::SETTINGS, &[]);
        input.extend(frame(FrameKind::PING, &[0; 8]));
        input.extend(frame(FrameKind::PING, &[0; 8]));
        let mut goaway = Vec::new();
        encode_goaway(0, 0xb, b"too_many_pings", &mut goaway);
        input.extend(&goaway);
        pipe.push_inbound(&input);
        let mut storage = [0u8; 1024];
        let mut buf = ReadBuf::new(&mut storage);
        let _ = Pin::new(&mut tap).poll_read(&mut cx(), &mut buf);
        let mut s = state.lock();
        assert!(s.activity);
        assert_eq!(s.pings, 2);
        assert_eq!(
            s.take_goaway().unwrap().debug_data,
            Bytes::from_static(b"too_many_pings")
        );
        assert!(s.take_goaway().is_none());
    }

    /// The tap state, the connection's waker and the engine's plumbing
    /// share one allocation.
    #[test]
    fn the_tap_state_lives_in_the_connection_waker() {
        let tap = TapHandle::new(TapState::new(false, 16384));
        tap.lock().pings = 3;
        assert_eq!(tap.conn_waker().tap.lock().unwrap().pings, 3);
        let plumbing = crate::proto::driver::Plumbing::new(None, std::time::Instant::now(), &tap);
        assert!(Arc::ptr_eq(&plumbing.conn_waker, tap.conn_waker()));
    }

    /// Every connection holds one tap state for as long as it lives.
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn the_tap_state_stays_small() {
        assert!(std::mem::size_of::<FrameTracker>() <= 20);
        let size = std::mem::size_of::<TapState>();
        assert!(size <= 160, "TapState is {size} bytes");
    }

    /// A second GOAWAY replaces a first one not taken yet; an outbound
    /// tracker (no capture) keeps nothing.
    #[test]
    fn the_capture_keeps_the_last_goaway() {
        let mut stream = Vec::new();
        encode_goaway(1, 0, b"first", &mut stream);
        encode_goaway(3, 2, b"second", &mut stream);
        let mut t = FrameTracker::new(0);
        let mut capture = GoAwayCapture::default();
        t.advance_capturing(&stream, &mut capture);
        let g = ReceivedGoAway::parse(&capture.take().unwrap()).unwrap();
        assert_eq!((g.last_stream_id, g.code), (3, 2));
        assert_eq!(g.debug_data, Bytes::from_static(b"second"));
        assert_eq!(capture.payload.capacity(), 0, "taken with its memory");
        // A GOAWAY cut short is not reported until it completes.
        let mut t = FrameTracker::new(0);
        t.advance_capturing(&stream[..12], &mut capture);
        assert!(capture.take().is_none());
        t.advance_capturing(&stream[12..17 + 5], &mut capture);
        let g = ReceivedGoAway::parse(&capture.take().unwrap()).unwrap();
        assert_eq!(g.debug_data, Bytes::from_static(b"first"));
    }

    /// Frame boundaries do not depend on how the stream is cut.
    #[quickcheck_macros::quickcheck]
    fn boundaries_do_not_depend_on_chunking(frames: Vec<(u8, Vec<u8>)>, cuts: Vec<u8>) -> bool {
        let mut stream = Vec::new();
        let mut ends = vec![0];
        for (kind, payload) in &frames {
            stream.extend(frame(FrameKind::from_u8(kind % 10), payload));
            ends.push(stream.len());
        }
        let mut t = FrameTracker::new(0);
        let mut offset = 0;
        let mut cuts = cuts.into_iter().map(|c| usize::from(c % 16) + 1).cycle();
        while offset < stream.len() {
            let n = cuts.next().unwrap_or(1).min(stream.len() - offset);
            t.advance(&stream[offset..offset + n]);
            offset += n;
            if t.at_boundary() != ends.contains(&offset) {
                return false;
            }
        }
        t.at_boundary()
    }
}
