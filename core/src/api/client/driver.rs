//! The client connection driver: owns the engine (behind the shared state),
//! drives IO and timers, and hands events to the call handles.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};

use crate::Status;
use crate::codec::metadata::MetadataMap;
use crate::proto::ClientEvent;

use super::super::runtime::{Runtime, TimerSlot};
use super::call::ClientConn;
use super::channel::ChannelShared;

const MAX_EVENTS_PER_POLL: usize = 256;
const MAX_ROUNDS_PER_POLL: usize = 4;

pub(crate) struct ClientDriver {
    pub(crate) conn: Arc<ClientConn>,
    pub(crate) channel: Weak<ChannelShared>,
    pub(crate) runtime: Arc<dyn Runtime>,
    pub(crate) timer: TimerSlot,
    /// Closing because the channel is gone.
    pub(crate) closing: bool,
}

impl Future for ClientDriver {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let outcome = this.drive(cx);
        if outcome.is_ready()
            && let Some(channel) = this.channel.upgrade()
        {
            channel.connection_lost(&this.conn);
        }
        outcome
    }
}

impl ClientDriver {
    fn drive(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        for _ in 0..MAX_ROUNDS_PER_POLL {
            let now = self.runtime.now();
            let mut goaway = false;
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
                if !self.closing && self.channel.strong_count() == 0 && state.calls.is_empty() {
                    // Nobody can start a call here any more.
                    self.closing = true;
                    engine.close_gracefully();
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
                        ClientEvent::Headers { call, metadata } => {
                            if let Some(slot) = state.calls.get_mut(&call) {
                                slot.headers = Some(metadata);
                                slot.got_headers = true;
                                if let Some(w) = slot.reader.take() {
                                    w.wake();
                                }
                            }
                        }
                        ClientEvent::Readable { call } => {
                            if let Some(w) =
                                state.calls.get_mut(&call).and_then(|s| s.reader.take())
                            {
                                w.wake();
                            }
                        }
                        ClientEvent::Writable { call } => {
                            if let Some(w) =
                                state.calls.get_mut(&call).and_then(|s| s.writer.take())
                            {
                                w.wake();
                            }
                        }
                        ClientEvent::Finished {
                            call,
                            status,
                            trailers,
                        } => {
                            if let Some(slot) = state.calls.get_mut(&call) {
                                slot.finish(status, trailers);
                            }
                        }
                        ClientEvent::GoAway { code, .. } => {
                            tracing::debug!(?code, "server sent GOAWAY");
                            goaway = true;
                        }
                        ClientEvent::Closed { error } => {
                            let status = match &error {
                                Some(error) => {
                                    tracing::debug!(%error, "connection closed with an error");
                                    error.to_status()
                                }
                                None => Status::unavailable("the connection was closed"),
                            };
                            for slot in state.calls.values_mut() {
                                slot.finish(status.clone(), MetadataMap::new());
                            }
                            closed = true;
                        }
                    }
                }
                if closed {
                    // The engine already dropped the transport; it stays so
                    // that calls can read what arrived before the end.
                    return Poll::Ready(());
                }
                if budget == 0 {
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                engine.poll_timeout()
            };
            // With the connection unlocked (the channel's lock comes first).
            if goaway && let Some(channel) = self.channel.upgrade() {
                channel.connection_lost(&self.conn);
            }
            match next_timeout {
                None => return Poll::Pending,
                Some(at) if at <= now => continue,
                Some(at) => {
                    if self.timer.poll_at(&*self.runtime, cx, at).is_pending() {
                        return Poll::Pending;
                    }
                }
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
