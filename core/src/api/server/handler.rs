//! Handlers: the typed glue between a call and a service method. Generated
//! code builds them with [`unary_handler`], [`server_streaming_handler`],
//! [`client_streaming_handler`] and [`streaming_handler`].

use std::fmt;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;

use futures_core::Stream;

use crate::Status;
use crate::codec::Codec;
use crate::codec::metadata::MetadataMap;
use crate::proto::SendOptions;

use super::super::codegen::MethodKind;
use super::super::context::CallContext;
use super::super::interceptor::{BoxFuture, Interceptors};
use super::super::message::ResponseItem;
use super::super::request::{Request, Response};
use super::super::streaming::Streaming;
use super::call::CallHandle;

/// A type-erased method handler, registered in a [`Router`](super::Router)
/// under a path. Cheap to clone.
#[derive(Clone)]
pub struct Handler {
    kind: MethodKind,
    inner: Arc<dyn ErasedHandler>,
}

impl Handler {
    /// The kind of method this handler serves.
    pub fn kind(&self) -> MethodKind {
        self.kind
    }

    /// The future that serves one call: interceptors, then the method; it
    /// ends early, dropping them, when the call ends first (see
    /// [`EndsWithCall`]).
    pub(crate) fn serve(
        &self,
        call: CallHandle,
        head: Request<()>,
        interceptors: Interceptors,
    ) -> BoxFuture<'static, ()> {
        Arc::clone(&self.inner).serve(call, head, interceptors)
    }
}

impl fmt::Debug for Handler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handler").field("kind", &self.kind).finish()
    }
}

trait ErasedHandler: Send + Sync + 'static {
    fn serve(
        self: Arc<Self>,
        call: CallHandle,
        head: Request<()>,
        interceptors: Interceptors,
    ) -> BoxFuture<'static, ()>;
}

/// A method and what it needs, shared by every call of that method.
struct MethodHandler<S, F, C, const KIND: u8> {
    service: Arc<S>,
    method: F,
    codec: C,
}

const UNARY: u8 = 0;
const SERVER_STREAMING: u8 = 1;
const CLIENT_STREAMING: u8 = 2;
const BIDI_STREAMING: u8 = 3;

/// The bounds every handler's codec meets. On the server a codec *decodes
/// requests* and *encodes responses*: for prost, `ProstCodec<Response,
/// Request>`.
///
/// The message types must also be `Send + 'static`; the helpers say so.
pub trait ServerCodec: Codec + Clone + Send + Sync + 'static {}

impl<C: Codec + Clone + Send + Sync + 'static> ServerCodec for C {}

