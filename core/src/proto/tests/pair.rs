//! The pair harness: a [`ClientConnection`] and a [`ServerConnection`] wired
//! through memory, with a virtual clock, re-chunking, and faults injected.
//! (quinn-proto's `tests/util.rs` habit.) Reusable by any test in the crate.
//!
//! Every pair test runs four ways: bytes whole or in 1-byte chunks, and the
//! engines driven by the embedder's byte interface ([`Driving::Bytes`]:
//! `handle_input`, `poll_transmit`, `handle_eof`) or by the path production
//! runs ([`Driving::Io`]: `with_io` over an in-memory socket, `drive_io`
//! called only when the engine woke its task, as the async layer's driver
//! is). In the second mode a command that leaves work without waking the
//! task, or an IO readiness that is not woken, stalls the pair: the harness
//! fails the test.
//!
//! [`Pair::drive`] moves bytes both ways until nothing moves, collecting the
//! events of both sides; tests then react with commands and drive again.
//! [`Pair::advance`] and [`Pair::advance_to_next_timeout`] move the clock.

#![allow(dead_code)]

use std::cell::Cell;
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Wake, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::Status;
use crate::codec::metadata::MetadataMap;
use crate::proto::frame::{FrameHeader, frame_headers};
use crate::proto::side::Side;
use crate::proto::transport::MemoryTransport;
use crate::proto::{
    CallId, CallOptions, CallPath, ClientConfig, ClientConnection, ClientEvent, Connection,
    RecvError, RequestHead, ServerConfig, ServerConnection, ServerEvent,
};

/// How bytes are handed to the receiving engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Chunking {
    /// Everything available in one piece.
    Whole,
    /// In pieces of at most this many bytes.
    Bytes(usize),
}

impl Chunking {
    /// The two chunkings every pair test gets.
    pub(crate) const ALL: [Chunking; 2] = [Chunking::Whole, Chunking::Bytes(1)];
}

/// How the harness drives the engines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Driving {
    /// The embedder's byte interface: `handle_input`, `poll_transmit`,
    /// `handle_eof`.
    Bytes,
    /// The production path: `with_io` over an in-memory socket, `drive_io`
    /// only when the engine woke its task.
    Io,
}

impl Driving {
    /// The two drivings every pair test gets.
    pub(crate) const ALL: [Driving; 2] = [Driving::Bytes, Driving::Io];
}

thread_local! {
    /// The driving of the pairs the current test makes (set by
    /// [`pair_test!`] for each run).
    static DRIVING: Cell<Driving> = const { Cell::new(Driving::Bytes) };
}

pub(crate) fn set_driving(driving: Driving) {
    DRIVING.with(|d| d.set(driving));
}

/// Bytes travelling in one direction.
#[derive(Debug, Default)]
pub(crate) struct Wire {
    /// Sent and not yet delivered.
    pub(crate) in_flight: Vec<u8>,
    /// The receiver does not read and the socket buffers are full: the sender's
    /// output is not taken, so its engine feels the backpressure.
    pub(crate) paused: bool,
    /// Everything ever sent this way (for mock-peer style assertions).
    pub(crate) transcript: Vec<u8>,
    /// Deliver no more, ever (the peer vanished).
    pub(crate) cut: bool,
    /// Take what the sender sends but deliver none of it yet (bytes on the
    /// way, for a test to cut short).
    pub(crate) held: bool,
}

/// A task waker that only notes it was woken.
#[derive(Debug, Default)]
struct WokenFlag(AtomicBool);

impl Wake for WokenFlag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// An engine's socket and task, for [`Driving::Io`].
struct Socket {
    /// The far end of the engine's transport: what the harness moves.
    wire: MemoryTransport,
    woken: Arc<WokenFlag>,
    waker: Waker,
}

impl Socket {
    fn new(limit: usize) -> Socket {
        let woken = Arc::new(WokenFlag(AtomicBool::new(true)));
        Socket {
            wire: MemoryTransport::new(limit),
            waker: Waker::from(Arc::clone(&woken)),
            woken,
        }
    }

    fn is_woken(&self) -> bool {
        self.woken.0.load(Ordering::SeqCst)
    }

    /// Polls the engine's task if it was woken, as an executor would.
    fn run<S: Side>(&self, engine: &mut Connection<S, MemoryTransport>, now: Instant) {
        while self.woken.0.swap(false, Ordering::SeqCst) {
            engine.drive_io(now, &self.waker);
        }
    }
}

