//! A failed call's `Status` carries metadata both ways: what a handler (or an
//! interceptor) attaches to its error goes out in the trailers, and the
//! client's error holds the trailers the server sent. Whole client and
//! server, in memory.

use std::sync::Arc;

use bytes::Bytes;

use super::contract::Iter;
use super::memory::Pair;
use crate::api::codegen::{
    BytesCodec, MethodDescriptor, MethodKind, client_streaming_handler, server_streaming_handler,
    streaming_handler, unary_handler,
};
use crate::api::{Request, Response, Router, Streaming};
use crate::codec::metadata::MetadataMap;
use crate::{Code, Status};

const fn method(path: &'static str, kind: MethodKind) -> MethodDescriptor {
    MethodDescriptor {
        path,
        service: "t.T",
        method: "",
        kind,
    }
}

const UNARY_ERR: MethodDescriptor = method("/t.T/UnaryErr", MethodKind::Unary);
const UNARY_OK: MethodDescriptor = method("/t.T/UnaryOk", MethodKind::Unary);
const EXPAND_ERR: MethodDescriptor = method("/t.T/ExpandErr", MethodKind::ServerStreaming);
const EXPAND_FAILS: MethodDescriptor = method("/t.T/ExpandFails", MethodKind::ServerStreaming);
const COLLECT_ERR: MethodDescriptor = method("/t.T/CollectErr", MethodKind::ClientStreaming);
const CHAT_FAILS: MethodDescriptor = method("/t.T/ChatFails", MethodKind::BidiStreaming);

/// A map of these pairs (a `-bin` key takes the bytes as they are).
pub(super) fn md(pairs: &[(&str, &[u8])]) -> MetadataMap {
    let mut map = MetadataMap::new();
    for (key, value) in pairs {
        if key.ends_with("-bin") {
            map.append_bin(key, value).unwrap();
        } else {
            map.append(key, std::str::from_utf8(value).unwrap())
                .unwrap();
        }
    }
    map
}

/// What every failing handler attaches: ASCII and binary values, a repeated
/// key.
fn error_metadata() -> MetadataMap {
    md(&[
        ("retry-after", b"30"),
        ("x-request-id", b"r-1"),
        ("x-request-id", b"r-2"),
        ("err-bin", &[0, 1, 0xff]),
    ])
}

fn failure() -> Status {
    Status::unavailable("try later").with_metadata(error_metadata())
}

type Stream = Iter<std::vec::IntoIter<Result<Bytes, Status>>>;

/// A stream response with initial metadata and trailers whose stream yields
/// `items`.
fn stream_response(items: Vec<Result<Bytes, Status>>) -> Response<Stream> {
    let mut response = Response::new(Iter(items.into_iter()));
    response.metadata_mut().insert("x-initial", "1").unwrap();
    let trailers = response.trailers_mut();
    trailers.insert("x-kept", "a").unwrap();
    trailers.insert("retry-after", "5").unwrap();
    response
}

