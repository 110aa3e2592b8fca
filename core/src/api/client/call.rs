//! A client connection shared by its driver and its calls' handles, and the
//! handles: [`ClientCall`] (owned by the response side; dropping it cancels
//! the call) and [`CallSender`] (the request side of streaming calls).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use bytes::BytesMut;

use crate::Status;
use crate::codec::codec::Codec;
use crate::codec::metadata::MetadataMap;
use crate::proto::{CallId, ClientConnection, ReceivedMessage, RecvError, SendError, SendOptions};

use super::super::message::OutboundMessage;
use super::super::runtime::BoxIo;

/// A client connection shared by its driver and its calls' handles.
pub(crate) struct ClientConn {
    state: Mutex<ClientState>,
}

pub(crate) struct ClientState {
    /// `None` once the driver ended (the socket is closed then).
    pub(crate) engine: Option<ClientConnection<BoxIo>>,
    pub(crate) calls: HashMap<CallId, ClientSlot>,
    pub(crate) driver: Option<Waker>,
}

/// What the driver delivered for one call.
#[derive(Default)]
pub(crate) struct ClientSlot {
    pub(crate) headers: Option<MetadataMap>,
    pub(crate) got_headers: bool,
    pub(crate) finished: Option<(Status, MetadataMap)>,
    pub(crate) reader: Option<Waker>,
    pub(crate) writer: Option<Waker>,
}

impl ClientSlot {
    pub(crate) fn wake_all(&mut self) {
        if let Some(w) = self.reader.take() {
            w.wake();
        }
        if let Some(w) = self.writer.take() {
            w.wake();
        }
    }

    /// Records the outcome unless one is known already. A failing status
    /// gets the server's trailing metadata as its own (the error the
    /// application sees carries it); the trailers stay readable apart too.
    pub(crate) fn finish(&mut self, mut status: Status, trailers: MetadataMap) {
        if self.finished.is_none() {
            if !status.is_ok() && !trailers.is_empty() && status.metadata().is_empty() {
                status = status.with_metadata(trailers.clone());
            }
            self.finished = Some((status, trailers));
        }
        self.wake_all();
    }
}

impl ClientState {
    pub(crate) fn wake_driver(&self) {
        if let Some(w) = &self.driver {
            w.wake_by_ref();
        }
    }
}

