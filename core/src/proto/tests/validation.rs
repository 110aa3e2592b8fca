//! Request validation and malformed requests, from a raw h2 client.

use bytes::Bytes;
use http::{HeaderMap, Request};

use super::raw::{RawClient, raw_test};
use crate::Code;
use crate::proto::{RecvError, ServerConfig, ServerEvent};

fn request(method: &str, path: &str, headers: &[(&str, &str)]) -> Request<()> {
    let mut b = Request::builder()
        .method(method)
        .uri(format!("http://localhost{path}"));
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(()).unwrap()
}

const GRPC: &[(&str, &str)] = &[("content-type", "application/grpc"), ("te", "trailers")];

/// Sends a request with an empty body; returns the HTTP status, the
/// grpc-status and the response headers (a Trailers-Only answer).
fn answer(raw: &mut RawClient, req: Request<()>) -> (u16, Option<i32>, HeaderMap) {
    let (mut response, _) = raw.request(req, true);
    let response = raw.response(&mut response).expect("a response");
    assert!(response.body().is_end_stream(), "Trailers-Only");
    let code = response
        .headers()
        .get("grpc-status")
        .map(|v| v.to_str().unwrap().parse().unwrap());
    (response.status().as_u16(), code, response.headers().clone())
}

raw_test! {
    fn wrong_method_is_405() {
        let mut raw = RawClient::new(ServerConfig::default());
        for method in ["GET", "PUT", "DELETE"] {
            let (http, code, _) = answer(&mut raw, request(method, "/a.B/C", GRPC));
            assert_eq!(
                (http, code),
                (405, Some(Code::INTERNAL.as_i32())),
                "{method}"
            );
        }
        assert!(
            raw.server_events.is_empty(),
            "never reaches the application"
        );
    }
}

raw_test! {
    fn wrong_content_type_is_415() {
        let mut raw = RawClient::new(ServerConfig::default());
        for headers in [
            &[("te", "trailers")][..],
            &[("content-type", "application/json"), ("te", "trailers")],
            &[("content-type", "text/plain"), ("te", "trailers")],
            &[("content-type", "application/grpc-web"), ("te", "trailers")],
        ] {
            let (http, code, h) = answer(&mut raw, request("POST", "/a.B/C", headers));
            assert_eq!(
                (http, code),
                (415, Some(Code::INTERNAL.as_i32())),
                "{headers:?}"
            );
            assert_eq!(h.get("content-type").unwrap(), "application/grpc");
        }
        assert!(raw.server_events.is_empty());
    }
}

raw_test! {
    fn content_subtypes_and_parameters_are_accepted() {
        let mut raw = RawClient::new(ServerConfig::default());
        for ct in [
            "application/grpc+proto",
            "application/grpc+json",
            "application/grpc;charset=utf-8",
        ] {
            let _ = raw.request(
                request(
                    "POST",
                    "/a.B/C",
                    &[("content-type", ct), ("te", "trailers")],
                ),
                true,
            );
            assert!(raw.take_new_call().is_some(), "{ct}");
        }
    }
}

raw_test! {
    fn te_trailers_is_required_unless_configured_otherwise() {
        let mut raw = RawClient::new(ServerConfig::default());
        let no_te = [("content-type", "application/grpc")];
        let (http, code, _) = answer(&mut raw, request("POST", "/a.B/C", &no_te));
        assert_eq!((http, code), (400, Some(Code::INTERNAL.as_i32())));
        let mut config = ServerConfig::default();
        config.require_te_trailers = false;
        let mut raw = RawClient::new(config);
        let _ = raw.request(request("POST", "/a.B/C", &no_te), true);
        assert!(raw.take_new_call().is_some());
    }
}

raw_test! {
    fn malformed_paths_get_trailers_only_unimplemented() {
        let mut raw = RawClient::new(ServerConfig::default());
        for path in ["/", "/onlyservice", "/svc/", "//method", "/a/b/c"] {
            let (http, code, _) = answer(&mut raw, request("POST", path, GRPC));
            assert_eq!(
                (http, code),
                (200, Some(Code::UNIMPLEMENTED.as_i32())),
                "{path}"
            );
        }
        assert!(raw.server_events.is_empty());
    }
}

raw_test! {
    fn unknown_paths_are_answered_by_the_application_as_trailers_only() {
        let mut raw = RawClient::new(ServerConfig::default());
        let (mut response, _) = raw.request(request("POST", "/no.Such/Method", GRPC), true);
        let call = raw.take_new_call().expect("routed by the application");
        raw.server
            .finish(
                call,
                crate::Status::unimplemented("unknown method"),
                &Default::default(),
            )
            .unwrap();
        let response = raw.response(&mut response).unwrap();
        assert!(response.body().is_end_stream());
        assert_eq!(response.headers().get("grpc-status").unwrap(), "12");
        assert_eq!(
            response.headers().get("grpc-message").unwrap(),
            "unknown method"
        );
    }
}

raw_test! {
    fn unsupported_encodings_are_unimplemented_with_the_accepted_list() {
        let mut raw = RawClient::new(ServerConfig::default());
        let mut headers = GRPC.to_vec();
        headers.push(("grpc-encoding", "snappy"));
        let (http, code, h) = answer(&mut raw, request("POST", "/a.B/C", &headers));
        assert_eq!((http, code), (200, Some(Code::UNIMPLEMENTED.as_i32())));
        let accepted = h.get("grpc-accept-encoding").unwrap().to_str().unwrap();
        assert!(accepted.contains("identity"), "{accepted}");
        assert!(!accepted.contains("snappy"));
    }
}