fn router() -> Router {
    let unit = Arc::new(());
    Router::new()
        .interceptor(|request: Request<()>| async move {
            if request.metadata().contains_key("deny") {
                let mut status = Status::permission_denied("not you");
                status
                    .metadata_mut()
                    .insert("www-authenticate", "Bearer realm=\"t\"")
                    .unwrap();
                status.metadata_mut().insert_bin("why-bin", b"\x01").unwrap();
                return Err(status);
            }
            Ok(request)
        })
        .route(
            UNARY_ERR.path,
            unary_handler(
                Arc::clone(&unit),
                |_: Arc<()>, _: Request<Bytes>| async move { Err::<Response<Bytes>, _>(failure()) },
                BytesCodec,
            ),
        )
        .route(
            UNARY_OK.path,
            unary_handler(
                Arc::clone(&unit),
                |_: Arc<()>, request: Request<Bytes>| async move {
                    let mut response = Response::new(request.into_inner());
                    response.trailers_mut().insert("x-done", "yes").unwrap();
                    Ok(response)
                },
                BytesCodec,
            ),
        )
        .route(
            EXPAND_ERR.path,
            server_streaming_handler(
                Arc::clone(&unit),
                |_: Arc<()>, _: Request<Bytes>| async move { Err::<Response<Stream>, _>(failure()) },
                BytesCodec,
            ),
        )
        .route(
            EXPAND_FAILS.path,
            server_streaming_handler(
                Arc::clone(&unit),
                |_: Arc<()>, _: Request<Bytes>| async move {
                    Ok(stream_response(vec![
                        Ok(Bytes::from_static(b"one")),
                        Err(failure()),
                    ]))
                },
                BytesCodec,
            ),
        )
        .route(
            COLLECT_ERR.path,
            client_streaming_handler(
                Arc::clone(&unit),
                |_: Arc<()>, request: Request<Streaming<Bytes>>| async move {
                    let mut requests = request.into_inner();
                    let mut count = 0;
                    while requests.message().await?.is_some() {
                        count += 1;
                    }
                    let mut status = failure();
                    status
                        .metadata_mut()
                        .insert("x-count", &count.to_string())
                        .unwrap();
                    Err::<Response<Bytes>, _>(status)
                },
                BytesCodec,
            ),
        )
        .route(
            CHAT_FAILS.path,
            streaming_handler(
                unit,
                |_: Arc<()>, _: Request<Streaming<Bytes>>| async move {
                    Ok(stream_response(vec![Err(failure())]))
                },
                BytesCodec,
            ),
        )
}

fn assert_failure(status: &Status, want: &MetadataMap) {
    assert_eq!(status.code(), Code::UNAVAILABLE, "{status:?}");
    assert_eq!(status.message(), "try later");
    assert_eq!(status.metadata(), want, "{status:?}");
    for reserved in ["grpc-status", "grpc-message", "grpc-status-details-bin"] {
        assert!(!status.metadata().contains_key(reserved), "{status:?}");
    }
}

/// The trailers of a call whose response had trailers and whose stream then
/// failed: the response's, then the status's, the status's `retry-after`
/// replacing the response's. Never the initial metadata.
fn merged() -> MetadataMap {
    let mut want = md(&[("x-kept", b"a")]);
    want.append_map(&error_metadata());
    want
}

#[test]
fn a_unary_error_brings_its_metadata_to_the_client() {
    let pair = Pair::new(router());
    let status = pair
        .run(pair.client.unary(
            &UNARY_ERR,
            Request::new(Bytes::from_static(b"q")),
            BytesCodec,
        ))
        .unwrap_err();
    assert_failure(&status, &error_metadata());
    assert_eq!(
        status.metadata().get_bin("err-bin"),
        Some(&[0, 1, 0xff][..])
    );
    assert_eq!(
        status
            .metadata()
            .get_all("x-request-id")
            .collect::<Vec<_>>(),
        ["r-1", "r-2"]
    );
}

#[test]
fn a_successful_call_keeps_its_trailers_in_the_response() {
    let pair = Pair::new(router());
    let response = pair
        .run(pair.client.unary(
            &UNARY_OK,
            Request::new(Bytes::from_static(b"q")),
            BytesCodec,
        ))
        .unwrap();
    assert_eq!(response.trailers(), &md(&[("x-done", b"yes")]));
}

/// A streaming handler that fails before answering: a Trailers-Only
/// response. The call returns its stream before the server answers; the
/// stream's headers and its first item are the failure.
#[test]
fn a_streaming_handler_error_is_trailers_only_with_metadata() {
    let pair = Pair::new(router());
    let (headers, first) = pair.run(async {
        let mut stream = pair
            .client
            .server_streaming(
                &EXPAND_ERR,
                Request::new(Bytes::from_static(b"q")),
                BytesCodec,
            )
            .await
            .unwrap()
            .into_inner();
        let headers = stream.headers().await.cloned();
        (headers, stream.message().await)
    });
    assert_failure(&headers.unwrap_err(), &error_metadata());
    assert_failure(&first.unwrap_err(), &error_metadata());
}

