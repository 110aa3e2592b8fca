//! Deadlines, at every stage of a call, on both sides.

use std::time::Duration;

use bytes::Bytes;

use super::pair::{Pair, pair_test};
use crate::codec::metadata::MetadataMap;
use crate::proto::frame::FrameKind;
use crate::proto::{CallError, CallOptions, ClientConfig, RecvError, ServerConfig, ServerEvent};
use crate::{Code, Status};

/// A timeout whose `grpc-timeout` rounds up, so the server's deadline falls
/// strictly after the client's: advancing to the client's deadline fires only
/// the client's timer.
const ODD_TIMEOUT: Duration = Duration::from_nanos(1_500_000_001);

fn rst_stream_codes_to_server(pair: &Pair) -> Vec<u32> {
    // The RST_STREAM payload is the error code; find it after each header.
    let bytes = &pair.to_server.transcript;
    let mut codes = Vec::new();
    let mut offset = 24; // the client preface
    while offset + 9 <= bytes.len() {
        let len =
            u32::from_be_bytes([0, bytes[offset], bytes[offset + 1], bytes[offset + 2]]) as usize;
        if bytes[offset + 3] == FrameKind::RST_STREAM.as_u8() && offset + 13 <= bytes.len() {
            codes.push(u32::from_be_bytes([
                bytes[offset + 9],
                bytes[offset + 10],
                bytes[offset + 11],
                bytes[offset + 12],
            ]));
        }
        offset += 9 + len;
    }
    codes
}

pair_test! {
    fn expired_before_start_fails_without_sending(chunking) {
        let mut pair = Pair::new(chunking);
        let before = pair.to_server.transcript.len();
        let call = pair
            .client
            .start_call(pair.now, "/d.D/X", CallOptions::new().with_timeout(Duration::ZERO))
            .unwrap();
        let (status, _) = pair.expect_finished(call);
        assert_eq!(status.code(), Code::DEADLINE_EXCEEDED);
        assert_eq!(pair.to_server.transcript.len(), before, "nothing sent");
        assert!(pair.server_events.is_empty());
    }
}

pair_test! {
    fn expires_while_waiting_for_a_stream_slot(chunking) {
        let mut server = ServerConfig::default();
        server.limits.max_concurrent_streams = 1;
        let mut pair = Pair::with_configs(chunking, server, ClientConfig::default());
        let first = pair.start("/d.D/Hold", CallOptions::new());
        let (_sc, _) = pair.accept();
        let second = pair.start("/d.D/X", CallOptions::new().with_timeout(Duration::from_secs(1)));
        pair.drive();
        assert!(pair.server_events.is_empty(), "the second call waits for a slot");
        pair.advance(Duration::from_secs(1));
        let (status, _) = pair.expect_finished(second);
        assert_eq!(status.code(), Code::DEADLINE_EXCEEDED);
        assert!(pair.finished(first).is_none());
        assert!(pair.server_events.iter().all(|e| !matches!(e, ServerEvent::NewCall { .. })));
    }
}

pair_test! {
    fn client_deadline_before_any_response_resets_with_cancel(chunking) {
        let mut pair = Pair::new(chunking);
        let call = pair.start("/d.D/X", CallOptions::new().with_timeout(ODD_TIMEOUT));
        let (sc, head) = pair.accept();
        assert_eq!(head.timeout(), Some(Duration::from_micros(1_500_001)));
        pair.advance(ODD_TIMEOUT);
        let (status, _) = pair.expect_finished(call);
        assert_eq!(status.code(), Code::DEADLINE_EXCEEDED);
        assert_eq!(rst_stream_codes_to_server(&pair), vec![0x8], "RST_STREAM(CANCEL)");
        let cancelled = pair.server_cancelled(sc).expect("server told");
        assert_eq!(cancelled.code(), Code::CANCELLED);
        // Both applications read why, which lets go of the client's call; the
        // server's goes with its answer.
        assert!(matches!(
            pair.client.recv_message(call),
            Err(RecvError::Cancelled(ref s)) if s.code() == Code::DEADLINE_EXCEEDED
        ));
        assert_eq!(pair.server.finish(sc, Status::ok(), &MetadataMap::new()), Err(CallError::Closed));
        assert_eq!(pair.client.open_calls(), 0);
        assert_eq!(pair.server.open_calls(), 0);
    }
}

pair_test! {
    fn client_deadline_mid_stream(chunking) {
        let mut pair = Pair::new(chunking);
        let call = pair.start("/d.D/X", CallOptions::new().with_timeout(ODD_TIMEOUT));
        pair.client.send_message(call, Bytes::from_static(b"a")).unwrap();
        let (sc, _) = pair.accept();
        pair.server.send_message(sc, Bytes::from_static(b"b")).unwrap();
        pair.drive();
        assert!(pair.response_headers(call).is_some());
        pair.advance(ODD_TIMEOUT);
        let (status, _) = pair.expect_finished(call);
        assert_eq!(status.code(), Code::DEADLINE_EXCEEDED);
        // Unread messages are discarded with a local failure.
        assert_eq!(pair.client_recv_all(call), (vec![], true));
        assert_eq!(pair.server_cancelled(sc).unwrap().code(), Code::CANCELLED);
    }
}

