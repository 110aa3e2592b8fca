//! The interop client cases of grpc/grpc `doc/interop-test-descriptions.md`
//! on ferrule, plus the 4 MiB message-limit checks ([`EXTRA_CASES`]).
//!
//! How cases map onto ferrule's API, where it differs from other
//! implementations:
//!
//! - **Compressed-Flag** of each message: sent with
//!   [`OutboundMessage`] (`client_compressed_streaming` sends a compressed
//!   then an uncompressed message on one gzip call); received with
//!   `Response::message_compressed` and `Streaming::message_flagged`
//!   (`server_compressed_*`).
//! - **Cancellation** (`cancel_after_begin`, `cancel_after_first_response`):
//!   a ferrule call is cancelled by dropping it, after which there is no
//!   status left to read. The case drops the call and checks what the
//!   cancellation must produce on the wire: `RST_STREAM(CANCEL)` on the call's
//!   stream (seen by the tap).
//! - **Bidirectional calls** return once the response headers arrive, and
//!   servers (grpcio's among them) may hold the headers back until their
//!   first response, so the first request is queued before the call is
//!   awaited.
//!
//! Every official case runs ([`CANNOT_RUN`] is empty).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use ferrule::core::api::Runtime;
use ferrule::{
    Channel, Client, Code, Encoding, MetadataMap, OutboundMessage, Request, Status, Streaming,
};
use prost::Message;

use crate::pb::test_service_client::TestServiceClient;
use crate::pb::unimplemented_service_client::UnimplementedServiceClient;
use crate::pb::{
    BoolValue, EchoStatus, Empty, Payload, PayloadType, ResponseParameters, SimpleRequest,
    SimpleResponse, StreamingInputCallRequest, StreamingOutputCallRequest,
};
use crate::rt::{sleep, within};
use crate::server::{ECHO_INITIAL_KEY, ECHO_TRAILING_KEY};
use crate::tap::{StreamRef, WireLog};

/// The official cases, in the order `all` runs them.
pub const CASES: &[&str] = &[
    "empty_unary",
    "large_unary",
    "client_compressed_unary",
    "server_compressed_unary",
    "client_streaming",
    "client_compressed_streaming",
    "server_streaming",
    "server_compressed_streaming",
    "ping_pong",
    "empty_stream",
    "timeout_on_sleeping_server",
    "cancel_after_begin",
    "cancel_after_first_response",
    "custom_metadata",
    "status_code_and_message",
    "special_status_message",
    "unimplemented_method",
    "unimplemented_service",
];

/// ferrule-only checks, run only when named: the 4 MiB default receive
/// limit (a request or response of exactly 4 MiB passes, one byte more is
/// `RESOURCE_EXHAUSTED`: the server's limit for requests, this client's for
/// responses), and `error_trailers` (a UnaryCall failed through
/// `response_status` still echoes `x-grpc-test-echo-trailing-bin`, and the
/// failed call's [`Status::metadata`] holds it).
pub const EXTRA_CASES: &[&str] = &[
    "max_request_at_limit",
    "max_request_over_limit",
    "max_response_at_limit",
    "max_response_over_limit",
    "error_trailers",
];

/// The default receive limit of gRPC implementations, ferrule's included.
pub const DEFAULT_MAX_MESSAGE: usize = 4 * 1024 * 1024;

/// Cases this client cannot run, with the reason: none at present.
pub const CANNOT_RUN: &[(&str, &str)] = &[];

/// The reason `case` cannot run, if it cannot.
pub fn cannot_run(case: &str) -> Option<&'static str> {
    CANNOT_RUN
        .iter()
        .find(|(name, _)| *name == case)
        .map(|(_, reason)| *reason)
}

const ECHO_INITIAL_VALUE: &str = "test_initial_metadata_value";
const ECHO_TRAILING_VALUE: &[u8] = &[0xab, 0xab, 0xab];
const STATUS_MESSAGE: &str = "test status message";
const SPECIAL_STATUS_MESSAGE: &str =
    "\t\ntest with whitespace\r\nand Unicode BMP \u{263a} and non-BMP \u{1f608}\t\n";
/// RST_STREAM error code CANCEL (RFC 9113 section 7).
const H2_CANCEL: u32 = 0x8;

/// A case's verdict: `Err` holds why it failed.
pub type CaseResult = Result<(), String>;

fn check(condition: bool, why: impl FnOnce() -> String) -> CaseResult {
    if condition { Ok(()) } else { Err(why()) }
}

