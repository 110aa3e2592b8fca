//! The server end: [`ServerSide`]'s hooks and its own commands
//! (`set_send_encoding`, `send_headers`, `finish`). It accepts streams from
//! h2, validates their headers into calls, answers them (headers, messages,
//! trailers, or one Trailers-Only block), enforces the client ping policy
//! and the connection's idle and age limits.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use h2::SendStream;
use h2::server::SendResponse;
use http::HeaderValue;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::Status;
use crate::codec::compression::{Encoding, EncodingSet};
use crate::codec::metadata::MetadataMap;

use super::call_id::CallId;
use super::config::ServerConfig;
use super::connection::{Abort, CallEnd, CallState, Connection, Core, Pulled};
use super::error::{CallError, ConnectionError, ErrorCode, SendError, status_for_reset};
use super::event::ServerEvent;
use super::frame::{ENHANCE_YOUR_CALM, FramesSeen, ReceivedGoAway, TOO_MANY_PINGS, encode_goaway};
use super::headers::{
    self, RequestRules, default_content_type, response_headers, trailers_only, validate_request,
};
use super::keepalive::{ConnectionLifetime, LifetimeAction, PingPolicyState, PingVerdict};
use super::shared::server_builder;
use super::side::{ServerSide, Side, hooks::SideHooks};
use super::stream::{Inbound, Outbound};
use super::tap::Tap;

/// A gRPC server connection: HTTP/2 streams in, gRPC calls out. See
/// [`Connection`] for how to drive it; on top of the commands both ends
/// share, the server answers calls: [`send_headers`](Connection::send_headers)
/// (optional: the first message sends empty headers),
/// [`set_send_encoding`](Connection::set_send_encoding), and
/// [`finish`](Connection::finish) with the status and trailing metadata (a
/// Trailers-Only response when nothing was sent before).
pub type ServerConnection<T = super::MemoryTransport> = Connection<ServerSide, T>;

impl Side for ServerSide {
    type Config = ServerConfig;
    type Event = ServerEvent;
}

/// The h2 end of a server connection.
pub enum ServerH2<T> {
    Handshaking(h2::server::Handshake<Tap<T>, Bytes>),
    Open(h2::server::Connection<Tap<T>, Bytes>),
    Closed,
}

/// What only a server connection keeps.
#[derive(Debug)]
pub struct ServerState {
    rules: RequestRules,
    ping_policy: PingPolicyState,
    /// `None` unless the configuration limits the connection's idle time or
    /// age (the default does not): most connections never need it.
    lifetime: Option<Box<ConnectionLifetime>>,
    /// The highest stream id of a request received (for our own GOAWAY).
    last_stream_id: u32,
}

/// Where the response of a call stands.
#[derive(Debug)]
pub enum ResponseState {
    /// No headers sent yet: a Trailers-Only answer is still possible.
    Pending(SendResponse<Bytes>),
    /// Headers sent; messages and trailers go here.
    Streaming(SendStream<Bytes>),
    /// Nothing more can be sent.
    Closed,
}

/// A server call's own state.
#[derive(Debug)]
pub struct ServerCall {
    response: ResponseState,
    content_type: HeaderValue,
    /// What the client accepts for response messages.
    client_accepts: EncodingSet,
}

type ServerCallState = CallState<ServerCall>;

impl SideHooks for ServerSide {
    type H2<T> = ServerH2<T>;
    type State = ServerState;
    type Call = ServerCall;
    const CLIENT: bool = false;
    const NAME: &'static str = "server";
    const END_OF_STREAM_RELEASES: bool = false;

    fn new_state(config: &ServerConfig, now: Instant) -> ServerState {
        let limited = config.lifetime.max_connection_idle.is_some()
            || config.lifetime.max_connection_age.is_some();
        ServerState {
            rules: RequestRules {
                require_te_trailers: config.require_te_trailers,
                accept_encodings: config.accept_encodings,
            },
            ping_policy: PingPolicyState::default(),
            lifetime: limited.then(|| Box::new(ConnectionLifetime::new(config.lifetime, now))),
            last_stream_id: 0,
        }
    }

    fn start_h2<T>(io: Tap<T>, core: &mut Core<Self>) -> ServerH2<T>
    where
        T: AsyncRead + AsyncWrite + Unpin,
    {
        ServerH2::Handshaking(server_builder(&core.config.limits).handshake(io))
    }

