//! The `<service>_server` module: the trait a service implements and the
//! wrapper that registers it with a router.

use std::fmt::Write as _;

use prost_build::{Method, Service};

use super::names;

pub(crate) fn emit(c: &str, service: &Service, buf: &mut String) {
    let stem = names::module_stem(service);
    let full_name = names::full_service_name(service);
    let trait_name = &service.name;
    let server = format!("{}Server", service.name);

    let _ = writeln!(buf, "/// The server side of `{full_name}`.");
    let _ = writeln!(buf, "pub mod {stem}_server {{");

    // The trait.
    names::docs(
        &service.comments,
        &format!("The RPCs of `{full_name}`, to implement."),
        buf,
    );
    let _ = writeln!(buf, "///");
    let _ = writeln!(
        buf,
        "/// Methods may be written as `async fn`; register the implementation \
         with [`{server}`]."
    );
    let _ = writeln!(buf, "pub trait {trait_name}: Send + Sync + 'static {{");
    for method in &service.methods {
        emit_trait_method(c, method, buf);
    }
    buf.push_str("}\n");

    // The wrapper.
    let _ = writeln!(
        buf,
        "/// Serves a [`{trait_name}`] implementation: add it to a router.\n\
         #[derive(Debug)]\n\
         pub struct {server}<T> {{ inner: {c}::Arc<T> }}"
    );
    let _ = writeln!(
        buf,
        "impl<T: {trait_name}> {server}<T> {{\n\
         /// Serves `service`.\n\
         pub fn new(service: T) -> Self {{ Self::from_arc({c}::Arc::new(service)) }}\n\
         /// Serves a service that is shared with other code.\n\
         pub fn from_arc(service: {c}::Arc<T>) -> Self {{ {server} {{ inner: service }} }}\n\
         }}"
    );
    let _ = writeln!(
        buf,
        "impl<T> ::core::clone::Clone for {server}<T> {{ \
         fn clone(&self) -> Self {{ {server} {{ inner: ::core::clone::Clone::clone(&self.inner) }} }} }}"
    );
    let _ = writeln!(
        buf,
        "impl<T: {trait_name}> {c}::Service for {server}<T> {{\n\
         const NAME: &'static str = super::{stem}_methods::SERVICE_NAME;\n\
         fn register(self, routes: &mut {c}::Routes) {{"
    );
    for method in &service.methods {
        emit_route(c, &stem, trait_name, method, buf);
    }
    buf.push_str("}\n}\n}\n");
}

fn emit_trait_method(c: &str, method: &Method, buf: &mut String) {
    let input = names::message_type(&method.input_type);
    let output = names::message_type(&method.output_type);
    let name = &method.name;
    let request = if method.client_streaming {
        format!("{c}::Request<{c}::Streaming<{input}>>")
    } else {
        format!("{c}::Request<{input}>")
    };
    let response = if method.server_streaming {
        let stream = names::stream_type(method);
        let _ = writeln!(
            buf,
            "/// The stream of responses [`{name}`](Self::{name}) returns.\n\
             /// Each item is a response message or a status that ends the call; wrap a \
             message in `OutboundMessage` to choose whether it is compressed.\n\
             type {stream}: {c}::Stream<Item: {c}::ResponseItem<{output}>> \
             + ::core::marker::Send + 'static;"
        );
        format!("Self::{stream}")
    } else {
        output
    };
    names::docs(
        &method.comments,
        &format!(
            "Handles `{}` ({}).",
            method.proto_name,
            names::kind_words(method)
        ),
        buf,
    );
    let _ = writeln!(
        buf,
        "fn {name}(&self, request: {request}) -> impl ::core::future::Future<Output = \
         ::core::result::Result<{c}::Response<{response}>, {c}::Status>> + ::core::marker::Send;"
    );
}

fn emit_route(c: &str, stem: &str, trait_name: &str, method: &Method, buf: &mut String) {
    let input = names::message_type(&method.input_type);
    let output = names::message_type(&method.output_type);
    let name = &method.name;
    let descriptor = format!("super::{stem}_methods::{}", names::descriptor_const(method));
    let helper = match (method.client_streaming, method.server_streaming) {
        (false, false) => "unary_handler",
        (false, true) => "server_streaming_handler",
        (true, false) => "client_streaming_handler",
        (true, true) => "streaming_handler",
    };
    let _ = writeln!(
        buf,
        "routes.add(&{descriptor}, {c}::{helper}(::core::clone::Clone::clone(&self.inner), \
         |service: {c}::Arc<T>, request| async move {{ <T as {trait_name}>::{name}(&service, request).await }}, \
         {c}::ProstCodec::<{output}, {input}>::new()));"
    );
}
