//! What the server brings to the connection driver: routing each new call
//! to its handler (spawned as a task that is dropped when the call ends
//! before the handler does), and waking the handles the other events
//! concern.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::Status;
use crate::codec::compression::Encoding;
use crate::codec::metadata::MetadataMap;
use crate::proto::{ServerEvent, ServerSide};

use super::super::conn::{CallSlot, ConnShared, ConnState, DriverSide, EventCx};
use super::super::context::CallContext;
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
                spawns.push_back(handler.serve(handle, request, ctx.router.interceptors.clone()));
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
