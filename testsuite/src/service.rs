//! The test service `test.Echo`, written against `ferrule_core::api::codegen`
//! by hand (as generated code would be), with prost messages.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use ferrule_core::api::codegen::*;
use ferrule_core::api::{Runtime, StreamReceiver, Timer, stream_channel};

/// The one message type: what the client asks for and what it gets.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Msg {
    #[prost(string, tag = "1")]
    pub text: String,
    /// Non-zero: the handler fails with this code and `text` as message
    /// (server streaming: after `count` messages).
    #[prost(int32, tag = "2")]
    pub code: i32,
    /// Server streaming: how many messages to send.
    #[prost(uint32, tag = "3")]
    pub count: u32,
    /// How long the handler waits before answering (between messages when
    /// streaming).
    #[prost(uint64, tag = "4")]
    pub delay_ms: u64,
    #[prost(bytes = "vec", tag = "5")]
    pub payload: Vec<u8>,
    #[prost(uint32, tag = "6")]
    pub index: u32,
    /// The handler answers with a payload of this many bytes.
    #[prost(uint32, tag = "7")]
    pub reply_payload_len: u32,
    /// The remaining time the server saw for its deadline, in ms (0: none).
    #[prost(uint64, tag = "8")]
    pub deadline_ms: u64,
}

impl Msg {
    pub fn text(text: &str) -> Msg {
        Msg {
            text: text.to_owned(),
            ..Msg::default()
        }
    }
}

macro_rules! method {
    ($name:ident, $path:literal, $method:literal, $kind:ident) => {
        pub const $name: MethodDescriptor = MethodDescriptor {
            path: $path,
            service: "test.Echo",
            method: $method,
            kind: MethodKind::$kind,
        };
    };
}

method!(UNARY, "/test.Echo/Unary", "Unary", Unary);
method!(EXPAND, "/test.Echo/Expand", "Expand", ServerStreaming);
method!(COLLECT, "/test.Echo/Collect", "Collect", ClientStreaming);
method!(CHAT, "/test.Echo/Chat", "Chat", BidiStreaming);
method!(HANG, "/test.Echo/Hang", "Hang", Unary);
method!(MISSING, "/test.Echo/Missing", "Missing", Unary);
method!(RELAY, "/test.Echo/Relay", "Relay", Unary);
method!(FEED, "/test.Echo/Feed", "Feed", ServerStreaming);
method!(CHAT_LATE, "/test.Echo/ChatLate", "ChatLate", BidiStreaming);

/// What handlers observed, for the tests to assert on.
#[derive(Default, Debug)]
pub struct Probe {
    /// `(method, code)` of every call a handler saw cancelled.
    pub cancelled: Mutex<Vec<(String, Code)>>,
    /// Calls that entered a handler.
    pub started: Mutex<Vec<String>>,
    /// Calls whose response stream was dropped before its end.
    pub streams_dropped: Mutex<u32>,
    /// Sends into a `stream_channel` that failed because the call was over.
    pub feed_send_failed: Mutex<Option<Code>>,
    /// The value an interceptor put into the extensions, as handlers saw it.
    pub extension_seen: Mutex<Option<String>>,
    /// `Unary` handlers that ran to their answer.
    pub unary_answered: Mutex<u32>,
    /// `Unary` handlers dropped before their answer (the call ended first).
    pub unary_dropped: Mutex<u32>,
}

/// Counts a `Unary` handler dropped before it answered.
struct AnswerGuard<'a> {
    probe: &'a Probe,
    answered: bool,
}

impl Drop for AnswerGuard<'_> {
    fn drop(&mut self) {
        let count = if self.answered {
            &self.probe.unary_answered
        } else {
            &self.probe.unary_dropped
        };
        *count.lock().unwrap() += 1;
    }
}

impl Probe {
    pub fn cancelled_codes(&self, method: &str) -> Vec<Code> {
        self.cancelled
            .lock()
            .unwrap()
            .iter()
            .filter(|(m, _)| m == method)
            .map(|(_, c)| *c)
            .collect()
    }