fn describe(status: &Status) -> String {
    format!(
        "{} ({}) {:?}",
        status.code().name().unwrap_or("?"),
        status.code().as_i32(),
        status.message()
    )
}

fn failed(what: &str) -> impl FnOnce(Status) -> String + '_ {
    move |status| format!("{what}: unexpected status {}", describe(&status))
}

/// The call must fail with `code`; returns its status.
fn expect_code<T>(result: Result<T, Status>, code: Code, what: &str) -> Result<Status, String> {
    match result {
        Ok(_) => Err(format!(
            "{what}: succeeded, want {}",
            code.name().unwrap_or("?")
        )),
        Err(status) if status.code() == code => Ok(status),
        Err(status) => Err(format!(
            "{what}: status {}, want {}",
            describe(&status),
            code.name().unwrap_or("?")
        )),
    }
}

fn check_payload(payload: Option<&Payload>, size: usize) -> CaseResult {
    let Some(payload) = payload else {
        return Err(format!("no payload, want {size} bytes"));
    };
    check(payload.r#type == PayloadType::Compressable as i32, || {
        format!("payload type {}, want COMPRESSABLE", payload.r#type)
    })?;
    check(payload.body.len() == size, || {
        format!("payload body {} bytes, want {size}", payload.body.len())
    })?;
    check(payload.body.iter().all(|&b| b == 0), || {
        "payload body is not all zeros".to_owned()
    })
}

fn zeros(len: usize) -> Option<Payload> {
    Some(Payload {
        r#type: PayloadType::Compressable as i32,
        body: vec![0; len],
    })
}

fn large_request() -> SimpleRequest {
    SimpleRequest {
        response_type: PayloadType::Compressable as i32,
        response_size: 314_159,
        payload: zeros(271_828),
        ..SimpleRequest::default()
    }
}

fn streaming_request(response_size: i32, payload_size: usize) -> StreamingOutputCallRequest {
    StreamingOutputCallRequest {
        response_type: PayloadType::Compressable as i32,
        response_parameters: vec![ResponseParameters {
            size: response_size,
            ..ResponseParameters::default()
        }],
        payload: zeros(payload_size),
        ..StreamingOutputCallRequest::default()
    }
}

/// Reads a response stream to its end.
async fn drain<T>(stream: &mut Streaming<T>) -> Result<Vec<T>, Status> {
    let mut all = Vec::new();
    while let Some(message) = stream.message().await? {
        all.push(message);
    }
    Ok(all)
}

/// A message with the two echo metadata entries.
fn echo_request<T>(message: T) -> Result<Request<T>, String> {
    let mut request = Request::new(message);
    let metadata = request.metadata_mut();
    metadata
        .insert(ECHO_INITIAL_KEY, ECHO_INITIAL_VALUE)
        .map_err(|e| e.to_string())?;
    metadata
        .insert_bin(ECHO_TRAILING_KEY, ECHO_TRAILING_VALUE)
        .map_err(|e| e.to_string())?;
    Ok(request)
}

fn check_echo(headers: &MetadataMap, trailers: &MetadataMap, what: &str) -> CaseResult {
    let initial: Vec<&str> = headers.get_all(ECHO_INITIAL_KEY).collect();
    check(initial == [ECHO_INITIAL_VALUE], || {
        format!(
            "{what}: initial metadata {ECHO_INITIAL_KEY}={initial:?}, want [{ECHO_INITIAL_VALUE:?}]"
        )
    })?;
    let trailing: Vec<&[u8]> = trailers.get_all_bin(ECHO_TRAILING_KEY).collect();
    check(trailing == [ECHO_TRAILING_VALUE], || {
        format!(
            "{what}: trailing metadata {ECHO_TRAILING_KEY}={trailing:?}, want [{ECHO_TRAILING_VALUE:?}]"
        )
    })
}

/// The message `make(n)` for the `n` that makes it exactly `target` bytes
/// long when encoded.
fn sized<M: Message>(target: usize, make: impl Fn(usize) -> M) -> Result<(M, usize), String> {
    let mut n = target.saturating_sub(32);
    loop {
        let len = make(n).encoded_len();
        if len == target {
            return Ok((make(n), n));
        }
        if len > target {
            return Err(format!("no payload size encodes to exactly {target} bytes"));
        }
        n += 1;
    }
}

