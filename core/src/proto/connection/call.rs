//! A call's state in the engine ([`CallState`], the part both ends share)
//! and the call commands written once: sending, receiving, cancelling.

use crate::proto::event::common::EndEvent;
use std::task::Context;
use std::time::Instant;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::Status;
use crate::codec::compression::Encoding;
use crate::proto::call_id::CallId;
use crate::proto::config::common::EndConfig;
use crate::proto::error::{RecvError, SendError, status_for_stream_error};
use crate::proto::message::{FramedMessage, RawMessage, ReceivedMessage, SendOptions};
use crate::proto::side::Side;
use crate::proto::stream::{Inbound, InboundError, Outbound};
use crate::proto::wake::CallWake;

use super::{Connection, Core};

/// A call's state in the engine; `C` is the end's own part.
#[derive(Debug)]
pub struct CallState<C> {
    pub(crate) wake: CallWake,
    pub(crate) inbound: Inbound,
    pub(crate) outbound: Outbound,
    /// The encoding of the messages this end sends.
    pub(crate) encoding: Encoding,
    pub(crate) deadline: Option<Instant>,
    /// The engine ended the call before the peer ended its stream (a reset,
    /// the deadline, a lost connection, a message that failed): the status
    /// `recv_message` reports until the application releases the call.
    pub(crate) ended: Option<Box<Status>>,
    /// The application let go of the call (its id is stale for it).
    pub(crate) released: bool,
    pub(crate) side: C,
}

/// How the engine ends a call on its own initiative.
#[derive(Debug, Clone)]
pub enum CallEnd {
    /// Tell the peer (the server answers with the status, the client resets
    /// the stream with CANCEL), and report the status.
    Fail(Status),
    /// The stream is gone (reset by the peer, the connection lost): report
    /// the status; nothing can be sent.
    Gone(Status),
    /// Reset the stream with CANCEL (the connection is being closed), and
    /// report the status.
    Cancel(Status),
    /// The stream failed because its connection did (a transport error, a
    /// GOAWAY): like `Gone`, and once the connection is known to be over,
    /// reported with the connection's reason.
    Lost(Status),
}

impl CallEnd {
    /// How a call whose stream h2 failed with `err` ends.
    pub(crate) fn for_stream_error(err: &h2::Error) -> CallEnd {
        let status = status_for_stream_error(err);
        if err.is_io() || err.is_go_away() {
            CallEnd::Lost(status)
        } else {
            CallEnd::Gone(status)
        }
    }
}

impl CallEnd {
    pub(crate) fn status(&self) -> &Status {
        match self {
            CallEnd::Fail(status)
            | CallEnd::Gone(status)
            | CallEnd::Cancel(status)
            | CallEnd::Lost(status) => status,
        }
    }
}

/// What pulling a call's input gave.
pub enum Pulled {
    /// Nothing new.
    Nothing,
    /// Messages (or the end of the peer's stream) to read.
    Readable,
    /// The call must end.
    End(CallEnd),
}

impl<C> CallState<C> {
    pub(crate) fn new(
        wake: CallWake,
        inbound: Inbound,
        outbound: Outbound,
        encoding: Encoding,
        deadline: Option<Instant>,
        side: C,
    ) -> Self {
        CallState {
            wake,
            inbound,
            outbound,
            encoding,
            deadline,
            ended: None,
            released: false,
            side,
        }
    }

    /// Pulls what h2 has for the call's receive side.
    pub(crate) fn pull(&mut self, cx: &mut Context<'_>) -> Pulled {
        match self.inbound.pull(cx) {
            Ok(true) => Pulled::Readable,
            Ok(false) => Pulled::Nothing,
            Err(InboundError::Stream(err)) => Pulled::End(CallEnd::for_stream_error(&err)),
            Err(InboundError::Frame(err)) => Pulled::End(CallEnd::Fail(err.into())),
        }
    }

    /// The call ended on the engine's initiative: its queues are dropped and
    /// `status` is what reads report.
    pub(crate) fn mark_ended(&mut self, status: Status) {
        self.inbound.discard();
        self.outbound.discard();
        self.ended = Some(Box::new(status));
    }

    /// Whether the application may still read, send and finish it.
    fn is_live(&self) -> bool {
        !self.released && self.ended.is_none()
    }
}

impl<S: Side, T: AsyncRead + AsyncWrite + Unpin> Connection<S, T> {
    // ----- sending -------------------------------------------------------------