impl ClientConn {
    pub(crate) fn new(engine: ClientConnection<BoxIo>) -> ClientConn {
        ClientConn {
            state: Mutex::new(ClientState {
                engine: Some(engine),
                calls: HashMap::new(),
                driver: None,
            }),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, ClientState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

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
}

impl Drop for CallInner {
    fn drop(&mut self) {
        let mut state = self.conn.lock();
        state.calls.remove(&self.id);
        if let Some(engine) = state.engine.as_mut() {
            // A no-op for a call that is over; resets one that is not.
            engine.cancel(self.id);
        }
        state.wake_driver();
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
    pub(crate) fn new(conn: Arc<ClientConn>, id: CallId) -> ClientCall {
        ClientCall {
            inner: Arc::new(CallInner { conn, id }),
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
        let Some(slot) = state.calls.get_mut(&self.inner.id) else {
            return Poll::Ready(Err(connection_gone()));
        };
        if let Some(headers) = slot.headers.take() {
            return Poll::Ready(Ok(headers));
        }
        if slot.got_headers {
            return Poll::Ready(Ok(MetadataMap::new()));
        }
        if let Some((status, _)) = &slot.finished {
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
    /// [`poll_finished`](Self::poll_finished)).
    pub(crate) fn poll_recv(
        &self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Option<ReceivedMessage>, Status>> {
        let mut state = self.inner.conn.lock();
        let state = &mut *state;
        let Some(engine) = state.engine.as_mut() else {
            return Poll::Ready(Ok(None));
        };
        match engine.recv_message_flagged(self.inner.id) {
            Ok(Some(message)) => {
                state.wake_driver();
                Poll::Ready(Ok(Some(message)))
            }
            Ok(None) => Poll::Ready(Ok(None)),
            Err(RecvError::Blocked) => {
                if let Some(slot) = state.calls.get_mut(&self.inner.id) {
                    slot.reader = Some(cx.waker().clone());
                }
                Poll::Pending
            }
            Err(RecvError::Failed(status)) => {
                state.wake_driver();
                Poll::Ready(Err(status))
            }
            // The client engine answers `Ok(None)` at the end of every call
            // (its status comes with `Finished`); these are server answers.
            Err(RecvError::Closed) => Poll::Ready(Ok(None)),
            Err(RecvError::Cancelled(status)) => Poll::Ready(Err(status)),
        }
    }

    /// The call's outcome, once the driver delivered it.
    pub(crate) fn poll_finished(&self, cx: &mut Context<'_>) -> Poll<(Status, MetadataMap)> {
        let mut state = self.inner.conn.lock();
        let engine_gone = state.engine.is_none();
        let Some(slot) = state.calls.get_mut(&self.inner.id) else {
            return Poll::Ready((connection_gone(), MetadataMap::new()));
        };
        if let Some((status, trailers)) = &slot.finished {
            return Poll::Ready((status.clone(), trailers.clone()));
        }
        if engine_gone {
            return Poll::Ready((connection_gone(), MetadataMap::new()));
        }
        slot.reader = Some(cx.waker().clone());
        // The outcome is among the engine's events the driver has yet to
        // hand out.
        state.wake_driver();
        Poll::Pending
    }

    /// Ends the call locally with `status` (RST_STREAM CANCEL on the wire).
    pub(crate) fn cancel_with(&self, status: Status) {
        self.inner.cancel_with(status);
    }

    /// Sends one message (see [`CallSender::poll_send`]).
    pub(crate) async fn send<C: Codec>(
        &self,
        codec: &mut C,
        item: C::Encode,
        options: SendOptions,
    ) -> Result<(), SendFailure> {
        std::future::poll_fn(move |cx| self.inner.poll_send(cx, codec, &item, options)).await
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
    fn cancel_with(&self, status: Status) {
        let mut state = self.conn.lock();
        let state = &mut *state;
        let Some(slot) = state.calls.get_mut(&self.id) else {
            return;
        };
        if slot.finished.is_some() {
            return;
        }
        slot.finish(status, MetadataMap::new());
        if let Some(engine) = state.engine.as_mut() {
            engine.cancel(self.id);
        }
        state.wake_driver();
    }

    fn poll_send<C: Codec>(
        &self,
        cx: &mut Context<'_>,
        codec: &mut C,
        item: &C::Encode,
        options: SendOptions,
    ) -> Poll<Result<(), SendFailure>> {
        // Sized before the lock: the engine frames the message into a buffer
        // of exactly this size.
        let options = options.with_encoded_len(codec.encoded_len(item));
        let mut state = self.conn.lock();
        let state = &mut *state;
        let Some(engine) = state.engine.as_mut() else {
            return Poll::Ready(Err(SendFailure::CallOver));
        };
        let mut encode_error = None;
        let result = engine.send_message_with_options(self.id, options, |buf: &mut BytesMut| {
            codec.encode(item, buf).map_err(|status| {
                let text = status.message().to_owned();
                encode_error = Some(status);
                text
            })
        });
        match result {
            Ok(()) => {
                state.wake_driver();
                Poll::Ready(Ok(()))
            }
            Err(SendError::NotReady) => {
                if let Some(slot) = state.calls.get_mut(&self.id) {
                    slot.writer = Some(cx.waker().clone());
                }
                Poll::Pending
            }
            Err(SendError::Closed) => Poll::Ready(Err(SendFailure::CallOver)),
            Err(SendError::Encode(text)) => Poll::Ready(Err(SendFailure::Fatal(
                encode_error.unwrap_or_else(|| Status::internal(text)),
            ))),
            Err(err) => Poll::Ready(Err(SendFailure::Fatal(Status::from(err)))),
        }
    }

    fn close_send(&self) {
        let mut state = self.conn.lock();
        if let Some(engine) = state.engine.as_mut() {
            let _ = engine.close_send(self.id);
        }
        state.wake_driver();
    }

    /// Ready once the call is over (so the sender stops pulling its stream).
    fn poll_over(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.conn.lock();
        if state.engine.is_none() {
            return Poll::Ready(());
        }
        match state.calls.get_mut(&self.id) {
            Some(slot) if slot.finished.is_none() => {
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
                    let (inner, codec) = (&self.inner, &mut codec);
                    let sent =
                        std::future::poll_fn(move |cx| inner.poll_send(cx, codec, &item, options))
                            .await;
                    match sent {
                        Ok(()) => {}
                        Err(SendFailure::CallOver) => return,
                        Err(SendFailure::Fatal(status)) => return self.inner.cancel_with(status),
                    }
                }
            }
        }
    }
}
