//! The codegen contract, written out by hand the way `ferrule-build` emits
//! it: if this compiles, generated code compiles against this crate.

#![allow(dead_code)]

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;

use crate::api::codegen::*;
use crate::api::{Interceptor, Router};

pub const ECHO: MethodDescriptor = MethodDescriptor {
    path: "/test.Echo/Echo",
    service: "test.Echo",
    method: "Echo",
    kind: MethodKind::Unary,
};
pub const EXPAND: MethodDescriptor = MethodDescriptor {
    path: "/test.Echo/Expand",
    service: "test.Echo",
    method: "Expand",
    kind: MethodKind::ServerStreaming,
};
pub const COLLECT: MethodDescriptor = MethodDescriptor {
    path: "/test.Echo/Collect",
    service: "test.Echo",
    method: "Collect",
    kind: MethodKind::ClientStreaming,
};
pub const CHAT: MethodDescriptor = MethodDescriptor {
    path: "/test.Echo/Chat",
    service: "test.Echo",
    method: "Chat",
    kind: MethodKind::BidiStreaming,
};

#[derive(Clone, Debug)]
pub struct EchoClient {
    inner: Client,
}

impl EchoClient {
    pub fn new(inner: impl Into<Client>) -> Self {
        Self {
            inner: inner.into(),
        }
    }

    pub async fn echo(&self, request: impl IntoRequest<Bytes>) -> Result<Response<Bytes>, Status> {
        self.inner
            .unary(&ECHO, request.into_request(), BytesCodec)
            .await
    }

    pub async fn expand(
        &self,
        request: impl IntoRequest<Bytes>,
    ) -> Result<Response<Streaming<Bytes>>, Status> {
        self.inner
            .server_streaming(&EXPAND, request.into_request(), BytesCodec)
            .await
    }

    pub async fn collect(
        &self,
        request: impl IntoStreamingRequest<Message: Into<OutboundMessage<Bytes>>>,
    ) -> Result<Response<Bytes>, Status> {
        self.inner
            .client_streaming(&COLLECT, request.into_streaming_request(), BytesCodec)
            .await
    }

    pub async fn chat(
        &self,
        request: impl IntoStreamingRequest<Message: Into<OutboundMessage<Bytes>>>,
    ) -> Result<Response<Streaming<Bytes>>, Status> {
        self.inner
            .streaming(&CHAT, request.into_streaming_request(), BytesCodec)
            .await
    }
}

pub trait Echo: Send + Sync + 'static {
    fn echo(
        &self,
        request: Request<Bytes>,
    ) -> impl Future<Output = Result<Response<Bytes>, Status>> + Send;
    type ExpandStream: Stream<Item: ResponseItem<Bytes>> + Send + 'static;
    fn expand(
        &self,
        request: Request<Bytes>,
    ) -> impl Future<Output = Result<Response<Self::ExpandStream>, Status>> + Send;
    fn collect(
        &self,
        request: Request<Streaming<Bytes>>,
    ) -> impl Future<Output = Result<Response<Bytes>, Status>> + Send;
    type ChatStream: Stream<Item: ResponseItem<Bytes>> + Send + 'static;
    fn chat(
        &self,
        request: Request<Streaming<Bytes>>,
    ) -> impl Future<Output = Result<Response<Self::ChatStream>, Status>> + Send;
}

pub struct EchoServer<T> {
    inner: Arc<T>,
}

impl<T: Echo> EchoServer<T> {
    pub fn new(service: T) -> Self {
        Self {
            inner: Arc::new(service),
        }
    }
    pub fn from_arc(inner: Arc<T>) -> Self {
        Self { inner }
    }
}

