//! [`Request`] and [`Response`]: a message plus what travels with it.

use std::time::{Duration, Instant};

use http::Extensions;

use crate::codec::compression::Encoding;
use crate::codec::metadata::MetadataMap;

use super::context::CallContext;

/// A request: the message (or stream of messages), its metadata, and per-call
/// settings.
///
/// On the **client** a request carries the call's timeout or deadline and its
/// compression; on the **server** it carries the deadline the client set, the
/// call's [`CallContext`] (method, cancellation) and the
/// [`extensions`](Self::extensions) that interceptors filled in.
#[derive(Debug)]
pub struct Request<T> {
    message: T,
    metadata: MetadataMap,
    extensions: Extensions,
    timeout: Option<Duration>,
    deadline: Option<Instant>,
    encoding: Option<Encoding>,
    context: Option<CallContext>,
    /// Client: the method being called (set by the client before interceptors).
    client_path: Option<&'static str>,
    /// Server: the Compressed-Flag of the single request message.
    message_compressed: Option<bool>,
}

impl<T> Request<T> {
    /// A request with `message`, empty metadata and no deadline.
    pub fn new(message: T) -> Request<T> {
        Request {
            message,
            metadata: MetadataMap::new(),
            extensions: Extensions::new(),
            timeout: None,
            deadline: None,
            encoding: None,
            context: None,
            client_path: None,
            message_compressed: None,
        }
    }

    /// The message.
    pub fn get_ref(&self) -> &T {
        &self.message
    }

    /// The message, to modify.
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.message
    }

    /// The message, consuming the request.
    pub fn into_inner(self) -> T {
        self.message
    }

    /// The custom metadata (request headers).
    pub fn metadata(&self) -> &MetadataMap {
        &self.metadata
    }

    /// The custom metadata, to modify.
    pub fn metadata_mut(&mut self) -> &mut MetadataMap {
        &mut self.metadata
    }

    /// Typed values attached to the request: on the server, what interceptors
    /// inserted for the handler. Never sent on the wire.
    pub fn extensions(&self) -> &Extensions {
        &self.extensions
    }

    /// The extensions, to modify.
    pub fn extensions_mut(&mut self) -> &mut Extensions {
        &mut self.extensions
    }

    /// Client: how long the call may take, counted from when it starts. Sent
    /// as `grpc-timeout`; the earlier of this and [`deadline`](Self::deadline)
    /// applies.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = Some(timeout);
    }

    /// The timeout set with [`set_timeout`](Self::set_timeout).
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// Client: an absolute deadline for the call. Server: replaced by the
    /// deadline the client sent.
    pub fn set_deadline(&mut self, deadline: Instant) {
        self.deadline = Some(deadline);
    }

    /// The deadline: on the server, the instant the client's `grpc-timeout`
    /// runs out (the engine answers `DEADLINE_EXCEEDED` then); on the client,
    /// what [`set_deadline`](Self::set_deadline) set.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// How much time is left until the [`deadline`](Self::deadline), or the
    /// [`timeout`](Self::timeout) when only that is set; zero once it passed.
    pub fn time_remaining(&self) -> Option<Duration> {
        let from_deadline = self
            .deadline
            .map(|d| d.saturating_duration_since(Instant::now()));
        match (from_deadline, self.timeout) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Deadline propagation: makes this outgoing request end no later than
    /// `incoming` (a request the server is handling), so a call made on
    /// behalf of a client does not outlive that client's deadline. Keeps this
    /// request's own deadline if it is earlier.
    #[must_use]
    pub fn with_deadline_of<U>(mut self, incoming: &Request<U>) -> Request<T> {
        if let Some(theirs) = incoming.deadline {
            self.deadline = Some(self.deadline.map_or(theirs, |ours| ours.min(theirs)));
        }
        self
    }

    /// Client: compresses this call's request messages with `encoding` (if
    /// the build supports it and the server accepts it).
    pub fn set_compression(&mut self, encoding: Encoding) {
        self.encoding = Some(encoding);
    }

    /// The compression set with [`set_compression`](Self::set_compression).
    pub fn compression(&self) -> Option<Encoding> {
        self.encoding
    }

    /// Server: the call's context (method, deadline, cancellation). `None` on
    /// a request built by the application.
    pub fn context(&self) -> Option<&CallContext> {
        self.context.as_ref()
    }

    /// Server: resolves when the call is cancelled (the client cancelled, the
    /// deadline passed, the connection was lost, or the server shut down).
    /// Never resolves for a request built by the application.
    pub async fn cancelled(&self) {
        match &self.context {
            Some(context) => {
                context.cancelled().await;
            }
            None => std::future::pending().await,
        }
    }

    /// The request with its message replaced by `f(message)`.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Request<U> {
        Request {
            message: f(self.message),
            metadata: self.metadata,
            extensions: self.extensions,
            timeout: self.timeout,
            deadline: self.deadline,
            encoding: self.encoding,
            context: self.context,
            client_path: self.client_path,
            message_compressed: self.message_compressed,
        }
    }

    /// The method path, `/package.Service/Method`: the call being handled on
    /// the server, the call being made on the client (`None` on a request
    /// not yet handed to a client).
    pub fn path(&self) -> Option<&str> {
        match &self.context {
            Some(context) => Some(context.path()),
            None => self.client_path,
        }
    }

    /// Splits off the message, leaving a `Request<()>` with everything else
    /// (what interceptors see).
    pub fn into_parts(self) -> (Request<()>, T) {
        let Request {
            message,
            metadata,
            extensions,
            timeout,
            deadline,
            encoding,
            context,
            client_path,
            message_compressed,
        } = self;
        let head = Request {
            message: (),
            metadata,
            extensions,
            timeout,
            deadline,
            encoding,
            context,
            client_path,
            message_compressed,
        };
        (head, message)
    }

    pub(crate) fn set_context(&mut self, context: CallContext) {
        self.deadline = context.deadline();
        self.context = Some(context);
    }

    pub(crate) fn set_client_path(&mut self, path: &'static str) {
        self.client_path = Some(path);
    }

    /// Server, unary and server-streaming methods: whether the request
    /// message arrived compressed (its Compressed-Flag was 1). `None` on a
    /// streaming request (ask [`Streaming::message_flagged`] per message)
    /// and on a request built by the application.
    ///
    /// [`Streaming::message_flagged`]: super::Streaming::message_flagged
    pub fn message_compressed(&self) -> Option<bool> {
        self.message_compressed
    }

    pub(crate) fn set_message_compressed(&mut self, compressed: bool) {
        self.message_compressed = Some(compressed);
    }
}

