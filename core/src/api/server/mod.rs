//! The server: [`Server`] accepts connections from a [`Listener`] and runs
//! one driver task per connection; a [`Router`] maps calls to handlers;
//! [`ServerHandle`] shuts it all down gracefully.

pub(crate) mod call;
mod driver;
pub(crate) mod handler;
mod router;

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Poll, Waker};
use std::time::Duration;

use crate::Status;
use crate::proto::{ErrorCode, ServerConfig, ServerConnection};

use super::conn::Driver;
use super::runtime::{BoxIo, Io, Listener, Runtime, sleep_until};
use super::signal::Signal;
use call::ServerConn;
use driver::ServerDriver;

pub use handler::Handler;
pub use router::{Router, Routes};

/// A gRPC server: accepts connections and serves a [`Router`] on them.
///
/// ```ignore
/// let server = Server::new(runtime);
/// let handle = server.serve(listener, Router::new().add_service(svc));
/// // ...
/// handle.shutdown(Duration::from_secs(5)).await;
/// ```
#[derive(Clone)]
pub struct Server {
    runtime: Arc<dyn Runtime>,
    /// Shared by every connection's engine.
    config: Arc<ServerConfig>,
}

impl Server {
    /// A server with the default [`ServerConfig`] on `runtime`.
    pub fn new(runtime: impl Runtime) -> Server {
        Server::with_runtime(Arc::new(runtime))
    }

    /// A server on a shared runtime.
    pub fn with_runtime(runtime: Arc<dyn Runtime>) -> Server {
        Server {
            runtime,
            config: Arc::new(ServerConfig::default()),
        }
    }

    /// Replaces the engine configuration (limits, keepalive, encodings).
    #[must_use]
    pub fn with_config(mut self, config: ServerConfig) -> Server {
        self.config = Arc::new(config);
        self
    }

    /// The engine configuration, to modify: for example
    /// `server.config_mut().limits.max_recv_message_size = 16 << 20`.
    pub fn config_mut(&mut self) -> &mut ServerConfig {
        Arc::make_mut(&mut self.config)
    }

    /// Starts serving: spawns the accept loop, which spawns one driver task
    /// per connection. Returns at once.
    pub fn serve<L: Listener>(&self, listener: L, router: Router) -> ServerHandle {
        let registry = Arc::new(Registry::new(
            listener.local_addr(),
            router.routes.shutdown_hooks().to_vec(),
        ));
        let handle = ServerHandle {
            registry: Arc::clone(&registry),
            runtime: Arc::clone(&self.runtime),
        };
        let server = self.clone();
        self.runtime.spawn(Box::pin(async move {
            server.accept_loop(listener, router, registry).await;
        }));
        handle
    }

    async fn accept_loop<L: Listener>(
        self,
        mut listener: L,
        router: Router,
        registry: Arc<Registry>,
    ) {
        loop {
            let accepted = {
                let mut accept = pin!(listener.accept());
                std::future::poll_fn(|cx| {
                    if registry.stop_accepting.poll(cx).is_ready() {
                        return Poll::Ready(None);
                    }
                    accept.as_mut().poll(cx).map(Some)
                })
                .await
            };
            match accepted {
                None => break,
                Some(Ok((io, peer))) => {
                    tracing::debug!(?peer, "accepted a connection");
                    self.spawn_connection(Box::new(io), peer, router.clone(), &registry);
                }
                Some(Err(error)) => {
                    // Out of file descriptors, say: back off a little.
                    tracing::warn!(%error, "accept failed");
                    let at = self.runtime.now() + Duration::from_millis(50);
                    sleep_until(&*self.runtime, at).await;
                }
            }
        }
        tracing::debug!("stopped accepting connections");
        registry.accept_loop_done.fire(crate::Status::ok());
    }

    fn spawn_connection(
        &self,
        io: BoxIo,
        peer: Option<SocketAddr>,
        router: Router,
        registry: &Arc<Registry>,
    ) {
        let engine = ServerConnection::with_io(io, Arc::clone(&self.config), self.runtime.now());
        let conn = Arc::new(ServerConn::new(engine));
        registry.insert(Arc::clone(&conn));
        let driver = ServerDriver {
            registry: Arc::clone(registry),
            router,
            peer,
        };
        let driver = Driver::new(conn, Arc::clone(&self.runtime), driver);
        self.runtime.spawn(Box::pin(driver));
    }

    /// Serves one already-established connection (a custom transport, a
    /// test pipe) with `router`, under a handle of its own.
    pub fn serve_connection<I: Io>(
        &self,
        io: I,
        peer: Option<SocketAddr>,
        router: Router,
    ) -> ServerHandle {
        let registry = Arc::new(Registry::new(None, router.routes.shutdown_hooks().to_vec()));
        registry.stop_accepting.fire(crate::Status::ok());
        registry.accept_loop_done.fire(crate::Status::ok());
        self.spawn_connection(Box::new(io), peer, router, &registry);
        ServerHandle {
            registry,
            runtime: Arc::clone(&self.runtime),
        }
    }
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("runtime", &self.runtime)
            .field("config", &self.config)
            .finish()
    }
}

/// The live connections of a server and its shutdown state.
pub(crate) struct Registry {
    conns: Mutex<RegistryState>,
    stop_accepting: Signal,
    accept_loop_done: Signal,
    local_addr: Option<SocketAddr>,
    /// The router's [`Routes::on_shutdown`] hooks, taken by the first
    /// shutdown.
    shutdown_hooks: Mutex<Vec<router::ShutdownHook>>,
}

