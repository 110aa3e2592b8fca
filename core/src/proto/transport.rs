//! The byte pipes between the engine and the outside world.
//!
//! h2 wants an IO object implementing tokio's [`AsyncRead`] and [`AsyncWrite`].
//! [`MemoryTransport`] is the sans-IO one: a pair of in-memory buffers shared
//! between the h2 connection (which owns one handle) and the engine (which keeps
//! another), so that `handle_input` can append what arrived and
//! `poll_transmit` can drain what h2 wrote. It behaves as a socket does: a
//! read or write that cannot proceed registers the caller's waker, woken when
//! bytes arrive or room appears. So the engine over this transport is driven
//! by exactly the wakes that drive it over a real socket (the production
//! path), and the tests that run it in memory check those wakes.
//!
//! The outbound buffer is bounded: once it holds `outbound_limit` bytes, writes
//! return `Pending`, h2 stops producing frames (and, since h2 only reads while it
//! can write, stops reading), and the backpressure reaches the application as
//! `SendError::NotReady`. The inbound buffer is not bounded here; the engine's
//! `wants_input()` tells the caller when to stop feeding it.
//!
//! Between h2 and this transport (or the caller's IO) sits the
//! [`Tap`](super::tap::Tap), which watches the bytes both ways.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

#[derive(Debug, Default)]
pub(crate) struct Pipe {
    /// Bytes received from the peer that h2 has not read yet.
    inbound: BytesMut,
    /// The peer closed its sending side: once `inbound` is drained, reads see EOF.
    inbound_eof: bool,
    /// Bytes h2 wrote that the caller has not taken yet.
    outbound: BytesMut,
    outbound_limit: usize,
    /// A write found `outbound` full; h2 must be polled again once it drains.
    write_blocked: bool,
    /// h2 shut the write side down (after a final GOAWAY).
    write_shutdown: bool,
    /// Woken when bytes arrive or the peer closes (a read found none).
    read_waker: Option<Waker>,
    /// Woken when room appears (a write found none).
    write_waker: Option<Waker>,
}

/// Keeps `waker` in `slot` (unless it already holds one that wakes the same task).
fn register(slot: &mut Option<Waker>, waker: &Waker) {
    match slot {
        Some(held) if held.will_wake(waker) => {}
        _ => *slot = Some(waker.clone()),
    }
}

/// An in-memory socket (see the module docs): what
/// [`Connection::new`](super::Connection::new) runs h2 over, and what a
/// test, a simulator or a fuzzer can hand to
/// [`Connection::with_io`](super::Connection::with_io) to run the engine
/// exactly as production does — `drive_io` when the task was woken — while
/// moving the bytes itself: [`push_inbound`](Self::push_inbound) and
/// [`close_inbound`](Self::close_inbound) for what the peer sends,
/// [`take_outbound`](Self::take_outbound) for what the engine wrote.
///
/// Cloning yields another handle to the same buffers.
#[derive(Debug, Clone)]
pub struct MemoryTransport {
    pipe: Arc<Mutex<Pipe>>,
}

