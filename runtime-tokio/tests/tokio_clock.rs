//! `TokioRuntime` keeps time on tokio's clock, the clock its timers run on:
//! under `tokio::time::pause` (tests, simulations) `now()` and the timers
//! move together, so deadlines pass in paused time as they would in real
//! time.

#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferrule_core::api::{Request, Router, Runtime};
use ferrule_core::{Code, Status};
use ferrule_testsuite::service::{Echo, EchoClient, EchoServer, Msg, Probe};
use ferrule_tokio::TokioRuntime;

#[tokio::test(start_paused = true)]
async fn now_follows_tokios_paused_clock() {
    let runtime = TokioRuntime::current();
    let before = runtime.now();
    tokio::time::advance(Duration::from_secs(3600)).await;
    let moved = runtime.now() - before;
    assert!(
        moved >= Duration::from_secs(3600),
        "now() moved {moved:?} while tokio's clock moved an hour"
    );
}

#[tokio::test]
async fn a_deadline_passes_in_paused_time() {
    let runtime: Arc<dyn Runtime> = Arc::new(TokioRuntime::current());
    let router = Router::new().add_service(EchoServer::new(Echo {
        runtime,
        probe: Arc::new(Probe::default()),
        relay: Mutex::new(None),
    }));
    let server = ferrule_tokio::serve("127.0.0.1:0", router).await.unwrap();
    let client = EchoClient::new(ferrule_tokio::channel(
        &server.local_addr().unwrap().to_string(),
    ));
    // Connect and warm up on real time: a paused clock jumps to the next
    // timer whenever the runtime idles, connection timeouts included.
    client.unary(Msg::text("warm up")).await.unwrap();

    tokio::time::pause();
    let started = std::time::Instant::now();
    let mut request = Request::new(Msg {
        delay_ms: 2 * 3600 * 1000,
        ..Msg::default()
    });
    request.set_timeout(Duration::from_secs(20));
    let status: Status = client.unary(request).await.unwrap_err();
    assert_eq!(status.code(), Code::DEADLINE_EXCEEDED, "{status:?}");
    // The deadline passed in paused time, at once in real time.
    let real = started.elapsed();
    assert!(
        real < Duration::from_secs(5),
        "the call took {real:?} of real time to reach a 20 s deadline in paused time"
    );
}
