//! ferrule-tokio from plain `fn main`, outside any tokio runtime: it falls
//! back to a runtime of its own.

use std::sync::Arc;

#[test]
fn serve_and_channel_work_outside_any_tokio_runtime() {
    ferrule_testsuite::outside::serve_and_call(
        Arc::new(ferrule_tokio::TokioRuntime::current()),
        |router| ferrule_tokio::serve("127.0.0.1:0", router),
        ferrule_tokio::channel,
    );
}

#[test]
fn sockets_and_lookups_work_outside_any_tokio_runtime() {
    use ferrule_core::api::Network;
    use ferrule_testsuite::outside::block_on;

    let tokio = ferrule_tokio::TokioRuntime::current();
    let listener = block_on(tokio.bind(([127, 0, 0, 1], 0).into())).expect("bind");
    let addr = tokio.local_addr(&listener).expect("local address");
    let connected = block_on(tokio.connect(addr)).expect("connect");
    let (_accepted, peer) = block_on(tokio.accept(&listener)).expect("accept");
    assert_eq!(Some(peer), connected.local_addr().ok());
    let localhost = block_on(tokio.resolve("localhost:80")).expect("lookup");
    assert!(
        localhost.iter().all(|a| a.ip().is_loopback()),
        "{localhost:?}"
    );
}
