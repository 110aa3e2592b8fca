//! The server side: [`ServerConnection`], by concern: this module has the
//! connection (construction, input and output, events, timers, getters,
//! shutdown); `call` a call's state, the per-call commands and how the
//! engine moves a call forward; `drive` the drive loop over h2.

mod call;
mod drive;

use std::collections::VecDeque;
use std::sync::Arc;
use std::task::Waker;
use std::time::Instant;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::proto::call_id::CallSlab;
use crate::proto::config::ServerConfig;
use crate::proto::driver::{IdleTrim, Plumbing, server_builder};
use crate::proto::error::{ConnectionError, ErrorCode};
use crate::proto::event::ServerEvent;
use crate::proto::headers::RequestRules;
use crate::proto::keepalive::{
    ConnectionLifetime, KeepaliveAction, KeepaliveState, LifetimeAction, PingPolicyState,
};
use crate::proto::tap::{Tap, TapHandle, TapState};
use crate::proto::transport::MemoryTransport;

use call::ServerCall;

/// The h2 side of the connection.
enum H2Server<T> {
    Handshaking(h2::server::Handshake<Tap<T>, Bytes>),
    Open(h2::server::Connection<Tap<T>, Bytes>),
    Closed,
}

/// Connection lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Open,
    /// Graceful shutdown started: in-flight calls finish, new ones are refused.
    Draining,
    Closed,
}

/// A gRPC server connection: HTTP/2 streams in, gRPC calls out. Sans-IO.
///
/// # Driving it
/// Created with [`new`](Self::new) (in-memory transport: the caller moves
/// bytes) or [`with_io`](Self::with_io) (h2 reads and writes an IO object
/// directly). Then, in a loop, in this order:
///
/// 1. **Input**: [`handle_input`](Self::handle_input) with bytes read from the
///    socket (while [`wants_input`](Self::wants_input)), or
///    [`handle_eof`](Self::handle_eof) when the peer closed; with `with_io`,
///    [`drive_io`](ServerConnection::drive_io) when the IO is ready.
///    [`handle_timeout`](Self::handle_timeout) when the instant from
///    [`poll_timeout`](Self::poll_timeout) has passed (calling it early is
///    harmless).
/// 2. **Events**: [`poll_event`](Self::poll_event) until `None`; react with the
///    commands below.
/// 3. **Output**: [`poll_transmit`](Self::poll_transmit) until it returns 0,
///    writing what it gives to the socket.
/// 4. **Timer**: sleep until [`poll_timeout`](Self::poll_timeout) or more input.
///
/// Time is an argument: every `now` must be from the same clock, and time only
/// moves forward (an earlier `now` is treated as the latest one seen).
///
/// # Commands
/// Per call ([`CallId`](crate::proto::CallId) from [`ServerEvent::NewCall`]):
/// [`recv_message`](Self::recv_message) after `Readable`;
/// [`send_headers`](Self::send_headers) (optional: the first message sends
/// empty headers), [`send_message`](Self::send_message) /
/// [`send_message_with`](Self::send_message_with) (answer `NotReady` until
/// `Writable`), then [`finish`](Self::finish) with the status and trailing
/// metadata — a Trailers-Only response when nothing was sent before — or
/// [`cancel`](Self::cancel). Per connection:
/// [`close_gracefully`](Self::close_gracefully) (GOAWAY, then in-flight calls
/// finish) and [`close`](Self::close).
///
/// # Errors
/// A connection error is sticky: it is reported once as
/// [`ServerEvent::Closed`] and stays available from [`error`](Self::error);
/// the GOAWAY the engine wrote can still be drained with `poll_transmit`.
pub struct ServerConnection<T = MemoryTransport> {
    h2: H2Server<T>,
    core: ServerCore,
}

