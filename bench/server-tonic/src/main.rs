//! `bench-server-tonic`: the benchmark services on tonic, written as a tonic user would
//! (generated code, `#[tonic::async_trait]`, `Server::builder()`), with tonic's defaults
//! except TCP_NODELAY, which every implementation sets.

use std::pin::Pin;
use std::process::ExitCode;

use bench_harness::alloc::CountingAlloc;
use bench_harness::args::ServerArgs;
use clap::Parser;
use tokio_stream::{Stream, StreamExt};
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status, Streaming};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc::new();

#[allow(missing_docs, clippy::all)]
mod helloworld {
    tonic::include_proto!("helloworld");
}
#[allow(missing_docs, clippy::all)]
mod echo {
    tonic::include_proto!("echo");
}

use echo::echo_server::{Echo, EchoServer};
use echo::{EchoRequest, EchoResponse};
use helloworld::greeter_server::{Greeter, GreeterServer};
use helloworld::{HelloReply, HelloRequest};

struct GreeterService;

#[tonic::async_trait]
impl Greeter for GreeterService {
    async fn say_hello(
        &self,
        request: Request<HelloRequest>,
    ) -> Result<Response<HelloReply>, Status> {
        let name = request.into_inner().name;
        Ok(Response::new(HelloReply {
            message: format!("Hello {name}"),
        }))
    }
}

struct EchoService;

type ResponseStream = Pin<Box<dyn Stream<Item = Result<EchoResponse, Status>> + Send>>;

fn zeros(size: u32) -> EchoResponse {
    EchoResponse {
        payload: vec![0; size as usize],
    }
}

#[tonic::async_trait]
impl Echo for EchoService {
    type ServerStreamStream = ResponseStream;
    type BidiStreamStream = ResponseStream;

    async fn server_stream(
        &self,
        request: Request<EchoRequest>,
    ) -> Result<Response<ResponseStream>, Status> {
        let EchoRequest {
            response_size,
            response_count,
            ..
        } = request.into_inner();
        let responses =
            tokio_stream::iter(0..response_count).map(move |_| Ok(zeros(response_size)));
        Ok(Response::new(Box::pin(responses)))
    }

    async fn bidi_stream(
        &self,
        request: Request<Streaming<EchoRequest>>,
    ) -> Result<Response<ResponseStream>, Status> {
        let responses = request
            .into_inner()
            .map(|request| request.map(|r| zeros(r.response_size)));
        Ok(Response::new(Box::pin(responses)))
    }
}

fn main() -> ExitCode {
    let args = ServerArgs::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-server-tonic: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &ServerArgs) -> Result<(), Box<dyn std::error::Error>> {
    let runtime = bench_harness::tokio_runtime(args.threads)?;
    runtime.block_on(async {
        let listener = bench_harness::serve_prelude("tonic", args, &ALLOC)?;
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
        Server::builder()
            .add_service(GreeterServer::new(GreeterService))
            .add_service(EchoServer::new(EchoService))
            .serve_with_incoming(incoming)
            .await?;
        Ok(())
    })
}
