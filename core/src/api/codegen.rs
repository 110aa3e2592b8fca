//! The surface generated code uses — and the only one: `ferrule-build` emits
//! code against this module (re-exported by the facade as
//! `ferrule::codegen`), so this file is the contract between the two.
//!
//! # What a generated service looks like
//!
//! For `service Bookstore { rpc GetBook(GetBookRequest) returns (Book); ... }`
//! in package `bookstore`:
//!
//! ```ignore
//! use ferrule::codegen::*;
//!
//! pub const GET_BOOK: MethodDescriptor = MethodDescriptor {
//!     path: "/bookstore.Bookstore/GetBook",
//!     service: "bookstore.Bookstore",
//!     method: "GetBook",
//!     kind: MethodKind::Unary,
//! };
//!
//! // ----- client -----
//! #[derive(Clone, Debug)]
//! pub struct BookstoreClient { inner: Client }
//! impl BookstoreClient {
//!     pub fn new(inner: impl Into<Client>) -> Self { Self { inner: inner.into() } }
//!     pub async fn get_book(&self, request: impl IntoRequest<GetBookRequest>)
//!         -> Result<Response<Book>, Status> {
//!         self.inner.unary(&GET_BOOK, request.into_request(),
//!             ProstCodec::<GetBookRequest, Book>::new()).await
//!     }
//!     pub async fn list_books(&self, request: impl IntoRequest<ListBooksRequest>)
//!         -> Result<Response<Streaming<Book>>, Status> {
//!         self.inner.server_streaming(&LIST_BOOKS, request.into_request(),
//!             ProstCodec::<ListBooksRequest, Book>::new()).await
//!     }
//!     pub async fn add_books(&self,
//!         request: impl IntoStreamingRequest<Message: Into<OutboundMessage<Book>>>)
//!         -> Result<Response<AddBooksResponse>, Status> {
//!         self.inner.client_streaming(&ADD_BOOKS, request.into_streaming_request(),
//!             ProstCodec::<Book, AddBooksResponse>::new()).await
//!     }
//!     pub async fn chat(&self,
//!         request: impl IntoStreamingRequest<Message: Into<OutboundMessage<ChatMessage>>>)
//!         -> Result<Response<Streaming<ChatMessage>>, Status> {
//!         self.inner.streaming(&CHAT, request.into_streaming_request(),
//!             ProstCodec::<ChatMessage, ChatMessage>::new()).await
//!     }
//! }
//!
//! // ----- server -----
//! pub trait Bookstore: Send + Sync + 'static {
//!     fn get_book(&self, request: Request<GetBookRequest>)
//!         -> impl Future<Output = Result<Response<Book>, Status>> + Send;
//!     // Items: Result<Book, Status> or Result<OutboundMessage<Book>, Status>.
//!     type ListBooksStream: Stream<Item: ResponseItem<Book>> + Send + 'static;
//!     fn list_books(&self, request: Request<ListBooksRequest>)
//!         -> impl Future<Output = Result<Response<Self::ListBooksStream>, Status>> + Send;
//!     fn add_books(&self, request: Request<Streaming<Book>>)
//!         -> impl Future<Output = Result<Response<AddBooksResponse>, Status>> + Send;
//!     type ChatStream: Stream<Item: ResponseItem<ChatMessage>> + Send + 'static;
//!     fn chat(&self, request: Request<Streaming<ChatMessage>>)
//!         -> impl Future<Output = Result<Response<Self::ChatStream>, Status>> + Send;
//! }
//!
//! pub struct BookstoreServer<T> { inner: Arc<T> }
//! impl<T: Bookstore> BookstoreServer<T> {
//!     pub fn new(service: T) -> Self { Self { inner: Arc::new(service) } }
//!     pub fn from_arc(inner: Arc<T>) -> Self { Self { inner } }
//! }
//! impl<T: Bookstore> Service for BookstoreServer<T> {
//!     const NAME: &'static str = "bookstore.Bookstore";
//!     fn register(self, routes: &mut Routes) {
//!         // On the server the codec encodes responses and decodes requests.
//!         routes.add(&GET_BOOK, unary_handler(self.inner.clone(),
//!             |svc: Arc<T>, req| async move { svc.get_book(req).await },
//!             ProstCodec::<Book, GetBookRequest>::new()));
//!         routes.add(&LIST_BOOKS, server_streaming_handler(self.inner.clone(),
//!             |svc: Arc<T>, req| async move { svc.list_books(req).await },
//!             ProstCodec::<Book, ListBooksRequest>::new()));
//!         routes.add(&ADD_BOOKS, client_streaming_handler(self.inner.clone(),
//!             |svc: Arc<T>, req| async move { svc.add_books(req).await },
//!             ProstCodec::<AddBooksResponse, Book>::new()));
//!         routes.add(&CHAT, streaming_handler(self.inner.clone(),
//!             |svc: Arc<T>, req| async move { svc.chat(req).await },
//!             ProstCodec::<ChatMessage, ChatMessage>::new()));
//!     }
//! }
//! // Users: Router::new().add_service(BookstoreServer::new(MyStore::default()))
//! ```
//!
//! Codecs: a client codec encodes the request type and decodes the response
//! type; a server codec the reverse. `ProstCodec` needs the `prost` feature
//! (of `ferrule-core`, or of the facade).

