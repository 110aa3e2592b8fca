//! Raw h2 peers: a plain h2 client against our server, a plain h2 server
//! against our client. They send what a ferrule peer never would (wrong
//! methods, content types, encodings, HTTP errors, odd resets), driven over
//! the in-memory transport with a no-op waker.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;
use h2::client::{ResponseFuture, SendRequest};
use h2::server::SendResponse;
use h2::{RecvStream, SendStream};
use http::{HeaderMap, Request, Response};

use super::pair::Chunking;
use crate::proto::transport::MemoryTransport;
use crate::proto::{
    ClientConfig, ClientConnection, ClientEvent, ServerConfig, ServerConnection, ServerEvent,
};

thread_local! {
    /// How the harness hands bytes to the engine under test (set by
    /// [`raw_test!`] for each run).
    static CHUNKING: std::cell::Cell<Chunking> = const { std::cell::Cell::new(Chunking::Whole) };
}

pub(crate) fn set_chunking(chunking: Chunking) {
    CHUNKING.with(|c| c.set(chunking));
}

/// Declares a raw-peer test run twice: whole transfers and 1-byte chunks.
macro_rules! raw_test {
    ($(#[$meta:meta])* fn $name:ident() $body:block) => {
        $(#[$meta])*
        #[test]
        fn $name() {
            for chunking in $crate::proto::tests::pair::Chunking::ALL {
                eprintln!("--- run with {chunking:?}");
                $crate::proto::tests::raw::set_chunking(chunking);
                $body
            }
        }
    };
}
pub(crate) use raw_test;

fn cx() -> Context<'static> {
    Context::from_waker(Waker::noop())
}

/// The byte interface both engines share.
trait Engine {
    fn transmit(&mut self, now: Instant, buf: &mut [u8]) -> usize;
    fn input(&mut self, now: Instant, data: &[u8]);
}

impl Engine for ServerConnection {
    fn transmit(&mut self, now: Instant, buf: &mut [u8]) -> usize {
        self.poll_transmit(now, buf)
    }
    fn input(&mut self, now: Instant, data: &[u8]) {
        self.handle_input(now, data);
    }
}

impl Engine for ClientConnection {
    fn transmit(&mut self, now: Instant, buf: &mut [u8]) -> usize {
        self.poll_transmit(now, buf)
    }
    fn input(&mut self, now: Instant, data: &[u8]) {
        self.handle_input(now, data);
    }
}

/// Moves bytes between an engine and a raw peer's transport. Returns whether
/// anything moved.
fn shuttle(now: Instant, raw: &MemoryTransport, engine: &mut impl Engine) -> bool {
    let mut moved = false;
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = engine.transmit(now, &mut buf);
        if n == 0 {
            break;
        }
        raw.push_inbound(&buf[..n]);
        moved = true;
    }
    let out = raw.take_outbound_bytes();
    if !out.is_empty() {
        match CHUNKING.with(std::cell::Cell::get) {
            Chunking::Whole => engine.input(now, &out),
            Chunking::Bytes(n) => {
                for piece in out.chunks(n.max(1)) {
                    engine.input(now, piece);
                }
            }
        }
        moved = true;
    }
    moved
}

/// A plain h2 client talking to our [`ServerConnection`].
pub(crate) struct RawClient {
    pub(crate) server: ServerConnection,
    pub(crate) now: Instant,
    io: MemoryTransport,
    conn: h2::client::Connection<MemoryTransport, Bytes>,
    pub(crate) send: SendRequest<Bytes>,
    pub(crate) server_events: VecDeque<ServerEvent>,
    pub(crate) conn_result: Option<Result<(), h2::Error>>,
}

impl RawClient {
    pub(crate) fn new(config: ServerConfig) -> RawClient {
        RawClient::with_builder(config, h2::client::Builder::new())
    }

    pub(crate) fn with_builder(config: ServerConfig, builder: h2::client::Builder) -> RawClient {
        let now = Instant::now();
        let io = MemoryTransport::new(1 << 20);
        let mut handshake = Box::pin(builder.handshake::<_, Bytes>(io.clone()));
        let (send, conn) = match handshake.as_mut().poll(&mut cx()) {
            Poll::Ready(Ok(pair)) => pair,
            other => panic!("raw client handshake: {other:?}"),
        };
        let mut raw = RawClient {
            server: ServerConnection::new(config, now),
            now,
            io,
            conn,
            send,
            server_events: VecDeque::new(),
            conn_result: None,
        };
        raw.drive();
        raw
    }

    pub(crate) fn drive(&mut self) {
        for _ in 0..100_000 {
            if self.conn_result.is_none()
                && let Poll::Ready(result) = Pin::new(&mut self.conn).poll(&mut cx())
            {
                self.conn_result = Some(result);
            }
            let moved = shuttle(self.now, &self.io, &mut self.server);
            while let Some(event) = self.server.poll_event() {
                self.server_events.push_back(event);
            }
            if !moved {
                if self.server.is_drained() {
                    self.io.close_inbound();
                    if self.conn_result.is_none()
                        && let Poll::Ready(result) = Pin::new(&mut self.conn).poll(&mut cx())
                    {
                        self.conn_result = Some(result);
                    }
                }
                return;
            }
        }
        panic!("never quiet");
    }

