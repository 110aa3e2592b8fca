//! gRPC's header blocks: building them, and validating what a peer sent.
//!
//! The rules are PROTOCOL-HTTP2.md's. Requests: `:method POST`, `:path
//! /service/method`, `content-type application/grpc[+subtype][;params]`,
//! `te: trailers`, optional `grpc-timeout`, `grpc-encoding`,
//! `grpc-accept-encoding`, `user-agent`, then custom metadata. Responses:
//! `:status 200`, `content-type`, optional `grpc-encoding` and
//! `grpc-accept-encoding`, custom metadata; trailers: `grpc-status`,
//! `grpc-message`, `grpc-status-details-bin`, custom metadata; or all of it
//! in one Trailers-Only block.
//!
//! The value-level work (metadata, status, timeout, encodings) is the codec's;
//! this module only finds the fields and assembles h2's `http` types.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, TE, USER_AGENT};
use http::uri::{Authority, PathAndQuery};
use http::{Method, Request, Response, StatusCode};

use crate::codec::compression::{Encoding, EncodingSet, Receiver, incoming_encoding};
use crate::codec::metadata::{MetadataMap, decode_binary_value};
use crate::codec::timeout::{format_timeout, parse_timeout};
use crate::{Code, Status};

pub(crate) const GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");
pub(crate) const GRPC_MESSAGE: HeaderName = HeaderName::from_static("grpc-message");
pub(crate) const GRPC_STATUS_DETAILS: HeaderName =
    HeaderName::from_static("grpc-status-details-bin");
pub(crate) const GRPC_TIMEOUT: HeaderName = HeaderName::from_static("grpc-timeout");
pub(crate) const GRPC_ENCODING: HeaderName = HeaderName::from_static("grpc-encoding");
pub(crate) const GRPC_ACCEPT_ENCODING: HeaderName = HeaderName::from_static("grpc-accept-encoding");

const APPLICATION_GRPC: HeaderValue = HeaderValue::from_static("application/grpc");
const TRAILERS: HeaderValue = HeaderValue::from_static("trailers");

/// The headers of a request, as the server application sees them.
#[derive(Debug, Clone)]
pub struct RequestHead {
    path: PathAndQuery,
    authority: Option<Authority>,
    content_type: HeaderValue,
    user_agent: Option<HeaderValue>,
    timeout: Option<Duration>,
    deadline: Option<Instant>,
    encoding: Encoding,
    accept_encodings: EncodingSet,
    metadata: MetadataMap,
}

impl RequestHead {
    /// The method path, `/package.Service/Method`.
    pub fn path(&self) -> &str {
        self.path.path()
    }

    /// The service part of the path, `package.Service`.
    pub fn service(&self) -> &str {
        split_path(self.path.path()).map_or("", |(service, _)| service)
    }

    /// The method part of the path, `Method`.
    pub fn method(&self) -> &str {
        split_path(self.path.path()).map_or("", |(_, method)| method)
    }

    /// The `:authority` the client addressed, if it sent one.
    pub fn authority(&self) -> Option<&str> {
        self.authority.as_ref().map(Authority::as_str)
    }

    /// The content subtype: `proto` for `application/grpc+proto`, `json` for
    /// `application/grpc+json`; `None` for plain `application/grpc` (which
    /// means protobuf).
    pub fn content_subtype(&self) -> Option<&str> {
        let value = self.content_type.to_str().ok()?;
        let rest = value.get("application/grpc".len()..)?;
        let rest = rest.strip_prefix('+')?;
        Some(rest.split(';').next().unwrap_or(rest).trim())
    }

    /// The `user-agent` the client sent.
    pub fn user_agent(&self) -> Option<&str> {
        self.user_agent.as_ref().and_then(|v| v.to_str().ok())
    }

    /// The `grpc-timeout` the client sent.
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// The deadline the engine derived from `grpc-timeout` (the `now` the
    /// request arrived at, plus the timeout). When it passes, the engine
    /// answers `DEADLINE_EXCEEDED` and reports the call cancelled.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// The encoding of the request's compressed messages (`identity` if the
    /// client sent no `grpc-encoding`).
    pub fn encoding(&self) -> Encoding {
        self.encoding
    }

