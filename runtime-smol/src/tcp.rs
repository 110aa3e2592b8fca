//! smol's sockets as ferrule's [`Network`], and a TCP stream for h2 that
//! remembers when the socket ran dry.
//!
//! smol's `TcpStream` tries the read system call on every `poll_read` and
//! asks the reactor only when it fails, and h2 polls its reader several times
//! per drive: three `recvfrom` per unary call came back `EAGAIN`. This
//! stream does what tokio's does: after a read that came back short or
//! blocked, it asks the reactor first and reads only once the socket was
//! reported readable since.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream as StdTcpStream};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use ferrule_core::api::Network;
use smol::Async;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::SmolRuntime;
use crate::read_offer::ReadOffer;

/// async-io's reactor, with names looked up on smol's blocking pool.
impl Network for SmolRuntime {
    type Listener = smol::net::TcpListener;
    type Stream = TcpStream;

    async fn bind(&self, addr: SocketAddr) -> io::Result<smol::net::TcpListener> {
        smol::net::TcpListener::bind(addr).await
    }

    fn local_addr(&self, listener: &smol::net::TcpListener) -> io::Result<SocketAddr> {
        listener.local_addr()
    }

    async fn accept(
        &self,
        listener: &smol::net::TcpListener,
    ) -> io::Result<(TcpStream, SocketAddr)> {
        let (stream, peer) = listener.accept().await?;
        Ok((TcpStream::from_smol(stream)?, peer))
    }

    async fn connect(&self, addr: SocketAddr) -> io::Result<TcpStream> {
        TcpStream::from_smol(smol::net::TcpStream::connect(addr).await?)
    }

    async fn resolve(&self, host_port: &str) -> io::Result<Vec<SocketAddr>> {
        smol::net::resolve(host_port).await
    }
}

/// A TCP connection as h2 reads and writes it (tokio's IO traits on
/// async-io's reactor).
#[derive(Debug)]
pub struct TcpStream {
    inner: Arc<Async<StdTcpStream>>,
    /// The last read came back short or blocked: wait for the reactor to
    /// report readability before the next system call.
    drained: bool,
    /// How much of the caller's buffer the next read offers the socket (a
    /// read that fills its offer is followed by a bigger one at once).
    read_offer: ReadOffer,
}

impl TcpStream {
    /// Adopts one of smol's streams and turns Nagle off (gRPC messages are
    /// small and latency-bound).
    pub(crate) fn from_smol(stream: smol::net::TcpStream) -> io::Result<TcpStream> {
        stream.set_nodelay(true)?;
        Ok(TcpStream {
            inner: stream.into(),
            drained: false,
            read_offer: ReadOffer::default(),
        })
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().peer_addr()
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().local_addr()
    }
}

