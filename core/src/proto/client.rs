//! The client side: [`ClientConnection`].

use std::collections::VecDeque;
use std::fmt::Display;
use std::future::Future;
use std::pin::{Pin, pin};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use h2::SendStream;
use h2::client::{ResponseFuture, SendRequest};
use http::HeaderValue;
use http::uri::{Authority, Scheme};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::Status;
use crate::codec::compression::{Encoding, EncodingSet, select};
use crate::codec::metadata::MetadataMap;
use crate::codec::timeout::format_timeout;

use super::call_id::{CallId, CallSlab};
use super::config::ClientConfig;
use super::driver::{MAX_DRIVE_ROUNDS, Plumbing, client_builder};
use super::error::{
    CallError, ConnectionError, ErrorCode, RecvError, SendError, StartCallError,
    status_for_stream_error,
};
use super::event::ClientEvent;
use super::headers::{
    GRPC_ACCEPT_ENCODING, GRPC_TIMEOUT, RequestTemplate, ResponseStart, classify_response, request,
    status_from_trailers,
};
use super::keepalive::{KeepaliveAction, KeepaliveTimer};
use super::message::{frame_bytes, frame_with};
use super::path::CallPath;
use super::stream::{Inbound, InboundError, Outbound};
use super::tap::{Tap, TapHandle, TapState};
use super::transport::MemoryTransport;
use super::wake::CallWake;

/// Per-call options for [`ClientConnection::start_call`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CallOptions {
    /// Custom metadata sent with the request headers.
    pub metadata: MetadataMap,
    /// How long the call may take, from `start_call`'s `now`. Sent as
    /// `grpc-timeout`.
    pub timeout: Option<Duration>,
    /// An absolute deadline; the earlier of this and `timeout` applies.
    pub deadline: Option<Instant>,
    /// The encoding to compress request messages with. Used only if this build
    /// supports it, the configuration accepts it, and the server (once it
    /// said) accepts it; otherwise messages go uncompressed.
    pub encoding: Encoding,
}

impl Default for CallOptions {
    fn default() -> CallOptions {
        CallOptions::new()
    }
}

impl CallOptions {
    /// Default options: no metadata, no deadline, no compression.
    pub fn new() -> CallOptions {
        CallOptions {
            metadata: MetadataMap::new(),
            timeout: None,
            deadline: None,
            encoding: Encoding::Identity,
        }
    }

    /// These options with `metadata`.
    #[must_use]
    pub fn with_metadata(mut self, metadata: MetadataMap) -> CallOptions {
        self.metadata = metadata;
        self
    }

    /// These options with a timeout.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> CallOptions {
        self.timeout = Some(timeout);
        self
    }

    /// These options with an absolute deadline.
    #[must_use]
    pub fn with_deadline(mut self, deadline: Instant) -> CallOptions {
        self.deadline = Some(deadline);
        self
    }

    /// These options with request compression.
    #[must_use]
    pub fn with_encoding(mut self, encoding: Encoding) -> CallOptions {
        self.encoding = encoding;
        self
    }
}

/// Where a call's HTTP/2 stream stands.
enum Phase {
    /// Waiting for a stream slot (the server's max concurrent streams).
    Queued(Box<http::Request<()>>),
    /// The stream is open.
    Open {
        /// Until the response headers arrive.
        response: Option<ResponseFuture>,
        send: SendStream<Bytes>,
    },
    /// The outcome is known (`Finished` reported).
    Done,
}

