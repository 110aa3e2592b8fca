//! The drive loop, written once for both ends: services the calls h2 woke,
//! polls h2 when it has something to do (applying a pending shutdown
//! first), feeds what the frame walkers saw to keepalive, ends the calls of
//! a connection that ended, and gives back idle memory.

use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite};

use crate::proto::config::common::EndConfig;
use crate::proto::shared::{MAX_DRIVE_ROUNDS, TrimVerdict};
use crate::proto::side::Side;

use super::{CallEnd, Connection, Core};

impl<S: Side, T: AsyncRead + AsyncWrite + Unpin> Connection<S, T> {
    pub(crate) fn drive(&mut self) {
        self.drive_rounds();
        let calls_open = !self.core.calls.is_empty();
        let now = self.core.now();
        if self.core.idle_trim.note(calls_open, now) == TrimVerdict::Release {
            self.core.release_idle_memory();
        }
    }

    fn drive_rounds(&mut self) {
        self.core.drive.dirty = false;
        for _ in 0..MAX_DRIVE_ROUNDS {
            // Calls are serviced before h2 is polled, so that one poll (one
            // write) carries everything they handed over: a unary response's
            // HEADERS, DATA and trailers together, not HEADERS first.
            self.core.service_ready();
            // h2 is polled only when it has something to do: reading input,
            // or writing what a serviced call handed it (it wakes the
            // connection then), or a shutdown to apply. The calls it woke are
            // serviced at once, before an end it reported ends them.
            if self.core.drive.take_poll() {
                if let Some(abort) = self.core.lifecycle.take_abort() {
                    S::abort(self, abort);
                    // Our own decision: the calls end with its reason now,
                    // not with the stream errors h2's end makes.
                    if self.core.lifecycle.take_ending() {
                        self.core.end_all_calls();
                    }
                }
                S::poll_h2(self);
                self.core.service_ready();
            }
            self.core.observe_frames();
            if self.core.lifecycle.take_ending() {
                self.core.end_all_calls();
            }
            S::after_round(&mut self.core);
            if !self.core.drive.wants_poll() && self.core.drive.conn_waker.ready.is_empty() {
                return;
            }
        }
        // Rounds left over: the next poll continues.
        self.core.drive.request_poll();
    }
}

impl<S: Side> Core<S> {
    fn service_ready(&mut self) {
        let ids = self.drive.take_ready();
        for &id in &ids {
            S::service(self, id);
        }
        self.drive.return_ready(ids);
    }

    /// Feeds what the frame walkers saw to keepalive, the handshake timeout
    /// and the side (the server's ping policy, the client's GOAWAY).
    fn observe_frames(&mut self) {
        let now = self.now();
        let (received, sent, goaway) = {
            let mut tap = self.tap.lock();
            (tap.take_received(), tap.take_sent(), tap.take_goaway())
        };
        if received.settings {
            self.handshake_deadline = None;
        }
        if let Some(config) = self.config.keepalive() {
            self.keepalive.set_active_calls(config, self.calls.len());
            if received.frames > 0 {
                self.keepalive.on_activity(now);
            }
        }
        if let Some(ping_pong) = self.ping_pong.as_mut() {
            let waker = self.drive.conn_waker_handle.clone();
            if let Poll::Ready(Ok(_)) = ping_pong.poll_pong(&mut Context::from_waker(&waker)) {
                self.keepalive.on_activity(now);
            }
        }
        S::on_frames(self, received, sent, goaway);
    }

    /// The connection ended: every call still open ends with its status.
    fn end_all_calls(&mut self) {
        let status = self.lifecycle.end_status();
        for id in self.calls.ids() {
            S::end_call(self, id, CallEnd::Lost(status.clone()));
        }
    }
}
