//! The call handle a handler holds (`CallHandle`) over a real server
//! engine, with the driver's part played by hand so that the moment between
//! "the engine dropped the call" and "the driver handed out its `Cancelled`
//! event" can be held still: reads of a client stream, and finishing with
//! trailers the engine refuses.

use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use bytes::Bytes;

use crate::Code;
use crate::Status;
use crate::codec::compression::Encoding;
use crate::codec::metadata::MetadataMap;
use crate::proto::{
    CallId, CallOptions, ClientConfig, ClientConnection, ClientEvent, MemoryTransport,
    ServerConfig, ServerConnection, ServerEvent,
};

use super::super::conn::CallSlot;
use super::super::context::CallContext;
use super::super::runtime::BoxIo;
use super::super::server::call::{CallHandle, ServerConn};
use super::status_metadata::md;

/// A client engine and a server engine behind a [`ServerConn`], as the
/// server driver holds it, joined in memory.
struct World {
    now: Instant,
    client: ClientConnection,
    /// The server engine's transport (h2 reads and writes it as its IO).
    wire: MemoryTransport,
    conn: Arc<ServerConn>,
}

impl World {
    fn new() -> World {
        let now = Instant::now();
        let config = ServerConfig::default();
        let wire = MemoryTransport::new(config.limits.max_outbound_buffer);
        let io: BoxIo = Box::new(wire.clone());
        let server = ServerConnection::with_io(io, config, now);
        let mut world = World {
            now,
            client: ClientConnection::new(ClientConfig::default(), now),
            wire,
            conn: Arc::new(ServerConn::new(server)),
        };
        world.pump();
        world
    }

    /// Moves bytes both ways until quiet. Server events stay queued in the
    /// engine: only [`accept`](Self::accept) and
    /// [`hand_out_events`](Self::hand_out_events) take them, as the driver
    /// would.
    fn pump(&mut self) {
        loop {
            let mut moved = false;
            while let Some(bytes) = self.client.poll_transmit_bytes(self.now) {
                self.wire.push_inbound(&bytes);
                moved = true;
            }
            if let Some(engine) = self.conn.lock().engine.as_mut() {
                engine.drive_io(self.now, Waker::noop());
            }
            let bytes = self.wire.take_outbound_bytes();
            if !bytes.is_empty() {
                self.client.handle_input(self.now, &bytes);
                moved = true;
            }
            if !moved {
                return;
            }
        }
    }

    /// The driver's work for a new call: a slot and a handle.
    fn accept(&mut self) -> CallHandle {
        self.pump();
        let mut state = self.conn.lock();
        let engine = state.engine.as_mut().expect("engine");
        let (call, path) = loop {
            match engine.poll_event() {
                Some(ServerEvent::NewCall { call, request }) => {
                    break (call, request.path().to_owned());
                }
                Some(_) => {}
                None => panic!("no new call"),
            }
        };
        let context = CallContext::new(&path, None, None);
        state.calls.insert(call, CallSlot::new(context.clone()));
        drop(state);
        CallHandle::new(Arc::clone(&self.conn), call, context, Encoding::Identity)
    }

    /// The driver's work for the queued events: a `Cancelled` event cancels
    /// the call's context. Returns the cancelled calls.
    fn hand_out_events(&mut self) -> Vec<CallId> {
        let mut state = self.conn.lock();
        let state = &mut *state;
        let engine = state.engine.as_mut().expect("engine");
        let mut cancelled = Vec::new();
        while let Some(event) = engine.poll_event() {
            if let ServerEvent::Cancelled { call, status } = event
                && let Some(slot) = state.calls.get_mut(call)
            {
                slot.side.cancel(status);
                cancelled.push(call);
            }
        }
        cancelled
    }
}

fn recv(call: &CallHandle) -> Poll<Result<Option<Bytes>, Status>> {
    call.poll_recv(&mut Context::from_waker(Waker::noop()))
        .map(|r| r.map(|m| m.map(|m| m.data)))
}

#[test]
fn a_half_closed_client_stream_reads_as_complete() {
    let mut world = World::new();
    let id = world
        .client
        .start_call(world.now, "/t.T/Upload", CallOptions::new())
        .unwrap();
    world
        .client
        .send_message(id, Bytes::from_static(b"a"))
        .unwrap();
    world.client.close_send(id).unwrap();
    let call = world.accept();
    world.pump();
    assert_eq!(recv(&call), Poll::Ready(Ok(Some(Bytes::from_static(b"a")))));
    assert_eq!(recv(&call), Poll::Ready(Ok(None)));
    assert!(world.hand_out_events().is_empty());
    assert_eq!(recv(&call), Poll::Ready(Ok(None)), "still complete");
}

