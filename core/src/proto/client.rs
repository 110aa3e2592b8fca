//! The client end: [`ClientSide`]'s hooks and its own commands
//! (`start_call`, `close_send`). It opens a stream per call as the server's
//! concurrent-stream limit allows (calls beyond it wait in a queue, their
//! deadline running), reads the response headers, messages and trailers
//! into the call's outcome, and notices the server's GOAWAY.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::{Pin, pin};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;
use h2::SendStream;
use h2::client::{ResponseFuture, SendRequest};
use http::HeaderValue;
use http::uri::{Authority, Scheme};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::Status;
use crate::codec::compression::{Encoding, EncodingSet, select};
use crate::codec::metadata::MetadataMap;
use crate::codec::timeout::format_timeout;

use super::call_id::CallId;
use super::config::ClientConfig;
use super::connection::{Abort, CallEnd, CallState, Connection, Core, Pulled};
use super::error::{
    CallError, ConnectionError, ErrorCode, SendError, StartCallError, status_for_stream_error,
};
use super::event::ClientEvent;
use super::frame::{FramesSeen, ReceivedGoAway};
use super::headers::{
    GRPC_ACCEPT_ENCODING, GRPC_TIMEOUT, RequestTemplate, ResponseStart, classify_response, request,
    status_from_trailers,
};
use super::path::CallPath;
use super::shared::client_builder;
use super::side::{ClientSide, Side, hooks::SideHooks};
use super::stream::{Inbound, Outbound};
use super::tap::Tap;

/// A gRPC client connection: calls in, HTTP/2 streams out. See
/// [`Connection`] for how to drive it. A call:
///
/// 1. [`start_call`](Connection::start_call) with the method path and
///    [`CallOptions`] (metadata, timeout, compression) returns a
///    [`CallId`]. If the server's concurrent-stream limit is reached the
///    call waits for a slot (its deadline runs meanwhile).
/// 2. [`send_message`](Connection::send_message) any number of times, then
///    [`close_send`](Connection::close_send) (half-close). Both may be
///    called before the stream is open.
/// 3. Events: [`ClientEvent::Headers`] (initial metadata), `Readable` (take
///    messages with [`recv_message`](Connection::recv_message) until it
///    answers `Ok(None)` or an error: that releases the call), and exactly
///    one [`ClientEvent::Finished`] with the status and trailing metadata.
/// 4. [`cancel`](Connection::cancel) at any point resets the stream (CANCEL).
///
/// The deadline is enforced by the engine: when `now` passes it, the call
/// finishes with `DEADLINE_EXCEEDED` and the stream is reset with CANCEL.
pub type ClientConnection<T = super::MemoryTransport> = Connection<ClientSide, T>;

impl Side for ClientSide {
    type Config = ClientConfig;
    type Event = ClientEvent;
}

/// What only a client connection keeps.
#[derive(Debug)]
pub struct ClientState {
    template: RequestTemplate,
    send_request: Option<SendRequest<Bytes>>,
    /// Calls waiting for a stream slot, in order.
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
    /// The GOAWAY the server sent, as captured on the wire.
    goaway: Option<(ErrorCode, Bytes)>,
}

/// Where a client call's HTTP/2 stream stands.
pub enum StreamPhase {
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

impl std::fmt::Debug for StreamPhase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StreamPhase::Queued(_) => "Queued",
            StreamPhase::Open { .. } => "Open",
            StreamPhase::Done => "Done",
        })
    }
}

type ClientCallState = CallState<StreamPhase>;

/// Per-call options for [`start_call`](Connection::start_call).
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

impl SideHooks for ClientSide {
    type H2<T> = Option<h2::client::Connection<Tap<T>, Bytes>>;
    type State = ClientState;
    type Call = StreamPhase;
    const CLIENT: bool = true;
    const NAME: &'static str = "client";
    const END_OF_STREAM_RELEASES: bool = true;

