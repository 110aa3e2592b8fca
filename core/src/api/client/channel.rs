//! [`Channel`]: a lazily connected, self-healing connection to one server.

use std::fmt;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use crate::Status;
use crate::codec::compression::Encoding;
use crate::proto::{CallOptions, CallPath, ClientConfig, ClientConnection, StartCallError};

use super::super::conn::{CallSlot, Driver};
use super::super::runtime::{Connector, DynConnector, Runtime, sleep_until};
use super::call::{ClientCall, ClientConn, ClientOutcome};
use super::driver::ClientDriver;

/// The `host:port` part of a channel target: `http://host:port/` and
/// `host:port` both give `host:port`. Adapters connect to it and send it as
/// `:authority`.
pub fn authority_of(target: &str) -> &str {
    let rest = target
        .strip_prefix("http://")
        .or_else(|| target.strip_prefix("https://"))
        .unwrap_or(target);
    rest.split('/').next().unwrap_or(rest)
}

/// Settings of a [`Channel`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ChannelConfig {
    /// The engine configuration: limits (max message sizes), authority,
    /// user agent, accepted encodings, keepalive.
    pub client: ClientConfig,
    /// How long one connection attempt may take. Default 20 s (grpc's
    /// minimum connect timeout).
    pub connect_timeout: Duration,
    /// How long calls fail fast with `UNAVAILABLE` after the first failed
    /// connection attempt, before the next call tries again. Default 1 s.
    pub initial_backoff: Duration,
    /// Each further failed attempt multiplies the backoff by this. Default 1.6.
    pub backoff_multiplier: f64,
    /// The longest backoff. Default 120 s.
    pub max_backoff: Duration,
}

impl Default for ChannelConfig {
    fn default() -> ChannelConfig {
        ChannelConfig {
            client: ClientConfig::default(),
            connect_timeout: Duration::from_secs(20),
            initial_backoff: Duration::from_secs(1),
            backoff_multiplier: 1.6,
            max_backoff: Duration::from_secs(120),
        }
    }
}

/// A client's connection to one server, cheap to clone and share.
///
/// - **Lazy**: the first call connects; [`ready`](Self::ready) connects
///   ahead of time.
/// - **Multiplexed**: every call runs on the one HTTP/2 connection, up to the
///   server's concurrent-stream limit (the excess waits for a slot).
/// - **Self-healing**: when the connection is lost (the server went away or
///   sent GOAWAY), calls on it fail with `UNAVAILABLE` and the next call
///   connects again. A failed attempt makes calls fail fast with
///   `UNAVAILABLE` for a backoff period that grows (1 s, x1.6, up to 120 s
///   by default) until an attempt succeeds.
#[derive(Clone)]
pub struct Channel {
    shared: Arc<ChannelShared>,
}

pub(crate) struct ChannelShared {
    runtime: Arc<dyn Runtime>,
    connector: Arc<dyn DynConnector>,
    config: ChannelConfig,
    state: Mutex<ChannelState>,
    attempts: AtomicU64,
}

struct ChannelState {
    conn: ConnState,
    /// The backoff after the next failed attempt.
    backoff: Duration,
}

enum ConnState {
    Idle,
    Connecting { waiters: Vec<Waker> },
    Ready(Arc<ClientConn>),
    Failed { until: Instant, status: Status },
}

impl Channel {
    /// A channel that connects with `connector` on `runtime`. Nothing happens
    /// until the first call (or [`ready`](Self::ready)).
    pub fn new(runtime: impl Runtime, connector: impl Connector, config: ChannelConfig) -> Channel {
        Channel::with_runtime(Arc::new(runtime), connector, config)
    }

    /// [`new`](Self::new) with a shared runtime.
    pub fn with_runtime(
        runtime: Arc<dyn Runtime>,
        connector: impl Connector,
        config: ChannelConfig,
    ) -> Channel {
        let backoff = config.initial_backoff;
        Channel {
            shared: Arc::new(ChannelShared {
                runtime,
                connector: Arc::new(connector),
                config,
                state: Mutex::new(ChannelState {
                    conn: ConnState::Idle,
                    backoff,
                }),
                attempts: AtomicU64::new(0),
            }),
        }
    }