pair_test! {
    fn client_deadline_after_half_close(chunking) {
        let mut pair = Pair::new(chunking);
        let call = pair.start("/d.D/X", CallOptions::new().with_timeout(ODD_TIMEOUT));
        pair.client.send_message(call, Bytes::from_static(b"a")).unwrap();
        pair.client.close_send(call).unwrap();
        let (sc, _) = pair.accept();
        let (_, ended) = pair.server_recv_all(sc);
        assert!(ended);
        pair.advance(ODD_TIMEOUT);
        assert_eq!(pair.expect_finished(call).0.code(), Code::DEADLINE_EXCEEDED);
        assert_eq!(pair.server_cancelled(sc).unwrap().code(), Code::CANCELLED);
        // The server's late answer goes nowhere and breaks nothing.
        assert!(pair.server.finish(sc, Status::ok(), &MetadataMap::new()).is_err());
        pair.drive();
    }
}

pair_test! {
    fn a_finished_call_ignores_its_deadline(chunking) {
        let mut pair = Pair::new(chunking);
        let call = pair.start("/d.D/X", CallOptions::new().with_timeout(Duration::from_secs(1)));
        pair.client.close_send(call).unwrap();
        let (sc, _) = pair.accept();
        assert_eq!(pair.server_recv_all(sc), (vec![], true));
        pair.server_events.clear();
        pair.server.finish(sc, Status::ok(), &MetadataMap::new()).unwrap();
        assert!(pair.expect_finished(call).0.is_ok());
        pair.advance(Duration::from_secs(2));
        assert!(pair.client_events.is_empty(), "{:?}", pair.client_events);
        assert!(pair.server_events.is_empty(), "{:?}", pair.server_events);
    }
}

/// Fires only the server's timers (the client's clock "lags").
fn advance_server_only(pair: &mut Pair, by: Duration) {
    pair.now += by;
    pair.server.handle_timeout(pair.now);
    pair.drive();
}

pair_test! {
    fn server_deadline_before_the_application_answers(chunking) {
        let mut pair = Pair::new(chunking);
        let call = pair.start("/d.D/X", CallOptions::new().with_timeout(Duration::from_secs(1)));
        let (sc, head) = pair.accept();
        assert_eq!(head.deadline(), Some(pair.now + Duration::from_secs(1)));
        assert_eq!(pair.server.poll_timeout(), head.deadline());
        advance_server_only(&mut pair, Duration::from_secs(1));
        assert_eq!(pair.server_cancelled(sc).unwrap().code(), Code::DEADLINE_EXCEEDED);
        // The engine answered: the client hears DEADLINE_EXCEEDED from the server.
        assert!(pair.response_headers(call).is_none(), "Trailers-Only");
        assert_eq!(pair.expect_finished(call).0.code(), Code::DEADLINE_EXCEEDED);
        assert!(pair.server.send_message(sc, Bytes::new()).is_err());
    }
}

pair_test! {
    fn server_deadline_mid_response(chunking) {
        let mut pair = Pair::new(chunking);
        let call = pair.start("/d.D/X", CallOptions::new().with_timeout(Duration::from_secs(1)));
        let (sc, _) = pair.accept();
        pair.server.send_message(sc, Bytes::from_static(b"partial")).unwrap();
        pair.drive();
        advance_server_only(&mut pair, Duration::from_secs(1));
        assert_eq!(pair.server_cancelled(sc).unwrap().code(), Code::DEADLINE_EXCEEDED);
        let (status, _) = pair.expect_finished(call);
        assert_eq!(status.code(), Code::DEADLINE_EXCEEDED);
        // A status from trailers leaves earlier messages readable.
        assert_eq!(pair.client_recv_all(call), (vec![Bytes::from_static(b"partial")], true));
    }
}

pair_test! {
    fn server_deadline_after_finish_with_a_stalled_client(chunking) {
        let mut pair = Pair::new(chunking);
        let call = pair.start("/d.D/X", CallOptions::new().with_timeout(Duration::from_secs(1)));
        let (sc, _) = pair.accept();
        // The client stops reading; the response cannot be fully delivered.
        pair.to_client.paused = true;
        let big = Bytes::from(vec![1u8; 600 * 1024]);
        pair.server.send_message(sc, big).unwrap();
        pair.server.finish(sc, Status::ok(), &MetadataMap::new()).unwrap();
        pair.drive();
        assert_eq!(pair.server.open_calls(), 1, "the finished call still flushes");
        advance_server_only(&mut pair, Duration::from_secs(1));
        assert_eq!(pair.server.open_calls(), 0, "given up at the deadline");
        assert!(pair.server_cancelled(sc).is_none(), "no event after finish");
        pair.to_client.paused = false;
        pair.advance(Duration::ZERO);
        let (status, _) = pair.expect_finished(call);
        assert_ne!(status.code(), Code::OK);
    }
}

pair_test! {
    fn a_call_that_waited_for_a_slot_sends_what_is_left_of_its_timeout(chunking) {
        let mut server = ServerConfig::default();
        server.limits.max_concurrent_streams = 1;
        let mut pair = Pair::with_configs(chunking, server, ClientConfig::default());
        let first = pair.start("/d.D/Hold", CallOptions::new());
        let (first_sc, _) = pair.accept();
        let second = pair.start("/d.D/X", CallOptions::new().with_timeout(Duration::from_secs(10)));
        pair.advance(Duration::from_secs(4));
        pair.server.finish(first_sc, Status::ok(), &MetadataMap::new()).unwrap();
        assert!(pair.expect_finished(first).0.is_ok());
        let (_, head) = pair.accept();
        assert_eq!(head.timeout(), Some(Duration::from_secs(6)));
        let _ = second;
    }
}
