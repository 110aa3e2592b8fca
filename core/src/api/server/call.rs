//! The handle a handler task holds on its call: reads, sends and finishes it
//! through the connection's shared state, and wakes the driver after each
//! command (quinn's `ConnectionRef` pattern).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use bytes::BytesMut;

use crate::Status;
use crate::codec::codec::Codec;
use crate::codec::compression::Encoding;
use crate::codec::metadata::MetadataMap;
use crate::proto::{CallId, ReceivedMessage, RecvError, SendError, SendOptions, ServerConnection};

use super::super::context::CallContext;
use super::super::runtime::BoxIo;

/// A server connection shared by its driver and its calls' handles.
pub(crate) struct ServerConn {
    state: Mutex<ServerState>,
}

pub(crate) struct ServerState {
    /// `None` once the driver ended (the socket is closed then).
    pub(crate) engine: Option<ServerConnection<BoxIo>>,
    pub(crate) calls: CallTable,
    /// The driver task, woken after every command.
    pub(crate) driver: Option<Waker>,
}

/// What the driver knows about a call a handler owns.
pub(crate) struct CallSlot {
    pub(crate) reader: Option<Waker>,
    pub(crate) writer: Option<Waker>,
    pub(crate) context: CallContext,
}

impl CallSlot {
    /// Wakes both halves (the call ended or the connection did).
    pub(crate) fn wake_all(&mut self) {
        if let Some(w) = self.reader.take() {
            w.wake();
        }
        if let Some(w) = self.writer.take() {
            w.wake();
        }
    }
}

/// The driver's [`CallSlot`]s by call id: a vector indexed by the id's slot
/// in the engine, which reuses the slots of ended calls, so the table is as
/// long as the most calls open at once (most connections: one). Half the
/// inline size of a `HashMap`, and no hashing.
#[derive(Default)]
pub(crate) struct CallTable {
    /// No trailing `None`: empty when no call is open.
    slots: Vec<Option<(CallId, CallSlot)>>,
}

impl CallTable {
    pub(crate) fn insert(&mut self, id: CallId, slot: CallSlot) {
        let index = id.slot_index();
        if self.slots.len() <= index {
            self.slots.resize_with(index + 1, || None);
        }
        if let Some(entry) = self.slots.get_mut(index) {
            *entry = Some((id, slot));
        }
    }

    pub(crate) fn get_mut(&mut self, id: &CallId) -> Option<&mut CallSlot> {
        match self.slots.get_mut(id.slot_index()) {
            Some(Some((held, slot))) if held == id => Some(slot),
            _ => None,
        }
    }

    pub(crate) fn remove(&mut self, id: &CallId) -> Option<CallSlot> {
        let entry = self.slots.get_mut(id.slot_index())?;
        if entry.as_ref().is_none_or(|(held, _)| held != id) {
            return None;
        }
        let (_, slot) = entry.take()?;
        while self.slots.last().is_some_and(Option::is_none) {
            self.slots.pop();
        }
        Some(slot)
    }

    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = (CallId, &mut CallSlot)> {
        self.slots
            .iter_mut()
            .filter_map(|entry| entry.as_mut().map(|(id, slot)| (*id, slot)))
    }

    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Gives back the table's room if no call is open.
    pub(crate) fn release_memory(&mut self) {
        if self.slots.is_empty() {
            self.slots = Vec::new();
        }
    }
}

impl ServerState {
    pub(crate) fn wake_driver(&mut self) {
        if let Some(w) = &self.driver {
            w.wake_by_ref();
        }
    }
}

