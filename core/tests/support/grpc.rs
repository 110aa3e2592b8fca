//! gRPC-over-HTTP/2 pieces for tests: request/response header lists and the
//! 5-byte length-prefixed message framing, written out by hand (see grpc
//! `doc/PROTOCOL-HTTP2.md`) so the tests do not lean on the codec under test.

use super::frames::{Fields, fields};

/// A gRPC request header list, built step by step.
///
/// ```ignore
/// let headers = GrpcRequest::new("/pkg.Svc/Method").timeout("1S").metadata("x-id", "7").fields();
/// ```
#[derive(Clone, Debug)]
pub struct GrpcRequest {
    path: String,
    authority: String,
    scheme: String,
    content_type: String,
    timeout: Option<String>,
    metadata: Fields,
}

impl GrpcRequest {
    /// `POST path` to `localhost` over `http`, `application/grpc`, `te: trailers`.
    pub fn new(path: &str) -> GrpcRequest {
        GrpcRequest {
            path: path.to_owned(),
            authority: "localhost".to_owned(),
            scheme: "http".to_owned(),
            content_type: "application/grpc".to_owned(),
            timeout: None,
            metadata: Fields::new(),
        }
    }

    pub fn authority(mut self, authority: &str) -> GrpcRequest {
        self.authority = authority.to_owned();
        self
    }

    pub fn scheme(mut self, scheme: &str) -> GrpcRequest {
        self.scheme = scheme.to_owned();
        self
    }

    pub fn content_type(mut self, content_type: &str) -> GrpcRequest {
        self.content_type = content_type.to_owned();
        self
    }

    /// `grpc-timeout` exactly as given (`"100m"`, `"5S"`, or garbage).
    pub fn timeout(mut self, value: &str) -> GrpcRequest {
        self.timeout = Some(value.to_owned());
        self
    }

    /// A custom metadata entry, after the reserved headers.
    pub fn metadata(mut self, name: &str, value: &str) -> GrpcRequest {
        self.metadata.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The header list in the order gRPC clients send it: pseudo-headers,
    /// then `content-type`, `te`, `grpc-timeout`, metadata.
    pub fn fields(&self) -> Fields {
        let mut out = fields(&[
            (":method", "POST"),
            (":scheme", &self.scheme),
            (":path", &self.path),
            (":authority", &self.authority),
            ("content-type", &self.content_type),
            ("te", "trailers"),
        ]);
        if let Some(timeout) = &self.timeout {
            out.push(("grpc-timeout".to_owned(), timeout.clone()));
        }
        out.extend(self.metadata.iter().cloned());
        out
    }
}

/// Response headers: `:status 200`, `content-type: application/grpc`.
pub fn response_headers() -> Fields {
    fields(&[(":status", "200"), ("content-type", "application/grpc")])
}

/// Trailers with `grpc-status` and, if not empty, `grpc-message` (given
/// already percent-encoded).
pub fn trailers(code: u32, message: &str) -> Fields {
    let mut out = vec![("grpc-status".to_owned(), code.to_string())];
    if !message.is_empty() {
        out.push(("grpc-message".to_owned(), message.to_owned()));
    }
    out
}

/// Trailers-Only response: `:status 200`, content type and status in one
/// HEADERS frame (sent with END_STREAM).
pub fn trailers_only(code: u32, message: &str) -> Fields {
    let mut out = response_headers();
    out.extend(trailers(code, message));
    out
}

/// One length-prefixed message: compressed flag (0), 4-byte big-endian
/// length, payload.
pub fn message(payload: &[u8]) -> Vec<u8> {
    message_with_flag(0, payload)
}

/// A length-prefixed message with any flag byte (1 = compressed; others
/// are invalid and should be rejected).
pub fn message_with_flag(flag: u8, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).expect("message length fits u32");
    let mut out = Vec::with_capacity(5 + payload.len());
    out.push(flag);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// A message header declaring `declared_len` bytes, for lying about sizes.
pub fn message_header(flag: u8, declared_len: u32) -> [u8; 5] {
    let len = declared_len.to_be_bytes();
    [flag, len[0], len[1], len[2], len[3]]
}

/// Splits a complete body into `(flag, payload)` messages. Panics on a
/// truncated body: in a test, the body should be whole.
pub fn parse_messages(mut body: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    while !body.is_empty() {
        assert!(body.len() >= 5, "truncated gRPC message header: {body:?}");
        let flag = body[0];
        let len = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
        assert!(
            body.len() >= 5 + len,
            "truncated gRPC message: {len} bytes declared, {} present",
            body.len() - 5
        );
        out.push((flag, body[5..5 + len].to_vec()));
        body = &body[5 + len..];
    }
    out
}