    /// Connects now if not connected; `UNAVAILABLE` if that fails.
    pub async fn ready(&self) -> Result<(), Status> {
        self.connection(None).await.map(|_| ())
    }

    /// Whether a connection is established and accepting calls.
    pub fn is_connected(&self) -> bool {
        match &self.shared.lock().conn {
            ConnState::Ready(conn) => conn.is_usable(),
            _ => false,
        }
    }

    /// How many connection attempts were made so far.
    pub fn connection_attempts(&self) -> u64 {
        self.shared.attempts.load(Ordering::Relaxed)
    }

    /// The channel's configuration.
    pub fn config(&self) -> &ChannelConfig {
        &self.shared.config
    }

    pub(crate) fn runtime(&self) -> &Arc<dyn Runtime> {
        &self.shared.runtime
    }

    /// A connection that accepts calls: the current one, or a new one.
    async fn connection(&self, deadline: Option<Instant>) -> Result<Arc<ClientConn>, Status> {
        let runtime = Arc::clone(&self.shared.runtime);
        let mut timer = deadline.map(|at| Box::pin(sleep_until(&*runtime, at)));
        std::future::poll_fn(|cx| {
            if let Some(timer) = timer.as_mut()
                && timer.as_mut().poll(cx).is_ready()
            {
                return Poll::Ready(Err(Status::deadline_exceeded(
                    "deadline exceeded while waiting for a connection",
                )));
            }
            self.shared.poll_connection(cx.waker())
        })
        .await
    }

    /// Starts a call at `path` with `options`, connecting first if needed.
    pub(crate) async fn start_call(
        &self,
        path: CallPath,
        options: CallOptions,
        deadline: Option<Instant>,
    ) -> Result<ClientCall, Status> {
        // A connection that closes between being handed out and the call
        // starting is replaced once; after that the failure is the answer.
        for _ in 0..2 {
            let conn = self.connection(deadline).await?;
            let now = self.shared.runtime.now();
            let mut state = conn.lock();
            let Some(engine) = state.engine.as_mut() else {
                drop(state);
                self.shared.connection_lost(&conn);
                continue;
            };
            match engine.start_call(now, &path, options.clone()) {
                Ok(id) => {
                    let encoding = engine.send_encoding(id).unwrap_or(Encoding::Identity);
                    state
                        .calls
                        .insert(id, CallSlot::new(ClientOutcome::default()));
                    drop(state);
                    return Ok(ClientCall::new(conn, id, encoding));
                }
                Err(StartCallError::ConnectionClosed) => {
                    drop(state);
                    self.shared.connection_lost(&conn);
                }
                Err(err) => return Err(Status::internal(err.to_string())),
            }
        }
        Err(Status::unavailable(
            "the connection closed before the call could start",
        ))
    }
}

