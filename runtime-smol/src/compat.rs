//! The IO bridge: smol's sockets implement the `futures-io` traits; h2 reads
//! and writes through tokio's. Same operations, different signatures.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::read_offer::ReadOffer;

/// A `futures-io` stream seen through tokio's IO traits.
#[derive(Debug)]
pub struct Compat<T> {
    inner: T,
    /// How much of the caller's buffer the next read offers (and zeroes).
    read_offer: ReadOffer,
}

impl<T> Compat<T> {
    /// Wraps `inner`.
    pub fn new(inner: T) -> Compat<T> {
        Compat {
            inner,
            read_offer: ReadOffer::default(),
        }
    }

    /// The wrapped stream.
    pub fn get_ref(&self) -> &T {
        &self.inner
    }

    /// The wrapped stream, unwrapped.
    pub fn into_inner(self) -> T {
        self.inner
    }
}

impl<T: futures_io::AsyncRead + Unpin> AsyncRead for Compat<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        // futures-io reads into initialized memory; tokio's buffer may not be.
        let offered = self.read_offer.size(buf.remaining());
        let unfilled = buf.initialize_unfilled_to(offered);
        let n = ready!(Pin::new(&mut self.inner).poll_read(cx, unfilled))?;
        buf.advance(n);
        self.read_offer.after_read(n);
        Poll::Ready(Ok(()))
    }
}

impl<T: futures_io::AsyncWrite + Unpin> AsyncWrite for Compat<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::task::Waker;

    /// A futures-io stream over an in-memory buffer, reading in 3-byte bites.
    struct Mem {
        input: Vec<u8>,
        output: Vec<u8>,
        closed: bool,
    }

    impl futures_io::AsyncRead for Mem {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut [u8],
        ) -> Poll<io::Result<usize>> {
            let n = buf.len().min(3).min(self.input.len());
            buf[..n].copy_from_slice(&self.input[..n]);
            self.input.drain(..n);
            Poll::Ready(Ok(n))
        }
    }

    impl futures_io::AsyncWrite for Mem {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            data: &[u8],
        ) -> Poll<io::Result<usize>> {
            self.output.extend_from_slice(data);
            Poll::Ready(Ok(data.len()))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_close(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            self.closed = true;
            Poll::Ready(Ok(()))
        }
    }

    #[test]
    fn a_read_zeroes_only_what_it_offers() {
        let mut io = Compat::new(Mem {
            input: vec![9; 10],
            output: Vec::new(),
            closed: false,
        });
        let mut cx = Context::from_waker(Waker::noop());
        let mut storage = [std::mem::MaybeUninit::<u8>::uninit(); 8192];
        let mut buf = ReadBuf::uninit(&mut storage);
        assert!(Pin::new(&mut io).poll_read(&mut cx, &mut buf).is_ready());
        assert_eq!(buf.filled(), [9; 3]);
        assert_eq!(buf.initialized().len(), crate::read_offer::MIN_READ);
    }

    #[test]
    fn reads_writes_and_shutdown_pass_through() {
        let mut io = Compat::new(Mem {
            input: b"hello".to_vec(),
            output: Vec::new(),
            closed: false,
        });
        let mut cx = Context::from_waker(Waker::noop());
        let mut storage = [0u8; 8];
        let mut read = Vec::new();
        loop {
            let mut buf = ReadBuf::new(&mut storage);
            match Pin::new(&mut io).poll_read(&mut cx, &mut buf) {
                Poll::Ready(Ok(())) if buf.filled().is_empty() => break,
                Poll::Ready(Ok(())) => read.extend_from_slice(buf.filled()),
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(read, b"hello");
        assert!(matches!(
            Pin::new(&mut io).poll_write(&mut cx, b"abc"),
            Poll::Ready(Ok(3))
        ));
        assert!(Pin::new(&mut io).poll_shutdown(&mut cx).is_ready());
        let inner = io.into_inner();
        assert_eq!(inner.output, b"abc");
        assert!(inner.closed);
    }
}
