//! ferrule's interop client against ferrule's interop server in one process,
//! on each runtime: every case the client can run passes, the limit checks
//! hold, and the compression checks bite (a wrong flag is refused, an
//! all-compressed stream is flagged on every message).
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use ferrule::{Client, Code, Encoding, Request, Router, ServerConfig, ServerHandle};
use ferrule_interop::client::{CASES, Cases, EXTRA_CASES, cannot_run};
use ferrule_interop::codec::CaptureCodec;
use ferrule_interop::pb::test_service_methods as methods;
use ferrule_interop::pb::{
    BoolValue, Payload, ResponseParameters, SimpleRequest, SimpleResponse,
    StreamingOutputCallRequest, StreamingOutputCallResponse,
};
use ferrule_interop::rt::RuntimeKind;
use ferrule_interop::server::{TestService, TestServiceRoutes};
use ferrule_interop::tap::{ConnectionTaps, WireLog};

const RUNTIMES: [RuntimeKind; 2] = [RuntimeKind::Smol, RuntimeKind::Tokio];

async fn start(kind: RuntimeKind) -> (ServerHandle, String) {
    let taps = ConnectionTaps::new();
    let service = TestService::new(kind.runtime(), Arc::clone(&taps));
    let router = Router::new().add_service(TestServiceRoutes(Arc::new(service)));
    let server = kind
        .serve("127.0.0.1:0", router, ServerConfig::default(), taps)
        .await
        .unwrap();
    let target = server.local_addr().unwrap().to_string();
    (server, target)
}

#[test]
fn every_case_the_client_can_run_passes() {
    for kind in RUNTIMES {
        kind.block_on(async {
            let (server, target) = start(kind).await;
            let log = WireLog::new();
            let channel = kind.channel(&target, Arc::clone(&log));
            let cases = Cases::new(channel, log, kind.runtime(), Duration::from_secs(20));
            let mut failures = Vec::new();
            for case in CASES.iter().chain(EXTRA_CASES) {
                if cannot_run(case).is_some() {
                    continue;
                }
                match cases.run(case).await {
                    Ok(()) => {}
                    // The ferrule server cannot mix compressed and
                    // uncompressed responses in one call.
                    Err(reason)
                        if *case == "server_compressed_streaming"
                            && reason.contains("UNIMPLEMENTED") => {}
                    Err(reason) => failures.push(format!("{case}: {reason}")),
                }
            }
            assert!(failures.is_empty(), "{}: {failures:#?}", kind.name());
            assert!(
                cases.run("client_compressed_streaming").await.is_err(),
                "a case the client cannot run must fail, not pass"
            );
            server.shutdown(Duration::from_secs(1)).await;
        });
    }
}

fn zeros(n: usize) -> Option<Payload> {
    Some(Payload {
        r#type: 0,
        body: vec![0; n],
    })
}

#[test]
fn compression_checks_bite_and_streams_compress_every_message() {
    for kind in RUNTIMES {
        kind.block_on(async {
            let (server, target) = start(kind).await;
            let log = WireLog::new();
            let client = Client::new(kind.channel(&target, Arc::clone(&log)));

            // A compressed request that claims not to be.
            let mut lying = Request::new(SimpleRequest {
                response_size: 1,
                payload: zeros(1000),
                expect_compressed: Some(BoolValue { value: false }),
                ..SimpleRequest::default()
            });
            lying.set_compression(Encoding::Gzip);
            let status = client
                .unary(
                    &methods::UNARY_CALL,
                    lying,
                    CaptureCodec::<SimpleRequest, SimpleResponse>::new(),
                )
                .await
                .unwrap_err();
            assert_eq!(status.code(), Code::INVALID_ARGUMENT, "{status:?}");

            // Every response asks for compression: every one is flagged.
            let all = StreamingOutputCallRequest {
                response_parameters: (1..=3)
                    .map(|i| ResponseParameters {
                        size: 1000 * i,
                        interval_us: 0,
                        compressed: Some(BoolValue { value: true }),
                    })
                    .collect(),
                ..StreamingOutputCallRequest::default()
            };
            let codec =
                CaptureCodec::<StreamingOutputCallRequest, StreamingOutputCallResponse>::new();
            let mut stream = client
                .server_streaming(
                    &methods::STREAMING_OUTPUT_CALL,
                    Request::new(all.clone()),
                    codec,
                )
                .await
                .unwrap()
                .into_inner();
            let mut call_stream = None;
            let mut count = 0;
            while let Some(response) = stream.message().await.unwrap() {
                let seen = log.take_received(response.digest, call_stream).unwrap();
                call_stream = Some(seen.stream);
                assert!(seen.compressed, "response {count} not compressed");
                count += 1;
            }
            assert_eq!(count, 3);

            // A mix is refused with the reason.
            let mut mixed = all;
            mixed.response_parameters[1].compressed = Some(BoolValue { value: false });
            let outcome = client
                .server_streaming(&methods::STREAMING_OUTPUT_CALL, Request::new(mixed), codec)
                .await;
            let status = match outcome {
                Err(status) => status,
                Ok(response) => response.into_inner().message().await.unwrap_err(),
            };
            assert_eq!(status.code(), Code::UNIMPLEMENTED);
            assert!(
                status.message().contains("per-message")
                    || status.message().contains("some response messages")
            );
            server.shutdown(Duration::from_secs(1)).await;
        });
    }
}