    pub fn started(&self, method: &str) -> usize {
        self.started
            .lock()
            .unwrap()
            .iter()
            .filter(|m| *m == method)
            .count()
    }
}

/// A request text that makes `Unary` panic.
pub const PANIC: &str = "please panic";

/// A typed value interceptors insert.
#[derive(Clone, Debug)]
pub struct User(pub String);

/// The service state.
pub struct Echo {
    pub runtime: Arc<dyn Runtime>,
    pub probe: Arc<Probe>,
    /// Where `Relay` forwards its request (with the deadline propagated).
    pub relay: Mutex<Option<EchoClient>>,
}

/// The status a handler fails with; a text starting `details:` also carries
/// the rest as `grpc-status-details-bin`, and one starting `meta:` carries
/// the rest as metadata (`x-error`, `x-error-bin`) plus `x-trailer: error`,
/// which replaces the handler's own `x-trailer` where it set one.
fn fail(code: i32, text: &str) -> Status {
    let status = Status::new(Code::from_i32(code), text.to_owned());
    if let Some(rest) = text.strip_prefix("meta:") {
        let mut metadata = MetadataMap::new();
        metadata.insert("x-error", rest).unwrap();
        metadata.insert_bin("x-error-bin", rest.as_bytes()).unwrap();
        metadata.insert("x-trailer", "error").unwrap();
        return status.with_metadata(metadata);
    }
    match text.strip_prefix("details:") {
        Some(details) => {
            let mut rpc = ferrule_core::codec::status::RpcStatus::new(status.code(), text);
            rpc.details.push(ferrule_core::codec::status::Any {
                type_url: "type.googleapis.com/test.Detail".into(),
                value: bytes::Bytes::copy_from_slice(details.as_bytes()),
            });
            status.with_details(rpc.to_bytes())
        }
        None => status,
    }
}

impl Echo {
    async fn sleep(&self, ms: u64) {
        if ms > 0 {
            self.runtime
                .new_timer(self.runtime.now() + Duration::from_millis(ms))
                .await;
        }
    }

    fn note_start<T>(&self, request: &Request<T>) {
        let method = request
            .context()
            .map(|c| c.method().to_owned())
            .unwrap_or_default();
        self.probe.started.lock().unwrap().push(method);
        if let Some(user) = request.extensions().get::<User>() {
            *self.probe.extension_seen.lock().unwrap() = Some(user.0.clone());
        }
    }

    fn reply(&self, request: &Request<Msg>) -> Result<Response<Msg>, Status> {
        let m = request.get_ref();
        if m.code != 0 {
            return Err(fail(m.code, &m.text));
        }
        let mut out = Msg::text(&m.text);
        out.payload = if m.reply_payload_len > 0 {
            vec![7u8; m.reply_payload_len as usize]
        } else {
            m.payload.clone()
        };
        out.deadline_ms = request
            .time_remaining()
            .map_or(0, |d| d.as_millis().max(1) as u64);
        let mut response = Response::new(out);
        if let Some(v) = request.metadata().get("x-request") {
            response.metadata_mut().insert("x-echo", v).unwrap();
        }
        if let Some(v) = request.metadata().get_bin("x-blob-bin") {
            response.metadata_mut().insert_bin("x-blob-bin", v).unwrap();
        }
        response.trailers_mut().insert("x-trailer", "done").unwrap();
        Ok(response)
    }

    pub async fn unary(&self, request: Request<Msg>) -> Result<Response<Msg>, Status> {
        self.note_start(&request);
        assert!(
            request.get_ref().text != PANIC,
            "the handler panics on request"
        );
        let mut guard = AnswerGuard {
            probe: &self.probe,
            answered: false,
        };
        // Never looks at the call's cancellation: only the server can stop it.
        self.sleep(request.get_ref().delay_ms).await;
        guard.answered = true;
        self.reply(&request)
    }

