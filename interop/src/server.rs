//! `grpc.testing.TestService` on ferrule: the server features of grpc/grpc
//! `doc/interop-test-descriptions.md`.
//!
//! - EmptyCall, UnaryCall, CacheableUnaryCall, StreamingOutputCall,
//!   StreamingInputCall, FullDuplexCall, HalfDuplexCall.
//!   `UnimplementedCall` and `UnimplementedService` are left unregistered:
//!   the router answers `UNIMPLEMENTED` for any path it does not know.
//! - Echo Status (`response_status`), Echo Metadata
//!   (`x-grpc-test-echo-initial` back in the headers,
//!   `x-grpc-test-echo-trailing-bin` back in the trailers of a successful
//!   call), `response_type` (only COMPRESSABLE; anything else is
//!   `INVALID_ARGUMENT`), response sizes and `interval_us`.
//! - CompressedRequest: a set `expect_compressed` is checked against the
//!   message's Compressed-Flag as the wire tap saw it (true needs it set,
//!   false needs it clear; `INVALID_ARGUMENT` otherwise). A message the tap
//!   cannot account for fails the call (`INTERNAL`) rather than passing.
//! - CompressedResponse: `response_compressed` chooses the call's response
//!   compression (gzip or none) with `Response::set_compression`.
//!   `StreamingOutputCall` honours `ResponseParameters.compressed` when every
//!   response asks the same; ferrule cannot compress some messages of a call
//!   and not others (the engine frames every message of a call with its one
//!   encoding), so a mix is answered `UNIMPLEMENTED` with that reason. Full
//!   and half duplex send their headers before the first request is read, so
//!   they cannot choose compression from a request: a `compressed: true`
//!   there is `UNIMPLEMENTED` too.
//!
//! The handlers are registered with ferrule's codegen functions (what
//! generated code calls) and a [`CaptureCodec`], so each request carries the
//! digest the tap needs; the message types and descriptors are the ones
//! ferrule-build generated.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ferrule::codegen::{
    Routes, Service, Stream, client_streaming_handler, server_streaming_handler, streaming_handler,
    unary_handler,
};
use ferrule::core::api::Runtime;
use ferrule::{CallContext, Code, Encoding, MetadataMap, Request, Response, Status, Streaming};
use futures_lite::StreamExt;

use crate::codec::{CaptureCodec, Captured};
use crate::pb::test_service_methods as methods;
use crate::pb::{
    BoolValue, EchoStatus, Empty, Payload, PayloadType, ResponseParameters, SimpleRequest,
    SimpleResponse, StreamingInputCallRequest, StreamingInputCallResponse,
    StreamingOutputCallRequest, StreamingOutputCallResponse,
};
use crate::rt::sleep;
use crate::tap::{ConnectionTaps, StreamRef};

/// Metadata key echoed back in the response headers.
pub const ECHO_INITIAL_KEY: &str = "x-grpc-test-echo-initial";
/// Metadata key echoed back in the response trailers.
pub const ECHO_TRAILING_KEY: &str = "x-grpc-test-echo-trailing-bin";

/// The service state: a runtime for `interval_us` sleeps and the wire taps
/// that know each request message's Compressed-Flag.
#[derive(Debug)]
pub struct TestService {
    runtime: Arc<dyn Runtime>,
    taps: Arc<ConnectionTaps>,
}

type OutputStream = std::pin::Pin<
    Box<dyn Stream<Item = Result<StreamingOutputCallResponse, Status>> + Send + 'static>,
>;

/// How one request message travelled, for `expect_compressed`.
struct Observer {
    log: Option<Arc<crate::tap::WireLog>>,
    /// The call's stream, once its first message was found.
    stream: Option<StreamRef>,
}

impl Observer {
    fn new(service: &TestService, context: Option<&CallContext>) -> Observer {
        let log = context
            .and_then(CallContext::peer_addr)
            .and_then(|peer| service.taps.log_for(peer));
        Observer { log, stream: None }
    }

    /// The Compressed-Flag of the message with this digest (`None`: unknown).
    /// Called for every message, so the log never keeps stale entries.
    fn compressed(&mut self, digest: crate::tap::Digest) -> Option<bool> {
        let seen = self.log.as_ref()?.take_received(digest, self.stream)?;
        self.stream = Some(seen.stream);
        Some(seen.compressed)
    }

