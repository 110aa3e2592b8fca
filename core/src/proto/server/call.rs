//! A server call: its state in the engine, the commands the application
//! gives it, and how the engine moves it forward (input pulled, resets
//! noticed, output flushed).

use std::fmt::Display;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use h2::SendStream;
use h2::server::SendResponse;
use http::HeaderValue;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::Status;
use crate::codec::compression::{Encoding, EncodingSet};
use crate::codec::metadata::MetadataMap;
use crate::proto::call_id::CallId;
use crate::proto::error::{
    CallError, ErrorCode, RecvError, SendError, status_for_reset, status_for_stream_error,
};
use crate::proto::event::ServerEvent;
use crate::proto::headers::{self, response_headers, trailers_only};
use crate::proto::message::{ReceivedMessage, SendOptions, frame_bytes, frame_with, framed_len};
use crate::proto::stream::{Inbound, InboundError, Outbound};
use crate::proto::wake::CallWake;

use super::{ServerConnection, ServerCore};

/// Where the response of a call stands.
#[derive(Debug)]
pub(super) enum Response {
    /// No headers sent yet: a Trailers-Only answer is still possible.
    Pending(SendResponse<Bytes>),
    /// Headers sent; messages and trailers go here.
    Streaming(SendStream<Bytes>),
    /// Nothing more can be sent.
    Closed,
}

/// A call's state in the engine.
#[derive(Debug)]
pub(super) struct ServerCall {
    pub(super) wake: CallWake,
    pub(super) response: Response,
    pub(super) inbound: Inbound,
    pub(super) outbound: Outbound,
    pub(super) content_type: HeaderValue,
    /// Encoding of response messages.
    pub(super) encoding: Encoding,
    /// What the client accepts for response messages.
    pub(super) client_accepts: EncodingSet,
    pub(super) deadline: Option<Instant>,
    /// The application finished or cancelled the call: no more events; the
    /// call lives on only until its last bytes are handed to h2.
    pub(super) app_done: bool,
}

impl<T: AsyncRead + AsyncWrite + Unpin> ServerConnection<T> {
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
        Ok(self.recv_message_flagged(call)?.map(|m| m.data))
    }

    /// [`recv_message`](Self::recv_message), also telling whether the
    /// message arrived compressed.
    pub fn recv_message_flagged(
        &mut self,
        call: CallId,
    ) -> Result<Option<ReceivedMessage>, RecvError> {
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
        self.core.response_started(call)
    }

    /// Queues a message that `encode` writes into the buffer it is given (the
    /// buffer already holds the 5-byte prefix; append only). Saves a copy for
    /// codecs that encode into a `BytesMut`.
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
        self.core.response_started(call)
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
}

impl ServerCore {
    /// Has the next drive service `call` (after a command changed it), so
    /// that several commands are handed to h2 together: a message followed by
    /// a half-close goes out as one DATA frame with END_STREAM.
    pub(super) fn schedule(&mut self, call: CallId) {
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
    pub(super) fn live_call(&mut self, call: CallId) -> Result<&mut ServerCall, CallError> {
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

    /// A message was queued on `call`: sends the response headers if they
    /// have not gone out, and has the call flushed.
    fn response_started(&mut self, call: CallId) -> Result<(), SendError> {
        let accept = self.config.accept_encodings;
        let c = self.calls.get_mut(call).ok_or(SendError::Closed)?;
        if matches!(c.response, Response::Pending(_)) {
            send_response_headers(c, accept, &MetadataMap::new())
                .map_err(|e| SendError::Encode(e.to_string()))?;
        }
        self.schedule(call);
        Ok(())
    }

    /// Moves a call forward: pulls input, notices resets, flushes output.
    pub(super) fn service(&mut self, id: CallId) {
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
    pub(super) fn drop_call(&mut self, id: CallId, status: Option<Status>) {
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
    pub(super) fn fail_call(&mut self, id: CallId, status: Status, notify: bool) {
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

    pub(super) fn deadline_passed(&mut self, id: CallId, at: Instant) {
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
