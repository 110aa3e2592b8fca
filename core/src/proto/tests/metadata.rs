//! Initial and trailing metadata both ways, ASCII and binary; status code,
//! percent-encoded message and details; Trailers-Only produced and accepted.

use bytes::Bytes;

use super::pair::{Pair, pair_test};
use crate::codec::metadata::MetadataMap;
use crate::codec::status::{Any, RpcStatus};
use crate::proto::frame::FrameKind;
use crate::proto::{CallError, CallOptions};
use crate::{Code, Status};

fn sample(prefix: &str) -> MetadataMap {
    let mut md = MetadataMap::new();
    md.insert(&format!("{prefix}-ascii"), "value with spaces")
        .unwrap();
    md.append(&format!("{prefix}-ascii"), "second").unwrap();
    md.insert_bin(&format!("{prefix}-data-bin"), &[0, 1, 2, 0xfe, 0xff])
        .unwrap();
    md
}

pair_test! {
    fn metadata_flows_both_ways(chunking) {
        let mut pair = Pair::new(chunking);
        let call = pair.start("/m.M/Md", CallOptions::new().with_metadata(sample("req")));
        pair.client.close_send(call).unwrap();
        let (sc, head) = pair.accept();
        assert_eq!(head.metadata(), &sample("req"));
        assert_eq!(
            head.metadata().get_all("req-ascii").collect::<Vec<_>>(),
            ["value with spaces", "second"]
        );
        pair.server.send_headers(sc, &sample("init")).unwrap();
        assert_eq!(pair.server.send_headers(sc, &sample("x")), Err(CallError::HeadersAlreadySent));
        let headers = pair.response_headers(call).expect("headers event");
        assert_eq!(headers, sample("init"));
        pair.server.send_message(sc, Bytes::from_static(b"m")).unwrap();
        pair.server.finish(sc, Status::ok(), &sample("trail")).unwrap();
        let (messages, _) = pair.client_recv_all(call);
        assert_eq!(messages.len(), 1);
        let (status, trailers) = pair.expect_finished(call);
        assert!(status.is_ok());
        assert_eq!(trailers, sample("trail"));
    }
}

pair_test! {
    fn headers_then_trailers_without_messages(chunking) {
        let mut pair = Pair::new(chunking);
        let call = pair.start("/m.M/Md", CallOptions::new());
        pair.client.close_send(call).unwrap();
        let (sc, _) = pair.accept();
        pair.server.send_headers(sc, &MetadataMap::new()).unwrap();
        pair.server.finish(sc, Status::aborted("late"), &MetadataMap::new()).unwrap();
        assert!(pair.response_headers(call).is_some(), "not Trailers-Only");
        let (status, _) = pair.expect_finished(call);
        assert_eq!(status, Status::aborted("late"));
    }
}

pair_test! {
    fn trailers_only_carries_status_and_metadata(chunking) {
        let mut pair = Pair::new(chunking);
        let call = pair.start("/m.M/Md", CallOptions::new());
        let (sc, _) = pair.accept();
        pair.server.finish(sc, Status::permission_denied("go away"), &sample("t")).unwrap();
        pair.drive();
        assert!(pair.response_headers(call).is_none(), "Trailers-Only has no Headers event");
        let (status, trailers) = pair.expect_finished(call);
        assert_eq!(status, Status::permission_denied("go away"));
        assert_eq!(trailers, sample("t"));
        // One HEADERS frame with END_STREAM from the server on the call's
        // stream (then RST_STREAM(NO_ERROR), since the client had not
        // half-closed).
        let headers: Vec<_> = pair
            .frames_to_client()
            .into_iter()
            .filter(|f| f.stream_id == 1 && f.kind == FrameKind::HEADERS)
            .collect();
        assert_eq!(headers.len(), 1, "{headers:?}");
        assert_eq!(headers[0].flags & 0x1, 0x1, "END_STREAM");
    }
}

pair_test! {
    fn status_message_is_percent_encoded_and_details_travel(chunking) {
        let mut pair = Pair::new(chunking);
        let details = RpcStatus {
            code: Code::INVALID_ARGUMENT,
            message: "bad field".into(),
            details: vec![Any { type_url: "type.googleapis.com/x.Y".into(), value: Bytes::from_static(b"\x08\x01") }],
        };
        let message = "caf\u{e9} 100% \n\"broken\" \u{1f600}";
        let status = Status::new(Code::INVALID_ARGUMENT, message).with_details(details.to_bytes());
        let sent = status.clone();
        let (_, got, _) = pair.unary("/m.M/Md", b"", move |server, call, _, _| {
            server.finish(call, sent, &MetadataMap::new()).unwrap();
        });
        assert_eq!(got.code(), Code::INVALID_ARGUMENT);
        assert_eq!(got.message(), message);
        assert_eq!(RpcStatus::decode(got.details()).unwrap(), details);
    }
}