#[derive(Default)]
struct RegistryState {
    /// By address ([`ConnKey`]).
    conns: HashMap<ConnKey, Arc<ServerConn>>,
    /// Tasks waiting for a connection to end.
    waiters: Vec<Waker>,
}

/// A live connection's key in the registry: the address of its shared
/// state, unique while the registry holds it (so the driver needs no id).
type ConnKey = usize;

fn conn_key(conn: &Arc<ServerConn>) -> ConnKey {
    Arc::as_ptr(conn).addr()
}

impl Registry {
    fn new(local_addr: Option<SocketAddr>, shutdown_hooks: Vec<router::ShutdownHook>) -> Registry {
        Registry {
            conns: Mutex::default(),
            stop_accepting: Signal::default(),
            accept_loop_done: Signal::default(),
            local_addr,
            shutdown_hooks: Mutex::new(shutdown_hooks),
        }
    }

    fn lock(&self) -> MutexGuard<'_, RegistryState> {
        self.conns.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn insert(&self, conn: Arc<ServerConn>) {
        self.lock().conns.insert(conn_key(&conn), conn);
    }

    pub(crate) fn remove(&self, conn: &Arc<ServerConn>) {
        let waiters = {
            let mut state = self.lock();
            state.conns.remove(&conn_key(conn));
            std::mem::take(&mut state.waiters)
        };
        for waker in waiters {
            waker.wake();
        }
    }

    /// Runs the shutdown hooks, once.
    fn run_shutdown_hooks(&self) {
        let hooks = std::mem::take(
            &mut *self
                .shutdown_hooks
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        for hook in hooks {
            hook();
        }
    }

    /// Sends GOAWAY on every connection: in-flight calls go on.
    fn drain(&self) {
        for conn in self.live() {
            if let Some(engine) = conn.lock().engine.as_mut() {
                engine.close_gracefully();
            }
        }
    }

    /// Cancels every call (the handlers see `UNAVAILABLE`, the clients
    /// `CANCELLED`) and closes every connection.
    fn abort(&self) {
        let status = Status::unavailable("the server is shutting down");
        for conn in self.live() {
            let mut state = conn.lock();
            let state = &mut *state;
            for (_, slot) in state.calls.iter_mut() {
                slot.side.cancel(status.clone());
                slot.wake_all();
            }
            if let Some(engine) = state.engine.as_mut() {
                engine.close(ErrorCode::NO_ERROR);
            }
        }
    }

    fn live(&self) -> Vec<Arc<ServerConn>> {
        self.lock().conns.values().cloned().collect()
    }

    fn connections(&self) -> usize {
        self.lock().conns.len()
    }

    /// Ready when no connection is left.
    fn poll_empty(&self, waker: &Waker) -> Poll<()> {
        let mut state = self.lock();
        if state.conns.is_empty() {
            return Poll::Ready(());
        }
        if !state.waiters.iter().any(|w| w.will_wake(waker)) {
            state.waiters.push(waker.clone());
        }
        Poll::Pending
    }
}

/// Controls a running server: its address, its connections, and shutdown.
/// Dropping the handle leaves the server running.
#[derive(Clone)]
pub struct ServerHandle {
    registry: Arc<Registry>,
    runtime: Arc<dyn Runtime>,
}

impl ServerHandle {
    /// The address the listener is bound to, when it has one.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.registry.local_addr
    }

    /// How many connections are open.
    pub fn connections(&self) -> usize {
        self.registry.connections()
    }

    /// Graceful shutdown: runs the router's
    /// [`on_shutdown`](Router::on_shutdown) hooks (the health service turns
    /// `NOT_SERVING`), stops accepting, sends GOAWAY on every connection,
    /// lets in-flight calls finish for up to `grace`, then cancels what is
    /// left (the clients see `CANCELLED`: their streams are reset with
    /// CANCEL before the connection closes; the handlers see their call
    /// cancelled with `UNAVAILABLE`, and are dropped) and closes the
    /// connections. Resolves when every connection is closed.
    pub async fn shutdown(&self, grace: Duration) {
        self.registry.run_shutdown_hooks();
        self.registry.stop_accepting.fire(crate::Status::ok());
        self.registry.accept_loop_done.wait().await;
        self.registry.drain();
        let deadline = self.runtime.now() + grace;
        if !self.wait_empty_until(deadline).await {
            tracing::debug!(
                connections = self.connections(),
                "grace period over; cancelling the calls left"
            );
            self.abort().await;
        }
    }

    /// Stops accepting, cancels every call and closes every connection now.
    pub async fn abort(&self) {
        self.registry.run_shutdown_hooks();
        self.registry.stop_accepting.fire(crate::Status::ok());
        self.registry.accept_loop_done.wait().await;
        self.registry.abort();
        std::future::poll_fn(|cx| self.registry.poll_empty(cx.waker())).await;
    }

    /// Whether every connection closed before `deadline`.
    async fn wait_empty_until(&self, deadline: std::time::Instant) -> bool {
        let mut timer = pin!(sleep_until(&*self.runtime, deadline));
        std::future::poll_fn(|cx| {
            if self.registry.poll_empty(cx.waker()).is_ready() {
                return Poll::Ready(true);
            }
            timer.as_mut().poll(cx).map(|()| false)
        })
        .await
    }
}

impl fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerHandle")
            .field("local_addr", &self.registry.local_addr)
            .field("connections", &self.connections())
            .finish()
    }
}