#[test]
fn a_client_stream_cancelled_midway_reads_as_an_error_before_and_after_the_event() {
    let mut world = World::new();
    let id = world
        .client
        .start_call(world.now, "/t.T/Upload", CallOptions::new())
        .unwrap();
    world
        .client
        .send_message(id, Bytes::from_static(b"a"))
        .unwrap();
    let call = world.accept();
    world.pump();
    assert_eq!(recv(&call), Poll::Ready(Ok(Some(Bytes::from_static(b"a")))));
    assert_eq!(recv(&call), Poll::Pending, "waits for more");
    world.client.cancel(id);
    world.pump();
    // The engine dropped the call; the driver has not seen the event yet.
    assert!(call.context().cancel_status().is_none());
    match recv(&call) {
        // The engine's own status for the reset, not a stand-in.
        Poll::Ready(Err(status)) => {
            assert_eq!(status.code(), Code::CANCELLED, "{status}");
            assert!(status.message().contains("reset by the peer"), "{status}");
        }
        other => panic!("a cancelled stream read as {other:?}"),
    }
    assert_eq!(
        world.hand_out_events().len(),
        1,
        "the event was still queued"
    );
    match recv(&call) {
        Poll::Ready(Err(status)) => assert_eq!(status.code(), Code::CANCELLED, "{status}"),
        other => panic!("a cancelled stream read as {other:?}"),
    }
}

#[test]
fn a_client_stream_cancelled_after_its_half_close_is_not_complete_unless_read() {
    let mut world = World::new();
    let id = world
        .client
        .start_call(world.now, "/t.T/Upload", CallOptions::new())
        .unwrap();
    world
        .client
        .send_message(id, Bytes::from_static(b"a"))
        .unwrap();
    world.client.close_send(id).unwrap();
    let call = world.accept();
    world.pump();
    world.client.cancel(id);
    world.pump();
    // The message and the half-close arrived, but the call was reset before
    // the handler took them: it is cancelled, not complete.
    match recv(&call) {
        Poll::Ready(Err(status)) => assert_eq!(status.code(), Code::CANCELLED, "{status}"),
        other => panic!("a cancelled call read as {other:?}"),
    }
}

/// Trailers the engine refuses (more entries than a header block holds) do
/// not lose the status: the handle finishes again without them, and the
/// client gets the handler's status as a Trailers-Only answer. The same
/// holds when the metadata rides on the status.
#[test]
fn a_status_with_unencodable_trailers_still_reaches_the_client() {
    for on_the_status in [false, true] {
        let mut world = World::new();
        let (id, call) = unary_call(&mut world);
        let mut trailers = MetadataMap::new();
        for _ in 0..30_000 {
            trailers.append("x", "1").unwrap();
        }
        let status = Status::not_found("no such book");
        if on_the_status {
            call.finish(status.with_metadata(trailers), &MetadataMap::new());
        } else {
            call.finish(status, &trailers);
        }
        let (saw_headers, status, trailers) = outcome(&mut world, id);
        assert!(!saw_headers, "a Trailers-Only answer has no Headers");
        assert_eq!(status, Status::not_found("no such book"));
        assert!(trailers.is_empty());
    }
}

/// Sends `message` as it is (framed outside the lock, as handlers do).
fn sent(call: &CallHandle, message: &'static [u8], compress: bool) -> Poll<Result<(), Status>> {
    let mut codec = crate::codec::BytesCodec;
    let options = if compress {
        crate::proto::SendOptions::default()
    } else {
        crate::proto::SendOptions::uncompressed()
    };
    let mut framer = call.framer(Some(Encoding::Gzip));
    let framed = framer
        .frame(&mut codec, &Bytes::from_static(message), options)
        .unwrap();
    call.poll_send(&mut Context::from_waker(Waker::noop()), &mut Some(framed))
}