struct ClientCall {
    wake: CallWake,
    phase: Phase,
    inbound: Inbound,
    outbound: Outbound,
    encoding: Encoding,
    deadline: Option<Instant>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ConnPhase {
    Open,
    /// GOAWAY received or graceful close requested: no new calls.
    Draining,
    Closed,
}

/// A gRPC client connection: calls in, HTTP/2 streams out. Sans-IO.
///
/// # Driving it
/// The same loop as [`ServerConnection`](super::ServerConnection): feed input
/// ([`handle_input`](Self::handle_input), [`handle_eof`](Self::handle_eof),
/// or [`drive_io`](ClientConnection::drive_io) for a connection made with
/// [`with_io`](Self::with_io)), handle timers
/// ([`handle_timeout`](Self::handle_timeout) at
/// [`poll_timeout`](Self::poll_timeout)), drain [`poll_event`](Self::poll_event),
/// issue commands, and send what [`poll_transmit`](Self::poll_transmit) gives.
/// Calls may be started right away; the HTTP/2 preface and SETTINGS go first.
///
/// # A call
/// 1. [`start_call`](Self::start_call) with the method path and
///    [`CallOptions`] (metadata, timeout, compression) returns a [`CallId`].
///    If the server's concurrent-stream limit is reached the call waits for a
///    slot (its deadline runs meanwhile).
/// 2. [`send_message`](Self::send_message) /
///    [`send_message_with`](Self::send_message_with) any number of times
///    (`NotReady` until `Writable` when the peer reads slowly), then
///    [`close_send`](Self::close_send) (half-close). Both may be called before
///    the stream is open.
/// 3. Events: [`ClientEvent::Headers`] (initial metadata), `Readable` (take
///    messages with [`recv_message`](Self::recv_message)), and exactly one
///    [`ClientEvent::Finished`] with the status and trailing metadata.
/// 4. [`cancel`](Self::cancel) at any point resets the stream (CANCEL).
///
/// The deadline is enforced by the engine: when `now` passes it, the call
/// finishes with `DEADLINE_EXCEEDED` and the stream is reset with CANCEL.
pub struct ClientConnection<T = MemoryTransport> {
    h2: Option<h2::client::Connection<Tap<T>, Bytes>>,
    core: ClientCore,
}

struct ClientCore {
    config: ClientConfig,
    template: RequestTemplate,
    plumbing: Plumbing,
    calls: CallSlab<ClientCall>,
    events: VecDeque<ClientEvent>,
    send_request: Option<SendRequest<Bytes>>,
    open_queue: VecDeque<CallId>,
    /// The most recently opened call: h2 may hold its stream as "pending
    /// open", and then wakes its waker when the next stream may open.
    last_opened: Option<CallId>,
    /// What the server said it accepts (`grpc-accept-encoding`).
    server_accepts: Option<EncodingSet>,
    /// Calls whose stream is open (counted against the server's
    /// `SETTINGS_MAX_CONCURRENT_STREAMS`): requests beyond it wait in
    /// `open_queue`, where their deadline runs and their timeout shrinks,
    /// rather than in h2.
    open_streams: usize,
    phase: ConnPhase,
    close_requested: bool,
    error: Option<ConnectionError>,
    /// h2 ended; calls are swept at the end of the drive round (see the
    /// server's). `Some(None)`: a clean end.
    pending_close: Option<Option<ConnectionError>>,
    closed_reported: bool,
    tap: TapHandle,
    keepalive: Option<KeepaliveTimer>,
    ping_pong: Option<h2::PingPong>,
    /// The GOAWAY the server sent, as captured on the wire.
    goaway: Option<(ErrorCode, Bytes)>,
}

impl ClientConnection<MemoryTransport> {
    /// A client connection on the in-memory transport.
    pub fn new(config: ClientConfig, now: Instant) -> ClientConnection<MemoryTransport> {
        let memory = MemoryTransport::new(config.limits.max_outbound_buffer);
        ClientConnection::build(memory.clone(), Some(memory), config, now)
    }

    /// Feeds bytes received from the server.
    pub fn handle_input(&mut self, now: Instant, data: &[u8]) {
        self.core.plumbing.advance(now);
        if data.is_empty() || self.core.phase == ConnPhase::Closed {
            return;
        }
        if let Some(memory) = &self.core.plumbing.memory {
            memory.push_inbound(data);
        }
        self.core.plumbing.poll_needed = true;
        self.drive();
    }

    /// The server closed its side of the transport.
    pub fn handle_eof(&mut self, now: Instant) {
        self.core.plumbing.advance(now);
        self.core.plumbing.peer_eof = true;
        if let Some(memory) = &self.core.plumbing.memory {
            memory.close_inbound();
        }
        self.core.plumbing.poll_needed = true;
        self.drive();
    }

    /// Whether the engine has room for more input (see
    /// [`ServerConnection::wants_input`](super::ServerConnection::wants_input)).
    pub fn wants_input(&self) -> bool {
        self.core.phase != ConnPhase::Closed
            && self
                .core
                .plumbing
                .memory
                .as_ref()
                .is_some_and(|m| m.inbound_len() < self.core.config.limits.max_inbound_buffer)
    }

    /// Writes bytes to send to the server into `buf`; returns how many.
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
        self.core.phase == ConnPhase::Closed
            && self
                .core
                .plumbing
                .memory
                .as_ref()
                .is_none_or(MemoryTransport::is_outbound_empty)
    }

