//! The runtime a binary runs on (`--runtime=smol|tokio`): both adapters are
//! compiled in and this picks one at start-up, so the peer matrix runs the
//! same binaries on each.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use ferrule::core::api::{Runtime, authority_of};
use ferrule::{Channel, ChannelConfig, Router, ServerConfig, ServerHandle};

use crate::tap::{TapConnector, WireLog};

/// One of the two runtime adapters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuntimeKind {
    /// ferrule-smol.
    Smol,
    /// ferrule-tokio (multi-threaded runtime).
    Tokio,
}

impl RuntimeKind {
    /// Parses a `--runtime` value.
    pub fn from_flag(value: &str) -> Result<RuntimeKind, String> {
        match value {
            "smol" => Ok(RuntimeKind::Smol),
            "tokio" => Ok(RuntimeKind::Tokio),
            other => Err(format!("--runtime must be smol or tokio, not {other:?}")),
        }
    }

    /// The flag value naming this runtime.
    pub fn name(self) -> &'static str {
        match self {
            RuntimeKind::Smol => "smol",
            RuntimeKind::Tokio => "tokio",
        }
    }

    /// Runs `future` to completion on this runtime.
    pub fn block_on<F: Future>(self, future: F) -> F::Output {
        match self {
            RuntimeKind::Smol => ferrule::smol::block_on(future),
            RuntimeKind::Tokio => ferrule::tokio::block_on(future),
        }
    }

    /// The runtime handle for timers and tasks. Call it inside
    /// [`block_on`](Self::block_on) (tokio's is the runtime it is called
    /// in; outside one it would be ferrule-tokio's own).
    pub fn runtime(self) -> Arc<dyn Runtime> {
        match self {
            RuntimeKind::Smol => Arc::new(ferrule::smol::SmolRuntime),
            RuntimeKind::Tokio => Arc::new(ferrule::tokio::TokioRuntime::current()),
        }
    }

    /// Serves `router` on `addr`.
    pub async fn serve(
        self,
        addr: &str,
        router: Router,
        config: ServerConfig,
    ) -> io::Result<ServerHandle> {
        Ok(match self {
            RuntimeKind::Smol => {
                let listener = ferrule::smol::TcpListener::bind(addr).await?;
                ferrule::smol::server()
                    .with_config(config)
                    .serve(listener, router)
            }
            RuntimeKind::Tokio => {
                let listener = ferrule::tokio::TcpListener::bind(addr).await?;
                ferrule::tokio::server()
                    .with_config(config)
                    .serve(listener, router)
            }
        })
    }

    /// A channel to `target` (`host:port`) whose connections are tapped
    /// into `log`. Call it inside [`block_on`](Self::block_on).
    pub fn channel(self, target: &str, log: Arc<WireLog>) -> Channel {
        let mut config = ChannelConfig::default();
        config.client.authority = authority_of(target).to_owned();
        match self {
            RuntimeKind::Smol => Channel::new(
                ferrule::smol::SmolRuntime,
                TapConnector::new(ferrule::smol::TcpConnector::new(target), log),
                config,
            ),
            RuntimeKind::Tokio => Channel::new(
                ferrule::tokio::TokioRuntime::current(),
                TapConnector::new(ferrule::tokio::TcpConnector::new(target), log),
                config,
            ),
        }
    }
}

/// Sleeps for `duration` on `runtime`'s timer.
pub async fn sleep(runtime: &dyn Runtime, duration: Duration) {
    if duration.is_zero() {
        return;
    }
    runtime.new_timer(runtime.now() + duration).await;
}

/// `future`'s output, or `None` if `limit` passes first.
pub async fn within<F: Future>(
    runtime: &dyn Runtime,
    limit: Duration,
    future: F,
) -> Option<F::Output> {
    let mut future = std::pin::pin!(future);
    let mut timer = runtime.new_timer(runtime.now() + limit);
    std::future::poll_fn(|cx| {
        if let std::task::Poll::Ready(output) = future.as_mut().poll(cx) {
            return std::task::Poll::Ready(Some(output));
        }
        timer.as_mut().poll(cx).map(|()| None)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_flag_values() {
        assert_eq!(RuntimeKind::from_flag("smol"), Ok(RuntimeKind::Smol));
        assert_eq!(RuntimeKind::from_flag("tokio"), Ok(RuntimeKind::Tokio));
        assert!(RuntimeKind::from_flag("async-std").is_err());
        assert_eq!(RuntimeKind::Tokio.name(), "tokio");
    }

    #[test]
    fn within_times_out_and_passes_results_through() {
        for kind in [RuntimeKind::Smol, RuntimeKind::Tokio] {
            kind.block_on(async {
                let rt = kind.runtime();
                let pending = within(&*rt, Duration::from_millis(5), std::future::pending::<()>());
                assert_eq!(pending.await, None);
                assert_eq!(
                    within(&*rt, Duration::from_secs(5), async { 7 }).await,
                    Some(7)
                );
                let start = rt.now();
                sleep(&*rt, Duration::from_millis(20)).await;
                assert!(rt.now() - start >= Duration::from_millis(20));
            });
        }
    }
}