    /// The encodings the client accepts for response messages.
    pub fn accept_encodings(&self) -> EncodingSet {
        self.accept_encodings
    }

    /// The client's custom metadata.
    pub fn metadata(&self) -> &MetadataMap {
        &self.metadata
    }

    /// The client's custom metadata, to modify (an interceptor, say).
    pub fn metadata_mut(&mut self) -> &mut MetadataMap {
        &mut self.metadata
    }

    /// The custom metadata, taking it out of the head.
    pub fn take_metadata(&mut self) -> MetadataMap {
        std::mem::take(&mut self.metadata)
    }

    pub(crate) fn content_type(&self) -> &HeaderValue {
        &self.content_type
    }
}

/// `/service/method` split in two; `None` unless both parts are non-empty
/// and there are exactly two slashes.
pub(crate) fn split_path(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix('/')?;
    let (service, method) = rest.split_once('/')?;
    if service.is_empty() || method.is_empty() || method.contains('/') {
        return None;
    }
    Some((service, method))
}

/// Why a request is answered by the engine instead of reaching the application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rejection {
    /// The HTTP status of the answer: 200 for a gRPC-level refusal.
    pub(crate) http_status: u16,
    /// The gRPC status in the answer.
    pub(crate) status: Status,
}

impl Rejection {
    fn http(http_status: u16, status: Status) -> Rejection {
        Rejection {
            http_status,
            status,
        }
    }

    fn grpc(status: Status) -> Rejection {
        Rejection::http(200, status)
    }
}

/// Whether `value` is `application/grpc`, optionally followed by `+subtype`
/// or `;parameters`.
pub(crate) fn is_grpc_content_type(value: &[u8]) -> bool {
    let Some(rest) = value.strip_prefix(b"application/grpc") else {
        return false;
    };
    matches!(rest.first(), None | Some(b'+' | b';'))
}

/// What the server needs to validate a request.
#[derive(Debug)]
pub(crate) struct RequestRules {
    pub(crate) require_te_trailers: bool,
    pub(crate) accept_encodings: EncodingSet,
}

/// Validates a request's headers into a [`RequestHead`], or says how the engine
/// must answer it.
pub(crate) fn validate_request(
    parts: http::request::Parts,
    rules: &RequestRules,
    now: Instant,
) -> Result<RequestHead, Rejection> {
    if parts.method != Method::POST {
        return Err(Rejection::http(
            405,
            Status::internal(format!(
                "gRPC requires method POST, the request used {}",
                parts.method
            )),
        ));
    }
    let headers = parts.headers;
    let content_type = match headers.get(CONTENT_TYPE) {
        Some(value) if is_grpc_content_type(value.as_bytes()) => value.clone(),
        Some(value) => {
            return Err(Rejection::http(
                415,
                Status::internal(format!(
                    "invalid gRPC request content-type {:?}",
                    String::from_utf8_lossy(value.as_bytes())
                )),
            ));
        }
        None => {
            return Err(Rejection::http(
                415,
                Status::internal("gRPC request without content-type"),
            ));
        }
    };
    if rules.require_te_trailers && headers.get(TE) != Some(&TRAILERS) {
        return Err(Rejection::http(
            400,
            Status::internal("gRPC request without \"te: trailers\""),
        ));
    }
    let path = match parts.uri.path_and_query() {
        Some(pq) if pq.query().is_none() && split_path(pq.path()).is_some() => pq.clone(),
        other => {
            return Err(Rejection::grpc(Status::unimplemented(format!(
                "malformed method name: {:?}",
                other.map_or("", PathAndQuery::as_str)
            ))));
        }
    };
    let timeout = match headers.get(GRPC_TIMEOUT) {
        Some(value) => {
            Some(parse_timeout(value.as_bytes()).map_err(|e| Rejection::grpc(e.into()))?)
        }
        None => None,
    };
    let encoding = incoming_encoding(
        headers.get(GRPC_ENCODING).map(HeaderValue::as_bytes),
        rules.accept_encodings,
        Receiver::Server,
    )
    .map_err(|e| Rejection::grpc(e.into()))?;
    let accept_encodings = headers
        .get_all(GRPC_ACCEPT_ENCODING)
        .iter()
        .fold(EncodingSet::EMPTY, |set, v| {
            set | EncodingSet::parse(v.as_bytes())
        });
    let user_agent = headers.get(USER_AGENT).cloned();
    let metadata = metadata_from_headers(&headers).map_err(Rejection::grpc)?;
    Ok(RequestHead {
        path,
        authority: parts.uri.authority().cloned(),
        content_type,
        user_agent,
        timeout,
        deadline: timeout.and_then(|t| now.checked_add(t)),
        encoding,
        accept_encodings,
        metadata,
    })
}