/// Polls `call` until `probe` finds something (`Ok`), the call finishes
/// first (`Err(Some(output))`) or `limit` passes (`Err(None)`).
async fn drive_until<F, T>(
    runtime: &dyn Runtime,
    limit: Duration,
    call: &mut F,
    mut probe: impl FnMut() -> Option<T>,
) -> Result<T, Option<F::Output>>
where
    F: Future + Unpin,
{
    let end = runtime.now() + limit;
    loop {
        if let Some(found) = probe() {
            return Ok(found);
        }
        if runtime.now() >= end {
            return Err(None);
        }
        if let Some(output) = within(runtime, Duration::from_millis(1), &mut *call).await {
            return Err(Some(output));
        }
    }
}

/// Waits (up to `limit`) until `probe` finds something.
async fn poll_until<T>(
    runtime: &dyn Runtime,
    limit: Duration,
    mut probe: impl FnMut() -> Option<T>,
) -> Option<T> {
    let end = runtime.now() + limit;
    loop {
        if let Some(found) = probe() {
            return Some(found);
        }
        if runtime.now() >= end {
            return None;
        }
        sleep(runtime, Duration::from_millis(1)).await;
    }
}

/// The cases, against one server over one channel.
#[derive(Debug)]
pub struct Cases {
    test: TestServiceClient,
    unimplemented: UnimplementedServiceClient,
    log: Arc<WireLog>,
    runtime: Arc<dyn Runtime>,
}

impl Cases {
    /// Cases on `channel` (whose connections are tapped into `log`); every
    /// call gets `deadline` unless the case sets its own.
    pub fn new(
        channel: Channel,
        log: Arc<WireLog>,
        runtime: Arc<dyn Runtime>,
        deadline: Duration,
    ) -> Cases {
        let client = Client::new(channel).with_timeout(deadline);
        Cases {
            test: TestServiceClient::new(client.clone()),
            unimplemented: UnimplementedServiceClient::new(client),
            log,
            runtime,
        }
    }

    /// Runs one case by name.
    pub async fn run(&self, case: &str) -> CaseResult {
        if let Some(reason) = cannot_run(case) {
            return Err(format!("not supported by this client: {reason}"));
        }
        match case {
            "empty_unary" => self.empty_unary().await,
            "large_unary" => self.large_unary().await,
            "client_compressed_unary" => self.client_compressed_unary().await,
            "server_compressed_unary" => self.server_compressed_unary().await,
            "client_streaming" => self.client_streaming().await,
            "client_compressed_streaming" => self.client_compressed_streaming().await,
            "server_streaming" => self.server_streaming().await,
            "server_compressed_streaming" => self.server_compressed_streaming().await,
            "ping_pong" => self.ping_pong().await,
            "empty_stream" => self.empty_stream().await,
            "timeout_on_sleeping_server" => self.timeout_on_sleeping_server().await,
            "cancel_after_begin" => self.cancel_after_begin().await,
            "cancel_after_first_response" => self.cancel_after_first_response().await,
            "custom_metadata" => self.custom_metadata().await,
            "status_code_and_message" => self.status_code_and_message().await,
            "special_status_message" => self.special_status_message().await,
            "unimplemented_method" => self.unimplemented_method().await,
            "unimplemented_service" => self.unimplemented_service().await,
            "max_request_at_limit" => self.max_request(0).await,
            "max_request_over_limit" => self.max_request(1).await,
            "max_response_at_limit" => self.max_response(0).await,
            "max_response_over_limit" => self.max_response(1).await,
            "error_trailers" => self.error_trailers().await,
            other => Err(format!("unknown case {other}")),
        }
    }

    async fn empty_unary(&self) -> CaseResult {
        let response = self
            .test
            .empty_call(Empty {})
            .await
            .map_err(failed("EmptyCall"))?;
        let Empty {} = response.into_inner();
        Ok(())
    }

    async fn large_unary(&self) -> CaseResult {
        let response = self
            .test
            .unary_call(large_request())
            .await
            .map_err(failed("UnaryCall"))?;
        check_payload(response.get_ref().payload.as_ref(), 314_159)
    }

