//! GOAWAY: graceful drain and abrupt close, from both sides.

use bytes::Bytes;

use super::pair::{Chunking, Pair, pair_test};
use crate::codec::metadata::MetadataMap;
use crate::proto::{CallOptions, ClientEvent, ErrorCode, ServerEvent, StartCallError};
use crate::{Code, Status};

fn closed_events(pair: &mut Pair) -> (bool, bool) {
    let server = pair
        .take_server_event(|e| matches!(e, ServerEvent::Closed { .. }).then_some(()))
        .is_some();
    let client = pair
        .take_client_event(|e| matches!(e, ClientEvent::Closed { .. }).then_some(()))
        .is_some();
    (server, client)
}

pair_test! {
    fn graceful_shutdown_lets_in_flight_calls_finish(chunking) {
        let mut pair = Pair::new(chunking);
        let call = pair.start("/g.G/Long", CallOptions::new());
        let (sc, _) = pair.accept();
        pair.server.close_gracefully();
        assert!(pair.server.is_draining());
        pair.drive();
        let (code, _) = pair
            .take_client_event(|e| match e {
                ClientEvent::GoAway { code, .. } => Some(*code),
                _ => None,
            })
            .expect("GoAway reported");
        assert_eq!(code, ErrorCode::NO_ERROR);
        assert!(!pair.client.is_accepting_calls());
        let refused = pair.client.start_call(pair.now, "/g.G/New", CallOptions::new());
        assert_eq!(refused, Err(StartCallError::ConnectionClosed));
        assert_eq!(Status::from(refused.unwrap_err()).code(), Code::UNAVAILABLE);
        // The in-flight call goes on both ways.
        pair.client.send_message(call, Bytes::from_static(b"more")).unwrap();
        pair.client.close_send(call).unwrap();
        let (got, ended) = pair.server_recv_all(sc);
        assert_eq!((got.len(), ended), (1, true));
        pair.server.send_message(sc, Bytes::from_static(b"done")).unwrap();
        pair.server.finish(sc, Status::ok(), &MetadataMap::new()).unwrap();
        let (back, _) = pair.client_recv_all(call);
        assert_eq!(back.len(), 1);
        assert!(pair.expect_finished(call).0.is_ok());
        pair.drive();
        assert!(pair.server.is_closed());
        assert!(pair.client.is_closed());
        assert_eq!(closed_events(&mut pair), (true, true));
        assert!(pair.server.error().is_none(), "{:?}", pair.server.error());
        assert!(pair.client.error().is_none(), "{:?}", pair.client.error());
    }
}

pair_test! {
    fn graceful_shutdown_without_calls_closes_at_once(chunking) {
        let mut pair = Pair::new(chunking);
        pair.server.close_gracefully();
        pair.drive();
        assert!(pair.server.is_closed());
        assert!(pair.client.is_closed());
        assert_eq!(closed_events(&mut pair), (true, true));
    }
}

pair_test! {
    fn abrupt_close_cancels_in_flight_calls(chunking) {
        let mut pair = Pair::new(chunking);
        let call = pair.start("/g.G/Long", CallOptions::new());
        let (sc, _) = pair.accept();
        pair.server.close(ErrorCode::NO_ERROR);
        pair.drive();
        // Both ends see the call cancelled: the stream was reset with CANCEL
        // before the GOAWAY.
        assert_eq!(pair.server_cancelled(sc).unwrap().code(), Code::CANCELLED);
        assert_eq!(pair.expect_finished(call).0.code(), Code::CANCELLED);
        assert_eq!(pair.server.error().map(|e| e.fault()), Some(crate::proto::Fault::Local));
        assert!(pair.server.is_closed());
        assert!(pair.client.is_closed());
        assert_eq!(closed_events(&mut pair), (true, true));
    }
}

pair_test! {
    fn calls_the_server_never_processed_are_unavailable(chunking) {
        let mut pair = Pair::new(chunking);
        let first = pair.start("/g.G/First", CallOptions::new());
        let (_sc, _) = pair.accept();
        // The next request is on its way when the server goes away abruptly.
        pair.to_server.paused = true;
        let second = pair.start("/g.G/Second", CallOptions::new());
        pair.server.close(ErrorCode::NO_ERROR);
        pair.drive();
        pair.to_server.paused = false;
        pair.drive();
        let (status, _) = pair.expect_finished(second);
        assert_eq!(status.code(), Code::UNAVAILABLE, "{status}");
        assert_eq!(pair.expect_finished(first).0.code(), Code::CANCELLED);
        assert!(pair
            .server_events
            .iter()
            .all(|e| !matches!(e, ServerEvent::NewCall { .. })));
    }
}

pair_test! {
    fn client_graceful_close_waits_for_calls(chunking) {
        let mut pair = Pair::new(chunking);
        let call = pair.start("/g.G/Long", CallOptions::new());
        let (sc, _) = pair.accept();
        pair.client.close_gracefully();
        pair.drive();
        assert!(!pair.client.is_closed());
        assert_eq!(
            pair.client.start_call(pair.now, "/g.G/X", CallOptions::new()),
            Err(StartCallError::ConnectionClosed)
        );
        pair.client.close_send(call).unwrap();
        pair.server.finish(sc, Status::ok(), &MetadataMap::new()).unwrap();
        assert!(pair.expect_finished(call).0.is_ok());
        pair.drive();
        assert!(pair.client.is_closed());
        assert!(pair.server.is_closed());
        assert_eq!(closed_events(&mut pair), (true, true));
    }
}

pair_test! {
    fn client_abrupt_close_cancels_calls(chunking) {
        let mut pair = Pair::new(chunking);
        let call = pair.start("/g.G/Long", CallOptions::new());
        let (sc, _) = pair.accept();
        pair.client.close(crate::proto::ErrorCode::NO_ERROR);
        assert_eq!(pair.expect_finished(call).0.code(), Code::CANCELLED);
        assert_eq!(pair.server_cancelled(sc).unwrap().code(), Code::CANCELLED);
        pair.drive();
        assert!(pair.client.is_closed());
        assert!(pair.server.is_closed());
    }
}

#[test]
fn goaway_is_reported_once() {
    let mut pair = Pair::new(Chunking::Whole);
    pair.server.close_gracefully();
    pair.server.close_gracefully();
    pair.drive();
    let goaways = pair
        .client_events
        .iter()
        .filter(|e| matches!(e, ClientEvent::GoAway { .. }))
        .count();
    assert_eq!(goaways, 1);
}

pair_test! {
    fn calls_waiting_for_a_slot_fail_at_goaway(chunking) {
        let mut server = crate::proto::ServerConfig::default();
        server.limits.max_concurrent_streams = 1;
        let mut pair = Pair::with_configs(chunking, server, crate::proto::ClientConfig::default());
        let first = pair.start("/g.G/Long", CallOptions::new());
        let (sc, _) = pair.accept();
        let waiting = pair.start("/g.G/Waiting", CallOptions::new());
        pair.server.close_gracefully();
        let (status, _) = pair.expect_finished(waiting);
        assert_eq!(status.code(), Code::UNAVAILABLE, "{status}");
        // The call in flight is not disturbed.
        pair.server.finish(sc, Status::ok(), &MetadataMap::new()).unwrap();
        assert!(pair.expect_finished(first).0.is_ok());
    }
}