    fn poll_h2<T>(conn: &mut Connection<Self, T>)
    where
        T: AsyncRead + AsyncWrite + Unpin,
    {
        let waker = conn.core.drive.conn_waker_handle.clone();
        let mut cx = Context::from_waker(&waker);
        loop {
            match &mut conn.h2 {
                ServerH2::Handshaking(handshake) => match Pin::new(handshake).poll(&mut cx) {
                    Poll::Ready(Ok(h2)) => conn.h2 = ServerH2::Open(h2),
                    Poll::Ready(Err(err)) => {
                        conn.h2 = ServerH2::Closed;
                        // The handshake only reads the client preface: a
                        // failure there means the bytes are not HTTP/2 (or
                        // the peer left before sending them).
                        let error = match ConnectionError::from_h2(&err) {
                            ConnectionError::TransportClosed => ConnectionError::TransportClosed,
                            _ => ConnectionError::NotHttp2,
                        };
                        conn.core.lifecycle.h2_ended(Some(error));
                        return;
                    }
                    Poll::Pending => {
                        if conn.core.peer_eof() {
                            conn.h2 = ServerH2::Closed;
                            conn.core
                                .lifecycle
                                .h2_ended(Some(ConnectionError::TransportClosed));
                        }
                        return;
                    }
                },
                ServerH2::Open(h2) => {
                    if conn.core.lifecycle.take_drain_for_h2() {
                        h2.graceful_shutdown();
                    }
                    match h2.poll_accept(&mut cx) {
                        Poll::Ready(Some(Ok((request, respond)))) => {
                            conn.core.on_request(request, respond);
                        }
                        Poll::Ready(Some(Err(err))) => {
                            conn.h2 = ServerH2::Closed;
                            conn.core.lifecycle.h2_ended(Some(conn.core.h2_error(&err)));
                            return;
                        }
                        Poll::Ready(None) => {
                            conn.h2 = ServerH2::Closed;
                            // h2 ends "cleanly" at EOF; with calls the
                            // application has not finished, the peer vanished.
                            let vanished = conn.core.peer_eof()
                                && conn.core.calls.values().any(|c| !c.released);
                            conn.core
                                .lifecycle
                                .h2_ended(vanished.then_some(ConnectionError::TransportClosed));
                            return;
                        }
                        Poll::Pending => return,
                    }
                }
                ServerH2::Closed => return,
            }
        }
    }

    fn abort<T>(conn: &mut Connection<Self, T>, abort: Abort)
    where
        T: AsyncRead + AsyncWrite + Unpin,
    {
        let ServerH2::Open(h2) = &mut conn.h2 else {
            // Before the handshake there is nothing to say.
            conn.h2 = ServerH2::Closed;
            return;
        };
        match abort {
            Abort::Hard => conn.h2 = ServerH2::Closed,
            Abort::TooManyPings => {
                // Our GOAWAY (with the debug data h2 cannot send) replaces
                // the one h2 writes for the abrupt shutdown.
                let mut frame = Vec::new();
                encode_goaway(
                    conn.core.side.last_stream_id,
                    ENHANCE_YOUR_CALM,
                    TOO_MANY_PINGS,
                    &mut frame,
                );
                conn.core.tap.lock().seal_with(frame);
                h2.abrupt_shutdown(h2::Reason::ENHANCE_YOUR_CALM);
            }
            Abort::Code(code) => {
                // The resets of the calls that were open go out first: an
                // abrupt shutdown drops the frames streams have queued.
                let waker = conn.core.drive.conn_waker_handle.clone();
                let _ = h2.poll_closed(&mut Context::from_waker(&waker));
                h2.abrupt_shutdown(code.to_reason());
            }
        }
    }

    fn ping_pong<T>(h2: &mut ServerH2<T>) -> Option<h2::PingPong>
    where
        T: AsyncRead + AsyncWrite + Unpin,
    {
        match h2 {
            ServerH2::Open(h2) => h2.ping_pong(),
            _ => None,
        }
    }

