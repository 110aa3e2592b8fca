//! One gRPC call of each kind over raw h2, with every response checked byte for byte.

use std::future::poll_fn;

use bench_harness::h2io::{recv_chunk, send_flow_controlled};
use bench_harness::wire::{self, Deframer, EchoRequest};
use bytes::Bytes;
use h2::RecvStream;
use h2::client::{ResponseFuture, SendRequest};
use http::{HeaderMap, HeaderValue, Method, Request, Uri};

/// Response messages larger than this are a protocol error here.
const MAX_MESSAGE: usize = 64 << 20;

/// What a call kind sends and expects, encoded once before the run.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The method's full URI.
    uri: Uri,
    /// The request messages of one call, each framed.
    request: Bytes,
    /// How many times `request` is sent per call (bidi: once per message).
    request_repeats: usize,
    /// The response message every message must equal.
    expected: Bytes,
    /// Response messages per call.
    expected_count: usize,
}

/// The counts of one successful call.
#[derive(Clone, Copy, Debug, Default)]
pub struct CallOutcome {
    /// Request message bytes sent (without gRPC prefixes).
    pub bytes_sent: u64,
    /// Response messages received.
    pub messages: u64,
    /// Response message bytes received (without gRPC prefixes).
    pub bytes_received: u64,
}

/// Why a call failed.
#[derive(Debug)]
pub enum CallError {
    /// HTTP/2 failed (reset, GOAWAY, connection lost).
    Http2(h2::Error),
    /// The server answered with something other than the expected gRPC response.
    Invalid(String),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Http2(e) => write!(f, "HTTP/2: {e}"),
            CallError::Invalid(what) => f.write_str(what),
        }
    }
}

impl std::error::Error for CallError {}

impl From<h2::Error> for CallError {
    fn from(e: h2::Error) -> Self {
        CallError::Http2(e)
    }
}

fn invalid(what: impl Into<String>) -> CallError {
    CallError::Invalid(what.into())
}

impl Plan {
    /// `SayHello` with a request message of `request_size` bytes.
    pub fn unary(authority: &str, request_size: usize) -> Result<Self, http::Error> {
        let request = wire::hello_request(request_size);
        let name = wire::parse_hello_request(&request).unwrap_or_default();
        Ok(Plan {
            uri: uri(authority, wire::SAY_HELLO)?,
            expected: wire::hello_reply(name),
            request: wire::frame(&request),
            request_repeats: 1,
            expected_count: 1,
        })
    }

    /// `ServerStream` asking for `count` responses of `size` bytes.
    pub fn server_stream(authority: &str, size: u32, count: u32) -> Result<Self, http::Error> {
        let request = EchoRequest {
            response_size: size,
            response_count: count,
            payload_len: 0,
        };
        Ok(Plan {
            uri: uri(authority, wire::SERVER_STREAM)?,
            request: wire::frame(&wire::echo_request(request)),
            request_repeats: 1,
            expected: wire::echo_response(size as usize),
            expected_count: count as usize,
        })
    }

    /// `BidiStream` exchanging `count` messages of `size` payload bytes each way.
    pub fn bidi(authority: &str, size: u32, count: u32) -> Result<Self, http::Error> {
        let request = EchoRequest {
            response_size: size,
            response_count: 1,
            payload_len: size as usize,
        };
        Ok(Plan {
            uri: uri(authority, wire::BIDI_STREAM)?,
            request: wire::frame(&wire::echo_request(request)),
            request_repeats: count as usize,
            expected: wire::echo_response(size as usize),
            expected_count: count as usize,
        })
    }

