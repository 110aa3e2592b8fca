//! Runs each example's client flow against its server, in this process, on
//! an ephemeral loopback port, on every runtime the features enable, and
//! once through `demo` (what `cargo run --example ...` runs, on
//! `ferrule::rt`; the embedded example on its own event loop). The examples
//! are the main job; this proves they work.
//!
//! The examples' own checks decide: a flow fails on the first answer that
//! is not what the service promises.

#![cfg(any(feature = "smol", feature = "tokio"))]

#[allow(dead_code)]
#[path = "../bookstore.rs"]
mod bookstore;

#[allow(dead_code)]
#[path = "../users.rs"]
mod users;

#[allow(dead_code)]
#[path = "../embedded.rs"]
mod embedded;

use std::time::Duration;

/// Long enough for a slow CI machine, short enough that a hang fails.
const LIMIT: Duration = Duration::from_secs(60);

/// Runs `flow` to completion with `block_on` on a thread of its own, so a
/// hang fails the test after [`LIMIT`] instead of stalling the run.
fn run_with_limit<F, E>(name: &str, block_on: fn(F) -> Result<(), E>, flow: F)
where
    F: Send + 'static,
    E: std::fmt::Display + Send + 'static,
{
    let (done, outcome) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(block_on(flow).map_err(|e| e.to_string()));
    });
    match outcome.recv_timeout(LIMIT) {
        Ok(Ok(())) => {}
        Ok(Err(error)) => panic!("{name} failed: {error}"),
        Err(_) => panic!("{name} did not finish within {LIMIT:?}"),
    }
}

/// The two flows on one adapter: server and client on a fresh port each.
macro_rules! flows_on {
    ($module:ident, $adapter:path, $runtime:expr) => {
        mod $module {
            use std::sync::Arc;
            use std::time::Duration;

            use $adapter as adapter;

            use super::{bookstore, run_with_limit, users};

            async fn serve(router: ferrule::Router) -> (ferrule::ServerHandle, ferrule::Channel) {
                let server = adapter::serve("127.0.0.1:0", router)
                    .await
                    .expect("bind an ephemeral loopback port");
                let addr = server.local_addr().expect("the server has an address");
                (server, adapter::channel(&addr.to_string()))
            }

            #[test]
            fn bookstore_client_flow_passes_against_its_server() {
                run_with_limit("the bookstore flow", adapter::block_on, async {
                    let (server, channel) = serve(bookstore::router()).await;
                    let result = bookstore::run_client(channel).await;
                    server.shutdown(Duration::from_secs(1)).await;
                    result
                });
            }

            #[test]
            fn users_client_flow_passes_against_its_server() {
                run_with_limit("the users flow", adapter::block_on, async {
                    let (server, channel) = serve(users::router(Arc::new($runtime))).await;
                    let result = users::run_client(channel).await;
                    server.shutdown(Duration::from_secs(1)).await;
                    result
                });
            }
        }
    };
}

#[cfg(feature = "smol")]
flows_on!(smol, ferrule::smol, ferrule::smol::SmolRuntime);

#[cfg(feature = "tokio")]
flows_on!(
    tokio,
    ferrule::tokio,
    ferrule::tokio::TokioRuntime::current()
);

#[test]
fn bookstore_demo_runs_on_the_selected_runtime() {
    run_with_limit(
        "bookstore::demo",
        ferrule::rt::block_on,
        bookstore::demo("127.0.0.1:0"),
    );
}

#[test]
fn users_demo_runs_on_the_selected_runtime() {
    run_with_limit(
        "users::demo",
        ferrule::rt::block_on,
        users::demo("127.0.0.1:0"),
    );
}

/// The embedded example needs no runtime: its own loop serves, calls
/// itself, checks every answer and returns once every connection closed.
#[test]
fn embedded_demo_runs_on_its_own_event_loop() {
    run_with_limit("embedded::demo", run_now, || embedded::demo("127.0.0.1:0"));
}

/// The `block_on` of a flow that is a plain function.
fn run_now<R>(flow: impl FnOnce() -> R) -> R {
    flow()
}

#[test]
fn generated_descriptor_set_describes_every_service() {
    use prost::Message as _;

    let set = prost_types::FileDescriptorSet::decode(bookstore::proto::FILE_DESCRIPTOR_SET)
        .expect("FILE_DESCRIPTOR_SET decodes");
    let services: Vec<String> = set
        .file
        .iter()
        .flat_map(|file| {
            file.service
                .iter()
                .map(move |service| format!("{}.{}", file.package(), service.name()))
        })
        .collect();
    assert_eq!(
        services,
        ["bookstore.Bookstore", "hello.Greeter", "users.Users"]
    );
    let imports: Vec<&str> = set.file.iter().map(|file| file.name()).collect();
    assert!(imports.contains(&"google/protobuf/timestamp.proto"));
    assert!(imports.contains(&"google/protobuf/empty.proto"));
    assert_eq!(
        bookstore::proto::FILE_DESCRIPTOR_SET,
        users::proto::FILE_DESCRIPTOR_SET
    );
    assert_eq!(
        bookstore::proto::bookstore_methods::GET_BOOK.path,
        "/bookstore.Bookstore/GetBook"
    );
    assert_eq!(
        users::proto::users_methods::WATCH_USERS.kind,
        ferrule::codegen::MethodKind::ServerStreaming
    );
}

/// The README shows `examples/greeter.rs` and `hello.proto` whole, so what
/// it shows is what `cargo test` compiles (examples are built with the tests).
#[test]
fn readme_shows_the_greeter_example_as_it_is() {
    let readme = include_str!("../../README.md");
    for (name, source) in [
        ("examples/greeter.rs", include_str!("../greeter.rs")),
        (
            "examples/proto/hello.proto",
            include_str!("../proto/hello.proto"),
        ),
    ] {
        assert!(
            readme.contains(source),
            "README.md does not show {name} as it is; copy the file into the README"
        );
    }
}