/// The custom metadata of a header block (reserved names skipped).
pub(crate) fn metadata_from_headers(headers: &HeaderMap) -> Result<MetadataMap, Status> {
    let mut map = MetadataMap::new();
    for (name, value) in headers {
        map.push_wire_header(name.as_str().as_bytes(), value.as_bytes())
            .map_err(Status::from)?;
    }
    Ok(map)
}

/// Appends custom metadata to a header block.
pub(crate) fn append_metadata(
    headers: &mut HeaderMap,
    metadata: &MetadataMap,
) -> Result<(), String> {
    headers
        .try_reserve(metadata.len())
        .map_err(|_| too_many_entries(metadata))?;
    for (name, value) in metadata.wire_headers() {
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|e| format!("{name:?}: {e}"))?;
        let value = match value {
            std::borrow::Cow::Borrowed(v) => HeaderValue::from_str(v),
            std::borrow::Cow::Owned(v) => HeaderValue::from_maybe_shared(Bytes::from(v)),
        }
        .map_err(|e| format!("{name}: {e}"))?;
        headers
            .try_append(name, value)
            .map_err(|_| too_many_entries(metadata))?;
    }
    Ok(())
}

/// The error for metadata with more entries than an `http::HeaderMap` holds
/// (about 24,000), which would otherwise panic inside `http`.
fn too_many_entries(metadata: &MetadataMap) -> String {
    format!(
        "{} metadata entries are more than one header block can hold",
        metadata.len()
    )
}

/// The status fields of a Trailers or Trailers-Only block.
pub(crate) fn append_status(headers: &mut HeaderMap, status: &Status) {
    let values = status.to_header_values();
    headers.insert(GRPC_STATUS, HeaderValue::from_static(values.grpc_status));
    if let Some(message) = values.grpc_message
        && let Ok(value) = HeaderValue::from_str(&message)
    {
        headers.insert(GRPC_MESSAGE, value);
    }
    if let Some(details) = values.grpc_status_details {
        let mut encoded = String::new();
        crate::codec::metadata::encode_binary_value(&details, &mut encoded);
        if let Ok(value) = HeaderValue::from_maybe_shared(Bytes::from(encoded)) {
            headers.insert(GRPC_STATUS_DETAILS, value);
        }
    }
}

/// The response headers (no status yet).
pub(crate) fn response_headers(
    content_type: &HeaderValue,
    encoding: Encoding,
    accept: EncodingSet,
    metadata: &MetadataMap,
) -> Result<Response<()>, String> {
    let mut response = Response::new(());
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, content_type.clone());
    if encoding != Encoding::Identity {
        headers.insert(GRPC_ENCODING, HeaderValue::from_static(encoding.as_str()));
    }
    if !accept.is_empty() {
        headers.insert(
            GRPC_ACCEPT_ENCODING,
            HeaderValue::from_static(accept.header_value()),
        );
    }
    append_metadata(headers, metadata)?;
    Ok(response)
}

/// A Trailers-Only response: headers and status in one block.
pub(crate) fn trailers_only(
    http_status: u16,
    content_type: &HeaderValue,
    accept: EncodingSet,
    status: &Status,
    metadata: &MetadataMap,
) -> Response<()> {
    let mut response = Response::new(());
    *response.status_mut() = StatusCode::from_u16(http_status).unwrap_or(StatusCode::OK);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, content_type.clone());
    if !accept.is_empty() {
        headers.insert(
            GRPC_ACCEPT_ENCODING,
            HeaderValue::from_static(accept.header_value()),
        );
    }
    append_status(headers, status);
    // Metadata the engine could not encode is dropped rather than losing the
    // status; `finish` validates it before it gets here.
    let _ = append_metadata(headers, metadata);
    response
}

