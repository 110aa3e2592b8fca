//! The drive loop: polls h2 (the handshake, new requests, shutdowns),
//! services the calls h2 woke, and feeds what the tap saw to keepalive.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use h2::server::SendResponse;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::Status;
use crate::codec::compression::Encoding;
use crate::codec::metadata::MetadataMap;
use crate::proto::driver::{MAX_DRIVE_ROUNDS, TrimVerdict};
use crate::proto::error::ConnectionError;
use crate::proto::event::ServerEvent;
use crate::proto::headers::{default_content_type, trailers_only, validate_request};
use crate::proto::keepalive::{ENHANCE_YOUR_CALM, PingVerdict, TOO_MANY_PINGS, encode_goaway};
use crate::proto::stream::{Inbound, Outbound};

use super::call::{Response, ServerCall};
use super::{H2Server, Phase, ServerConnection, ServerCore};

impl<T: AsyncRead + AsyncWrite + Unpin> ServerConnection<T> {
    pub(super) fn drive(&mut self) {
        self.drive_rounds();
        let calls_open = !self.core.calls.is_empty();
        let now = self.core.plumbing.now;
        if self.core.idle_trim.note(calls_open, now) == TrimVerdict::Release {
            self.core.release_idle_memory();
        }
    }

    fn drive_rounds(&mut self) {
        self.core.plumbing.dirty = false;
        for _ in 0..MAX_DRIVE_ROUNDS {
            // Calls are serviced before h2 is polled, so that one poll (one
            // write) carries everything they handed over: a unary response's
            // HEADERS, DATA and trailers together, not HEADERS first.
            self.core.service_ready();
            // h2 is polled only when it has something to do: reading input,
            // or writing what a serviced call handed it (it wakes the
            // connection then). The calls it woke are serviced at once, before
            // a close it reported drops them.
            if self.core.plumbing.take_poll() {
                self.poll_h2();
                self.core.service_ready();
            }
            self.core.observe_tap();
            if let Some(error) = self.core.pending_close.take() {
                self.core.connection_closed(error);
            }
            if !self.core.plumbing.wants_poll() && self.core.plumbing.conn_waker.ready.is_empty() {
                return;
            }
        }
        // Rounds left over: the next poll continues.
        self.core.plumbing.request_poll();
    }

    fn poll_h2(&mut self) {
        let waker = self.core.plumbing.conn_waker_handle.clone();
        let mut cx = Context::from_waker(&waker);
        let now = self.core.plumbing.now;
        loop {
            match &mut self.h2 {
                H2Server::Handshaking(handshake) => match Pin::new(handshake).poll(&mut cx) {
                    Poll::Ready(Ok(conn)) => {
                        self.h2 = H2Server::Open(conn);
                    }
                    Poll::Ready(Err(err)) => {
                        self.h2 = H2Server::Closed;
                        // The handshake only reads the client preface: a
                        // failure there means the bytes are not HTTP/2 (or
                        // the peer left before sending them).
                        let error = match ConnectionError::from_h2(&err) {
                            ConnectionError::TransportClosed => ConnectionError::TransportClosed,
                            _ => ConnectionError::NotHttp2,
                        };
                        self.core.pending_close = Some(Some(Box::new(error)));
                        return;
                    }
                    Poll::Pending => {
                        if self.core.plumbing.peer_eof {
                            self.h2 = H2Server::Closed;
                            self.core.pending_close =
                                Some(Some(Box::new(ConnectionError::TransportClosed)));
                        }
                        return;
                    }
                },
                H2Server::Open(conn) => {
                    if std::mem::take(&mut self.core.abuse) {
                        // Our GOAWAY (with the debug data h2 cannot send)
                        // replaces the one h2 writes for the abrupt shutdown.
                        let mut frame = Vec::new();
                        encode_goaway(
                            self.core.last_stream_id,
                            ENHANCE_YOUR_CALM,
                            TOO_MANY_PINGS,
                            &mut frame,
                        );
                        self.core.tap.lock().seal_with(frame);
                        conn.abrupt_shutdown(h2::Reason::ENHANCE_YOUR_CALM);
                        self.core.phase = Phase::Closed;
                        self.core.error = Some(Box::new(ConnectionError::TooManyPings));
                    } else if let Some(code) = self.core.abrupt_requested.take() {
                        conn.abrupt_shutdown(code.to_reason());
                        self.core.phase = Phase::Closed;
                        self.core
                            .error
                            .get_or_insert_with(|| Box::new(ConnectionError::LocallyClosed));
                    } else if self.core.graceful_requested {
                        self.core.graceful_requested = false;
                        conn.graceful_shutdown();
                    }
                    match conn.poll_accept(&mut cx) {
                        Poll::Ready(Some(Ok((request, respond)))) => {
                            self.core.on_request(request, respond, now);
                        }
                        Poll::Ready(Some(Err(err))) => {
                            self.h2 = H2Server::Closed;
                            self.core.pending_close =
                                Some(Some(Box::new(ConnectionError::from_h2(&err))));
                            return;
                        }
                        Poll::Ready(None) => {
                            self.h2 = H2Server::Closed;
                            // h2 ends "cleanly" at EOF; with calls the
                            // application has not finished, the peer vanished.
                            let vanished = self.core.plumbing.peer_eof
                                && self.core.calls.values().any(|c| !c.app_done);
                            self.core.pending_close =
                                Some(vanished.then(|| Box::new(ConnectionError::TransportClosed)));
                            return;
                        }
                        Poll::Pending => return,
                    }
                }
                H2Server::Closed => return,
            }
        }
    }
}