    /// CompressedRequest: a set `expect` must match the flag.
    fn check(
        &mut self,
        digest: crate::tap::Digest,
        expect: Option<&BoolValue>,
    ) -> Result<(), Status> {
        let observed = self.compressed(digest);
        let Some(expect) = expect else {
            return Ok(());
        };
        match (expect.value, observed) {
            (_, None) => Err(Status::internal(
                "expect_compressed cannot be checked: the wire tap did not see this request \
                 message, so its Compressed-Flag is unknown",
            )),
            (true, Some(false)) => Err(Status::invalid_argument(
                "expect_compressed is true but the request message was not compressed",
            )),
            (false, Some(true)) => Err(Status::invalid_argument(
                "expect_compressed is false but the request message was compressed",
            )),
            _ => Ok(()),
        }
    }
}

/// Echo Metadata: the initial key's values for the headers, the trailing
/// key's for the trailers.
fn echo_metadata(request: &MetadataMap) -> (MetadataMap, MetadataMap) {
    let mut initial = MetadataMap::new();
    for value in request.get_all(ECHO_INITIAL_KEY) {
        // The value came in as valid metadata, so it goes back out as such.
        let _ = initial.append(ECHO_INITIAL_KEY, value);
    }
    let mut trailing = MetadataMap::new();
    for value in request.get_all_bin(ECHO_TRAILING_KEY) {
        let _ = trailing.append_bin(ECHO_TRAILING_KEY, value);
    }
    (initial, trailing)
}

fn with_echo<T>(message: T, echo: (MetadataMap, MetadataMap)) -> Response<T> {
    let mut response = Response::new(message);
    *response.metadata_mut() = echo.0;
    *response.trailers_mut() = echo.1;
    response
}

/// Echo Status: the status a set `response_status` asks for.
fn echo_status(status: Option<&EchoStatus>) -> Result<(), Status> {
    match status {
        Some(s) => Err(Status::new(Code::from_i32(s.code), s.message.clone())),
        None => Ok(()),
    }
}

fn check_response_type(response_type: i32) -> Result<(), Status> {
    if response_type == PayloadType::Compressable as i32 {
        Ok(())
    } else {
        Err(Status::invalid_argument(format!(
            "unsupported response_type {response_type} (only COMPRESSABLE)"
        )))
    }
}

fn payload(size: i32) -> Result<Payload, Status> {
    let size = usize::try_from(size)
        .map_err(|_| Status::invalid_argument(format!("negative payload size {size}")))?;
    Ok(Payload {
        r#type: PayloadType::Compressable as i32,
        body: vec![0; size],
    })
}

fn interval(params: &ResponseParameters) -> Duration {
    Duration::from_micros(u64::try_from(params.interval_us).unwrap_or(0))
}

const PER_MESSAGE_COMPRESSION: &str = "ferrule cannot compress some response messages of a call \
    and not others: the engine frames every message of a call with the call's one encoding \
    (core/src/proto/message.rs frame_with / frame_bytes take the call's encoding)";

const DUPLEX_COMPRESSION: &str = "full and half duplex responses are never compressed here: \
    the response headers (which carry grpc-encoding) go out before the first request is read, \
    and ferrule has no per-message compression";

/// The response parameters of one request, checked: sizes are valid and no
/// compression is asked for (duplex calls).
fn duplex_parameters(
    request: &StreamingOutputCallRequest,
) -> Result<Vec<ResponseParameters>, Status> {
    echo_status(request.response_status.as_ref())?;
    check_response_type(request.response_type)?;
    for params in &request.response_parameters {
        payload(params.size)?;
        if params.compressed.as_ref().is_some_and(|c| c.value) {
            return Err(Status::unimplemented(DUPLEX_COMPRESSION));
        }
    }
    Ok(request.response_parameters.clone())
}