/// A handler for a unary method: `method(service, request)` answers one
/// request with one response.
pub fn unary_handler<S, C, F, Fut>(service: Arc<S>, method: F, codec: C) -> Handler
where
    S: Send + Sync + 'static,
    C: ServerCodec,
    C::Encode: Send + 'static,
    C::Decode: Send + 'static,
    F: Fn(Arc<S>, Request<C::Decode>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Response<C::Encode>, Status>> + Send + 'static,
{
    Handler {
        kind: MethodKind::Unary,
        inner: Arc::new(MethodHandler::<S, F, C, UNARY> {
            service,
            method,
            codec,
        }),
    }
}

/// A handler for a server-streaming method: one request, a stream of
/// responses.
pub fn server_streaming_handler<S, C, F, Fut, St>(service: Arc<S>, method: F, codec: C) -> Handler
where
    S: Send + Sync + 'static,
    C: ServerCodec,
    C::Encode: Send + 'static,
    C::Decode: Send + 'static,
    F: Fn(Arc<S>, Request<C::Decode>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Response<St>, Status>> + Send + 'static,
    St: Stream<Item: ResponseItem<C::Encode>> + Send + 'static,
{
    Handler {
        kind: MethodKind::ServerStreaming,
        inner: Arc::new(MethodHandler::<S, F, C, SERVER_STREAMING> {
            service,
            method,
            codec,
        }),
    }
}

/// A handler for a client-streaming method: a stream of requests, one
/// response.
pub fn client_streaming_handler<S, C, F, Fut>(service: Arc<S>, method: F, codec: C) -> Handler
where
    S: Send + Sync + 'static,
    C: ServerCodec,
    C::Encode: Send + 'static,
    C::Decode: Send + 'static,
    F: Fn(Arc<S>, Request<Streaming<C::Decode>>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Response<C::Encode>, Status>> + Send + 'static,
{
    Handler {
        kind: MethodKind::ClientStreaming,
        inner: Arc::new(MethodHandler::<S, F, C, CLIENT_STREAMING> {
            service,
            method,
            codec,
        }),
    }
}

/// A handler for a bidirectional-streaming method.
pub fn streaming_handler<S, C, F, Fut, St>(service: Arc<S>, method: F, codec: C) -> Handler
where
    S: Send + Sync + 'static,
    C: ServerCodec,
    C::Encode: Send + 'static,
    C::Decode: Send + 'static,
    F: Fn(Arc<S>, Request<Streaming<C::Decode>>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Response<St>, Status>> + Send + 'static,
    St: Stream<Item: ResponseItem<C::Encode>> + Send + 'static,
{
    Handler {
        kind: MethodKind::BidiStreaming,
        inner: Arc::new(MethodHandler::<S, F, C, BIDI_STREAMING> {
            service,
            method,
            codec,
        }),
    }
}

/// Runs the interceptors; a rejection finishes the call with its status.
async fn intercept(
    call: &CallHandle,
    head: Request<()>,
    interceptors: &Interceptors,
) -> Option<Request<()>> {
    if interceptors.is_empty() {
        return Some(head);
    }
    match interceptors.run(head).await {
        Ok(head) => Some(head),
        Err(status) => {
            call.finish(status, &MetadataMap::new());
            None
        }
    }
}

/// Reads the one request message of a unary or server-streaming call
/// (waiting for the client's half-close, as the other implementations do),
/// and whether it arrived compressed.
async fn read_one<C: Codec>(call: &CallHandle, codec: &mut C) -> Result<(C::Decode, bool), Status> {
    let first = std::future::poll_fn(|cx| call.poll_recv(cx)).await?;
    let Some(first) = first else {
        return Err(Status::internal(
            "the client half-closed without sending the request message",
        ));
    };
    let message = codec.decode(first.data)?;
    match std::future::poll_fn(|cx| call.poll_recv(cx)).await? {
        None => Ok((message, first.compressed)),
        Some(_) => Err(Status::internal(
            "the client sent more than one request message to a single-request method",
        )),
    }
}

/// Sends a single-message response and finishes the call.
///
/// An `Err` is a Trailers-Only response (no headers went out) carrying the
/// status's metadata. Once a response is returned, its trailers go out
/// however the call ends, merged with a failing status's metadata
/// ([`CallHandle::finish`] says how).
async fn respond_one<C: Codec>(
    call: &CallHandle,
    codec: &mut C,
    result: Result<Response<C::Encode>, Status>,
) {
    match result {
        Ok(response) => {
            let encoding = response.compression().map(|e| call.set_send_encoding(e));
            let mut framer = call.framer(encoding);
            let (message, metadata, trailers) = response.into_parts();
            if !metadata.is_empty() && call.send_headers(&metadata).is_err() {
                return;
            }
            match call
                .send(&mut framer, codec, message, SendOptions::default())
                .await
            {
                Ok(()) => call.finish(Status::ok(), &trailers),
                Err(status) => call.finish(status, &trailers),
            }
        }
        Err(status) => call.finish(status, &MetadataMap::new()),
    }
}

/// Sends the headers, then every message of `stream` (each compressed or not
/// as its item says), then the status. Stops early (dropping the stream)
/// when the call is cancelled (the task serving the call ends then too).
///
/// The response's trailers go out however the stream ends: with `OK`, or
/// merged with the metadata of the status the stream (or a failed send)
/// ended with. An `Err` instead of a response is a Trailers-Only response
/// carrying the status's metadata.
async fn respond_stream<C, St>(
    call: &CallHandle,
    codec: &mut C,
    result: Result<Response<St>, Status>,
) where
    C: Codec,
    St: Stream<Item: ResponseItem<C::Encode>>,
{
    let response = match result {
        Ok(response) => response,
        Err(status) => return call.finish(status, &MetadataMap::new()),
    };
    let encoding = response.compression().map(|e| call.set_send_encoding(e));
    let mut framer = call.stream_framer(encoding);
    let (stream, metadata, trailers) = response.into_parts();
    if call.send_headers(&metadata).is_err() {
        return;
    }
    let mut stream = pin!(stream);
    let context = call.context().clone();
    let mut cancelled = pin!(context.cancelled());
    loop {
        // Cancellation is looked at only while the stream waits: a stream
        // with items ready runs into the cancelled call's failing send.
        let next = std::future::poll_fn(|cx| match stream.as_mut().poll_next(cx) {
            Poll::Ready(item) => Poll::Ready(Some(item)),
            Poll::Pending => cancelled.as_mut().poll(cx).map(|_| None),
        })
        .await;
        match next.map(|item| item.map(ResponseItem::into_outbound)) {
            // Cancelled: nothing more can reach the client.
            None => return,
            Some(None) => return call.finish(Status::ok(), &trailers),
            Some(Some(Ok(outbound))) => {
                let options = outbound.send_options();
                let message = outbound.into_inner();
                if let Err(status) = call.send(&mut framer, codec, message, options).await {
                    return call.finish(status, &trailers);
                }
            }
            Some(Some(Err(status))) => return call.finish(status, &trailers),
        }
    }
}

/// The request a single-message handler sees: the head, the message and
/// its Compressed-Flag.
fn with_head<T>(head: Request<()>, (message, compressed): (T, bool)) -> Request<T> {
    let mut request = head.with_message(message);
    request.set_message_compressed(compressed);
    request
}

impl<S, F, C, Fut> ErasedHandler for MethodHandler<S, F, C, UNARY>
where
    S: Send + Sync + 'static,
    C: ServerCodec,
    C::Encode: Send + 'static,
    C::Decode: Send + 'static,
    F: Fn(Arc<S>, Request<C::Decode>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Response<C::Encode>, Status>> + Send + 'static,
{
    fn serve(
        self: Arc<Self>,
        call: CallHandle,
        head: Request<()>,
        interceptors: Interceptors,
    ) -> BoxFuture<'static, ()> {
        let context = call.context().clone();
        Box::pin(EndsWithCall::new(context, async move {
            let Some(head) = intercept(&call, head, &interceptors).await else {
                return;
            };
            let mut codec = self.codec.clone();
            let message = match read_one(&call, &mut codec).await {
                Ok(message) => message,
                Err(status) => return call.finish(status, &MetadataMap::new()),
            };
            let result = (self.method)(Arc::clone(&self.service), with_head(head, message)).await;
            respond_one(&call, &mut codec, result).await;
        }))
    }
}

impl<S, F, C, Fut, St> ErasedHandler for MethodHandler<S, F, C, SERVER_STREAMING>
where
    S: Send + Sync + 'static,
    C: ServerCodec,
    C::Encode: Send + 'static,
    C::Decode: Send + 'static,
    F: Fn(Arc<S>, Request<C::Decode>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Response<St>, Status>> + Send + 'static,
    St: Stream<Item: ResponseItem<C::Encode>> + Send + 'static,
{
    fn serve(
        self: Arc<Self>,
        call: CallHandle,
        head: Request<()>,
        interceptors: Interceptors,
    ) -> BoxFuture<'static, ()> {
        let context = call.context().clone();
        Box::pin(EndsWithCall::new(context, async move {
            let Some(head) = intercept(&call, head, &interceptors).await else {
                return;
            };
            let mut codec = self.codec.clone();
            let message = match read_one(&call, &mut codec).await {
                Ok(message) => message,
                Err(status) => return call.finish(status, &MetadataMap::new()),
            };
            let result = (self.method)(Arc::clone(&self.service), with_head(head, message)).await;
            respond_stream(&call, &mut codec, result).await;
        }))
    }
}

impl<S, F, C, Fut> ErasedHandler for MethodHandler<S, F, C, CLIENT_STREAMING>
where
    S: Send + Sync + 'static,
    C: ServerCodec,
    C::Encode: Send + 'static,
    C::Decode: Send + 'static,
    F: Fn(Arc<S>, Request<Streaming<C::Decode>>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Response<C::Encode>, Status>> + Send + 'static,
{
    fn serve(
        self: Arc<Self>,
        call: CallHandle,
        head: Request<()>,
        interceptors: Interceptors,
    ) -> BoxFuture<'static, ()> {
        let context = call.context().clone();
        Box::pin(EndsWithCall::new(context, async move {
            let Some(head) = intercept(&call, head, &interceptors).await else {
                return;
            };
            let mut codec = self.codec.clone();
            let requests = Streaming::server(call.clone(), self.codec.clone());
            let result =
                (self.method)(Arc::clone(&self.service), head.with_message(requests)).await;
            respond_one(&call, &mut codec, result).await;
        }))
    }
}

impl<S, F, C, Fut, St> ErasedHandler for MethodHandler<S, F, C, BIDI_STREAMING>
where
    S: Send + Sync + 'static,
    C: ServerCodec,
    C::Encode: Send + 'static,
    C::Decode: Send + 'static,
    F: Fn(Arc<S>, Request<Streaming<C::Decode>>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Response<St>, Status>> + Send + 'static,
    St: Stream<Item: ResponseItem<C::Encode>> + Send + 'static,
{
    fn serve(
        self: Arc<Self>,
        call: CallHandle,
        head: Request<()>,
        interceptors: Interceptors,
    ) -> BoxFuture<'static, ()> {
        let context = call.context().clone();
        Box::pin(EndsWithCall::new(context, async move {
            let Some(head) = intercept(&call, head, &interceptors).await else {
                return;
            };
            let mut codec = self.codec.clone();
            let requests = Streaming::server(call.clone(), self.codec.clone());
            let result =
                (self.method)(Arc::clone(&self.service), head.with_message(requests)).await;
            respond_stream(&call, &mut codec, result).await;
        }))
    }
}

pin_project_lite::pin_project! {
    /// A handler's work: it ends, dropping the handler's future, as soon as
    /// the call ends any other way than by the handler's answer (the client
    /// cancelled, the deadline passed, the connection or the server went
    /// away), so that no work goes on for an answer nobody will read (tonic
    /// does the same). A handler that must finish anyway spawns that work.
    struct EndsWithCall<F> {
        #[pin]
        serve: F,
        context: CallContext,
        // This task's waker is registered with the cancellation: later polls
        // check a flag, without a lock.
        registered: bool,
    }
}

impl<F> EndsWithCall<F> {
    fn new(context: CallContext, serve: F) -> Self {
        EndsWithCall {
            serve,
            context,
            registered: false,
        }
    }
}

impl<F: Future<Output = ()>> Future for EndsWithCall<F> {
    type Output = ();

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<()> {
        let this = self.project();
        if this.serve.poll(cx).is_ready() {
            return Poll::Ready(());
        }
        // Registered once the handler waits, so a cancellation that comes
        // while it waits wakes this task.
        let cancelled = if *this.registered {
            this.context.is_cancelled()
        } else {
            *this.registered = true;
            this.context.poll_cancelled(cx).is_ready()
        };
        if cancelled {
            tracing::debug!(
                path = this.context.path(),
                "the call ended: its handler is dropped"
            );
            return Poll::Ready(());
        }
        Poll::Pending
    }
}
