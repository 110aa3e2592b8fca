//! [`Connection`]: one gRPC connection over h2, written once for both ends.
//! This module has the shell (construction, bytes in and out, events,
//! timers, getters, shutdown); `call` a call's state and the call commands
//! both ends share; `drive` the drive loop; `lifecycle` where the
//! connection stands. What only one end does is in `proto::server` and
//! `proto::client`.

mod call;
mod drive;
mod lifecycle;

use super::event::common::EndEvent;
use std::collections::VecDeque;
use std::sync::Arc;
use std::task::Waker;
use std::time::Instant;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite};

use super::call_id::{CallId, CallSlab};
use super::config::common::EndConfig;
use super::error::{ConnectionError, ErrorCode};
use super::keepalive::{KeepaliveAction, KeepaliveState};
use super::shared::{DriveState, IdleTrim};
use super::side::Side;
use super::tap::{Tap, TapHandle, TapState};
use super::transport::MemoryTransport;

pub use call::CallState;
pub(crate) use call::{CallEnd, Pulled};
pub(crate) use lifecycle::{Abort, Lifecycle};

/// A gRPC connection: calls in and out over one HTTP/2 connection. Sans-IO:
/// it never opens a socket, spawns a task or reads a clock.
///
/// One type for both ends: [`ServerConnection`](super::ServerConnection)
/// is `Connection<ServerSide>`, [`ClientConnection`](super::ClientConnection)
/// is `Connection<ClientSide>`. Everything documented here applies to both;
/// each end adds its own commands (the server answers calls, the client
/// starts them).
///
/// # Driving it
/// Created with [`new`](Self::new) (the engine keeps the bytes: the caller
/// moves them) or [`with_io`](Self::with_io) (h2 reads and writes an IO
/// object directly). Then, in a loop:
///
/// 1. **Input**: [`handle_input`](Self::handle_input) with bytes read from
///    the socket while [`wants_input`](Self::wants_input), and
///    [`handle_eof`](Self::handle_eof) when the peer closed; with `with_io`,
///    [`drive_io`](Self::drive_io) when the task owning it is woken.
///    [`handle_timeout`](Self::handle_timeout) when the instant from
///    [`poll_timeout`](Self::poll_timeout) has come (an early call is
///    harmless). Each of these processes what it brings at once.
/// 2. **Events**: [`poll_event`](Self::poll_event) until `None`; react with
///    commands. Commands queue work and do no IO.
/// 3. **Output**: [`poll_transmit`](Self::poll_transmit) until it returns 0,
///    writing what it gives to the socket. It first processes the queued
///    commands (which may add events: poll them again).
/// 4. **Wait** for input or [`poll_timeout`](Self::poll_timeout). It is the
///    latest `now` while commands wait to be processed (and `drive_io`, over
///    an IO object, wakes the waker it was given when a command is queued):
///    a loop that sleeps until it never sleeps on queued work.
///
/// Time is an argument: every `now` must be from the same clock; time only
/// moves forward (an earlier `now` counts as the latest one seen).
///
/// # Calls
/// Both ends: [`send_message`](Self::send_message) (answers
/// [`SendError::NotReady`](super::SendError::NotReady) until the call's
/// `Writable` event when the peer reads slowly),
/// [`send_framed`](Self::send_framed) for a message framed outside the
/// engine, [`recv_message`](Self::recv_message) after `Readable` (or
/// [`recv_raw`](Self::recv_raw) to decompress outside), and
/// [`cancel`](Self::cancel). A call's id stays valid until the application
/// releases the call: on the server by `finish` or `cancel`, on the client
/// by reading the end of the response (`recv_message` answering `Ok(None)`
/// or an error) or `cancel`. After that, commands answer that the call is
/// closed.
///
/// # Errors
/// A connection error is sticky: it is reported once with the `Closed`
/// event and stays available from [`error`](Self::error); what the engine
/// must still send (a GOAWAY) can be drained with `poll_transmit`.
pub struct Connection<S: Side, T = MemoryTransport> {
    pub(crate) h2: S::H2<T>,
    pub(crate) core: Core<S>,
}

