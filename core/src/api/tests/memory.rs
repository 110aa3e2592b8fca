//! A whole client and server in memory: a one-thread executor, a
//! [`Runtime`] on it whose clock stands still, and a byte pipe between a
//! [`Channel`] and [`Server::serve_connection`].

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::api::{
    Channel, ChannelConfig, Client, Connector, Router, Runtime, Server, ServerHandle, Timer,
};

type Task = Mutex<Option<Pin<Box<dyn Future<Output = ()> + Send>>>>;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[derive(Default)]
struct Queue {
    ready: Mutex<VecDeque<Arc<Spawned>>>,
}

struct Spawned {
    future: Task,
    queue: Arc<Queue>,
}

impl Wake for Spawned {
    fn wake(self: Arc<Self>) {
        let queue = Arc::clone(&self.queue);
        lock(&queue.ready).push_back(self);
    }
}

/// Spawned tasks run when [`block_on`](Self::block_on) finds nothing else
/// to do; timers fire only for deadlines at or before the fixed `now`.
#[derive(Clone, Default)]
pub(super) struct MemoryRuntime {
    queue: Arc<Queue>,
    now: Arc<Mutex<Option<Instant>>>,
}

impl fmt::Debug for MemoryRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MemoryRuntime")
    }
}

/// A timer on a clock that never moves: ready only for a past deadline.
#[derive(Debug)]
struct StillTimer {
    deadline: Instant,
    now: Instant,
}

impl Future for StillTimer {
    type Output = ();
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        if self.deadline <= self.now {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl Timer for StillTimer {
    fn reset(mut self: Pin<&mut Self>, deadline: Instant) {
        self.deadline = deadline;
    }
}

impl Runtime for MemoryRuntime {
    fn spawn(&self, future: Pin<Box<dyn Future<Output = ()> + Send>>) {
        let task = Arc::new(Spawned {
            future: Mutex::new(Some(future)),
            queue: Arc::clone(&self.queue),
        });
        lock(&self.queue.ready).push_back(task);
    }

    fn new_timer(&self, deadline: Instant) -> Pin<Box<dyn Timer>> {
        Box::pin(StillTimer {
            deadline,
            now: self.now(),
        })
    }

    fn now(&self) -> Instant {
        *lock(&self.now).get_or_insert_with(Instant::now)
    }
}

#[derive(Default)]
struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

impl MemoryRuntime {
    /// Runs `future` and every task it leads to until `future` is done.
    /// Panics when nothing can make progress (a lost wake-up or a hang).
    pub(super) fn block_on<F: Future>(&self, future: F) -> F::Output {
        let mut future = pin!(future);
        let flag = Arc::new(Flag(AtomicBool::new(true)));
        let waker = Waker::from(Arc::clone(&flag));
        for _ in 0..1_000_000 {
            if flag.0.swap(false, Ordering::SeqCst)
                && let Poll::Ready(out) = future.as_mut().poll(&mut Context::from_waker(&waker))
            {
                return out;
            }
            let next = lock(&self.queue.ready).pop_front();
            match next {
                Some(task) => {
                    let waker = Waker::from(Arc::clone(&task));
                    let mut slot = lock(&task.future);
                    if let Some(running) = slot.as_mut()
                        && running
                            .as_mut()
                            .poll(&mut Context::from_waker(&waker))
                            .is_ready()
                    {
                        *slot = None;
                    }
                }
                None if !flag.0.load(Ordering::SeqCst) => {
                    panic!("deadlock: the future waits and no task can run")
                }
                None => {}
            }
        }
        panic!("no progress after a million polls");
    }
}

#[derive(Default)]
struct Half {
    bytes: VecDeque<u8>,
    closed: bool,
    reader: Option<Waker>,
}

/// One end of an in-memory, unbounded, two-way byte pipe.
pub(super) struct PipeEnd {
    read: Arc<Mutex<Half>>,
    write: Arc<Mutex<Half>>,
}

fn pipe() -> (PipeEnd, PipeEnd) {
    let a = Arc::new(Mutex::new(Half::default()));
    let b = Arc::new(Mutex::new(Half::default()));
    (
        PipeEnd {
            read: Arc::clone(&a),
            write: Arc::clone(&b),
        },
        PipeEnd { read: b, write: a },
    )
}

impl AsyncRead for PipeEnd {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let mut half = lock(&self.read);
        if half.bytes.is_empty() {
            if half.closed {
                return Poll::Ready(Ok(()));
            }
            half.reader = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let n = half.bytes.len().min(buf.remaining());
        let taken: Vec<u8> = half.bytes.drain(..n).collect();
        buf.put_slice(&taken);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for PipeEnd {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let mut half = lock(&self.write);
        if half.closed {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        half.bytes.extend(data);
        if let Some(w) = half.reader.take() {
            w.wake();
        }
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        close(&self.write);
        Poll::Ready(Ok(()))
    }
}

fn close(half: &Mutex<Half>) {
    let mut half = lock(half);
    half.closed = true;
    if let Some(w) = half.reader.take() {
        w.wake();
    }
}

impl Drop for PipeEnd {
    fn drop(&mut self) {
        close(&self.write);
        close(&self.read);
    }
}

/// Hands out its one pipe end; a second connection attempt fails.
struct OneConnection(Mutex<Option<PipeEnd>>);

impl Connector for OneConnection {
    type Io = PipeEnd;
    async fn connect(&self) -> io::Result<PipeEnd> {
        lock(&self.0)
            .take()
            .ok_or_else(|| io::ErrorKind::ConnectionRefused.into())
    }
}

/// A server running `router` and a client connected to it, in memory.
pub(super) struct Pair {
    pub(super) runtime: MemoryRuntime,
    pub(super) client: Client,
    _server: ServerHandle,
}

impl Pair {
    pub(super) fn new(router: Router) -> Pair {
        let runtime = MemoryRuntime::default();
        let (client_end, server_end) = pipe();
        let server = Server::new(runtime.clone()).serve_connection(server_end, None, router);
        let channel = Channel::new(
            runtime.clone(),
            OneConnection(Mutex::new(Some(client_end))),
            ChannelConfig::default(),
        );
        Pair {
            runtime,
            client: Client::new(channel),
            _server: server,
        }
    }

    /// Runs `future` (a client call) to its end.
    pub(super) fn run<F: Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }
}
