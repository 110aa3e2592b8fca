//! The client's call handles: [`ClientCall`] (owned by the response side;
//! dropping it cancels the call) and [`CallSender`] (the request side of
//! streaming calls), reading and sending through the connection's shared
//! state. Messages are encoded and decoded outside the lock.

use std::sync::Arc;
use std::task::{Context, Poll};

use crate::Status;
use crate::codec::Codec;
use crate::codec::compression::Encoding;
use crate::codec::metadata::MetadataMap;
use crate::proto::{
    CallId, ClientSide, FramedMessage, ReceivedMessage, RecvError, SendError, SendOptions,
};

use super::super::conn::{CallSlot, ConnShared};
use super::super::message::{MessageFramer, OutboundMessage};

/// A client connection shared by its driver and its calls' handles.
pub(crate) type ClientConn = ConnShared<ClientSide>;

/// What the driver delivered for one call.
#[derive(Default)]
pub(crate) struct ClientOutcome {
    pub(crate) headers: Option<MetadataMap>,
    pub(crate) got_headers: bool,
    pub(crate) finished: Option<(Status, MetadataMap)>,
}

impl CallSlot<ClientOutcome> {
    /// Records the outcome unless one is known already. A failing status
    /// gets the server's trailing metadata as its own (the error the
    /// application sees carries it); the trailers stay readable apart too.
    pub(crate) fn finish(&mut self, mut status: Status, trailers: MetadataMap) {
        if self.side.finished.is_none() {
            if !status.is_ok() && !trailers.is_empty() && status.metadata().is_empty() {
                status = status.with_metadata(trailers.clone());
            }
            self.side.finished = Some((status, trailers));
        }
        self.wake_all();
    }
}

impl ClientConn {
    /// Whether new calls can start on this connection.
    pub(crate) fn is_usable(&self) -> bool {
        self.lock()
            .engine
            .as_ref()
            .is_some_and(|e| e.is_accepting_calls())
    }
}

struct CallInner {
    conn: Arc<ClientConn>,
    id: CallId,
    /// The encoding of request messages, chosen when the call started.
    encoding: Encoding,
}

impl Drop for CallInner {
    fn drop(&mut self) {
        let mut state = self.conn.lock();
        state.calls.remove(self.id);
        if let Some(engine) = state.engine.as_mut() {
            // A no-op for a call that is over; resets one that is not.
            engine.cancel(self.id);
        }
        state.close_if_idle();
    }
}

fn connection_gone() -> Status {
    Status::unavailable("the connection to the server was closed")
}

/// The response side of a call. Dropping it cancels the call on the wire if
/// it is not over (RST_STREAM CANCEL).
pub(crate) struct ClientCall {
    inner: Arc<CallInner>,
}

/// The request side of a streaming call. Does not cancel on drop.
pub(crate) struct CallSender {
    inner: Arc<CallInner>,
}

impl ClientCall {
    pub(crate) fn new(conn: Arc<ClientConn>, id: CallId, encoding: Encoding) -> ClientCall {
        ClientCall {
            inner: Arc::new(CallInner { conn, id, encoding }),
        }
    }

    /// A handle for the request side.
    pub(crate) fn sender(&self) -> CallSender {
        CallSender {
            inner: Arc::clone(&self.inner),
        }
    }

    /// The response headers; `Err` with the call's status if it failed
    /// before any (a Trailers-Only error). A Trailers-Only success gives
    /// empty headers.
    pub(crate) fn poll_headers(&self, cx: &mut Context<'_>) -> Poll<Result<MetadataMap, Status>> {
        let mut state = self.inner.conn.lock();
        let engine_gone = state.engine.is_none();
        let Some(slot) = state.calls.get_mut(self.inner.id) else {
            return Poll::Ready(Err(connection_gone()));
        };
        if let Some(headers) = slot.side.headers.take() {
            return Poll::Ready(Ok(headers));
        }
        if slot.side.got_headers {
            return Poll::Ready(Ok(MetadataMap::new()));
        }
        if let Some((status, _)) = &slot.side.finished {
            return Poll::Ready(if status.is_ok() {
                Ok(MetadataMap::new())
            } else {
                Err(status.clone())
            });
        }
        if engine_gone {
            return Poll::Ready(Err(connection_gone()));
        }
        slot.reader = Some(cx.waker().clone());
        Poll::Pending
    }

