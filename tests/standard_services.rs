//! The health and reflection services over real sockets (127.0.0.1, an
//! ephemeral port), through ferrule's own generated clients: health Check,
//! Watch and graceful shutdown; reflection's every request kind over v1 and
//! v1alpha on one stream each. Every call carries a deadline, so nothing
//! waits forever.

#![cfg(all(
    feature = "health",
    feature = "reflection",
    any(feature = "smol", feature = "tokio")
))]
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use ferrule::health::pb::health_client::HealthClient;
use ferrule::health::pb::{HealthCheckRequest, HealthCheckResponse};
use ferrule::health::{HealthReporter, ServingStatus};
use ferrule::reflection::v1::server_reflection_request::MessageRequest;
use ferrule::reflection::v1::server_reflection_response::MessageResponse;
use ferrule::reflection::v1::{ExtensionRequest, ServerReflectionRequest};
use ferrule::reflection::{ReflectionBuilder, v1, v1alpha};
use ferrule::{Channel, Code, Request, Router, ServerHandle, Streaming, rt, stream_channel};

const LIMIT: Duration = Duration::from_secs(10);

async fn serve(router: Router) -> (ServerHandle, Channel) {
    let server = rt::serve("127.0.0.1:0", router).await.unwrap();
    let addr = server.local_addr().unwrap();
    (server, rt::channel(&addr.to_string()))
}

fn health_request(service: &str) -> Request<HealthCheckRequest> {
    let mut request = Request::new(HealthCheckRequest {
        service: service.into(),
    });
    request.set_timeout(LIMIT);
    request
}

async fn check(client: &HealthClient, service: &str) -> Result<ServingStatus, Code> {
    client
        .check(health_request(service))
        .await
        .map(|response| response.into_inner().status())
        .map_err(|status| status.code())
}

async fn next_status(watch: &mut Streaming<HealthCheckResponse>) -> ServingStatus {
    match watch.message().await {
        Ok(Some(response)) => response.status(),
        Ok(None) => panic!("the watch ended"),
        Err(status) => panic!("the watch failed: {status}"),
    }
}

#[test]
fn health_check_watch_and_shutdown() {
    rt::block_on(async {
        let health = HealthReporter::new();
        health.set_serving("shop.Bookstore");
        let (server, channel) = serve(Router::new().add_service(health.service())).await;
        let client = HealthClient::new(channel);

        assert_eq!(check(&client, "").await, Ok(ServingStatus::Serving));
        assert_eq!(
            check(&client, "shop.Bookstore").await,
            Ok(ServingStatus::Serving)
        );
        assert_eq!(check(&client, "shop.Nothing").await, Err(Code::NOT_FOUND));

        let mut bookstore = client
            .watch(health_request("shop.Bookstore"))
            .await
            .unwrap()
            .into_inner();
        let mut later = client
            .watch(health_request("shop.Later"))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(next_status(&mut bookstore).await, ServingStatus::Serving);
        assert_eq!(next_status(&mut later).await, ServingStatus::ServiceUnknown);

        health.set_not_serving("shop.Bookstore");
        assert_eq!(next_status(&mut bookstore).await, ServingStatus::NotServing);
        assert_eq!(
            check(&client, "shop.Bookstore").await,
            Ok(ServingStatus::NotServing)
        );
        health.set_serving("shop.Later");
        assert_eq!(next_status(&mut later).await, ServingStatus::Serving);
        health.set_serving("shop.Bookstore");
        assert_eq!(next_status(&mut bookstore).await, ServingStatus::Serving);

        // Graceful shutdown: every watcher sees NOT_SERVING, then its watch
        // ends OK, so the open watches do not hold the shutdown for the whole
        // grace period.
        let started = std::time::Instant::now();
        let shutdown = {
            let server = server.clone();
            async move { server.shutdown(Duration::from_secs(20)).await }
        };
        let watchers = async {
            assert_eq!(next_status(&mut later).await, ServingStatus::NotServing);
            assert_eq!(next_status(&mut bookstore).await, ServingStatus::NotServing);
            assert!(
                later.message().await.unwrap().is_none(),
                "the watch ends OK"
            );
            assert!(
                bookstore.message().await.unwrap().is_none(),
                "the watch ends OK"
            );
        };
        let ((), ()) = join(shutdown, watchers).await;
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the shutdown took {:?}",
            started.elapsed()
        );
        assert!(health.is_shut_down());
        assert_eq!(health.status(""), Some(ServingStatus::NotServing));
    });
}

