//! The pair harness: a [`ClientConnection`] and a [`ServerConnection`] wired
//! through memory, with a virtual clock, re-chunking, and faults injected.
//! (quinn-proto's `tests/util.rs` habit.) Reusable by any test in the crate.
//!
//! [`Pair::drive`] moves bytes both ways until nothing moves, collecting the
//! events of both sides; tests then react with commands and drive again.
//! [`Pair::advance`] and [`Pair::advance_to_next_timeout`] move the clock.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::Status;
use crate::codec::metadata::MetadataMap;
use crate::proto::frame::{FrameHeader, frame_headers};
use crate::proto::{
    CallId, CallOptions, CallPath, ClientConfig, ClientConnection, ClientEvent, RecvError,
    RequestHead, ServerConfig, ServerConnection, ServerEvent,
};

/// How bytes are handed to the receiving engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Chunking {
    /// Everything available in one `handle_input`.
    Whole,
    /// In pieces of at most this many bytes.
    Bytes(usize),
}

impl Chunking {
    /// The two runs every pair test gets.
    pub(crate) const ALL: [Chunking; 2] = [Chunking::Whole, Chunking::Bytes(1)];
}

/// Bytes travelling in one direction.
#[derive(Debug, Default)]
pub(crate) struct Wire {
    /// Sent and not yet delivered.
    pub(crate) in_flight: Vec<u8>,
    /// The receiver does not read and the socket buffers are full: the sender's
    /// `poll_transmit` is not called, so its engine feels the backpressure.
    pub(crate) paused: bool,
    /// Everything ever sent this way (for mock-peer style assertions).
    pub(crate) transcript: Vec<u8>,
    /// Deliver no more, ever (the peer vanished).
    pub(crate) cut: bool,
}

pub(crate) struct Pair {
    pub(crate) server: ServerConnection,
    pub(crate) client: ClientConnection,
    pub(crate) now: Instant,
    pub(crate) chunking: Chunking,
    pub(crate) to_server: Wire,
    pub(crate) to_client: Wire,
    pub(crate) server_events: VecDeque<ServerEvent>,
    pub(crate) client_events: VecDeque<ClientEvent>,
    buf: Vec<u8>,
}

impl Pair {
    pub(crate) fn new(chunking: Chunking) -> Pair {
        Pair::with_configs(chunking, ServerConfig::default(), ClientConfig::default())
    }

    pub(crate) fn with_configs(
        chunking: Chunking,
        server: ServerConfig,
        client: ClientConfig,
    ) -> Pair {
        // Any fixed origin will do; only differences matter.
        let now = Instant::now();
        let mut pair = Pair {
            server: ServerConnection::new(server, now),
            client: ClientConnection::new(client, now),
            now,
            chunking,
            to_server: Wire::default(),
            to_client: Wire::default(),
            server_events: VecDeque::new(),
            client_events: VecDeque::new(),
            buf: vec![0; 16 * 1024],
        };
        pair.drive();
        pair
    }

    /// Moves bytes once in each direction and collects events. Returns
    /// whether any byte moved.
    pub(crate) fn step(&mut self) -> bool {
        let mut moved = false;
        while !self.to_server.paused {
            let n = self.client.poll_transmit(self.now, &mut self.buf);
            if n == 0 {
                break;
            }
            moved = true;
            let bytes = self.buf.get(..n).unwrap_or_default();
            self.to_server.in_flight.extend_from_slice(bytes);
            self.to_server.transcript.extend_from_slice(bytes);
        }
        while !self.to_client.paused {
            let n = self.server.poll_transmit(self.now, &mut self.buf);
            if n == 0 {
                break;
            }
            moved = true;
            let bytes = self.buf.get(..n).unwrap_or_default();
            self.to_client.in_flight.extend_from_slice(bytes);
            self.to_client.transcript.extend_from_slice(bytes);
        }
        if self.deliver_to_server() {
            moved = true;
        }
        if self.deliver_to_client() {
            moved = true;
        }
        // A side that closed and sent everything closes its transport: the
        // other side reads EOF.
        if self.server.is_drained() && !self.to_client.cut && self.to_client.in_flight.is_empty() {
            self.to_client.cut = true;
            self.client.handle_eof(self.now);
            moved = true;
        }
        if self.client.is_drained() && !self.to_server.cut && self.to_server.in_flight.is_empty() {
            self.to_server.cut = true;
            self.server.handle_eof(self.now);
            moved = true;
        }
        self.collect_events();
        moved
    }