/// One engine as the harness holds it.
trait Driven {
    /// Polls the engine's task if it was woken (production driving only).
    fn run_task(&mut self, now: Instant);
    fn transmit(&mut self, now: Instant, buf: &mut [u8]) -> usize;
    fn input(&mut self, now: Instant, data: &[u8]);
    fn eof(&mut self, now: Instant);
    fn takes_input(&self) -> bool;
    fn drained(&self) -> bool;
}

/// An engine and, when driven as in production, its socket.
struct End<'a, S: Side> {
    conn: &'a mut Connection<S, MemoryTransport>,
    socket: Option<&'a Socket>,
}

impl<S: Side> Driven for End<'_, S> {
    fn run_task(&mut self, now: Instant) {
        if let Some(socket) = self.socket {
            socket.run(self.conn, now);
        }
    }

    fn transmit(&mut self, now: Instant, buf: &mut [u8]) -> usize {
        match self.socket {
            None => self.conn.poll_transmit(now, buf),
            Some(socket) => {
                socket.run(self.conn, now);
                // Taking bytes may wake a writer that found no room.
                let n = socket.wire.take_outbound(buf);
                socket.run(self.conn, now);
                n
            }
        }
    }

    fn input(&mut self, now: Instant, data: &[u8]) {
        match self.socket {
            None => self.conn.handle_input(now, data),
            Some(socket) => {
                socket.wire.push_inbound(data);
                socket.run(self.conn, now);
            }
        }
    }

    fn eof(&mut self, now: Instant) {
        match self.socket {
            None => self.conn.handle_eof(now),
            Some(socket) => {
                socket.wire.close_inbound();
                socket.run(self.conn, now);
            }
        }
    }

    fn takes_input(&self) -> bool {
        // A socket takes what comes; the byte interface says when it is full.
        self.socket.is_some() || self.conn.wants_input()
    }

    fn drained(&self) -> bool {
        match self.socket {
            None => self.conn.is_drained(),
            Some(socket) => self.conn.is_closed() && socket.wire.is_outbound_empty(),
        }
    }
}

