//! Cancellation both ways, at every stage of a call.

use bytes::Bytes;

use super::pair::{Pair, pair_test};
use crate::Code;
use crate::Status;
use crate::codec::metadata::MetadataMap;
use crate::proto::{
    CallError, CallOptions, ClientConfig, RecvError, SendError, ServerConfig, ServerEvent,
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
        assert_eq!(pair.client.recv_message(queued), Ok(None), "stale id reads as over");
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
        assert_eq!(pair.server.recv_message(sc), Ok(None));
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
        // A reset is a local failure for the client: unread messages are gone.
        assert_eq!(pair.client.recv_message(call), Ok(None));
        assert_eq!(pair.client.close_send(call), Err(CallError::Closed));
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
