//! What the client brings to the connection driver: the call handles'
//! outcomes (headers, messages, status) from the engine's events, and the
//! channel told when the connection stops taking calls.

use std::sync::{Arc, Weak};

use crate::Status;
use crate::codec::metadata::MetadataMap;
use crate::proto::{ClientEvent, ClientSide};

use super::super::conn::{ConnShared, ConnState, DriverSide, EventCx};
use super::call::ClientOutcome;
use super::channel::ChannelShared;

/// A client connection driver's own state.
pub(crate) struct ClientDriver {
    pub(crate) channel: Weak<ChannelShared>,
    /// The server sent GOAWAY this poll: the channel connects anew for the
    /// next call.
    pub(crate) goaway: bool,
}

impl DriverSide for ClientSide {
    type Slot = ClientOutcome;
    type Context = ClientDriver;

    fn on_event(cx: EventCx<'_, ClientSide>, event: ClientEvent) {
        let EventCx { ctx, state, .. } = cx;
        match event {
            ClientEvent::Headers { call, metadata } => {
                if let Some(slot) = state.calls.get_mut(call) {
                    slot.side.headers = Some(metadata);
                    slot.side.got_headers = true;
                    slot.wake_reader();
                }
            }
            ClientEvent::Finished {
                call,
                status,
                trailers,
            } => {
                if let Some(slot) = state.calls.get_mut(call) {
                    slot.finish(status, trailers);
                }
            }
            ClientEvent::GoAway { code, .. } => {
                tracing::debug!(?code, "server sent GOAWAY");
                ctx.goaway = true;
            }
            // Readable, Writable, Closed: the driver handles them.
            _ => {}
        }
    }

    fn end_calls(state: &mut ConnState<ClientSide>, status: &Status) {
        for (_, slot) in state.calls.iter_mut() {
            slot.finish(status.clone(), MetadataMap::new());
        }
    }

    fn after_unlock(ctx: &mut ClientDriver, conn: &Arc<ConnShared<ClientSide>>) {
        // With the connection unlocked: the channel's lock comes first.
        if std::mem::take(&mut ctx.goaway)
            && let Some(channel) = ctx.channel.upgrade()
        {
            channel.connection_lost(conn);
        }
    }

    fn on_end(ctx: &mut ClientDriver, conn: &Arc<ConnShared<ClientSide>>) {
        if let Some(channel) = ctx.channel.upgrade() {
            channel.connection_lost(conn);
        }
    }
}

impl ConnState<ClientSide> {
    /// Once the channel is gone, nobody can start a call here: the
    /// connection closes (GOAWAY) when its last call ends.
    pub(crate) fn close_if_idle(&mut self) {
        if self.owner_gone
            && self.calls.is_empty()
            && let Some(engine) = self.engine.as_mut()
        {
            engine.close_gracefully();
        }
    }
}
