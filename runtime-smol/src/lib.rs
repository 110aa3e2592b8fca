//! ferrule-smol: runs ferrule on smol (async-io + async-executor). It binds
//! and nothing else: the [`Runtime`] (spawn on an executor, async-io timers),
//! TCP listening and connecting (a [`TcpStream`] with the IO traits h2 reads
//! and writes), a bridge to those traits from any `futures-io` stream
//! ([`Compat`]), and a few conveniences. Everything else is in
//! `ferrule_core::api`.
//!
//! ```no_run
//! # async fn demo(router: ferrule_core::api::Router) -> std::io::Result<()> {
//! let server = ferrule_smol::serve("127.0.0.1:50051", router).await?;
//! let channel = ferrule_smol::channel("127.0.0.1:50051");
//! # let _ = (server, channel); Ok(()) }
//! ```
//!
//! The free functions spawn ferrule's tasks (connection drivers, handlers) on
//! smol's global executor, which runs on threads of its own while
//! [`block_on`] drives IO on the calling thread. To run everything on one
//! thread, give ferrule an executor and run it inside `block_on` yourself,
//! through [`ExecutorRuntime`]:
//!
//! ```no_run
//! # fn demo(router: ferrule_core::api::Router) -> std::io::Result<()> {
//! use std::sync::Arc;
//!
//! let runtime = ferrule_smol::SmolRuntime::with_executor(Arc::new(ferrule_smol::Executor::new()));
//! runtime.block_on(async {
//!     let _server = runtime.serve("127.0.0.1:50051", router).await?;
//!     let channel = runtime.channel("127.0.0.1:50051");
//!     # let _ = channel;
//!     std::future::pending::<()>().await;
//!     Ok(())
//! })
//! # }
//! ```

mod compat;
mod read_offer;
mod tcp;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use ferrule_core::Status;
use ferrule_core::api::{
    Channel, ChannelConfig, Connector, Listener, Router, Runtime, Server, ServerHandle, Timer,
};
use smol::net::AsyncToSocketAddrs;

pub use compat::Compat;
pub use smol::Executor;
pub use tcp::TcpStream;

/// The smol [`Runtime`]: tasks on smol's global executor, async-io timers.
#[derive(Debug, Clone, Copy, Default)]
pub struct SmolRuntime;

impl SmolRuntime {
    /// The runtime that spawns on `executor` instead of the global one.
    pub fn with_executor(executor: Arc<Executor<'static>>) -> ExecutorRuntime {
        ExecutorRuntime { executor }
    }
}

impl Runtime for SmolRuntime {
    fn spawn(&self, future: Pin<Box<dyn Future<Output = ()> + Send>>) {
        smol::spawn(future).detach();
    }

    fn new_timer(&self, deadline: Instant) -> Pin<Box<dyn Timer>> {
        new_timer(deadline)
    }
}

/// The smol [`Runtime`] on an executor the program chooses and runs (for
/// instance on the thread that drives IO: [`block_on`](Self::block_on), so
/// that a task woken by IO runs without a wake crossing threads);
/// async-io timers.
///
/// Tasks make progress only while something runs the executor.
#[derive(Debug, Clone)]
pub struct ExecutorRuntime {
    executor: Arc<Executor<'static>>,
}

impl ExecutorRuntime {
    /// The executor tasks are spawned on.
    pub fn executor(&self) -> &Arc<Executor<'static>> {
        &self.executor
    }

    /// Runs `future` to completion on this thread, driving IO, timers and
    /// this runtime's executor (so every task spawned on it runs here too,
    /// unless other threads run the executor as well).
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        smol::block_on(self.executor.run(future))
    }

    /// A [`Server`] on this runtime.
    pub fn server(&self) -> Server {
        Server::new(self.clone())
    }

    /// Binds `addr` and serves `router` on this runtime with the default
    /// configuration.
    pub async fn serve(
        &self,
        addr: impl AsyncToSocketAddrs,
        router: Router,
    ) -> io::Result<ServerHandle> {
        serve_on(self.server(), addr, router).await
    }

    /// A lazily connecting [`Channel`] to `target` on this runtime.
    pub fn channel(&self, target: &str) -> Channel {
        self.channel_with(target, ChannelConfig::default())
    }

    /// A lazily connecting [`Channel`] on this runtime with `config`.
    pub fn channel_with(&self, target: &str, config: ChannelConfig) -> Channel {
        channel_on(self.clone(), target, config)
    }

    /// A channel to `target` on this runtime, connected before returning.
    pub async fn connect(&self, target: &str) -> Result<Channel, Status> {
        connected(self.channel(target)).await
    }
}

