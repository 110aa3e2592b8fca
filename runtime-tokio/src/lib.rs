//! ferrule-tokio: runs ferrule on tokio. It binds and nothing else: the
//! [`Runtime`] (spawn, timers, tokio's clock) and the sockets
//! ([`Network`](ferrule_core::api::Network)).
//! TCP listening, connecting and the conveniences (`serve`, `channel`, ...)
//! are `ferrule_core::api`'s, on these sockets.
//!
//! ```no_run
//! # async fn demo(router: ferrule_core::api::Router) -> std::io::Result<()> {
//! let server = ferrule_tokio::serve("127.0.0.1:50051", router).await?;
//! let channel = ferrule_tokio::channel("127.0.0.1:50051");
//! # let _ = (server, channel); Ok(()) }
//! ```
//!
//! They run on the tokio runtime they are called in. Called outside any
//! (plain `fn main`, another executor), they run on a runtime of
//! ferrule-tokio's own instead of panicking: see [`TokioRuntime::current`].

mod tcp;

use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};
use std::time::Instant;

use ferrule_core::api::{Runtime, Timer};
use tokio::runtime::Handle;

/// A TCP listener on tokio's sockets; accepted streams get `TCP_NODELAY`.
pub type TcpListener = ferrule_core::api::TcpListener<TokioRuntime>;

/// A TCP connector to `host:port` on tokio's sockets: the name is looked up
/// on every attempt and its addresses tried in order.
pub type TcpConnector = ferrule_core::api::TcpConnector<TokioRuntime>;

/// The tokio [`Runtime`]: tasks, timers and sockets (its
/// [`Network`](ferrule_core::api::Network)) on a tokio runtime's handle.
#[derive(Debug, Clone)]
pub struct TokioRuntime {
    handle: Handle,
}

impl TokioRuntime {
    /// The runtime this is called from; outside any, ferrule-tokio's own
    /// (see [below](Self#outside-a-tokio-runtime)).
    ///
    /// # Outside a tokio runtime
    /// Called where no tokio runtime is entered (plain `fn main`, a thread
    /// of another executor), this returns a process-wide multi-threaded
    /// runtime that ferrule-tokio builds on first use (one worker thread per
    /// core, named `ferrule-tokio`) and keeps until the process exits, as
    /// reqwest's blocking client does. Tasks, timers and sockets of what is
    /// made there (servers, channels) run on it; their futures can be
    /// awaited on any executor. To use a runtime of your own instead, call
    /// this inside it or use [`from_handle`](Self::from_handle).
    ///
    /// # Panics
    /// If that runtime is needed and cannot be built (the OS refused threads
    /// or an IO driver).
    pub fn current() -> TokioRuntime {
        let handle = Handle::try_current().unwrap_or_else(|_| fallback().clone());
        TokioRuntime { handle }
    }

    /// The runtime behind `handle`.
    pub fn from_handle(handle: Handle) -> TokioRuntime {
        TokioRuntime { handle }
    }
}

/// ferrule-tokio's own runtime, for what is made outside any tokio runtime
/// (see [`TokioRuntime::current`]).
fn fallback() -> &'static Handle {
    static FALLBACK: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    FALLBACK
        .get_or_init(|| {
            tracing::debug!("no tokio runtime entered: starting ferrule-tokio's own");
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .thread_name("ferrule-tokio")
                .build()
                .expect("failed to create ferrule-tokio's fallback runtime")
        })
        .handle()
}

/// [`TokioRuntime::current`].
impl Default for TokioRuntime {
    fn default() -> TokioRuntime {
        TokioRuntime::current()
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

// `server`, `serve`, `channel`, `channel_with`, `connect`: on the current
// tokio runtime, or outside one on ferrule-tokio's own (`TokioRuntime::current`).
ferrule_core::adapter_functions!(TokioRuntime::current());
