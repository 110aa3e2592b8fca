//! The shared socket-level suite, on smol: once with tasks on smol's global
//! executor (the default), once with every task on an executor run by the
//! test's own thread.

use std::future::Future;
use std::sync::Arc;

use ferrule_core::api::Runtime;
use ferrule_smol::{Executor, ExecutorRuntime, SmolRuntime};

struct Smol;

impl ferrule_testsuite::Harness for Smol {
    type Network = SmolRuntime;

    fn block_on(test: impl Future<Output = ()> + Send + 'static) {
        smol::block_on(test);
    }

    fn runtime() -> Arc<dyn Runtime> {
        Arc::new(SmolRuntime)
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
    type Network = SmolRuntime;

    fn block_on(test: impl Future<Output = ()> + Send + 'static) {
        one_thread().block_on(test);
    }

    fn runtime() -> Arc<dyn Runtime> {
        Arc::new(one_thread())
    }
}

mod global_executor {
    ferrule_testsuite::suite!(super::Smol);
}

mod one_thread {
    ferrule_testsuite::suite!(super::SmolOneThread);
}
