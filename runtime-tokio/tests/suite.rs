//! The shared socket-level suite, on tokio (multi-threaded).

use std::future::Future;
use std::sync::Arc;

use ferrule_core::api::Runtime;
use ferrule_tokio::TokioRuntime;

struct Tokio;

impl ferrule_testsuite::Harness for Tokio {
    type Network = TokioRuntime;

    fn block_on(test: impl Future<Output = ()> + Send + 'static) {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime")
            .block_on(test);
    }

    fn runtime() -> Arc<dyn Runtime> {
        Arc::new(TokioRuntime::current())
    }
}

ferrule_testsuite::suite!(Tokio);
