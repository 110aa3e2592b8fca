//! Snapshot-style checks of the generated code for `tests/protos/shop.proto`.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use crate::Builder;

const PROTOS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/protos");

fn generate(builder: Builder, proto: &str) -> BTreeMap<String, String> {
    builder
        .generate_to_strings(true, &[proto], &[PROTOS])
        .unwrap()
}

fn shop() -> String {
    let files = generate(Builder::new(), "shop.proto");
    files
        .get("shop.v1.rs")
        .expect("shop.v1.rs generated")
        .clone()
}

/// The text from `start` to the first `end` after it.
fn section<'a>(source: &'a str, start: &str, end: &str) -> &'a str {
    let from = source
        .find(start)
        .unwrap_or_else(|| panic!("no {start:?} in:\n{source}"));
    let rest = &source[from..];
    let to = rest[start.len()..]
        .find(end)
        .map_or(rest.len(), |to| to + start.len());
    &rest[..to]
}

#[test]
fn method_descriptors_are_static_paths() {
    let source = shop();
    let methods = section(
        &source,
        "pub mod bookstore_methods",
        "pub mod bookstore_client",
    );
    for (constant, path, kind) in [
        ("GET_BOOK", "/shop.v1.Bookstore/GetBook", "Unary"),
        (
            "LIST_BOOKS",
            "/shop.v1.Bookstore/ListBooks",
            "ServerStreaming",
        ),
        (
            "ADD_BOOKS",
            "/shop.v1.Bookstore/AddBooks",
            "ClientStreaming",
        ),
        ("CHAT", "/shop.v1.Bookstore/Chat", "BidiStreaming"),
        ("PING", "/shop.v1.Bookstore/Ping", "Unary"),
        ("MATCH", "/shop.v1.Bookstore/Match", "Unary"),
    ] {
        assert!(
            methods.contains(&format!(
                "pub const {constant}: ::ferrule::codegen::MethodDescriptor"
            )),
            "{constant} in:\n{methods}"
        );
        assert!(methods.contains(&format!("path: \"{path}\"")), "{path}");
        assert!(
            methods.contains(&format!("kind: ::ferrule::codegen::MethodKind::{kind}")),
            "{kind}"
        );
    }
    assert!(methods.contains("pub const SERVICE_NAME: &str = \"shop.v1.Bookstore\";"));
    assert!(
        methods.contains(
            "pub const METHODS: &[::ferrule::codegen::MethodDescriptor] = &[\n        GET_BOOK,"
        ),
        "{methods}"
    );
}

/// Drops whitespace and trailing commas, so checks do not depend on how
/// prettyplease breaks lines; expected snippets go through it too.
fn squash(source: &str) -> String {
    let mut squashed: String = source.chars().filter(|c| !c.is_whitespace()).collect();
    for (from, to) in [(",>", ">"), (",)", ")"), (",}", "}")] {
        squashed = squashed.replace(from, to);
    }
    squashed
}

#[test]
fn proto_comments_become_docs_and_detached_comments_do_not() {
    let source = shop();
    // Leading comments of the service, on the client struct and the trait.
    assert_eq!(source.matches("/// Sells books.").count(), 2, "{source}");
    // Leading and trailing method comments.
    assert!(source.contains("/// Gets one book by id; NOT_FOUND if there is none."));
    assert!(source.contains("/// Adds books, returns them all."));
    // rustdoc-escaped brackets, as prost-build escapes them for messages.
    assert!(source.contains(r"/// Streams the catalogue, \[limit\] books at most."));
    // Methods without a comment still get a doc.
    assert!(source.contains("/// Calls `Ping` (unary)."));
    assert!(source.contains("/// Handles `Ping` (unary)."));
    assert!(!source.contains("Licence header"));
}

/// The generated code of `shop.v1`, squashed, cut into its client, server
/// trait, server wrapper and routes.
struct Parts {
    all: String,
    client: String,
    server_trait: String,
    wrapper: String,
}

impl Parts {
    fn new() -> Parts {
        let all = squash(&shop());
        let cut = |start: &str, end: &str| section(&all, &squash(start), &squash(end)).to_owned();
        Parts {
            client: cut("pub mod bookstore_client", "pub mod bookstore_server"),
            server_trait: cut("pub trait Bookstore", "pub struct BookstoreServer"),
            wrapper: cut("pub struct BookstoreServer", "pub mod warehouse_methods"),
            all,
        }
    }
}

/// Asserts that `haystack` (squashed) contains `needle` once squashed.
#[track_caller]
fn has(haystack: &str, needle: &str) {
    let needle = squash(needle);
    assert!(haystack.contains(&needle), "{needle}\nnot in\n{haystack}");
}

#[test]
fn codecs_encode_requests_on_the_client_and_responses_on_the_server() {
    let parts = Parts::new();
    let cases = [
        (
            "super::GetBookRequest, super::Book",
            "super::Book, super::GetBookRequest",
        ),
        (
            "super::ListBooksRequest, super::Book",
            "super::Book, super::ListBooksRequest",
        ),
        (
            "super::Book, super::BookList",
            "super::BookList, super::Book",
        ),
        ("(), ()", "(), ()"),
        (
            "super::GetBookRequest, ::prost_types::Timestamp",
            "::prost_types::Timestamp, super::GetBookRequest",
        ),
    ];
    for (client_types, server_types) in cases {
        has(
            &parts.client,
            &format!("::ferrule::codegen::ProstCodec::<{client_types}>::new()"),
        );
        has(
            &parts.wrapper,
            &format!("::ferrule::codegen::ProstCodec::<{server_types}>::new()"),
        );
    }
}

