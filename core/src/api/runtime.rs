//! What the async layer needs from a runtime: spawning, timers, the clock,
//! and byte streams to serve or connect on. The adapters (`ferrule-smol`,
//! `ferrule-tokio`) implement these in a hundred lines or so; a custom event
//! loop or a simulator can too.

use std::fmt::Debug;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncWrite};

use super::interceptor::BoxFuture;

/// Spawning, timers and the clock (quinn's `Runtime`, minus sockets).
///
/// Object-safe: the async layer holds an `Arc<dyn Runtime>`.
pub trait Runtime: Send + Sync + Debug + 'static {
    /// Runs `future` to completion in the background. Tasks are detached:
    /// the async layer never joins them.
    fn spawn(&self, future: Pin<Box<dyn Future<Output = ()> + Send>>);

    /// A timer that fires at `deadline`.
    fn new_timer(&self, deadline: Instant) -> Pin<Box<dyn Timer>>;

    /// The current instant. Every `now` the engine is given comes from here.
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A resettable timer future (tokio's `Sleep`, async-io's `Timer`).
pub trait Timer: Future<Output = ()> + Send + Debug {
    /// Moves the deadline; a fired timer fires again at the new deadline.
    fn reset(self: Pin<&mut Self>, deadline: Instant);
}

/// A byte stream h2 can run over: tokio's IO traits (implemented without a
/// tokio runtime; smol's sockets are bridged by the smol adapter).
pub trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}

/// A boxed [`Io`], what the connection drivers own.
pub type BoxIo = Box<dyn Io>;

/// Accepts connections for a [`Server`](super::Server).
pub trait Listener: Send + 'static {
    /// The accepted streams.
    type Io: Io;

    /// Waits for the next connection; also returns the peer's address when
    /// the transport has one.
    fn accept(&mut self)
    -> impl Future<Output = io::Result<(Self::Io, Option<SocketAddr>)>> + Send;

    /// The local address, when the transport has one.
    fn local_addr(&self) -> Option<SocketAddr> {
        None
    }
}

/// Opens connections for a [`Channel`](super::Channel): called for the first
/// call and again after the connection is lost.
pub trait Connector: Send + Sync + 'static {
    /// The connected streams.
    type Io: Io;

    /// Connects to the channel's target.
    fn connect(&self) -> impl Future<Output = io::Result<Self::Io>> + Send;
}

/// [`Connector`] made object-safe, so a `Channel` is not generic.
pub(crate) trait DynConnector: Send + Sync {
    fn connect_boxed(&self) -> BoxFuture<'_, io::Result<BoxIo>>;
}

impl<C: Connector> DynConnector for C {
    fn connect_boxed(&self) -> BoxFuture<'_, io::Result<BoxIo>> {
        Box::pin(async move {
            let io = self.connect().await?;
            Ok(Box::new(io) as BoxIo)
        })
    }
}

/// A driver's one timer, created on first use and reset after.
#[derive(Default)]
pub(crate) struct TimerSlot {
    timer: Option<Pin<Box<dyn Timer>>>,
    /// When the timer is set to fire; `None` once it fired.
    armed: Option<Instant>,
}

impl TimerSlot {
    /// Polls the timer for `at`. It may be ready early, at a deadline asked
    /// for before: a deadline that moved later (keepalive's, after every
    /// frame) does not reset the timer, which costs a trip to the runtime's
    /// timer wheel or reactor per drive; the caller re-checks when it fires.
    pub(crate) fn poll_at(
        &mut self,
        runtime: &dyn Runtime,
        cx: &mut std::task::Context<'_>,
        at: Instant,
    ) -> std::task::Poll<()> {
        let timer = match &mut self.timer {
            Some(timer) => {
                if self.armed.is_none_or(|armed| at < armed) {
                    timer.as_mut().reset(at);
                    self.armed = Some(at);
                }
                timer
            }
            None => {
                self.armed = Some(at);
                self.timer.insert(runtime.new_timer(at))
            }
        };
        let fired = timer.as_mut().poll(cx);
        if fired.is_ready() {
            self.armed = None;
        }
        fired
    }
}

/// Sleeps until `deadline` on `runtime`'s timer.
pub(crate) async fn sleep_until(runtime: &dyn Runtime, deadline: Instant) {
    runtime.new_timer(deadline).await;
}
