//! The four RPC kinds, concurrency, message sizes.

use bytes::Bytes;

use super::pair::{Pair, pair_test};
use crate::codec::metadata::MetadataMap;
use crate::proto::{CallOptions, CallPath, StartCallError};
use crate::{Code, Status};

pair_test! {
    fn unary_round_trip(chunking) {
        let mut pair = Pair::new(chunking);
        let (messages, status, _) = pair.unary("/echo.Echo/Say", b"hello", |server, call, head, request| {
            assert_eq!(head.path(), "/echo.Echo/Say");
            assert_eq!(request, vec![Bytes::from_static(b"hello")]);
            server.send_message(call, Bytes::from_static(b"world")).unwrap();
            server.finish(call, Status::ok(), &MetadataMap::new()).unwrap();
        });
        assert_eq!(messages, vec![Bytes::from_static(b"world")]);
        assert_eq!(status.code(), Code::OK);
        assert_eq!(pair.client.open_calls(), 0);
        assert_eq!(pair.server.open_calls(), 0);
    }
}

pair_test! {
    fn every_kind_of_path_reaches_the_server(chunking) {
        let mut pair = Pair::new(chunking);
        let kept = CallPath::from("/p.P/Kept");
        let paths = [
            CallPath::from("/p.P/Static"),
            CallPath::from(format!("/p.P/{}", "Owned")),
            CallPath::from(http::uri::PathAndQuery::from_static("/p.P/Parsed")),
            kept.clone(),
            kept,
        ];
        for path in paths {
            let expected = path.to_string();
            let (_, status, _) = pair.unary(path, b"x", |server, call, head, _| {
                assert_eq!(head.path(), expected);
                server.finish(call, Status::ok(), &MetadataMap::new()).unwrap();
            });
            assert!(status.is_ok(), "{status}");
        }
    }
}

pair_test! {
    fn invalid_paths_are_refused_before_anything_is_sent(chunking) {
        let mut pair = Pair::new(chunking);
        let sent = pair.to_server.transcript.len();
        for path in ["", "/", "noslash/m", "/s/", "/s/m/x", "/s/m?q=1", "/s/m#f", "/s m/x"] {
            assert_eq!(
                pair.client.start_call(pair.now, path, CallOptions::new()),
                Err(StartCallError::InvalidPath(path.to_owned())),
            );
            assert_eq!(
                pair.client.start_call(pair.now, path.to_owned(), CallOptions::new()),
                Err(StartCallError::InvalidPath(path.to_owned())),
            );
        }
        pair.drive();
        assert_eq!(pair.to_server.transcript.len(), sent, "nothing was sent");
        assert_eq!(pair.client.open_calls(), 0);
        assert!(pair.server_events.is_empty(), "{:?}", pair.server_events);
    }
}

pair_test! {
    fn trailers_only_error(chunking) {
        let mut pair = Pair::new(chunking);
        let (messages, status, trailers) = pair.unary("/a.B/C", b"x", |server, call, _, _| {
            let mut md = MetadataMap::new();
            md.insert("why", "because").unwrap();
            server.finish(call, Status::not_found("no such thing"), &md).unwrap();
        });
        assert!(messages.is_empty());
        assert_eq!(status, Status::not_found("no such thing"));
        assert_eq!(trailers.get("why"), Some("because"));
    }
}

pair_test! {
    fn server_streaming(chunking) {
        let mut pair = Pair::new(chunking);
        let call = pair.start("/s.S/List", CallOptions::new());
        pair.client.send_message(call, Bytes::from_static(b"q")).unwrap();
        pair.client.close_send(call).unwrap();
        let (sc, _) = pair.accept();
        let (req, ended) = pair.server_recv_all(sc);
        assert_eq!((req.len(), ended), (1, true));
        for i in 0..10u8 {
            pair.server.send_message(sc, Bytes::from(vec![i; usize::from(i)])).unwrap();
            pair.drive();
        }
        pair.server.finish(sc, Status::ok(), &MetadataMap::new()).unwrap();
        let (got, _) = pair.client_recv_all(call);
        let (status, _) = pair.expect_finished(call);
        assert_eq!(status.code(), Code::OK);
        let expected: Vec<Bytes> = (0..10u8).map(|i| Bytes::from(vec![i; usize::from(i)])).collect();
        assert_eq!(got, expected);
    }
}