    async fn client_compressed_unary(&self) -> CaseResult {
        let expecting = |value| SimpleRequest {
            expect_compressed: Some(BoolValue { value }),
            ..large_request()
        };
        expect_code(
            self.test.unary_call(expecting(true)).await,
            Code::INVALID_ARGUMENT,
            "uncompressed probe with expect_compressed=true",
        )?;
        let mut compressed = Request::new(expecting(true));
        compressed.set_compression(Encoding::Gzip);
        let response = self
            .test
            .unary_call(compressed)
            .await
            .map_err(failed("gzip request with expect_compressed=true"))?;
        check_payload(response.get_ref().payload.as_ref(), 314_159)?;
        let response = self
            .test
            .unary_call(expecting(false))
            .await
            .map_err(failed("uncompressed request with expect_compressed=false"))?;
        check_payload(response.get_ref().payload.as_ref(), 314_159)
    }

    async fn server_compressed_unary(&self) -> CaseResult {
        for compressed in [true, false] {
            let request = SimpleRequest {
                response_compressed: Some(BoolValue { value: compressed }),
                ..large_request()
            };
            let response = self
                .test
                .unary_call(request)
                .await
                .map_err(failed("UnaryCall"))?;
            let flag = response.message_compressed();
            check(flag == Some(compressed), || {
                format!(
                    "response_compressed={compressed} but the response's Compressed-Flag is {flag:?}"
                )
            })?;
            check_payload(response.get_ref().payload.as_ref(), 314_159)?;
        }
        Ok(())
    }

    async fn client_streaming(&self) -> CaseResult {
        let requests = [27_182, 8, 1_828, 45_904].map(|n| StreamingInputCallRequest {
            payload: zeros(n),
            expect_compressed: None,
        });
        let response = self
            .test
            .streaming_input_call(futures_lite::stream::iter(requests))
            .await
            .map_err(failed("StreamingInputCall"))?;
        let total = response.get_ref().aggregated_payload_size;
        check(total == 74_922, || {
            format!("aggregated_payload_size {total}, want 74922")
        })
    }

    async fn client_compressed_streaming(&self) -> CaseResult {
        let request = |expect: bool, size: usize| StreamingInputCallRequest {
            payload: zeros(size),
            expect_compressed: Some(BoolValue { value: expect }),
        };
        // The probe: an uncompressed message claiming to be compressed.
        let probe = futures_lite::stream::iter([request(true, 27_182)]);
        expect_code(
            self.test.streaming_input_call(probe).await,
            Code::INVALID_ARGUMENT,
            "uncompressed probe with expect_compressed=true",
        )?;
        // A gzip call: the first message compressed, the second not.
        let messages = futures_lite::stream::iter([
            OutboundMessage::new(request(true, 27_182)),
            OutboundMessage::uncompressed(request(false, 45_904)),
        ]);
        let mut call = Request::new(messages);
        call.set_compression(Encoding::Gzip);
        let response = self
            .test
            .streaming_input_call(call)
            .await
            .map_err(failed("compressed then uncompressed message"))?;
        let total = response.get_ref().aggregated_payload_size;
        check(total == 73_086, || {
            format!("aggregated_payload_size {total}, want 73086")
        })
    }

    async fn server_streaming(&self) -> CaseResult {
        let sizes = [31_415, 9, 2_653, 58_979];
        let request = StreamingOutputCallRequest {
            response_type: PayloadType::Compressable as i32,
            response_parameters: sizes
                .iter()
                .map(|&size| ResponseParameters {
                    size,
                    ..ResponseParameters::default()
                })
                .collect(),
            ..StreamingOutputCallRequest::default()
        };
        let mut stream = self
            .test
            .streaming_output_call(request)
            .await
            .map_err(failed("StreamingOutputCall"))?
            .into_inner();
        let responses = drain(&mut stream)
            .await
            .map_err(failed("StreamingOutputCall"))?;
        check(responses.len() == 4, || {
            format!("{} responses, want 4", responses.len())
        })?;
        for (response, size) in responses.iter().zip(sizes) {
            check_payload(response.payload.as_ref(), size as usize)?;
        }
        Ok(())
    }

