//! The shared socket-level suite, on smol: once with tasks on smol's global
//! executor (the default), once with every task on an executor run by the
//! test's own thread.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use ferrule_core::api::{Channel, ChannelConfig, Runtime};
use ferrule_smol::{Executor, ExecutorRuntime, SmolRuntime, TcpListener};

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

thread_local! {
    /// Each test runs on a thread of its own, with an executor of its own.
    static ONE_THREAD: ExecutorRuntime = SmolRuntime::with_executor(Arc::new(Executor::new()));
}

fn one_thread() -> ExecutorRuntime {
    ONE_THREAD.with(ExecutorRuntime::clone)
}

struct SmolOneThread;

impl ferrule_testsuite::Harness for SmolOneThread {
    type Listener = TcpListener;

    fn block_on<F: Future + Send + 'static>(future: F) -> F::Output
    where
        F::Output: Send,
    {
        one_thread().block_on(future)
    }

    fn runtime() -> Arc<dyn Runtime> {
        Arc::new(one_thread())
    }

    fn bind(addr: SocketAddr) -> impl Future<Output = io::Result<TcpListener>> + Send {
        TcpListener::bind(addr)
    }

    fn channel(addr: SocketAddr, config: ChannelConfig) -> Channel {
        one_thread().channel_with(&addr.to_string(), config)
    }
}

mod global_executor {
    ferrule_testsuite::suite!(super::Smol);
}

mod one_thread {
    ferrule_testsuite::suite!(super::SmolOneThread);
}
