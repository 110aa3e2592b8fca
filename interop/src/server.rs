//! `grpc.testing.TestService` on ferrule: the server features of grpc/grpc
//! `doc/interop-test-descriptions.md`, written against the service trait
//! ferrule-build generates (as any user's service is).
//!
//! - EmptyCall, UnaryCall, CacheableUnaryCall, StreamingOutputCall,
//!   StreamingInputCall, FullDuplexCall, HalfDuplexCall; UnimplementedCall
//!   answers `UNIMPLEMENTED`, and `UnimplementedService` is left unregistered
//!   (the router answers `UNIMPLEMENTED` for any path it does not know).
//! - Echo Status (`response_status`), Echo Metadata
//!   (`x-grpc-test-echo-initial` back in the headers,
//!   `x-grpc-test-echo-trailing-bin` back in the trailers; for UnaryCall
//!   also when `response_status` fails the call, as grpc/grpc's C++ server
//!   does, through the status's metadata), `response_type` (only COMPRESSABLE; anything else is
//!   `INVALID_ARGUMENT`), response sizes and `interval_us`.
//! - CompressedRequest: a set `expect_compressed` is checked against the
//!   message's Compressed-Flag as ferrule reports it
//!   ([`Request::message_compressed`] for UnaryCall,
//!   [`Streaming::message_flagged`] for StreamingInputCall): true needs it
//!   set, false needs it clear (`INVALID_ARGUMENT` otherwise).
//! - CompressedResponse: `response_compressed` chooses UnaryCall's response
//!   compression (gzip or none) with `Response::set_compression`. The
//!   streaming calls announce gzip (the client's accepted encodings
//!   permitting) and send each response compressed or not as its
//!   `ResponseParameters.compressed` says, with [`OutboundMessage`]; that
//!   works for full and half duplex too, whose headers go out before the
//!   first request is read.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ferrule::codegen::{Routes, Service, Stream};
use ferrule::core::api::Runtime;
use ferrule::{Code, Encoding, MetadataMap, OutboundMessage, Request, Response, Status, Streaming};
use futures_lite::StreamExt;

use crate::pb::test_service_methods as methods;
use crate::pb::test_service_server::{TestService as TestServiceApi, TestServiceServer};
use crate::pb::{
    BoolValue, EchoStatus, Empty, Payload, PayloadType, ResponseParameters, SimpleRequest,
    SimpleResponse, StreamingInputCallRequest, StreamingInputCallResponse,
    StreamingOutputCallRequest, StreamingOutputCallResponse,
};
use crate::rt::sleep;

/// Metadata key echoed back in the response headers.
pub const ECHO_INITIAL_KEY: &str = "x-grpc-test-echo-initial";
/// Metadata key echoed back in the response trailers.
pub const ECHO_TRAILING_KEY: &str = "x-grpc-test-echo-trailing-bin";

/// The service state: a runtime for `interval_us` sleeps.
#[derive(Debug)]
pub struct TestService {
    runtime: Arc<dyn Runtime>,
}

/// The responses of the streaming calls, each compressed or not.
pub type OutputStream = std::pin::Pin<
    Box<
        dyn Stream<Item = Result<OutboundMessage<StreamingOutputCallResponse>, Status>>
            + Send
            + 'static,
    >,
>;

