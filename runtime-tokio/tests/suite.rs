//! The shared socket-level suite, on tokio (multi-threaded).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use ferrule_core::api::{Channel, ChannelConfig, Runtime};
use ferrule_tokio::{TcpListener, TokioRuntime};

struct Tokio;

impl ferrule_testsuite::Harness for Tokio {
    type Listener = TcpListener;

    fn block_on<F: Future + Send + 'static>(future: F) -> F::Output
    where
        F::Output: Send,
    {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        runtime.block_on(future)
    }

    fn runtime() -> Arc<dyn Runtime> {
        Arc::new(TokioRuntime::current())
    }

    fn bind(addr: SocketAddr) -> impl Future<Output = io::Result<TcpListener>> + Send {
        TcpListener::bind(addr)
    }

    fn channel(addr: SocketAddr, config: ChannelConfig) -> Channel {
        ferrule_tokio::channel_with(&addr.to_string(), config)
    }
}

ferrule_testsuite::suite!(Tokio);