impl MemoryTransport {
    /// A socket whose outbound buffer holds at most `outbound_limit` bytes
    /// (writes wait beyond it, as on a full socket).
    pub fn new(outbound_limit: usize) -> MemoryTransport {
        MemoryTransport {
            pipe: Arc::new(Mutex::new(Pipe {
                outbound_limit: outbound_limit.max(1),
                ..Pipe::default()
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Pipe> {
        // The lock is only held inside these short, non-panicking methods, so
        // poisoning cannot leave the buffers half-updated.
        self.pipe.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Appends bytes received from the peer, waking a reader waiting for them.
    pub fn push_inbound(&self, data: &[u8]) {
        let waker = {
            let mut pipe = self.lock();
            pipe.inbound.extend_from_slice(data);
            pipe.read_waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Marks the peer's sending side closed, waking a waiting reader.
    pub fn close_inbound(&self) {
        let waker = {
            let mut pipe = self.lock();
            pipe.inbound_eof = true;
            pipe.read_waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Bytes received and not yet read by h2.
    pub fn inbound_len(&self) -> usize {
        self.lock().inbound.len()
    }

    /// Bytes written by h2 and not yet taken.
    #[cfg(test)]
    pub(crate) fn outbound_len(&self) -> usize {
        self.lock().outbound.len()
    }

    /// Whether every byte h2 wrote was taken.
    pub fn is_outbound_empty(&self) -> bool {
        self.lock().outbound.is_empty()
    }

    /// Copies pending outbound bytes into `buf`; returns how many. A writer
    /// that found no room is woken.
    pub fn take_outbound(&self, buf: &mut [u8]) -> usize {
        let (n, waker) = {
            let mut pipe = self.lock();
            let n = pipe.outbound.len().min(buf.len());
            if let (Some(dst), Some(src)) = (buf.get_mut(..n), pipe.outbound.get(..n)) {
                dst.copy_from_slice(src);
            }
            pipe.outbound.advance(n);
            (n, pipe.unblock(n > 0))
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        n
    }

    /// Takes all pending outbound bytes without copying them. A writer that
    /// found no room is woken.
    pub fn take_outbound_bytes(&self) -> bytes::Bytes {
        let (out, waker) = {
            let mut pipe = self.lock();
            let out = pipe.outbound.split().freeze();
            let waker = pipe.unblock(!out.is_empty());
            (out, waker)
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        out
    }
}

impl Pipe {
    /// Room appeared (`took`): the writer that found none, if any, to wake.
    fn unblock(&mut self, took: bool) -> Option<Waker> {
        if took && std::mem::take(&mut self.write_blocked) {
            self.write_waker.take()
        } else {
            None
        }
    }
}

impl AsyncRead for MemoryTransport {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let mut pipe = self.lock();
        if pipe.inbound.is_empty() {
            // EOF is an empty successful read; otherwise wait for input.
            if pipe.inbound_eof {
                return Poll::Ready(Ok(()));
            }
            register(&mut pipe.read_waker, cx.waker());
            return Poll::Pending;
        }
        let n = pipe.inbound.len().min(buf.remaining());
        if let Some(src) = pipe.inbound.get(..n) {
            buf.put_slice(src);
        }
        pipe.inbound.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for MemoryTransport {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let mut pipe = self.lock();
        if pipe.write_shutdown {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        let room = pipe.outbound_limit.saturating_sub(pipe.outbound.len());
        if room == 0 {
            pipe.write_blocked = true;
            register(&mut pipe.write_waker, cx.waker());
            return Poll::Pending;
        }
        let n = room.min(data.len());
        if let Some(src) = data.get(..n) {
            pipe.outbound.extend_from_slice(src);
        }
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Bytes are "on the wire" as soon as they are in `outbound`.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.lock().write_shutdown = true;
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::task::Waker;

    fn cx() -> Context<'static> {
        Context::from_waker(Waker::noop())
    }

    #[test]
    fn reads_see_pending_then_data_then_eof() {
        let t = MemoryTransport::new(64);
        let mut reader = t.clone();
        let mut storage = [0u8; 4];
        let mut buf = ReadBuf::new(&mut storage);
        assert!(
            Pin::new(&mut reader)
                .poll_read(&mut cx(), &mut buf)
                .is_pending()
        );
        t.push_inbound(b"abcdef");
        assert!(
            Pin::new(&mut reader)
                .poll_read(&mut cx(), &mut buf)
                .is_ready()
        );
        assert_eq!(buf.filled(), b"abcd");
        assert_eq!(t.inbound_len(), 2);
        t.close_inbound();
        let mut storage = [0u8; 4];
        let mut buf = ReadBuf::new(&mut storage);
        let _ = Pin::new(&mut reader).poll_read(&mut cx(), &mut buf);
        assert_eq!(buf.filled(), b"ef");
        let mut buf = ReadBuf::new(&mut storage);
        assert!(matches!(
            Pin::new(&mut reader).poll_read(&mut cx(), &mut buf),
            Poll::Ready(Ok(()))
        ));
        assert!(buf.filled().is_empty(), "EOF is an empty read");
    }

    #[test]
    fn writes_are_bounded_and_unblock_after_drain() {
        let t = MemoryTransport::new(30);
        let mut writer = t.clone();
        let data = [7u8; 50];
        let n = match Pin::new(&mut writer).poll_write(&mut cx(), &data) {
            Poll::Ready(Ok(n)) => n,
            other => panic!("unexpected {other:?}"),
        };
        assert_eq!(n, 30);
        assert!(
            Pin::new(&mut writer)
                .poll_write(&mut cx(), &data)
                .is_pending()
        );
        let mut out = [0u8; 10];
        assert_eq!(t.take_outbound(&mut out), 10);
        assert_eq!(t.take_outbound_bytes().len(), 20);
    }

    /// Like a socket: a read or write that cannot proceed is woken when it can.
    #[test]
    fn blocked_reads_and_writes_are_woken() {
        struct Count(std::sync::atomic::AtomicUsize);
        impl std::task::Wake for Count {
            fn wake(self: Arc<Self>) {
                self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        }
        let count = Arc::new(Count(Default::default()));
        let waker = Waker::from(Arc::clone(&count));
        let mut cx = Context::from_waker(&waker);
        let woken = || count.0.load(std::sync::atomic::Ordering::SeqCst);
        let t = MemoryTransport::new(4);
        let mut io = t.clone();
        let mut storage = [0u8; 4];
        let mut buf = ReadBuf::new(&mut storage);
        assert!(Pin::new(&mut io).poll_read(&mut cx, &mut buf).is_pending());
        t.push_inbound(b"x");
        assert_eq!(woken(), 1, "bytes arrived");
        assert!(Pin::new(&mut io).poll_read(&mut cx, &mut buf).is_ready());
        assert!(Pin::new(&mut io).poll_read(&mut cx, &mut buf).is_pending());
        t.close_inbound();
        assert_eq!(woken(), 2, "the peer closed");
        assert!(matches!(
            Pin::new(&mut io).poll_write(&mut cx, b"abcdef"),
            Poll::Ready(Ok(4))
        ));
        assert!(Pin::new(&mut io).poll_write(&mut cx, b"ef").is_pending());
        assert_eq!(t.take_outbound_bytes().len(), 4);
        assert_eq!(woken(), 3, "room appeared");
        assert_eq!(t.take_outbound_bytes().len(), 0);
        assert_eq!(woken(), 3, "once");
    }
}
