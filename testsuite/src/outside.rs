//! Serving and calling from a thread with no async runtime at all, as plain
//! `fn main` would: futures are polled by [`block_on`], which parks the
//! thread between polls and has no reactor, timers or tasks of its own. Any
//! of those a call needs must come from the adapter.

use std::future::Future;
use std::io;
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::Duration;

use ferrule_core::Code;
use ferrule_core::api::{Channel, Router, Runtime, ServerHandle};

use crate::service::{Echo, EchoClient, EchoServer, Msg, Probe};
use crate::within;

const LIMIT: Duration = Duration::from_secs(10);

/// Runs `future` on this thread, parking it until woken: an executor that
/// is no runtime (`futures::executor::block_on`).
pub fn block_on<F: Future>(future: F) -> F::Output {
    struct Unpark(Thread);

    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }

    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut Context::from_waker(&waker)) {
            return output;
        }
        thread::park();
    }
}

/// From this thread, with no runtime: a channel to a closed port fails
/// with `UNAVAILABLE`, and a server started with `serve` answers a call
/// made through `channel`. `runtime` is the adapter's, for the handler and
/// the bound on each wait.
pub fn serve_and_call<S>(
    runtime: Arc<dyn Runtime>,
    serve: impl FnOnce(Router) -> S,
    channel: impl Fn(&str) -> Channel,
) where
    S: Future<Output = io::Result<ServerHandle>>,
{
    let closed = channel("127.0.0.1:1");
    let status = block_on(within(&runtime, LIMIT, "connect", closed.ready())).unwrap_err();
    assert_eq!(status.code(), Code::UNAVAILABLE, "{status:?}");

    let router = Router::new().add_service(EchoServer::new(Echo {
        runtime: Arc::clone(&runtime),
        probe: Arc::new(Probe::default()),
        relay: Mutex::new(None),
    }));
    let server = block_on(serve(router)).unwrap();
    let addr = server.local_addr().unwrap().to_string();
    let client = EchoClient::new(channel(&addr));
    let call = client.unary(Msg::text("no runtime here"));
    let reply = block_on(within(&runtime, LIMIT, "a call", call)).unwrap();
    assert_eq!(reply.into_inner().text, "no runtime here");
    block_on(within(&runtime, LIMIT, "shutdown", server.shutdown(LIMIT)));
}