pub(crate) struct Pair {
    pub(crate) server: ServerConnection,
    pub(crate) client: ClientConnection,
    pub(crate) now: Instant,
    pub(crate) chunking: Chunking,
    pub(crate) driving: Driving,
    pub(crate) to_server: Wire,
    pub(crate) to_client: Wire,
    pub(crate) server_events: VecDeque<ServerEvent>,
    pub(crate) client_events: VecDeque<ClientEvent>,
    server_socket: Option<Socket>,
    client_socket: Option<Socket>,
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
        let driving = DRIVING.with(Cell::get);
        let (server, server_socket, client, client_socket) = match driving {
            Driving::Bytes => (
                ServerConnection::new(server, now),
                None,
                ClientConnection::new(client, now),
                None,
            ),
            Driving::Io => {
                let server_socket = Socket::new(server.limits.max_outbound_buffer);
                let client_socket = Socket::new(client.limits.max_outbound_buffer);
                (
                    ServerConnection::with_io(server_socket.wire.clone(), server, now),
                    Some(server_socket),
                    ClientConnection::with_io(client_socket.wire.clone(), client, now),
                    Some(client_socket),
                )
            }
        };
        let mut pair = Pair {
            server,
            client,
            now,
            chunking,
            driving,
            to_server: Wire::default(),
            to_client: Wire::default(),
            server_events: VecDeque::new(),
            client_events: VecDeque::new(),
            server_socket,
            client_socket,
            buf: vec![0; 16 * 1024],
        };
        pair.drive();
        pair
    }

    /// Runs `f` on both engines as the harness holds them.
    fn with_ends<R>(
        &mut self,
        f: impl FnOnce(&mut dyn Driven, &mut dyn Driven, &mut Wire, &mut Wire, Instant, &mut [u8]) -> R,
    ) -> R {
        let mut client = End {
            conn: &mut self.client,
            socket: self.client_socket.as_ref(),
        };
        let mut server = End {
            conn: &mut self.server,
            socket: self.server_socket.as_ref(),
        };
        f(
            &mut client,
            &mut server,
            &mut self.to_server,
            &mut self.to_client,
            self.now,
            &mut self.buf,
        )
    }

    /// Moves bytes once in each direction and collects events. Returns
    /// whether any byte moved.
    pub(crate) fn step(&mut self) -> bool {
        let moved = self.move_bytes();
        self.collect_events();
        moved
    }

    /// Moves bytes once in each direction, leaving the events in the
    /// engines. Returns whether any byte moved.
    pub(crate) fn move_bytes(&mut self) -> bool {
        let chunking = self.chunking;
        self.with_ends(|client, server, to_server, to_client, now, buf| {
            // An executor runs a woken task whether or not its socket can
            // take bytes.
            client.run_task(now);
            server.run_task(now);
            let mut moved = false;
            moved |= transmit(client, to_server, now, buf);
            moved |= transmit(server, to_client, now, buf);
            moved |= deliver(server, to_server, chunking, now);
            moved |= deliver(client, to_client, chunking, now);
            // A side that closed and sent everything closes its transport:
            // the other side reads EOF.
            moved |= close_if_drained(server, client, to_client, now);
            moved |= close_if_drained(client, server, to_server, now);
            moved
        })
    }

    /// The server reads end of stream (the client closed its side).
    pub(crate) fn server_reads_eof(&mut self) {
        self.with_ends(|_, server, _, _, now, _| server.eof(now));
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
                // Work left with the task asleep would never be done.
                if let Some(socket) = &self.server_socket {
                    assert!(
                        !self.server.has_pending_work() || socket.is_woken(),
                        "the server has work but did not wake its task"
                    );
                }
                if let Some(socket) = &self.client_socket {
                    assert!(
                        !self.client.has_pending_work() || socket.is_woken(),
                        "the client has work but did not wake its task"
                    );
                }
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
        self.with_ends(|_, server, _, _, now, _| server.eof(now));
        self.drive();
    }

    /// The server vanishes: the client sees EOF.
    pub(crate) fn server_vanishes(&mut self) {
        self.to_server.cut = true;
        self.to_client.cut = true;
        self.with_ends(|client, _, _, _, now, _| client.eof(now));
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

/// Takes what `from` sends into `wire`, unless the wire is paused.
fn transmit(from: &mut dyn Driven, wire: &mut Wire, now: Instant, buf: &mut [u8]) -> bool {
    let mut moved = false;
    while !wire.paused {
        let n = from.transmit(now, buf);
        if n == 0 {
            break;
        }
        moved = true;
        let bytes = buf.get(..n).unwrap_or_default();
        wire.in_flight.extend_from_slice(bytes);
        wire.transcript.extend_from_slice(bytes);
    }
    moved
}

/// Hands `to` what is in flight on `wire`, chunked.
fn deliver(to: &mut dyn Driven, wire: &mut Wire, chunking: Chunking, now: Instant) -> bool {
    if wire.paused || wire.held || wire.cut || wire.in_flight.is_empty() {
        return false;
    }
    let data = std::mem::take(&mut wire.in_flight);
    let mut offset = 0;
    while offset < data.len() && to.takes_input() {
        let end = match chunking {
            Chunking::Whole => data.len(),
            Chunking::Bytes(n) => (offset + n).min(data.len()),
        };
        to.input(now, &data[offset..end]);
        offset = end;
    }
    wire.in_flight = data[offset..].to_vec();
    offset > 0
}

/// `from` closed and sent everything: it closes its transport, and `to`
/// reads EOF.
fn close_if_drained(from: &dyn Driven, to: &mut dyn Driven, wire: &mut Wire, now: Instant) -> bool {
    if from.drained() && !wire.cut && wire.in_flight.is_empty() {
        wire.cut = true;
        to.eof(now);
        return true;
    }
    false
}

/// Declares a pair test run four times: whole transfers and 1-byte chunks,
/// each driven through the byte interface and through the production path.
macro_rules! pair_test {
    ($(#[$meta:meta])* fn $name:ident($chunking:ident) $body:block) => {
        $(#[$meta])*
        #[test]
        fn $name() {
            for driving in $crate::proto::tests::pair::Driving::ALL {
                for $chunking in $crate::proto::tests::pair::Chunking::ALL {
                    eprintln!("--- run with {:?}, {:?}", $chunking, driving);
                    $crate::proto::tests::pair::set_driving(driving);
                    let run = |$chunking: $crate::proto::tests::pair::Chunking| $body;
                    run($chunking);
                }
            }
        }
    };
}
pub(crate) use pair_test;