impl Runtime for ExecutorRuntime {
    fn spawn(&self, future: Pin<Box<dyn Future<Output = ()> + Send>>) {
        self.executor.spawn(future).detach();
    }

    fn new_timer(&self, deadline: Instant) -> Pin<Box<dyn Timer>> {
        new_timer(deadline)
    }
}

fn new_timer(deadline: Instant) -> Pin<Box<dyn Timer>> {
    Box::pin(SmolTimer(smol::Timer::at(deadline)))
}

/// An async-io timer as a ferrule [`Timer`].
#[derive(Debug)]
struct SmolTimer(smol::Timer);

impl Future for SmolTimer {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.0).poll(cx).map(drop)
    }
}

impl Timer for SmolTimer {
    fn reset(mut self: Pin<&mut Self>, deadline: Instant) {
        self.0.set_at(deadline);
    }
}

/// A TCP [`Listener`]; accepted sockets get `TCP_NODELAY`.
#[derive(Debug)]
pub struct TcpListener {
    inner: smol::net::TcpListener,
}

impl TcpListener {
    /// Binds to `addr` (`127.0.0.1:0` for an ephemeral port).
    pub async fn bind(addr: impl AsyncToSocketAddrs) -> io::Result<TcpListener> {
        Ok(TcpListener {
            inner: smol::net::TcpListener::bind(addr).await?,
        })
    }
}

impl Listener for TcpListener {
    type Io = TcpStream;

    async fn accept(&mut self) -> io::Result<(TcpStream, Option<SocketAddr>)> {
        let (stream, peer) = self.inner.accept().await?;
        Ok((TcpStream::from_smol(stream)?, Some(peer)))
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
        TcpStream::connect(self.target.as_str()).await
    }
}

/// Runs `future` to completion on this thread, driving IO and timers; tasks
/// spawned meanwhile run on smol's global executor (see [`ExecutorRuntime`]
/// for one thread).
pub fn block_on<F: Future>(future: F) -> F::Output {
    smol::block_on(future)
}

/// A [`Server`] on smol.
pub fn server() -> Server {
    Server::new(SmolRuntime)
}

/// Binds `addr` and serves `router` with the default configuration.
pub async fn serve(addr: impl AsyncToSocketAddrs, router: Router) -> io::Result<ServerHandle> {
    serve_on(server(), addr, router).await
}

async fn serve_on(
    server: Server,
    addr: impl AsyncToSocketAddrs,
    router: Router,
) -> io::Result<ServerHandle> {
    let listener = TcpListener::bind(addr).await?;
    Ok(server.serve(listener, router))
}

/// A lazily connecting [`Channel`] to `target` (`host:port` or
/// `http://host:port`) with the default configuration.
pub fn channel(target: &str) -> Channel {
    channel_with(target, ChannelConfig::default())
}

/// A lazily connecting [`Channel`] with `config`; its `:authority` is set to
/// `target`'s.
pub fn channel_with(target: &str, config: ChannelConfig) -> Channel {
    channel_on(SmolRuntime, target, config)
}

fn channel_on(runtime: impl Runtime, target: &str, mut config: ChannelConfig) -> Channel {
    config.client.authority = ferrule_core::api::authority_of(target).to_owned();
    Channel::new(runtime, TcpConnector::new(target), config)
}

/// A channel to `target`, connected before returning (`UNAVAILABLE` if the
/// server cannot be reached).
pub async fn connect(target: &str) -> Result<Channel, Status> {
    connected(channel(target)).await
}

async fn connected(channel: Channel) -> Result<Channel, Status> {
    channel.ready().await?;
    Ok(channel)
}