/// Streams one response per parameter, sleeping `interval_us` before each.
fn respond_all(runtime: Arc<dyn Runtime>, params: Vec<ResponseParameters>) -> OutputStream {
    Box::pin(futures_lite::stream::unfold(
        (runtime, VecDeque::from(params)),
        |(runtime, mut params)| async move {
            let next = params.pop_front()?;
            sleep(&*runtime, interval(&next)).await;
            let response = payload(next.size).map(|payload| StreamingOutputCallResponse {
                payload: Some(payload),
            });
            Some((response, (runtime, params)))
        },
    ))
}

/// FullDuplexCall's responses: each request is answered as it arrives; an
/// error ends the stream.
struct Duplex {
    runtime: Arc<dyn Runtime>,
    requests: Streaming<Captured<StreamingOutputCallRequest>>,
    observer: Observer,
    pending: VecDeque<ResponseParameters>,
    done: bool,
}

impl Duplex {
    async fn next(mut self) -> Option<(Result<StreamingOutputCallResponse, Status>, Duplex)> {
        loop {
            if let Some(params) = self.pending.pop_front() {
                sleep(&*self.runtime, interval(&params)).await;
                let response = payload(params.size).map(|payload| StreamingOutputCallResponse {
                    payload: Some(payload),
                });
                return Some((response, self));
            }
            if self.done {
                return None;
            }
            match self.requests.next().await {
                None => return None,
                Some(Err(status)) => {
                    self.done = true;
                    return Some((Err(status), self));
                }
                Some(Ok(captured)) => {
                    self.observer.compressed(captured.digest);
                    match duplex_parameters(&captured.message) {
                        Ok(params) => self.pending.extend(params),
                        Err(status) => {
                            self.done = true;
                            return Some((Err(status), self));
                        }
                    }
                }
            }
        }
    }
}

impl TestService {
    /// A service sleeping on `runtime` and reading request flags from `taps`.
    pub fn new(runtime: Arc<dyn Runtime>, taps: Arc<ConnectionTaps>) -> TestService {
        TestService { runtime, taps }
    }

    async fn empty_call(
        &self,
        request: Request<Captured<Empty>>,
    ) -> Result<Response<Empty>, Status> {
        let echo = echo_metadata(request.metadata());
        let mut observer = Observer::new(self, request.context());
        observer.compressed(request.get_ref().digest);
        Ok(with_echo(Empty {}, echo))
    }

    async fn unary_call(
        &self,
        request: Request<Captured<SimpleRequest>>,
    ) -> Result<Response<SimpleResponse>, Status> {
        let echo = echo_metadata(request.metadata());
        let mut observer = Observer::new(self, request.context());
        let Captured { message, digest } = request.into_inner();
        observer.check(digest, message.expect_compressed.as_ref())?;
        echo_status(message.response_status.as_ref())?;
        check_response_type(message.response_type)?;
        let reply = SimpleResponse {
            payload: Some(payload(message.response_size)?),
            ..SimpleResponse::default()
        };
        let mut response = with_echo(reply, echo);
        if let Some(compressed) = &message.response_compressed {
            response.set_compression(if compressed.value {
                Encoding::Gzip
            } else {
                Encoding::Identity
            });
        }
        Ok(response)
    }

    async fn cacheable_unary_call(
        &self,
        request: Request<Captured<SimpleRequest>>,
    ) -> Result<Response<SimpleResponse>, Status> {
        let mut observer = Observer::new(self, request.context());
        observer.compressed(request.get_ref().digest);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let mut response = Response::new(SimpleResponse {
            payload: Some(Payload {
                r#type: PayloadType::Compressable as i32,
                body: nanos.to_string().into_bytes(),
            }),
            ..SimpleResponse::default()
        });
        response
            .metadata_mut()
            .insert("cache-control", "max-age=60")
            .map_err(|e| Status::internal(e.to_string()))?;
        Ok(response)
    }

