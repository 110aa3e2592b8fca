//! Limits: message sizes, header list size, concurrent streams, h2's
//! reset-flood protection.

use bytes::Bytes;

use super::pair::{Pair, pair_test};
use super::raw::RawClient;
use crate::codec::metadata::MetadataMap;
use crate::proto::{
    CallOptions, ClientConfig, ConnectionError, ErrorCode, SendError, ServerConfig, ServerEvent,
};
use crate::{Code, Status};

pair_test! {
    fn an_oversized_request_is_resource_exhausted(chunking) {
        let mut server = ServerConfig::default();
        server.limits.max_recv_message_size = 1024;
        let mut pair = Pair::with_configs(chunking, server, ClientConfig::default());
        let call = pair.start("/l.L/X", CallOptions::new());
        pair.client.send_message(call, Bytes::from(vec![1u8; 1025])).unwrap();
        let (sc, _) = pair.accept();
        assert_eq!(pair.server_cancelled(sc).unwrap().code(), Code::RESOURCE_EXHAUSTED);
        let (status, _) = pair.expect_finished(call);
        assert_eq!(status.code(), Code::RESOURCE_EXHAUSTED, "{status}");
    }
}

pair_test! {
    fn an_oversized_response_is_resource_exhausted(chunking) {
        let mut client = ClientConfig::default();
        client.limits.max_recv_message_size = 1024;
        let mut pair = Pair::with_configs(chunking, ServerConfig::default(), client);
        let call = pair.start("/l.L/X", CallOptions::new());
        let (sc, _) = pair.accept();
        pair.server.send_message(sc, Bytes::from(vec![1u8; 1024])).unwrap();
        pair.server.send_message(sc, Bytes::from(vec![1u8; 1025])).unwrap();
        let (status, _) = pair.expect_finished(call);
        assert_eq!(status.code(), Code::RESOURCE_EXHAUSTED, "{status}");
        assert_eq!(pair.server_cancelled(sc).unwrap().code(), Code::CANCELLED);
    }
}

pair_test! {
    fn the_send_limit_refuses_locally(chunking) {
        let mut server = ServerConfig::default();
        server.limits.max_send_message_size = 100;
        let mut client = ClientConfig::default();
        client.limits.max_send_message_size = 100;
        let mut pair = Pair::with_configs(chunking, server, client);
        let call = pair.start("/l.L/X", CallOptions::new());
        let err = pair.client.send_message(call, Bytes::from(vec![0u8; 101])).unwrap_err();
        assert_eq!(err, SendError::MessageTooLarge { len: 101, max: 100 });
        assert_eq!(Status::from(err).code(), Code::RESOURCE_EXHAUSTED);
        pair.client.send_message(call, Bytes::from(vec![0u8; 100])).unwrap();
        let (sc, _) = pair.accept();
        assert_eq!(pair.server_recv_all(sc).0.len(), 1);
        assert!(matches!(
            pair.server.send_message(sc, Bytes::from(vec![0u8; 101])),
            Err(SendError::MessageTooLarge { .. })
        ));
        let mut buf = bytes::BytesMut::new();
        let framed = crate::proto::FramedMessage::encode(
            &mut buf,
            crate::codec::compression::Encoding::Identity,
            usize::MAX,
            None,
            |b: &mut bytes::BytesMut| {
                b.extend_from_slice(&[0; 101]);
                Ok::<(), String>(())
            },
        )
        .unwrap();
        assert!(matches!(
            pair.server.send_framed(sc, framed),
            Err(SendError::MessageTooLarge { len: 101, max: 100 })
        ));
    }
}

pair_test! {
    fn calls_beyond_max_concurrent_streams_wait_their_turn(chunking) {
        let mut server = ServerConfig::default();
        server.limits.max_concurrent_streams = 2;
        let mut pair = Pair::with_configs(chunking, server, ClientConfig::default());
        let calls: Vec<_> = (0..5)
            .map(|_| pair.client.start_call(pair.now, "/l.L/X", CallOptions::new()).unwrap())
            .collect();
        for &call in &calls {
            pair.client.close_send(call).unwrap();
        }
        let mut done = 0;
        while done < calls.len() {
            pair.drive();
            let open: Vec<_> = std::iter::from_fn(|| {
                pair.take_server_event(|e| match e {
                    ServerEvent::NewCall { call, .. } => Some(*call),
                    _ => None,
                })
                .map(|(c, _)| c)
            })
            .collect();
            assert!(!open.is_empty() && open.len() <= 2, "{} calls at once", open.len());
            for sc in open {
                pair.server.finish(sc, Status::ok(), &MetadataMap::new()).unwrap();
                done += 1;
            }
        }
        for call in calls {
            assert!(pair.expect_finished(call).0.is_ok());
        }
    }
}

pair_test! {
    fn oversized_request_metadata_fails_the_call(chunking) {
        let mut server = ServerConfig::default();
        server.limits.max_header_list_size = 1024;
        let mut pair = Pair::with_configs(chunking, server, ClientConfig::default());
        let mut md = MetadataMap::new();
        md.insert("x-big", &"v".repeat(2000)).unwrap();
        let call = pair.start("/l.L/X", CallOptions::new().with_metadata(md));
        let (status, _) = pair.expect_finished(call);
        assert_ne!(status.code(), Code::OK);
        assert!(pair.server_events.iter().all(|e| !matches!(e, ServerEvent::NewCall { .. })));
        // The connection survives.
        let (_, status, _) = pair.unary("/l.L/Y", b"", |server, call, _, _| {
            server.finish(call, Status::ok(), &MetadataMap::new()).unwrap();
        });
        assert!(status.is_ok());
    }
}

#[test]
fn a_rapid_reset_flood_ends_the_connection_with_enhance_your_calm() {
    let mut config = ServerConfig::default();
    config.limits.max_pending_accept_reset_streams = 5;
    let mut raw = RawClient::new(config);
    // Requests opened and reset in one burst, before the server accepts them.
    let mut handles = Vec::new();
    for _ in 0..20 {
        let request = http::Request::builder()
            .method("POST")
            .uri("http://localhost/a.B/C")
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(())
            .unwrap();
        let Ok((response, mut send)) = raw.send.send_request(request, false) else {
            break;
        };
        send.send_reset(h2::Reason::CANCEL);
        handles.push((response, send));
    }
    raw.drive();
    assert!(raw.server.is_closed());
    let error = raw.server.error().cloned();
    assert!(
        matches!(error, Some(ConnectionError::Protocol(code)) if code == ErrorCode::ENHANCE_YOUR_CALM),
        "{error:?}"
    );
}
