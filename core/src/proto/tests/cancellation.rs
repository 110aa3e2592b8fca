//! Cancellation both ways, at every stage of a call.

use std::time::Duration;

use bytes::Bytes;

use super::pair::{Pair, pair_test};
use crate::Code;
use crate::Status;
use crate::codec::metadata::MetadataMap;
use crate::proto::{
    CallError, CallId, CallOptions, ClientConfig, RecvError, SendError, ServerConfig, ServerEvent,
};

pair_test! {
    fn client_cancels_a_queued_call(chunking) {
        let mut server = ServerConfig::default();
        server.limits.max_concurrent_streams = 1;
        let mut pair = Pair::with_configs(chunking, server, ClientConfig::default());
        let first = pair.start("/c.C/Hold", CallOptions::new());
        let (first_sc, _) = pair.accept();
        let queued = pair.start("/c.C/X", CallOptions::new());
        pair.client.cancel(queued);
        pair.drive();
        assert!(pair.finished(queued).is_none(), "no event for the application's own cancel");
        assert_eq!(
            pair.client.recv_message(queued),
            Err(RecvError::Closed),
            "a cancelled call's id is stale"
        );
        pair.server.finish(first_sc, Status::ok(), &MetadataMap::new()).unwrap();
        assert!(pair.expect_finished(first).0.is_ok());
        pair.drive();
        // h2 holds one request beyond the limit as "pending open" and sends
        // it, reset, when the slot frees: the server may see the call, but
        // only together with its cancellation.
        match pair.take_server_event(|e| match e {
            ServerEvent::NewCall { call, .. } => Some(*call),
            _ => None,
        }) {
            Some((sc, _)) => {
                assert_eq!(pair.server_cancelled(sc).unwrap().code(), Code::CANCELLED);
            }
            None => assert!(pair.server_events.is_empty(), "{:?}", pair.server_events),
        }
    }
}

pair_test! {
    fn client_cancels_after_the_server_saw_the_call(chunking) {
        let mut pair = Pair::new(chunking);
        let call = pair.start("/c.C/X", CallOptions::new());
        let (sc, _) = pair.accept();
        pair.client.cancel(call);
        assert_eq!(pair.server_cancelled(sc).unwrap().code(), Code::CANCELLED);
        assert_eq!(pair.server.send_message(sc, Bytes::new()), Err(SendError::Closed));
        // Reads say why until the application lets go of the call.
        assert!(
            matches!(pair.server.recv_message(sc), Err(RecvError::Cancelled(ref s)) if s.code() == Code::CANCELLED),
            "over, not complete"
        );
        assert_eq!(pair.server.open_calls(), 1, "held until released");
        assert_eq!(pair.server.finish(sc, Status::ok(), &MetadataMap::new()), Err(CallError::Closed));
        assert_eq!(pair.server.recv_message(sc), Err(RecvError::Closed), "released");
        assert_eq!(pair.server.open_calls(), 0);
        assert_eq!(pair.client.open_calls(), 0);
    }
}

pair_test! {
    fn client_cancels_mid_stream(chunking) {
        let mut pair = Pair::new(chunking);
        let call = pair.start("/c.C/X", CallOptions::new());
        pair.client.send_message(call, Bytes::from_static(b"1")).unwrap();
        let (sc, _) = pair.accept();
        pair.server.send_message(sc, Bytes::from_static(b"2")).unwrap();
        pair.drive();
        assert_eq!(pair.server_recv_all(sc).0.len(), 1);
        pair.client.cancel(call);
        assert_eq!(pair.server_cancelled(sc).unwrap().code(), Code::CANCELLED);
        assert_eq!(pair.client.send_message(call, Bytes::new()), Err(SendError::Closed));
    }
}

pair_test! {
    fn client_cancels_after_half_close(chunking) {
        let mut pair = Pair::new(chunking);
        let call = pair.start("/c.C/X", CallOptions::new());
        pair.client.close_send(call).unwrap();
        let (sc, _) = pair.accept();
        assert!(pair.server_recv_all(sc).1);
        pair.client.cancel(call);
        assert_eq!(pair.server_cancelled(sc).unwrap().code(), Code::CANCELLED);
    }
}

pair_test! {
    fn server_cancels_before_answering(chunking) {
        let mut pair = Pair::new(chunking);
        let call = pair.start("/c.C/X", CallOptions::new());
        let (sc, _) = pair.accept();
        pair.server.cancel(sc);
        let (status, _) = pair.expect_finished(call);
        assert_eq!(status.code(), Code::CANCELLED);
        assert!(pair.server_cancelled(sc).is_none(), "no event for the application's own cancel");
        assert_eq!(pair.server.finish(sc, Status::ok(), &MetadataMap::new()), Err(CallError::Closed));
    }
}

pair_test! {
    fn server_cancels_mid_stream(chunking) {
        let mut pair = Pair::new(chunking);
        let call = pair.start("/c.C/X", CallOptions::new());
        let (sc, _) = pair.accept();
        pair.server.send_message(sc, Bytes::from_static(b"x")).unwrap();
        pair.drive();
        assert!(pair.response_headers(call).is_some());
        pair.server.cancel(sc);
        let (status, _) = pair.expect_finished(call);
        assert_eq!(status.code(), Code::CANCELLED);
        // A reset is a failure for the client: unread messages are gone, and
        // the read says why (it releases the call).
        assert!(matches!(
            pair.client.recv_message(call),
            Err(RecvError::Cancelled(ref s)) if s.code() == Code::CANCELLED
        ));
        assert_eq!(pair.client.close_send(call), Err(CallError::Closed));
        assert_eq!(pair.client.recv_message(call), Err(RecvError::Closed));
        assert_eq!(pair.client.open_calls(), 0);
    }
}

