//! The `<service>_methods` module: a `MethodDescriptor` constant per RPC.

use std::fmt::Write as _;

use prost_build::Service;

use super::names;

pub(crate) fn emit(codegen: &str, service: &Service, buf: &mut String) {
    let stem = names::module_stem(service);
    let full_name = names::full_service_name(service);
    let _ = writeln!(
        buf,
        "/// Method descriptors of `{full_name}`: the `:path` of every method as a \
         `&'static str`, shared by its client and server."
    );
    let _ = writeln!(buf, "pub mod {stem}_methods {{");
    let _ = writeln!(buf, "/// The full name of the service, `{full_name}`.");
    let _ = writeln!(buf, "pub const SERVICE_NAME: &str = {full_name:?};");
    for method in &service.methods {
        let constant = names::descriptor_const(method);
        let path = names::method_path(service, method);
        let kind = match (method.client_streaming, method.server_streaming) {
            (false, false) => "Unary",
            (false, true) => "ServerStreaming",
            (true, false) => "ClientStreaming",
            (true, true) => "BidiStreaming",
        };
        let _ = writeln!(
            buf,
            "/// `{proto}`: {words}, at `{path}`.",
            proto = method.proto_name,
            words = names::kind_words(method),
        );
        let _ = writeln!(
            buf,
            "pub const {constant}: {codegen}::MethodDescriptor = {codegen}::MethodDescriptor {{ \
             path: {path:?}, service: SERVICE_NAME, method: {proto:?}, \
             kind: {codegen}::MethodKind::{kind} }};",
            proto = method.proto_name,
        );
    }
    let all = service
        .methods
        .iter()
        .map(names::descriptor_const)
        .collect::<Vec<_>>()
        .join(", ");
    let _ = writeln!(buf, "/// Every method of the service, in `.proto` order.");
    let _ = writeln!(
        buf,
        "pub const METHODS: &[{codegen}::MethodDescriptor] = &[{all}];"
    );
    buf.push_str("}\n");
}
