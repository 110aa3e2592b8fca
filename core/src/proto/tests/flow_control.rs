//! Flow control and backpressure: capacity released only as the application
//! takes messages; sends wait for capacity; bounded buffers; slow readers.

use bytes::Bytes;

use super::pair::{Pair, pair_test};
use crate::Status;
use crate::codec::metadata::MetadataMap;
use crate::proto::{CallOptions, ClientConfig, ClientEvent, SendError, ServerConfig, ServerEvent};

fn small_windows() -> (ServerConfig, ClientConfig) {
    let mut server = ServerConfig::default();
    server.limits.initial_stream_window = 65_535;
    server.limits.initial_connection_window = 65_535;
    server.limits.max_send_buffer_per_call = 16 * 1024;
    let mut client = ClientConfig::default();
    client.limits.initial_stream_window = 65_535;
    client.limits.initial_connection_window = 65_535;
    client.limits.max_send_buffer_per_call = 16 * 1024;
    (server, client)
}

/// Sends 1 KiB messages until `NotReady`; returns how many were taken.
fn client_fill(pair: &mut Pair, call: crate::proto::CallId, limit: usize) -> usize {
    let mut sent = 0;
    while sent < limit {
        match pair
            .client
            .send_message(call, Bytes::from(vec![b'x'; 1024]))
        {
            Ok(()) => sent += 1,
            Err(SendError::NotReady) => break,
            Err(err) => panic!("{err}"),
        }
        pair.drive();
    }
    sent
}

pair_test! {
    fn an_unread_call_stops_its_sender(chunking) {
        let (server, client) = small_windows();
        let mut pair = Pair::with_configs(chunking, server, client);
        let call = pair.start("/f.F/Up", CallOptions::new());
        let (sc, _) = pair.accept();
        // The server application reads nothing: the window (64 KiB) and the
        // client's send buffer (16 KiB) fill, then send says NotReady.
        let sent = client_fill(&mut pair, call, 1000);
        assert!((70..=90).contains(&sent), "sent {sent} KiB before NotReady");
        let held = pair.server.buffered_bytes();
        assert!(held <= 65_535 + 5 * 1024, "server holds {held} bytes");
        assert!(pair.client.buffered_bytes() <= 17 * 1024);
        // Reading frees the window: Writable follows, and sending resumes.
        let (got, _) = pair.server_recv_all(sc);
        assert!(!got.is_empty());
        assert!(pair
            .take_client_event(|e| matches!(e, ClientEvent::Writable { call: c } if *c == call).then_some(()))
            .is_some());
        let more = client_fill(&mut pair, call, 10);
        assert_eq!(more, 10);
        pair.client.close_send(call).unwrap();
        let mut total = got.len();
        loop {
            let (got, ended) = pair.server_recv_all(sc);
            total += got.len();
            if ended {
                break;
            }
        }
        assert_eq!(total, sent + more);
        pair.server.finish(sc, Status::ok(), &MetadataMap::new()).unwrap();
        assert!(pair.expect_finished(call).0.is_ok());
    }
}

pair_test! {
    fn a_slow_reader_makes_the_server_wait(chunking) {
        let (server, client) = small_windows();
        let mut pair = Pair::with_configs(chunking, server, client);
        let call = pair.start("/f.F/Down", CallOptions::new());
        let (sc, _) = pair.accept();
        pair.to_client.paused = true;
        let mut sent = 0;
        loop {
            match pair.server.send_message(sc, Bytes::from(vec![b'y'; 4096])) {
                Ok(()) => sent += 1,
                Err(SendError::NotReady) => break,
                Err(err) => panic!("{err}"),
            }
            pair.drive();
            assert!(sent < 10_000, "send never said NotReady");
        }
        assert!(pair.server.buffered_bytes() <= 16 * 1024 + 4096 + 5);
        pair.to_client.paused = false;
        // Once the client reads, the server's queue drains and it hears Writable.
        let (mut received, _) = pair.client_recv_all(call);
        assert!(pair
            .take_server_event(|e| matches!(e, ServerEvent::Writable { call: c } if *c == sc).then_some(()))
            .is_some());
        while received.len() < sent {
            let (got, _) = pair.client_recv_all(call);
            assert!(!got.is_empty(), "stalled at {}/{sent}", received.len());
            received.extend(got);
        }
        pair.server.finish(sc, Status::ok(), &MetadataMap::new()).unwrap();
        assert!(pair.expect_finished(call).0.is_ok());
    }
}

pair_test! {
    fn a_message_larger_than_the_window_completes(chunking) {
        let (server, client) = small_windows();
        let mut pair = Pair::with_configs(chunking, server, client);
        let big = Bytes::from((0..200_000u32).map(|i| i as u8).collect::<Vec<_>>());
        let call = pair.start("/f.F/Big", CallOptions::new());
        pair.client.send_message(call, big.clone()).unwrap();
        pair.client.close_send(call).unwrap();
        let (sc, _) = pair.accept();
        let (got, ended) = pair.server_recv_all(sc);
        assert!(ended);
        assert_eq!(got, vec![big.clone()]);
        pair.server.send_message(sc, big.clone()).unwrap();
        pair.server.finish(sc, Status::ok(), &MetadataMap::new()).unwrap();
        let (back, _) = pair.client_recv_all(call);
        assert_eq!(back, vec![big]);
        assert!(pair.expect_finished(call).0.is_ok());
    }
}

pair_test! {
    fn one_unread_call_does_not_block_others_beyond_the_connection_window(chunking) {
        let (mut server, client) = small_windows();
        // Streams smaller than the connection window: one idle call cannot
        // starve the others.
        server.limits.initial_stream_window = 16 * 1024;
        server.limits.initial_connection_window = 1024 * 1024;
        let mut pair = Pair::with_configs(chunking, server, client);
        let idle = pair.start("/f.F/Idle", CallOptions::new());
        let (_idle_sc, _) = pair.accept();
        let sent = client_fill(&mut pair, idle, 100);
        assert!(sent < 100);
        let (_, status, _) = pair.unary("/f.F/Other", b"hi", |server, call, _, _| {
            server.send_message(call, Bytes::from_static(b"ok")).unwrap();
            server.finish(call, Status::ok(), &MetadataMap::new()).unwrap();
        });
        assert!(status.is_ok());
    }
}