pub(crate) fn default_content_type() -> HeaderValue {
    APPLICATION_GRPC
}

/// The trailers ending a response.
pub(crate) fn trailers(status: &Status, metadata: &MetadataMap) -> Result<HeaderMap, String> {
    let mut headers = HeaderMap::try_with_capacity(metadata.len().saturating_add(3))
        .map_err(|_| too_many_entries(metadata))?;
    append_status(&mut headers, status);
    append_metadata(&mut headers, metadata)?;
    Ok(headers)
}

/// What the client needs to build requests.
#[derive(Debug, Clone)]
pub(crate) struct RequestTemplate {
    pub(crate) scheme: http::uri::Scheme,
    pub(crate) authority: Authority,
    pub(crate) user_agent: HeaderValue,
    pub(crate) accept_encodings: EncodingSet,
}

/// Builds a request.
pub(crate) fn request(
    template: &RequestTemplate,
    path: PathAndQuery,
    metadata: &MetadataMap,
    timeout: Option<Duration>,
    encoding: Encoding,
) -> Result<Request<()>, String> {
    let uri = http::Uri::builder()
        .scheme(template.scheme.clone())
        .authority(template.authority.clone())
        .path_and_query(path)
        .build()
        .map_err(|e| e.to_string())?;
    let mut request = Request::new(());
    *request.method_mut() = Method::POST;
    *request.uri_mut() = uri;
    let headers = request.headers_mut();
    headers
        .try_reserve(metadata.len().saturating_add(6))
        .map_err(|_| too_many_entries(metadata))?;
    headers.insert(CONTENT_TYPE, APPLICATION_GRPC);
    headers.insert(TE, TRAILERS);
    headers.insert(USER_AGENT, template.user_agent.clone());
    if let Some(timeout) = timeout {
        let value = format_timeout(timeout);
        if let Ok(value) = HeaderValue::from_bytes(value.as_bytes()) {
            headers.insert(GRPC_TIMEOUT, value);
        }
    }
    if encoding != Encoding::Identity {
        headers.insert(GRPC_ENCODING, HeaderValue::from_static(encoding.as_str()));
    }
    if !template.accept_encodings.is_empty() {
        headers.insert(
            GRPC_ACCEPT_ENCODING,
            HeaderValue::from_static(template.accept_encodings.header_value()),
        );
    }
    append_metadata(headers, metadata)?;
    Ok(request)
}

/// What a client makes of response headers.
#[derive(Debug)]
pub(crate) enum ResponseStart {
    /// Headers of a response that will carry messages and trailers.
    Headers {
        metadata: MetadataMap,
        encoding: Encoding,
    },
    /// The call is over: a Trailers-Only response, or a response that cannot
    /// be gRPC (an HTTP error from a proxy, a wrong content-type).
    Finished {
        status: Status,
        metadata: MetadataMap,
    },
}

/// Classifies response headers (`end_stream`: the HEADERS frame ended the
/// stream, i.e. Trailers-Only).
pub(crate) fn classify_response(
    parts: &http::response::Parts,
    end_stream: bool,
    accept: EncodingSet,
) -> ResponseStart {
    let headers = &parts.headers;
    let metadata = || metadata_from_headers(headers);
    if end_stream || headers.contains_key(GRPC_STATUS) {
        // Trailers-Only (a grpc-status in the headers is only meaningful there).
        let status = if headers.contains_key(GRPC_STATUS) {
            status_from_headers(headers)
        } else {
            Status::from_http_status(parts.status.as_u16())
        };
        return match metadata() {
            Ok(metadata) => ResponseStart::Finished { status, metadata },
            Err(err) => ResponseStart::Finished {
                status: err,
                metadata: MetadataMap::new(),
            },
        };
    }
    if parts.status != StatusCode::OK {
        return ResponseStart::Finished {
            status: Status::from_http_status(parts.status.as_u16()),
            metadata: MetadataMap::new(),
        };
    }
    match headers.get(CONTENT_TYPE) {
        Some(v) if is_grpc_content_type(v.as_bytes()) => {}
        other => {
            return ResponseStart::Finished {
                status: Status::unknown(format!(
                    "response content-type {:?} is not application/grpc",
                    other.map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                )),
                metadata: MetadataMap::new(),
            };
        }
    }
    let encoding = match incoming_encoding(
        headers.get(GRPC_ENCODING).map(HeaderValue::as_bytes),
        accept,
        Receiver::Client,
    ) {
        Ok(encoding) => encoding,
        Err(err) => {
            return ResponseStart::Finished {
                status: err.into(),
                metadata: MetadataMap::new(),
            };
        }
    };
    match metadata() {
        Ok(metadata) => ResponseStart::Headers { metadata, encoding },
        Err(status) => ResponseStart::Finished {
            status,
            metadata: MetadataMap::new(),
        },
    }
}