    async fn server_compressed_streaming(&self) -> CaseResult {
        let wanted = [(31_415, true), (92_653, false)];
        let request = StreamingOutputCallRequest {
            response_type: PayloadType::Compressable as i32,
            response_parameters: wanted
                .iter()
                .map(|&(size, compressed)| ResponseParameters {
                    size,
                    interval_us: 0,
                    compressed: Some(BoolValue { value: compressed }),
                })
                .collect(),
            ..StreamingOutputCallRequest::default()
        };
        let mut stream = self
            .test
            .streaming_output_call(request)
            .await
            .map_err(failed("StreamingOutputCall"))?
            .into_inner();
        let mut responses = Vec::new();
        while let Some(received) = stream
            .message_flagged()
            .await
            .map_err(failed("StreamingOutputCall"))?
        {
            responses.push(received);
        }
        check(responses.len() == 2, || {
            format!("{} responses, want 2", responses.len())
        })?;
        for (response, (size, compressed)) in responses.iter().zip(wanted) {
            let flag = response.compressed;
            check(flag == compressed, || {
                format!("response of {size} bytes: Compressed-Flag {flag}, want {compressed}")
            })?;
            check_payload(response.message.payload.as_ref(), size as usize)?;
        }
        Ok(())
    }

    async fn ping_pong(&self) -> CaseResult {
        let steps = [(31_415, 27_182), (9, 8), (2_653, 1_828), (58_979, 45_904)];
        let (requests, rx) = async_channel::unbounded();
        let send = |(response_size, payload_size): (i32, usize)| {
            requests
                .try_send(streaming_request(response_size, payload_size))
                .map_err(|_| "the request stream closed early".to_owned())
        };
        send(steps[0])?;
        let mut responses = self
            .test
            .full_duplex_call(rx)
            .await
            .map_err(failed("FullDuplexCall"))?
            .into_inner();
        for (i, step) in steps.into_iter().enumerate() {
            if i > 0 {
                send(step)?;
            }
            let response = responses
                .message()
                .await
                .map_err(failed("FullDuplexCall"))?
                .ok_or_else(|| format!("the stream ended before the reply of {} bytes", step.0))?;
            check_payload(response.payload.as_ref(), step.0 as usize)?;
        }
        requests.close();
        let rest = drain(&mut responses)
            .await
            .map_err(failed("FullDuplexCall"))?;
        check(rest.is_empty(), || {
            format!("{} responses after the fourth", rest.len())
        })
    }

    async fn empty_stream(&self) -> CaseResult {
        let mut responses = self
            .test
            .full_duplex_call(futures_lite::stream::empty::<StreamingOutputCallRequest>())
            .await
            .map_err(failed("FullDuplexCall"))?
            .into_inner();
        let all = drain(&mut responses)
            .await
            .map_err(failed("FullDuplexCall"))?;
        check(all.is_empty(), || {
            format!("{} responses, want 0", all.len())
        })
    }

    async fn timeout_on_sleeping_server(&self) -> CaseResult {
        let (requests, rx) = async_channel::unbounded();
        requests
            .try_send(StreamingOutputCallRequest {
                payload: zeros(27_182),
                ..StreamingOutputCallRequest::default()
            })
            .map_err(|_| "the request stream closed early".to_owned())?;
        let mut request = Request::new(rx);
        request.set_timeout(Duration::from_millis(1));
        let outcome = match self.test.full_duplex_call(request).await {
            Err(status) => Err(status),
            Ok(response) => drain(&mut response.into_inner()).await.map(drop),
        };
        drop(requests);
        expect_code(
            outcome,
            Code::DEADLINE_EXCEEDED,
            "FullDuplexCall with a 1 ms deadline",
        )
        .map(drop)
    }

    /// Waits for the client's RST_STREAM(CANCEL) on `stream`.
    async fn expect_cancel_sent(&self, stream: StreamRef) -> CaseResult {
        let code = poll_until(&*self.runtime, Duration::from_secs(5), || {
            self.log.reset_code(stream)
        })
        .await
        .ok_or_else(|| {
            format!(
                "no RST_STREAM on stream {} within 5 s of dropping the call",
                stream.stream
            )
        })?;
        check(code == H2_CANCEL, || {
            format!("RST_STREAM code {code:#x}, want CANCEL (0x8)")
        })
    }

    async fn cancel_after_begin(&self) -> CaseResult {
        let before = self.log.last_opened();
        let (requests, rx) = async_channel::unbounded::<StreamingInputCallRequest>();
        let mut call = Box::pin(self.test.streaming_input_call(rx));
        let opened = drive_until(&*self.runtime, Duration::from_secs(5), &mut call, || {
            self.log.last_opened().filter(|s| Some(*s) != before)
        })
        .await;
        let stream = match opened {
            Ok(stream) => stream,
            Err(None) => return Err("the call's HEADERS did not go out within 5 s".to_owned()),
            Err(Some(outcome)) => {
                return Err(format!(
                    "the call ended before it was cancelled: {:?}",
                    outcome.map(|r| r.into_inner()).map_err(|s| describe(&s))
                ));
            }
        };
        // Cancel: dropping a ferrule call resets its stream.
        drop(call);
        drop(requests);
        self.expect_cancel_sent(stream).await
    }