impl Request<()> {
    /// Puts `message` into a head made by [`into_parts`](Self::into_parts).
    pub fn with_message<T>(self, message: T) -> Request<T> {
        self.map(|()| message)
    }
}

/// A response: the message (or stream), the initial metadata (response
/// headers) and the trailing metadata.
///
/// On the server, [`metadata`](Self::metadata) is sent as the response headers
/// and [`trailers`](Self::trailers) with the final status. On the client they
/// hold what the server sent; for a streaming response the trailers are read
/// from the [`Streaming`](super::Streaming) once it ends.
///
/// # Failed calls and metadata
///
/// A handler that fails returns `Err(status)`; the status's
/// [metadata](crate::Status::metadata) is sent as the trailers (in a
/// Trailers-Only response when no headers went out). When a response was
/// returned and its stream or send fails later, its trailers still go out,
/// merged with the failing status's metadata: a key the status sets replaces
/// that key's values from the response's trailers. An interceptor's
/// rejection sends its status's metadata the same way.
///
/// On the client, a call that ends with a non-`OK` status returns that status
/// with the server's trailing metadata (for a Trailers-Only response, that
/// block's metadata) as its [metadata](crate::Status::metadata); the status
/// headers themselves (`grpc-status`, `grpc-message`,
/// `grpc-status-details-bin`) are never part of it. The initial response
/// headers are not included: the status carries what came with it, as
/// tonic's does (grpc-go keeps headers and trailers apart from the status,
/// in its `Header` and `Trailer` call options); a streaming call's headers
/// are its `Response`'s [`metadata`](Self::metadata).
#[derive(Debug)]
pub struct Response<T> {
    message: T,
    metadata: MetadataMap,
    trailers: MetadataMap,
    extensions: Extensions,
    encoding: Option<Encoding>,
    /// Client: the Compressed-Flag of the single response message.
    message_compressed: Option<bool>,
}

impl<T> Response<T> {
    /// A response with `message` and no metadata.
    pub fn new(message: T) -> Response<T> {
        Response {
            message,
            metadata: MetadataMap::new(),
            trailers: MetadataMap::new(),
            extensions: Extensions::new(),
            encoding: None,
            message_compressed: None,
        }
    }

    /// The message.
    pub fn get_ref(&self) -> &T {
        &self.message
    }

