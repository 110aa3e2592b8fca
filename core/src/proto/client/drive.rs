//! The drive loop: polls h2, opens streams for waiting calls while the
//! server's concurrent-stream limit has room, notices GOAWAY, services
//! the calls h2 woke, and feeds what the tap saw to keepalive.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use http::HeaderValue;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::Status;
use crate::codec::metadata::MetadataMap;
use crate::codec::timeout::format_timeout;
use crate::proto::driver::MAX_DRIVE_ROUNDS;
use crate::proto::error::{ConnectionError, ErrorCode, status_for_stream_error};
use crate::proto::event::ClientEvent;
use crate::proto::headers::GRPC_TIMEOUT;

use super::call::Phase;
use super::{ClientConnection, ClientCore, ConnPhase};

impl<T: AsyncRead + AsyncWrite + Unpin> ClientConnection<T> {
    pub(super) fn drive(&mut self) {
        self.core.plumbing.dirty = false;
        for _ in 0..MAX_DRIVE_ROUNDS {
            // Calls first, then h2 only when it has something to do (see the
            // server's drive).
            self.core.service_ready();
            if self.core.plumbing.take_poll() {
                self.poll_h2();
                self.core.service_ready();
            }
            self.core.observe_tap();
            if let Some(error) = self.core.pending_close.take() {
                self.core.connection_closed(error);
            }
            if !self.core.open_queue.is_empty() {
                self.core.try_open();
            }
            if !self.core.plumbing.wants_poll() && self.core.plumbing.conn_waker.ready.is_empty() {
                return;
            }
        }
        // Rounds left over: the next poll continues.
        self.core.plumbing.request_poll();
    }

    fn poll_h2(&mut self) {
        if (self.core.close_requested || self.core.phase == ConnPhase::Draining)
            && self.core.open_queue.is_empty()
        {
            // Dropping the last SendRequest lets h2 close once streams end.
            self.core.send_request = None;
        }
        let Some(conn) = self.h2.as_mut() else {
            return;
        };
        let waker = self.core.plumbing.conn_waker_handle.clone();
        let mut cx = Context::from_waker(&waker);
        match Pin::new(conn).poll(&mut cx) {
            Poll::Ready(Ok(())) => {
                self.core.check_goaway();
                self.h2 = None;
                // h2 ends "cleanly" at EOF; with calls still open the peer
                // vanished.
                let vanished = self.core.plumbing.peer_eof && self.core.has_unfinished_calls();
                self.core.pending_close =
                    Some(vanished.then_some(ConnectionError::TransportClosed));
            }
            Poll::Ready(Err(err)) => {
                self.core.check_goaway();
                self.h2 = None;
                let error = match (ConnectionError::from_h2(&err), &self.core.goaway) {
                    (ConnectionError::GoAway { code, .. }, Some((_, debug_data))) => {
                        ConnectionError::GoAway {
                            code,
                            debug_data: debug_data.clone(),
                        }
                    }
                    (error, _) => error,
                };
                self.core.pending_close = Some(Some(error));
            }
            Poll::Pending => self.core.check_goaway(),
        }
    }
}

impl ClientCore {
    fn has_unfinished_calls(&self) -> bool {
        self.calls.values().any(|c| !matches!(c.phase, Phase::Done))
    }

    /// The waker h2 should wake when the next stream may open.
    fn open_waker(&self) -> Waker {
        self.last_opened
            .and_then(|id| self.calls.get(id))
            .map_or_else(
                || self.plumbing.conn_waker_handle.clone(),
                |c| c.wake.waker().clone(),
            )
    }