    fn service(core: &mut Core<Self>, id: CallId) {
        let Some(c) = core.calls.get_mut(id) else {
            return;
        };
        c.wake.rearm();
        let waker = c.wake.waker().clone();
        let mut cx = Context::from_waker(&waker);
        let mut readable = false;
        if c.ended.is_none() && !c.released {
            match c.pull(&mut cx) {
                Pulled::Nothing => {}
                Pulled::Readable => readable = true,
                Pulled::End(end) => return Self::end_call(core, id, end),
            }
        }
        let reset = match &mut c.side.response {
            ResponseState::Pending(respond) => respond.poll_reset(&mut cx),
            ResponseState::Streaming(stream) => stream.poll_reset(&mut cx),
            ResponseState::Closed => Poll::Pending,
        };
        let gone = match reset {
            Poll::Ready(Ok(reason)) => Some(CallEnd::Gone(status_for_reset(
                ErrorCode::from_reason(reason),
            ))),
            Poll::Ready(Err(err)) => Some(CallEnd::for_stream_error(&err)),
            Poll::Pending => None,
        };
        if let Some(end) = gone {
            return Self::end_call(core, id, end);
        }
        if let ResponseState::Streaming(stream) = &mut c.side.response
            && let Err(err) = c.outbound.flush(stream, &mut cx)
        {
            return Self::end_call(core, id, CallEnd::for_stream_error(&err));
        }
        core.report_io(id, readable);
        core.settle(id);
    }

    fn end_call(core: &mut Core<Self>, id: CallId, end: CallEnd) {
        let end = core.in_connection_terms(end);
        let accept = core.config.accept_encodings;
        let Some(c) = core.calls.get_mut(id) else {
            return;
        };
        if c.ended.is_some() {
            return;
        }
        if c.released {
            // The application is done and the client does not take the
            // rest: give up on it.
            reset(c, ErrorCode::CANCEL);
            core.calls.remove(id);
            return;
        }
        match &end {
            CallEnd::Fail(status) => answer(c, accept, status),
            CallEnd::Cancel(_) => reset(c, ErrorCode::CANCEL),
            CallEnd::Gone(_) | CallEnd::Lost(_) => c.side.response = ResponseState::Closed,
        }
        let status = end.status().clone();
        c.mark_ended(status.clone());
        core.events
            .push_back(ServerEvent::Cancelled { call: id, status });
    }

    fn reset_call(core: &mut Core<Self>, id: CallId) {
        if let Some(c) = core.calls.get_mut(id) {
            reset(c, ErrorCode::CANCEL);
        }
    }

    fn is_call_over(call: &ServerCallState) -> bool {
        matches!(call.side.response, ResponseState::Closed) || call.outbound.is_done()
    }

    fn peer_stream_ended(call: &ServerCallState) -> bool {
        call.inbound.is_finished()
    }

    fn message_queued(core: &mut Core<Self>, id: CallId) -> Result<(), SendError> {
        let accept = core.config.accept_encodings;
        let c = core.calls.get_mut(id).ok_or(SendError::Closed)?;
        if matches!(c.side.response, ResponseState::Pending(_)) {
            send_response_headers(c, accept, &MetadataMap::new())
                .map_err(|e| SendError::Encode(e.to_string()))?;
        }
        Ok(())
    }

    fn on_frames(
        core: &mut Core<Self>,
        received: FramesSeen,
        sent: FramesSeen,
        _: Option<ReceivedGoAway>,
    ) {
        let now = core.now();
        let active = core.calls.len();
        let state = &mut core.side;
        if let Some(lifetime) = state.lifetime.as_mut() {
            lifetime.set_active_calls(active, now);
        }
        if sent.headers_or_data > 0 {
            state.ping_policy.on_data_or_headers_sent();
        }
        for _ in 0..received.pings {
            if state
                .ping_policy
                .on_ping_received(&core.config.ping_policy, now, active)
                == PingVerdict::TooManyPings
            {
                core.lifecycle.fail(ConnectionError::TooManyPings);
                if core.lifecycle.abort(Abort::TooManyPings) {
                    core.drive.request_poll();
                }
                break;
            }
        }
    }

    fn side_timeout(core: &Core<Self>) -> Option<Instant> {
        core.side.lifetime.as_ref().and_then(|l| l.poll_timeout())
    }