    /// Queues a message, compressed with the call's encoding.
    /// `Err(SendError::NotReady)` when the call's send buffer is full: wait
    /// for the call's `Writable` event.
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
        let encoding = options.encoding(self.core.sendable(call)?.encoding);
        let max = self.core.config.limits().max_send_message_size;
        let framed = FramedMessage::from_bytes(message, encoding, max)?;
        self.send_framed(call, framed)
    }

    /// Queues a message framed outside the engine (encoded and compressed
    /// outside any lock held around it). It must be framed with the call's
    /// [`send_encoding`](Self::send_encoding) or uncompressed.
    pub fn send_framed(&mut self, call: CallId, message: FramedMessage) -> Result<(), SendError> {
        let max = self.core.config.limits().max_send_message_size;
        if message.message_len() > max {
            return Err(SendError::MessageTooLarge {
                len: message.message_len(),
                max,
            });
        }
        let c = self.core.sendable(call)?;
        let encoding = message.encoding();
        if encoding != Encoding::Identity && encoding != c.encoding {
            return Err(SendError::Encode(format!(
                "the message was compressed with {encoding}, the call sends {}",
                c.encoding
            )));
        }
        c.outbound.push(message);
        S::message_queued(&mut self.core, call)?;
        self.core.schedule(call);
        Ok(())
    }

    /// Whether the call takes a message now: `Err(SendError::NotReady)`
    /// while its send buffer is full (the call's `Writable` event follows
    /// when room appears), `Err(SendError::Closed)` once it cannot send.
    /// What [`send_framed`](Self::send_framed) checks first: a caller
    /// holding a framed message asks this before handing it over.
    pub fn send_ready(&mut self, call: CallId) -> Result<(), SendError> {
        self.core.sendable(call).map(|_| ())
    }

    /// The encoding the call's messages are compressed with (`Identity`:
    /// none); `None` for a call that is over.
    pub fn send_encoding(&self, call: CallId) -> Option<Encoding> {
        self.core
            .calls
            .get(call)
            .filter(|c| c.is_live())
            .map(|c| c.encoding)
    }

    // ----- receiving -----------------------------------------------------------

    /// Takes the next message of a call, decompressed:
    /// - `Ok(Some(message))`;
    /// - `Ok(None)` once the peer ended its stream normally and every message
    ///   was taken (the client half-closed; the server sent its trailers,
    ///   whose status comes with the client's `Finished` event);
    /// - `Err(RecvError::Blocked)` until the next `Readable`;
    /// - `Err(RecvError::Cancelled(status))` when the call ended without the
    ///   peer ending its stream (a reset, the deadline, a lost connection),
    ///   so a cancelled stream never reads as complete;
    /// - `Err(RecvError::Failed(status))` when the message fails to decode
    ///   (the engine ends the call with this status);
    /// - `Err(RecvError::Closed)` once the application released the call.
    ///
    /// On the client, reaching the end (`Ok(None)` or an error) releases the
    /// call.
    pub fn recv_message(&mut self, call: CallId) -> Result<Option<Bytes>, RecvError> {
        Ok(self.recv_message_flagged(call)?.map(|m| m.data))
    }

    /// [`recv_message`](Self::recv_message), also telling whether the
    /// message arrived compressed.
    pub fn recv_message_flagged(
        &mut self,
        call: CallId,
    ) -> Result<Option<ReceivedMessage>, RecvError> {
        let Some(raw) = self.recv_raw(call)? else {
            return Ok(None);
        };
        match raw.decode() {
            Ok(message) => Ok(Some(message)),
            Err(status) => {
                self.fail_call(call, status.clone());
                Err(RecvError::Failed(status))
            }
        }
    }

    /// [`recv_message`](Self::recv_message) without decompressing: the
    /// message as it arrived, to [`decode`](RawMessage::decode) outside
    /// whatever lock guards the engine. If it fails to decode, end the call
    /// with the status ([`fail_call`](Self::fail_call)).
    pub fn recv_raw(&mut self, call: CallId) -> Result<Option<RawMessage>, RecvError> {
        let Some(c) = self.core.calls.get_mut(call).filter(|c| !c.released) else {
            return Err(RecvError::Closed);
        };
        if let Some(message) = c.inbound.take() {
            return Ok(Some(message));
        }
        let outcome = if let Some(status) = &c.ended {
            Err(RecvError::Cancelled((**status).clone()))
        } else if S::peer_stream_ended(c) {
            Ok(None)
        } else {
            return Err(RecvError::Blocked);
        };
        if S::END_OF_STREAM_RELEASES {
            self.core.release(call);
        }
        outcome
    }

    /// Ends a call with `status` on the application's word, as the engine
    /// ends one whose message fails to decode: the server answers the
    /// client with the status, the client resets the stream; the call's end
    /// event follows. Does nothing to a call that is over.
    pub fn fail_call(&mut self, call: CallId, status: Status) {
        if self.core.calls.get(call).is_some_and(CallState::is_live) {
            S::end_call(&mut self.core, call, CallEnd::Fail(status));
            if S::END_OF_STREAM_RELEASES {
                self.core.release(call);
            }
            self.core.drive.request_drive();
        }
    }

    // ----- cancelling ----------------------------------------------------------

    /// Cancels the call: RST_STREAM(CANCEL) to the peer, which sees
    /// `CANCELLED`. No event follows; the id is stale afterwards.
    pub fn cancel(&mut self, call: CallId) {
        let Some(c) = self.core.calls.get_mut(call).filter(|c| !c.released) else {
            return;
        };
        if c.ended.is_none() {
            S::reset_call(&mut self.core, call);
        }
        if let Some(c) = self.core.calls.get_mut(call) {
            c.inbound.discard();
            c.outbound.discard();
        }
        self.core.release(call);
        self.core.drive.request_drive();
    }
}

impl<S: Side> Core<S> {
    /// A call the application may send on, with room in its queue.
    /// Records a refusal for lack of room, so that `Writable` follows.
    pub(crate) fn sendable(&mut self, call: CallId) -> Result<&mut CallState<S::Call>, SendError> {
        let c = match self.calls.get_mut(call) {
            Some(c) if c.is_live() && c.outbound.is_open() && !S::is_call_over(c) => c,
            _ => return Err(SendError::Closed),
        };
        if !c.outbound.check_ready() {
            return Err(SendError::NotReady);
        }
        Ok(c)
    }

    /// The application let go of `call`.
    pub(crate) fn release(&mut self, call: CallId) {
        if let Some(c) = self.calls.get_mut(call) {
            c.released = true;
            self.settle(call);
        }
    }

    /// Reports a call readable or writable (if the application still holds
    /// it), after a service pulled input or flushed output.
    pub(crate) fn report_io(&mut self, id: CallId, readable: bool) {
        let Some(c) = self.calls.get_mut(id) else {
            return;
        };
        if c.released {
            return;
        }
        if readable {
            self.events.push_back(S::Event::readable(id));
        }
        if c.outbound.take_writable() {
            self.events.push_back(S::Event::writable(id));
        }
    }
}
