//! A listener whose connections can be killed: reads then see EOF and writes
//! fail, as when a server process dies.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use ferrule_core::api::Listener;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Kills every connection accepted through a [`KillableListener`].
#[derive(Clone, Debug, Default)]
pub struct KillSwitch {
    killed: Arc<AtomicBool>,
    wakers: Arc<std::sync::Mutex<Vec<std::task::Waker>>>,
}

impl KillSwitch {
    /// Kills the connections now.
    pub fn kill(&self) {
        self.killed.store(true, Ordering::SeqCst);
        for w in self.wakers.lock().unwrap().drain(..) {
            w.wake();
        }
    }

    fn is_killed(&self, cx: &mut Context<'_>) -> bool {
        if self.killed.load(Ordering::SeqCst) {
            return true;
        }
        let mut wakers = self.wakers.lock().unwrap();
        if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
            wakers.push(cx.waker().clone());
        }
        false
    }
}

/// Wraps a listener so that [`KillSwitch::kill`] ends its connections.
pub struct KillableListener<L> {
    pub inner: L,
    pub switch: KillSwitch,
}

impl<L: Listener> Listener for KillableListener<L> {
    type Io = KillableIo<L::Io>;

    async fn accept(&mut self) -> io::Result<(Self::Io, Option<SocketAddr>)> {
        let (io, peer) = self.inner.accept().await?;
        Ok((
            KillableIo {
                io,
                switch: self.switch.clone(),
            },
            peer,
        ))
    }

    fn local_addr(&self) -> Option<SocketAddr> {
        self.inner.local_addr()
    }
}

/// A connection that dies with its switch.
pub struct KillableIo<T> {
    io: T,
    switch: KillSwitch,
}

impl<T: AsyncRead + Unpin> AsyncRead for KillableIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.switch.is_killed(cx) {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for KillableIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.switch.is_killed(cx) {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        Pin::new(&mut self.io).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.switch.is_killed(cx) {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