    fn handle_side_timeout(core: &mut Core<Self>, now: Instant) {
        let Some(lifetime) = core.side.lifetime.as_mut() else {
            return;
        };
        match lifetime.handle_timeout(now) {
            LifetimeAction::GoAway(_) => {
                if core.lifecycle.drain(true) {
                    core.drive.request_poll();
                }
            }
            LifetimeAction::CloseConnection(_) => {
                core.lifecycle.fail(ConnectionError::LocallyClosed);
                core.lifecycle.abort(Abort::Code(ErrorCode::NO_ERROR));
            }
            LifetimeAction::None => {}
        }
    }
}

impl Core<ServerSide> {
    fn on_request(
        &mut self,
        request: http::Request<h2::RecvStream>,
        mut respond: SendResponse<Bytes>,
    ) {
        let (parts, body) = request.into_parts();
        let now = self.now();
        self.side.last_stream_id = self.side.last_stream_id.max(respond.stream_id().as_u32());
        let head = match validate_request(parts, &self.side.rules, now) {
            Ok(head) => head,
            Err(rejection) => {
                let response = trailers_only(
                    rejection.http_status,
                    &default_content_type(),
                    self.config.accept_encodings,
                    &rejection.status,
                    &MetadataMap::new(),
                );
                let _ = respond.send_response(response, true);
                return;
            }
        };
        let limits = &self.config.limits;
        let drive = &self.drive;
        let inserted = self.calls.insert_with(|id| {
            CallState::new(
                drive.call_wake(id),
                Inbound::new(body, head.encoding(), limits.max_recv_message_size),
                Outbound::new(limits.max_send_buffer_per_call),
                Encoding::Identity,
                head.deadline(),
                ServerCall {
                    response: ResponseState::Pending(respond),
                    content_type: head.content_type().clone(),
                    client_accepts: head.accept_encodings(),
                },
            )
        });
        let Some(id) = inserted else {
            return;
        };
        if let Some(deadline) = head.deadline() {
            self.drive.deadlines.push(deadline, id);
        }
        self.events.push_back(ServerEvent::NewCall {
            call: id,
            request: Box::new(head),
        });
        ServerSide::service(self, id);
    }