pair_test! {
    fn client_streaming(chunking) {
        let mut pair = Pair::new(chunking);
        let call = pair.start("/s.S/Upload", CallOptions::new());
        for i in 0..5u8 {
            pair.client.send_message(call, Bytes::from(vec![i; 3])).unwrap();
        }
        pair.client.close_send(call).unwrap();
        let (sc, _) = pair.accept();
        let (got, ended) = pair.server_recv_all(sc);
        assert!(ended);
        assert_eq!(got.len(), 5);
        pair.server.send_message(sc, Bytes::from_static(b"5")).unwrap();
        pair.server.finish(sc, Status::ok(), &MetadataMap::new()).unwrap();
        let (resp, _) = pair.client_recv_all(call);
        assert_eq!(resp, vec![Bytes::from_static(b"5")]);
        assert!(pair.expect_finished(call).0.is_ok());
    }
}

pair_test! {
    fn bidi_streaming_interleaved(chunking) {
        let mut pair = Pair::new(chunking);
        let call = pair.start("/s.S/Chat", CallOptions::new());
        pair.client.send_message(call, Bytes::from_static(b"ping 0")).unwrap();
        let (sc, _) = pair.accept();
        for i in 0..5 {
            let (got, ended) = pair.server_recv_all(sc);
            assert_eq!(got, vec![Bytes::from(format!("ping {i}"))]);
            assert!(!ended);
            pair.server.send_message(sc, Bytes::from(format!("pong {i}"))).unwrap();
            let (back, over) = pair.client_recv_all(call);
            assert_eq!(back, vec![Bytes::from(format!("pong {i}"))]);
            assert!(!over);
            if i < 4 {
                pair.client.send_message(call, Bytes::from(format!("ping {}", i + 1))).unwrap();
            }
        }
        pair.client.close_send(call).unwrap();
        let (_, ended) = pair.server_recv_all(sc);
        assert!(ended);
        pair.server.finish(sc, Status::ok(), &MetadataMap::new()).unwrap();
        assert!(pair.expect_finished(call).0.is_ok());
    }
}

pair_test! {
    fn concurrent_calls_on_one_connection(chunking) {
        let mut pair = Pair::new(chunking);
        let calls: Vec<_> = (0..20u8)
            .map(|i| {
                let call = pair.client.start_call(pair.now, "/c.C/Go", CallOptions::new()).unwrap();
                pair.client.send_message(call, Bytes::from(vec![i; 10])).unwrap();
                pair.client.close_send(call).unwrap();
                call
            })
            .collect();
        pair.drive();
        let mut server_calls = Vec::new();
        while let Some((_, super::super::ServerEvent::NewCall { call, .. })) =
            pair.take_server_event(|e| matches!(e, super::super::ServerEvent::NewCall { .. }).then_some(()))
        {
            server_calls.push(call);
        }
        assert_eq!(server_calls.len(), 20);
        // Answer in reverse order, echoing the request.
        for &sc in server_calls.iter().rev() {
            let (req, ended) = pair.server_recv_all(sc);
            assert!(ended);
            pair.server.send_message(sc, req[0].clone()).unwrap();
            pair.server.finish(sc, Status::ok(), &MetadataMap::new()).unwrap();
        }
        pair.drive();
        for (i, &call) in calls.iter().enumerate() {
            let (got, _) = pair.client_recv_all(call);
            assert_eq!(got, vec![Bytes::from(vec![i as u8; 10])]);
            assert!(pair.expect_finished(call).0.is_ok());
        }
        assert_eq!(pair.client.open_calls(), 0);
        assert_eq!(pair.server.open_calls(), 0);
    }
}

pair_test! {
    fn messages_from_zero_bytes_to_the_limit(chunking) {
        let limit = 40_000;
        let mut server_config = crate::proto::ServerConfig::default();
        server_config.limits.max_recv_message_size = limit;
        let mut client_config = crate::proto::ClientConfig::default();
        client_config.limits.max_recv_message_size = limit;
        let mut pair = Pair::with_configs(chunking, server_config, client_config);
        let sizes = [0usize, 1, 4, 5, 16_383, 16_384, 16_385, limit - 1, limit];
        let call = pair.start("/s.S/Echo", CallOptions::new());
        let (sc, _) = pair.accept();
        for &size in &sizes {
            let payload = Bytes::from((0..size).map(|i| (i % 251) as u8).collect::<Vec<_>>());
            pair.client.send_message(call, payload.clone()).unwrap();
            let mut got = Vec::new();
            while got.is_empty() {
                let (m, _) = pair.server_recv_all(sc);
                got.extend(m);
            }
            assert_eq!(got, vec![payload.clone()], "size {size}");
            pair.server.send_message(sc, payload.clone()).unwrap();
            let mut back = Vec::new();
            while back.is_empty() {
                let (m, _) = pair.client_recv_all(call);
                back.extend(m);
            }
            assert_eq!(back, vec![payload], "size {size}");
        }
        pair.client.close_send(call).unwrap();
        pair.server.finish(sc, Status::ok(), &MetadataMap::new()).unwrap();
        assert!(pair.expect_finished(call).0.is_ok());
    }
}

