//! The server side: [`ServerConnection`].

use std::collections::VecDeque;
use std::fmt::Display;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use h2::SendStream;
use h2::server::SendResponse;
use http::HeaderValue;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::Status;
use crate::codec::compression::{Encoding, EncodingSet};
use crate::codec::metadata::MetadataMap;

use super::call_id::{CallId, CallSlab};
use super::config::ServerConfig;
use super::driver::{MAX_DRIVE_ROUNDS, Plumbing, server_builder};
use super::error::{
    CallError, ConnectionError, ErrorCode, RecvError, SendError, status_for_reset,
    status_for_stream_error,
};
use super::event::ServerEvent;
use super::headers::{
    self, RequestRules, default_content_type, response_headers, trailers_only, validate_request,
};
use super::keepalive::{
    ConnectionLifetime, ENHANCE_YOUR_CALM, KeepaliveAction, KeepaliveTimer, LifetimeAction,
    PingPolicy, PingVerdict, TOO_MANY_PINGS, encode_goaway,
};
use super::message::{frame_bytes, frame_with};
use super::stream::{Inbound, InboundError, Outbound};
use super::tap::{Tap, TapHandle, TapState};
use super::transport::MemoryTransport;
use super::wake::CallWake;

/// The h2 side of the connection.
enum H2Server<T> {
    Handshaking(h2::server::Handshake<Tap<T>, Bytes>),
    Open(h2::server::Connection<Tap<T>, Bytes>),
    Closed,
}

/// Where the response of a call stands.
#[derive(Debug)]
enum Response {
    /// No headers sent yet: a Trailers-Only answer is still possible.
    Pending(SendResponse<Bytes>),
    /// Headers sent; messages and trailers go here.
    Streaming(SendStream<Bytes>),
    /// Nothing more can be sent.
    Closed,
}

#[derive(Debug)]
struct ServerCall {
    wake: CallWake,
    response: Response,
    inbound: Inbound,
    outbound: Outbound,
    content_type: HeaderValue,
    /// Encoding of response messages.
    encoding: Encoding,
    /// What the client accepts for response messages.
    client_accepts: EncodingSet,
    deadline: Option<Instant>,
    /// The application finished or cancelled the call: no more events; the
    /// call lives on only until its last bytes are handed to h2.
    app_done: bool,
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
/// Per call ([`CallId`] from [`ServerEvent::NewCall`]):
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
    config: ServerConfig,
    rules: RequestRules,
    plumbing: Plumbing,
    calls: CallSlab<ServerCall>,
    events: VecDeque<ServerEvent>,
    phase: Phase,
    graceful_requested: bool,
    abrupt_requested: Option<ErrorCode>,
    error: Option<ConnectionError>,
    /// h2 ended; calls are swept (after servicing what arrived) at the end of
    /// the drive round. `Some(None)`: a clean end.
    pending_close: Option<Option<ConnectionError>>,
    closed_reported: bool,
    tap: TapHandle,
    keepalive: KeepaliveTimer,
    ping_policy: PingPolicy,
    lifetime: ConnectionLifetime,
    ping_pong: Option<h2::PingPong>,
    /// The highest stream id of a request received (for our own GOAWAY).
    last_stream_id: u32,
    /// The client pinged too often: end the connection with our GOAWAY.
    abuse: bool,
}

