//! The client: [`Channel`] (the connection) and [`Client`] (a channel plus
//! interceptors and per-call defaults; what generated clients wrap).

pub(crate) mod call;
mod channel;
mod driver;

use std::fmt;
use std::time::{Duration, Instant};

use futures_core::Stream;

use crate::Status;
use crate::codec::Codec;
use crate::codec::compression::Encoding;
use crate::proto::{CallOptions, CallPath, SendOptions};

use super::codegen::MethodDescriptor;
use super::interceptor::{Interceptor, Interceptors};
use super::message::OutboundMessage;
use super::request::{Request, Response};
use super::streaming::Streaming;
use call::{ClientCall, SendFailure};

pub use channel::{Channel, ChannelConfig, authority_of};

/// A [`Channel`] with client interceptors and per-call defaults. Cheap to
/// clone; generated clients wrap one.
///
/// Every method here is cancel-safe in the gRPC sense: dropping the future
/// (or the returned [`Streaming`]) before the call is over cancels the call
/// on the wire.
#[derive(Clone)]
pub struct Client {
    channel: Channel,
    interceptors: Interceptors,
    send_compression: Option<Encoding>,
    timeout: Option<Duration>,
}

impl From<Channel> for Client {
    fn from(channel: Channel) -> Client {
        Client::new(channel)
    }
}

impl Client {
    /// A client on `channel`, with no interceptor and no default timeout.
    pub fn new(channel: Channel) -> Client {
        Client {
            channel,
            interceptors: Interceptors::default(),
            send_compression: None,
            timeout: None,
        }
    }

    /// Appends a client interceptor; interceptors run in the order added,
    /// before each call starts.
    #[must_use]
    pub fn with_interceptor(mut self, interceptor: impl Interceptor) -> Client {
        self.interceptors = self.interceptors.with(interceptor);
        self
    }

    /// Compresses request messages with `encoding` (unless a request sets
    /// its own), when the server accepts it.
    #[must_use]
    pub fn send_compressed(mut self, encoding: Encoding) -> Client {
        self.send_compression = Some(encoding);
        self
    }

    /// A timeout for every call that sets no deadline of its own.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Client {
        self.timeout = Some(timeout);
        self
    }

    /// The channel.
    pub fn channel(&self) -> &Channel {
        &self.channel
    }

    /// Runs the interceptors and starts the call.
    async fn start<T>(
        &self,
        method: &MethodDescriptor,
        request: Request<T>,
    ) -> Result<(ClientCall, T), Status> {
        let (mut head, message) = request.into_parts();
        head.set_client_path(method.path);
        let head = if self.interceptors.is_empty() {
            head
        } else {
            self.interceptors.run(head).await?
        };
        let now = self.channel.runtime().now();
        let timeout = head.timeout().or(self.timeout);
        let deadline = effective_deadline(now, head.deadline(), timeout);
        let mut options = CallOptions::new();
        if let Some(deadline) = deadline {
            options = options.with_deadline(deadline);
        }
        if let Some(encoding) = head.compression().or(self.send_compression) {
            options = options.with_encoding(encoding);
        }
        let mut head = head;
        let options = options.with_metadata(std::mem::take(head.metadata_mut()));
        let call = self
            .channel
            .start_call(CallPath::from(method.path), options, deadline)
            .await?;
        Ok((call, message))
    }

    /// A unary call: one request, one response. The response's
    /// [`message_compressed`](Response::message_compressed) says whether the
    /// server compressed its message.
    pub async fn unary<C>(
        &self,
        method: &MethodDescriptor,
        request: Request<C::Encode>,
        mut codec: C,
    ) -> Result<Response<C::Decode>, Status>
    where
        C: Codec + Send + 'static,
        C::Encode: Send + 'static,
        C::Decode: Send + 'static,
    {
        let (call, message) = self.start(method, request).await?;
        send_one(&call, &mut codec, message).await?;
        read_one(&call, &mut codec).await
    }

    /// A server-streaming call: one request, a stream of responses.
    ///
    /// Returns once the call is started and the request queued, without
    /// waiting for the server's answer (as grpc-go's `NewStream` does): the
    /// response headers come with [`Streaming::headers`] (the returned
    /// `Response`'s own metadata is empty), and an error the server answers
    /// with at once (a Trailers-Only response) comes from the stream.
    pub async fn server_streaming<C>(
        &self,
        method: &MethodDescriptor,
        request: Request<C::Encode>,
        mut codec: C,
    ) -> Result<Response<Streaming<C::Decode>>, Status>
    where
        C: Codec + Send + Sync + 'static,
        C::Encode: Send + 'static,
        C::Decode: Send + 'static,
    {
        let (call, message) = self.start(method, request).await?;
        send_one(&call, &mut codec, message).await?;
        Ok(Response::new(Streaming::client(call, codec)))
    }

    /// A client-streaming call: the request stream is sent by a task spawned
    /// on the channel's runtime; one response. The stream yields messages,
    /// or [`OutboundMessage`]s to choose per message whether to compress.
    ///
    /// The response's [`message_compressed`](Response::message_compressed)
    /// says whether the server compressed its message.
    pub async fn client_streaming<C, S>(
        &self,
        method: &MethodDescriptor,
        request: Request<S>,
        mut codec: C,
    ) -> Result<Response<C::Decode>, Status>
    where
        C: Codec + Clone + Send + Sync + 'static,
        C::Encode: Send + 'static,
        C::Decode: Send + 'static,
        S: Stream + Send + 'static,
        S::Item: Into<OutboundMessage<C::Encode>>,
    {
        let (call, stream) = self.start(method, request).await?;
        self.spawn_sender(&call, stream, codec.clone());
        read_one(&call, &mut codec).await
    }

    /// A bidirectional-streaming call: the request stream is sent by a task
    /// spawned on the channel's runtime; responses arrive as a stream. The
    /// request stream yields messages, or [`OutboundMessage`]s to choose per
    /// message whether to compress.
    ///
    /// Returns once the call is started, without waiting for the server's
    /// headers (as grpc-go's `NewStream` does): a client may await the call
    /// and only then start feeding its request stream, whatever the server
    /// does (many servers, grpcio among them, send their headers only with
    /// their first answer). The response headers come with
    /// [`Streaming::headers`]; the returned `Response`'s own metadata is
    /// empty, and an error the server answers with at once comes from the
    /// stream.
    pub async fn streaming<C, S>(
        &self,
        method: &MethodDescriptor,
        request: Request<S>,
        codec: C,
    ) -> Result<Response<Streaming<C::Decode>>, Status>
    where
        C: Codec + Clone + Send + Sync + 'static,
        C::Encode: Send + 'static,
        C::Decode: Send + 'static,
        S: Stream + Send + 'static,
        S::Item: Into<OutboundMessage<C::Encode>>,
    {
        let (call, stream) = self.start(method, request).await?;
        self.spawn_sender(&call, stream, codec.clone());
        Ok(Response::new(Streaming::client(call, codec)))
    }

    fn spawn_sender<C, S>(&self, call: &ClientCall, stream: S, codec: C)
    where
        C: Codec + Send + 'static,
        C::Encode: Send + 'static,
        S: Stream + Send + 'static,
        S::Item: Into<OutboundMessage<C::Encode>>,
    {
        let sender = call.sender();
        self.channel
            .runtime()
            .spawn(Box::pin(sender.pump(stream, codec)));
    }
}

