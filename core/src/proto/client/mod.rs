//! The client side: [`ClientConnection`], by concern: this module has the
//! connection (construction, input and output, events, timers, getters,
//! shutdown); `call` a call's options and state, the per-call commands
//! and how the engine moves a call forward; `drive` the drive loop over
//! h2, opening streams as the server's limit allows, and GOAWAY.

mod call;
mod drive;

use std::collections::VecDeque;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use bytes::Bytes;
use h2::client::SendRequest;
use http::HeaderValue;
use http::uri::{Authority, Scheme};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::Status;
use crate::codec::compression::EncodingSet;
use crate::proto::call_id::{CallId, CallSlab};
use crate::proto::config::ClientConfig;
use crate::proto::driver::{Plumbing, client_builder};
use crate::proto::error::{ConnectionError, ErrorCode};
use crate::proto::event::ClientEvent;
use crate::proto::headers::RequestTemplate;
use crate::proto::keepalive::{KeepaliveAction, KeepaliveTimer};
use crate::proto::tap::{Tap, TapHandle, TapState};
use crate::proto::transport::MemoryTransport;

pub use call::CallOptions;
use call::ClientCall;

/// Connection lifecycle.
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
            plumbing: Plumbing::new(memory, now, &tap),
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
