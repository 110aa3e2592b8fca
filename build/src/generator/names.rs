//! Rust names and paths for generated items, derived from the proto names.

use heck::{ToShoutySnakeCase, ToSnakeCase, ToUpperCamelCase};
use prost_build::{Comments, Method, Service};

/// `shop.Bookstore`, or `Bookstore` outside any package.
pub(crate) fn full_service_name(service: &Service) -> String {
    if service.package.is_empty() {
        service.proto_name.clone()
    } else {
        format!("{}.{}", service.package, service.proto_name)
    }
}

/// `/shop.Bookstore/GetBook`: the HTTP/2 `:path` of a method.
pub(crate) fn method_path(service: &Service, method: &Method) -> String {
    format!("/{}/{}", full_service_name(service), method.proto_name)
}

/// The snake-case stem of the service's modules: `bookstore` for
/// `Bookstore`, so `bookstore_client`, `bookstore_server`,
/// `bookstore_methods`.
pub(crate) fn module_stem(service: &Service) -> String {
    unraw(&service.name).to_snake_case()
}

/// The constant naming a method's descriptor: `GET_BOOK`.
pub(crate) fn descriptor_const(method: &Method) -> String {
    unraw(&method.name).to_shouty_snake_case()
}

/// The server trait's associated stream type: `ListBooksStream`.
pub(crate) fn stream_type(method: &Method) -> String {
    format!("{}Stream", method.proto_name.to_upper_camel_case())
}

/// A message type as seen from a module nested in the package's module.
///
/// prost-build resolves message types relative to the package module
/// (`Book`, `super::common::Id`) or absolutely (`::prost_types::Empty`); the
/// service modules sit one level deeper, so relative paths gain a `super::`.
/// Well-known wrappers map to Rust types that need no path: `Empty` is
/// `()`, `BoolValue` is `bool`, and so on.
pub(crate) fn message_type(rust_type: &str) -> String {
    const UNPATHED: &[&str] = &["()", "bool", "i32", "i64", "u32", "u64", "f32", "f64"];
    if rust_type.starts_with("::")
        || rust_type.starts_with("crate::")
        || UNPATHED.contains(&rust_type)
    {
        rust_type.to_owned()
    } else {
        format!("super::{rust_type}")
    }
}

/// What kind of RPC a method is, in words, for generated docs.
pub(crate) fn kind_words(method: &Method) -> &'static str {
    match (method.client_streaming, method.server_streaming) {
        (false, false) => "unary",
        (false, true) => "server streaming",
        (true, false) => "client streaming",
        (true, true) => "bidirectional streaming",
    }
}

/// Appends the proto comments as doc comments, or `fallback` as the doc
/// when the proto has none, so generated public items are documented.
pub(crate) fn docs(comments: &Comments, fallback: &str, buf: &mut String) {
    if comments.leading.is_empty() && comments.trailing.is_empty() {
        for line in fallback.lines() {
            buf.push_str("/// ");
            buf.push_str(line);
            buf.push('\n');
        }
    } else {
        // Detached comments are not about this item; leave them out.
        let attached = Comments {
            leading_detached: Vec::new(),
            leading: comments.leading.clone(),
            trailing: comments.trailing.clone(),
        };
        attached.append_with_indent(0, buf);
    }
}

fn unraw(ident: &str) -> &str {
    ident.strip_prefix("r#").unwrap_or(ident)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn method(name: &str, proto_name: &str) -> Method {
        Method {
            name: name.to_owned(),
            proto_name: proto_name.to_owned(),
            comments: Comments::default(),
            input_type: "In".to_owned(),
            output_type: "Out".to_owned(),
            input_proto_type: ".p.In".to_owned(),
            output_proto_type: ".p.Out".to_owned(),
            options: Default::default(),
            client_streaming: false,
            server_streaming: false,
        }
    }

    fn service(package: &str, name: &str, proto_name: &str) -> Service {
        Service {
            name: name.to_owned(),
            proto_name: proto_name.to_owned(),
            package: package.to_owned(),
            comments: Comments::default(),
            methods: Vec::new(),
            options: Default::default(),
        }
    }

    #[test]
    fn paths_with_and_without_package() {
        let get = method("get_book", "GetBook");
        let cases = [
            ("shop.v1", "/shop.v1.Bookstore/GetBook", "shop.v1.Bookstore"),
            ("", "/Bookstore/GetBook", "Bookstore"),
        ];
        for (package, path, full) in cases {
            let svc = service(package, "Bookstore", "Bookstore");
            assert_eq!(method_path(&svc, &get), path);
            assert_eq!(full_service_name(&svc), full);
        }
    }

    #[test]
    fn identifiers() {
        let cases = [
            // (rust name, proto name, const, stream type)
            ("get_book", "GetBook", "GET_BOOK", "GetBookStream"),
            ("r#type", "type", "TYPE", "TypeStream"),
            (
                "list_v2_items",
                "ListV2Items",
                "LIST_V2_ITEMS",
                "ListV2ItemsStream",
            ),
            ("self_", "self", "SELF", "SelfStream"),
        ];
        for (name, proto_name, constant, stream) in cases {
            let m = method(name, proto_name);
            assert_eq!(descriptor_const(&m), constant, "{proto_name}");
            assert_eq!(stream_type(&m), stream, "{proto_name}");
        }
        let stems = [
            ("Bookstore", "bookstore"),
            ("UserService", "user_service"),
            ("HTTPGateway", "http_gateway"),
        ];
        for (name, stem) in stems {
            assert_eq!(module_stem(&service("p", name, name)), stem);
        }
    }

    #[test]
    fn message_types_from_nested_modules() {
        let cases = [
            ("Book", "super::Book"),
            ("super::common::Id", "super::super::common::Id"),
            ("::prost_types::Timestamp", "::prost_types::Timestamp"),
            ("crate::shared::Thing", "crate::shared::Thing"),
            ("()", "()"),
            ("bool", "bool"),
            ("u64", "u64"),
            (
                "::prost::alloc::string::String",
                "::prost::alloc::string::String",
            ),
            ("nested::Inner", "super::nested::Inner"),
        ];
        for (input, expected) in cases {
            assert_eq!(message_type(input), expected);
        }
    }

    #[test]
    fn docs_fall_back_and_drop_detached_comments() {
        let mut buf = String::new();
        docs(&Comments::default(), "Generated.\nSecond line.", &mut buf);
        assert_eq!(buf, "/// Generated.\n/// Second line.\n");

        let comments = Comments {
            leading_detached: vec![vec!["license".to_owned()]],
            leading: vec![" Gets a book.".to_owned()],
            trailing: Vec::new(),
        };
        let mut buf = String::new();
        docs(&comments, "unused", &mut buf);
        assert_eq!(buf, "/// Gets a book.\n");
    }
}