/// What a connection holds apart from h2: all of it independent of the IO
/// type (h2's habit: generic code small).
pub struct Core<S: Side> {
    /// Shared with the other connections of a server or channel.
    pub(crate) config: Arc<S::Config>,
    pub(crate) drive: DriveState,
    pub(crate) calls: CallSlab<CallState<S::Call>>,
    pub(crate) events: VecDeque<S::Event>,
    pub(crate) lifecycle: Lifecycle,
    pub(crate) tap: TapHandle,
    /// Reads its configuration from `config` (the server always pings, the
    /// client when configured).
    pub(crate) keepalive: KeepaliveState,
    /// Taken from h2 when keepalive sends its first PING: h2 allocates it
    /// on request, and most connections never ping.
    pub(crate) ping_pong: Option<h2::PingPong>,
    /// When the peer must have completed the HTTP/2 handshake (sent its
    /// SETTINGS) by; `None` once it has.
    pub(crate) handshake_deadline: Option<Instant>,
    /// When an idle connection gives back its calls' memory.
    pub(crate) idle_trim: IdleTrim,
    /// That memory was given back since the owner last asked.
    pub(crate) memory_released: bool,
    pub(crate) side: S::State,
}

impl<S: Side> Connection<S, MemoryTransport> {
    /// A connection whose bytes the caller moves:
    /// [`handle_input`](Self::handle_input) in,
    /// [`poll_transmit`](Self::poll_transmit) out. `config` may be shared
    /// (an `Arc`), as in [`with_io`](Self::with_io).
    pub fn new(config: impl Into<Arc<S::Config>>, now: Instant) -> Self {
        let config = sanitized::<S>(config.into());
        let memory = MemoryTransport::new(config.limits().max_outbound_buffer);
        Connection::build(memory.clone(), Some(memory), config, now)
    }

    fn memory(&self) -> Option<&MemoryTransport> {
        self.core.drive.memory.as_ref()
    }

    /// Feeds bytes received from the peer.
    pub fn handle_input(&mut self, now: Instant, data: &[u8]) {
        self.core.drive.advance(now);
        if data.is_empty() || self.core.lifecycle.is_closed() {
            return;
        }
        if let Some(memory) = self.memory() {
            // Wakes h2's read, as a socket would.
            memory.push_inbound(data);
        }
        self.drive();
    }

    /// The peer closed its side of the transport (a read returned 0).
    pub fn handle_eof(&mut self, now: Instant) {
        self.core.drive.advance(now);
        if let Some(memory) = self.memory() {
            // h2 reads the end of stream, as from a socket.
            memory.close_inbound();
        }
        self.drive();
    }

    /// Whether the engine has room for more input: false while more than
    /// `max_inbound_buffer` bytes wait to be processed (h2 stops reading
    /// when it cannot write, that is, when the peer does not read).
    pub fn wants_input(&self) -> bool {
        !self.core.lifecycle.is_closed()
            && self
                .memory()
                .is_some_and(|m| m.inbound_len() < self.core.config.limits().max_inbound_buffer)
    }

    /// Writes bytes to send to the peer into `buf`; returns how many (0 when
    /// there is nothing to send). Processes queued commands first.
    #[must_use = "the bytes written to buf must be sent"]
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> usize {
        self.core.drive.advance(now);
        let Some(memory) = self.core.drive.memory.clone() else {
            return 0;
        };
        let mut written = 0;
        // Each drive can free room for more output (h2 blocked on a full
        // buffer); a few are enough to fill `buf` in practice, and what is
        // left is picked up by the next call.
        for _ in 0..8 {
            if self.core.drive.needs_drive() {
                self.drive();
            }
            let Some(rest) = buf.get_mut(written..).filter(|rest| !rest.is_empty()) else {
                break;
            };
            let n = memory.take_outbound(rest);
            written += n;
            if n == 0 && !self.core.drive.needs_drive() {
                break;
            }
        }
        written
    }

    /// Takes all bytes to send as one buffer, without copying; `None` when
    /// there is nothing to send. Processes queued commands first.
    pub fn poll_transmit_bytes(&mut self, now: Instant) -> Option<Bytes> {
        self.core.drive.advance(now);
        if self.core.drive.needs_drive() {
            self.drive();
        }
        let memory = self.core.drive.memory.clone()?;
        let out = memory.take_outbound_bytes();
        if self.core.drive.needs_drive() {
            // Taking the bytes made room h2 was waiting for.
            self.drive();
        }
        (!out.is_empty()).then_some(out)
    }