impl ServerConn {
    pub(crate) fn new(engine: ServerConnection<BoxIo>) -> ServerConn {
        ServerConn {
            state: Mutex::new(ServerState {
                engine: Some(engine),
                calls: CallTable::default(),
                driver: None,
            }),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, ServerState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A handler's handle on one call. Clones share the call; when the last one
/// goes away without [`finish`](Self::finish) (the handler panicked or was
/// dropped) the call ends with `INTERNAL`.
#[derive(Clone)]
pub(crate) struct ServerCall {
    inner: Arc<CallInner>,
}

struct CallInner {
    conn: Arc<ServerConn>,
    id: CallId,
    context: CallContext,
    finished: AtomicBool,
}

/// The status a call ends with once its connection is gone.
fn connection_gone() -> Status {
    Status::unavailable("the connection to the client was closed")
}

impl ServerCall {
    pub(crate) fn new(conn: Arc<ServerConn>, id: CallId, context: CallContext) -> ServerCall {
        ServerCall {
            inner: Arc::new(CallInner {
                conn,
                id,
                context,
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

    /// The next request message and its Compressed-Flag; `Ok(None)` after
    /// the client half-closed, an error for a stream that ended any other
    /// way.
    pub(crate) fn poll_recv(
        &self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Option<ReceivedMessage>, Status>> {
        let mut state = self.inner.conn.lock();
        let state = &mut *state;
        let Some(engine) = state.engine.as_mut() else {
            return Poll::Ready(Err(self.closed_or(connection_gone())));
        };
        let result = engine.recv_message_flagged(self.inner.id);
        match result {
            Ok(Some(message)) => {
                state.wake_driver();
                Poll::Ready(Ok(Some(message)))
            }
            Ok(None) => Poll::Ready(Ok(None)),
            // The engine dropped the call (the client reset it, say) and the
            // driver has not handed out its `Cancelled` event yet.
            Err(RecvError::Cancelled(status)) => {
                state.wake_driver();
                Poll::Ready(Err(self.closed_or(status)))
            }
            Err(RecvError::Closed) => Poll::Ready(Err(self.closed_status())),
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
        }
    }

    fn closed_or(&self, status: Status) -> Status {
        self.inner.context.cancel_status().unwrap_or(status)
    }

    /// Encodes and queues one response message (compressed or not as
    /// `options` say), waiting while the call's send buffer is full.
    pub(crate) fn poll_send<C: Codec>(
        &self,
        cx: &mut Context<'_>,
        codec: &mut C,
        item: &C::Encode,
        options: SendOptions,
    ) -> Poll<Result<(), Status>> {
        // Sized before the lock: the engine frames the message into a buffer
        // of exactly this size.
        let options = options.with_encoded_len(codec.encoded_len(item));
        let mut state = self.inner.conn.lock();
        let state = &mut *state;
        let Some(engine) = state.engine.as_mut() else {
            return Poll::Ready(Err(self.closed_or(connection_gone())));
        };
        let mut encode_error = None;
        let result =
            engine.send_message_with_options(self.inner.id, options, |buf: &mut BytesMut| {
                codec.encode(item, buf).map_err(|status| {
                    let text = status.message().to_owned();
                    encode_error = Some(status);
                    text
                })
            });
        match result {
            // The engine wakes the driver (the waker it was driven with).
            Ok(()) => Poll::Ready(Ok(())),
            Err(SendError::NotReady) => {
                if let Some(slot) = state.calls.get_mut(&self.inner.id) {
                    slot.writer = Some(cx.waker().clone());
                }
                Poll::Pending
            }
            Err(SendError::Closed) => Poll::Ready(Err(self.closed_status())),
            Err(SendError::Encode(text)) => {
                Poll::Ready(Err(encode_error.unwrap_or_else(|| Status::internal(text))))
            }
            Err(err) => Poll::Ready(Err(Status::from(err))),
        }
    }

    /// Sends one message. (The message is moved into the future so that
    /// only `Send` is asked of it, not `Sync`.)
    pub(crate) async fn send<C: Codec>(
        &self,
        codec: &mut C,
        item: C::Encode,
        options: SendOptions,
    ) -> Result<(), Status> {
        std::future::poll_fn(move |cx| self.poll_send(cx, codec, &item, options)).await
    }

    /// Chooses the encoding of the response messages: effective if the
    /// headers have not gone out yet and the client accepts it (the engine
    /// decides).
    pub(crate) fn set_send_encoding(&self, encoding: Encoding) {
        let mut state = self.inner.conn.lock();
        if let Some(engine) = state.engine.as_mut() {
            let _ = engine.set_send_encoding(self.inner.id, encoding);
        }
    }

    /// Sends the response headers with `metadata`.
    pub(crate) fn send_headers(&self, metadata: &MetadataMap) -> Result<(), Status> {
        let mut state = self.inner.conn.lock();
        let Some(engine) = state.engine.as_mut() else {
            return Err(self.closed_or(connection_gone()));
        };
        let result = engine.send_headers(self.inner.id, metadata);
        state.wake_driver();
        result.map_err(|err| match err {
            crate::proto::CallError::Closed => self.closed_status(),
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

impl CallInner {
    fn finish_now(&self, status: Status, trailers: &MetadataMap) {
        let mut state = self.conn.lock();
        let state = &mut *state;
        state.calls.remove(&self.id);
        let Some(engine) = state.engine.as_mut() else {
            return;
        };
        if let Err(err) = engine.finish(self.id, status.clone(), trailers)
            && matches!(err, crate::proto::CallError::InvalidMetadata(_))
        {
            tracing::debug!(%err, "trailing metadata could not be sent; finishing without it");
            let _ = engine.finish(self.id, status, &MetadataMap::new());
        }
        state.wake_driver();
    }
}

impl Drop for CallInner {
    fn drop(&mut self) {
        if !self.finished.swap(true, Ordering::AcqRel) {
            self.finish_now(
                Status::internal("the handler ended without a response"),
                &MetadataMap::new(),
            );
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn slot(path: &str) -> CallSlot {
        CallSlot {
            reader: None,
            writer: None,
            context: CallContext::new(path, None, None),
        }
    }

    #[test]
    fn the_call_table_finds_calls_by_id_and_not_stale_ids() {
        let mut table = CallTable::default();
        let (a, b) = (CallId::new(0, 1), CallId::new(2, 1));
        table.insert(a, slot("/a"));
        table.insert(b, slot("/b"));
        assert_eq!(table.get_mut(&a).unwrap().context.path(), "/a");
        assert_eq!(table.get_mut(&b).unwrap().context.path(), "/b");
        // The same slot, another generation: a call that ended.
        assert!(table.get_mut(&CallId::new(0, 0)).is_none());
        assert!(table.remove(&CallId::new(2, 0)).is_none());
        assert!(table.get_mut(&CallId::new(1, 1)).is_none());
        assert!(table.get_mut(&CallId::new(9, 1)).is_none());
        let ids: Vec<CallId> = table.iter_mut().map(|(id, _)| id).collect();
        assert_eq!(ids, [a, b]);

        assert_eq!(table.remove(&b).unwrap().context.path(), "/b");
        assert!(table.remove(&b).is_none());
        assert_eq!(table.slots.len(), 1, "trailing empty slots dropped");
        table.release_memory();
        assert!(table.slots.capacity() > 0, "kept while a call is open");
        table.remove(&a).unwrap();
        assert!(table.is_empty());
        table.release_memory();
        assert_eq!(table.slots.capacity(), 0);
    }

    /// The api's state is inline in every connection's shared state.
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn the_call_table_is_one_vector() {
        assert_eq!(std::mem::size_of::<CallTable>(), 24);
    }
}