    fn new_state(config: &ClientConfig, _now: Instant) -> ClientState {
        ClientState {
            template: RequestTemplate {
                scheme: Scheme::try_from(config.scheme.as_str()).unwrap_or(Scheme::HTTP),
                authority: Authority::try_from(config.authority.as_str())
                    .unwrap_or_else(|_| Authority::from_static("localhost")),
                user_agent: HeaderValue::try_from(config.user_agent.as_str())
                    .unwrap_or_else(|_| HeaderValue::from_static("ferrule")),
                accept_encodings: config.accept_encodings,
            },
            send_request: None,
            open_queue: VecDeque::new(),
            last_opened: None,
            server_accepts: None,
            open_streams: 0,
            goaway: None,
        }
    }

    fn start_h2<T>(io: Tap<T>, core: &mut Core<Self>) -> Self::H2<T>
    where
        T: AsyncRead + AsyncWrite + Unpin,
    {
        // The handshake only writes the preface, which the tap accepts at
        // once, so it completes on this first poll.
        let handshake = client_builder(&core.config.limits).handshake::<_, Bytes>(io);
        let mut handshake = pin!(handshake);
        match handshake
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
        {
            Poll::Ready(Ok((send_request, h2))) => {
                core.side.send_request = Some(send_request);
                Some(h2)
            }
            Poll::Ready(Err(err)) => {
                core.lifecycle
                    .h2_ended(Some(ConnectionError::from_h2(&err)));
                None
            }
            Poll::Pending => {
                core.lifecycle
                    .h2_ended(Some(ConnectionError::LocallyClosed));
                None
            }
        }
    }

    fn poll_h2<T>(conn: &mut Connection<Self, T>)
    where
        T: AsyncRead + AsyncWrite + Unpin,
    {
        let core = &mut conn.core;
        if !core.lifecycle.accepts_calls() && core.side.open_queue.is_empty() {
            // Dropping the last SendRequest lets h2 close once streams end.
            core.side.send_request = None;
        }
        let Some(h2) = conn.h2.as_mut() else {
            return;
        };
        let waker = core.drive.conn_waker_handle.clone();
        match Pin::new(h2).poll(&mut Context::from_waker(&waker)) {
            Poll::Ready(Ok(())) => {
                core.check_goaway();
                conn.h2 = None;
                // h2 ends "cleanly" at EOF; with calls still open the peer
                // vanished.
                let vanished = core.peer_eof()
                    && core
                        .calls
                        .values()
                        .any(|c| !matches!(c.side, StreamPhase::Done));
                core.lifecycle
                    .h2_ended(vanished.then_some(ConnectionError::TransportClosed));
            }
            Poll::Ready(Err(err)) => {
                core.check_goaway();
                conn.h2 = None;
                let error = match (core.h2_error(&err), &core.side.goaway) {
                    (ConnectionError::GoAway { code, .. }, Some((_, debug_data))) => {
                        ConnectionError::GoAway {
                            code,
                            debug_data: debug_data.clone(),
                        }
                    }
                    (error, _) => error,
                };
                core.lifecycle.h2_ended(Some(error));
            }
            Poll::Pending => core.check_goaway(),
        }
    }

    fn abort<T>(conn: &mut Connection<Self, T>, abort: Abort)
    where
        T: AsyncRead + AsyncWrite + Unpin,
    {
        conn.core.side.send_request = None;
        conn.core.side.open_queue.clear();
        if let (Abort::Code(_), Some(h2)) = (abort, conn.h2.as_mut()) {
            // Writes the resets of the calls that were open and, with no
            // stream or handle left, h2's GOAWAY (h2's client sends no other
            // code than NO_ERROR).
            let waker = conn.core.drive.conn_waker_handle.clone();
            let _ = Pin::new(h2).poll(&mut Context::from_waker(&waker));
        }
        conn.h2 = None;
    }

    fn ping_pong<T>(h2: &mut Self::H2<T>) -> Option<h2::PingPong>
    where
        T: AsyncRead + AsyncWrite + Unpin,
    {
        h2.as_mut().and_then(h2::client::Connection::ping_pong)
    }

