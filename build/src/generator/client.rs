//! The `<service>_client` module: a typed client, one method per RPC.

use std::fmt::Write as _;

use prost_build::{Method, Service};

use super::names;

pub(crate) fn emit(c: &str, service: &Service, buf: &mut String) {
    let stem = names::module_stem(service);
    let full_name = names::full_service_name(service);
    let client = format!("{}Client", service.name);

    let _ = writeln!(buf, "/// The client of `{full_name}`.");
    let _ = writeln!(buf, "pub mod {stem}_client {{");
    names::docs(
        &service.comments,
        &format!("A client of `{full_name}`: one method per RPC."),
        buf,
    );
    let _ = writeln!(buf, "///");
    let _ = writeln!(
        buf,
        "/// Cheap to clone: clones share the connection and the interceptors."
    );
    let _ = writeln!(buf, "#[derive(Clone, Debug)]");
    let _ = writeln!(buf, "pub struct {client} {{ inner: {c}::Client }}");
    let _ = writeln!(buf, "impl {client} {{");
    let _ = writeln!(
        buf,
        "/// A client that makes its calls through `inner` (a channel with its \
         client interceptors).\n\
         pub fn new(inner: impl ::core::convert::Into<{c}::Client>) -> Self {{ \
         {client} {{ inner: inner.into() }} }}"
    );
    let _ = writeln!(
        buf,
        "/// The underlying client.\n\
         pub fn inner(&self) -> &{c}::Client {{ &self.inner }}"
    );
    let _ = writeln!(
        buf,
        "/// The underlying client, consuming this one.\n\
         pub fn into_inner(self) -> {c}::Client {{ self.inner }}"
    );
    for method in &service.methods {
        emit_method(c, &stem, method, buf);
    }
    buf.push_str("}\n}\n");
}

fn emit_method(c: &str, stem: &str, method: &Method, buf: &mut String) {
    let input = names::message_type(&method.input_type);
    let output = names::message_type(&method.output_type);
    let descriptor = format!("super::{stem}_methods::{}", names::descriptor_const(method));
    let name = &method.name;
    names::docs(
        &method.comments,
        &format!(
            "Calls `{}` ({}).",
            method.proto_name,
            names::kind_words(method)
        ),
        buf,
    );
    let codec = format!("{c}::ProstCodec::<{input}, {output}>::new()");
    let (request_type, call, response_type) = match (
        method.client_streaming,
        method.server_streaming,
    ) {
        (false, false) => (
            format!("impl {c}::IntoRequest<{input}>"),
            "unary",
            output.clone(),
        ),
        (false, true) => (
            format!("impl {c}::IntoRequest<{input}>"),
            "server_streaming",
            format!("{c}::Streaming<{output}>"),
        ),
        (true, false) => (
            format!(
                "impl {c}::IntoStreamingRequest<Message: ::core::convert::Into<{c}::OutboundMessage<{input}>>>"
            ),
            "client_streaming",
            output.clone(),
        ),
        (true, true) => (
            format!(
                "impl {c}::IntoStreamingRequest<Message: ::core::convert::Into<{c}::OutboundMessage<{input}>>>"
            ),
            "streaming",
            format!("{c}::Streaming<{output}>"),
        ),
    };
    let into = if method.client_streaming {
        "into_streaming_request"
    } else {
        "into_request"
    };
    let _ = writeln!(
        buf,
        "pub async fn {name}(&self, request: {request_type}) \
         -> ::core::result::Result<{c}::Response<{response_type}>, {c}::Status> {{ \
         self.inner.{call}(&{descriptor}, request.{into}(), {codec}).await }}"
    );
}