#[test]
fn each_message_keeps_its_own_compressed_flag_both_ways() {
    use crate::proto::SendOptions;

    let flags = [true, false, false, true];
    let mut world = World::new();
    let id = world
        .client
        .start_call(
            world.now,
            "/t.T/Chat",
            CallOptions::new().with_encoding(Encoding::Gzip),
        )
        .unwrap();
    for (n, compress) in flags.into_iter().enumerate() {
        let body = Bytes::from(vec![b'a' + n as u8; 100]);
        world
            .client
            .send_message_options(
                id,
                body,
                if compress {
                    SendOptions::default()
                } else {
                    SendOptions::uncompressed()
                },
            )
            .unwrap();
    }
    world.client.close_send(id).unwrap();
    let call = world.accept();
    world.pump();
    let mut seen = Vec::new();
    while let Poll::Ready(Ok(Some(message))) =
        call.poll_recv(&mut Context::from_waker(Waker::noop()))
    {
        assert_eq!(message.data.len(), 100);
        seen.push(message.compressed);
    }
    assert_eq!(seen, flags, "request flags as the handler reads them");

    call.set_send_encoding(Encoding::Gzip);
    call.send_headers(&MetadataMap::new()).unwrap();
    for (body, compress) in [b"one" as &'static [u8], b"two", b"three", b"four"]
        .into_iter()
        .zip(flags)
    {
        assert_eq!(sent(&call, body, compress), Poll::Ready(Ok(())));
    }
    call.finish(Status::ok(), &MetadataMap::new());
    world.pump();
    let mut back = Vec::new();
    while let Ok(Some(message)) = world.client.recv_message_flagged(id) {
        back.push((message.data, message.compressed));
    }
    let want: Vec<(Bytes, bool)> = ["one", "two", "three", "four"]
        .into_iter()
        .map(|s| Bytes::from(s.as_bytes()))
        .zip(flags)
        .collect();
    assert_eq!(back, want, "response flags as the client engine reads them");
}

/// A call whose client sent its (empty) request and half-closed, accepted.
fn unary_call(world: &mut World) -> (CallId, CallHandle) {
    let id = world
        .client
        .start_call(world.now, "/t.T/Get", CallOptions::new())
        .unwrap();
    world.client.close_send(id).unwrap();
    (id, world.accept())
}

/// The client engine's view of one call: whether a Headers event came, and
/// the `Finished` status and trailers.
fn outcome(world: &mut World, id: CallId) -> (bool, Status, MetadataMap) {
    world.pump();
    let mut headers = false;
    let mut finished = None;
    while let Some(event) = world.client.poll_event() {
        match event {
            ClientEvent::Headers { call, .. } if call == id => headers = true,
            ClientEvent::Finished {
                call,
                status,
                trailers,
            } if call == id => finished = Some((status, trailers)),
            _ => {}
        }
    }
    let (status, trailers) = finished.expect("the call finished");
    (headers, status, trailers)
}

/// A failing status's metadata goes out as the trailers, after the
/// handler's own trailers; a key both set carries the status's values only.
/// With no headers sent this is a Trailers-Only response; after headers, a
/// trailer block. The status headers come from the code and message alone.
#[test]
fn a_status_carries_its_metadata_into_the_trailers() {
    for headers_first in [false, true] {
        let mut world = World::new();
        let (id, call) = unary_call(&mut world);
        if headers_first {
            call.send_headers(&md(&[("x-initial", b"1")])).unwrap();
        }
        let handler_trailers = md(&[
            ("x-kept", b"a"),
            ("retry-after", b"5"),
            ("retry-after", b"6"),
        ]);
        let status = Status::unavailable("try later")
            .with_metadata(md(&[("retry-after", b"30"), ("err-bin", b"\x00\xff")]));
        call.finish(status, &handler_trailers);
        let (saw_headers, status, trailers) = outcome(&mut world, id);
        assert_eq!(saw_headers, headers_first);
        assert_eq!(status.code(), Code::UNAVAILABLE);
        assert_eq!(status.message(), "try later");
        assert_eq!(
            trailers,
            md(&[
                ("x-kept", b"a"),
                ("retry-after", b"30"),
                ("err-bin", b"\x00\xff"),
            ]),
            "headers first: {headers_first}"
        );
    }
}

#[test]
fn merging_trailers_lets_the_status_win_per_key() {
    use super::super::server::call::merge_trailers;
    type Pairs = &'static [(&'static str, &'static [u8])];
    let cases: [(Pairs, Pairs, Pairs); 4] = [
        (&[], &[("a", b"1")], &[("a", b"1")]),
        (&[("a", b"1")], &[("b", b"2")], &[("a", b"1"), ("b", b"2")]),
        (
            &[("a", b"1"), ("b", b"x"), ("a", b"2")],
            &[("a", b"3"), ("c-bin", b"\x01")],
            &[("b", b"x"), ("a", b"3"), ("c-bin", b"\x01")],
        ),
        // Keys compare ignoring case; the user API stores them lowercase.
        (&[("A", b"1")], &[("a", b"2")], &[("a", b"2")]),
    ];
    for (trailers, status, want) in cases {
        assert_eq!(merge_trailers(&md(trailers), md(status)), md(want));
    }
}