/// CompressedRequest: a set `expect` must match the message's flag
/// (`compressed`; `None` when ferrule could not say, which fails the call
/// rather than passing it).
fn check_compressed(expect: Option<&BoolValue>, compressed: Option<bool>) -> Result<(), Status> {
    let Some(expect) = expect else {
        return Ok(());
    };
    match (expect.value, compressed) {
        (_, None) => Err(Status::internal(
            "expect_compressed cannot be checked: the request message's Compressed-Flag is unknown",
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

/// The response one `ResponseParameters` asks for: its size, compressed
/// only if `compressed` is set.
fn respond(
    params: &ResponseParameters,
) -> Result<OutboundMessage<StreamingOutputCallResponse>, Status> {
    let response = StreamingOutputCallResponse {
        payload: Some(payload(params.size)?),
    };
    let compress = params.compressed.as_ref().is_some_and(|c| c.value);
    Ok(OutboundMessage::new(response).with_compression(compress))
}

/// A streaming response: gzip is the call's encoding (if the client accepts
/// it) so that any message may be compressed; each message says whether it
/// is.
fn streaming_response(
    stream: OutputStream,
    echo: (MetadataMap, MetadataMap),
) -> Response<OutputStream> {
    let mut response = with_echo(stream, echo);
    response.set_compression(Encoding::Gzip);
    response
}

/// The response parameters of one request, checked: status, type and sizes
/// are valid.
fn checked_parameters(
    request: &StreamingOutputCallRequest,
) -> Result<Vec<ResponseParameters>, Status> {
    echo_status(request.response_status.as_ref())?;
    check_response_type(request.response_type)?;
    for params in &request.response_parameters {
        payload(params.size)?;
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
            Some((respond(&next), (runtime, params)))
        },
    ))
}

/// FullDuplexCall's responses: each request is answered as it arrives; an
/// error ends the stream.
struct Duplex {
    runtime: Arc<dyn Runtime>,
    requests: Streaming<StreamingOutputCallRequest>,
    pending: VecDeque<ResponseParameters>,
    done: bool,
}

impl Duplex {
    async fn next(
        mut self,
    ) -> Option<(
        Result<OutboundMessage<StreamingOutputCallResponse>, Status>,
        Duplex,
    )> {
        loop {
            if let Some(params) = self.pending.pop_front() {
                sleep(&*self.runtime, interval(&params)).await;
                return Some((respond(&params), self));
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
                Some(Ok(request)) => match checked_parameters(&request) {
                    Ok(params) => self.pending.extend(params),
                    Err(status) => {
                        self.done = true;
                        return Some((Err(status), self));
                    }
                },
            }
        }
    }
}

impl TestService {
    /// A service sleeping on `runtime`.
    pub fn new(runtime: Arc<dyn Runtime>) -> TestService {
        TestService { runtime }
    }
}

impl TestServiceApi for TestService {
    async fn empty_call(&self, request: Request<Empty>) -> Result<Response<Empty>, Status> {
        Ok(with_echo(Empty {}, echo_metadata(request.metadata())))
    }

    async fn unary_call(
        &self,
        request: Request<SimpleRequest>,
    ) -> Result<Response<SimpleResponse>, Status> {
        let echo = echo_metadata(request.metadata());
        check_compressed(
            request.get_ref().expect_compressed.as_ref(),
            request.message_compressed(),
        )?;
        let message = request.into_inner();
        echo_status(message.response_status.as_ref())
            .map_err(|status| status.with_metadata(echo.1.clone()))?;
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
        _request: Request<SimpleRequest>,
    ) -> Result<Response<SimpleResponse>, Status> {
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

    type StreamingOutputCallStream = OutputStream;

    async fn streaming_output_call(
        &self,
        request: Request<StreamingOutputCallRequest>,
    ) -> Result<Response<OutputStream>, Status> {
        let echo = echo_metadata(request.metadata());
        let params = checked_parameters(request.get_ref())?;
        let stream = respond_all(Arc::clone(&self.runtime), params);
        Ok(streaming_response(stream, echo))
    }

    async fn streaming_input_call(
        &self,
        request: Request<Streaming<StreamingInputCallRequest>>,
    ) -> Result<Response<StreamingInputCallResponse>, Status> {
        let echo = echo_metadata(request.metadata());
        let mut requests = request.into_inner();
        let mut total: usize = 0;
        while let Some(received) = requests.message_flagged().await? {
            let message = received.message;
            check_compressed(
                message.expect_compressed.as_ref(),
                Some(received.compressed),
            )?;
            let len = message.payload.as_ref().map_or(0, |p| p.body.len());
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

    type FullDuplexCallStream = OutputStream;

    async fn full_duplex_call(
        &self,
        request: Request<Streaming<StreamingOutputCallRequest>>,
    ) -> Result<Response<OutputStream>, Status> {
        let echo = echo_metadata(request.metadata());
        let duplex = Duplex {
            runtime: Arc::clone(&self.runtime),
            requests: request.into_inner(),
            pending: VecDeque::new(),
            done: false,
        };
        let stream: OutputStream = Box::pin(futures_lite::stream::unfold(duplex, Duplex::next));
        Ok(streaming_response(stream, echo))
    }

    type HalfDuplexCallStream = OutputStream;

    async fn half_duplex_call(
        &self,
        request: Request<Streaming<StreamingOutputCallRequest>>,
    ) -> Result<Response<OutputStream>, Status> {
        let echo = echo_metadata(request.metadata());
        let mut requests = request.into_inner();
        let runtime = Arc::clone(&self.runtime);
        // Everything is read (until the half-close) before anything is sent;
        // the headers have gone out already, so errors end the stream.
        let stream = futures_lite::stream::once_future(async move {
            let mut params = Vec::new();
            while let Some(request) = requests.message().await? {
                params.extend(checked_parameters(&request)?);
            }
            Ok::<_, Status>(respond_all(runtime, params))
        })
        .flat_map(|outcome| -> OutputStream {
            match outcome {
                Ok(responses) => responses,
                Err(status) => Box::pin(futures_lite::stream::once(Err(status))),
            }
        });
        Ok(streaming_response(Box::pin(stream), echo))
    }

    async fn unimplemented_call(
        &self,
        _request: Request<Empty>,
    ) -> Result<Response<Empty>, Status> {
        Err(Status::unimplemented(
            "UnimplementedCall is deliberately not implemented",
        ))
    }
}

/// Registers [`TestService`]'s methods under `grpc.testing.TestService`
/// (the generated [`TestServiceServer`] over a shared service).
#[derive(Debug, Clone)]
pub struct TestServiceRoutes(pub Arc<TestService>);

impl Service for TestServiceRoutes {
    const NAME: &'static str = methods::SERVICE_NAME;

    fn register(self, routes: &mut Routes) {
        TestServiceServer::from_arc(self.0).register(routes);
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
        let request = StreamingOutputCallRequest {
            response_parameters: vec![ResponseParameters {
                size: -1,
                interval_us: 0,
                compressed: None,
            }],
            ..StreamingOutputCallRequest::default()
        };
        assert_eq!(
            checked_parameters(&request).expect_err("negative").code(),
            Code::INVALID_ARGUMENT
        );
    }

    #[test]
    fn each_response_is_compressed_only_when_asked() {
        for (compressed, want) in [
            (None, false),
            (Some(BoolValue { value: false }), false),
            (Some(BoolValue { value: true }), true),
        ] {
            let params = ResponseParameters {
                size: 2,
                interval_us: 0,
                compressed,
            };
            let response = respond(&params).expect("valid size");
            assert_eq!(response.compress(), want, "{params:?}");
            assert_eq!(
                response.get_ref().payload.as_ref().map(|p| p.body.len()),
                Some(2)
            );
        }
    }

    #[test]
    fn expect_compressed_must_match_and_never_passes_unknown() {
        let expect = |value| Some(BoolValue { value });
        let table = [
            (None, None, None),
            (None, Some(true), None),
            (expect(true), Some(true), None),
            (expect(false), Some(false), None),
            (expect(true), Some(false), Some(Code::INVALID_ARGUMENT)),
            (expect(false), Some(true), Some(Code::INVALID_ARGUMENT)),
            (expect(true), None, Some(Code::INTERNAL)),
            (expect(false), None, Some(Code::INTERNAL)),
        ];
        for (expect, flag, want) in table {
            let got = check_compressed(expect.as_ref(), flag)
                .err()
                .map(|s| s.code());
            assert_eq!(got, want, "expect {expect:?}, flag {flag:?}");
        }
    }
}
