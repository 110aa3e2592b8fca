//! The engine over a caller's IO object (`with_io` + `drive_io`) instead of
//! the in-memory transport: here a single-threaded, `!Send` pipe, read in
//! chunks of every size.
#![allow(clippy::unwrap_used)]

mod support;

use std::task::Waker;
use std::time::Instant;

use bytes::Bytes;
use ferrule_core::Status;
use ferrule_core::proto::{
    CallOptions, ClientConfig, ClientConnection, ClientEvent, ServerConfig, ServerConnection,
    ServerEvent,
};

use support::{MemoryIo, MemoryIoHandle, memory_io};

struct Wired {
    client: ClientConnection<MemoryIo>,
    server: ServerConnection<MemoryIo>,
    client_end: MemoryIoHandle,
    server_end: MemoryIoHandle,
    now: Instant,
    client_events: Vec<ClientEvent>,
    server_events: Vec<ServerEvent>,
}

impl Wired {
    fn new(read_chunk: Option<usize>) -> Wired {
        let now = Instant::now();
        let (client_io, client_end) = memory_io();
        let (server_io, server_end) = memory_io();
        client_end.set_read_chunk(read_chunk);
        server_end.set_read_chunk(read_chunk);
        Wired {
            client: ClientConnection::with_io(client_io, ClientConfig::default(), now),
            server: ServerConnection::with_io(server_io, ServerConfig::default(), now),
            client_end,
            server_end,
            now,
            client_events: Vec::new(),
            server_events: Vec::new(),
        }
    }

    fn drive(&mut self) {
        for _ in 0..100_000 {
            let unread = (self.client_end.unread(), self.server_end.unread());
            self.client.drive_io(self.now, Waker::noop());
            self.server.drive_io(self.now, Waker::noop());
            let to_server = self.client_end.take_written();
            let to_client = self.server_end.take_written();
            // Quiet: nothing written and nothing more read (a closed side
            // may leave bytes unread forever).
            let idle = to_server.is_empty()
                && to_client.is_empty()
                && unread == (self.client_end.unread(), self.server_end.unread());
            self.server_end.push(&to_server);
            self.client_end.push(&to_client);
            while let Some(e) = self.client.poll_event() {
                self.client_events.push(e);
            }
            while let Some(e) = self.server.poll_event() {
                self.server_events.push(e);
            }
            if idle {
                return;
            }
        }
        panic!("never quiet");
    }
}

fn unary_over(read_chunk: Option<usize>) {
    let mut w = Wired::new(read_chunk);
    w.drive();
    let call = w
        .client
        .start_call(w.now, "/g.G/Echo", CallOptions::new())
        .unwrap();
    w.client
        .send_message(call, Bytes::from_static(b"over any IO"))
        .unwrap();
    w.client.close_send(call).unwrap();
    w.drive();
    let sc = w
        .server_events
        .iter()
        .find_map(|e| match e {
            ServerEvent::NewCall { call, .. } => Some(*call),
            _ => None,
        })
        .expect("call");
    let request = w.server.recv_message(sc).unwrap().unwrap();
    w.server.send_message(sc, request).unwrap();
    w.server
        .finish(sc, Status::ok(), &Default::default())
        .unwrap();
    w.drive();
    assert!(w.client_events.iter().any(|e| matches!(
        e,
        ClientEvent::Finished { call: c, status, .. } if *c == call && status.is_ok()
    )));
    assert_eq!(
        w.client.recv_message(call),
        Ok(Some(Bytes::from_static(b"over any IO")))
    );
    assert_eq!(w.client.recv_message(call), Ok(None));
}

#[test]
fn a_unary_call_over_a_caller_io() {
    unary_over(None);
}

#[test]
fn a_unary_call_over_a_caller_io_read_bytewise() {
    unary_over(Some(1));
}

#[test]
fn a_graceful_close_shuts_the_io_down() {
    let mut w = Wired::new(None);
    w.drive();
    w.server.close_gracefully();
    w.drive();
    assert!(w.server.is_closed());
    assert!(w.server_end.is_write_shutdown());
    assert!(
        w.client_events
            .iter()
            .any(|e| matches!(e, ClientEvent::GoAway { .. }))
    );
}

/// A command issued between drives (from another task, say) wakes the waker
/// last given to `drive_io`, so the driver polls again.
#[test]
fn commands_wake_the_driving_task() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let mut w = Wired::new(None);
    w.drive();
    let count = Arc::new(Count(AtomicUsize::new(0)));
    let waker = Waker::from(Arc::clone(&count));
    w.client.drive_io(w.now, &waker);
    let before = count.0.load(Ordering::SeqCst);
    let call = w
        .client
        .start_call(w.now, "/g.G/Echo", CallOptions::new())
        .unwrap();
    assert!(
        count.0.load(Ordering::SeqCst) > before,
        "start_call woke the driver"
    );
    // One wake since the driver last drove stands for every command after
    // it (a stream of messages sent makes one wake, not one each).
    let before = count.0.load(Ordering::SeqCst);
    w.client.drive_io(w.now, &waker);
    w.client
        .send_message(call, Bytes::from_static(b"x"))
        .unwrap();
    assert!(
        count.0.load(Ordering::SeqCst) > before,
        "the driver was woken after it last drove"
    );
}