    fn deliver_to_server(&mut self) -> bool {
        if self.to_server.paused || self.to_server.cut || self.to_server.in_flight.is_empty() {
            return false;
        }
        let data = std::mem::take(&mut self.to_server.in_flight);
        let mut offset = 0;
        while offset < data.len() && self.server.wants_input() {
            let end = match self.chunking {
                Chunking::Whole => data.len(),
                Chunking::Bytes(n) => (offset + n).min(data.len()),
            };
            self.server.handle_input(self.now, &data[offset..end]);
            offset = end;
        }
        self.to_server.in_flight = data[offset..].to_vec();
        offset > 0
    }

    fn deliver_to_client(&mut self) -> bool {
        if self.to_client.paused || self.to_client.cut || self.to_client.in_flight.is_empty() {
            return false;
        }
        let data = std::mem::take(&mut self.to_client.in_flight);
        let mut offset = 0;
        while offset < data.len() && self.client.wants_input() {
            let end = match self.chunking {
                Chunking::Whole => data.len(),
                Chunking::Bytes(n) => (offset + n).min(data.len()),
            };
            self.client.handle_input(self.now, &data[offset..end]);
            offset = end;
        }
        self.to_client.in_flight = data[offset..].to_vec();
        offset > 0
    }

    fn collect_events(&mut self) {
        while let Some(event) = self.server.poll_event() {
            self.server_events.push_back(event);
        }
        while let Some(event) = self.client.poll_event() {
            self.client_events.push_back(event);
        }
    }

    /// Steps until no byte moves.
    pub(crate) fn drive(&mut self) {
        for _ in 0..1_000_000 {
            if !self.step() {
                // Quiet: no call may have been left unserviced by a lost wake.
                assert!(
                    !self.server.audit_missed_wakes(),
                    "a server call had work but was not woken; events {:?}",
                    self.server_events
                );
                assert!(
                    !self.client.audit_missed_wakes(),
                    "a client call had work but was not woken; events {:?}",
                    self.client_events
                );
                return;
            }
        }
        panic!("the pair never went quiet");
    }

    /// Moves the clock forward by `by`, firing due timers, then drives.
    pub(crate) fn advance(&mut self, by: Duration) {
        self.now += by;
        self.server.handle_timeout(self.now);
        self.client.handle_timeout(self.now);
        self.drive();
    }