    /// Opens streams for queued calls while h2 has room.
    fn try_open(&mut self) {
        while let Some(&id) = self.open_queue.front() {
            let waker = self.open_waker();
            let Some(send_request) = self.send_request.as_mut() else {
                return;
            };
            if self.open_streams >= send_request.current_max_send_streams() {
                // A slot frees when a call ends; the drive retries then.
                return;
            }
            let mut cx = Context::from_waker(&waker);
            match send_request.poll_ready(&mut cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(err)) => {
                    self.refuse_new_calls(&err);
                    return;
                }
                Poll::Pending => return,
            }
            self.open_queue.pop_front();
            let Some(c) = self.calls.get_mut(id) else {
                continue;
            };
            let mut request = match std::mem::replace(&mut c.phase, Phase::Done) {
                Phase::Queued(request) => request,
                other => {
                    c.phase = other;
                    continue;
                }
            };
            // The call may have waited for a slot: the timeout sent is what is
            // left of the deadline now.
            if let Some(deadline) = c.deadline {
                let left = deadline.saturating_duration_since(self.plumbing.now);
                if let Ok(value) = HeaderValue::from_bytes(format_timeout(left).as_bytes()) {
                    request.headers_mut().insert(GRPC_TIMEOUT, value);
                }
            }
            // A request with no message and already half-closed is one
            // HEADERS frame with END_STREAM.
            let end_stream = c.outbound.is_closed_and_empty();
            match send_request.send_request(*request, end_stream) {
                Ok((response, send)) => {
                    if end_stream {
                        c.outbound.mark_end_sent();
                    }
                    self.open_streams += 1;
                    c.phase = Phase::Open {
                        response: Some(response),
                        send,
                    };
                    self.last_opened = Some(id);
                    self.service(id);
                }
                Err(err) => {
                    let status = status_for_stream_error(&err);
                    self.finish_call(id, status, MetadataMap::new(), false);
                }
            }
        }
    }

    /// The connection refuses new streams (GOAWAY, or closed): queued calls
    /// fail with `UNAVAILABLE` (nothing was sent; safe to retry elsewhere).
    fn refuse_new_calls(&mut self, err: &h2::Error) {
        self.note_goaway(err);
        if self.phase == ConnPhase::Open {
            self.phase = ConnPhase::Draining;
        }
        let status = Status::unavailable(format!(
            "the connection stopped accepting calls before this one was sent: {err}"
        ));
        while let Some(id) = self.open_queue.pop_front() {
            self.finish_call(id, status.clone(), MetadataMap::new(), false);
        }
    }

    fn note_goaway(&mut self, err: &h2::Error) {
        if err.is_go_away() && err.is_remote() && self.goaway.is_none() {
            // Prefer the frame as captured: it has the debug data.
            let captured = self.tap.lock().take_goaway();
            match captured {
                Some(goaway) => {
                    self.report_goaway(ErrorCode::from_u32(goaway.code), goaway.debug_data);
                }
                None => {
                    let code = err
                        .reason()
                        .map_or(ErrorCode::NO_ERROR, ErrorCode::from_reason);
                    self.report_goaway(code, Bytes::new());
                }
            }
        }
    }

    fn report_goaway(&mut self, code: ErrorCode, debug_data: Bytes) {
        if self.phase == ConnPhase::Open {
            self.phase = ConnPhase::Draining;
        }
        // Calls still waiting for a stream slot were never sent: they fail
        // now, retryable elsewhere, rather than wait for a slot that an
        // ending connection may never free.
        let status = Status::unavailable(format!(
            "the server sent GOAWAY ({code}) before this call was sent"
        ));
        while let Some(id) = self.open_queue.pop_front() {
            self.finish_call(id, status.clone(), MetadataMap::new(), false);
        }
        if self.goaway.is_none() {
            self.goaway = Some((code, debug_data.clone()));
            self.events
                .push_back(ClientEvent::GoAway { code, debug_data });
        }
    }

    /// Feeds what the tap saw to keepalive; notices a GOAWAY.
    fn observe_tap(&mut self) {
        let now = self.plumbing.now;
        let (activity, goaway) = {
            let mut tap = self.tap.lock();
            tap.pings = 0;
            (std::mem::take(&mut tap.activity), tap.take_goaway())
        };
        if let Some(goaway) = goaway {
            self.report_goaway(ErrorCode::from_u32(goaway.code), goaway.debug_data);
        }
        let active = self.calls.len();
        if let Some(keepalive) = self.keepalive.as_mut() {
            keepalive.set_active_calls(active);
            if activity {
                keepalive.on_activity(now);
            }
            if let Some(ping_pong) = self.ping_pong.as_mut() {
                let waker = self.plumbing.conn_waker_handle.clone();
                if let Poll::Ready(Ok(_)) = ping_pong.poll_pong(&mut Context::from_waker(&waker)) {
                    keepalive.on_pong(now);
                }
            }
        }
    }

    /// Notices a GOAWAY h2 has processed (h2 reports it through `poll_ready`).
    fn check_goaway(&mut self) {
        if self.phase != ConnPhase::Open {
            return;
        }
        let waker = self.open_waker();
        let Some(send_request) = self.send_request.as_mut() else {
            return;
        };
        let mut cx = Context::from_waker(&waker);
        if let Poll::Ready(Err(err)) = send_request.poll_ready(&mut cx) {
            self.refuse_new_calls(&err);
        }
    }

    fn service_ready(&mut self) -> bool {
        let ids = self.plumbing.take_ready();
        let any = !ids.is_empty();
        for &id in &ids {
            self.service(id);
        }
        self.plumbing.return_ready(ids);
        any
    }

    pub(super) fn connection_closed(&mut self, error: Option<ConnectionError>) {
        self.phase = ConnPhase::Closed;
        self.send_request = None;
        if self.error.is_none() {
            self.error = error;
        }
        let status = match &self.error {
            Some(err) => err.to_status(),
            None => Status::unavailable("connection closed"),
        };
        self.open_queue.clear();
        for id in self.calls.ids() {
            self.finish_call(id, status.clone(), MetadataMap::new(), false);
        }
    }
}
