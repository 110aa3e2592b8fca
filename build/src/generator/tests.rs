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

/// The text between `start` and the first `end` after it.
fn section<'a>(source: &'a str, start: &str, end: &str) -> &'a str {
    let from = source
        .find(start)
        .unwrap_or_else(|| panic!("no {start:?} in:\n{source}"));
    let rest = &source[from..];
    let to = rest.find(end).unwrap_or(rest.len());
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
