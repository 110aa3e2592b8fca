//! What the server brings to the connection driver: routing each new call
//! to its handler (spawned as a task that is dropped when the call ends
//! before the handler does), and waking the handles the other events
//! concern.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::Status;
use crate::codec::compression::Encoding;
use crate::codec::metadata::MetadataMap;
use crate::proto::{ServerEvent, ServerSide};

use super::super::conn::{CallSlot, ConnShared, ConnState, DriverSide, EventCx};
use super::super::context::CallContext;
use super::super::interceptor::BoxFuture;
use super::super::request::Request;
use super::Registry;
use super::call::CallHandle;
use super::router::Router;

/// A server connection driver's own state.
pub(crate) struct ServerDriver {
    pub(crate) registry: Arc<Registry>,
    pub(crate) router: Router,
    pub(crate) peer: Option<SocketAddr>,
}

impl DriverSide for ServerSide {
    type Slot = CallContext;
    type Context = ServerDriver;

    fn on_event(cx: EventCx<'_, ServerSide>, event: ServerEvent) {
        let EventCx {
            ctx,
            conn,
            state,
            spawns,
        } = cx;
        match event {
            ServerEvent::NewCall { call, request } => {
                let Some(engine) = state.engine.as_mut() else {
                    return;
                };
                let mut head = *request;
                let Some((path, handler)) = ctx.router.routes.lookup(head.path()) else {
                    let status = Status::unimplemented(format!("unknown method {}", head.path()));
                    let _ = engine.finish(call, status, &MetadataMap::new());
                    return;
                };
                let encoding = match ctx.router.send_compression {
                    Some(encoding) => engine.set_send_encoding(call, encoding).ok(),
                    None => engine.send_encoding(call),
                };
                let context = CallContext::routed(path, head.deadline(), ctx.peer);
                let mut request = Request::new(());
                *request.metadata_mut() = head.take_metadata();
                request.set_context(context.clone());
                state.calls.insert(call, CallSlot::new(context.clone()));
                let handle = CallHandle::new(
                    Arc::clone(conn),
                    call,
                    context.clone(),
                    encoding.unwrap_or(Encoding::Identity),
                );
                let serve = handler.serve(handle, request, ctx.router.interceptors.clone());
                spawns.push_back(Box::pin(EndsWithCall {
                    serve,
                    context,
                    registered: false,
                }));
            }
            ServerEvent::Cancelled { call, status } => {
                if let Some(slot) = state.calls.get_mut(call) {
                    tracing::debug!(path = slot.side.path(), %status, "call cancelled");
                    slot.side.cancel(status);
                    slot.wake_all();
                }
            }
            // Readable, Writable, Closed: the driver handles them.
            _ => {}
        }
    }

    fn end_calls(state: &mut ConnState<ServerSide>, status: &Status) {
        for (_, slot) in state.calls.iter_mut() {
            slot.side.cancel(status.clone());
            slot.wake_all();
        }
    }

    fn on_end(ctx: &mut ServerDriver, conn: &Arc<ConnShared<ServerSide>>) {
        ctx.registry.remove(conn);
    }
}

/// A handler's task: it ends, dropping the handler's future, as soon as the
/// call ends any other way than by the handler's answer (the client
/// cancelled, the deadline passed, the connection or the server went away),
/// so that no work goes on for an answer nobody will read (tonic does the
/// same). A handler that must finish anyway spawns that work.
struct EndsWithCall {
    serve: BoxFuture<'static, ()>,
    context: CallContext,
    /// This task's waker is registered with the cancellation: later polls
    /// check a flag, without a lock.
    registered: bool,
}

impl Future for EndsWithCall {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.serve.as_mut().poll(cx).is_ready() {
            return Poll::Ready(());
        }
        // Registered once the handler waits, so a cancellation that comes
        // while it waits wakes this task.
        let cancelled = if self.registered {
            self.context.is_cancelled()
        } else {
            self.registered = true;
            self.context.poll_cancelled(cx).is_ready()
        };
        if cancelled {
            tracing::debug!(
                path = self.context.path(),
                "the call ended: its handler is dropped"
            );
            return Poll::Ready(());
        }
        Poll::Pending
    }
}
