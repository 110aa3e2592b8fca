//! What our client makes of odd responses: HTTP errors from proxies, missing
//! or malformed grpc-status, resets with every code, oversized messages.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response};

use super::raw::{RawServer, raw_test};
use crate::Code;
use crate::proto::{CallOptions, ClientConfig, ClientEvent, ConnectionError};

fn response(status: u16, headers: &[(&str, &str)]) -> Response<()> {
    let mut b = Response::builder().status(status);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(()).unwrap()
}

const GRPC: &[(&str, &str)] = &[("content-type", "application/grpc")];

fn start(raw: &mut RawServer) -> crate::proto::CallId {
    let call = raw
        .client
        .start_call(
            raw.now,
            "/r.R/Call",
            CallOptions::new().with_timeout(Duration::from_secs(5)),
        )
        .unwrap();
    raw.client
        .send_message(call, Bytes::from_static(b"req"))
        .unwrap();
    raw.client.close_send(call).unwrap();
    call
}

raw_test! {
    fn requests_carry_what_the_spec_requires() {
        let mut raw = RawServer::new(ClientConfig::default());
        let _call = start(&mut raw);
        let (request, _) = raw.accept();
        assert_eq!(request.method(), "POST");
        assert_eq!(request.uri().path(), "/r.R/Call");
        let h = request.headers();
        assert_eq!(h.get("content-type").unwrap(), "application/grpc");
        assert_eq!(h.get("te").unwrap(), "trailers");
        assert_eq!(h.get("grpc-timeout").unwrap(), "5000000u");
        assert!(
            h.get("user-agent")
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("ferrule/")
        );
        assert!(
            h.get("grpc-accept-encoding")
                .unwrap()
                .to_str()
                .unwrap()
                .contains("identity")
        );
    }
}

raw_test! {
    fn http_errors_without_grpc_status_are_mapped() {
        let table: &[(u16, bool, Code)] = &[
            (400, true, Code::INTERNAL),
            (401, true, Code::UNAUTHENTICATED),
            (403, false, Code::PERMISSION_DENIED),
            (404, false, Code::UNIMPLEMENTED),
            (429, true, Code::UNAVAILABLE),
            (502, false, Code::UNAVAILABLE),
            (503, true, Code::UNAVAILABLE),
            (504, true, Code::UNAVAILABLE),
            (500, true, Code::UNKNOWN),
            (200, true, Code::UNKNOWN),
        ];
        for &(http, end, code) in table {
            let mut raw = RawServer::new(ClientConfig::default());
            let call = start(&mut raw);
            let (_, mut respond) = raw.accept();
            let mut send = respond
                .send_response(response(http, &[("content-type", "text/html")]), end)
                .unwrap();
            if !end {
                send.send_data(Bytes::from_static(b"<html>proxy error</html>"), false)
                    .unwrap();
            }
            let status = raw.finished(call);
            assert_eq!(status.code(), code, "HTTP {http}: {status}");
            assert!(status.message().contains(&http.to_string()), "{status}");
        }
    }
}

raw_test! {
    fn grpc_status_wins_over_the_http_status() {
        let mut raw = RawServer::new(ClientConfig::default());
        let call = start(&mut raw);
        let (_, mut respond) = raw.accept();
        let _ = respond
            .send_response(
                response(
                    503,
                    &[("content-type", "application/grpc"), ("grpc-status", "5")],
                ),
                true,
            )
            .unwrap();
        assert_eq!(raw.finished(call).code(), Code::NOT_FOUND);
    }
}

raw_test! {
    fn a_stream_ending_without_trailers_is_internal() {
        let mut raw = RawServer::new(ClientConfig::default());
        let call = start(&mut raw);
        let (_, mut respond) = raw.accept();
        let mut send = respond.send_response(response(200, GRPC), false).unwrap();
        send.send_data(Bytes::from_static(b"\x00\x00\x00\x00\x01x"), true)
            .unwrap();
        let status = raw.finished(call);
        assert_eq!(status.code(), Code::INTERNAL, "{status}");
        // The message before the missing trailers is still readable.
        assert_eq!(
            raw.client.recv_message(call),
            Ok(Some(Bytes::from_static(b"x")))
        );
        assert_eq!(raw.client.recv_message(call), Ok(None));
    }
}

fn trailers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (k, v) in pairs {
        map.insert(*k, HeaderValue::from_static(v));
    }
    map
}