/// Sends the single request message and half-closes. A send refused because
/// the call is already over is not an error here: the call's status (read
/// next) says why.
async fn send_one<C: Codec>(
    call: &ClientCall,
    codec: &mut C,
    message: C::Encode,
) -> Result<(), Status> {
    match call.send(codec, message, SendOptions::default()).await {
        Ok(()) | Err(SendFailure::CallOver) => {}
        Err(SendFailure::Fatal(status)) => {
            call.cancel_with(status.clone());
            return Err(status);
        }
    }
    call.close_send();
    Ok(())
}

/// Reads exactly one response message and the final status.
async fn read_one<C: Codec>(
    call: &ClientCall,
    codec: &mut C,
) -> Result<Response<C::Decode>, Status> {
    let headers = std::future::poll_fn(|cx| call.poll_headers(cx)).await?;
    let mut message = None;
    let mut compressed = false;
    while let Some(received) = std::future::poll_fn(|cx| call.poll_recv(cx)).await? {
        if message.is_some() {
            let status = Status::internal(
                "the server sent more than one response message to a single-response method",
            );
            call.cancel_with(status.clone());
            return Err(status);
        }
        compressed = received.compressed;
        match codec.decode(received.data) {
            Ok(decoded) => message = Some(decoded),
            Err(status) => {
                call.cancel_with(status.clone());
                return Err(status);
            }
        }
    }
    let (status, trailers) = std::future::poll_fn(|cx| call.poll_finished(cx)).await;
    if !status.is_ok() {
        return Err(status);
    }
    match message {
        Some(message) => {
            let mut response = Response::from_parts(message, headers, trailers);
            response.set_message_compressed(compressed);
            Ok(response)
        }
        None => Err(Status::internal(
            "the server finished with OK but sent no response message",
        )),
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("channel", &self.channel)
            .field("interceptors", &self.interceptors.len())
            .field("send_compression", &self.send_compression)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// The deadline of a call that starts at `now`, from a request's deadline
/// and timeout.
fn effective_deadline(
    now: Instant,
    deadline: Option<Instant>,
    timeout: Option<Duration>,
) -> Option<Instant> {
    match (deadline, timeout.and_then(|t| now.checked_add(t))) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