pair_test! {
    fn reads_on_a_live_call_block_until_data(chunking) {
        let mut pair = Pair::new(chunking);
        let call = pair.start("/c.C/X", CallOptions::new());
        let (sc, _) = pair.accept();
        assert_eq!(pair.server.recv_message(sc), Err(RecvError::Blocked));
        assert_eq!(pair.client.recv_message(call), Err(RecvError::Blocked));
        pair.client.cancel(call);
        pair.drive();
    }
}

/// Hands what the client sent to the server without draining the server's
/// events (which the pair's `drive` does): the state a handler sees when it
/// reads before its driver has handed out the events.
fn deliver_keeping_events(pair: &mut Pair) {
    while pair.move_bytes() {}
}

/// The status of the call's `Cancelled` event if it is still queued in the
/// server engine (it is drained into the pair's list to look).
fn queued_cancel(pair: &mut Pair, call: CallId) -> Option<Status> {
    let mut found = None;
    while let Some(event) = pair.server.poll_event() {
        if let ServerEvent::Cancelled { call: c, status } = &event
            && *c == call
        {
            found = Some(status.clone());
        }
        pair.server_events.push_back(event);
    }
    found
}

pair_test! {
    fn a_client_stream_reset_midway_reads_as_cancelled_not_complete(chunking) {
        let mut pair = Pair::new(chunking);
        let call = pair.start("/c.C/Upload", CallOptions::new());
        pair.client.send_message(call, Bytes::from_static(b"1")).unwrap();
        let (sc, _) = pair.accept();
        assert_eq!(pair.server_recv_all(sc), (vec![Bytes::from_static(b"1")], false));
        pair.client.cancel(call);
        deliver_keeping_events(&mut pair);
        // The engine dropped the call; its event has not been handed out.
        match pair.server.recv_message(sc) {
            Err(RecvError::Cancelled(status)) => assert_eq!(status.code(), Code::CANCELLED),
            other => panic!("a reset stream read as {other:?}"),
        }
        let event = queued_cancel(&mut pair, sc).expect("the Cancelled event was still queued");
        assert_eq!(event.code(), Code::CANCELLED);
        // Handed out now: the call still reads as cancelled, never as
        // complete, until the application lets go of it.
        assert!(matches!(pair.server.recv_message(sc), Err(RecvError::Cancelled(_))));
        assert_eq!(pair.server.open_calls(), 1);
        pair.server.cancel(sc);
        assert_eq!(pair.server.recv_message(sc), Err(RecvError::Closed));
        assert_eq!(pair.server.open_calls(), 0);
    }
}

pair_test! {
    fn a_reset_after_half_close_reads_as_cancelled_before_the_end_is_taken(chunking) {
        let mut pair = Pair::new(chunking);
        let call = pair.start("/c.C/Upload", CallOptions::new());
        pair.client.send_message(call, Bytes::from_static(b"1")).unwrap();
        pair.client.close_send(call).unwrap();
        let (sc, _) = pair.accept();
        pair.drive();
        assert_eq!(pair.server.recv_message(sc), Ok(Some(Bytes::from_static(b"1"))));
        // The handler has not read the end of the stream yet when the client
        // gives up on the call.
        pair.client.cancel(call);
        deliver_keeping_events(&mut pair);
        assert!(
            matches!(pair.server.recv_message(sc), Err(RecvError::Cancelled(ref s)) if s.code() == Code::CANCELLED),
            "a cancelled call is not a complete stream"
        );
    }
}

pair_test! {
    fn deadline_and_lost_connection_read_as_cancelled_with_their_status(chunking) {
        let mut pair = Pair::new(chunking);
        let _timed = pair.start("/c.C/Slow", CallOptions::new().with_timeout(Duration::from_secs(1)));
        let (timed_sc, _) = pair.accept();
        let _other = pair.start("/c.C/Other", CallOptions::new());
        let (other_sc, _) = pair.accept();
        pair.now += Duration::from_secs(2);
        pair.server.handle_timeout(pair.now);
        match pair.server.recv_message(timed_sc) {
            Err(RecvError::Cancelled(status)) => assert_eq!(status.code(), Code::DEADLINE_EXCEEDED),
            result => panic!("{result:?}"),
        }
        assert_eq!(pair.server.recv_message(other_sc), Err(RecvError::Blocked));
        pair.server_reads_eof();
        match pair.server.recv_message(other_sc) {
            Err(RecvError::Cancelled(status)) => assert_eq!(status.code(), Code::UNAVAILABLE),
            result => panic!("{result:?}"),
        }
    }
}

pair_test! {
    fn only_a_half_close_reads_as_the_end(chunking) {
        let mut pair = Pair::new(chunking);
        // A clean end stays a clean end, however often it is read.
        let call = pair.start("/c.C/Upload", CallOptions::new());
        pair.client.close_send(call).unwrap();
        let (sc, _) = pair.accept();
        pair.drive();
        assert_eq!(pair.server.recv_message(sc), Ok(None));
        assert_eq!(pair.server.recv_message(sc), Ok(None));
        // Once the application finished the call, reads say it is over.
        pair.server.finish(sc, Status::ok(), &MetadataMap::new()).unwrap();
        assert_eq!(pair.server.recv_message(sc), Err(RecvError::Closed));
        assert!(pair.expect_finished(call).0.is_ok());
        assert_eq!(pair.server.recv_message(sc), Err(RecvError::Closed));
        // And once it cancelled it.
        let call = pair.start("/c.C/Upload", CallOptions::new());
        let (sc, _) = pair.accept();
        pair.server.cancel(sc);
        assert_eq!(pair.server.recv_message(sc), Err(RecvError::Closed));
        assert_eq!(pair.expect_finished(call).0.code(), Code::CANCELLED);
    }
}
