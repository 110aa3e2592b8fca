//! [`CallHandle`]: the handle a handler task holds on its call. It reads,
//! sends and finishes the call through the connection's shared state;
//! messages are encoded and decoded outside the lock, and every command
//! wakes the connection's driver through the engine.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use crate::Status;
use crate::codec::Codec;
use crate::codec::compression::Encoding;
use crate::codec::metadata::MetadataMap;
use crate::proto::{
    CallError, CallId, FramedMessage, ReceivedMessage, RecvError, SendError, SendOptions,
    ServerSide,
};

use super::super::conn::ConnShared;
use super::super::context::CallContext;
use super::super::message::MessageFramer;

/// A server connection shared by its driver and its calls' handles.
pub(crate) type ServerConn = ConnShared<ServerSide>;

/// A handler's handle on one call. Clones share the call; when the last one
/// goes away without [`finish`](Self::finish) (the handler panicked or was
/// dropped) the call ends with `INTERNAL`.
#[derive(Clone)]
pub(crate) struct CallHandle {
    inner: Arc<HandleInner>,
}

struct HandleInner {
    conn: Arc<ServerConn>,
    id: CallId,
    context: CallContext,
    /// The encoding of response messages when the call started (the
    /// router's choice, if the client accepts it).
    encoding: Encoding,
    finished: AtomicBool,
}

/// The status a call ends with once its connection is gone.
fn connection_gone() -> Status {
    Status::unavailable("the connection to the client was closed")
}

impl CallHandle {
    pub(crate) fn new(
        conn: Arc<ServerConn>,
        id: CallId,
        context: CallContext,
        encoding: Encoding,
    ) -> CallHandle {
        CallHandle {
            inner: Arc::new(HandleInner {
                conn,
                id,
                context,
                encoding,
                finished: AtomicBool::new(false),
            }),
        }
    }

    pub(crate) fn context(&self) -> &CallContext {
        &self.inner.context
    }

    /// Why sends and reads fail once the call is over.
    fn closed_status(&self) -> Status {
        self.inner
            .context
            .cancel_status()
            .unwrap_or_else(|| Status::cancelled("the call is over"))
    }

    fn closed_or(&self, status: Status) -> Status {
        self.inner.context.cancel_status().unwrap_or(status)
    }