impl<T: Echo> Service for EchoServer<T> {
    const NAME: &'static str = "test.Echo";
    fn register(self, routes: &mut Routes) {
        routes.add(
            &ECHO,
            unary_handler(
                self.inner.clone(),
                |svc: Arc<T>, req| async move { svc.echo(req).await },
                BytesCodec,
            ),
        );
        routes.add(
            &EXPAND,
            server_streaming_handler(
                self.inner.clone(),
                |svc: Arc<T>, req| async move { svc.expand(req).await },
                BytesCodec,
            ),
        );
        routes.add(
            &COLLECT,
            client_streaming_handler(
                self.inner.clone(),
                |svc: Arc<T>, req| async move { svc.collect(req).await },
                BytesCodec,
            ),
        );
        routes.add(
            &CHAT,
            streaming_handler(
                self.inner.clone(),
                |svc: Arc<T>, req| async move { svc.chat(req).await },
                BytesCodec,
            ),
        );
    }
}

/// A stream of the given items.
pub struct Iter<I>(pub I);

impl<I: Iterator + Unpin> Stream for Iter<I> {
    type Item = I::Item;
    fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<I::Item>> {
        Poll::Ready(self.0.next())
    }
}

struct Impl;

impl Echo for Impl {
    async fn echo(&self, request: Request<Bytes>) -> Result<Response<Bytes>, Status> {
        Ok(Response::new(request.into_inner()))
    }
    // Per-message compression: the second reply goes out uncompressed.
    type ExpandStream = Iter<std::vec::IntoIter<Result<OutboundMessage<Bytes>, Status>>>;
    async fn expand(
        &self,
        request: Request<Bytes>,
    ) -> Result<Response<Self::ExpandStream>, Status> {
        let m = request.into_inner();
        let replies = vec![Ok(m.clone().into()), Ok(OutboundMessage::uncompressed(m))];
        Ok(Response::new(Iter(replies.into_iter())))
    }
    async fn collect(&self, request: Request<Streaming<Bytes>>) -> Result<Response<Bytes>, Status> {
        let mut stream = request.into_inner();
        let mut all = Vec::new();
        while let Some(m) = stream.message().await? {
            all.extend_from_slice(&m);
        }
        Ok(Response::new(Bytes::from(all)))
    }
    type ChatStream = Streaming<Bytes>;
    async fn chat(
        &self,
        request: Request<Streaming<Bytes>>,
    ) -> Result<Response<Self::ChatStream>, Status> {
        Ok(Response::new(request.into_inner()))
    }
}

fn assert_send<T: Send>(_: &T) {}

#[test]
fn generated_shapes_compile_and_register() {
    let router = Router::new()
        .interceptor(|request: Request<()>| async move { Ok(request) })
        .add_service(EchoServer::new(Impl));
    assert_eq!(router.services(), &["test.Echo"]);
    for (method, kind) in [
        (&ECHO, MethodKind::Unary),
        (&EXPAND, MethodKind::ServerStreaming),
        (&COLLECT, MethodKind::ClientStreaming),
        (&CHAT, MethodKind::BidiStreaming),
    ] {
        assert_eq!(router.handler(method.path).map(|h| h.kind()), Some(kind));
    }
    assert!(router.handler("/test.Echo/Nope").is_none());
}

#[allow(dead_code)]
fn client_futures_are_send(client: EchoClient) {
    assert_send(&client.echo(Bytes::new()));
    assert_send(&client.expand(Request::new(Bytes::new())));
    assert_send(&client.collect(Iter(vec![Bytes::new()].into_iter())));
    assert_send(&client.chat(Iter(vec![Bytes::new()].into_iter())));
    assert_send(&client.chat(Iter(
        vec![OutboundMessage::uncompressed(Bytes::new())].into_iter(),
    )));
}

struct AddToken;

impl Interceptor for AddToken {
    async fn intercept(&self, mut request: Request<()>) -> Result<Request<()>, Status> {
        request
            .metadata_mut()
            .insert("authorization", "Bearer x")
            .map_err(|e| Status::internal(e.to_string()))?;
        Ok(request)
    }
}

#[test]
fn a_struct_is_an_interceptor_too() {
    let _router = Router::new().interceptor(AddToken);
}

#[allow(dead_code)]
fn streams_and_requests_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Streaming<Bytes>>();
    send_sync::<Request<Streaming<Bytes>>>();
    send_sync::<Response<Bytes>>();
    send_sync::<Client>();
    send_sync::<crate::api::Channel>();
    send_sync::<crate::api::Router>();
    send_sync::<crate::api::ServerHandle>();
}