/// Both futures to completion (a minimal join, no extra dependency).
async fn join<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
    let mut a = std::pin::pin!(a);
    let mut b = std::pin::pin!(b);
    let (mut out_a, mut out_b) = (None, None);
    std::future::poll_fn(|cx| {
        if out_a.is_none()
            && let std::task::Poll::Ready(out) = a.as_mut().poll(cx)
        {
            out_a = Some(out);
        }
        if out_b.is_none()
            && let std::task::Poll::Ready(out) = b.as_mut().poll(cx)
        {
            out_b = Some(out);
        }
        if out_a.is_some() && out_b.is_some() {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    (out_a.unwrap(), out_b.unwrap())
}

/// One reflection stream: a request in, its response out.
struct Session {
    requests: ferrule::StreamSender<ServerReflectionRequest>,
    responses: Streaming<v1::ServerReflectionResponse>,
}

impl Session {
    async fn v1(channel: &Channel) -> Session {
        let (requests, outbox) = stream_channel(4);
        let mut request = Request::new(outbox);
        request.set_timeout(LIMIT);
        let responses = v1::server_reflection_client::ServerReflectionClient::new(channel.clone())
            .server_reflection_info(request)
            .await
            .unwrap()
            .into_inner();
        Session {
            requests,
            responses,
        }
    }

    /// The same, over v1alpha with its own generated messages; the
    /// responses are converted to v1 by re-encoding (the same wire format).
    async fn v1alpha(channel: &Channel) -> V1alphaSession {
        let (requests, outbox) = stream_channel(4);
        let mut request = Request::new(outbox);
        request.set_timeout(LIMIT);
        let responses =
            v1alpha::server_reflection_client::ServerReflectionClient::new(channel.clone())
                .server_reflection_info(request)
                .await
                .unwrap()
                .into_inner();
        V1alphaSession {
            requests,
            responses,
        }
    }

    async fn ask(&mut self, question: MessageRequest) -> MessageResponse {
        let request = ServerReflectionRequest {
            host: "localhost".into(),
            message_request: Some(question),
        };
        self.requests.send(request.clone()).await.unwrap();
        let response = self.responses.message().await.unwrap().unwrap();
        assert_eq!(response.original_request, Some(request));
        response.message_response.unwrap()
    }
}

struct V1alphaSession {
    requests: ferrule::StreamSender<v1alpha::ServerReflectionRequest>,
    responses: Streaming<v1alpha::ServerReflectionResponse>,
}

impl V1alphaSession {
    async fn ask(&mut self, question: MessageRequest) -> MessageResponse {
        use prost::Message as _;
        let request = ServerReflectionRequest {
            host: "localhost".into(),
            message_request: Some(question),
        };
        let alpha =
            v1alpha::ServerReflectionRequest::decode(request.encode_to_vec().as_slice()).unwrap();
        self.requests.send(alpha).await.unwrap();
        let response = self.responses.message().await.unwrap().unwrap();
        let response =
            v1::ServerReflectionResponse::decode(response.encode_to_vec().as_slice()).unwrap();
        assert_eq!(response.original_request, Some(request));
        response.message_response.unwrap()
    }
}

/// The names of the files in a response, or its error code.
fn files(response: MessageResponse) -> Result<Vec<String>, Code> {
    /// Only the name of a FileDescriptorProto.
    #[derive(Clone, PartialEq, prost::Message)]
    struct FileName {
        #[prost(string, tag = "1")]
        name: String,
    }
    use prost::Message as _;
    match response {
        MessageResponse::FileDescriptorResponse(files) => Ok(files
            .file_descriptor_proto
            .iter()
            .map(|bytes| FileName::decode(bytes.as_ref()).unwrap().name)
            .collect()),
        MessageResponse::ErrorResponse(error) => Err(Code::from_i32(error.error_code)),
        other => panic!("not a file response: {other:?}"),
    }
}

fn services(response: MessageResponse) -> Vec<String> {
    match response {
        MessageResponse::ListServicesResponse(list) => {
            list.service.into_iter().map(|s| s.name).collect()
        }
        other => panic!("not a service list: {other:?}"),
    }
}

const HEALTH_PROTO: &str = "grpc/health/v1/health.proto";
const V1_PROTO: &str = "grpc/reflection/v1/reflection.proto";
const V1ALPHA_PROTO: &str = "grpc/reflection/v1alpha/reflection.proto";

/// Every request kind, asked the same way on whichever version.
macro_rules! every_request_kind {
    ($session:expr) => {{
        let session = $session;
        assert_eq!(
            services(
                session
                    .ask(MessageRequest::ListServices(String::new()))
                    .await
            ),
            [
                "grpc.health.v1.Health",
                "grpc.reflection.v1.ServerReflection",
                "grpc.reflection.v1alpha.ServerReflection",
            ]
        );
        assert_eq!(
            files(
                session
                    .ask(MessageRequest::FileByFilename(HEALTH_PROTO.into()))
                    .await
            ),
            Ok(vec![HEALTH_PROTO.to_owned()])
        );
        assert_eq!(
            files(
                session
                    .ask(MessageRequest::FileByFilename("nope.proto".into()))
                    .await
            ),
            Err(Code::NOT_FOUND)
        );
        // The stream goes on after an error.
        for (symbol, file) in [
            ("grpc.health.v1.Health", HEALTH_PROTO),
            ("grpc.health.v1.Health.Watch", HEALTH_PROTO),
            (
                "grpc.health.v1.HealthCheckResponse.ServingStatus",
                HEALTH_PROTO,
            ),
            (
                "grpc.health.v1.HealthCheckResponse.SERVICE_UNKNOWN",
                HEALTH_PROTO,
            ),
            ("grpc.reflection.v1.ServerReflectionRequest", V1_PROTO),
            (
                "grpc.reflection.v1alpha.ErrorResponse.error_code",
                V1ALPHA_PROTO,
            ),
        ] {
            let got = files(
                session
                    .ask(MessageRequest::FileContainingSymbol(symbol.into()))
                    .await,
            );
            assert_eq!(got.map(|f| f[0].clone()), Ok(file.to_owned()), "{symbol}");
        }
        assert_eq!(
            files(
                session
                    .ask(MessageRequest::FileContainingSymbol("grpc.Nope".into()))
                    .await
            ),
            Err(Code::NOT_FOUND)
        );
        assert_eq!(
            files(
                session
                    .ask(MessageRequest::FileContainingExtension(ExtensionRequest {
                        containing_type: "grpc.health.v1.HealthCheckRequest".into(),
                        extension_number: 100,
                    }))
                    .await
            ),
            Err(Code::NOT_FOUND)
        );
        match session
            .ask(MessageRequest::AllExtensionNumbersOfType(
                "grpc.health.v1.HealthCheckRequest".into(),
            ))
            .await
        {
            MessageResponse::AllExtensionNumbersResponse(numbers) => {
                assert_eq!(numbers.base_type_name, "grpc.health.v1.HealthCheckRequest");
                assert!(numbers.extension_number.is_empty());
            }
            other => panic!("unexpected {other:?}"),
        }
        match session
            .ask(MessageRequest::AllExtensionNumbersOfType(
                "grpc.Nope".into(),
            ))
            .await
        {
            MessageResponse::ErrorResponse(error) => {
                assert_eq!(Code::from_i32(error.error_code), Code::NOT_FOUND)
            }
            other => panic!("unexpected {other:?}"),
        }
    }};
}

fn reflection_router() -> Router {
    let health = HealthReporter::new();
    let reflection = ReflectionBuilder::new()
        .register_encoded_file_descriptor_set(ferrule::health::FILE_DESCRIPTOR_SET)
        .build()
        .unwrap();
    Router::new()
        .add_service(health.service())
        .add_service(reflection)
}

#[test]
fn reflection_answers_every_request_kind_over_v1() {
    rt::block_on(async {
        let (server, channel) = serve(reflection_router()).await;
        let mut session = Session::v1(&channel).await;
        every_request_kind!(&mut session);
        drop(session.requests);
        assert!(
            session.responses.message().await.unwrap().is_none(),
            "the call ends OK when the client half-closes"
        );
        server.shutdown(Duration::from_secs(1)).await;
    });
}

#[test]
fn reflection_answers_every_request_kind_over_v1alpha() {
    rt::block_on(async {
        let (server, channel) = serve(reflection_router()).await;
        let mut session = Session::v1alpha(&channel).await;
        every_request_kind!(&mut session);
        server.shutdown(Duration::from_secs(1)).await;
    });
}

#[test]
fn a_reflection_request_that_asks_nothing_ends_the_call_invalid_argument() {
    rt::block_on(async {
        let (server, channel) = serve(reflection_router()).await;
        let mut session = Session::v1(&channel).await;
        session
            .requests
            .send(ServerReflectionRequest::default())
            .await
            .unwrap();
        let status = session.responses.message().await.unwrap_err();
        assert_eq!(status.code(), Code::INVALID_ARGUMENT);
        server.shutdown(Duration::from_secs(1)).await;
    });
}