raw_test! {
    fn malformed_timeouts_are_internal() {
        let mut raw = RawClient::new(ServerConfig::default());
        for timeout in ["", "1", "S", "123456789S", "1x", "-1S"] {
            let mut headers = GRPC.to_vec();
            headers.push(("grpc-timeout", timeout));
            let (http, code, _) = answer(&mut raw, request("POST", "/a.B/C", &headers));
            assert_eq!(
                (http, code),
                (200, Some(Code::INTERNAL.as_i32())),
                "{timeout:?}"
            );
        }
    }
}

raw_test! {
    fn malformed_binary_metadata_is_internal() {
        let mut raw = RawClient::new(ServerConfig::default());
        let mut headers = GRPC.to_vec();
        headers.push(("x-data-bin", "!!not base64!!"));
        let (http, code, _) = answer(&mut raw, request("POST", "/a.B/C", &headers));
        assert_eq!((http, code), (200, Some(Code::INTERNAL.as_i32())));
    }
}

/// Sends a body on a valid request; returns the server call and the client's
/// handles.
fn call_with_body(
    raw: &mut RawClient,
    body: &[u8],
) -> (crate::proto::CallId, h2::client::ResponseFuture) {
    let (response, mut send) = raw.request(request("POST", "/a.B/C", GRPC), false);
    send.send_data(Bytes::copy_from_slice(body), true).unwrap();
    raw.drive();
    let call = raw.take_new_call().expect("call");
    (call, response)
}

fn grpc_status(raw: &mut RawClient, response: &mut h2::client::ResponseFuture) -> (i32, String) {
    let mut response = raw.response(response).unwrap();
    let headers = if response.body().is_end_stream() {
        response.headers().clone()
    } else {
        let body = response.body_mut();
        raw.body(body).1.expect("trailers")
    };
    (
        headers
            .get("grpc-status")
            .unwrap()
            .to_str()
            .unwrap()
            .parse()
            .unwrap(),
        headers
            .get("grpc-message")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default(),
    )
}

fn cancelled(raw: &mut RawClient, call: crate::proto::CallId) -> crate::Status {
    raw.drive();
    let index = raw
        .server_events
        .iter()
        .position(|e| matches!(e, ServerEvent::Cancelled { call: c, .. } if *c == call))
        .unwrap_or_else(|| panic!("not cancelled: {:?}", raw.server_events));
    match raw.server_events.remove(index) {
        Some(ServerEvent::Cancelled { status, .. }) => status,
        _ => unreachable!(),
    }
}

raw_test! {
    fn compressed_flag_without_encoding_is_internal() {
        let mut raw = RawClient::new(ServerConfig::default());
        let (call, mut response) = call_with_body(&mut raw, b"\x01\x00\x00\x00\x02hi");
        match raw.server.recv_message(call) {
            Err(RecvError::Failed(status)) => assert_eq!(status.code(), Code::INTERNAL),
            other => panic!("{other:?}"),
        }
        assert_eq!(cancelled(&mut raw, call).code(), Code::INTERNAL);
        assert_eq!(
            grpc_status(&mut raw, &mut response).0,
            Code::INTERNAL.as_i32()
        );
    }
}

raw_test! {
    fn invalid_flags_are_internal() {
        let mut raw = RawClient::new(ServerConfig::default());
        let (call, mut response) = call_with_body(&mut raw, b"\x02\x00\x00\x00\x00");
        assert_eq!(cancelled(&mut raw, call).code(), Code::INTERNAL);
        assert_eq!(
            grpc_status(&mut raw, &mut response).0,
            Code::INTERNAL.as_i32()
        );
    }
}

raw_test! {
    fn a_truncated_message_is_internal() {
        let mut raw = RawClient::new(ServerConfig::default());
        let (call, mut response) = call_with_body(&mut raw, b"\x00\x00\x00\x00\x09short");
        assert_eq!(cancelled(&mut raw, call).code(), Code::INTERNAL);
        let (code, message) = grpc_status(&mut raw, &mut response);
        assert_eq!(code, Code::INTERNAL.as_i32());
        assert!(message.contains("ended inside a message"), "{message}");
    }
}

raw_test! {
    fn an_oversized_message_is_resource_exhausted_before_it_is_buffered() {
        let mut config = ServerConfig::default();
        config.limits.max_recv_message_size = 1000;
        let mut raw = RawClient::new(config);
        // Only the header of a 2 GB message: refused from the prefix alone.
        let (call, mut response) = call_with_body(&mut raw, b"\x00\x7f\xff\xff\xff");
        assert_eq!(cancelled(&mut raw, call).code(), Code::RESOURCE_EXHAUSTED);
        assert_eq!(
            grpc_status(&mut raw, &mut response).0,
            Code::RESOURCE_EXHAUSTED.as_i32()
        );
        assert_eq!(raw.server.buffered_bytes(), 0);
    }
}

raw_test! {
    fn oversized_headers_are_refused_by_h2() {
        let mut config = ServerConfig::default();
        config.limits.max_header_list_size = 1024;
        let mut raw = RawClient::new(config);
        let big = "x".repeat(2000);
        let mut headers = GRPC.to_vec();
        headers.push(("x-big", &big));
        let (mut response, _) = raw.request(request("POST", "/a.B/C", &headers), true);
        match raw.response(&mut response) {
            Ok(response) => assert_eq!(response.status().as_u16(), 431),
            Err(err) => assert!(err.is_reset(), "{err}"),
        }
        assert!(raw.server_events.is_empty());
    }
}