    async fn cancel_after_first_response(&self) -> CaseResult {
        let (requests, rx) = async_channel::unbounded();
        requests
            .try_send(streaming_request(31_415, 27_182))
            .map_err(|_| "the request stream closed early".to_owned())?;
        let response = self
            .test
            .full_duplex_call(rx)
            .await
            .map_err(failed("FullDuplexCall"))?;
        let stream = self
            .log
            .last_opened()
            .ok_or("the wire tap saw no stream opened")?;
        let mut responses = response.into_inner();
        let first = responses
            .message()
            .await
            .map_err(failed("FullDuplexCall"))?
            .ok_or("the stream ended before the first response")?;
        check_payload(first.payload.as_ref(), 31_415)?;
        drop(responses);
        drop(requests);
        self.expect_cancel_sent(stream).await
    }

    async fn custom_metadata(&self) -> CaseResult {
        let response = self
            .test
            .unary_call(echo_request(large_request())?)
            .await
            .map_err(failed("UnaryCall"))?;
        check_payload(response.get_ref().payload.as_ref(), 314_159)?;
        check_echo(response.metadata(), response.trailers(), "UnaryCall")?;

        let (requests, rx) = async_channel::unbounded();
        requests
            .try_send(streaming_request(314_159, 271_828))
            .map_err(|_| "the request stream closed early".to_owned())?;
        requests.close();
        let response = self
            .test
            .full_duplex_call(echo_request(rx)?)
            .await
            .map_err(failed("FullDuplexCall"))?;
        let mut responses = response.into_inner();
        // The call returns before the server's headers; they come with the
        // stream.
        let headers = responses
            .headers()
            .await
            .map_err(failed("FullDuplexCall"))?
            .clone();
        let all = drain(&mut responses)
            .await
            .map_err(failed("FullDuplexCall"))?;
        check(all.len() == 1, || {
            format!("FullDuplexCall: {} responses, want 1", all.len())
        })?;
        check_payload(all[0].payload.as_ref(), 314_159)?;
        let trailers = responses.trailers().cloned().unwrap_or_default();
        check_echo(&headers, &trailers, "FullDuplexCall")
    }

    async fn check_echoed_status(&self, message: &str, duplex: bool) -> CaseResult {
        let echo = EchoStatus {
            code: 2,
            message: message.to_owned(),
        };
        let unary = SimpleRequest {
            response_status: Some(echo.clone()),
            ..SimpleRequest::default()
        };
        let status = expect_code(
            self.test.unary_call(unary).await,
            Code::UNKNOWN,
            "UnaryCall",
        )?;
        check(status.message() == message, || {
            format!(
                "UnaryCall: message {:?}, want {message:?}",
                status.message()
            )
        })?;
        if !duplex {
            return Ok(());
        }
        let (requests, rx) = async_channel::unbounded();
        requests
            .try_send(StreamingOutputCallRequest {
                response_status: Some(echo),
                ..StreamingOutputCallRequest::default()
            })
            .map_err(|_| "the request stream closed early".to_owned())?;
        requests.close();
        let outcome = match self.test.full_duplex_call(rx).await {
            Err(status) => Err(status),
            Ok(response) => drain(&mut response.into_inner()).await.map(drop),
        };
        let status = expect_code(outcome, Code::UNKNOWN, "FullDuplexCall")?;
        check(status.message() == message, || {
            format!(
                "FullDuplexCall: message {:?}, want {message:?}",
                status.message()
            )
        })
    }

    async fn status_code_and_message(&self) -> CaseResult {
        self.check_echoed_status(STATUS_MESSAGE, true).await
    }

    async fn special_status_message(&self) -> CaseResult {
        self.check_echoed_status(SPECIAL_STATUS_MESSAGE, false)
            .await
    }