    fn service(core: &mut Core<Self>, id: CallId) {
        let accept = core.config.accept_encodings;
        let max_recv = core.config.limits.max_recv_message_size;
        let Some(c) = core.calls.get_mut(id) else {
            return;
        };
        c.wake.rearm();
        let waker = c.wake.waker().clone();
        let mut cx = Context::from_waker(&waker);
        let StreamPhase::Open { response, .. } = &mut c.side else {
            return;
        };
        if let Some(future) = response {
            match Pin::new(future).poll(&mut cx) {
                Poll::Ready(Ok(res)) => {
                    *response = None;
                    let (parts, body) = res.into_parts();
                    let end_stream = body.is_end_stream();
                    if let Some(value) = parts.headers.get(GRPC_ACCEPT_ENCODING) {
                        core.side.server_accepts = Some(EncodingSet::parse(value.as_bytes()));
                    }
                    match classify_response(&parts, end_stream, accept) {
                        ResponseStart::Headers { metadata, encoding } => {
                            c.inbound = Inbound::new(body, encoding, max_recv);
                            core.events
                                .push_back(ClientEvent::Headers { call: id, metadata });
                        }
                        ResponseStart::Finished { status, metadata } => {
                            let reset = !end_stream;
                            return core.finish(id, status, metadata, reset);
                        }
                    }
                }
                Poll::Ready(Err(err)) => {
                    return Self::end_call(core, id, CallEnd::for_stream_error(&err));
                }
                Poll::Pending => {}
            }
        }
        let Some(c) = core.calls.get_mut(id) else {
            return;
        };
        let mut readable = false;
        if matches!(c.side, StreamPhase::Open { response: None, .. }) {
            match c.pull(&mut cx) {
                Pulled::End(end) => return Self::end_call(core, id, end),
                Pulled::Readable => readable = true,
                Pulled::Nothing => {}
            }
            if c.inbound.is_finished() {
                let (status, trailers) = match c.inbound.take_trailers() {
                    Some(block) => status_from_trailers(&block),
                    None => (
                        Status::internal("the server ended the response without trailers"),
                        MetadataMap::new(),
                    ),
                };
                if c.inbound.has_message() {
                    core.events.push_back(ClientEvent::Readable { call: id });
                }
                return core.finish(id, status, trailers, false);
            }
        }
        let StreamPhase::Open { send, .. } = &mut c.side else {
            return;
        };
        if c.outbound.flush(send, &mut cx).is_err() {
            // The server stopped reading the request (it answered early or
            // reset the stream); the response side reports the outcome.
            c.outbound.discard();
        }
        core.report_io(id, readable);
    }

    fn after_round(core: &mut Core<Self>) {
        if !core.side.open_queue.is_empty() {
            core.try_open();
        }
    }

    fn end_call(core: &mut Core<Self>, id: CallId, end: CallEnd) {
        let end = core.in_connection_terms(end);
        let Some(c) = core.calls.get_mut(id) else {
            return;
        };
        if matches!(c.side, StreamPhase::Done) {
            return;
        }
        let reset = !matches!(end, CallEnd::Gone(_) | CallEnd::Lost(_));
        core.close_stream(id, reset);
        let status = end.status().clone();
        core.report_end(id, status);
    }

    fn reset_call(core: &mut Core<Self>, id: CallId) {
        core.close_stream(id, true);
    }

    fn is_call_over(call: &ClientCallState) -> bool {
        matches!(call.side, StreamPhase::Done)
    }

    fn peer_stream_ended(call: &ClientCallState) -> bool {
        matches!(call.side, StreamPhase::Done)
    }

    fn message_queued(_core: &mut Core<Self>, _id: CallId) -> Result<(), SendError> {
        Ok(())
    }

