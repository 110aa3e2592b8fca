//! ferrule-smol: runs ferrule on smol (async-io + async-executor). It binds
//! and nothing else: the [`Runtime`] (spawn on an executor, async-io timers),
//! the sockets ([`Network`](ferrule_core::api::Network): a [`TcpStream`]
//! with the IO traits h2 reads and writes), and a bridge to those traits from any `futures-io` stream
//! ([`Compat`]). TCP listening, connecting and the conveniences (`serve`,
//! `channel`, ...) are `ferrule_core::api`'s, on these sockets.
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
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use ferrule_core::Status;
use ferrule_core::api::{
    Channel, ChannelConfig, Router, Runtime, Server, ServerHandle, Tcp, Timer, ToTcpAddrs,
};

pub use compat::Compat;
pub use smol::Executor;
pub use tcp::TcpStream;

/// A TCP listener on smol's sockets; accepted streams get `TCP_NODELAY`.
pub type TcpListener = ferrule_core::api::TcpListener<SmolRuntime>;

/// A TCP connector to `host:port` on smol's sockets: the name is looked up
/// on every attempt and its addresses tried in order.
pub type TcpConnector = ferrule_core::api::TcpConnector<SmolRuntime>;

/// The smol [`Runtime`]: tasks on smol's global executor, async-io timers
/// and sockets (its [`Network`](ferrule_core::api::Network)).
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
/// async-io timers and sockets, as [`SmolRuntime`].
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

    /// TCP with tasks on this runtime, sockets on async-io.
    fn tcp(&self) -> Tcp<SmolRuntime> {
        Tcp::new(Arc::new(self.clone()), SmolRuntime)
    }

    /// A [`Server`] on this runtime.
    pub fn server(&self) -> Server {
        self.tcp().server()
    }

    /// Binds `addr` and serves `router` on this runtime with the default
    /// configuration.
    pub async fn serve(&self, addr: impl ToTcpAddrs, router: Router) -> io::Result<ServerHandle> {
        self.tcp().serve(addr, router).await
    }

    /// A lazily connecting [`Channel`] to `target` on this runtime.
    pub fn channel(&self, target: &str) -> Channel {
        self.tcp().channel(target)
    }

    /// A lazily connecting [`Channel`] on this runtime with `config`.
    pub fn channel_with(&self, target: &str, config: ChannelConfig) -> Channel {
        self.tcp().channel_with(target, config)
    }

    /// A channel to `target` on this runtime, connected before returning.
    pub async fn connect(&self, target: &str) -> Result<Channel, Status> {
        self.tcp().connect(target).await
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

/// Runs `future` to completion on this thread, driving IO and timers; tasks
/// spawned meanwhile run on smol's global executor (see [`ExecutorRuntime`]
/// for one thread).
pub fn block_on<F: Future>(future: F) -> F::Output {
    smol::block_on(future)
}

// `server`, `serve`, `channel`, `channel_with`, `connect`: tasks on smol's
// global executor. No runtime needs to be running: async-io starts its
// reactor thread on first use.
ferrule_core::adapter_functions!(SmolRuntime);