pair_test! {
    fn unknown_status_codes_become_unknown(chunking) {
        let mut pair = Pair::new(chunking);
        let (_, got, _) = pair.unary("/m.M/Md", b"", |server, call, _, _| {
            server.finish(call, Status::new(Code::from_i32(99), "odd"), &MetadataMap::new()).unwrap();
        });
        assert_eq!(got.code(), Code::UNKNOWN);
        assert_eq!(got.message(), "odd");
    }
}

pair_test! {
    fn data_loss_survives_and_finished_calls_are_closed(chunking) {
        let mut pair = Pair::new(chunking);
        let call = pair.start("/m.M/Md", CallOptions::new());
        let (sc, _) = pair.accept();
        pair.drive();
        pair.server.finish(sc, Status::new(Code::DATA_LOSS, ""), &MetadataMap::new()).unwrap();
        assert_eq!(pair.expect_finished(call).0.code(), Code::DATA_LOSS);
        assert_eq!(pair.server.finish(sc, Status::ok(), &MetadataMap::new()), Err(CallError::Closed));
    }
}

/// Trailing metadata no header block can hold (more entries than
/// `http::HeaderMap` takes): `finish` refuses it.
fn unencodable() -> MetadataMap {
    let mut md = MetadataMap::new();
    for _ in 0..30_000 {
        md.append("x", "1").unwrap();
    }
    md
}

pair_test! {
    fn a_refused_trailers_only_finish_leaves_the_call_finishable(chunking) {
        let mut pair = Pair::new(chunking);
        let call = pair.start("/m.M/Md", CallOptions::new());
        pair.client.send_message(call, Bytes::from_static(b"request")).unwrap();
        let (sc, _) = pair.accept();
        let refused = pair.server.finish(sc, Status::not_found("gone"), &unencodable());
        assert!(matches!(refused, Err(CallError::InvalidMetadata(_))), "{refused:?}");
        pair.drive();
        // Nothing went out, and the call is as it was: still readable.
        assert!(pair.response_headers(call).is_none());
        assert!(pair.finished(call).is_none());
        assert_eq!(pair.server_recv_all(sc), (vec![Bytes::from_static(b"request")], false));
        pair.client.close_send(call).unwrap();
        assert_eq!(pair.server_recv_all(sc), (vec![], true));
        // Finished again with trailers that fit: still a Trailers-Only answer.
        pair.server.finish(sc, Status::not_found("gone"), &sample("t")).unwrap();
        pair.drive();
        assert!(pair.response_headers(call).is_none(), "Trailers-Only");
        let (status, trailers) = pair.expect_finished(call);
        assert_eq!(status, Status::not_found("gone"));
        assert_eq!(trailers, sample("t"));
        assert!(pair.client_recv_all(call).1);
        assert_eq!(pair.server.open_calls(), 0);
        assert_eq!(pair.client.open_calls(), 0);
    }
}

pair_test! {
    fn a_refused_finish_after_messages_leaves_the_call_finishable(chunking) {
        let mut pair = Pair::new(chunking);
        let call = pair.start("/m.M/Md", CallOptions::new());
        let (sc, _) = pair.accept();
        pair.server.send_message(sc, Bytes::from_static(b"one")).unwrap();
        let refused = pair.server.finish(sc, Status::ok(), &unencodable());
        assert!(matches!(refused, Err(CallError::InvalidMetadata(_))), "{refused:?}");
        pair.drive();
        assert!(pair.finished(call).is_none(), "no trailers went out");
        pair.server.send_message(sc, Bytes::from_static(b"two")).unwrap();
        pair.client.send_message(call, Bytes::from_static(b"late")).unwrap();
        assert_eq!(pair.server_recv_all(sc).0, vec![Bytes::from_static(b"late")]);
        pair.server.finish(sc, Status::ok(), &sample("t")).unwrap();
        let (messages, _) = pair.client_recv_all(call);
        assert_eq!(messages, vec![Bytes::from_static(b"one"), Bytes::from_static(b"two")]);
        let (status, trailers) = pair.expect_finished(call);
        assert!(status.is_ok(), "{status}");
        assert_eq!(trailers, sample("t"));
    }
}