    /// Whether the connection is over and every byte to send was taken: the
    /// caller can close the transport.
    pub fn is_drained(&self) -> bool {
        self.core.lifecycle.is_closed()
            && self.memory().is_none_or(MemoryTransport::is_outbound_empty)
    }
}

impl<S: Side, T: AsyncRead + AsyncWrite + Unpin> Connection<S, T> {
    /// A connection that has h2 read and write `io` itself (no copy through
    /// the engine). Drive it with [`drive_io`](Self::drive_io) whenever the
    /// task owning it is woken.
    ///
    /// `config` may be a configuration or an `Arc` of one: a server making
    /// many connections shares one configuration among them.
    pub fn with_io(io: T, config: impl Into<Arc<S::Config>>, now: Instant) -> Self {
        Connection::build(io, None, sanitized::<S>(config.into()), now)
    }

    fn build(io: T, memory: Option<MemoryTransport>, config: Arc<S::Config>, now: Instant) -> Self {
        let tap = TapHandle::new(TapState::new(S::CLIENT));
        let handshake_deadline = config.handshake_timeout().and_then(|t| now.checked_add(t));
        let side = S::new_state(&config, now);
        let mut core = Core {
            drive: DriveState::new(memory, now, &tap),
            config,
            calls: CallSlab::default(),
            events: VecDeque::new(),
            lifecycle: Lifecycle::new(),
            tap: tap.clone(),
            keepalive: KeepaliveState::new(now),
            ping_pong: None,
            handshake_deadline,
            // Nothing to give back before the first call.
            idle_trim: IdleTrim::Done,
            memory_released: false,
            side,
        };
        let h2 = S::start_h2(Tap::new(io, tap, S::CLIENT), &mut core);
        let mut conn = Connection { h2, core };
        // Our preface and SETTINGS go out at once.
        conn.drive();
        conn
    }

    /// Drives h2 over the IO given to [`with_io`](Self::with_io): reads what
    /// is readable, writes what is pending, processes queued commands.
    /// `waker` is woken when the IO becomes ready or a command is queued;
    /// call this again then.
    pub fn drive_io(&mut self, now: Instant, waker: &Waker) {
        self.core.drive.advance(now);
        self.core.drive.conn_waker.set_outer(Some(waker));
        self.drive();
    }

    // ----- events and timers -------------------------------------------------

    /// The next event, if any. Takes it from a queue: events come out of the
    /// `handle_*`, `drive_io` and `poll_transmit` calls.
    pub fn poll_event(&mut self) -> Option<S::Event> {
        if let Some(event) = self.core.events.pop_front() {
            return Some(event);
        }
        self.core
            .lifecycle
            .take_closed_report()
            .map(S::Event::closed)
    }

