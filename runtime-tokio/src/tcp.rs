//! tokio's sockets as ferrule's [`Network`].

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use ferrule_core::api::Network;
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Handle;

use crate::TokioRuntime;

/// tokio's reactor and its resolver (`lookup_host`, on the blocking pool).
impl Network for TokioRuntime {
    type Listener = TcpListener;
    type Stream = TcpStream;

    async fn bind(&self, addr: SocketAddr) -> io::Result<TcpListener> {
        self.in_context(TcpListener::bind(addr)).await
    }

    fn local_addr(&self, listener: &TcpListener) -> io::Result<SocketAddr> {
        listener.local_addr()
    }

    async fn accept(&self, listener: &TcpListener) -> io::Result<(TcpStream, SocketAddr)> {
        let (stream, peer) = self.in_context(listener.accept()).await?;
        stream.set_nodelay(true)?;
        Ok((stream, peer))
    }

    async fn connect(&self, addr: SocketAddr) -> io::Result<TcpStream> {
        let stream = self.in_context(TcpStream::connect(addr)).await?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }

    async fn resolve(&self, host_port: &str) -> io::Result<Vec<SocketAddr>> {
        let addrs = self.in_context(tokio::net::lookup_host(host_port)).await?;
        Ok(addrs.collect())
    }
}

impl TokioRuntime {
    /// `future`, polled inside this runtime's context: tokio registers a new
    /// socket (bound, accepted or connected) with the reactor of, and runs a
    /// lookup on the blocking pool of, the runtime it is polled in, and the
    /// caller may be in none (`serve` awaited from plain `fn main`). Sockets,
    /// once registered, can be polled from anywhere.
    fn in_context<F: Future>(&self, future: F) -> InContext<'_, F> {
        InContext {
            handle: &self.handle,
            future,
        }
    }
}

pin_project_lite::pin_project! {
    /// See [`TokioRuntime::in_context`].
    struct InContext<'a, F> {
        handle: &'a Handle,
        #[pin]
        future: F,
    }
}

impl<F: Future> Future for InContext<'_, F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let _entered = this.handle.enter();
        this.future.poll(cx)
    }
}