    /// Takes all bytes to send as one buffer, without copying.
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

impl<T: AsyncRead + AsyncWrite + Unpin> ClientConnection<T> {
    /// A client connection that has h2 read and write `io` itself. Drive it
    /// with [`drive_io`](Self::drive_io).
    pub fn with_io(io: T, config: ClientConfig, now: Instant) -> ClientConnection<T> {
        ClientConnection::build(io, None, config, now)
    }

    fn build(
        io: T,
        memory: Option<MemoryTransport>,
        mut config: ClientConfig,
        now: Instant,
    ) -> ClientConnection<T> {
        config.limits = config.limits.sanitized();
        let template = RequestTemplate {
            scheme: Scheme::try_from(config.scheme.as_str()).unwrap_or(Scheme::HTTP),
            authority: Authority::try_from(config.authority.as_str())
                .unwrap_or_else(|_| Authority::from_static("localhost")),
            user_agent: HeaderValue::try_from(config.user_agent.as_str())
                .unwrap_or_else(|_| HeaderValue::from_static("ferrule")),
            accept_encodings: config.accept_encodings,
        };
        let tap = TapHandle::new(TapState::new(true, config.limits.max_frame_size));
        let keepalive = config.keepalive.map(|k| KeepaliveTimer::new(k, now));
        let mut core = ClientCore {
            config,
            template,
            plumbing: Plumbing::new(memory, now),
            calls: CallSlab::default(),
            events: VecDeque::new(),
            send_request: None,
            open_queue: VecDeque::new(),
            last_opened: None,
            server_accepts: None,
            open_streams: 0,
            phase: ConnPhase::Open,
            close_requested: false,
            error: None,
            pending_close: None,
            closed_reported: false,
            tap: tap.clone(),
            keepalive,
            ping_pong: None,
            goaway: None,
        };
        // The handshake only writes the preface, which the tap accepts at
        // once, so it completes on this first poll.
        let handshake =
            client_builder(&core.config.limits).handshake::<_, Bytes>(Tap::new(io, tap, true));
        let mut handshake = pin!(handshake);
        let mut cx = Context::from_waker(Waker::noop());
        let h2 = match handshake.as_mut().poll(&mut cx) {
            Poll::Ready(Ok((send_request, mut conn))) => {
                core.send_request = Some(send_request);
                core.ping_pong = conn.ping_pong();
                Some(conn)
            }
            Poll::Ready(Err(err)) => {
                core.phase = ConnPhase::Closed;
                core.error = Some(ConnectionError::from_h2(&err));
                None
            }
            Poll::Pending => {
                core.phase = ConnPhase::Closed;
                core.error = Some(ConnectionError::LocallyClosed);
                None
            }
        };
        let mut conn = ClientConnection { h2, core };
        conn.drive();
        conn
    }

    /// Drives h2 over the IO given to [`with_io`](Self::with_io); `waker` is
    /// woken when there is more to do.
    pub fn drive_io(&mut self, now: Instant, waker: &Waker) {
        self.core.plumbing.advance(now);
        self.core.plumbing.conn_waker.set_outer(Some(waker));
        self.core.plumbing.poll_needed = true;
        self.drive();
    }

