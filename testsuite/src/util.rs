//! Bounded waiting on any runtime.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use ferrule_core::api::Runtime;

/// `future`'s output, or a panic naming `what` after `limit`.
pub async fn within<F: Future>(
    runtime: &Arc<dyn Runtime>,
    limit: Duration,
    what: &str,
    future: F,
) -> F::Output {
    let mut future = pin!(future);
    let mut timer = runtime.new_timer(runtime.now() + limit);
    let out = std::future::poll_fn(|cx| {
        if let Poll::Ready(out) = future.as_mut().poll(cx) {
            return Poll::Ready(Some(out));
        }
        timer.as_mut().poll(cx).map(|()| None)
    })
    .await;
    match out {
        Some(out) => out,
        None => panic!("timed out after {limit:?}: {what}"),
    }
}

/// Sleeps for `duration` on the runtime's timer.
pub async fn sleep(runtime: &Arc<dyn Runtime>, duration: Duration) {
    runtime.new_timer(runtime.now() + duration).await;
}

/// Polls `condition` every 5 ms until it holds; panics after `limit`.
pub async fn wait_until(
    runtime: &Arc<dyn Runtime>,
    limit: Duration,
    what: &str,
    mut condition: impl FnMut() -> bool,
) {
    let deadline = runtime.now() + limit;
    while !condition() {
        assert!(
            runtime.now() < deadline,
            "timed out after {limit:?}: {what}"
        );
        sleep(runtime, Duration::from_millis(5)).await;
    }
}