    /// A UnaryCall the server fails on request (`response_status`) with the
    /// echo metadata attached: the trailers reach the caller on the status.
    async fn error_trailers(&self) -> CaseResult {
        let request = echo_request(SimpleRequest {
            response_status: Some(EchoStatus {
                code: 2,
                message: STATUS_MESSAGE.to_owned(),
            }),
            ..SimpleRequest::default()
        })?;
        let status = expect_code(
            self.test.unary_call(request).await,
            Code::UNKNOWN,
            "UnaryCall",
        )?;
        let trailing: Vec<&[u8]> = status.metadata().get_all_bin(ECHO_TRAILING_KEY).collect();
        check(trailing == [ECHO_TRAILING_VALUE], || {
            format!(
                "UnaryCall: the failed call's status has {ECHO_TRAILING_KEY}={trailing:?}, want [{ECHO_TRAILING_VALUE:?}]"
            )
        })
    }

    async fn unimplemented_method(&self) -> CaseResult {
        expect_code(
            self.test.unimplemented_call(Empty {}).await,
            Code::UNIMPLEMENTED,
            "TestService/UnimplementedCall",
        )
        .map(drop)
    }

    async fn unimplemented_service(&self) -> CaseResult {
        expect_code(
            self.unimplemented.unimplemented_call(Empty {}).await,
            Code::UNIMPLEMENTED,
            "UnimplementedService/UnimplementedCall",
        )
        .map(drop)
    }

    /// A request of 4 MiB (+ `over` bytes): the server accepts exactly the
    /// limit and answers RESOURCE_EXHAUSTED above it.
    async fn max_request(&self, over: usize) -> CaseResult {
        let target = DEFAULT_MAX_MESSAGE + over;
        let (request, _) = sized(target, |n| SimpleRequest {
            response_size: 1,
            payload: zeros(n),
            ..SimpleRequest::default()
        })?;
        let outcome = self.test.unary_call(request).await;
        let what = format!("UnaryCall with a {target}-byte request");
        if over == 0 {
            let response = outcome.map_err(failed(&what))?;
            check_payload(response.get_ref().payload.as_ref(), 1)
        } else {
            expect_code(outcome, Code::RESOURCE_EXHAUSTED, &what).map(drop)
        }
    }

    /// A response of 4 MiB (+ `over` bytes): this client accepts exactly the
    /// limit and fails the call RESOURCE_EXHAUSTED above it.
    async fn max_response(&self, over: usize) -> CaseResult {
        let target = DEFAULT_MAX_MESSAGE + over;
        let (_, size) = sized(target, |n| SimpleResponse {
            payload: zeros(n),
            ..SimpleResponse::default()
        })?;
        let request = SimpleRequest {
            response_size: i32::try_from(size).map_err(|e| e.to_string())?,
            ..SimpleRequest::default()
        };
        let outcome = self.test.unary_call(request).await;
        let what = format!("UnaryCall with a {target}-byte response");
        if over == 0 {
            let response = outcome.map_err(failed(&what))?;
            check_payload(response.get_ref().payload.as_ref(), size)
        } else {
            expect_code(outcome, Code::RESOURCE_EXHAUSTED, &what).map(drop)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn case_lists_are_disjoint_and_cannot_run_is_a_case() {
        for case in EXTRA_CASES {
            assert!(!CASES.contains(case), "{case}");
        }
        for (case, reason) in CANNOT_RUN {
            assert!(CASES.contains(case), "{case}");
            assert!(!reason.is_empty());
        }
        assert!(cannot_run("large_unary").is_none());
    }

    #[test]
    fn sized_messages_hit_the_target_exactly() {
        for target in [DEFAULT_MAX_MESSAGE, DEFAULT_MAX_MESSAGE + 1, 100, 129] {
            let (request, _) = sized(target, |n| SimpleRequest {
                response_size: 1,
                payload: zeros(n),
                ..SimpleRequest::default()
            })
            .expect("reachable");
            assert_eq!(request.encoded_len(), target);
        }
    }

    #[test]
    fn checks_say_what_is_wrong() {
        assert!(check_payload(zeros(3).as_ref(), 3).is_ok());
        assert!(
            check_payload(zeros(3).as_ref(), 4)
                .unwrap_err()
                .contains("3 bytes, want 4")
        );
        assert!(check_payload(None, 1).is_err());
        let ones = Payload {
            r#type: 0,
            body: vec![1; 2],
        };
        assert!(check_payload(Some(&ones), 2).unwrap_err().contains("zeros"));
        let err = expect_code::<()>(Err(Status::cancelled("x")), Code::UNKNOWN, "call");
        assert!(err.unwrap_err().contains("CANCELLED"));
        assert!(expect_code(Ok(()), Code::UNKNOWN, "call").is_err());
    }
}