    pub async fn expand(&self, request: Request<Msg>) -> Result<Response<Expand>, Status> {
        self.note_start(&request);
        let m = request.get_ref();
        let mut items: VecDeque<Result<Msg, Status>> = (0..m.count)
            .map(|i| {
                Ok(Msg {
                    text: m.text.clone(),
                    index: i,
                    payload: vec![3u8; m.reply_payload_len as usize],
                    ..Msg::default()
                })
            })
            .collect();
        if m.code != 0 {
            items.push_back(Err(fail(m.code, &m.text)));
        }
        let mut response = Response::new(Expand {
            items,
            delay: Duration::from_millis(m.delay_ms),
            timer: None,
            runtime: Arc::clone(&self.runtime),
            probe: Arc::clone(&self.probe),
            finished: false,
        });
        response
            .trailers_mut()
            .insert("x-trailer", "streamed")
            .unwrap();
        if let Some(v) = request.metadata().get("x-request") {
            response.metadata_mut().insert("x-echo", v).unwrap();
        }
        Ok(response)
    }

    pub async fn collect(&self, request: Request<Streaming<Msg>>) -> Result<Response<Msg>, Status> {
        self.note_start(&request);
        let mut stream = request.into_inner();
        let mut texts = Vec::new();
        let mut count = 0;
        let mut bytes = 0;
        loop {
            let m = match stream.message().await {
                Ok(Some(m)) => m,
                Ok(None) => break,
                Err(status) => {
                    self.probe
                        .cancelled
                        .lock()
                        .unwrap()
                        .push(("Collect".to_owned(), status.code()));
                    return Err(status);
                }
            };
            if m.code != 0 {
                return Err(fail(m.code, &m.text));
            }
            // A slow reader: the client's sends must wait for flow control.
            self.sleep(m.delay_ms).await;
            bytes += m.payload.len();
            texts.push(m.text);
            count += 1;
        }
        Ok(Response::new(Msg {
            text: texts.join(","),
            count,
            reply_payload_len: u32::try_from(bytes).unwrap_or(u32::MAX),
            ..Msg::default()
        }))
    }

    pub async fn chat(&self, request: Request<Streaming<Msg>>) -> Result<Response<Chat>, Status> {
        self.note_start(&request);
        Ok(Response::new(Chat {
            first: None,
            inner: request.into_inner(),
            next: 0,
        }))
    }

    /// `Chat`, answering (headers included) only once the first request
    /// message arrived, as grpcio servers do.
    pub async fn chat_late(
        &self,
        request: Request<Streaming<Msg>>,
    ) -> Result<Response<Chat>, Status> {
        self.note_start(&request);
        let mut inner = request.into_inner();
        let first = inner.message().await?;
        Ok(Response::new(Chat {
            first,
            inner,
            next: 0,
        }))
    }

    /// Forwards the request to `Unary` through `relay`, propagating the
    /// deadline.
    pub async fn relay(&self, request: Request<Msg>) -> Result<Response<Msg>, Status> {
        let client = self.relay.lock().unwrap().clone();
        let client = client.ok_or_else(|| Status::failed_precondition("no relay client"))?;
        let outgoing = Request::new(request.get_ref().clone()).with_deadline_of(&request);
        client.unary(outgoing).await
    }

    /// Server streaming fed by a task through a `stream_channel`: `count`
    /// messages, `delay_ms` apart.
    pub async fn feed(
        &self,
        request: Request<Msg>,
    ) -> Result<Response<StreamReceiver<Result<Msg, Status>>>, Status> {
        self.note_start(&request);
        let m = request.into_inner();
        let (tx, rx) = stream_channel(4);
        let runtime = Arc::clone(&self.runtime);
        let probe = Arc::clone(&self.probe);
        self.runtime.spawn(Box::pin(async move {
            for index in 0..m.count {
                if m.delay_ms > 0 {
                    runtime
                        .new_timer(runtime.now() + Duration::from_millis(m.delay_ms))
                        .await;
                }
                let item = Msg {
                    index,
                    ..Msg::default()
                };
                if let Err(status) = tx.send(Ok(item)).await {
                    *probe.feed_send_failed.lock().unwrap() = Some(status.code());
                    return;
                }
            }
        }));
        Ok(Response::new(rx))
    }