    /// A call the application may still answer.
    fn answerable(&mut self, call: CallId) -> Result<&mut ServerCallState, CallError> {
        match self.calls.get_mut(call) {
            Some(c) if !c.released && c.ended.is_none() => Ok(c),
            _ => Err(CallError::Closed),
        }
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> Connection<ServerSide, T> {
    /// Chooses the encoding of the call's response messages. Takes effect if
    /// the client accepts it and headers are not sent yet; returns the
    /// encoding that will be used.
    pub fn set_send_encoding(
        &mut self,
        call: CallId,
        encoding: Encoding,
    ) -> Result<Encoding, CallError> {
        let c = self.core.answerable(call)?;
        if matches!(c.side.response, ResponseState::Pending(_))
            && encoding.is_supported()
            && (encoding == Encoding::Identity || c.side.client_accepts.contains(encoding))
        {
            c.encoding = encoding;
        }
        Ok(c.encoding)
    }

    /// Sends the response headers with `metadata` (initial metadata).
    pub fn send_headers(&mut self, call: CallId, metadata: &MetadataMap) -> Result<(), CallError> {
        let accept = self.core.config.accept_encodings;
        let c = self.core.answerable(call)?;
        if !matches!(c.side.response, ResponseState::Pending(_)) {
            return Err(CallError::HeadersAlreadySent);
        }
        send_response_headers(c, accept, metadata)?;
        self.core.schedule(call);
        Ok(())
    }

    /// Ends the call with `status` and trailing metadata, after the queued
    /// messages; if no headers or messages were sent, this is a
    /// Trailers-Only response. Releases the call: its id is stale
    /// afterwards. A call the engine ended already (its `Cancelled` event)
    /// is released too, and `Err(CallError::Closed)` says nothing was sent.
    ///
    /// `Err(CallError::InvalidMetadata)` when the trailers cannot be encoded
    /// (more entries than a header block holds): then nothing was sent and
    /// the call is unchanged — still readable, still sendable, and still to
    /// be finished. The engine does not replace the application's status
    /// with one of its own; finish again, with trailers that fit (what
    /// core::api does: the same status without the metadata) or with
    /// `INTERNAL`.
    pub fn finish(
        &mut self,
        call: CallId,
        status: Status,
        trailers: &MetadataMap,
    ) -> Result<(), CallError> {
        let accept = self.core.config.accept_encodings;
        match self.core.calls.get(call) {
            Some(c) if !c.released && c.ended.is_none() => {}
            Some(c) if !c.released => {
                self.core.release(call);
                return Err(CallError::Closed);
            }
            _ => return Err(CallError::Closed),
        }
        let c = self.core.answerable(call)?;
        // Everything that can fail comes before the first change to the call.
        let block = headers::trailers(&status, trailers).map_err(CallError::InvalidMetadata)?;
        c.inbound.discard();
        match std::mem::replace(&mut c.side.response, ResponseState::Closed) {
            ResponseState::Pending(mut respond) => {
                let response = trailers_only(200, &c.side.content_type, accept, &status, trailers);
                // A failure means the stream is already gone (reset): the
                // call ends either way.
                let _ = respond.send_response(response, true);
                c.outbound.discard();
            }
            ResponseState::Streaming(stream) => {
                c.side.response = ResponseState::Streaming(stream);
                c.outbound.finish(block);
            }
            ResponseState::Closed => {}
        }
        self.core.schedule(call);
        self.core.release(call);
        Ok(())
    }
}

/// Answers a call with `status`: Trailers-Only if nothing was sent, else
/// trailers (or a reset if even they cannot be encoded).
fn answer(c: &mut ServerCallState, accept: EncodingSet, status: &Status) {
    match std::mem::replace(&mut c.side.response, ResponseState::Closed) {
        ResponseState::Pending(mut respond) => {
            let response = trailers_only(
                200,
                &c.side.content_type,
                accept,
                status,
                &MetadataMap::new(),
            );
            let _ = respond.send_response(response, true);
        }
        ResponseState::Streaming(mut stream) => {
            match headers::trailers(status, &MetadataMap::new()) {
                Ok(block) => {
                    let _ = stream.send_trailers(block);
                }
                Err(_) => stream.send_reset(h2::Reason::INTERNAL_ERROR),
            }
        }
        ResponseState::Closed => {}
    }
}

/// Sends the response headers of a call that has not sent them.
fn send_response_headers(
    c: &mut ServerCallState,
    accept: EncodingSet,
    metadata: &MetadataMap,
) -> Result<(), CallError> {
    let response = response_headers(&c.side.content_type, c.encoding, accept, metadata)
        .map_err(CallError::InvalidMetadata)?;
    if let ResponseState::Pending(mut respond) =
        std::mem::replace(&mut c.side.response, ResponseState::Closed)
    {
        match respond.send_response(response, false) {
            Ok(stream) => c.side.response = ResponseState::Streaming(stream),
            // The stream is gone (reset); the next service reports it.
            Err(_) => c.wake.wake(),
        }
    }
    Ok(())
}

/// Resets a call's stream.
fn reset(c: &mut ServerCallState, code: ErrorCode) {
    match &mut c.side.response {
        ResponseState::Pending(respond) => respond.send_reset(code.to_reason()),
        ResponseState::Streaming(stream) => stream.send_reset(code.to_reason()),
        ResponseState::Closed => {}
    }
    c.side.response = ResponseState::Closed;
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
        let core = std::mem::size_of::<Core<ServerSide>>();
        let whole = std::mem::size_of::<ServerConnection<Box<dyn crate::api::Io>>>();
        assert!(core <= 360, "the server's Core is {core} bytes");
        assert!(whole <= 1672, "ServerConnection is {whole} bytes");
    }

    #[test]
    fn limits_on_lifetime_are_kept_only_when_configured() {
        let now = Instant::now();
        let plain = ServerConnection::new(ServerConfig::default(), now);
        assert!(plain.core.side.lifetime.is_none());
        assert!(
            plain.core.ping_pong.is_none(),
            "taken at the first keepalive PING"
        );
        let mut config = ServerConfig::default();
        config.lifetime.max_connection_age = Some(std::time::Duration::from_secs(5));
        let limited = ServerConnection::new(config, now);
        assert!(limited.core.side.lifetime.is_some());
        assert!(limited.poll_timeout().is_some());
    }
}