    // ----- events and timers -------------------------------------------------

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        if self.core.plumbing.needs_drive() {
            self.drive();
        }
        if let Some(event) = self.core.events.pop_front() {
            return Some(event);
        }
        if self.core.phase == ConnPhase::Closed && !self.core.closed_reported {
            self.core.closed_reported = true;
            return Some(ClientEvent::Closed {
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
        let keepalive = self
            .core
            .keepalive
            .as_ref()
            .filter(|_| self.core.phase != ConnPhase::Closed)
            .and_then(KeepaliveTimer::poll_timeout);
        [self.core.plumbing.deadlines.peek(), keepalive]
            .into_iter()
            .flatten()
            .min()
    }

    /// Handles timers due at `now`: call deadlines, keepalive.
    pub fn handle_timeout(&mut self, now: Instant) {
        let now = self.core.plumbing.advance(now);
        while let Some((at, id)) = self.core.plumbing.deadlines.pop_due(now) {
            self.core.deadline_passed(id, at);
        }
        if self.core.phase != ConnPhase::Closed
            && let Some(keepalive) = self.core.keepalive.as_mut()
        {
            match keepalive.handle_timeout(now) {
                KeepaliveAction::SendPing => {
                    if let Some(ping_pong) = self.core.ping_pong.as_mut() {
                        let _ = ping_pong.send_ping(h2::Ping::opaque());
                    }
                }
                KeepaliveAction::CloseConnection(_) => {
                    // The server is gone: drop the connection without waiting.
                    self.h2 = None;
                    self.core
                        .connection_closed(Some(ConnectionError::KeepaliveTimeout));
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

    /// Whether the connection is over.
    pub fn is_closed(&self) -> bool {
        self.core.phase == ConnPhase::Closed
    }

    /// Whether new calls can be started.
    pub fn is_accepting_calls(&self) -> bool {
        self.core.phase == ConnPhase::Open
    }

    /// How many calls exist (queued, open, or finished with unread messages).
    pub fn open_calls(&self) -> usize {
        self.core.calls.len()
    }

    /// Bytes the engine holds for calls (see
    /// [`ServerConnection::buffered_bytes`](super::ServerConnection::buffered_bytes)).
    pub fn buffered_bytes(&self) -> usize {
        self.core.calls.values().fold(0usize, |sum, call| {
            sum.saturating_add(call.inbound.buffered())
                .saturating_add(call.outbound.buffered())
        })
    }

    /// The configuration in force (limits sanitized).
    pub fn config(&self) -> &ClientConfig {
        &self.core.config
    }

    // ----- commands ----------------------------------------------------------

    /// Starts a call to `path` (`/package.Service/Method`): a `&'static
    /// str` or a [`CallPath`] made once and cloned costs no allocation.
    ///
    /// A deadline that has already passed finishes the call at once with
    /// `DEADLINE_EXCEEDED` (the id is returned and the `Finished` event
    /// follows), without sending anything.
    pub fn start_call(
        &mut self,
        now: Instant,
        path: impl Into<CallPath>,
        options: CallOptions,
    ) -> Result<CallId, StartCallError> {
        let now = self.core.plumbing.advance(now);
        if self.core.phase != ConnPhase::Open {
            return Err(StartCallError::ConnectionClosed);
        }
        let path = path.into();
        let path = path
            .to_path_and_query()
            .ok_or_else(|| StartCallError::InvalidPath(path.as_str().to_owned()))?;
        let deadline = match (
            options.deadline,
            options.timeout.and_then(|t| now.checked_add(t)),
        ) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let encoding = select(
            self.core.config.accept_encodings,
            self.core.server_accepts,
            options.encoding,
        );
        let timeout = deadline.map(|d| d.saturating_duration_since(now));
        let request = request(
            &self.core.template,
            path,
            &options.metadata,
            timeout,
            encoding,
        )
        .map_err(StartCallError::InvalidMetadata)?;
        let limits = &self.core.config.limits;
        let plumbing = &self.core.plumbing;
        let id = self
            .core
            .calls
            .insert_with(|id| ClientCall {
                wake: plumbing.call_wake(id),
                phase: Phase::Queued(Box::new(request)),
                inbound: Inbound::closed(),
                outbound: Outbound::new(limits.max_send_buffer_per_call),
                encoding,
                deadline,
            })
            .ok_or(StartCallError::ConnectionClosed)?;
        match deadline {
            Some(at) if at <= now => {
                self.core.finish_call(
                    id,
                    Status::deadline_exceeded("deadline exceeded before the call started"),
                    MetadataMap::new(),
                    false,
                );
                return Ok(id);
            }
            Some(at) => self.core.plumbing.deadlines.push(at, id),
            None => {}
        }
        // Opened by the next drive, so that commands issued meanwhile
        // (messages, half-close) leave with the headers.
        self.core.open_queue.push_back(id);
        self.core.plumbing.request_drive();
        Ok(id)
    }

    /// Queues a request message. `Err(SendError::NotReady)` when the call's
    /// send buffer is full: wait for `Writable`.
    pub fn send_message(&mut self, call: CallId, message: Bytes) -> Result<(), SendError> {
        let max = self.core.config.limits.max_send_message_size;
        let c = self.core.sendable_call(call)?;
        let (first, second) = frame_bytes(message, c.encoding, max)?;
        c.outbound.push(first);
        if let Some(second) = second {
            c.outbound.push(second);
        }
        self.core.schedule(call);
        Ok(())
    }

    /// Queues a request message written in place by `encode` (append only).
    pub fn send_message_with<E, F>(&mut self, call: CallId, encode: F) -> Result<(), SendError>
    where
        E: Display,
        F: FnOnce(&mut BytesMut) -> Result<(), E>,
    {
        let max = self.core.config.limits.max_send_message_size;
        let c = self.core.sendable_call(call)?;
        let frame = frame_with(c.encoding, max, encode)?;
        c.outbound.push(frame);
        self.core.schedule(call);
        Ok(())
    }

    /// Half-closes the call: no more request messages (END_STREAM after the
    /// queued ones).
    pub fn close_send(&mut self, call: CallId) -> Result<(), CallError> {
        match self.core.calls.get_mut(call) {
            Some(c) if !matches!(c.phase, Phase::Done) => c.outbound.close(),
            _ => return Err(CallError::Closed),
        }
        self.core.schedule(call);
        Ok(())
    }

    /// Takes the next response message: `Ok(Some(message))`;
    /// `Err(RecvError::Blocked)` until the next `Readable`; `Ok(None)` once the
    /// call finished and every message was taken (the id is stale then).
    pub fn recv_message(&mut self, call: CallId) -> Result<Option<Bytes>, RecvError> {
        let Some(c) = self.core.calls.get_mut(call) else {
            return Ok(None);
        };
        let done = matches!(c.phase, Phase::Done);
        match c.inbound.take() {
            Some(Ok(message)) => {
                if done && !c.inbound.has_message() {
                    self.core.calls.remove(call);
                }
                self.core.plumbing.request_drive();
                Ok(Some(message))
            }
            Some(Err(status)) => {
                self.core
                    .fail_call(call, status.clone(), Some(ErrorCode::CANCEL));
                Err(RecvError::Failed(status))
            }
            None if done => {
                self.core.calls.remove(call);
                Ok(None)
            }
            None => Err(RecvError::Blocked),
        }
    }

    /// Cancels the call: RST_STREAM(CANCEL) if it is open. No event follows;
    /// the id is stale afterwards.
    pub fn cancel(&mut self, call: CallId) {
        if let Some(mut c) = self.core.calls.remove(call) {
            if let Phase::Open { send, .. } = &mut c.phase {
                send.send_reset(h2::Reason::CANCEL);
                self.core.open_streams = self.core.open_streams.saturating_sub(1);
            }
            self.core.open_queue.retain(|&id| id != call);
            self.core.plumbing.request_drive();
        }
    }

    /// Stops starting calls; the connection closes (GOAWAY) once the open
    /// calls are over.
    pub fn close_gracefully(&mut self) {
        if self.core.phase == ConnPhase::Open {
            self.core.phase = ConnPhase::Draining;
        }
        self.core.close_requested = true;
        self.core.plumbing.request_poll();
    }

    /// Closes the connection now: every call is reset and finishes with
    /// `CANCELLED`. (h2's client cannot send a GOAWAY error code; the
    /// connection ends with GOAWAY NO_ERROR once the resets are out.)
    pub fn close(&mut self) {
        for id in self.core.calls.ids() {
            self.core.fail_call(
                id,
                Status::cancelled("the connection was closed by the application"),
                Some(ErrorCode::CANCEL),
            );
        }
        self.core.open_queue.clear();
        self.close_gracefully();
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
            // h2 is polled only when it has something to do (see the
            // server's drive).
            if poll {
                self.poll_h2();
            }
            self.core.service_ready();
            self.core.observe_tap();
            if let Some(error) = self.core.pending_close.take() {
                self.core.connection_closed(error);
            }
            if !self.core.open_queue.is_empty() {
                self.core.try_open();
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
        if (self.core.close_requested || self.core.phase == ConnPhase::Draining)
            && self.core.open_queue.is_empty()
        {
            // Dropping the last SendRequest lets h2 close once streams end.
            self.core.send_request = None;
        }
        let Some(conn) = self.h2.as_mut() else {
            return;
        };
        let waker = self.core.plumbing.conn_waker_handle.clone();
        let mut cx = Context::from_waker(&waker);
        match Pin::new(conn).poll(&mut cx) {
            Poll::Ready(Ok(())) => {
                self.core.check_goaway();
                self.h2 = None;
                // h2 ends "cleanly" at EOF; with calls still open the peer
                // vanished.
                let vanished = self.core.plumbing.peer_eof && self.core.has_unfinished_calls();
                self.core.pending_close =
                    Some(vanished.then_some(ConnectionError::TransportClosed));
            }
            Poll::Ready(Err(err)) => {
                self.core.check_goaway();
                self.h2 = None;
                let error = match (ConnectionError::from_h2(&err), &self.core.goaway) {
                    (ConnectionError::GoAway { code, .. }, Some((_, debug_data))) => {
                        ConnectionError::GoAway {
                            code,
                            debug_data: debug_data.clone(),
                        }
                    }
                    (error, _) => error,
                };
                self.core.pending_close = Some(Some(error));
            }
            Poll::Pending => self.core.check_goaway(),
        }
    }
}

impl ClientCore {
    /// Has the next drive service `call` (after a command changed it), so
    /// that several commands are handed to h2 together: a message followed by
    /// a half-close goes out as one DATA frame with END_STREAM.
    fn schedule(&mut self, call: CallId) {
        if let Some(c) = self.calls.get(call) {
            c.wake.wake();
        }
        self.plumbing.request_drive();
    }

    fn sendable_call(&mut self, call: CallId) -> Result<&mut ClientCall, SendError> {
        let c = match self.calls.get_mut(call) {
            Some(c) if !matches!(c.phase, Phase::Done) && c.outbound.is_open() => c,
            _ => return Err(SendError::Closed),
        };
        if !c.outbound.check_ready() {
            return Err(SendError::NotReady);
        }
        Ok(c)
    }

    fn has_unfinished_calls(&self) -> bool {
        self.calls.values().any(|c| !matches!(c.phase, Phase::Done))
    }

    /// The waker h2 should wake when the next stream may open.
    fn open_waker(&self) -> Waker {
        self.last_opened
            .and_then(|id| self.calls.get(id))
            .map_or_else(
                || self.plumbing.conn_waker_handle.clone(),
                |c| c.wake.waker().clone(),
            )
    }

    /// Opens streams for queued calls while h2 has room.
    fn try_open(&mut self) {
        while let Some(&id) = self.open_queue.front() {
            let waker = self.open_waker();
            let Some(send_request) = self.send_request.as_mut() else {
                return;
            };
            if self.open_streams >= send_request.current_max_send_streams() {
                // A slot frees when a call ends; the drive retries then.
                return;
            }
            let mut cx = Context::from_waker(&waker);
            match send_request.poll_ready(&mut cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(err)) => {
                    self.refuse_new_calls(&err);
                    return;
                }
                Poll::Pending => return,
            }
            self.open_queue.pop_front();
            let Some(c) = self.calls.get_mut(id) else {
                continue;
            };
            let mut request = match std::mem::replace(&mut c.phase, Phase::Done) {
                Phase::Queued(request) => request,
                other => {
                    c.phase = other;
                    continue;
                }
            };
            // The call may have waited for a slot: the timeout sent is what is
            // left of the deadline now.
            if let Some(deadline) = c.deadline {
                let left = deadline.saturating_duration_since(self.plumbing.now);
                if let Ok(value) = HeaderValue::from_bytes(format_timeout(left).as_bytes()) {
                    request.headers_mut().insert(GRPC_TIMEOUT, value);
                }
            }
            // A request with no message and already half-closed is one
            // HEADERS frame with END_STREAM.
            let end_stream = c.outbound.is_closed_and_empty();
            match send_request.send_request(*request, end_stream) {
                Ok((response, send)) => {
                    if end_stream {
                        c.outbound.mark_end_sent();
                    }
                    self.open_streams += 1;
                    c.phase = Phase::Open {
                        response: Some(response),
                        send,
                    };
                    self.last_opened = Some(id);
                    self.service(id);
                }
                Err(err) => {
                    let status = status_for_stream_error(&err);
                    self.finish_call(id, status, MetadataMap::new(), false);
                }
            }
        }
    }

    /// The connection refuses new streams (GOAWAY, or closed): queued calls
    /// fail with `UNAVAILABLE` (nothing was sent; safe to retry elsewhere).
    fn refuse_new_calls(&mut self, err: &h2::Error) {
        self.note_goaway(err);
        if self.phase == ConnPhase::Open {
            self.phase = ConnPhase::Draining;
        }
        let status = Status::unavailable(format!(
            "the connection stopped accepting calls before this one was sent: {err}"
        ));
        while let Some(id) = self.open_queue.pop_front() {
            self.finish_call(id, status.clone(), MetadataMap::new(), false);
        }
    }

    fn note_goaway(&mut self, err: &h2::Error) {
        if err.is_go_away() && err.is_remote() && self.goaway.is_none() {
            // Prefer the frame as captured: it has the debug data.
            let captured = self.tap.lock().take_goaway();
            match captured {
                Some(goaway) => {
                    self.report_goaway(ErrorCode::from_u32(goaway.code), goaway.debug_data);
                }
                None => {
                    let code = err
                        .reason()
                        .map_or(ErrorCode::NO_ERROR, ErrorCode::from_reason);
                    self.report_goaway(code, Bytes::new());
                }
            }
        }
    }

    fn report_goaway(&mut self, code: ErrorCode, debug_data: Bytes) {
        if self.phase == ConnPhase::Open {
            self.phase = ConnPhase::Draining;
        }
        // Calls still waiting for a stream slot were never sent: they fail
        // now, retryable elsewhere, rather than wait for a slot that an
        // ending connection may never free.
        let status = Status::unavailable(format!(
            "the server sent GOAWAY ({code}) before this call was sent"
        ));
        while let Some(id) = self.open_queue.pop_front() {
            self.finish_call(id, status.clone(), MetadataMap::new(), false);
        }
        if self.goaway.is_none() {
            self.goaway = Some((code, debug_data.clone()));
            self.events
                .push_back(ClientEvent::GoAway { code, debug_data });
        }
    }

    /// Feeds what the tap saw to keepalive; notices a GOAWAY.
    fn observe_tap(&mut self) {
        let now = self.plumbing.now;
        let (activity, goaway) = {
            let mut tap = self.tap.lock();
            tap.pings = 0;
            (std::mem::take(&mut tap.activity), tap.take_goaway())
        };
        if let Some(goaway) = goaway {
            self.report_goaway(ErrorCode::from_u32(goaway.code), goaway.debug_data);
        }
        let active = self.calls.len();
        if let Some(keepalive) = self.keepalive.as_mut() {
            keepalive.set_active_calls(active);
            if activity {
                keepalive.on_activity(now);
            }
            if let Some(ping_pong) = self.ping_pong.as_mut() {
                let waker = self.plumbing.conn_waker_handle.clone();
                if let Poll::Ready(Ok(_)) = ping_pong.poll_pong(&mut Context::from_waker(&waker)) {
                    keepalive.on_pong(now);
                }
            }
        }
    }

    /// Notices a GOAWAY h2 has processed (h2 reports it through `poll_ready`).
    fn check_goaway(&mut self) {
        if self.phase != ConnPhase::Open {
            return;
        }
        let waker = self.open_waker();
        let Some(send_request) = self.send_request.as_mut() else {
            return;
        };
        let mut cx = Context::from_waker(&waker);
        if let Poll::Ready(Err(err)) = send_request.poll_ready(&mut cx) {
            self.refuse_new_calls(&err);
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

    fn service(&mut self, id: CallId) {
        let accept = self.config.accept_encodings;
        let max_recv = self.config.limits.max_recv_message_size;
        let Some(c) = self.calls.get_mut(id) else {
            return;
        };
        c.wake.rearm();
        let waker = c.wake.waker().clone();
        let mut cx = Context::from_waker(&waker);
        let Phase::Open { response, .. } = &mut c.phase else {
            return;
        };
        if let Some(future) = response {
            match Pin::new(future).poll(&mut cx) {
                Poll::Ready(Ok(res)) => {
                    *response = None;
                    let (parts, body) = res.into_parts();
                    let end_stream = body.is_end_stream();
                    if let Some(value) = parts.headers.get(GRPC_ACCEPT_ENCODING) {
                        self.server_accepts = Some(EncodingSet::parse(value.as_bytes()));
                    }
                    match classify_response(&parts, end_stream, accept) {
                        ResponseStart::Headers { metadata, encoding } => {
                            c.inbound = Inbound::new(body, encoding, max_recv);
                            self.events
                                .push_back(ClientEvent::Headers { call: id, metadata });
                        }
                        ResponseStart::Finished { status, metadata } => {
                            let reset = (!end_stream).then_some(ErrorCode::CANCEL);
                            self.finish_with(id, status, metadata, false, reset);
                            return;
                        }
                    }
                }
                Poll::Ready(Err(err)) => {
                    let status = status_for_stream_error(&err);
                    self.finish_call(id, status, MetadataMap::new(), false);
                    return;
                }
                Poll::Pending => {}
            }
        }
        let Some(c) = self.calls.get_mut(id) else {
            return;
        };
        let Phase::Open { response, send } = &mut c.phase else {
            return;
        };
        if response.is_none() {
            match c.inbound.pull(&mut cx) {
                Ok(_) if c.inbound.is_finished() => {
                    let readable = c.inbound.has_message();
                    let (status, trailers) = match c.inbound.take_trailers() {
                        Some(block) => status_from_trailers(&block),
                        None => (
                            Status::internal("the server ended the response without trailers"),
                            MetadataMap::new(),
                        ),
                    };
                    if readable {
                        self.events.push_back(ClientEvent::Readable { call: id });
                    }
                    self.finish_call(id, status, trailers, true);
                    return;
                }
                Ok(true) => self.events.push_back(ClientEvent::Readable { call: id }),
                Ok(false) => {}
                Err(InboundError::Stream(err)) => {
                    let status = status_for_stream_error(&err);
                    self.finish_call(id, status, MetadataMap::new(), false);
                    return;
                }
                Err(InboundError::Frame(err)) => {
                    self.fail_call(id, err.into(), Some(ErrorCode::CANCEL));
                    return;
                }
            }
        }
        if c.outbound.flush(send, &mut cx).is_err() {
            // The server stopped reading the request (it answered early or
            // reset the stream); the response side reports the outcome.
            c.outbound.discard();
        }
        if c.outbound.take_writable() {
            self.events.push_back(ClientEvent::Writable { call: id });
        }
    }

    /// Reports the call finished; `keep_messages` leaves received messages
    /// readable (a status from trailers), otherwise they are discarded.
    fn finish_call(
        &mut self,
        id: CallId,
        status: Status,
        trailers: MetadataMap,
        keep_messages: bool,
    ) {
        self.finish_with(id, status, trailers, keep_messages, None);
    }

    /// Ends a call on the engine's initiative (a limit, a decode failure, the
    /// deadline): resets the stream with `reset` and reports `status`.
    fn fail_call(&mut self, id: CallId, status: Status, reset: Option<ErrorCode>) {
        self.finish_with(id, status, MetadataMap::new(), false, reset);
    }

    fn finish_with(
        &mut self,
        id: CallId,
        status: Status,
        trailers: MetadataMap,
        keep_messages: bool,
        reset: Option<ErrorCode>,
    ) {
        let Some(c) = self.calls.get_mut(id) else {
            return;
        };
        if matches!(c.phase, Phase::Done) {
            return;
        }
        if let (Phase::Open { send, .. }, Some(code)) = (&mut c.phase, reset) {
            send.send_reset(code.to_reason());
        }
        if matches!(c.phase, Phase::Open { .. }) {
            self.open_streams = self.open_streams.saturating_sub(1);
        }
        c.phase = Phase::Done;
        c.outbound.discard();
        if !keep_messages {
            c.inbound.discard();
        }
        let drained = !c.inbound.has_message();
        self.events.push_back(ClientEvent::Finished {
            call: id,
            status,
            trailers,
        });
        if drained {
            self.calls.remove(id);
        }
        self.plumbing.request_drive();
    }

    fn deadline_passed(&mut self, id: CallId, at: Instant) {
        match self.calls.get(id) {
            Some(c) if c.deadline == Some(at) && !matches!(c.phase, Phase::Done) => {}
            _ => return,
        }
        self.open_queue.retain(|&q| q != id);
        self.fail_call(
            id,
            Status::deadline_exceeded("deadline exceeded"),
            Some(ErrorCode::CANCEL),
        );
    }

    fn connection_closed(&mut self, error: Option<ConnectionError>) {
        self.phase = ConnPhase::Closed;
        self.send_request = None;
        if self.error.is_none() {
            self.error = error;
        }
        let status = match &self.error {
            Some(err) => err.to_status(),
            None => Status::unavailable("connection closed"),
        };
        self.open_queue.clear();
        for id in self.calls.ids() {
            self.finish_call(id, status.clone(), MetadataMap::new(), false);
        }
    }
}

impl<T> std::fmt::Debug for ClientConnection<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientConnection")
            .field("phase", &self.core.phase)
            .field("calls", &self.core.calls.len())
            .field("error", &self.core.error)
            .finish_non_exhaustive()
    }
}