    fn request_headers(&self) -> Request<()> {
        let mut request = Request::new(());
        *request.method_mut() = Method::POST;
        *request.uri_mut() = self.uri.clone();
        let headers = request.headers_mut();
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/grpc"),
        );
        headers.insert(http::header::TE, HeaderValue::from_static("trailers"));
        request
    }

    /// Makes one call on `sender` and checks everything that comes back.
    pub async fn call(&self, sender: &mut SendRequest<Bytes>) -> Result<CallOutcome, CallError> {
        poll_fn(|cx| sender.poll_ready(cx)).await?;
        let (response, mut send) = sender.send_request(self.request_headers(), false)?;
        let message_len = (self.request.len() - wire::FRAME_HEADER_LEN) as u64;
        let sending = async {
            for i in 0..self.request_repeats {
                let last = i + 1 == self.request_repeats;
                send_flow_controlled(&mut send, self.request.clone(), last).await?;
            }
            Ok::<(), CallError>(())
        };
        let (sent, received) = tokio::join!(sending, self.receive(response));
        let mut outcome = received?;
        sent?;
        outcome.bytes_sent = message_len * self.request_repeats as u64;
        Ok(outcome)
    }

    async fn receive(&self, response: ResponseFuture) -> Result<CallOutcome, CallError> {
        let response = response.await?;
        check_headers(response.status(), response.headers())?;
        let mut body = response.into_body();
        let mut deframer = Deframer::new(MAX_MESSAGE);
        let mut outcome = CallOutcome::default();
        while let Some(chunk) = recv_chunk(&mut body).await {
            deframer.push(chunk?);
            while let Some(message) = deframer
                .next_message()
                .map_err(|e| invalid(e.to_string()))?
            {
                if message != self.expected {
                    return Err(invalid(format!(
                        "response message {} differs from the expected one ({} bytes, expected {})",
                        outcome.messages,
                        message.len(),
                        self.expected.len()
                    )));
                }
                outcome.messages += 1;
                outcome.bytes_received += message.len() as u64;
            }
        }
        deframer.finish().map_err(|e| invalid(e.to_string()))?;
        check_trailers(&mut body).await?;
        if outcome.messages != self.expected_count as u64 {
            return Err(invalid(format!(
                "{} response messages, expected {}",
                outcome.messages, self.expected_count
            )));
        }
        Ok(outcome)
    }

    /// One call, printing what the server sent (headers, trailers) to stderr.
    pub async fn show(&self, sender: &mut SendRequest<Bytes>) -> Result<(), CallError> {
        poll_fn(|cx| sender.poll_ready(cx)).await?;
        let (response, mut send) = sender.send_request(self.request_headers(), false)?;
        for i in 0..self.request_repeats {
            send_flow_controlled(
                &mut send,
                self.request.clone(),
                i + 1 == self.request_repeats,
            )
            .await?;
        }
        let response = response.await?;
        eprintln!("status: {}", response.status());
        for (name, value) in response.headers() {
            eprintln!("header: {name}: {value:?}");
        }
        let mut body = response.into_body();
        let mut data = 0usize;
        let mut frames = 0usize;
        while let Some(chunk) = recv_chunk(&mut body).await {
            data += chunk?.len();
            frames += 1;
        }
        eprintln!("body: {data} bytes in {frames} DATA chunks");
        for (name, value) in body.trailers().await?.unwrap_or_default().iter() {
            eprintln!("trailer: {name}: {value:?}");
        }
        Ok(())
    }
}

fn uri(authority: &str, path: &str) -> Result<Uri, http::Error> {
    Uri::builder()
        .scheme("http")
        .authority(authority)
        .path_and_query(path)
        .build()
}

fn check_headers(status: http::StatusCode, headers: &HeaderMap) -> Result<(), CallError> {
    if status != http::StatusCode::OK {
        return Err(invalid(format!("HTTP status {status}")));
    }
    let content_type = headers
        .get(http::header::CONTENT_TYPE)
        .map(HeaderValue::as_bytes);
    if !content_type.is_some_and(|ct| ct.starts_with(b"application/grpc")) {
        return Err(invalid(format!("content-type {content_type:?}")));
    }
    if let Some(status) = headers.get("grpc-status") {
        // Trailers-Only: the call failed before any message.
        return Err(invalid(format!(
            "grpc-status {status:?} (trailers-only), grpc-message {:?}",
            headers.get("grpc-message")
        )));
    }
    Ok(())
}

async fn check_trailers(body: &mut RecvStream) -> Result<(), CallError> {
    let trailers = body
        .trailers()
        .await?
        .ok_or_else(|| invalid("no trailers"))?;
    match trailers.get("grpc-status").map(HeaderValue::as_bytes) {
        Some(b"0") => Ok(()),
        other => Err(invalid(format!(
            "grpc-status {:?}, grpc-message {:?}",
            other.map(String::from_utf8_lossy),
            trailers.get("grpc-message")
        ))),
    }
}