    /// The next instant at which [`handle_timeout`](Self::handle_timeout)
    /// must be called, if any: the earliest call deadline, keepalive, the
    /// handshake timeout, the server's lifetime limits, the idle-memory
    /// trim. The latest `now` while queued commands wait to be processed.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let core = &self.core;
        if core.drive.needs_drive() {
            return Some(core.drive.now);
        }
        if core.lifecycle.is_closed() {
            return None;
        }
        let keepalive = core
            .config
            .keepalive()
            .and_then(|k| core.keepalive.poll_timeout(k));
        [
            core.drive.deadlines.peek(),
            keepalive,
            core.handshake_deadline,
            S::side_timeout(core),
            core.idle_trim.deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Handles the timers due at `now`: call deadlines, keepalive pings and
    /// timeouts, the handshake timeout, the server's lifetime limits.
    pub fn handle_timeout(&mut self, now: Instant) {
        let now = self.core.drive.advance(now);
        while let Some((at, id)) = self.core.drive.deadlines.pop_due(now) {
            if self
                .core
                .calls
                .get(id)
                .is_some_and(|c| c.deadline == Some(at))
            {
                let status = crate::Status::deadline_exceeded("deadline exceeded");
                S::end_call(&mut self.core, id, CallEnd::Fail(status));
            }
        }
        if !self.core.lifecycle.is_closed() {
            self.handle_connection_timers(now);
        }
        let calls = &self.core.calls;
        self.core
            .drive
            .deadlines
            .prune(|id| calls.get(id).is_some());
        if self.core.idle_trim.take_due(now) {
            self.core.release_idle_memory();
        }
        self.core.drive.poll_needed = true;
        self.drive();
    }

    fn handle_connection_timers(&mut self, now: Instant) {
        if self.core.handshake_deadline.is_some_and(|at| at <= now) {
            self.core.handshake_deadline = None;
            tracing::debug!(
                side = S::NAME,
                "the peer did not complete the HTTP/2 handshake in time"
            );
            self.core.lifecycle.fail(ConnectionError::HandshakeTimeout);
            self.core.lifecycle.abort(Abort::Hard);
        }
        if let Some(config) = self.core.config.keepalive() {
            match self.core.keepalive.handle_timeout(config, now) {
                KeepaliveAction::SendPing => {
                    if self.core.ping_pong.is_none() {
                        self.core.ping_pong = S::ping_pong(&mut self.h2);
                    }
                    if let Some(ping_pong) = self.core.ping_pong.as_mut() {
                        // h2 allows one ping in flight; the timer's timeout
                        // still applies to the one already sent.
                        let _ = ping_pong.send_ping(h2::Ping::opaque());
                    }
                }
                KeepaliveAction::CloseConnection(_) => {
                    // The peer is unreachable: a GOAWAY would not arrive
                    // either (grpc-go closes the transport the same way).
                    tracing::debug!(side = S::NAME, "keepalive ping not answered; closing");
                    self.core.lifecycle.fail(ConnectionError::KeepaliveTimeout);
                    self.core.lifecycle.abort(Abort::Hard);
                }
                KeepaliveAction::None => {}
            }
        }
        S::handle_side_timeout(&mut self.core, now);
    }

    // ----- getters -----------------------------------------------------------

    /// The connection error, once the connection failed.
    pub fn error(&self) -> Option<&ConnectionError> {
        self.core.lifecycle.error()
    }

    /// Whether the connection is over (the `Closed` event may be pending).
    pub fn is_closed(&self) -> bool {
        self.core.lifecycle.is_closed()
    }

    /// Whether a graceful shutdown (ours or the peer's GOAWAY) is under way:
    /// calls open go on, no new one starts.
    pub fn is_draining(&self) -> bool {
        self.core.lifecycle.is_draining()
    }

    /// How many calls the engine holds: open, or ended and not yet released
    /// by the application, or released with bytes not yet handed to h2.
    pub fn open_calls(&self) -> usize {
        self.core.calls.len()
    }

    /// Bytes the engine holds for calls: received messages not yet taken,
    /// partial messages, and queued messages not yet handed to h2. Bounded by
    /// the limits (see [`Limits`](super::Limits)); the fuzzers assert it.
    pub fn buffered_bytes(&self) -> usize {
        self.core.calls.values().fold(0usize, |sum, call| {
            sum.saturating_add(call.inbound.buffered())
                .saturating_add(call.outbound.buffered())
        })
    }

    /// The configuration in force (limits sanitized).
    pub fn config(&self) -> &S::Config {
        &self.core.config
    }

    /// Whether the engine gave back the memory its calls used (a lone call
    /// ended, or calls stopped a while ago) since this was last asked: the
    /// moment for the owner to give back the room of its own per-call
    /// tables, if it keeps any.
    pub fn take_memory_released(&mut self) -> bool {
        std::mem::take(&mut self.core.memory_released)
    }

    // ----- shutdown ----------------------------------------------------------

    /// Starts a graceful shutdown: no new calls (the server sends GOAWAY:
    /// the client sees `UNAVAILABLE` for calls it had not sent and may retry
    /// elsewhere); calls open go on, and the connection closes when the last
    /// one ends.
    pub fn close_gracefully(&mut self) {
        if self.core.lifecycle.drain(true) {
            S::on_drain(&mut self.core);
            self.core.drive.request_poll();
        }
    }

    /// Closes the connection now: every call still open ends with
    /// `CANCELLED` (the peer's stream is reset with CANCEL, the application
    /// gets the call's end event), then GOAWAY with `code` (h2's client sends
    /// NO_ERROR whatever the code) and the connection closes.
    pub fn close(&mut self, code: ErrorCode) {
        if self.core.lifecycle.is_closed() {
            return;
        }
        let status = crate::Status::cancelled("the connection was closed by the application");
        for id in self.core.calls.ids() {
            S::end_call(&mut self.core, id, CallEnd::Cancel(status.clone()));
        }
        self.core.lifecycle.fail(ConnectionError::LocallyClosed);
        self.core.lifecycle.abort(Abort::Code(code));
        self.core.drive.request_poll();
    }

    /// Test only: services every call, as if each had been woken, and
    /// reports whether that changed anything (an event, bytes to send) —
    /// which would mean a wake from h2 was missed and a call sat idle.
    #[cfg(test)]
    pub(crate) fn audit_missed_wakes(&mut self) -> bool {
        let outbound = |conn: &Self| {
            conn.core
                .drive
                .memory
                .as_ref()
                .map_or(0, MemoryTransport::outbound_len)
        };
        let events = self.core.events.len();
        let before = outbound(self);
        for id in self.core.calls.ids() {
            S::service(&mut self.core, id);
        }
        self.core.events.len() != events || outbound(self) != before
    }

    /// Test only: whether commands or a drive left work that the next
    /// drive would do.
    #[cfg(test)]
    pub(crate) fn has_pending_work(&self) -> bool {
        self.core.drive.needs_drive()
    }

    /// How many call slots the connection holds room for (open or kept).
    #[cfg(test)]
    pub(crate) fn call_room(&self) -> usize {
        self.core.calls.capacity()
    }
}

/// `config` with its limits clamped to what HTTP/2 allows, so h2 never
/// panics on them: a copy of its own only for a configuration out of range
/// (a server shares one among its connections).
fn sanitized<S: Side>(mut config: Arc<S::Config>) -> Arc<S::Config> {
    let limits = config.limits().sanitized();
    if limits != *config.limits() {
        *Arc::make_mut(&mut config).limits_mut() = limits;
    }
    config
}

impl<S: Side> Core<S> {
    /// Has the next drive service `call` (after a command changed it), so
    /// that several commands are handed to h2 together: a message followed
    /// by a half-close goes out as one DATA frame with END_STREAM.
    pub(crate) fn schedule(&mut self, call: CallId) {
        if let Some(c) = self.calls.get(call) {
            c.wake.wake();
        }
        self.drive.request_drive();
    }