    pub(crate) fn advance(&mut self, by: Duration) {
        self.now += by;
        self.server.handle_timeout(self.now);
        self.drive();
    }

    /// Sends a request head.
    pub(crate) fn request(
        &mut self,
        request: Request<()>,
        end_of_stream: bool,
    ) -> (ResponseFuture, SendStream<Bytes>) {
        let out = self
            .send
            .send_request(request, end_of_stream)
            .expect("send_request");
        self.drive();
        out
    }

    /// Waits for the response head.
    pub(crate) fn response(
        &mut self,
        future: &mut ResponseFuture,
    ) -> Result<Response<RecvStream>, h2::Error> {
        self.drive();
        match Pin::new(future).poll(&mut cx()) {
            Poll::Ready(result) => result,
            Poll::Pending => panic!("no response yet; server events {:?}", self.server_events),
        }
    }

    /// Reads the whole body and the trailers.
    pub(crate) fn body(&mut self, body: &mut RecvStream) -> (Vec<u8>, Option<HeaderMap>) {
        self.drive();
        let mut data = Vec::new();
        loop {
            match body.poll_data(&mut cx()) {
                Poll::Ready(Some(Ok(chunk))) => {
                    let _ = body.flow_control().release_capacity(chunk.len());
                    data.extend_from_slice(&chunk);
                }
                Poll::Ready(Some(Err(err))) => panic!("body: {err}"),
                Poll::Ready(None) => break,
                Poll::Pending => {
                    self.drive();
                    if matches!(body.poll_data(&mut cx()), Poll::Pending) {
                        panic!("body never ended");
                    }
                }
            }
        }
        let trailers = match body.poll_trailers(&mut cx()) {
            Poll::Ready(Ok(t)) => t,
            other => panic!("trailers: {other:?}"),
        };
        (data, trailers)
    }

    pub(crate) fn take_new_call(&mut self) -> Option<crate::proto::CallId> {
        let index = self
            .server_events
            .iter()
            .position(|e| matches!(e, ServerEvent::NewCall { .. }))?;
        match self.server_events.remove(index) {
            Some(ServerEvent::NewCall { call, .. }) => Some(call),
            _ => None,
        }
    }
}

/// A plain h2 server talking to our [`ClientConnection`].
pub(crate) struct RawServer {
    pub(crate) client: ClientConnection,
    pub(crate) now: Instant,
    io: MemoryTransport,
    handshake: Option<Pin<Box<h2::server::Handshake<MemoryTransport, Bytes>>>>,
    pub(crate) conn: Option<h2::server::Connection<MemoryTransport, Bytes>>,
    pub(crate) accepted: VecDeque<(Request<RecvStream>, SendResponse<Bytes>)>,
    pub(crate) client_events: VecDeque<ClientEvent>,
}

impl RawServer {
    pub(crate) fn new(config: ClientConfig) -> RawServer {
        let now = Instant::now();
        let io = MemoryTransport::new(1 << 20);
        let handshake = Box::pin(h2::server::Builder::new().handshake::<_, Bytes>(io.clone()));
        let mut raw = RawServer {
            client: ClientConnection::new(config, now),
            now,
            io,
            handshake: Some(handshake),
            conn: None,
            accepted: VecDeque::new(),
            client_events: VecDeque::new(),
        };
        raw.drive();
        raw
    }

    pub(crate) fn drive(&mut self) {
        for _ in 0..100_000 {
            if let Some(handshake) = self.handshake.as_mut()
                && let Poll::Ready(result) = handshake.as_mut().poll(&mut cx())
            {
                self.conn = Some(result.expect("raw server handshake"));
                self.handshake = None;
            }
            if let Some(conn) = self.conn.as_mut() {
                while let Poll::Ready(Some(Ok(pair))) = conn.poll_accept(&mut cx()) {
                    self.accepted.push_back(pair);
                }
            }
            let moved = shuttle(self.now, &self.io, &mut self.client);
            while let Some(event) = self.client.poll_event() {
                self.client_events.push_back(event);
            }
            if !moved {
                return;
            }
        }
        panic!("never quiet");
    }

    /// The next request the client sent.
    pub(crate) fn accept(&mut self) -> (Request<RecvStream>, SendResponse<Bytes>) {
        self.drive();
        self.accepted.pop_front().expect("a request")
    }

    /// The outcome of a client call.
    pub(crate) fn finished(&mut self, call: crate::proto::CallId) -> crate::Status {
        self.drive();
        let index = self
            .client_events
            .iter()
            .position(|e| matches!(e, ClientEvent::Finished { call: c, .. } if *c == call))
            .unwrap_or_else(|| panic!("not finished: {:?}", self.client_events));
        match self.client_events.remove(index) {
            Some(ClientEvent::Finished { status, .. }) => status,
            _ => unreachable!(),
        }
    }

    /// Drops the transport: the client sees EOF.
    pub(crate) fn vanish(&mut self) {
        self.conn = None;
        self.client.handle_eof(self.now);
        self.drive();
    }
}