    /// The message, to modify.
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.message
    }

    /// The message, consuming the response.
    pub fn into_inner(self) -> T {
        self.message
    }

    /// The initial metadata (response headers).
    pub fn metadata(&self) -> &MetadataMap {
        &self.metadata
    }

    /// The initial metadata, to modify.
    pub fn metadata_mut(&mut self) -> &mut MetadataMap {
        &mut self.metadata
    }

    /// The trailing metadata (sent with the status).
    pub fn trailers(&self) -> &MetadataMap {
        &self.trailers
    }

    /// The trailing metadata, to modify.
    pub fn trailers_mut(&mut self) -> &mut MetadataMap {
        &mut self.trailers
    }

    /// Typed values attached to the response; never sent.
    pub fn extensions(&self) -> &Extensions {
        &self.extensions
    }

    /// The extensions, to modify.
    pub fn extensions_mut(&mut self) -> &mut Extensions {
        &mut self.extensions
    }

    /// Server: compresses this call's response messages with `encoding`
    /// instead of the router's default ([`Router::send_compressed`]), if the
    /// client accepts it; [`Encoding::Identity`] sends them uncompressed. The
    /// choice is per call: it is made before the response headers go out,
    /// which is when gRPC announces `grpc-encoding`.
    ///
    /// [`Router::send_compressed`]: super::Router::send_compressed
    pub fn set_compression(&mut self, encoding: Encoding) {
        self.encoding = Some(encoding);
    }

    /// The compression set with [`set_compression`](Self::set_compression).
    pub fn compression(&self) -> Option<Encoding> {
        self.encoding
    }

    /// The response with its message replaced by `f(message)`.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Response<U> {
        Response {
            message: f(self.message),
            metadata: self.metadata,
            trailers: self.trailers,
            extensions: self.extensions,
            encoding: self.encoding,
            message_compressed: self.message_compressed,
        }
    }

    /// The parts: message, initial metadata, trailing metadata.
    pub fn into_parts(self) -> (T, MetadataMap, MetadataMap) {
        (self.message, self.metadata, self.trailers)
    }

    pub(crate) fn from_parts(message: T, metadata: MetadataMap, trailers: MetadataMap) -> Self {
        Response {
            message,
            metadata,
            trailers,
            extensions: Extensions::new(),
            encoding: None,
            message_compressed: None,
        }
    }

    /// Client, unary and client-streaming methods: whether the response
    /// message arrived compressed (its Compressed-Flag was 1). `None` on a
    /// streaming response (ask [`Streaming::message_flagged`] per message)
    /// and on a response built by the application.
    ///
    /// [`Streaming::message_flagged`]: super::Streaming::message_flagged
    pub fn message_compressed(&self) -> Option<bool> {
        self.message_compressed
    }

    pub(crate) fn set_message_compressed(&mut self, compressed: bool) {
        self.message_compressed = Some(compressed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadline_propagation_keeps_the_earlier_deadline() {
        let t0 = Instant::now();
        let mut incoming = Request::new(());
        incoming.set_deadline(t0 + Duration::from_secs(5));
        let out = Request::new(1u8).with_deadline_of(&incoming);
        assert_eq!(out.deadline(), Some(t0 + Duration::from_secs(5)));
        let mut mine = Request::new(1u8);
        mine.set_deadline(t0 + Duration::from_secs(1));
        assert_eq!(
            mine.with_deadline_of(&incoming).deadline(),
            Some(t0 + Duration::from_secs(1))
        );
        let none = Request::new(1u8).with_deadline_of(&Request::new(()));
        assert_eq!(none.deadline(), None);
    }

    #[test]
    fn time_remaining_is_the_smaller_of_timeout_and_deadline() {
        let mut r = Request::new(());
        assert_eq!(r.time_remaining(), None);
        r.set_timeout(Duration::from_millis(10));
        assert_eq!(r.time_remaining(), Some(Duration::from_millis(10)));
        r.set_deadline(Instant::now() + Duration::from_secs(60));
        assert_eq!(r.time_remaining(), Some(Duration::from_millis(10)));
        let mut past = Request::new(());
        past.set_deadline(Instant::now());
        assert_eq!(past.time_remaining(), Some(Duration::ZERO));
    }

    #[test]
    fn response_compression_is_unset_until_chosen_and_survives_map() {
        let mut r = Response::new(1u8);
        assert_eq!(r.compression(), None);
        r.set_compression(Encoding::Identity);
        assert_eq!(r.compression(), Some(Encoding::Identity));
        r.set_compression(Encoding::Gzip);
        let mapped = r.map(|n| n + 1);
        assert_eq!(mapped.compression(), Some(Encoding::Gzip));
        assert_eq!(*mapped.get_ref(), 2);
    }

    #[test]
    fn parts_round_trip_keeps_metadata_and_extensions() {
        let mut r = Request::new(7u32);
        r.metadata_mut().insert("x-a", "b").expect("valid");
        r.extensions_mut().insert(42u64);
        let (head, message) = r.into_parts();
        assert_eq!(message, 7);
        let r = head.with_message("seven");
        assert_eq!(r.metadata().get("x-a"), Some("b"));
        assert_eq!(r.extensions().get::<u64>(), Some(&42));
        assert_eq!(*r.get_ref(), "seven");
    }
}