struct ServerCore {
    /// Shared with the server's other connections (see `with_io`).
    config: Arc<ServerConfig>,
    rules: RequestRules,
    plumbing: Plumbing,
    calls: CallSlab<ServerCall>,
    events: VecDeque<ServerEvent>,
    phase: Phase,
    graceful_requested: bool,
    abrupt_requested: Option<ErrorCode>,
    /// Boxed: set once, when the connection fails.
    error: Option<Box<ConnectionError>>,
    /// h2 ended; calls are swept (after servicing what arrived) at the end of
    /// the drive round. `Some(None)`: a clean end.
    pending_close: Option<Option<Box<ConnectionError>>>,
    closed_reported: bool,
    tap: TapHandle,
    /// Keepalive and the ping policy read their configuration from `config`.
    keepalive: KeepaliveState,
    ping_policy: PingPolicyState,
    /// `None` unless the configuration limits the connection's idle time or
    /// age (the default does not): most connections never need it.
    lifetime: Option<Box<ConnectionLifetime>>,
    /// Taken from h2 when keepalive sends its first PING: h2 allocates it on
    /// request, and most connections never ping.
    ping_pong: Option<h2::PingPong>,
    /// The highest stream id of a request received (for our own GOAWAY).
    last_stream_id: u32,
    /// The client pinged too often: end the connection with our GOAWAY.
    abuse: bool,
    /// When an idle connection gives back its calls' memory.
    idle_trim: IdleTrim,
    /// That memory was given back since the owner last asked.
    memory_released: bool,
}

impl ServerConnection<MemoryTransport> {
    /// A server connection on the in-memory transport: feed it bytes with
    /// [`handle_input`](Self::handle_input), take bytes with
    /// [`poll_transmit`](Self::poll_transmit). `config` may be shared (an
    /// `Arc`), as in [`with_io`](Self::with_io).
    pub fn new(
        config: impl Into<Arc<ServerConfig>>,
        now: Instant,
    ) -> ServerConnection<MemoryTransport> {
        let config = config.into();
        let memory = MemoryTransport::new(config.limits.max_outbound_buffer);
        ServerConnection::build(memory.clone(), Some(memory), config, now)
    }

    /// Feeds bytes received from the client.
    pub fn handle_input(&mut self, now: Instant, data: &[u8]) {
        self.core.plumbing.advance(now);
        if data.is_empty() || self.core.phase == Phase::Closed {
            return;
        }
        if let Some(memory) = &self.core.plumbing.memory {
            memory.push_inbound(data);
        }
        self.core.plumbing.poll_needed = true;
        self.drive();
    }

    /// The client closed its side of the transport (read returned 0).
    pub fn handle_eof(&mut self, now: Instant) {
        self.core.plumbing.advance(now);
        self.core.plumbing.peer_eof = true;
        if let Some(memory) = &self.core.plumbing.memory {
            memory.close_inbound();
        }
        self.core.plumbing.poll_needed = true;
        self.drive();
    }

    /// Whether the engine has room for more input: false while more than
    /// `max_inbound_buffer` bytes wait to be processed (h2 stops reading when
    /// it cannot write, that is, when the client does not read).
    pub fn wants_input(&self) -> bool {
        self.core.phase != Phase::Closed
            && self
                .core
                .plumbing
                .memory
                .as_ref()
                .is_some_and(|m| m.inbound_len() < self.core.config.limits.max_inbound_buffer)
    }

    /// Writes bytes to send to the client into `buf`; returns how many (0 when
    /// there is nothing to send).
    #[must_use = "the bytes written to buf must be sent"]
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> usize {
        self.core.plumbing.advance(now);
        if self.core.plumbing.needs_drive() {
            self.drive();
        }
        let Some(memory) = self.core.plumbing.memory.clone() else {
            return 0;
        };
        let mut written = 0;
        let mut drives = 0;
        while let Some(rest) = buf.get_mut(written..) {
            if rest.is_empty() {
                break;
            }
            let (n, unblocked) = memory.take_outbound(rest);
            written += n;
            if (unblocked || (n == 0 && self.core.plumbing.needs_drive())) && drives < 8 {
                drives += 1;
                self.core.plumbing.poll_needed |= unblocked;
                self.drive();
            } else if n == 0 {
                break;
            }
        }
        written
    }