/// The status carried by a block that has `grpc-status`.
fn status_from_headers(headers: &HeaderMap) -> Status {
    let Some(code) = headers.get(GRPC_STATUS) else {
        return Status::internal("trailers without grpc-status");
    };
    let message = headers.get(GRPC_MESSAGE).map(HeaderValue::as_bytes);
    let details = match headers.get(GRPC_STATUS_DETAILS) {
        None => None,
        Some(value) => {
            let mut decoded = Vec::new();
            match decode_binary_value(value.as_bytes(), &mut decoded) {
                Ok(()) => Some(Bytes::from(decoded)),
                // Broken details must not hide the status the headers carry.
                Err(_) => None,
            }
        }
    };
    Status::from_header_values(code.as_bytes(), message, details)
}

/// The status and trailing metadata of a response's trailers.
pub(crate) fn status_from_trailers(headers: &HeaderMap) -> (Status, MetadataMap) {
    let status = if headers.contains_key(GRPC_STATUS) {
        status_from_headers(headers)
    } else {
        Status::internal("server sent trailers without grpc-status")
    };
    match metadata_from_headers(headers) {
        Ok(metadata) => (status, metadata),
        // Malformed trailing metadata: the status still stands unless it
        // claimed success, which the broken trailers contradict.
        Err(err) if status.code() == Code::OK => (err, MetadataMap::new()),
        Err(_) => (status, MetadataMap::new()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::type_complexity)]
mod tests {
    use super::*;

    fn rules() -> RequestRules {
        RequestRules {
            require_te_trailers: true,
            accept_encodings: EncodingSet::supported(),
        }
    }

    fn req(method: &str, path: &str, headers: &[(&str, &str)]) -> http::request::Parts {
        let mut b = Request::builder()
            .method(method)
            .uri(format!("http://example.com{path}"));
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    const GOOD: &[(&str, &str)] = &[("content-type", "application/grpc"), ("te", "trailers")];

    #[test]
    fn a_good_request_is_accepted() {
        let now = Instant::now();
        let mut headers = GOOD.to_vec();
        headers.extend([
            ("grpc-timeout", "1S"),
            ("x-user", "ann"),
            ("trace-bin", "AAE"),
            ("user-agent", "test/1"),
            ("grpc-accept-encoding", "gzip, zstd"),
        ]);
        let head = validate_request(req("POST", "/pkg.Svc/Do", &headers), &rules(), now).unwrap();
        assert_eq!(head.path(), "/pkg.Svc/Do");
        assert_eq!(head.service(), "pkg.Svc");
        assert_eq!(head.method(), "Do");
        assert_eq!(head.authority(), Some("example.com"));
        assert_eq!(head.timeout(), Some(Duration::from_secs(1)));
        assert_eq!(head.deadline(), Some(now + Duration::from_secs(1)));
        assert_eq!(head.metadata().get("x-user"), Some("ann"));
        assert_eq!(head.metadata().get_bin("trace-bin"), Some(&[0u8, 1][..]));
        assert_eq!(
            head.metadata().len(),
            2,
            "reserved headers are not metadata"
        );
        assert_eq!(head.user_agent(), Some("test/1"));
        assert_eq!(head.content_subtype(), None);
        assert_eq!(head.encoding(), Encoding::Identity);
        assert!(head.accept_encodings().contains(Encoding::Gzip));
        assert!(head.accept_encodings().contains(Encoding::Zstd));
    }

    #[test]
    fn content_subtypes_are_read() {
        let now = Instant::now();
        let parts = req(
            "POST",
            "/a/b",
            &[
                ("content-type", "application/grpc+json"),
                ("te", "trailers"),
            ],
        );
        let head = validate_request(parts, &rules(), now).unwrap();
        assert_eq!(head.content_subtype(), Some("json"));
    }

    #[test]
    fn bad_requests_are_rejected_as_the_spec_says() {
        let now = Instant::now();
        let table: &[(&str, &str, &[(&str, &str)], u16, Code)] = &[
            ("GET", "/a/b", GOOD, 405, Code::INTERNAL),
            ("PUT", "/a/b", GOOD, 405, Code::INTERNAL),
            ("POST", "/a/b", &[("te", "trailers")], 415, Code::INTERNAL),
            (
                "POST",
                "/a/b",
                &[("content-type", "application/json"), ("te", "trailers")],
                415,
                Code::INTERNAL,
            ),
            (
                "POST",
                "/a/b",
                &[("content-type", "application/grpcx"), ("te", "trailers")],
                415,
                Code::INTERNAL,
            ),
            (
                "POST",
                "/a/b",
                &[("content-type", "application/grpc")],
                400,
                Code::INTERNAL,
            ),
            (
                "POST",
                "/a/b",
                &[("content-type", "application/grpc"), ("te", "gzip")],
                400,
                Code::INTERNAL,
            ),
            ("POST", "/", GOOD, 200, Code::UNIMPLEMENTED),
            ("POST", "/a", GOOD, 200, Code::UNIMPLEMENTED),
            ("POST", "/a/", GOOD, 200, Code::UNIMPLEMENTED),
            ("POST", "//b", GOOD, 200, Code::UNIMPLEMENTED),
            ("POST", "/a/b/c", GOOD, 200, Code::UNIMPLEMENTED),
            ("POST", "/a/b?x=1", GOOD, 200, Code::UNIMPLEMENTED),
        ];
        for (method, path, headers, http, code) in table {
            let err = validate_request(req(method, path, headers), &rules(), now).unwrap_err();
            assert_eq!(
                (err.http_status, err.status.code()),
                (*http, *code),
                "{method} {path} {headers:?}"
            );
        }
    }

    #[test]
    fn bad_grpc_fields_are_rejected() {
        let now = Instant::now();
        let with = |extra: (&'static str, &'static str)| {
            let mut h = GOOD.to_vec();
            h.push(extra);
            validate_request(req("POST", "/a/b", &h), &rules(), now).unwrap_err()
        };
        let err = with(("grpc-timeout", "1x"));
        assert_eq!((err.http_status, err.status.code()), (200, Code::INTERNAL));
        let err = with(("grpc-encoding", "snappy"));
        assert_eq!(err.status.code(), Code::UNIMPLEMENTED);
        assert!(err.status.message().contains("identity"), "{}", err.status);
        let err = with(("x-bad-bin", "!!!"));
        assert_eq!(err.status.code(), Code::INTERNAL);
    }

    #[test]
    fn te_can_be_optional() {
        let rules = RequestRules {
            require_te_trailers: false,
            accept_encodings: EncodingSet::supported(),
        };
        let parts = req("POST", "/a/b", &[("content-type", "application/grpc")]);
        assert!(validate_request(parts, &rules, Instant::now()).is_ok());
    }

    #[test]
    fn status_round_trips_through_trailers() {
        let mut md = MetadataMap::new();
        md.insert("x-a", "1").unwrap();
        md.insert_bin("x-b-bin", &[0xff, 0]).unwrap();
        let status = Status::new(Code::NOT_FOUND, "nöt found: 100%");
        let headers = trailers(&status, &md).unwrap();
        assert_eq!(headers.get("grpc-status").unwrap(), "5");
        let (back, back_md) = status_from_trailers(&headers);
        assert_eq!(back, status);
        assert_eq!(back_md, md);
    }

    /// More entries than an `http::HeaderMap` holds is an error in every
    /// block the engine builds, never a panic inside `http`.
    #[test]
    fn too_much_metadata_is_an_error_not_a_panic() {
        let mut md = MetadataMap::new();
        for _ in 0..30_000 {
            md.append("x", "1").unwrap();
        }
        let err = trailers(&Status::ok(), &md).unwrap_err();
        assert!(err.contains("30000 metadata entries"), "{err}");
        let mut response = Response::new(());
        assert!(append_metadata(response.headers_mut(), &md).is_err());
        assert!(
            response_headers(
                &APPLICATION_GRPC,
                Encoding::Identity,
                EncodingSet::EMPTY,
                &md
            )
            .is_err()
        );
        let template = RequestTemplate {
            scheme: http::uri::Scheme::HTTP,
            authority: Authority::from_static("x"),
            user_agent: HeaderValue::from_static("t"),
            accept_encodings: EncodingSet::EMPTY,
        };
        let path = PathAndQuery::from_static("/a/b");
        assert!(request(&template, path, &md, None, Encoding::Identity).is_err());
        // Trailers-Only keeps the status and drops what does not fit.
        let block = trailers_only(
            200,
            &APPLICATION_GRPC,
            EncodingSet::EMPTY,
            &Status::ok(),
            &md,
        );
        assert_eq!(block.headers().get(GRPC_STATUS).unwrap(), "0");
    }

    #[test]
    fn missing_or_malformed_grpc_status_is_a_status() {
        let (status, _) = status_from_trailers(&HeaderMap::new());
        assert_eq!(status.code(), Code::INTERNAL);
        let mut h = HeaderMap::new();
        h.insert("grpc-status", HeaderValue::from_static("abc"));
        assert_eq!(status_from_trailers(&h).0.code(), Code::UNKNOWN);
    }

    fn response(status: u16, headers: &[(&str, &str)]) -> http::response::Parts {
        let mut b = Response::builder().status(status);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    #[test]
    fn responses_are_classified() {
        let all = EncodingSet::supported();
        let ok = response(200, &[("content-type", "application/grpc"), ("x-a", "1")]);
        match classify_response(&ok, false, all) {
            ResponseStart::Headers { metadata, encoding } => {
                assert_eq!(metadata.get("x-a"), Some("1"));
                assert_eq!(encoding, Encoding::Identity);
            }
            other => panic!("{other:?}"),
        }
        let table: &[(u16, &[(&str, &str)], bool, Code)] = &[
            (503, &[], true, Code::UNAVAILABLE),
            (503, &[], false, Code::UNAVAILABLE),
            (
                404,
                &[("content-type", "text/html")],
                false,
                Code::UNIMPLEMENTED,
            ),
            (200, &[("content-type", "text/html")], false, Code::UNKNOWN),
            (200, &[], false, Code::UNKNOWN),
            (
                200,
                &[("content-type", "application/grpc")],
                true,
                Code::UNKNOWN,
            ),
            (
                200,
                &[("content-type", "application/grpc"), ("grpc-status", "7")],
                true,
                Code::PERMISSION_DENIED,
            ),
            (
                500,
                &[("content-type", "application/grpc"), ("grpc-status", "0")],
                true,
                Code::OK,
            ),
            (
                200,
                &[("content-type", "application/grpc"), ("grpc-status", "x")],
                true,
                Code::UNKNOWN,
            ),
            (
                200,
                &[
                    ("content-type", "application/grpc"),
                    ("grpc-encoding", "br"),
                ],
                false,
                Code::INTERNAL,
            ),
        ];
        for (http, headers, eos, code) in table {
            match classify_response(&response(*http, headers), *eos, all) {
                ResponseStart::Finished { status, .. } => {
                    assert_eq!(status.code(), *code, "{http} {headers:?} {eos}");
                }
                other => panic!("{http} {headers:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn requests_carry_the_grpc_fields() {
        let template = RequestTemplate {
            scheme: http::uri::Scheme::HTTP,
            authority: Authority::from_static("svc:50051"),
            user_agent: HeaderValue::from_static("ferrule-test"),
            accept_encodings: EncodingSet::only(Encoding::Identity),
        };
        let mut md = MetadataMap::new();
        md.insert("x-a", "1").unwrap();
        let req = request(
            &template,
            PathAndQuery::from_static("/a/b"),
            &md,
            Some(Duration::from_millis(1500)),
            Encoding::Identity,
        )
        .unwrap();
        assert_eq!(req.method(), Method::POST);
        assert_eq!(req.uri(), "http://svc:50051/a/b");
        let h = req.headers();
        assert_eq!(h.get("content-type").unwrap(), "application/grpc");
        assert_eq!(h.get("te").unwrap(), "trailers");
        assert_eq!(h.get("grpc-timeout").unwrap(), "1500000u");
        assert_eq!(h.get("grpc-accept-encoding").unwrap(), "identity");
        assert_eq!(h.get("x-a").unwrap(), "1");
        assert!(h.get("grpc-encoding").is_none());
    }

    use quickcheck::TestResult;
    use quickcheck_macros::quickcheck;

    /// Any status (any code, any message) and any valid ASCII metadata survive
    /// a trip through a trailer block.
    #[quickcheck]
    fn trailers_round_trip(code: u8, message: String, values: Vec<(u8, String)>) -> TestResult {
        let mut md = MetadataMap::new();
        for (i, (k, v)) in values.iter().enumerate() {
            let key = format!("k{}-{k}", i % 4);
            let v: String = v.chars().filter(|c| (' '..='~').contains(c)).collect();
            let v = v.trim();
            if md.append(&key, v).is_err() {
                return TestResult::discard();
            }
        }
        let status = Status::new(Code::from_i32(i32::from(code % 17)), message);
        let block = match trailers(&status, &md) {
            Ok(block) => block,
            Err(_) => return TestResult::discard(),
        };
        let (back, back_md) = status_from_trailers(&block);
        // HTTP groups the fields of one name together: compare each key's
        // values, in order, not the interleaving of keys.
        let by_key = |m: &MetadataMap| {
            let mut keys: Vec<String> = m.keys().map(str::to_owned).collect();
            keys.sort();
            keys.into_iter()
                .map(|k| {
                    let values: Vec<String> = m.get_all(&k).map(str::to_owned).collect();
                    (k, values)
                })
                .collect::<Vec<_>>()
        };
        TestResult::from_bool(back == status && by_key(&back_md) == by_key(&md))
    }

    /// What `request` builds, `validate_request` accepts, with the same path,
    /// timeout (rounded up to the format's unit) and metadata.
    #[quickcheck]
    fn requests_round_trip(
        service: String,
        method: String,
        millis: Option<u32>,
        bin: Vec<u8>,
    ) -> TestResult {
        let clean = |s: &str| {
            s.chars()
                .filter(char::is_ascii_alphanumeric)
                .collect::<String>()
        };
        let (service, method) = (clean(&service), clean(&method));
        if service.is_empty() || method.is_empty() {
            return TestResult::discard();
        }
        let template = RequestTemplate {
            scheme: http::uri::Scheme::HTTP,
            authority: Authority::from_static("x"),
            user_agent: HeaderValue::from_static("t"),
            accept_encodings: EncodingSet::supported(),
        };
        let mut md = MetadataMap::new();
        md.insert_bin("blob-bin", &bin).unwrap();
        let path = format!("/{service}/{method}");
        let timeout = millis.map(|m| Duration::from_millis(u64::from(m)));
        let req = request(
            &template,
            PathAndQuery::try_from(path.as_str()).unwrap(),
            &md,
            timeout,
            Encoding::Identity,
        )
        .unwrap();
        let now = Instant::now();
        let head = validate_request(req.into_parts().0, &rules(), now).unwrap();
        TestResult::from_bool(
            head.path() == path
                && head.service() == service
                && head.method() == method
                && head.metadata() == &md
                && match (head.timeout(), timeout) {
                    // Formatting rounds up, by less than one unit: at least
                    // 10^5 units once the finer unit needs 9 digits.
                    (Some(got), Some(sent)) => {
                        got >= sent && got - sent <= sent / 100_000 + Duration::from_nanos(1)
                    }
                    (None, None) => true,
                    _ => false,
                },
        )
    }
}