pair_test! {
    fn a_unary_request_is_one_data_frame(chunking) {
        let mut pair = Pair::new(chunking);
        let (_, status, _) = pair.unary("/u.U/One", b"payload", |server, call, _, _| {
            server.send_message(call, Bytes::from_static(b"reply")).unwrap();
            server.finish(call, Status::ok(), &MetadataMap::new()).unwrap();
        });
        assert!(status.is_ok());
        use crate::proto::frame::FrameKind;
        let data: Vec<_> = pair
            .frames_to_server()
            .into_iter()
            .filter(|f| f.kind == FrameKind::DATA)
            .collect();
        assert_eq!(data.len(), 1, "{data:?}");
        assert_eq!(data[0].flags & 1, 1, "END_STREAM on the message's frame");
        let from_server: Vec<_> = pair
            .frames_to_client()
            .into_iter()
            .filter(|f| f.stream_id == 1)
            .map(|f| f.kind)
            .collect();
        assert_eq!(from_server, vec![FrameKind::HEADERS, FrameKind::DATA, FrameKind::HEADERS]);
    }
}

pair_test! {
    fn a_request_without_messages_is_one_headers_frame(chunking) {
        let mut pair = Pair::new(chunking);
        let call = pair.client.start_call(pair.now, "/u.U/Empty", CallOptions::new()).unwrap();
        pair.client.close_send(call).unwrap();
        let (sc, _) = pair.accept();
        assert_eq!(pair.server_recv_all(sc), (vec![], true));
        use crate::proto::frame::FrameKind;
        let frames: Vec<_> = pair
            .frames_to_server()
            .into_iter()
            .filter(|f| f.stream_id == 1)
            .collect();
        assert_eq!(frames.len(), 1, "{frames:?}");
        assert_eq!(frames[0].kind, FrameKind::HEADERS);
        assert_eq!(frames[0].flags & 1, 1, "END_STREAM");
        pair.server.finish(sc, Status::ok(), &MetadataMap::new()).unwrap();
        assert!(pair.expect_finished(call).0.is_ok());
    }
}

/// Any chunking of the wire and any message sizes: what one side sends, the
/// other receives, in order, both ways.
#[test]
fn any_chunking_delivers_every_message() {
    fn property(chunk: u8, sizes: Vec<u16>) -> quickcheck::TestResult {
        let chunking = super::pair::Chunking::Bytes(usize::from(chunk % 64) + 1);
        let sizes: Vec<usize> = sizes
            .iter()
            .take(8)
            .map(|s| usize::from(*s % 3000))
            .collect();
        let mut pair = Pair::new(chunking);
        let call = pair.start("/q.Q/Bidi", CallOptions::new());
        let (sc, _) = pair.accept();
        let messages: Vec<Bytes> = sizes
            .iter()
            .enumerate()
            .map(|(i, &n)| Bytes::from(vec![i as u8; n]))
            .collect();
        for m in &messages {
            pair.client.send_message(call, m.clone()).unwrap();
            pair.server.send_message(sc, m.clone()).unwrap();
        }
        pair.client.close_send(call).unwrap();
        let mut up = Vec::new();
        loop {
            let (got, ended) = pair.server_recv_all(sc);
            up.extend(got);
            if ended {
                break;
            }
        }
        pair.server
            .finish(sc, Status::ok(), &MetadataMap::new())
            .unwrap();
        let (down, _) = pair.client_recv_all(call);
        let ok = pair.expect_finished(call).0.is_ok();
        let (rest, _) = pair.client_recv_all(call);
        let down: Vec<Bytes> = down.into_iter().chain(rest).collect();
        quickcheck::TestResult::from_bool(ok && up == messages && down == messages)
    }
    quickcheck::QuickCheck::new()
        .tests(40)
        .quickcheck(property as fn(u8, Vec<u16>) -> quickcheck::TestResult);
}