raw_test! {
    fn missing_or_malformed_grpc_status_in_trailers() {
        for (t, code) in [
            (&[][..], Code::INTERNAL),
            (&[("grpc-message", "hi")][..], Code::INTERNAL),
            (&[("grpc-status", "abc")][..], Code::UNKNOWN),
            (&[("grpc-status", "-1")][..], Code::UNKNOWN),
            (&[("grpc-status", "99999999999")][..], Code::UNKNOWN),
            (&[("grpc-status", "77")][..], Code::UNKNOWN),
            (&[("grpc-status", "0")][..], Code::OK),
        ] {
            let mut raw = RawServer::new(ClientConfig::default());
            let call = start(&mut raw);
            let (_, mut respond) = raw.accept();
            let mut send = respond.send_response(response(200, GRPC), false).unwrap();
            send.send_trailers(trailers(t)).unwrap();
            assert_eq!(raw.finished(call).code(), code, "{t:?}");
        }
    }
}

raw_test! {
    fn a_wrong_content_type_with_200_is_unknown() {
        let mut raw = RawServer::new(ClientConfig::default());
        let call = start(&mut raw);
        let (_, mut respond) = raw.accept();
        let _ = respond.send_response(
            response(200, &[("content-type", "application/json")]),
            false,
        );
        assert_eq!(raw.finished(call).code(), Code::UNKNOWN);
    }
}

raw_test! {
    fn an_unsupported_response_encoding_is_internal() {
        let mut raw = RawServer::new(ClientConfig::default());
        let call = start(&mut raw);
        let (_, mut respond) = raw.accept();
        let _ = respond.send_response(
            response(
                200,
                &[
                    ("content-type", "application/grpc"),
                    ("grpc-encoding", "lz4"),
                ],
            ),
            false,
        );
        assert_eq!(raw.finished(call).code(), Code::INTERNAL);
    }
}

raw_test! {
    fn resets_are_mapped_as_the_spec_says() {
        let table = [
            (h2::Reason::CANCEL, Code::CANCELLED),
            (h2::Reason::REFUSED_STREAM, Code::UNAVAILABLE),
            (h2::Reason::ENHANCE_YOUR_CALM, Code::RESOURCE_EXHAUSTED),
            (h2::Reason::INADEQUATE_SECURITY, Code::PERMISSION_DENIED),
            (h2::Reason::INTERNAL_ERROR, Code::INTERNAL),
            (h2::Reason::PROTOCOL_ERROR, Code::INTERNAL),
            (h2::Reason::NO_ERROR, Code::INTERNAL),
        ];
        for (reason, code) in table {
            // Before and after the response headers.
            for headers_first in [false, true] {
                let mut raw = RawServer::new(ClientConfig::default());
                let call = start(&mut raw);
                let (_, mut respond) = raw.accept();
                if headers_first {
                    let mut send = respond.send_response(response(200, GRPC), false).unwrap();
                    raw.drive();
                    send.send_reset(reason);
                } else {
                    respond.send_reset(reason);
                }
                let status = raw.finished(call);
                assert_eq!(
                    status.code(),
                    code,
                    "{reason:?} headers_first={headers_first}: {status}"
                );
            }
        }
    }
}

raw_test! {
    fn an_oversized_response_message_fails_the_call_and_resets() {
        let mut config = ClientConfig::default();
        config.limits.max_recv_message_size = 10;
        let mut raw = RawServer::new(config);
        let call = start(&mut raw);
        let (_, mut respond) = raw.accept();
        let mut send = respond.send_response(response(200, GRPC), false).unwrap();
        send.send_data(
            Bytes::from_static(b"\x00\x00\x00\x00\x0bhello world"),
            false,
        )
        .unwrap();
        let status = raw.finished(call);
        assert_eq!(status.code(), Code::RESOURCE_EXHAUSTED);
        raw.drive();
        match send.poll_reset(&mut std::task::Context::from_waker(std::task::Waker::noop())) {
            std::task::Poll::Ready(Ok(reason)) => assert_eq!(reason, h2::Reason::CANCEL),
            other => panic!("expected a reset: {other:?}"),
        }
    }
}

raw_test! {
    fn the_server_vanishing_mid_call_is_unavailable() {
        let mut raw = RawServer::new(ClientConfig::default());
        let call = start(&mut raw);
        let (_, mut respond) = raw.accept();
        let _send = respond.send_response(response(200, GRPC), false).unwrap();
        raw.drive();
        raw.vanish();
        let status = raw.finished(call);
        assert_eq!(status.code(), Code::UNAVAILABLE, "{status}");
        let closed = raw
            .client_events
            .iter()
            .find_map(|e| match e {
                ClientEvent::Closed { error } => Some(error.clone()),
                _ => None,
            })
            .expect("closed");
        assert!(
            matches!(closed, Some(ConnectionError::TransportClosed)),
            "{closed:?}"
        );
    }
}
