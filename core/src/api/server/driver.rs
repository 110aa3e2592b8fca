//! The per-connection driver: one task owns the engine (behind the shared
//! state), drives its IO and timers, routes new calls to handlers spawned as
//! tasks, and wakes the call handles its events concern.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::Status;
use crate::codec::metadata::MetadataMap;
use crate::codec::queue::InlineFirstQueue;
use crate::proto::{ErrorCode, ServerEvent};

use super::super::context::CallContext;
use super::super::interceptor::BoxFuture;
use super::super::request::Request;
use super::super::runtime::TimerSlot;
use super::Registry;
use super::call::{CallSlot, ServerCall, ServerConn};
use super::router::Router;

/// How many engine events one poll handles before yielding, so a busy
/// connection does not starve the other tasks of its thread.
const MAX_EVENTS_PER_POLL: usize = 256;
/// How many drive rounds (IO, timers, events) one poll makes.
const MAX_ROUNDS_PER_POLL: usize = 4;

/// What the server asked a connection to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub(crate) enum Shutdown {
    #[default]
    None,
    /// GOAWAY; in-flight calls go on.
    Graceful,
    /// Cancel the calls and close now.
    Abort,
}

pub(crate) struct ConnDriver {
    pub(crate) conn: Arc<ServerConn>,
    /// Also where the runtime is.
    pub(crate) registry: Arc<Registry>,
    pub(crate) router: Router,
    pub(crate) peer: Option<SocketAddr>,
    pub(crate) timer: TimerSlot,
    /// The shutdown step already applied.
    pub(crate) applied: Shutdown,
}

/// Each connection's driver is a task of its own, boxed, for as long as the
/// connection lives.
#[cfg(all(test, target_pointer_width = "64"))]
const _: () = assert!(std::mem::size_of::<ConnDriver>() <= 120);

impl Future for ConnDriver {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        // Most polls start one call at most: that one needs no allocation.
        let mut spawns = InlineFirstQueue::new();
        let outcome = this.drive(cx, &mut spawns);
        while let Some(task) = spawns.pop_front() {
            this.registry.runtime.spawn(task);
        }
        if outcome.is_ready() {
            this.registry.remove(&this.conn);
        }
        outcome
    }
}

impl ConnDriver {
    fn drive(
        &mut self,
        cx: &mut Context<'_>,
        spawns: &mut InlineFirstQueue<BoxFuture<'static, ()>>,
    ) -> Poll<()> {
        for _ in 0..MAX_ROUNDS_PER_POLL {
            let now = self.registry.runtime.now();
            let next_timeout = {
                let mut guard = self.conn.lock();
                let state = &mut *guard;
                if !state
                    .driver
                    .as_ref()
                    .is_some_and(|w| w.will_wake(cx.waker()))
                {
                    state.driver = Some(cx.waker().clone());
                }
                let Some(engine) = state.engine.as_mut() else {
                    return Poll::Ready(());
                };
                let wanted = self.registry.shutdown_step();
                if wanted > self.applied {
                    self.applied = wanted;
                    match wanted {
                        Shutdown::Graceful => engine.close_gracefully(),
                        Shutdown::Abort => {
                            let status = Status::unavailable("the server is shutting down");
                            for (id, slot) in state.calls.iter_mut() {
                                slot.context.cancel(status.clone());
                                engine.cancel(id);
                                slot.wake_all();
                            }
                            engine.close(ErrorCode::NO_ERROR);
                        }
                        Shutdown::None => {}
                    }
                }
                engine.drive_io(now, cx.waker());
                if engine.poll_timeout().is_some_and(|at| at <= now) {
                    engine.handle_timeout(now);
                }
                let mut closed = false;
                let mut budget = MAX_EVENTS_PER_POLL;
                while budget > 0 {
                    let Some(event) = engine.poll_event() else {
                        break;
                    };
                    budget -= 1;
                    match event {
                        ServerEvent::NewCall { call, request } => {
                            let mut head = *request;
                            let Some((path, handler)) = self.router.routes.route(head.path())
                            else {
                                let status = Status::unimplemented(format!(
                                    "unknown method {}",
                                    head.path()
                                ));
                                let _ = engine.finish(call, status, &MetadataMap::new());
                                continue;
                            };
                            if let Some(encoding) = self.router.send_compression {
                                let _ = engine.set_send_encoding(call, encoding);
                            }
                            let context = CallContext::routed(path, head.deadline(), self.peer);
                            let mut request = Request::new(());
                            *request.metadata_mut() = head.take_metadata();
                            request.set_context(context.clone());
                            state.calls.insert(
                                call,
                                CallSlot {
                                    reader: None,
                                    writer: None,
                                    context: context.clone(),
                                },
                            );
                            let handle = ServerCall::new(Arc::clone(&self.conn), call, context);
                            spawns.push_back(handler.serve(
                                handle,
                                request,
                                self.router.interceptors.clone(),
                            ));
                        }
                        ServerEvent::Readable { call } => {
                            if let Some(w) =
                                state.calls.get_mut(&call).and_then(|s| s.reader.take())
                            {
                                w.wake();
                            }
                        }
                        ServerEvent::Writable { call } => {
                            if let Some(w) =
                                state.calls.get_mut(&call).and_then(|s| s.writer.take())
                            {
                                w.wake();
                            }
                        }
                        ServerEvent::Cancelled { call, status } => {
                            if let Some(slot) = state.calls.get_mut(&call) {
                                tracing::debug!(path = slot.context.path(), %status, "call cancelled");
                                slot.context.cancel(status);
                                slot.wake_all();
                            }
                        }
                        ServerEvent::Closed { error } => {
                            let status = match &error {
                                Some(error) => {
                                    tracing::debug!(%error, "connection closed with an error");
                                    error.to_status()
                                }
                                None => Status::unavailable("the connection was closed"),
                            };
                            for (_, slot) in state.calls.iter_mut() {
                                slot.context.cancel(status.clone());
                                slot.wake_all();
                            }
                            closed = true;
                        }
                    }
                }
                // The engine gave back its calls' memory (a lone call ended,
                // or calls stopped a while ago): so does the call table.
                if engine.take_memory_released() {
                    state.calls.release_memory();
                }
                if closed {
                    // The engine already dropped the transport; handles
                    // still alive find their calls over.
                    return Poll::Ready(());
                }
                if budget == 0 {
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                engine.poll_timeout()
            };
            match next_timeout {
                None => return Poll::Pending,
                Some(at) if at <= now => continue,
                Some(at) => {
                    if self
                        .timer
                        .poll_at(&*self.registry.runtime, cx, at)
                        .is_pending()
                    {
                        return Poll::Pending;
                    }
                }
            }
        }
        // Work is left: yield, and come back at once.
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