impl ServerCore {
    /// The connection has had no call for a while: gives back the room its
    /// calls used (the call slot kept for the next call, the queues).
    pub(super) fn release_idle_memory(&mut self) {
        self.memory_released = true;
        self.calls.release_memory();
        if self.events.is_empty() {
            self.events = VecDeque::new();
        }
        let calls = &self.calls;
        self.plumbing.release_memory(|id| calls.get(id).is_some());
    }

    fn on_request(
        &mut self,
        request: http::Request<h2::RecvStream>,
        mut respond: SendResponse<Bytes>,
        now: Instant,
    ) {
        let (parts, body) = request.into_parts();
        self.last_stream_id = self.last_stream_id.max(respond.stream_id().as_u32());
        let accept = self.config.accept_encodings;
        let head = match validate_request(parts, &self.rules, now) {
            Ok(head) => head,
            Err(rejection) => {
                let response = trailers_only(
                    rejection.http_status,
                    &default_content_type(),
                    accept,
                    &rejection.status,
                    &MetadataMap::new(),
                );
                let _ = respond.send_response(response, true);
                return;
            }
        };
        let limits = &self.config.limits;
        let plumbing = &self.plumbing;
        let inserted = self.calls.insert_with(|id| ServerCall {
            wake: plumbing.call_wake(id),
            response: Response::Pending(respond),
            inbound: Inbound::new(body, head.encoding(), limits.max_recv_message_size),
            outbound: Outbound::new(limits.max_send_buffer_per_call),
            content_type: head.content_type().clone(),
            encoding: Encoding::Identity,
            client_accepts: head.accept_encodings(),
            deadline: head.deadline(),
            app_done: false,
        });
        let Some(id) = inserted else {
            return;
        };
        if let Some(deadline) = head.deadline() {
            self.plumbing.deadlines.push(deadline, id);
        }
        self.events.push_back(ServerEvent::NewCall {
            call: id,
            request: Box::new(head),
        });
        self.service(id);
    }

    /// Feeds what the tap saw to keepalive and the ping policy.
    fn observe_tap(&mut self) {
        let now = self.plumbing.now;
        let active = self.calls.len();
        self.keepalive
            .set_active_calls(&self.config.keepalive, active);
        if let Some(lifetime) = self.lifetime.as_mut() {
            lifetime.set_active_calls(active, now);
        }
        if let Some(ping_pong) = self.ping_pong.as_mut() {
            let waker = self.plumbing.conn_waker_handle.clone();
            if let Poll::Ready(Ok(_)) = ping_pong.poll_pong(&mut Context::from_waker(&waker)) {
                self.keepalive.on_activity(now);
            }
        }
        let (activity, pings, sent) = {
            let mut tap = self.tap.lock();
            (
                std::mem::take(&mut tap.activity),
                std::mem::take(&mut tap.pings),
                tap.take_headers_or_data_sent(),
            )
        };
        if activity {
            self.keepalive.on_activity(now);
        }
        if sent {
            self.ping_policy.on_data_or_headers_sent();
        }
        for _ in 0..pings {
            if self
                .ping_policy
                .on_ping_received(&self.config.ping_policy, now, active)
                == PingVerdict::TooManyPings
                && self.phase != Phase::Closed
            {
                self.abuse = true;
                self.plumbing.request_poll();
            }
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

    fn connection_closed(&mut self, error: Option<Box<ConnectionError>>) {
        self.phase = Phase::Closed;
        if self.error.is_none() {
            self.error = error;
        }
        let status = match &self.error {
            Some(err) => err.to_status(),
            None => Status::unavailable("connection closed"),
        };
        for id in self.calls.ids() {
            self.drop_call(id, Some(status.clone()));
        }
    }
}