    fn on_frames(
        core: &mut Core<Self>,
        _received: FramesSeen,
        _sent: FramesSeen,
        goaway: Option<ReceivedGoAway>,
    ) {
        if let Some(goaway) = goaway {
            core.report_goaway(ErrorCode::from_u32(goaway.code), goaway.debug_data);
        }
    }
}

impl Core<ClientSide> {
    /// Ends a call's stream (resetting it with CANCEL if `reset`) and frees
    /// its stream slot or its place in the queue.
    fn close_stream(&mut self, id: CallId, reset: bool) {
        let Some(c) = self.calls.get_mut(id) else {
            return;
        };
        match std::mem::replace(&mut c.side, StreamPhase::Done) {
            StreamPhase::Open { mut send, .. } => {
                if reset {
                    send.send_reset(h2::Reason::CANCEL);
                }
                self.side.open_streams = self.side.open_streams.saturating_sub(1);
            }
            StreamPhase::Queued(_) => self.side.open_queue.retain(|&q| q != id),
            StreamPhase::Done => {}
        }
    }

    /// The engine ended the call (its stream closed already) with `status`:
    /// the `Finished` event, unless the application let go of it.
    fn report_end(&mut self, id: CallId, status: Status) {
        let Some(c) = self.calls.get_mut(id) else {
            return;
        };
        c.mark_ended(status.clone());
        if c.released {
            self.calls.remove(id);
        } else {
            self.events.push_back(ClientEvent::Finished {
                call: id,
                status,
                trailers: MetadataMap::new(),
            });
        }
        self.drive.request_drive();
    }

    /// The call is over with the server's answer: `status` and `trailers`
    /// (from its trailers, or a Trailers-Only response); messages received
    /// stay readable. `reset`: the stream is still open and must be reset.
    fn finish(&mut self, id: CallId, status: Status, trailers: MetadataMap, reset: bool) {
        self.close_stream(id, reset);
        if let Some(c) = self.calls.get_mut(id) {
            c.outbound.discard();
        }
        self.events.push_back(ClientEvent::Finished {
            call: id,
            status,
            trailers,
        });
        self.settle(id);
        self.drive.request_drive();
    }

    /// The waker h2 should wake when the next stream may open.
    fn open_waker(&self) -> Waker {
        self.side
            .last_opened
            .and_then(|id| self.calls.get(id))
            .map_or_else(
                || self.drive.conn_waker_handle.clone(),
                |c| c.wake.waker().clone(),
            )
    }