    /// The next response message and its Compressed-Flag; `Ok(None)` once
    /// the server finished and every message was taken (then
    /// [`poll_finished`](Self::poll_finished)). Decompressed after the lock
    /// is released.
    pub(crate) fn poll_recv(
        &self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Option<ReceivedMessage>, Status>> {
        match std::task::ready!(self.inner.conn.poll_recv(self.inner.id, cx)) {
            Ok(message) => Poll::Ready(Ok(message)),
            Err(RecvError::Failed(status)) => Poll::Ready(Err(status)),
            // The call is over: its status comes with `poll_finished`.
            Err(_) => Poll::Ready(Ok(None)),
        }
    }

    /// The call's outcome, once the driver delivered it.
    pub(crate) fn poll_finished(&self, cx: &mut Context<'_>) -> Poll<(Status, MetadataMap)> {
        let mut state = self.inner.conn.lock();
        let engine_gone = state.engine.is_none();
        let Some(slot) = state.calls.get_mut(self.inner.id) else {
            return Poll::Ready((connection_gone(), MetadataMap::new()));
        };
        if let Some((status, trailers)) = &slot.side.finished {
            return Poll::Ready((status.clone(), trailers.clone()));
        }
        if engine_gone {
            return Poll::Ready((connection_gone(), MetadataMap::new()));
        }
        slot.reader = Some(cx.waker().clone());
        Poll::Pending
    }

    /// Ends the call locally with `status` (RST_STREAM CANCEL on the wire).
    pub(crate) fn cancel_with(&self, status: Status) {
        self.inner.cancel_with(status);
    }

    /// Encodes one message (outside the lock) and sends it.
    pub(crate) async fn send<C: Codec>(
        &self,
        codec: &mut C,
        item: C::Encode,
        options: SendOptions,
    ) -> Result<(), SendFailure> {
        let mut framer = self.inner.framer();
        self.inner.send(&mut framer, codec, item, options).await
    }

    /// Half-closes the request side.
    pub(crate) fn close_send(&self) {
        self.inner.close_send();
    }
}

impl Drop for ClientCall {
    fn drop(&mut self) {
        self.inner
            .cancel_with(Status::cancelled("the call was dropped by the client"));
    }
}

/// Why a send did not happen.
#[derive(Debug)]
pub(crate) enum SendFailure {
    /// The call is over (its status says why); stop sending.
    CallOver,
    /// This message could not be sent (too large, failed to encode): the
    /// call must end with this status.
    Fatal(Status),
}

impl CallInner {
    fn framer(&self) -> MessageFramer {
        MessageFramer::new(self.encoding)
    }

    fn cancel_with(&self, status: Status) {
        let mut state = self.conn.lock();
        let state = &mut *state;
        let Some(slot) = state.calls.get_mut(self.id) else {
            return;
        };
        if slot.side.finished.is_some() {
            return;
        }
        slot.finish(status, MetadataMap::new());
        if let Some(engine) = state.engine.as_mut() {
            engine.cancel(self.id);
        }
    }

    async fn send<C: Codec>(
        &self,
        framer: &mut MessageFramer,
        codec: &mut C,
        item: C::Encode,
        options: SendOptions,
    ) -> Result<(), SendFailure> {
        let mut framed = Some(
            framer
                .frame(codec, &item, options)
                .map_err(SendFailure::Fatal)?,
        );
        drop(item);
        std::future::poll_fn(|cx| self.poll_send(cx, &mut framed)).await
    }

    fn poll_send(
        &self,
        cx: &mut Context<'_>,
        message: &mut Option<FramedMessage>,
    ) -> Poll<Result<(), SendFailure>> {
        self.conn
            .poll_send(self.id, cx, message)
            .map_err(|err| match err {
                SendError::Closed => SendFailure::CallOver,
                err => SendFailure::Fatal(Status::from(err)),
            })
    }

    fn close_send(&self) {
        let mut state = self.conn.lock();
        if let Some(engine) = state.engine.as_mut() {
            let _ = engine.close_send(self.id);
        }
    }

    /// Ready once the call is over (so the sender stops pulling its stream).
    fn poll_over(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.conn.lock();
        if state.engine.is_none() {
            return Poll::Ready(());
        }
        match state.calls.get_mut(self.id) {
            Some(slot) if slot.side.finished.is_none() => {
                slot.writer = Some(cx.waker().clone());
                Poll::Pending
            }
            _ => Poll::Ready(()),
        }
    }
}

impl CallSender {
    /// Sends every item of `stream` (each compressed or not as its
    /// [`OutboundMessage`] says), then half-closes. Stops when the call is
    /// over; a message that cannot be sent ends the call with its status.
    pub(crate) async fn pump<C, S>(self, stream: S, mut codec: C)
    where
        C: Codec,
        S: futures_core::Stream,
        S::Item: Into<OutboundMessage<C::Encode>>,
    {
        let mut stream = std::pin::pin!(stream);
        let mut framer = MessageFramer::for_stream(self.inner.encoding);
        loop {
            let next = std::future::poll_fn(|cx| {
                if self.inner.poll_over(cx).is_ready() {
                    return Poll::Ready(None);
                }
                // Converted here so that only the encoded type is held
                // across the send (and must be `Send`), not the item type.
                let item = std::task::ready!(stream.as_mut().poll_next(cx));
                Poll::Ready(Some(item.map(Into::<OutboundMessage<C::Encode>>::into)))
            })
            .await;
            match next {
                None => return,
                Some(None) => return self.inner.close_send(),
                Some(Some(outbound)) => {
                    let options = outbound.send_options();
                    let item = outbound.into_inner();
                    match self
                        .inner
                        .send(&mut framer, &mut codec, item, options)
                        .await
                    {
                        Ok(()) => {}
                        Err(SendFailure::CallOver) => return,
                        Err(SendFailure::Fatal(status)) => return self.inner.cancel_with(status),
                    }
                }
            }
        }
    }
}