impl AsyncRead for TcpStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            if self.drained {
                ready!(self.inner.poll_readable(cx))?;
                self.drained = false;
            }
            let offered = self.read_offer.size(buf.remaining());
            let unfilled = buf.initialize_unfilled_to(offered);
            match self.inner.get_ref().read(unfilled) {
                Ok(n) => {
                    buf.advance(n);
                    // A short read emptied the socket's buffer (an empty
                    // one is the end of the stream and stays readable).
                    self.drained = n > 0 && n < offered;
                    self.read_offer.after_read(n);
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.drained = true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl TcpStream {
    /// Runs `write` until it does not block, waiting for writability between
    /// tries.
    fn poll_write_with(
        &self,
        cx: &mut Context<'_>,
        mut write: impl FnMut(&StdTcpStream) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        loop {
            match write(self.inner.get_ref()) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                done => return Poll::Ready(done),
            }
            ready!(self.inner.poll_writable(cx))?;
        }
    }
}

impl AsyncWrite for TcpStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_with(cx, |mut stream| stream.write(data))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_with(cx, |mut stream| stream.write_vectored(bufs))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Writes go straight to the socket.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(match self.inner.get_ref().shutdown(Shutdown::Write) {
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(()),
            done => done,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::read_offer::MIN_READ;
    use std::future::poll_fn;

    async fn pair() -> (TcpStream, StdTcpStream) {
        let listener = StdTcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let ours = SmolRuntime.connect(addr).await.unwrap();
        let (theirs, _) = listener.accept().unwrap();
        (ours, theirs)
    }

    use std::net::TcpListener as StdTcpListener;

    async fn read_some(stream: &mut TcpStream, storage: &mut [u8]) -> usize {
        let mut buf = ReadBuf::new(storage);
        poll_fn(|cx| Pin::new(&mut *stream).poll_read(cx, &mut buf))
            .await
            .unwrap();
        buf.filled().len()
    }

    #[test]
    fn a_drained_socket_is_not_read_until_the_reactor_reports_it_readable() {
        smol::block_on(async {
            let (mut ours, mut theirs) = pair().await;
            theirs.write_all(b"hello").unwrap();
            let mut storage = [0u8; 64];
            assert_eq!(read_some(&mut ours, &mut storage).await, 5);
            assert!(ours.drained, "a short read marks the socket drained");
            // Drained: the next poll asks the reactor, not the socket.
            let mut buf = ReadBuf::new(&mut storage);
            let waker = std::task::Waker::noop();
            let polled = Pin::new(&mut ours).poll_read(&mut Context::from_waker(waker), &mut buf);
            assert!(polled.is_pending());
            // Data that arrives later is read once the reactor saw it.
            theirs.write_all(b"world!").unwrap();
            assert_eq!(read_some(&mut ours, &mut storage).await, 6);
            assert_eq!(&storage[..6], b"world!");
        });
    }

    #[test]
    fn a_full_read_leaves_the_rest_readable_at_once() {
        smol::block_on(async {
            let (mut ours, mut theirs) = pair().await;
            theirs.write_all(&[7u8; 100]).unwrap();
            // Let the bytes land in our receive buffer.
            smol::Timer::after(std::time::Duration::from_millis(20)).await;
            let mut storage = [0u8; 60];
            assert_eq!(read_some(&mut ours, &mut storage).await, 60);
            assert!(!ours.drained, "a full read may have left more");
            assert_eq!(read_some(&mut ours, &mut storage).await, 40);
        });
    }

    #[test]
    fn a_read_zeroes_only_what_it_offers_the_socket() {
        smol::block_on(async {
            let (mut ours, mut theirs) = pair().await;
            theirs.write_all(b"tiny frame").unwrap();
            // h2's read buffer: 8 KiB, uninitialized.
            let mut storage = [std::mem::MaybeUninit::<u8>::uninit(); 8192];
            let mut buf = ReadBuf::uninit(&mut storage);
            poll_fn(|cx| Pin::new(&mut ours).poll_read(cx, &mut buf))
                .await
                .unwrap();
            assert_eq!(buf.filled(), b"tiny frame");
            assert_eq!(
                buf.initialized().len(),
                MIN_READ,
                "the rest of the buffer is left untouched"
            );
        });
    }

    #[test]
    fn a_burst_bigger_than_the_offer_is_read_in_growing_reads() {
        smol::block_on(async {
            let (mut ours, mut theirs) = pair().await;
            let burst: Vec<u8> = (0..20_000u32).map(|i| i as u8).collect();
            theirs.write_all(&burst).unwrap();
            // Let the bytes land in our receive buffer.
            smol::Timer::after(std::time::Duration::from_millis(20)).await;
            let mut storage = vec![0u8; 32 * 1024];
            let mut got = Vec::new();
            let mut sizes = Vec::new();
            while got.len() < burst.len() {
                let n = read_some(&mut ours, &mut storage).await;
                got.extend_from_slice(&storage[..n]);
                sizes.push(n);
            }
            assert_eq!(got, burst);
            // Each read that filled its offer left the socket readable and
            // the next one offered twice as much.
            let mut expected = Vec::new();
            let (mut offer, mut left) = (MIN_READ, burst.len());
            while left > 0 {
                expected.push(offer.min(left));
                left -= offer.min(left);
                offer *= 2;
            }
            assert_eq!(sizes, expected, "each full read doubles the next offer");
            assert!(ours.drained, "the last read came back short");
        });
    }

    #[test]
    fn writes_shutdown_and_end_of_stream() {
        smol::block_on(async {
            let (mut ours, mut theirs) = pair().await;
            let bufs = [io::IoSlice::new(b"ab"), io::IoSlice::new(b"cd")];
            let n = poll_fn(|cx| Pin::new(&mut ours).poll_write_vectored(cx, &bufs))
                .await
                .unwrap();
            assert_eq!(n, 4);
            poll_fn(|cx| Pin::new(&mut ours).poll_shutdown(cx))
                .await
                .unwrap();
            let mut got = Vec::new();
            theirs.read_to_end(&mut got).unwrap();
            assert_eq!(got, b"abcd");
            drop(theirs);
            let mut storage = [0u8; 8];
            assert_eq!(read_some(&mut ours, &mut storage).await, 0);
            assert!(!ours.drained, "the end of the stream stays readable");
            assert_eq!(read_some(&mut ours, &mut storage).await, 0);
        });
    }
}