    /// Whether the connection is over and every byte to send was taken: the
    /// caller can close the transport.
    pub fn is_drained(&self) -> bool {
        self.core.phase == Phase::Closed
            && self
                .core
                .plumbing
                .memory
                .as_ref()
                .is_none_or(MemoryTransport::is_outbound_empty)
    }

    /// Takes all bytes to send to the client as one buffer, without copying;
    /// `None` when there is nothing to send.
    pub fn poll_transmit_bytes(&mut self, now: Instant) -> Option<Bytes> {
        self.core.plumbing.advance(now);
        if self.core.plumbing.needs_drive() {
            self.drive();
        }
        let memory = self.core.plumbing.memory.clone()?;
        let (out, unblocked) = memory.take_outbound_bytes();
        if unblocked {
            self.core.plumbing.poll_needed = true;
            self.drive();
        }
        (!out.is_empty()).then_some(out)
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> ServerConnection<T> {
    /// A server connection that has h2 read and write `io` itself (no copy
    /// through the engine). Drive it with [`drive_io`](Self::drive_io) whenever
    /// the task owning it is woken.
    ///
    /// `config` may be a `ServerConfig` or an `Arc` of one: a server making
    /// many connections shares one configuration among them instead of a
    /// copy in each.
    pub fn with_io(
        io: T,
        config: impl Into<Arc<ServerConfig>>,
        now: Instant,
    ) -> ServerConnection<T> {
        ServerConnection::build(io, None, config.into(), now)
    }

    fn build(
        io: T,
        memory: Option<MemoryTransport>,
        mut config: Arc<ServerConfig>,
        now: Instant,
    ) -> ServerConnection<T> {
        let limits = config.limits.sanitized();
        if limits != config.limits {
            // A copy of its own only for a configuration out of range.
            Arc::make_mut(&mut config).limits = limits;
        }
        let tap = TapHandle::new(TapState::new(false, config.limits.max_frame_size));
        let handshake = server_builder(&config.limits).handshake(Tap::new(io, tap.clone(), false));
        let rules = RequestRules {
            require_te_trailers: config.require_te_trailers,
            accept_encodings: config.accept_encodings,
        };
        let keepalive = KeepaliveState::new(now);
        let ping_policy = PingPolicyState::default();
        let limited = config.lifetime.max_connection_idle.is_some()
            || config.lifetime.max_connection_age.is_some();
        let lifetime = limited.then(|| Box::new(ConnectionLifetime::new(config.lifetime, now)));
        let mut conn = ServerConnection {
            h2: H2Server::Handshaking(handshake),
            core: ServerCore {
                config,
                rules,
                plumbing: Plumbing::new(memory, now, &tap),
                calls: CallSlab::default(),
                events: VecDeque::new(),
                phase: Phase::Open,
                graceful_requested: false,
                abrupt_requested: None,
                error: None,
                pending_close: None,
                closed_reported: false,
                tap,
                keepalive,
                ping_policy,
                lifetime,
                ping_pong: None,
                last_stream_id: 0,
                abuse: false,
                // Nothing to give back before the first call.
                idle_trim: IdleTrim::Done,
                memory_released: false,
            },
        };
        // Writes our SETTINGS right away.
        conn.drive();
        conn
    }

    /// Drives h2 over the IO given to [`with_io`](Self::with_io): reads what
    /// is readable, writes what is pending. `waker` is woken when the IO
    /// becomes ready or the engine has more work; call this again then.
    pub fn drive_io(&mut self, now: Instant, waker: &Waker) {
        self.core.plumbing.advance(now);
        self.core.plumbing.conn_waker.set_outer(Some(waker));
        self.core.plumbing.poll_needed = true;
        self.drive();
    }

    // ----- events and timers -------------------------------------------------

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<ServerEvent> {
        if self.core.plumbing.needs_drive() {
            self.drive();
        }
        if let Some(event) = self.core.events.pop_front() {
            return Some(event);
        }
        if self.core.phase == Phase::Closed && !self.core.closed_reported {
            self.core.closed_reported = true;
            return Some(ServerEvent::Closed {
                error: self.core.error.as_deref().cloned(),
            });
        }
        None
    }

    /// The next instant at which [`handle_timeout`](Self::handle_timeout)
    /// must be called, if any.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.core.plumbing.needs_drive() {
            return Some(self.core.plumbing.now);
        }
        if self.core.phase == Phase::Closed {
            return None;
        }
        [
            self.core.plumbing.deadlines.peek(),
            self.core
                .keepalive
                .poll_timeout(&self.core.config.keepalive),
            self.core
                .lifetime
                .as_ref()
                .and_then(|lifetime| lifetime.poll_timeout()),
            self.core.idle_trim.deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Handles timers due at `now`: call deadlines, keepalive pings, the
    /// connection's idle and age limits.
    pub fn handle_timeout(&mut self, now: Instant) {
        let now = self.core.plumbing.advance(now);
        while let Some((at, id)) = self.core.plumbing.deadlines.pop_due(now) {
            self.core.deadline_passed(id, at);
        }
        if self.core.phase != Phase::Closed {
            match self
                .core
                .keepalive
                .handle_timeout(&self.core.config.keepalive, now)
            {
                KeepaliveAction::SendPing => {
                    if self.core.ping_pong.is_none()
                        && let H2Server::Open(conn) = &mut self.h2
                    {
                        self.core.ping_pong = conn.ping_pong();
                    }
                    if let Some(ping_pong) = self.core.ping_pong.as_mut() {
                        // h2 allows one ping in flight; the timer's timeout
                        // still applies to the one already sent.
                        let _ = ping_pong.send_ping(h2::Ping::opaque());
                    }
                }
                KeepaliveAction::CloseConnection(_) => {
                    self.core.error = Some(Box::new(ConnectionError::KeepaliveTimeout));
                    self.core.abrupt_requested = Some(ErrorCode::NO_ERROR);
                }
                _ => {}
            }
            let lifetime = self.core.lifetime.as_mut();
            match lifetime.map_or(LifetimeAction::None, |l| l.handle_timeout(now)) {
                LifetimeAction::GoAway(_) => self.close_gracefully(),
                LifetimeAction::CloseConnection(_) => {
                    self.core.error = Some(Box::new(ConnectionError::LocallyClosed));
                    self.core.abrupt_requested = Some(ErrorCode::NO_ERROR);
                }
                _ => {}
            }
        }
        let calls = &self.core.calls;
        self.core
            .plumbing
            .deadlines
            .prune(|id| calls.get(id).is_some());
        if self.core.idle_trim.take_due(now) {
            self.core.release_idle_memory();
        }
        self.core.plumbing.poll_needed = true;
        self.drive();
    }

    // ----- getters -----------------------------------------------------------

    /// Whether the engine gave back its calls' memory (see `IdleTrim`) since
    /// the last time this was asked: the moment for the owner to give back
    /// the room of its own per-call tables.
    pub(crate) fn take_memory_released(&mut self) -> bool {
        std::mem::take(&mut self.core.memory_released)
    }

    /// How many call slots the connection holds room for (open or kept).
    #[cfg(test)]
    pub(crate) fn call_room(&self) -> usize {
        self.core.calls.capacity()
    }

    /// The connection error, once the connection failed.
    pub fn error(&self) -> Option<&ConnectionError> {
        self.core.error.as_deref()
    }

    /// Whether the connection is over (the `Closed` event may still be pending).
    pub fn is_closed(&self) -> bool {
        self.core.phase == Phase::Closed
    }

    /// Whether a graceful shutdown is in progress.
    pub fn is_draining(&self) -> bool {
        self.core.phase == Phase::Draining
    }

    /// How many calls are open (including calls the application finished whose
    /// last bytes are not yet handed to h2).
    pub fn open_calls(&self) -> usize {
        self.core.calls.len()
    }

    /// Bytes the engine holds for calls: received messages not yet taken,
    /// partial messages, and queued messages not yet handed to h2. Bounded by
    /// the limits (see [`Limits`](super::Limits)); a fuzzer asserts it.
    pub fn buffered_bytes(&self) -> usize {
        self.core.calls.values().fold(0usize, |sum, call| {
            sum.saturating_add(call.inbound.buffered())
                .saturating_add(call.outbound.buffered())
        })
    }

    /// The configuration in force (limits sanitized).
    pub fn config(&self) -> &ServerConfig {
        &self.core.config
    }

    /// Starts a graceful shutdown: GOAWAY to the client, in-flight calls go on,
    /// new ones are refused (the client sees `UNAVAILABLE` and may retry
    /// elsewhere); the connection closes when the last call ends.
    pub fn close_gracefully(&mut self) {
        if self.core.phase == Phase::Open {
            self.core.graceful_requested = true;
            self.core.phase = Phase::Draining;
            self.core.plumbing.request_poll();
        }
    }

    /// Closes the connection now: GOAWAY with `code`; open calls end with
    /// `UNAVAILABLE` (reported as `Cancelled`).
    pub fn close(&mut self, code: ErrorCode) {
        if self.core.phase != Phase::Closed {
            self.core.abrupt_requested = Some(code);
            self.core.plumbing.request_poll();
        }
    }

    /// Test only: services every call, as if each had been woken, and
    /// reports whether that changed anything (an event, bytes to send) — which
    /// would mean a wake from h2 was missed and a call sat idle.
    #[cfg(test)]
    pub(crate) fn audit_missed_wakes(&mut self) -> bool {
        let events = self.core.events.len();
        let outbound = self
            .core
            .plumbing
            .memory
            .as_ref()
            .map_or(0, |m| m.outbound_len());
        for id in self.core.calls.ids() {
            self.core.service(id);
        }
        let outbound_after = self
            .core
            .plumbing
            .memory
            .as_ref()
            .map_or(0, |m| m.outbound_len());
        self.core.events.len() != events || outbound_after != outbound
    }
}

impl<T> std::fmt::Debug for ServerConnection<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConnection")
            .field("phase", &self.core.phase)
            .field("calls", &self.core.calls.len())
            .field("error", &self.core.error)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every connection holds this inline (inside the api's shared state)
    /// for as long as it lives, idle or not: it must not grow unnoticed.
    /// Most of it is h2's connection (1,312 bytes on 64-bit targets).
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn the_inline_connection_state_stays_small() {
        let core = std::mem::size_of::<ServerCore>();
        let whole = std::mem::size_of::<ServerConnection<Box<dyn crate::api::Io>>>();
        assert!(core <= 360, "ServerCore is {core} bytes");
        assert!(whole <= 1672, "ServerConnection is {whole} bytes");
        // Keepalive and the ping policy keep their state only: the
        // configuration is the server's shared one.
        assert!(std::mem::size_of::<KeepaliveState>() <= 40);
        assert!(std::mem::size_of::<PingPolicyState>() <= 24);
    }

    #[test]
    fn limits_on_lifetime_are_kept_only_when_configured() {
        let now = Instant::now();
        let plain = ServerConnection::new(ServerConfig::default(), now);
        assert!(plain.core.lifetime.is_none());
        assert!(
            plain.core.ping_pong.is_none(),
            "taken at the first keepalive PING"
        );
        let mut config = ServerConfig::default();
        config.lifetime.max_connection_age = Some(std::time::Duration::from_secs(5));
        let limited = ServerConnection::new(config, now);
        assert!(limited.core.lifetime.is_some());
        assert!(limited.poll_timeout().is_some());
    }
}
