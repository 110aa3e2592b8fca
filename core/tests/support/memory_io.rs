//! An in-memory transport implementing tokio's `AsyncRead`/`AsyncWrite`
//! (the traits h2 needs), and a helper to poll futures once with the no-op
//! waker. Single-threaded: the test moves bytes between the two ends by
//! hand. A read that finds nothing is woken when bytes are pushed, as the
//! `AsyncRead` contract asks (the engine relies on it, as on a socket).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

#[derive(Default)]
struct Pipe {
    /// Bytes the transport's owner will read.
    to_read: VecDeque<u8>,
    /// Bytes the transport's owner wrote.
    written: Vec<u8>,
    /// No more bytes will be pushed: reads return EOF once drained.
    read_closed: bool,
    /// The owner shut its write side down.
    write_shutdown: bool,
    /// Cap on bytes handed out per `poll_read`, to exercise chunking.
    read_chunk: Option<usize>,
    /// The reader waiting for bytes.
    reader: Option<Waker>,
}

/// The end given to h2 (or any IO user).
pub struct MemoryIo {
    pipe: Rc<RefCell<Pipe>>,
}

/// The test's end: pushes bytes for [`MemoryIo`] to read and takes what it
/// wrote.
#[derive(Clone)]
pub struct MemoryIoHandle {
    pipe: Rc<RefCell<Pipe>>,
}

/// A connected pair.
pub fn memory_io() -> (MemoryIo, MemoryIoHandle) {
    let pipe = Rc::new(RefCell::new(Pipe::default()));
    (MemoryIo { pipe: pipe.clone() }, MemoryIoHandle { pipe })
}

impl MemoryIoHandle {
    /// Makes `bytes` readable by the IO end.
    pub fn push(&self, bytes: &[u8]) {
        let reader = {
            let mut pipe = self.pipe.borrow_mut();
            pipe.to_read.extend(bytes);
            if bytes.is_empty() {
                None
            } else {
                pipe.reader.take()
            }
        };
        if let Some(reader) = reader {
            reader.wake();
        }
    }

    /// Takes everything the IO end has written.
    pub fn take_written(&self) -> Vec<u8> {
        std::mem::take(&mut self.pipe.borrow_mut().written)
    }

    /// Signals EOF to the IO end once it has read what was pushed.
    pub fn close(&self) {
        let reader = {
            let mut pipe = self.pipe.borrow_mut();
            pipe.read_closed = true;
            pipe.reader.take()
        };
        if let Some(reader) = reader {
            reader.wake();
        }
    }

    /// Whether the IO end shut down its write side.
    pub fn is_write_shutdown(&self) -> bool {
        self.pipe.borrow().write_shutdown
    }

    /// Bytes pushed and not yet read by the IO end.
    pub fn unread(&self) -> usize {
        self.pipe.borrow().to_read.len()
    }

    /// Hands the IO end at most `max` bytes per read (`None`: no cap).
    pub fn set_read_chunk(&self, max: Option<usize>) {
        self.pipe.borrow_mut().read_chunk = max;
    }
}

impl AsyncRead for MemoryIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let mut pipe = self.pipe.borrow_mut();
        if pipe.to_read.is_empty() {
            if pipe.read_closed {
                return Poll::Ready(Ok(()));
            }
            pipe.reader = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let cap = pipe.read_chunk.unwrap_or(usize::MAX);
        let n = buf.remaining().min(pipe.to_read.len()).min(cap);
        let chunk: Vec<u8> = pipe.to_read.drain(..n).collect();
        buf.put_slice(&chunk);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for MemoryIo {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let mut pipe = self.pipe.borrow_mut();
        if pipe.write_shutdown {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        pipe.written.extend_from_slice(data);
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.pipe.borrow_mut().write_shutdown = true;
        Poll::Ready(Ok(()))
    }
}

/// A context whose waker does nothing: the tests re-poll by hand.
pub fn noop_context() -> Context<'static> {
    Context::from_waker(Waker::noop())
}

/// Polls a future once with the no-op waker.
pub fn poll_once<F: Future + Unpin>(future: &mut F) -> Poll<F::Output> {
    Pin::new(future).poll(&mut noop_context())
}