#[test]
fn each_kind_uses_its_client_call_and_server_handler() {
    let parts = Parts::new();
    for (method, call, handler, constant, request) in [
        (
            "get_book",
            "unary",
            "unary_handler",
            "GET_BOOK",
            "into_request",
        ),
        (
            "list_books",
            "server_streaming",
            "server_streaming_handler",
            "LIST_BOOKS",
            "into_request",
        ),
        (
            "add_books",
            "client_streaming",
            "client_streaming_handler",
            "ADD_BOOKS",
            "into_streaming_request",
        ),
        (
            "chat",
            "streaming",
            "streaming_handler",
            "CHAT",
            "into_streaming_request",
        ),
    ] {
        let body = section(
            &parts.client,
            &squash(&format!("pub async fn {method}(")),
            "pubasyncfn",
        );
        has(
            body,
            &format!(
                "self.inner.{call}(&super::bookstore_methods::{constant}, request.{request}(),"
            ),
        );
        has(
            &parts.wrapper,
            &format!(
                "routes.add(&super::bookstore_methods::{constant}, ::ferrule::codegen::{handler}(\
                 ::core::clone::Clone::clone(&self.inner), |service: ::ferrule::codegen::Arc<T>, request| \
                 async move {{ <T as Bookstore>::{method}(&service, request).await }},"
            ),
        );
    }
    // Unary requests take a message or a Request; streaming ones any stream.
    has(
        &parts.client,
        "pub async fn get_book(&self, request: impl ::ferrule::codegen::IntoRequest<super::GetBookRequest>) \
         -> ::core::result::Result<::ferrule::codegen::Response<super::Book>, ::ferrule::codegen::Status>",
    );
    has(
        &parts.client,
        "pub async fn chat(&self, request: impl ::ferrule::codegen::IntoStreamingRequest<Message: \
         ::core::convert::Into<::ferrule::codegen::OutboundMessage<super::super::common::Note>>>) \
         -> ::core::result::Result<::ferrule::codegen::Response<::ferrule::codegen::Streaming<super::super::common::Note>>, ::ferrule::codegen::Status>",
    );
}

#[test]
fn server_trait_returns_send_futures_and_declares_stream_types() {
    let parts = Parts::new();
    let server = &parts.server_trait;
    has(server, "pub trait Bookstore: Send + Sync + 'static {");
    has(
        server,
        "fn get_book(&self, request: ::ferrule::codegen::Request<super::GetBookRequest>) \
         -> impl ::core::future::Future<Output = ::core::result::Result<::ferrule::codegen::Response<super::Book>, \
         ::ferrule::codegen::Status>> + ::core::marker::Send;",
    );
    assert_eq!(server.matches("->impl::core::future::Future<").count(), 6);
    assert_eq!(server.matches(">+::core::marker::Send;").count(), 6);
    // One associated stream per server-streaming method, none otherwise.
    has(
        server,
        "type ListBooksStream: ::ferrule::codegen::Stream<Item: \
         ::ferrule::codegen::ResponseItem<super::Book>> + ::core::marker::Send + 'static;",
    );
    has(
        server,
        "Output = ::core::result::Result<::ferrule::codegen::Response<Self::ListBooksStream>,",
    );
    has(server, "type ChatStream:");
    assert_eq!(server.matches("+'static;").count(), 2, "{server}");
    has(
        server,
        "fn add_books(&self, request: ::ferrule::codegen::Request<::ferrule::codegen::Streaming<super::Book>>)",
    );
    // A keyword method name stays usable.
    has(server, "fn r#match(");
    has(
        &parts.wrapper,
        "<T as Bookstore>::r#match(&service, request).await",
    );
}

#[test]
fn types_from_other_packages_and_well_known_types_resolve_from_the_nested_modules() {
    let parts = Parts::new();
    has(&parts.all, "Streaming<super::super::common::Note>");
    has(
        &parts.all,
        "::ferrule::codegen::Response<::prost_types::Timestamp>",
    );
    has(&parts.all, "::ferrule::codegen::IntoRequest<()>");
    assert!(!parts.all.contains("super::()"));
    assert!(!parts.all.contains("super::::"));
}

#[test]
fn server_wrapper_shares_the_implementation() {
    let parts = Parts::new();
    let wrapper = &parts.wrapper;
    has(
        wrapper,
        "pub struct BookstoreServer<T> { inner: ::ferrule::codegen::Arc<T> }",
    );
    has(wrapper, "pub fn new(service: T) -> Self");
    has(
        wrapper,
        "pub fn from_arc(service: ::ferrule::codegen::Arc<T>) -> Self",
    );
    // Clone without requiring T: Clone.
    has(
        wrapper,
        "impl<T> ::core::clone::Clone for BookstoreServer<T>",
    );
    has(
        wrapper,
        "impl<T: Bookstore> ::ferrule::codegen::Service for BookstoreServer<T> {",
    );
    has(
        wrapper,
        "const NAME: &'static str = super::bookstore_methods::SERVICE_NAME;",
    );
    has(
        wrapper,
        "fn register(self, routes: &mut ::ferrule::codegen::Routes) {",
    );
    assert_eq!(wrapper.matches("routes.add(").count(), 6);
}

#[test]
fn only_the_requested_sides_are_generated() {
    let client_only = generate(Builder::new().build_server(false), "shop.proto");
    let source = &client_only["shop.v1.rs"];
    assert!(source.contains("pub struct BookstoreClient"));
    assert!(!source.contains("pub trait Bookstore"));
    let neither = generate(
        Builder::new().build_client(false).build_server(false),
        "shop.proto",
    );
    let source = &neither["shop.v1.rs"];
    assert!(source.contains("pub mod bookstore_methods"));
    assert!(!source.contains("BookstoreClient"));
    assert!(!source.contains("BookstoreServer"));
}