impl ChannelShared {
    fn lock(&self) -> MutexGuard<'_, ChannelState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn poll_connection(self: &Arc<Self>, waker: &Waker) -> Poll<Result<Arc<ClientConn>, Status>> {
        let mut state = self.lock();
        loop {
            match &mut state.conn {
                ConnState::Ready(conn) => {
                    if conn.is_usable() {
                        return Poll::Ready(Ok(Arc::clone(conn)));
                    }
                    state.conn = ConnState::Idle;
                }
                ConnState::Idle => {
                    state.conn = ConnState::Connecting {
                        waiters: vec![waker.clone()],
                    };
                    self.spawn_attempt();
                    return Poll::Pending;
                }
                ConnState::Connecting { waiters } => {
                    if !waiters.iter().any(|w| w.will_wake(waker)) {
                        waiters.push(waker.clone());
                    }
                    return Poll::Pending;
                }
                ConnState::Failed { until, status } => {
                    if self.runtime.now() < *until {
                        return Poll::Ready(Err(status.clone()));
                    }
                    state.conn = ConnState::Idle;
                }
            }
        }
    }

    /// Spawns one connection attempt; on success the task becomes the
    /// connection's driver.
    fn spawn_attempt(self: &Arc<Self>) {
        self.attempts.fetch_add(1, Ordering::Relaxed);
        let weak = Arc::downgrade(self);
        let connector = Arc::clone(&self.connector);
        let runtime = Arc::clone(&self.runtime);
        let config = self.config.clone();
        self.runtime.spawn(Box::pin(async move {
            let deadline = runtime.now() + config.connect_timeout;
            let attempt = {
                let mut connect = pin!(connector.connect_boxed());
                let mut timer = pin!(sleep_until(&*runtime, deadline));
                std::future::poll_fn(|cx| {
                    if let Poll::Ready(result) = connect.as_mut().poll(cx) {
                        return Poll::Ready(result.map_err(|e| e.to_string()));
                    }
                    timer
                        .as_mut()
                        .poll(cx)
                        .map(|()| Err("connection attempt timed out".to_owned()))
                })
                .await
            };
            let Some(channel) = weak.upgrade() else {
                return;
            };
            match attempt {
                Ok(io) => {
                    tracing::debug!("connected");
                    // The HTTP/2 handshake has what is left of the connect
                    // timeout: a server that accepts but never speaks
                    // HTTP/2 fails the calls with UNAVAILABLE.
                    let now = runtime.now();
                    let mut client = config.client;
                    client.handshake_timeout = Some(deadline.saturating_duration_since(now));
                    let engine = ClientConnection::with_io(io, client, now);
                    let conn = Arc::new(ClientConn::new(engine));
                    channel.connected(Arc::clone(&conn));
                    drop(channel);
                    let driver = ClientDriver {
                        channel: weak,
                        goaway: false,
                    };
                    Driver::new(conn, runtime, driver).await;
                }
                Err(error) => {
                    tracing::debug!(%error, "connection attempt failed");
                    channel.failed(&error);
                }
            }
        }));
    }

    fn connected(&self, conn: Arc<ClientConn>) {
        let mut state = self.lock();
        state.backoff = self.config.initial_backoff;
        let previous = std::mem::replace(&mut state.conn, ConnState::Ready(conn));
        drop(state);
        if let ConnState::Connecting { waiters } = previous {
            waiters.into_iter().for_each(Waker::wake);
        }
    }

    fn failed(&self, error: &str) {
        let mut state = self.lock();
        let backoff = state.backoff;
        let next = backoff.mul_f64(self.config.backoff_multiplier.max(1.0));
        state.backoff = next.min(self.config.max_backoff);
        let status = Status::unavailable(format!("failed to connect: {error}"));
        let previous = std::mem::replace(
            &mut state.conn,
            ConnState::Failed {
                until: self.runtime.now() + backoff,
                status,
            },
        );
        drop(state);
        if let ConnState::Connecting { waiters } = previous {
            waiters.into_iter().for_each(Waker::wake);
        }
    }

    /// `conn` stopped accepting calls: the next call connects again.
    pub(crate) fn connection_lost(&self, conn: &Arc<ClientConn>) {
        let mut state = self.lock();
        if let ConnState::Ready(current) = &state.conn
            && Arc::ptr_eq(current, conn)
        {
            state.conn = ConnState::Idle;
        }
    }
}

impl Drop for ChannelShared {
    fn drop(&mut self) {
        // Let the driver notice that nobody can start calls any more.
        let state = self.state.get_mut().unwrap_or_else(PoisonError::into_inner);
        if let ConnState::Ready(conn) = &state.conn {
            let mut conn = conn.lock();
            conn.owner_gone = true;
            conn.close_if_idle();
        }
    }
}

impl fmt::Debug for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.shared.lock().conn {
            ConnState::Idle => "idle",
            ConnState::Connecting { .. } => "connecting",
            ConnState::Ready(_) => "ready",
            ConnState::Failed { .. } => "transient failure",
        };
        f.debug_struct("Channel")
            .field("state", &state)
            .field("attempts", &self.connection_attempts())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::authority_of;

    #[test]
    fn authority_strips_scheme_and_path() {
        for (target, want) in [
            ("127.0.0.1:50051", "127.0.0.1:50051"),
            ("http://localhost:80", "localhost:80"),
            ("http://localhost:80/", "localhost:80"),
            ("https://[::1]:443/x", "[::1]:443"),
            ("", ""),
        ] {
            assert_eq!(authority_of(target), want, "{target}");
        }
    }
}
