//! ferrule on an executor the program runs: one thread for IO and every task,
//! and the default runtime's tasks still running with no `block_on` at all.

#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, mpsc};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use ferrule_core::api::{Channel, ChannelConfig, Router, Runtime, Timer};
use ferrule_smol::{Executor, ExecutorRuntime, SmolRuntime, TcpConnector, TcpListener};
use ferrule_testsuite::service::{Echo, EchoClient, EchoServer, Msg, Probe};

const LIMIT: Duration = Duration::from_secs(10);

fn echo_router(runtime: Arc<dyn Runtime>) -> Router {
    Router::new().add_service(EchoServer::new(Echo {
        runtime,
        probe: Arc::new(Probe::default()),
        relay: Mutex::new(None),
    }))
}

/// An [`ExecutorRuntime`] that notes the thread of every poll of every task
/// it spawns.
#[derive(Debug, Clone)]
struct ThreadNoting {
    inner: ExecutorRuntime,
    threads: Arc<Mutex<HashSet<ThreadId>>>,
    spawned: Arc<Mutex<usize>>,
}

impl Runtime for ThreadNoting {
    fn spawn(&self, mut future: Pin<Box<dyn Future<Output = ()> + Send>>) {
        *self.spawned.lock().unwrap() += 1;
        let threads = Arc::clone(&self.threads);
        self.inner.spawn(Box::pin(std::future::poll_fn(move |cx| {
            threads.lock().unwrap().insert(thread::current().id());
            future.as_mut().poll(cx)
        })));
    }

    fn new_timer(&self, deadline: Instant) -> Pin<Box<dyn Timer>> {
        self.inner.new_timer(deadline)
    }
}

#[test]
fn server_and_client_tasks_all_run_on_the_block_on_thread() {
    let runtime = ThreadNoting {
        inner: SmolRuntime::with_executor(Arc::new(Executor::new())),
        threads: Arc::default(),
        spawned: Arc::default(),
    };
    let inner = runtime.inner.clone();
    let reply = inner.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = ferrule_core::api::Listener::local_addr(&listener).unwrap();
        let server = ferrule_core::api::Server::new(runtime.clone())
            .serve(listener, echo_router(Arc::new(runtime.clone())));
        let target = addr.to_string();
        let mut config = ChannelConfig::default();
        config.client.authority = target.clone();
        let channel = Channel::new(runtime.clone(), TcpConnector::new(&target), config);
        let client = EchoClient::new(channel);
        let mut texts = Vec::new();
        for text in ["one", "two"] {
            let call = client.unary(Msg::text(text));
            let reply = smol::future::or(async { Some(call.await) }, async {
                smol::Timer::after(LIMIT).await;
                None
            })
            .await
            .expect("the call finishes in time");
            texts.push(reply.unwrap().into_inner().text);
        }
        drop(server);
        texts
    });
    assert_eq!(reply, ["one", "two"]);
    // At least the accept loop, the server connection and the client
    // connection drivers, and a handler.
    assert!(*runtime.spawned.lock().unwrap() >= 3);
    let threads = runtime.threads.lock().unwrap();
    assert_eq!(*threads, HashSet::from([thread::current().id()]));
}

#[test]
fn conveniences_serve_and_connect_on_the_runtime() {
    let runtime = SmolRuntime::with_executor(Arc::new(Executor::new()));
    let text = runtime.block_on(async {
        let server = runtime
            .serve("127.0.0.1:0", echo_router(Arc::new(runtime.clone())))
            .await
            .unwrap();
        let addr = server.local_addr().unwrap();
        let channel = runtime.connect(&addr.to_string()).await.unwrap();
        let reply = EchoClient::new(channel)
            .unary(Msg::text("hello"))
            .await
            .unwrap();
        reply.into_inner().text
    });
    assert_eq!(text, "hello");
}

#[test]
fn tasks_on_a_chosen_executor_wait_for_someone_to_run_it() {
    let runtime = SmolRuntime::with_executor(Arc::new(Executor::new()));
    let (tx, rx) = smol::channel::bounded(1);
    runtime.spawn(Box::pin(async move {
        tx.send(thread::current().id()).await.unwrap();
    }));
    thread::sleep(Duration::from_millis(50));
    assert!(rx.try_recv().is_err(), "nothing runs the executor yet");
    assert!(!runtime.executor().is_empty());
    let ran_on = runtime.block_on(rx.recv()).unwrap();
    assert_eq!(ran_on, thread::current().id());
}

#[test]
fn the_default_runtime_runs_tasks_with_no_block_on() {
    let (tx, rx) = mpsc::channel();
    SmolRuntime.spawn(Box::pin(async move {
        smol::Timer::after(Duration::from_millis(10)).await;
        tx.send(thread::current().id()).unwrap();
    }));
    // No block_on on this thread: smol's global executor threads run it.
    let ran_on = rx.recv_timeout(LIMIT).expect("the task ran");
    assert_ne!(ran_on, thread::current().id());
}
