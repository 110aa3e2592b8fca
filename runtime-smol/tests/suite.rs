//! The shared socket-level suite, on smol.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use ferrule_core::api::{Channel, ChannelConfig, Runtime};
use ferrule_smol::{SmolRuntime, TcpListener};

struct Smol;

impl ferrule_testsuite::Harness for Smol {
    type Listener = TcpListener;

    fn block_on<F: Future + Send + 'static>(future: F) -> F::Output
    where
        F::Output: Send,
    {
        smol::block_on(future)
    }

    fn runtime() -> Arc<dyn Runtime> {
        Arc::new(SmolRuntime)
    }

    fn bind(addr: SocketAddr) -> impl Future<Output = io::Result<TcpListener>> + Send {
        TcpListener::bind(addr)
    }

    fn channel(addr: SocketAddr, config: ChannelConfig) -> Channel {
        ferrule_smol::channel_with(&addr.to_string(), config)
    }
}

ferrule_testsuite::suite!(Smol);