    /// Waits until the call is cancelled, notes it, and returns.
    pub async fn hang(&self, request: Request<Msg>) -> Result<Response<Msg>, Status> {
        self.note_start(&request);
        let context = request
            .context()
            .cloned()
            .expect("server requests have a context");
        let status = context.cancelled().await;
        self.probe
            .cancelled
            .lock()
            .unwrap()
            .push(("Hang".to_owned(), status.code()));
        Err(status)
    }
}

/// The server-streaming response: items, one per `delay`.
pub struct Expand {
    items: VecDeque<Result<Msg, Status>>,
    delay: Duration,
    timer: Option<Pin<Box<dyn Timer>>>,
    runtime: Arc<dyn Runtime>,
    probe: Arc<Probe>,
    finished: bool,
}

impl Stream for Expand {
    type Item = Result<Msg, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if !self.delay.is_zero() {
            let at = self.runtime.now() + self.delay;
            let runtime = Arc::clone(&self.runtime);
            let timer = self.timer.get_or_insert_with(|| runtime.new_timer(at));
            if timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            self.timer = None;
        }
        let next = self.items.pop_front();
        if next.is_none() {
            self.finished = true;
        }
        Poll::Ready(next)
    }
}

impl Drop for Expand {
    fn drop(&mut self) {
        if !self.finished && !self.items.is_empty() {
            *self.probe.streams_dropped.lock().unwrap() += 1;
        }
    }
}

/// The bidirectional response: each request echoed with its index.
pub struct Chat {
    /// An answer to give before the ones `inner` yields (`ChatLate`'s).
    first: Option<Msg>,
    inner: Streaming<Msg>,
    next: u32,
}

impl Stream for Chat {
    type Item = Result<Msg, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let next = match self.first.take() {
            Some(first) => Poll::Ready(Some(Ok(first))),
            None => Pin::new(&mut self.inner).poll_next(cx),
        };
        match next {
            Poll::Ready(Some(Ok(mut m))) => {
                if m.code != 0 {
                    return Poll::Ready(Some(Err(fail(m.code, &m.text))));
                }
                m.index = self.next;
                self.next += 1;
                Poll::Ready(Some(Ok(m)))
            }
            other => other,
        }
    }
}

/// The registration glue.
pub struct EchoServer {
    inner: Arc<Echo>,
}

impl EchoServer {
    pub fn new(echo: Echo) -> EchoServer {
        EchoServer {
            inner: Arc::new(echo),
        }
    }
}

type ServerCodec = ProstCodec<Msg, Msg>;

impl Service for EchoServer {
    const NAME: &'static str = "test.Echo";

    fn register(self, routes: &mut Routes) {
        let s = &self.inner;
        routes.add(
            &UNARY,
            unary_handler(
                s.clone(),
                |s: Arc<Echo>, r| async move { s.unary(r).await },
                ServerCodec::new(),
            ),
        );
        routes.add(
            &EXPAND,
            server_streaming_handler(
                s.clone(),
                |s: Arc<Echo>, r| async move { s.expand(r).await },
                ServerCodec::new(),
            ),
        );
        routes.add(
            &COLLECT,
            client_streaming_handler(
                s.clone(),
                |s: Arc<Echo>, r| async move { s.collect(r).await },
                ServerCodec::new(),
            ),
        );
        routes.add(
            &CHAT,
            streaming_handler(
                s.clone(),
                |s: Arc<Echo>, r| async move { s.chat(r).await },
                ServerCodec::new(),
            ),
        );
        routes.add(
            &CHAT_LATE,
            streaming_handler(
                s.clone(),
                |s: Arc<Echo>, r| async move { s.chat_late(r).await },
                ServerCodec::new(),
            ),
        );
        routes.add(
            &FEED,
            server_streaming_handler(
                s.clone(),
                |s: Arc<Echo>, r| async move { s.feed(r).await },
                ServerCodec::new(),
            ),
        );
        routes.add(
            &RELAY,
            unary_handler(
                s.clone(),
                |s: Arc<Echo>, r| async move { s.relay(r).await },
                ServerCodec::new(),
            ),
        );
        routes.add(
            &HANG,
            unary_handler(
                s.clone(),
                |s: Arc<Echo>, r| async move { s.hang(r).await },
                ServerCodec::new(),
            ),
        );
    }
}

