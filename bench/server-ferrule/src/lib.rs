//! The benchmark services on ferrule, shared by the smol and tokio servers: the same
//! work per message as `bench-server-tonic` (a fresh `String` per greeting, a fresh
//! zero-filled buffer per echo response).

use std::pin::Pin;
use std::task::{Context, Poll};

use ferrule::codegen::Stream;
use ferrule::{Request, Response, Router, Status, Streaming};

#[allow(missing_docs, clippy::all)]
pub mod helloworld {
    include!(concat!(env!("OUT_DIR"), "/helloworld.rs"));
}
#[allow(missing_docs, clippy::all)]
pub mod echo {
    include!(concat!(env!("OUT_DIR"), "/echo.rs"));
}

use echo::echo_server::{Echo, EchoServer};
use echo::{EchoRequest, EchoResponse};
use helloworld::greeter_server::{Greeter, GreeterServer};
use helloworld::{HelloReply, HelloRequest};

/// `helloworld.Greeter`: replies `"Hello " + name`.
pub struct GreeterService;

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

fn zeros(size: u32) -> EchoResponse {
    EchoResponse {
        payload: vec![0; size as usize],
    }
}

/// `response_count` responses of `response_size` zero bytes.
pub struct Repeat {
    remaining: u32,
    size: u32,
}

impl Stream for Repeat {
    type Item = Result<EchoResponse, Status>;

    fn poll_next(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        self.remaining -= 1;
        Poll::Ready(Some(Ok(zeros(self.size))))
    }
}

/// One response of `response_size` zero bytes per request.
pub struct Answers {
    requests: Streaming<EchoRequest>,
}

impl Stream for Answers {
    type Item = Result<EchoResponse, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.requests)
            .poll_next(cx)
            .map(|next| next.map(|request| request.map(|r| zeros(r.response_size))))
    }
}

/// `echo.Echo`: server streaming and bidi streaming of zero-filled payloads.
pub struct EchoService;

impl Echo for EchoService {
    type ServerStreamStream = Repeat;
    type BidiStreamStream = Answers;

    async fn server_stream(
        &self,
        request: Request<EchoRequest>,
    ) -> Result<Response<Repeat>, Status> {
        let EchoRequest {
            response_size,
            response_count,
            ..
        } = request.into_inner();
        Ok(Response::new(Repeat {
            remaining: response_count,
            size: response_size,
        }))
    }

    async fn bidi_stream(
        &self,
        request: Request<Streaming<EchoRequest>>,
    ) -> Result<Response<Answers>, Status> {
        Ok(Response::new(Answers {
            requests: request.into_inner(),
        }))
    }
}

/// Both services.
pub fn router() -> Router {
    Router::new()
        .add_service(GreeterServer::new(GreeterService))
        .add_service(EchoServer::new(EchoService))
}