    async fn streaming_input_call(
        &self,
        request: Request<Streaming<Captured<StreamingInputCallRequest>>>,
    ) -> Result<Response<StreamingInputCallResponse>, Status> {
        let echo = echo_metadata(request.metadata());
        let mut observer = Observer::new(self, request.context());
        let mut requests = request.into_inner();
        let mut total: usize = 0;
        while let Some(captured) = requests.message().await? {
            observer.check(captured.digest, captured.message.expect_compressed.as_ref())?;
            let len = captured
                .message
                .payload
                .as_ref()
                .map_or(0, |p| p.body.len());
            total = total.saturating_add(len);
        }
        let aggregated_payload_size = i32::try_from(total)
            .map_err(|_| Status::invalid_argument("aggregated payload size overflows int32"))?;
        Ok(with_echo(
            StreamingInputCallResponse {
                aggregated_payload_size,
            },
            echo,
        ))
    }

    async fn streaming_output_call(
        &self,
        request: Request<Captured<StreamingOutputCallRequest>>,
    ) -> Result<Response<OutputStream>, Status> {
        let echo = echo_metadata(request.metadata());
        let mut observer = Observer::new(self, request.context());
        let Captured { message, digest } = request.into_inner();
        observer.compressed(digest);
        echo_status(message.response_status.as_ref())?;
        check_response_type(message.response_type)?;
        for params in &message.response_parameters {
            payload(params.size)?;
        }
        let asks = |want: bool| {
            message
                .response_parameters
                .iter()
                .any(|p| p.compressed.as_ref().is_some_and(|c| c.value) == want)
        };
        let encoding = match (asks(true), asks(false)) {
            (true, true) => return Err(Status::unimplemented(PER_MESSAGE_COMPRESSION)),
            (true, false) => Encoding::Gzip,
            _ => Encoding::Identity,
        };
        let stream = respond_all(Arc::clone(&self.runtime), message.response_parameters);
        let mut response = with_echo(stream, echo);
        response.set_compression(encoding);
        Ok(response)
    }

    async fn full_duplex_call(
        &self,
        request: Request<Streaming<Captured<StreamingOutputCallRequest>>>,
    ) -> Result<Response<OutputStream>, Status> {
        let echo = echo_metadata(request.metadata());
        let observer = Observer::new(self, request.context());
        let duplex = Duplex {
            runtime: Arc::clone(&self.runtime),
            requests: request.into_inner(),
            observer,
            pending: VecDeque::new(),
            done: false,
        };
        let stream: OutputStream = Box::pin(futures_lite::stream::unfold(duplex, Duplex::next));
        Ok(with_echo(stream, echo))
    }

    async fn half_duplex_call(
        &self,
        request: Request<Streaming<Captured<StreamingOutputCallRequest>>>,
    ) -> Result<Response<OutputStream>, Status> {
        let echo = echo_metadata(request.metadata());
        let mut observer = Observer::new(self, request.context());
        let mut requests = request.into_inner();
        let runtime = Arc::clone(&self.runtime);
        // Everything is read (until the half-close) before anything is sent;
        // the headers have gone out already, so errors end the stream.
        let stream = futures_lite::stream::once_future(async move {
            let mut params = Vec::new();
            while let Some(captured) = requests.message().await? {
                observer.compressed(captured.digest);
                params.extend(duplex_parameters(&captured.message)?);
            }
            Ok::<_, Status>(respond_all(runtime, params))
        })
        .flat_map(|outcome| -> OutputStream {
            match outcome {
                Ok(responses) => responses,
                Err(status) => Box::pin(futures_lite::stream::once(Err(status))),
            }
        });
        let stream: OutputStream = Box::pin(stream);
        Ok(with_echo(stream, echo))
    }
}

/// Registers [`TestService`]'s methods under `grpc.testing.TestService`.
#[derive(Debug, Clone)]
pub struct TestServiceRoutes(pub Arc<TestService>);

impl Service for TestServiceRoutes {
    const NAME: &'static str = methods::SERVICE_NAME;