/// A stream that fails after the headers went out: the error the client's
/// stream yields carries the trailers (the response's merged with the
/// status's), the same map `Streaming::trailers` gives.
#[test]
fn a_stream_failing_after_headers_sends_merged_trailers() {
    let pair = Pair::new(router());
    let (headers, items, trailers) = pair.run(async {
        let response = pair
            .client
            .server_streaming(
                &EXPAND_FAILS,
                Request::new(Bytes::from_static(b"q")),
                BytesCodec,
            )
            .await
            .unwrap();
        assert!(
            response.metadata().is_empty(),
            "returned before the headers"
        );
        let mut stream = response.into_inner();
        let headers = stream.headers().await.unwrap().clone();
        let mut items = Vec::new();
        loop {
            match stream.message().await {
                Ok(Some(message)) => items.push(Ok(message)),
                Ok(None) => break,
                Err(status) => {
                    items.push(Err(status));
                    break;
                }
            }
        }
        (headers, items, stream.trailers().cloned())
    });
    assert_eq!(headers.get("x-initial"), Some("1"));
    assert_eq!(items.len(), 2, "{items:?}");
    assert_eq!(items[0], Ok(Bytes::from_static(b"one")));
    let status = items[1].as_ref().unwrap_err();
    assert_failure(status, &merged());
    assert_eq!(trailers.as_ref(), Some(&merged()));
    assert!(!status.metadata().contains_key("x-initial"));
}

#[test]
fn a_client_streaming_error_brings_its_metadata() {
    let pair = Pair::new(router());
    let requests = Iter(vec![Bytes::from_static(b"a"), Bytes::from_static(b"b")].into_iter());
    let status = pair
        .run(
            pair.client
                .client_streaming(&COLLECT_ERR, Request::new(requests), BytesCodec),
        )
        .unwrap_err();
    let mut want = error_metadata();
    want.insert("x-count", "2").unwrap();
    assert_failure(&status, &want);
}

#[test]
fn a_bidi_stream_error_brings_merged_metadata() {
    let pair = Pair::new(router());
    let status = pair.run(async {
        let requests = Iter(vec![Bytes::from_static(b"a")].into_iter());
        let response = pair
            .client
            .streaming(&CHAT_FAILS, Request::new(requests), BytesCodec)
            .await
            .unwrap();
        response.into_inner().message().await.unwrap_err()
    });
    assert_failure(&status, &merged());
}

/// An interceptor's rejection is a Trailers-Only response with the
/// rejection's metadata, whatever the method's kind.
#[test]
fn an_interceptor_rejection_brings_its_metadata() {
    let want = {
        let mut map = md(&[("www-authenticate", b"Bearer realm=\"t\"")]);
        map.append_bin("why-bin", b"\x01").unwrap();
        map
    };
    let denied = || {
        let mut request = Request::new(Bytes::from_static(b"q"));
        request.metadata_mut().insert("deny", "1").unwrap();
        request
    };
    let pair = Pair::new(router());
    let unary = pair
        .run(pair.client.unary(&UNARY_OK, denied(), BytesCodec))
        .unwrap_err();
    let streaming = pair.run(async {
        let mut stream = pair
            .client
            .server_streaming(&EXPAND_FAILS, denied(), BytesCodec)
            .await
            .unwrap()
            .into_inner();
        stream.message().await.unwrap_err()
    });
    for status in [unary, streaming] {
        assert_eq!(status.code(), Code::PERMISSION_DENIED, "{status:?}");
        assert_eq!(status.message(), "not you");
        assert_eq!(status.metadata(), &want);
    }
}
