//! A client call: its options, its state in the engine, the commands the
//! application gives it, and how the engine moves it forward (response
//! headers, messages and trailers read, requests flushed, the outcome
//! reported).

use std::fmt::Display;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use h2::SendStream;
use h2::client::ResponseFuture;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::Status;
use crate::codec::compression::{Encoding, EncodingSet, select};
use crate::codec::metadata::MetadataMap;
use crate::proto::call_id::CallId;
use crate::proto::error::{
    CallError, ErrorCode, RecvError, SendError, StartCallError, status_for_stream_error,
};
use crate::proto::event::ClientEvent;
use crate::proto::headers::{
    GRPC_ACCEPT_ENCODING, ResponseStart, classify_response, request, status_from_trailers,
};
use crate::proto::message::{ReceivedMessage, SendOptions, frame_bytes, frame_with, framed_len};
use crate::proto::path::CallPath;
use crate::proto::stream::{Inbound, InboundError, Outbound};
use crate::proto::wake::CallWake;

use super::{ClientConnection, ClientCore, ConnPhase};

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
pub(super) enum Phase {
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

/// A call's state in the engine.
pub(super) struct ClientCall {
    pub(super) wake: CallWake,
    pub(super) phase: Phase,
    pub(super) inbound: Inbound,
    pub(super) outbound: Outbound,
    pub(super) encoding: Encoding,
    pub(super) deadline: Option<Instant>,
}

impl<T: AsyncRead + AsyncWrite + Unpin> ClientConnection<T> {
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
        self.send_message_options(call, message, SendOptions::default())
    }

    /// [`send_message`](Self::send_message) with per-message `options`
    /// (whether to compress it).
    pub fn send_message_options(
        &mut self,
        call: CallId,
        message: Bytes,
        options: SendOptions,
    ) -> Result<(), SendError> {
        let max = self.core.config.limits.max_send_message_size;
        let c = self.core.sendable_call(call)?;
        let encoding = options.encoding(c.encoding);
        c.outbound
            .push_with(framed_len(message.len(), encoding), |dst| {
                frame_bytes(message, encoding, max, dst)
            })?;
        self.core.schedule(call);
        Ok(())
    }

    /// Queues a request message written in place by `encode` (append only).
    pub fn send_message_with<E, F>(&mut self, call: CallId, encode: F) -> Result<(), SendError>
    where
        E: Display,
        F: FnOnce(&mut BytesMut) -> Result<(), E>,
    {
        self.send_message_with_options(call, SendOptions::default(), encode)
    }

    /// [`send_message_with`](Self::send_message_with) with per-message
    /// `options` (whether to compress it).
    pub fn send_message_with_options<E, F>(
        &mut self,
        call: CallId,
        options: SendOptions,
        encode: F,
    ) -> Result<(), SendError>
    where
        E: Display,
        F: FnOnce(&mut BytesMut) -> Result<(), E>,
    {
        let max = self.core.config.limits.max_send_message_size;
        let c = self.core.sendable_call(call)?;
        let encoding = options.encoding(c.encoding);
        c.outbound
            .push_with(options.framed_len_hint(encoding), |dst| {
                frame_with(encoding, max, dst, encode).map(|()| None)
            })?;
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
        Ok(self.recv_message_flagged(call)?.map(|m| m.data))
    }

    /// [`recv_message`](Self::recv_message), also telling whether the
    /// message arrived compressed.
    pub fn recv_message_flagged(
        &mut self,
        call: CallId,
    ) -> Result<Option<ReceivedMessage>, RecvError> {
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
}

impl ClientCore {
    /// Has the next drive service `call` (after a command changed it), so
    /// that several commands are handed to h2 together: a message followed by
    /// a half-close goes out as one DATA frame with END_STREAM.
    pub(super) fn schedule(&mut self, call: CallId) {
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

    pub(super) fn service(&mut self, id: CallId) {
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
    pub(super) fn finish_call(
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
    pub(super) fn fail_call(&mut self, id: CallId, status: Status, reset: Option<ErrorCode>) {
        self.finish_with(id, status, MetadataMap::new(), false, reset);
    }

    pub(super) fn finish_with(
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

    pub(super) fn deadline_passed(&mut self, id: CallId, at: Instant) {
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
}
