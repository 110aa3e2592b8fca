//! The behaviours the two ends once did differently, decided once and
//! checked on both: what a keepalive timeout does, what a stale call id
//! reads, how a call the engine ended reads until it is let go, and that
//! both ends share a configuration given as an `Arc`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::pair::{Pair, pair_test};
use crate::Code;
use crate::Status;
use crate::codec::metadata::MetadataMap;
use crate::proto::keepalive::KeepaliveConfig;
use crate::proto::{
    CallOptions, ClientConfig, ClientConnection, ConnectionError, Fault, RecvError, ServerConfig,
    ServerConnection,
};

fn keepalive(interval: u64, timeout: u64) -> KeepaliveConfig {
    KeepaliveConfig {
        interval: Duration::from_secs(interval),
        timeout: Duration::from_secs(timeout),
        permit_without_calls: true,
    }
}

pair_test! {
    /// A PING not answered in time ends the connection at once on either
    /// end: the error is `KeepaliveTimeout` (the transport's fault), the
    /// calls end with `UNAVAILABLE` saying so, and no GOAWAY is waited for
    /// (the peer is unreachable; grpc-go closes the transport the same way).
    fn a_keepalive_timeout_closes_either_end_the_same_way(chunking) {
        let mut server = ServerConfig::default();
        server.keepalive = keepalive(10, 2);
        let mut client = ClientConfig::default();
        client.keepalive = Some(keepalive(10, 2));
        let mut pair = Pair::with_configs(chunking, server, client);
        let call = pair.start("/s.S/Wait", CallOptions::new());
        let (sc, _) = pair.accept();
        // A dead network: nothing arrives either way, no EOF.
        pair.to_server.cut = true;
        pair.to_client.cut = true;
        pair.advance(Duration::from_secs(10));
        assert!(!pair.server.is_closed() && !pair.client.is_closed(), "pinged, waiting");
        pair.advance(Duration::from_secs(2));
        for (closed, error) in [
            (pair.server.is_closed(), pair.server.error().cloned()),
            (pair.client.is_closed(), pair.client.error().cloned()),
        ] {
            assert!(closed);
            assert!(matches!(error, Some(ConnectionError::KeepaliveTimeout)), "{error:?}");
            assert_eq!(error.map(|e| e.fault()), Some(Fault::Transport));
        }
        let server_status = pair.server_cancelled(sc).expect("the server call ended");
        let (client_status, _) = pair.expect_finished(call);
        for status in [server_status, client_status] {
            assert_eq!(status.code(), Code::UNAVAILABLE, "{status}");
            assert!(status.message().contains("keepalive"), "{status}");
        }
        assert_eq!(pair.server.poll_timeout(), None, "no timer left");
        assert_eq!(pair.client.poll_timeout(), None, "no timer left");
    }
}

pair_test! {
    /// On both ends a call the engine ended reads as `Cancelled` with its
    /// status until the application lets go of it, and a let-go id reads as
    /// `Closed`: never as a complete stream.
    fn an_ended_call_reads_the_same_on_both_ends(chunking) {
        let mut pair = Pair::new(chunking);
        let call = pair.start("/s.S/Wait", CallOptions::new().with_timeout(Duration::from_secs(1)));
        pair.client.send_message(call, Bytes::from_static(b"x")).unwrap();
        let (sc, _) = pair.accept();
        pair.advance(Duration::from_secs(2));
        pair.drive();
        // Each end ended the call (the client's deadline; the server's too,
        // or the client's reset).
        let server = pair.server.recv_message(sc);
        let client = pair.client.recv_message(call);
        for read in [&server, &client] {
            match read {
                Err(RecvError::Cancelled(status)) => assert!(
                    matches!(status.code(), Code::DEADLINE_EXCEEDED | Code::CANCELLED),
                    "{status}"
                ),
                other => panic!("an ended call read as {other:?}"),
            }
        }
        // Let go of (the client's read of its end let go already).
        assert_eq!(pair.client.recv_message(call), Err(RecvError::Closed));
        let _ = pair.server.finish(sc, Status::ok(), &MetadataMap::new());
        assert_eq!(pair.server.recv_message(sc), Err(RecvError::Closed));
        assert_eq!(pair.server.open_calls(), 0);
        assert_eq!(pair.client.open_calls(), 0);
    }
}

/// Both ends take their configuration as a value or as an `Arc`, and share
/// an `Arc`'s (a server's or a channel's connections hold one between
/// them); a configuration out of range gets a sanitized copy of its own.
#[test]
fn both_ends_share_a_configuration_given_as_an_arc() {
    let now = Instant::now();
    let server = Arc::new(ServerConfig::default());
    let a = ServerConnection::new(Arc::clone(&server), now);
    let b = ServerConnection::new(Arc::clone(&server), now);
    assert!(std::ptr::eq(a.config(), &*server) && std::ptr::eq(b.config(), &*server));
    let client = Arc::new(ClientConfig::default());
    let c = ClientConnection::new(Arc::clone(&client), now);
    assert!(std::ptr::eq(c.config(), &*client));
    let mut odd = ClientConfig::default();
    odd.limits.max_frame_size = 1;
    let odd = Arc::new(odd);
    let d = ClientConnection::new(Arc::clone(&odd), now);
    assert!(!std::ptr::eq(d.config(), &*odd), "a sanitized copy");
    assert_eq!(d.config().limits.max_frame_size, 16_384);
}

/// Both ends hold their sticky error boxed: a connection that never fails
/// pays one pointer for it.
#[test]
#[cfg(target_pointer_width = "64")]
fn the_error_is_boxed_on_both_ends() {
    use crate::proto::connection::Lifecycle;
    assert!(std::mem::size_of::<Lifecycle>() <= 16);
}