    /// Opens streams for queued calls while h2 has room.
    fn try_open(&mut self) {
        while let Some(&id) = self.side.open_queue.front() {
            let waker = self.open_waker();
            let Some(send_request) = self.side.send_request.as_mut() else {
                return;
            };
            if self.side.open_streams >= send_request.current_max_send_streams() {
                // A slot frees when a call ends; the drive retries then.
                return;
            }
            match send_request.poll_ready(&mut Context::from_waker(&waker)) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(err)) => {
                    self.refuse_new_calls(&err);
                    return;
                }
                Poll::Pending => return,
            }
            self.side.open_queue.pop_front();
            let Some(c) = self.calls.get_mut(id) else {
                continue;
            };
            let mut request = match std::mem::replace(&mut c.side, StreamPhase::Done) {
                StreamPhase::Queued(request) => request,
                other => {
                    c.side = other;
                    continue;
                }
            };
            // The call may have waited for a slot: the timeout sent is what is
            // left of the deadline now.
            if let Some(deadline) = c.deadline {
                let left = deadline.saturating_duration_since(self.drive.now);
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
                    self.side.open_streams += 1;
                    c.side = StreamPhase::Open {
                        response: Some(response),
                        send,
                    };
                    self.side.last_opened = Some(id);
                    ClientSide::service(self, id);
                }
                Err(err) => self.report_end(id, status_for_stream_error(&err)),
            }
        }
    }

    /// The connection refuses new streams (GOAWAY, or closed): queued calls
    /// fail with `UNAVAILABLE` (nothing was sent; safe to retry elsewhere).
    fn refuse_new_calls(&mut self, err: &h2::Error) {
        self.note_goaway(err);
        self.lifecycle.drain(false);
        let status = Status::unavailable(format!(
            "the connection stopped accepting calls before this one was sent: {err}"
        ));
        self.fail_queued(&status);
    }

    fn fail_queued(&mut self, status: &Status) {
        while let Some(id) = self.side.open_queue.pop_front() {
            ClientSide::end_call(self, id, CallEnd::Gone(status.clone()));
        }
    }

    fn note_goaway(&mut self, err: &h2::Error) {
        if err.is_go_away() && err.is_remote() && self.side.goaway.is_none() {
            // Prefer the frame as captured: it has the debug data.
            let captured = self.tap.lock().take_goaway();
            match captured {
                Some(goaway) => {
                    self.report_goaway(ErrorCode::from_u32(goaway.code), goaway.debug_data)
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
        self.lifecycle.drain(false);
        // Calls still waiting for a stream slot were never sent: they fail
        // now, retryable elsewhere, rather than wait for a slot that an
        // ending connection may never free.
        let status = Status::unavailable(format!(
            "the server sent GOAWAY ({code}) before this call was sent"
        ));
        self.fail_queued(&status);
        if self.side.goaway.is_none() {
            self.side.goaway = Some((code, debug_data.clone()));
            self.events
                .push_back(ClientEvent::GoAway { code, debug_data });
        }
    }

    /// Notices a GOAWAY h2 has processed (h2 reports it through `poll_ready`).
    fn check_goaway(&mut self) {
        if !self.lifecycle.accepts_calls() {
            return;
        }
        let waker = self.open_waker();
        let Some(send_request) = self.side.send_request.as_mut() else {
            return;
        };
        if let Poll::Ready(Err(err)) = send_request.poll_ready(&mut Context::from_waker(&waker)) {
            self.refuse_new_calls(&err);
        }
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> Connection<ClientSide, T> {
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
        let now = self.core.drive.advance(now);
        if !self.core.lifecycle.accepts_calls() {
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
        let core = &mut self.core;
        let encoding = select(
            core.config.accept_encodings,
            core.side.server_accepts,
            options.encoding,
        );
        let timeout = deadline.map(|d| d.saturating_duration_since(now));
        let request = request(
            &core.side.template,
            path,
            &options.metadata,
            timeout,
            encoding,
        )
        .map_err(StartCallError::InvalidMetadata)?;
        let limits = &core.config.limits;
        let drive = &core.drive;
        let id = core
            .calls
            .insert_with(|id| {
                CallState::new(
                    drive.call_wake(id),
                    Inbound::closed(),
                    Outbound::new(limits.max_send_buffer_per_call),
                    encoding,
                    deadline,
                    StreamPhase::Queued(Box::new(request)),
                )
            })
            .ok_or(StartCallError::ConnectionClosed)?;
        match deadline {
            Some(at) if at <= now => {
                let status = Status::deadline_exceeded("deadline exceeded before the call started");
                ClientSide::end_call(core, id, CallEnd::Gone(status));
                return Ok(id);
            }
            Some(at) => core.drive.deadlines.push(at, id),
            None => {}
        }
        // Opened by the next drive, so that commands issued meanwhile
        // (messages, half-close) leave with the headers.
        core.side.open_queue.push_back(id);
        core.drive.request_drive();
        Ok(id)
    }

    /// Half-closes the call: no more request messages (END_STREAM after the
    /// queued ones).
    pub fn close_send(&mut self, call: CallId) -> Result<(), CallError> {
        match self.core.calls.get_mut(call) {
            Some(c) if !c.released && c.ended.is_none() && !matches!(c.side, StreamPhase::Done) => {
                c.outbound.close();
            }
            _ => return Err(CallError::Closed),
        }
        self.core.schedule(call);
        Ok(())
    }

    /// Whether new calls can be started.
    pub fn is_accepting_calls(&self) -> bool {
        self.core.lifecycle.accepts_calls()
    }
}
