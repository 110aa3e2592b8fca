//! ferrule's interop client against ferrule's interop server in one process,
//! on each runtime: every case passes, the limit checks hold, and the
//! compression checks bite (a wrong flag is refused, each streamed response
//! carries the flag its parameters ask for, in full duplex too).
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use ferrule::{
    Client, Code, Encoding, Request, Response, Router, ServerConfig, ServerHandle, Status,
    Streaming,
};
use ferrule_interop::client::{CANNOT_RUN, CASES, Cases, EXTRA_CASES};
use ferrule_interop::pb::test_service_client::TestServiceClient;
use ferrule_interop::pb::{
    BoolValue, Payload, ResponseParameters, SimpleRequest, StreamingOutputCallRequest,
};
use ferrule_interop::rt::RuntimeKind;
use ferrule_interop::server::{TestService, TestServiceRoutes};
use ferrule_interop::tap::WireLog;

const RUNTIMES: [RuntimeKind; 2] = [RuntimeKind::Smol, RuntimeKind::Tokio];

async fn start(kind: RuntimeKind) -> (ServerHandle, String) {
    let service = TestService::new(kind.runtime());
    let router = Router::new().add_service(TestServiceRoutes(Arc::new(service)));
    let server = kind
        .serve("127.0.0.1:0", router, ServerConfig::default())
        .await
        .unwrap();
    let target = server.local_addr().unwrap().to_string();
    (server, target)
}

#[test]
fn every_case_passes() {
    assert!(CANNOT_RUN.is_empty(), "every official case runs");
    for kind in RUNTIMES {
        kind.block_on(async {
            let (server, target) = start(kind).await;
            let log = WireLog::new();
            let channel = kind.channel(&target, Arc::clone(&log));
            let cases = Cases::new(channel, log, kind.runtime(), Duration::from_secs(20));
            let mut failures = Vec::new();
            for case in CASES.iter().chain(EXTRA_CASES) {
                if let Err(reason) = cases.run(case).await {
                    failures.push(format!("{case}: {reason}"));
                }
            }
            assert!(failures.is_empty(), "{}: {failures:#?}", kind.name());
            server.shutdown(Duration::from_secs(1)).await;
        });
    }
}

/// The Compressed-Flag of each message of a response stream.
async fn received_flags<T>(response: Result<Response<Streaming<T>>, Status>) -> Vec<bool> {
    let mut stream = response.unwrap().into_inner();
    let mut flags = Vec::new();
    while let Some(message) = stream.message_flagged().await.unwrap() {
        flags.push(message.compressed);
    }
    flags
}

fn zeros(n: usize) -> Option<Payload> {
    Some(Payload {
        r#type: 0,
        body: vec![0; n],
    })
}

#[test]
fn compression_checks_bite_and_each_response_has_its_own_flag() {
    for kind in RUNTIMES {
        kind.block_on(async {
            let (server, target) = start(kind).await;
            let client = Client::new(kind.channel(&target, WireLog::new()));
            let test = TestServiceClient::new(client);

            // A compressed request that claims not to be.
            let mut lying = Request::new(SimpleRequest {
                response_size: 1,
                payload: zeros(1000),
                expect_compressed: Some(BoolValue { value: false }),
                ..SimpleRequest::default()
            });
            lying.set_compression(Encoding::Gzip);
            let status = test.unary_call(lying).await.unwrap_err();
            assert_eq!(status.code(), Code::INVALID_ARGUMENT, "{status:?}");

            // Responses alternate compressed and not, as their parameters
            // ask, on a server stream and in full duplex.
            let flags = [true, false, false, true];
            let request = StreamingOutputCallRequest {
                response_parameters: (1..)
                    .zip(flags)
                    .map(|(i, compressed)| ResponseParameters {
                        size: 1000 * i,
                        interval_us: 0,
                        compressed: Some(BoolValue { value: compressed }),
                    })
                    .collect(),
                ..StreamingOutputCallRequest::default()
            };
            let stream = test.streaming_output_call(request.clone()).await;
            assert_eq!(received_flags(stream).await, flags, "server streaming");
            let duplex = test
                .full_duplex_call(futures_lite::stream::iter([request]))
                .await;
            assert_eq!(received_flags(duplex).await, flags, "full duplex");
            server.shutdown(Duration::from_secs(1)).await;
        });
    }
}