    /// The latest `now` the caller gave.
    pub(crate) fn now(&self) -> Instant {
        self.drive.now
    }

    /// The connection error h2's `err` means. Once the peer closed its side,
    /// any transport error (h2 reports "bytes remaining on stream" for an
    /// end of stream inside a frame) is the peer vanishing.
    pub(crate) fn h2_error(&self, err: &h2::Error) -> ConnectionError {
        match ConnectionError::from_h2(err) {
            ConnectionError::Io(_) if self.peer_eof() => ConnectionError::TransportClosed,
            error => error,
        }
    }

    /// A call the end of the connection takes down ends with the
    /// connection's reason, not with the stream error h2's end made of it.
    pub(crate) fn in_connection_terms(&self, end: CallEnd) -> CallEnd {
        match end {
            CallEnd::Lost(_) if self.lifecycle.is_closed() => {
                CallEnd::Lost(self.lifecycle.end_status())
            }
            end => end,
        }
    }

    /// Whether the peer closed its side of the transport.
    pub(crate) fn peer_eof(&self) -> bool {
        self.tap.lock().peer_eof()
    }

    /// Removes `id` if the application released it and the engine is done
    /// with it.
    pub(crate) fn settle(&mut self, id: CallId) {
        if self
            .calls
            .get(id)
            .is_some_and(|c| c.released && S::is_call_over(c))
        {
            self.calls.remove(id);
        }
    }

    /// The connection has had no call for a while: gives back the room its
    /// calls used (the call slot kept for the next call, the queues).
    pub(crate) fn release_idle_memory(&mut self) {
        self.memory_released = true;
        self.calls.release_memory();
        if self.events.is_empty() {
            self.events = VecDeque::new();
        }
        let calls = &self.calls;
        self.drive.release_memory(|id| calls.get(id).is_some());
    }
}

impl<S: Side, T> std::fmt::Debug for Connection<S, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("side", &S::NAME)
            .field("lifecycle", &format_args!("{}", self.core.lifecycle))
            .field("calls", &self.core.calls.len())
            .field("error", &self.core.lifecycle.error())
            .finish_non_exhaustive()
    }
}