    /// The next request message and its Compressed-Flag; `Ok(None)` after
    /// the client half-closed, an error for a stream that ended any other
    /// way. Decompressed after the lock is released.
    pub(crate) fn poll_recv(
        &self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Option<ReceivedMessage>, Status>> {
        self.inner
            .conn
            .poll_recv(self.inner.id, cx)
            .map_err(|err| match err {
                // The engine ended the call (the client reset it, a message
                // did not decode, ...).
                RecvError::Cancelled(status) | RecvError::Failed(status) => self.closed_or(status),
                _ => self.closed_status(),
            })
    }

    /// A framer for this call's response messages, compressed with
    /// `encoding` (what [`set_send_encoding`](Self::set_send_encoding)
    /// answered) or the call's initial encoding.
    pub(crate) fn framer(&self, encoding: Option<Encoding>) -> MessageFramer {
        MessageFramer::new(encoding.unwrap_or(self.inner.encoding))
    }

    /// A framer for a stream of response messages (see [`framer`](Self::framer)).
    pub(crate) fn stream_framer(&self, encoding: Option<Encoding>) -> MessageFramer {
        MessageFramer::for_stream(encoding.unwrap_or(self.inner.encoding))
    }

    /// Queues `message`, waiting while the call's send buffer is full.
    pub(crate) fn poll_send(
        &self,
        cx: &mut Context<'_>,
        message: &mut Option<FramedMessage>,
    ) -> Poll<Result<(), Status>> {
        self.inner
            .conn
            .poll_send(self.inner.id, cx, message)
            .map_err(|err| match err {
                SendError::Closed => self.closed_status(),
                err => Status::from(err),
            })
    }

    /// Encodes one message (outside the lock), then sends it. (The message
    /// is moved into the future so that only `Send` is asked of it, not
    /// `Sync`.)
    pub(crate) async fn send<C: Codec>(
        &self,
        framer: &mut MessageFramer,
        codec: &mut C,
        item: C::Encode,
        options: SendOptions,
    ) -> Result<(), Status> {
        let mut framed = Some(framer.frame(codec, &item, options)?);
        drop(item);
        std::future::poll_fn(|cx| self.poll_send(cx, &mut framed)).await
    }

    /// Chooses the encoding of the response messages: effective if the
    /// headers have not gone out yet and the client accepts it (the engine
    /// decides); returns the encoding that will be used.
    pub(crate) fn set_send_encoding(&self, encoding: Encoding) -> Encoding {
        let mut state = self.inner.conn.lock();
        match state.engine.as_mut() {
            Some(engine) => engine
                .set_send_encoding(self.inner.id, encoding)
                .unwrap_or(self.inner.encoding),
            None => self.inner.encoding,
        }
    }

    /// Sends the response headers with `metadata`.
    pub(crate) fn send_headers(&self, metadata: &MetadataMap) -> Result<(), Status> {
        let mut state = self.inner.conn.lock();
        let Some(engine) = state.engine.as_mut() else {
            return Err(self.closed_or(connection_gone()));
        };
        engine
            .send_headers(self.inner.id, metadata)
            .map_err(|err| match err {
                CallError::Closed => self.closed_status(),
                other => Status::internal(other.to_string()),
            })
    }

    /// Ends the call with `status` and trailing metadata: `trailers` (the
    /// handler's [`Response`](super::super::request::Response) trailers, if
    /// any) and the status's own [metadata](Status::metadata), merged by
    /// [`merge_trailers`]. A no-op if the call is already over.
    pub(crate) fn finish(&self, mut status: Status, trailers: &MetadataMap) {
        if self.inner.finished.swap(true, Ordering::AcqRel) {
            return;
        }
        if status.metadata().is_empty() {
            self.inner.finish_now(status, trailers);
        } else {
            // Taken out so that the engine, which builds the status headers,
            // sees the code, message and details only.
            let merged = merge_trailers(trailers, status.take_metadata());
            self.inner.finish_now(status, &merged);
        }
    }
}

/// The trailers of a call that ends with a status carrying metadata: the
/// handler's `trailers`, then the status's metadata. A key the status sets
/// replaces that key's values from `trailers`: the status is the later and
/// more specific word on how the call ended (an error's `retry-after` wins
/// over one set up front), and a key sent twice would leave the client to
/// guess which value counts.
pub(crate) fn merge_trailers(trailers: &MetadataMap, status_metadata: MetadataMap) -> MetadataMap {
    if trailers.is_empty() {
        return status_metadata;
    }
    let mut merged = trailers.clone();
    for key in status_metadata.keys() {
        merged.remove(key);
    }
    merged.append_map(&status_metadata);
    merged
}

impl HandleInner {
    fn finish_now(&self, status: Status, trailers: &MetadataMap) {
        let mut state = self.conn.lock();
        let state = &mut *state;
        state.calls.remove(self.id);
        let Some(engine) = state.engine.as_mut() else {
            return;
        };
        if let Err(err) = engine.finish(self.id, status.clone(), trailers)
            && matches!(err, CallError::InvalidMetadata(_))
        {
            tracing::debug!(%err, "trailing metadata could not be sent; finishing without it");
            let _ = engine.finish(self.id, status, &MetadataMap::new());
        }
    }
}

impl Drop for HandleInner {
    fn drop(&mut self) {
        if !self.finished.swap(true, Ordering::AcqRel) {
            self.finish_now(
                Status::internal("the handler ended without a response"),
                &MetadataMap::new(),
            );
        }
    }
}