    fn register(self, routes: &mut Routes) {
        let svc = self.0;
        routes.add(
            &methods::EMPTY_CALL,
            unary_handler(
                Arc::clone(&svc),
                |s: Arc<TestService>, r| async move { s.empty_call(r).await },
                CaptureCodec::<Empty, Empty>::new(),
            ),
        );
        routes.add(
            &methods::UNARY_CALL,
            unary_handler(
                Arc::clone(&svc),
                |s: Arc<TestService>, r| async move { s.unary_call(r).await },
                CaptureCodec::<SimpleResponse, SimpleRequest>::new(),
            ),
        );
        routes.add(
            &methods::CACHEABLE_UNARY_CALL,
            unary_handler(
                Arc::clone(&svc),
                |s: Arc<TestService>, r| async move { s.cacheable_unary_call(r).await },
                CaptureCodec::<SimpleResponse, SimpleRequest>::new(),
            ),
        );
        routes.add(
            &methods::STREAMING_INPUT_CALL,
            client_streaming_handler(
                Arc::clone(&svc),
                |s: Arc<TestService>, r| async move { s.streaming_input_call(r).await },
                CaptureCodec::<StreamingInputCallResponse, StreamingInputCallRequest>::new(),
            ),
        );
        routes.add(
            &methods::STREAMING_OUTPUT_CALL,
            server_streaming_handler(
                Arc::clone(&svc),
                |s: Arc<TestService>, r| async move { s.streaming_output_call(r).await },
                CaptureCodec::<StreamingOutputCallResponse, StreamingOutputCallRequest>::new(),
            ),
        );
        routes.add(
            &methods::FULL_DUPLEX_CALL,
            streaming_handler(
                Arc::clone(&svc),
                |s: Arc<TestService>, r| async move { s.full_duplex_call(r).await },
                CaptureCodec::<StreamingOutputCallResponse, StreamingOutputCallRequest>::new(),
            ),
        );
        routes.add(
            &methods::HALF_DUPLEX_CALL,
            streaming_handler(
                svc,
                |s: Arc<TestService>, r| async move { s.half_duplex_call(r).await },
                CaptureCodec::<StreamingOutputCallResponse, StreamingOutputCallRequest>::new(),
            ),
        );
        // UnimplementedCall stays unregistered: the router answers UNIMPLEMENTED.
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_metadata_splits_initial_and_trailing() {
        let mut request = MetadataMap::new();
        request.insert(ECHO_INITIAL_KEY, "v").expect("valid");
        request
            .insert_bin(ECHO_TRAILING_KEY, &[0xab, 0xab, 0xab])
            .expect("valid");
        request.insert("other", "x").expect("valid");
        let (initial, trailing) = echo_metadata(&request);
        assert_eq!(initial.get(ECHO_INITIAL_KEY), Some("v"));
        assert_eq!(initial.len(), 1);
        assert_eq!(
            trailing.get_bin(ECHO_TRAILING_KEY),
            Some(&[0xab, 0xab, 0xab][..])
        );
        assert_eq!(trailing.len(), 1);
    }

    #[test]
    fn request_checks() {
        assert!(echo_status(None).is_ok());
        let status = echo_status(Some(&EchoStatus {
            code: 2,
            message: "m".into(),
        }))
        .expect_err("asks for a status");
        assert_eq!((status.code(), status.message()), (Code::UNKNOWN, "m"));
        assert!(check_response_type(0).is_ok());
        assert_eq!(
            check_response_type(1).expect_err("unknown type").code(),
            Code::INVALID_ARGUMENT
        );
        assert_eq!(payload(3).expect("size").body, vec![0; 3]);
        assert_eq!(
            payload(-1).expect_err("negative").code(),
            Code::INVALID_ARGUMENT
        );
        let mut request = StreamingOutputCallRequest {
            response_parameters: vec![ResponseParameters {
                size: 1,
                interval_us: 0,
                compressed: Some(BoolValue { value: true }),
            }],
            ..StreamingOutputCallRequest::default()
        };
        assert_eq!(
            duplex_parameters(&request).expect_err("compressed").code(),
            Code::UNIMPLEMENTED
        );
        request.response_parameters[0].compressed = Some(BoolValue { value: false });
        assert_eq!(duplex_parameters(&request).expect("plain").len(), 1);
    }

    #[test]
    fn expect_compressed_never_passes_unknown() {
        let mut observer = Observer {
            log: None,
            stream: None,
        };
        let digest = crate::tap::Digest::of(b"x");
        assert!(observer.check(digest, None).is_ok());
        for value in [true, false] {
            let status = observer
                .check(digest, Some(&BoolValue { value }))
                .expect_err("unknown flag");
            assert_eq!(status.code(), Code::INTERNAL);
        }
    }
}