    /// The earliest timer of either side.
    pub(crate) fn next_timeout(&self) -> Option<Instant> {
        match (self.server.poll_timeout(), self.client.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Jumps the clock to the next timer and fires it; false if none is set.
    pub(crate) fn advance_to_next_timeout(&mut self) -> bool {
        let Some(at) = self.next_timeout() else {
            return false;
        };
        if at > self.now {
            self.now = at;
        }
        self.server.handle_timeout(self.now);
        self.client.handle_timeout(self.now);
        self.drive();
        true
    }

    /// The client vanishes: no more bytes either way, the server sees EOF.
    pub(crate) fn client_vanishes(&mut self) {
        self.to_server.cut = true;
        self.to_client.cut = true;
        self.server.handle_eof(self.now);
        self.drive();
    }

    /// The server vanishes: the client sees EOF.
    pub(crate) fn server_vanishes(&mut self) {
        self.to_server.cut = true;
        self.to_client.cut = true;
        self.client.handle_eof(self.now);
        self.drive();
    }

    /// The frame headers the client sent so far (for debugging and
    /// wire-level assertions).
    pub(crate) fn frames_to_server(&self) -> Vec<FrameHeader> {
        frame_headers(&self.to_server.transcript, true)
    }

    /// The frame headers the server sent so far.
    pub(crate) fn frames_to_client(&self) -> Vec<FrameHeader> {
        frame_headers(&self.to_client.transcript, false)
    }

    // ----- conveniences ------------------------------------------------------

    pub(crate) fn start(&mut self, path: impl Into<CallPath>, options: CallOptions) -> CallId {
        let id = self
            .client
            .start_call(self.now, path, options)
            .expect("start_call");
        self.drive();
        id
    }

    /// Removes and returns the first server event matching `f`.
    pub(crate) fn take_server_event<R>(
        &mut self,
        mut f: impl FnMut(&ServerEvent) -> Option<R>,
    ) -> Option<(R, ServerEvent)> {
        let index = self.server_events.iter().position(|e| f(e).is_some())?;
        let event = self.server_events.remove(index)?;
        Some((f(&event)?, event))
    }

    /// Removes and returns the first client event matching `f`.
    pub(crate) fn take_client_event<R>(
        &mut self,
        mut f: impl FnMut(&ClientEvent) -> Option<R>,
    ) -> Option<(R, ClientEvent)> {
        let index = self.client_events.iter().position(|e| f(e).is_some())?;
        let event = self.client_events.remove(index)?;
        Some((f(&event)?, event))
    }

    /// The next new call on the server.
    pub(crate) fn accept(&mut self) -> (CallId, RequestHead) {
        self.drive();
        match self.take_server_event(|e| matches!(e, ServerEvent::NewCall { .. }).then_some(())) {
            Some((_, ServerEvent::NewCall { call, request })) => (call, *request),
            _ => panic!("no new call; server events: {:?}", self.server_events),
        }
    }

    /// The `Finished` event of a client call.
    pub(crate) fn finished(&mut self, call: CallId) -> Option<(Status, MetadataMap)> {
        self.drive();
        match self.take_client_event(|e| match e {
            ClientEvent::Finished { call: c, .. } if *c == call => Some(()),
            _ => None,
        }) {
            Some((
                _,
                ClientEvent::Finished {
                    status, trailers, ..
                },
            )) => Some((status, trailers)),
            _ => None,
        }
    }

    /// Like [`finished`](Self::finished), panicking if the call is not over.
    pub(crate) fn expect_finished(&mut self, call: CallId) -> (Status, MetadataMap) {
        match self.finished(call) {
            Some(done) => done,
            None => panic!(
                "call {call} not finished; client events: {:?}",
                self.client_events
            ),
        }
    }

    /// The `Cancelled` status of a server call, if reported.
    pub(crate) fn server_cancelled(&mut self, call: CallId) -> Option<Status> {
        self.drive();
        match self.take_server_event(|e| match e {
            ServerEvent::Cancelled { call: c, .. } if *c == call => Some(()),
            _ => None,
        }) {
            Some((_, ServerEvent::Cancelled { status, .. })) => Some(status),
            _ => None,
        }
    }

    /// The response headers of a client call, if reported.
    pub(crate) fn response_headers(&mut self, call: CallId) -> Option<MetadataMap> {
        self.drive();
        match self.take_client_event(|e| match e {
            ClientEvent::Headers { call: c, .. } if *c == call => Some(()),
            _ => None,
        }) {
            Some((_, ClientEvent::Headers { metadata, .. })) => Some(metadata),
            _ => None,
        }
    }

    /// Every message the server can read now, and whether the client's stream
    /// ended.
    pub(crate) fn server_recv_all(&mut self, call: CallId) -> (Vec<Bytes>, bool) {
        self.drive();
        let mut messages = Vec::new();
        loop {
            match self.server.recv_message(call) {
                Ok(Some(m)) => messages.push(m),
                Ok(None) => return (messages, true),
                Err(RecvError::Blocked) => return (messages, false),
                Err(err) => panic!("server recv failed: {err}"),
            }
            self.drive();
        }
    }

    /// Every message the client can read now, and whether the call is over
    /// (the end read now, as `Ok(None)` or the call's failure, or before:
    /// the call was released).
    pub(crate) fn client_recv_all(&mut self, call: CallId) -> (Vec<Bytes>, bool) {
        self.drive();
        let mut messages = Vec::new();
        loop {
            match self.client.recv_message(call) {
                Ok(Some(m)) => messages.push(m),
                Ok(None) | Err(RecvError::Closed | RecvError::Cancelled(_)) => {
                    return (messages, true);
                }
                Err(RecvError::Blocked) => return (messages, false),
                Err(err) => panic!("client recv failed: {err}"),
            }
            self.drive();
        }
    }

    /// A whole unary exchange answered by `respond`; returns the client's view.
    pub(crate) fn unary(
        &mut self,
        path: impl Into<CallPath>,
        request: &'static [u8],
        respond: impl FnOnce(&mut ServerConnection, CallId, RequestHead, Vec<Bytes>),
    ) -> (Vec<Bytes>, Status, MetadataMap) {
        let call = self.start(path, CallOptions::new());
        self.client
            .send_message(call, Bytes::from_static(request))
            .expect("send");
        self.client.close_send(call).expect("close_send");
        let (server_call, head) = self.accept();
        let (messages, ended) = self.server_recv_all(server_call);
        assert!(ended, "the request stream ended");
        respond(&mut self.server, server_call, head, messages);
        self.drive();
        let (messages, _) = self.client_recv_all(call);
        let (status, trailers) = self.expect_finished(call);
        let (rest, over) = self.client_recv_all(call);
        assert!(rest.is_empty() && over);
        (messages, status, trailers)
    }
}

/// Declares a pair test run twice: whole transfers and 1-byte chunks.
macro_rules! pair_test {
    ($(#[$meta:meta])* fn $name:ident($chunking:ident) $body:block) => {
        $(#[$meta])*
        #[test]
        fn $name() {
            for $chunking in $crate::proto::tests::pair::Chunking::ALL {
                eprintln!("--- run with {:?}", $chunking);
                let run = |$chunking: $crate::proto::tests::pair::Chunking| $body;
                run($chunking);
            }
        }
    };
}
pub(crate) use pair_test;
