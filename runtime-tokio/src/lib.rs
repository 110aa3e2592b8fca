//! ferrule-tokio: runs ferrule on tokio. It binds and nothing else: the
//! [`Runtime`] (spawn, timers), TCP listening and connecting, and a few
//! conveniences. Everything else is in `ferrule_core::api`.
//!
//! ```no_run
//! # async fn demo(router: ferrule_core::api::Router) -> std::io::Result<()> {
//! let server = ferrule_tokio::serve("127.0.0.1:50051", router).await?;
//! let channel = ferrule_tokio::channel("127.0.0.1:50051");
//! # let _ = (server, channel); Ok(()) }
//! ```

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use ferrule_core::Status;
use ferrule_core::api::{
    Channel, ChannelConfig, Connector, Listener, Router, Runtime, Server, ServerHandle, Timer,
};
use tokio::net::{TcpStream, ToSocketAddrs};
use tokio::runtime::Handle;

/// The tokio [`Runtime`]: tasks and timers on a tokio runtime's handle.
#[derive(Debug, Clone)]
pub struct TokioRuntime {
    handle: Handle,
}

impl TokioRuntime {
    /// The runtime this is called from.
    ///
    /// # Panics
    /// Outside a tokio runtime (as `tokio::spawn` does); see
    /// [`from_handle`](Self::from_handle).
    pub fn current() -> TokioRuntime {
        TokioRuntime {
            handle: Handle::current(),
        }
    }

    /// The runtime behind `handle`.
    pub fn from_handle(handle: Handle) -> TokioRuntime {
        TokioRuntime { handle }
    }
}

impl Runtime for TokioRuntime {
    fn spawn(&self, future: Pin<Box<dyn Future<Output = ()> + Send>>) {
        drop(self.handle.spawn(future));
    }

    fn new_timer(&self, deadline: Instant) -> Pin<Box<dyn Timer>> {
        // Creating a `Sleep` needs the runtime's context (its timer driver).
        let _enter = self.handle.enter();
        Box::pin(TokioTimer {
            sleep: tokio::time::sleep_until(deadline.into()),
        })
    }

    /// tokio's clock, the one its timers run on: paused time in tests
    /// (`tokio::time::pause`) moves `now` and the timers together. Read in
    /// the calling thread's runtime context, where ferrule's tasks run; it
    /// is the wall clock unless a runtime's clock was paused.
    fn now(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }
}

pin_project_lite::pin_project! {
    /// A tokio `Sleep` as a ferrule [`Timer`].
    #[derive(Debug)]
    struct TokioTimer {
        #[pin]
        sleep: tokio::time::Sleep,
    }
}

impl Future for TokioTimer {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.project().sleep.poll(cx)
    }
}

impl Timer for TokioTimer {
    fn reset(self: Pin<&mut Self>, deadline: Instant) {
        self.project().sleep.reset(deadline.into());
    }
}

/// A TCP [`Listener`]; accepted sockets get `TCP_NODELAY`.
#[derive(Debug)]
pub struct TcpListener {
    inner: tokio::net::TcpListener,
}

impl TcpListener {
    /// Binds to `addr` (`127.0.0.1:0` for an ephemeral port).
    pub async fn bind(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        Ok(TcpListener {
            inner: tokio::net::TcpListener::bind(addr).await?,
        })
    }
}

impl Listener for TcpListener {
    type Io = TcpStream;

    async fn accept(&mut self) -> io::Result<(TcpStream, Option<SocketAddr>)> {
        let (stream, peer) = self.inner.accept().await?;
        // gRPC messages are small and latency-bound: no Nagle.
        stream.set_nodelay(true)?;
        Ok((stream, Some(peer)))
    }

    fn local_addr(&self) -> Option<SocketAddr> {
        self.inner.local_addr().ok()
    }
}

/// A TCP [`Connector`] to `host:port` (resolved on every attempt).
#[derive(Debug, Clone)]
pub struct TcpConnector {
    target: String,
}

impl TcpConnector {
    /// Connects to `target`: `host:port`, optionally prefixed `http://`.
    pub fn new(target: &str) -> TcpConnector {
        TcpConnector {
            target: ferrule_core::api::authority_of(target).to_owned(),
        }
    }
}

impl Connector for TcpConnector {
    type Io = TcpStream;

    async fn connect(&self) -> io::Result<TcpStream> {
        let stream = TcpStream::connect(self.target.as_str()).await?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }
}

/// Runs `future` to completion on a new multi-threaded tokio runtime (with
/// IO and timers), as `#[tokio::main]` would.
///
/// # Panics
/// If the runtime cannot be created (the OS refused threads or an IO driver).
pub fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("failed to create the tokio runtime")
        .block_on(future)
}

/// A [`Server`] on the current tokio runtime.
///
/// # Panics
/// Outside a tokio runtime, like every function here that builds a
/// [`TokioRuntime`] (`serve`, `channel`, `channel_with`, `connect`).
pub fn server() -> Server {
    Server::new(TokioRuntime::current())
}

/// Binds `addr` and serves `router` with the default configuration.
pub async fn serve(addr: impl ToSocketAddrs, router: Router) -> io::Result<ServerHandle> {
    let listener = TcpListener::bind(addr).await?;
    Ok(server().serve(listener, router))
}

/// A lazily connecting [`Channel`] to `target` (`host:port` or
/// `http://host:port`) with the default configuration.
pub fn channel(target: &str) -> Channel {
    channel_with(target, ChannelConfig::default())
}

/// A lazily connecting [`Channel`] with `config`; its `:authority` is set to
/// `target`'s.
pub fn channel_with(target: &str, mut config: ChannelConfig) -> Channel {
    config.client.authority = ferrule_core::api::authority_of(target).to_owned();
    Channel::new(TokioRuntime::current(), TcpConnector::new(target), config)
}

/// A channel to `target`, connected before returning (`UNAVAILABLE` if the
/// server cannot be reached).
pub async fn connect(target: &str) -> Result<Channel, Status> {
    let channel = channel(target);
    channel.ready().await?;
    Ok(channel)
}