use std::fmt;

pub use std::future::Future;
pub use std::sync::Arc;

pub use futures_core::Stream;

#[cfg(feature = "prost")]
pub use crate::codec::ProstCodec;
pub use crate::codec::metadata::MetadataMap;
pub use crate::codec::{BytesCodec, Codec};
pub use crate::{Code, Status};

pub use super::client::Client;
pub use super::message::{InboundMessage, OutboundMessage, ResponseItem};
pub use super::request::{Request, Response};
pub use super::server::Routes;
pub use super::server::handler::{
    Handler, ServerCodec, client_streaming_handler, server_streaming_handler, streaming_handler,
    unary_handler,
};
pub use super::streaming::Streaming;

/// One RPC method, as a `const` in generated code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MethodDescriptor {
    /// The HTTP/2 path, `/package.Service/Method`.
    pub path: &'static str,
    /// The fully qualified service name, `package.Service`.
    pub service: &'static str,
    /// The method name, `Method`.
    pub method: &'static str,
    /// Which of the four kinds.
    pub kind: MethodKind,
}

/// The four kinds of RPC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MethodKind {
    /// One request, one response.
    Unary,
    /// One request, a stream of responses.
    ServerStreaming,
    /// A stream of requests, one response.
    ClientStreaming,
    /// Streams both ways.
    BidiStreaming,
}

impl MethodKind {
    /// Whether the client sends a stream.
    pub const fn client_streams(self) -> bool {
        matches!(
            self,
            MethodKind::ClientStreaming | MethodKind::BidiStreaming
        )
    }

    /// Whether the server sends a stream.
    pub const fn server_streams(self) -> bool {
        matches!(
            self,
            MethodKind::ServerStreaming | MethodKind::BidiStreaming
        )
    }
}

impl fmt::Display for MethodKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MethodKind::Unary => "unary",
            MethodKind::ServerStreaming => "server streaming",
            MethodKind::ClientStreaming => "client streaming",
            MethodKind::BidiStreaming => "bidirectional streaming",
        })
    }
}

/// A service the [`Router`](super::Router) can serve: generated
/// `FooServer<T>` types implement it.
pub trait Service: Send + 'static {
    /// The fully qualified service name, `package.Service`.
    const NAME: &'static str;

    /// Registers one handler per method.
    fn register(self, routes: &mut Routes);
}

/// Converts a message, or a [`Request`] of one, into a [`Request`]: what
/// generated client methods accept.
pub trait IntoRequest<T>: Sized {
    /// The request.
    fn into_request(self) -> Request<T>;
}

impl<T> IntoRequest<T> for T {
    fn into_request(self) -> Request<T> {
        Request::new(self)
    }
}

impl<T> IntoRequest<T> for Request<T> {
    fn into_request(self) -> Request<T> {
        self
    }
}

/// Converts a stream of messages, or a [`Request`] of one, into a streaming
/// [`Request`]: what generated client-streaming and bidirectional methods
/// accept.
pub trait IntoStreamingRequest: Sized {
    /// The stream.
    type Stream: Stream<Item = Self::Message> + Send + 'static;
    /// The message type.
    type Message;

    /// The request.
    fn into_streaming_request(self) -> Request<Self::Stream>;
}

impl<S> IntoStreamingRequest for S
where
    S: Stream + Send + 'static,
{
    type Stream = S;
    type Message = S::Item;

    fn into_streaming_request(self) -> Request<S> {
        Request::new(self)
    }
}

impl<S> IntoStreamingRequest for Request<S>
where
    S: Stream + Send + 'static,
{
    type Stream = S;
    type Message = S::Item;

    fn into_streaming_request(self) -> Request<S> {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_say_which_side_streams() {
        assert!(!MethodKind::Unary.client_streams() && !MethodKind::Unary.server_streams());
        assert!(MethodKind::ServerStreaming.server_streams());
        assert!(!MethodKind::ServerStreaming.client_streams());
        assert!(MethodKind::ClientStreaming.client_streams());
        assert!(MethodKind::BidiStreaming.client_streams());
        assert!(MethodKind::BidiStreaming.server_streams());
    }

    #[test]
    fn a_message_and_a_request_both_convert() {
        let mut r = 5u32.into_request();
        assert_eq!(*r.get_ref(), 5);
        r.metadata_mut().insert("k", "v").expect("valid");
        let again: Request<u32> = r.into_request();
        assert_eq!(again.metadata().get("k"), Some("v"));
    }
}