impl ServerConnection<MemoryTransport> {
    /// A server connection on the in-memory transport: feed it bytes with
    /// [`handle_input`](Self::handle_input), take bytes with
    /// [`poll_transmit`](Self::poll_transmit).
    pub fn new(config: ServerConfig, now: Instant) -> ServerConnection<MemoryTransport> {
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
    pub fn with_io(io: T, config: ServerConfig, now: Instant) -> ServerConnection<T> {
        ServerConnection::build(io, None, config, now)
    }

    fn build(
        io: T,
        memory: Option<MemoryTransport>,
        mut config: ServerConfig,
        now: Instant,
    ) -> ServerConnection<T> {
        config.limits = config.limits.sanitized();
        let tap = TapHandle::new(TapState::new(false, config.limits.max_frame_size));
        let handshake = server_builder(&config.limits).handshake(Tap::new(io, tap.clone(), false));
        let rules = RequestRules {
            require_te_trailers: config.require_te_trailers,
            accept_encodings: config.accept_encodings,
        };
        let keepalive = KeepaliveTimer::new(config.keepalive, now);
        let ping_policy = PingPolicy::new(config.ping_policy);
        let lifetime = ConnectionLifetime::new(config.lifetime, now);
        let mut conn = ServerConnection {
            h2: H2Server::Handshaking(handshake),
            core: ServerCore {
                config,
                rules,
                plumbing: Plumbing::new(memory, now),
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
                error: self.core.error.clone(),
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
            self.core.keepalive.poll_timeout(),
            self.core.lifetime.poll_timeout(),
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
            match self.core.keepalive.handle_timeout(now) {
                KeepaliveAction::SendPing => {
                    if let Some(ping_pong) = self.core.ping_pong.as_mut() {
                        // h2 allows one ping in flight; the timer's timeout
                        // still applies to the one already sent.
                        let _ = ping_pong.send_ping(h2::Ping::opaque());
                    }
                }
                KeepaliveAction::CloseConnection(_) => {
                    self.core.error = Some(ConnectionError::KeepaliveTimeout);
                    self.core.abrupt_requested = Some(ErrorCode::NO_ERROR);
                }
                _ => {}
            }
            match self.core.lifetime.handle_timeout(now) {
                LifetimeAction::GoAway(_) => self.close_gracefully(),
                LifetimeAction::CloseConnection(_) => {
                    self.core.error = Some(ConnectionError::LocallyClosed);
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
        self.core.plumbing.poll_needed = true;
        self.drive();
    }

    // ----- getters -----------------------------------------------------------

    /// The connection error, once the connection failed.
    pub fn error(&self) -> Option<&ConnectionError> {
        self.core.error.as_ref()
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

    // ----- commands ----------------------------------------------------------

    /// Takes the next message of a call:
    /// - `Ok(Some(message))`;
    /// - `Ok(None)` only for a clean end: the client half-closed and every
    ///   message was taken;
    /// - `Err(RecvError::Blocked)` until the next `Readable`;
    /// - `Err(RecvError::Cancelled(status))` when the call ended without the
    ///   client finishing its stream (reset, deadline, lost connection) and
    ///   its [`ServerEvent::Cancelled`] is still queued — so a handler that
    ///   reads before the event is handed out cannot take a cancelled stream
    ///   for a complete one;
    /// - `Err(RecvError::Closed)` once the call is over otherwise: the
    ///   application finished or cancelled it, or its `Cancelled` event was
    ///   handed out already;
    /// - `Err(RecvError::Failed(status))` when a message fails to decode
    ///   (the engine ends the call).
    pub fn recv_message(&mut self, call: CallId) -> Result<Option<Bytes>, RecvError> {
        let Some(c) = self.core.calls.get_mut(call) else {
            return Err(self.core.ended_call(call));
        };
        if c.app_done {
            return Err(RecvError::Closed);
        }
        match c.inbound.take() {
            Some(Ok(message)) => {
                // Taking a message released flow-control capacity: h2 must
                // send WINDOW_UPDATE.
                self.core.plumbing.request_drive();
                Ok(Some(message))
            }
            Some(Err(status)) => {
                self.core.fail_call(call, status.clone(), true);
                self.core.plumbing.request_drive();
                Err(RecvError::Failed(status))
            }
            None if c.inbound.is_finished() => Ok(None),
            None => Err(RecvError::Blocked),
        }
    }

    /// Chooses the encoding of the call's response messages. Takes effect if the
    /// client accepts it and headers are not sent yet; returns the encoding
    /// that will be used.
    pub fn set_send_encoding(
        &mut self,
        call: CallId,
        encoding: Encoding,
    ) -> Result<Encoding, CallError> {
        let c = self.core.live_call(call)?;
        if matches!(c.response, Response::Pending(_))
            && encoding.is_supported()
            && (encoding == Encoding::Identity || c.client_accepts.contains(encoding))
        {
            c.encoding = encoding;
        }
        Ok(c.encoding)
    }

    /// Sends the response headers with `metadata` (initial metadata).
    pub fn send_headers(&mut self, call: CallId, metadata: &MetadataMap) -> Result<(), CallError> {
        let accept = self.core.config.accept_encodings;
        let c = self.core.live_call(call)?;
        if !matches!(c.response, Response::Pending(_)) {
            return Err(CallError::HeadersAlreadySent);
        }
        send_response_headers(c, accept, metadata)?;
        self.core.schedule(call);
        Ok(())
    }

    /// Queues a message. `Err(SendError::NotReady)` when the call's send buffer
    /// is full: wait for `Writable`.
    pub fn send_message(&mut self, call: CallId, message: Bytes) -> Result<(), SendError> {
        let max = self.core.config.limits.max_send_message_size;
        let c = self.core.sendable_call(call)?;
        let (first, second) = frame_bytes(message, c.encoding, max)?;
        self.core.queue_frames(call, first, second)
    }

    /// Queues a message that `encode` writes into the buffer it is given (the
    /// buffer already holds the 5-byte prefix; append only). Saves a copy for
    /// codecs that encode into a `BytesMut`.
    pub fn send_message_with<E, F>(&mut self, call: CallId, encode: F) -> Result<(), SendError>
    where
        E: Display,
        F: FnOnce(&mut BytesMut) -> Result<(), E>,
    {
        let max = self.core.config.limits.max_send_message_size;
        let c = self.core.sendable_call(call)?;
        let frame = frame_with(c.encoding, max, encode)?;
        self.core.queue_frames(call, frame, None)
    }

    /// Ends the call with `status` and trailing metadata, after the queued
    /// messages. If no headers or messages were sent, this is a Trailers-Only
    /// response. The call id is stale afterwards.
    ///
    /// `Err(CallError::InvalidMetadata)` when the trailers cannot be encoded
    /// (more entries than a header block holds): then nothing was sent and
    /// the call is unchanged — still readable, still sendable, and still to
    /// be finished. The engine does not replace the application's status with
    /// one of its own; finish again, with trailers that fit (what core::api
    /// does: the same status without the metadata) or with `INTERNAL`.
    pub fn finish(
        &mut self,
        call: CallId,
        status: Status,
        trailers: &MetadataMap,
    ) -> Result<(), CallError> {
        let accept = self.core.config.accept_encodings;
        let c = self.core.live_call(call)?;
        // Everything that can fail comes before the first change to the call.
        let block = headers::trailers(&status, trailers).map_err(CallError::InvalidMetadata)?;
        c.app_done = true;
        c.inbound.discard();
        match std::mem::replace(&mut c.response, Response::Closed) {
            Response::Pending(mut respond) => {
                let response = trailers_only(200, &c.content_type, accept, &status, trailers);
                // A failure means the stream is already gone (reset): the
                // call ends either way.
                let _ = respond.send_response(response, true);
                c.outbound.discard();
            }
            Response::Streaming(stream) => {
                c.response = Response::Streaming(stream);
                c.outbound.finish(block);
            }
            Response::Closed => {}
        }
        self.core.schedule(call);
        Ok(())
    }

    /// Cancels the call: RST_STREAM(CANCEL) to the client, which sees
    /// `CANCELLED`. No event follows; the id is stale afterwards.
    pub fn cancel(&mut self, call: CallId) {
        if let Some(mut c) = self.core.calls.remove(call) {
            reset(&mut c, ErrorCode::CANCEL);
            self.core.plumbing.request_drive();
        }
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

    // ----- the drive loop ----------------------------------------------------

    fn drive(&mut self) {
        self.core.plumbing.dirty = false;
        let mut poll = self.core.plumbing.take_poll();
        for _ in 0..MAX_DRIVE_ROUNDS {
            // h2 is polled only when it has something to do: reading input,
            // or writing what a serviced call handed it (it wakes the
            // connection then).
            if poll {
                self.poll_h2();
            }
            self.core.service_ready();
            self.core.observe_tap();
            if let Some(error) = self.core.pending_close.take() {
                self.core.connection_closed(error);
            }
            poll = self.core.plumbing.take_poll();
            if !poll && self.core.plumbing.ready.is_empty() {
                return;
            }
        }
        // Rounds left over: the next poll continues.
        self.core.plumbing.request_poll();
    }

    fn poll_h2(&mut self) {
        let waker = self.core.plumbing.conn_waker_handle.clone();
        let mut cx = Context::from_waker(&waker);
        let now = self.core.plumbing.now;
        loop {
            match &mut self.h2 {
                H2Server::Handshaking(handshake) => match Pin::new(handshake).poll(&mut cx) {
                    Poll::Ready(Ok(mut conn)) => {
                        self.core.ping_pong = conn.ping_pong();
                        self.h2 = H2Server::Open(conn);
                    }
                    Poll::Ready(Err(err)) => {
                        self.h2 = H2Server::Closed;
                        // The handshake only reads the client preface: a
                        // failure there means the bytes are not HTTP/2 (or
                        // the peer left before sending them).
                        let error = match ConnectionError::from_h2(&err) {
                            ConnectionError::TransportClosed => ConnectionError::TransportClosed,
                            _ => ConnectionError::NotHttp2,
                        };
                        self.core.pending_close = Some(Some(error));
                        return;
                    }
                    Poll::Pending => {
                        if self.core.plumbing.peer_eof {
                            self.h2 = H2Server::Closed;
                            self.core.pending_close = Some(Some(ConnectionError::TransportClosed));
                        }
                        return;
                    }
                },
                H2Server::Open(conn) => {
                    if std::mem::take(&mut self.core.abuse) {
                        // Our GOAWAY (with the debug data h2 cannot send)
                        // replaces the one h2 writes for the abrupt shutdown.
                        let mut frame = Vec::new();
                        encode_goaway(
                            self.core.last_stream_id,
                            ENHANCE_YOUR_CALM,
                            TOO_MANY_PINGS,
                            &mut frame,
                        );
                        self.core.tap.lock().seal_with(frame);
                        conn.abrupt_shutdown(h2::Reason::ENHANCE_YOUR_CALM);
                        self.core.phase = Phase::Closed;
                        self.core.error = Some(ConnectionError::TooManyPings);
                    } else if let Some(code) = self.core.abrupt_requested.take() {
                        conn.abrupt_shutdown(code.to_reason());
                        self.core.phase = Phase::Closed;
                        self.core
                            .error
                            .get_or_insert(ConnectionError::LocallyClosed);
                    } else if self.core.graceful_requested {
                        self.core.graceful_requested = false;
                        conn.graceful_shutdown();
                    }
                    match conn.poll_accept(&mut cx) {
                        Poll::Ready(Some(Ok((request, respond)))) => {
                            self.core.on_request(request, respond, now);
                        }
                        Poll::Ready(Some(Err(err))) => {
                            self.h2 = H2Server::Closed;
                            self.core.pending_close = Some(Some(ConnectionError::from_h2(&err)));
                            return;
                        }
                        Poll::Ready(None) => {
                            self.h2 = H2Server::Closed;
                            // h2 ends "cleanly" at EOF; with calls the
                            // application has not finished, the peer vanished.
                            let vanished = self.core.plumbing.peer_eof
                                && self.core.calls.values().any(|c| !c.app_done);
                            self.core.pending_close =
                                Some(vanished.then_some(ConnectionError::TransportClosed));
                            return;
                        }
                        Poll::Pending => return,
                    }
                }
                H2Server::Closed => return,
            }
        }
    }
}

impl ServerCore {
    /// Has the next drive service `call` (after a command changed it), so
    /// that several commands are handed to h2 together: a message followed by
    /// a half-close goes out as one DATA frame with END_STREAM.
    fn schedule(&mut self, call: CallId) {
        if let Some(c) = self.calls.get(call) {
            c.wake.wake();
        }
        self.plumbing.request_drive();
    }

    /// Why a call the engine no longer holds cannot be read: the status of
    /// its `Cancelled` event while that event waits to be handed out. (The
    /// queue is the only record; a stale id costs a scan of it, a live call
    /// nothing.)
    fn ended_call(&self, call: CallId) -> RecvError {
        self.events
            .iter()
            .find_map(|event| match event {
                ServerEvent::Cancelled { call: c, status } if *c == call => {
                    Some(RecvError::Cancelled(status.clone()))
                }
                _ => None,
            })
            .unwrap_or(RecvError::Closed)
    }

    /// A call the application may still act on.
    fn live_call(&mut self, call: CallId) -> Result<&mut ServerCall, CallError> {
        match self.calls.get_mut(call) {
            Some(c) if !c.app_done => Ok(c),
            _ => Err(CallError::Closed),
        }
    }

    fn sendable_call(&mut self, call: CallId) -> Result<&mut ServerCall, SendError> {
        let c = match self.calls.get_mut(call) {
            Some(c) if !c.app_done && c.outbound.is_open() => c,
            _ => return Err(SendError::Closed),
        };
        if !c.outbound.check_ready() {
            return Err(SendError::NotReady);
        }
        Ok(c)
    }

    fn queue_frames(
        &mut self,
        call: CallId,
        first: Bytes,
        second: Option<Bytes>,
    ) -> Result<(), SendError> {
        let accept = self.config.accept_encodings;
        let c = self.calls.get_mut(call).ok_or(SendError::Closed)?;
        if matches!(c.response, Response::Pending(_)) {
            send_response_headers(c, accept, &MetadataMap::new())
                .map_err(|e| SendError::Encode(e.to_string()))?;
        }
        c.outbound.push(first);
        if let Some(second) = second {
            c.outbound.push(second);
        }
        self.schedule(call);
        Ok(())
    }

    fn on_request(
        &mut self,
        request: http::Request<h2::RecvStream>,
        mut respond: SendResponse<Bytes>,
        now: Instant,
    ) {
        let (parts, body) = request.into_parts();
        self.last_stream_id = self.last_stream_id.max(respond.stream_id().as_u32());
        let accept = self.config.accept_encodings;
        let head = match validate_request(parts, &self.rules, now) {
            Ok(head) => head,
            Err(rejection) => {
                let response = trailers_only(
                    rejection.http_status,
                    &default_content_type(),
                    accept,
                    &rejection.status,
                    &MetadataMap::new(),
                );
                let _ = respond.send_response(response, true);
                return;
            }
        };
        let limits = &self.config.limits;
        let plumbing = &self.plumbing;
        let inserted = self.calls.insert_with(|id| ServerCall {
            wake: plumbing.call_wake(id),
            response: Response::Pending(respond),
            inbound: Inbound::new(body, head.encoding(), limits.max_recv_message_size),
            outbound: Outbound::new(limits.max_send_buffer_per_call),
            content_type: head.content_type().clone(),
            encoding: Encoding::Identity,
            client_accepts: head.accept_encodings(),
            deadline: head.deadline(),
            app_done: false,
        });
        let Some(id) = inserted else {
            return;
        };
        if let Some(deadline) = head.deadline() {
            self.plumbing.deadlines.push(deadline, id);
        }
        self.events.push_back(ServerEvent::NewCall {
            call: id,
            request: Box::new(head),
        });
        self.service(id);
    }

    /// Feeds what the tap saw to keepalive and the ping policy.
    fn observe_tap(&mut self) {
        let now = self.plumbing.now;
        let active = self.calls.len();
        self.keepalive.set_active_calls(active);
        self.lifetime.set_active_calls(active, now);
        if let Some(ping_pong) = self.ping_pong.as_mut() {
            let waker = self.plumbing.conn_waker_handle.clone();
            if let Poll::Ready(Ok(_)) = ping_pong.poll_pong(&mut Context::from_waker(&waker)) {
                self.keepalive.on_pong(now);
            }
        }
        let (activity, pings, sent) = {
            let mut tap = self.tap.lock();
            (
                std::mem::take(&mut tap.activity),
                std::mem::take(&mut tap.pings),
                tap.take_headers_or_data_sent(),
            )
        };
        if activity {
            self.keepalive.on_activity(now);
        }
        if sent {
            self.ping_policy.on_data_or_headers_sent();
        }
        for _ in 0..pings {
            if self.ping_policy.on_ping_received(now, active) == PingVerdict::TooManyPings
                && self.phase != Phase::Closed
            {
                self.abuse = true;
                self.plumbing.request_poll();
            }
        }
    }

    fn service_ready(&mut self) -> bool {
        let ids = self.plumbing.take_ready();
        let any = !ids.is_empty();
        for &id in &ids {
            self.service(id);
        }
        self.plumbing.return_ready(ids);
        any
    }

    /// Moves a call forward: pulls input, notices resets, flushes output.
    fn service(&mut self, id: CallId) {
        let Some(c) = self.calls.get_mut(id) else {
            return;
        };
        c.wake.rearm();
        let waker = c.wake.waker().clone();
        let mut cx = Context::from_waker(&waker);
        if !c.app_done {
            match c.inbound.pull(&mut cx) {
                Ok(true) => self.events.push_back(ServerEvent::Readable { call: id }),
                Ok(false) => {}
                Err(InboundError::Stream(err)) => {
                    let status = status_for_stream_error(&err);
                    self.drop_call(id, Some(status));
                    return;
                }
                Err(InboundError::Frame(err)) => {
                    self.fail_call(id, err.into(), true);
                    return;
                }
            }
        }
        let Some(c) = self.calls.get_mut(id) else {
            return;
        };
        let reset = match &mut c.response {
            Response::Pending(respond) => respond.poll_reset(&mut cx),
            Response::Streaming(stream) => stream.poll_reset(&mut cx),
            Response::Closed => Poll::Pending,
        };
        match reset {
            Poll::Ready(Ok(reason)) => {
                let status = status_for_reset(ErrorCode::from_reason(reason));
                self.drop_call(id, Some(status));
                return;
            }
            Poll::Ready(Err(err)) => {
                let status = status_for_stream_error(&err);
                self.drop_call(id, Some(status));
                return;
            }
            Poll::Pending => {}
        }
        if let Response::Streaming(stream) = &mut c.response
            && let Err(err) = c.outbound.flush(stream, &mut cx)
        {
            let status = status_for_stream_error(&err);
            self.drop_call(id, Some(status));
            return;
        }
        if c.outbound.take_writable() && !c.app_done {
            self.events.push_back(ServerEvent::Writable { call: id });
        }
        if c.app_done && (c.outbound.is_done() || matches!(c.response, Response::Closed)) {
            self.calls.remove(id);
        }
    }

    /// Removes a call; reports it cancelled with `status` unless the
    /// application is already done with it.
    fn drop_call(&mut self, id: CallId, status: Option<Status>) {
        if let Some(c) = self.calls.remove(id)
            && !c.app_done
            && let Some(status) = status
        {
            self.events
                .push_back(ServerEvent::Cancelled { call: id, status });
        }
    }

    /// Ends a call on the engine's initiative: answers the client with
    /// `status` (Trailers-Only if nothing was sent) and reports the call
    /// cancelled.
    fn fail_call(&mut self, id: CallId, status: Status, notify: bool) {
        let accept = self.config.accept_encodings;
        let Some(mut c) = self.calls.remove(id) else {
            return;
        };
        c.inbound.discard();
        c.outbound.discard();
        match std::mem::replace(&mut c.response, Response::Closed) {
            Response::Pending(mut respond) => {
                let response =
                    trailers_only(200, &c.content_type, accept, &status, &MetadataMap::new());
                let _ = respond.send_response(response, true);
            }
            Response::Streaming(mut stream) => {
                match headers::trailers(&status, &MetadataMap::new()) {
                    Ok(block) => {
                        let _ = stream.send_trailers(block);
                    }
                    Err(_) => stream.send_reset(h2::Reason::INTERNAL_ERROR),
                }
            }
            Response::Closed => {}
        }
        if notify && !c.app_done {
            self.events
                .push_back(ServerEvent::Cancelled { call: id, status });
        }
    }

    fn deadline_passed(&mut self, id: CallId, at: Instant) {
        let Some(c) = self.calls.get(id) else {
            return;
        };
        if c.deadline != Some(at) {
            return;
        }
        let status = Status::deadline_exceeded("deadline exceeded");
        if c.app_done {
            // The application finished but the client is not reading: give up.
            if let Some(mut c) = self.calls.remove(id) {
                reset(&mut c, ErrorCode::CANCEL);
            }
            return;
        }
        self.fail_call(id, status, true);
    }

    fn connection_closed(&mut self, error: Option<ConnectionError>) {
        self.phase = Phase::Closed;
        if self.error.is_none() {
            self.error = error;
        }
        let status = match &self.error {
            Some(err) => err.to_status(),
            None => Status::unavailable("connection closed"),
        };
        for id in self.calls.ids() {
            self.drop_call(id, Some(status.clone()));
        }
    }
}

/// Sends the response headers of a call that has not sent them.
fn send_response_headers(
    c: &mut ServerCall,
    accept: EncodingSet,
    metadata: &MetadataMap,
) -> Result<(), CallError> {
    let response = response_headers(&c.content_type, c.encoding, accept, metadata)
        .map_err(CallError::InvalidMetadata)?;
    if let Response::Pending(mut respond) = std::mem::replace(&mut c.response, Response::Closed) {
        match respond.send_response(response, false) {
            Ok(stream) => c.response = Response::Streaming(stream),
            // The stream is gone (reset); the next service reports it.
            Err(_) => c.wake.wake(),
        }
    }
    Ok(())
}

/// Resets a call's stream.
fn reset(c: &mut ServerCall, code: ErrorCode) {
    match &mut c.response {
        Response::Pending(respond) => respond.send_reset(code.to_reason()),
        Response::Streaming(stream) => stream.send_reset(code.to_reason()),
        Response::Closed => {}
    }
    c.response = Response::Closed;
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
