//! [`Tap`]: the IO wrapper between h2 and the transport (in-memory or the
//! caller's). It sees every byte both ways, which h2 does not let us see,
//! and walks each direction's frames with one [`FrameWalker`]:
//!
//! - **inbound**: any frame is activity (keepalive); PINGs are counted for
//!   the ping-abuse policy, since h2 answers them silently; the peer's first
//!   SETTINGS completes the HTTP/2 handshake (its timeout); the payload of a
//!   GOAWAY is captured (h2 does not expose its debug data);
//! - **outbound**: frame boundaries are followed, so the engine can write its
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

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::frame::{CLIENT_PREFACE, FrameWalker, FramesSeen, ReceivedGoAway};
use super::wake::ConnWaker;

/// What the tap observed, and what the engine asked it to inject.
#[derive(Debug)]
pub(crate) struct TapState {
    inbound: FrameWalker,
    outbound: FrameWalker,
    /// Bytes to write at the next frame boundary, after which every write
    /// from h2 is dropped.
    seal: Option<Box<[u8]>>,
    sealed: bool,
    /// A read returned end of stream: the peer closed its side.
    peer_eof: bool,
}

impl TapState {
    /// The tap state of a server (`client == false`) or client connection.
    pub(crate) fn new(client: bool) -> TapState {
        // A server receives the preface first; a client sends it.
        let (inbound, outbound) = if client {
            (FrameWalker::new(), FrameWalker::after_preface())
        } else {
            (FrameWalker::after_preface(), FrameWalker::new())
        };
        TapState {
            inbound,
            outbound: outbound.without_goaway_capture(),
            seal: None,
            sealed: false,
            peer_eof: false,
        }
    }

    /// Whether the peer closed its side of the transport (a read returned
    /// end of stream): over a socket or in memory alike.
    pub(crate) fn peer_eof(&self) -> bool {
        self.peer_eof
    }

    /// What arrived since the last call.
    pub(crate) fn take_received(&mut self) -> FramesSeen {
        self.inbound.take_seen()
    }

    /// What was written since the last call.
    pub(crate) fn take_sent(&mut self) -> FramesSeen {
        self.outbound.take_seen()
    }

    /// Takes the GOAWAY the peer sent, if one arrived since the last call.
    pub(crate) fn take_goaway(&mut self) -> Option<ReceivedGoAway> {
        self.inbound.take_goaway()
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
pub struct Tap<T> {
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
        let room = buf.remaining();
        ready!(Pin::new(&mut self.io).poll_read(cx, buf))?;
        match buf.filled().get(before..) {
            Some(new) if !new.is_empty() => self.state.lock().inbound.advance(new),
            // Nothing read into room for something: end of stream.
            _ if room > 0 => self.state.lock().peer_eof = true,
            _ => {}
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
    use crate::proto::frame::{FrameKind, encode_goaway};
    use crate::proto::transport::MemoryTransport;
    use std::task::Waker;

    fn cx() -> Context<'static> {
        Context::from_waker(Waker::noop())
    }

    fn frame(kind: FrameKind, payload: &[u8]) -> Vec<u8> {
        crate::proto::frame::tests::frame(kind, 0, payload)
    }

    #[test]
    fn a_sealed_tap_writes_its_frame_between_frames_and_drops_the_rest() {
        let pipe = MemoryTransport::new(1 << 16);
        let state = TapHandle::new(TapState::new(false));
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
        let out = pipe.take_outbound_bytes();
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
        let state = TapHandle::new(TapState::new(false));
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
        assert_eq!(s.take_sent().headers_or_data, 2);
        assert_eq!(s.take_sent().headers_or_data, 0, "taken");
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
        let state = TapHandle::new(TapState::new(true));
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
        let state = TapHandle::new(TapState::new(true));
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
        let seen = s.take_received();
        assert_eq!((seen.frames, seen.pings, seen.settings), (4, 2, true));
        assert_eq!(
            s.take_goaway().unwrap().debug_data,
            bytes::Bytes::from_static(b"too_many_pings")
        );
        assert!(s.take_goaway().is_none());
    }

    /// The tap state, the connection's waker and the engine's plumbing
    /// share one allocation.
    #[test]
    fn the_tap_state_lives_in_the_connection_waker() {
        let tap = TapHandle::new(TapState::new(false));
        tap.lock().seal_with(vec![1]);
        assert!(tap.conn_waker().tap.lock().unwrap().seal.is_some());
    }

    /// Every connection holds one tap state for as long as it lives.
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn the_tap_state_stays_small() {
        let size = std::mem::size_of::<TapState>();
        assert!(size <= 160, "TapState is {size} bytes");
    }
}