/// A client for `test.Echo`.
#[derive(Clone, Debug)]
pub struct EchoClient {
    pub inner: Client,
}

type ClientCodec = ProstCodec<Msg, Msg>;

impl EchoClient {
    pub fn new(inner: impl Into<Client>) -> EchoClient {
        EchoClient {
            inner: inner.into(),
        }
    }

    pub async fn unary(&self, request: impl IntoRequest<Msg>) -> Result<Response<Msg>, Status> {
        self.inner
            .unary(&UNARY, request.into_request(), ClientCodec::new())
            .await
    }

    pub async fn hang(&self, request: impl IntoRequest<Msg>) -> Result<Response<Msg>, Status> {
        self.inner
            .unary(&HANG, request.into_request(), ClientCodec::new())
            .await
    }

    pub async fn feed(
        &self,
        request: impl IntoRequest<Msg>,
    ) -> Result<Response<Streaming<Msg>>, Status> {
        self.inner
            .server_streaming(&FEED, request.into_request(), ClientCodec::new())
            .await
    }

    pub async fn relay(&self, request: impl IntoRequest<Msg>) -> Result<Response<Msg>, Status> {
        self.inner
            .unary(&RELAY, request.into_request(), ClientCodec::new())
            .await
    }

    pub async fn missing(&self, request: impl IntoRequest<Msg>) -> Result<Response<Msg>, Status> {
        self.inner
            .unary(&MISSING, request.into_request(), ClientCodec::new())
            .await
    }

    pub async fn expand(
        &self,
        request: impl IntoRequest<Msg>,
    ) -> Result<Response<Streaming<Msg>>, Status> {
        self.inner
            .server_streaming(&EXPAND, request.into_request(), ClientCodec::new())
            .await
    }

    pub async fn collect(
        &self,
        request: impl IntoStreamingRequest<Message = Msg>,
    ) -> Result<Response<Msg>, Status> {
        self.inner
            .client_streaming(
                &COLLECT,
                request.into_streaming_request(),
                ClientCodec::new(),
            )
            .await
    }

    pub async fn chat(
        &self,
        request: impl IntoStreamingRequest<Message = Msg>,
    ) -> Result<Response<Streaming<Msg>>, Status> {
        self.inner
            .streaming(&CHAT, request.into_streaming_request(), ClientCodec::new())
            .await
    }

    pub async fn chat_late(
        &self,
        request: impl IntoStreamingRequest<Message = Msg>,
    ) -> Result<Response<Streaming<Msg>>, Status> {
        self.inner
            .streaming(
                &CHAT_LATE,
                request.into_streaming_request(),
                ClientCodec::new(),
            )
            .await
    }
}

/// A stream of the given messages, then the end.
pub struct Items(pub VecDeque<Msg>);

impl Items {
    pub fn of(texts: &[&str]) -> Items {
        Items(texts.iter().map(|t| Msg::text(t)).collect())
    }
}

impl Stream for Items {
    type Item = Msg;
    fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Msg>> {
        Poll::Ready(self.0.pop_front())
    }
}

/// A stream that yields its messages and then never ends.
pub struct ItemsThenPending(pub VecDeque<Msg>);

impl Stream for ItemsThenPending {
    type Item = Msg;
    fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Msg>> {
        match self.0.pop_front() {
            Some(m) => Poll::Ready(Some(m)),
            None => Poll::Pending,
        }
    }
}

/// Milliseconds between two instants, for messages.
pub fn ms_between(a: Instant, b: Instant) -> u128 {
    b.saturating_duration_since(a).as_millis()
}
