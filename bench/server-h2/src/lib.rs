//! `bench-server-h2`: the ceiling. Bare h2 on tokio answers the benchmark's methods with
//! pre-built headers and trailers and gRPC messages spliced together from bytes (no
//! protobuf library, no gRPC framework, no service abstraction), so the distance to it
//! is what a gRPC layer costs on top of HTTP/2.
//!
//! It sends what a gRPC server must send, as tonic does: `:status 200`,
//! `content-type: application/grpc`, the messages, and a `grpc-status: 0` trailer. It
//! leaves out hyper's `date` header, which is HTTP housekeeping rather than gRPC.
//! Its HTTP/2 settings are tonic's (hyper's) defaults: 1 MiB stream and connection
//! windows, 16 KiB frames, a 400 KiB send buffer, no stream limit.
//!
//! `bench-server-h2-work` is the same server doing, per streamed response, the work no
//! gRPC server can skip and the ceiling does: a fresh zero-filled payload (as every
//! service here builds), encoded as an `EchoResponse` (tag, length, a copy) and framed
//! behind the previous responses; no protobuf library, no gRPC framework. The distance
//! from the ceiling to it is the per-message work itself; the distance from it to a
//! gRPC implementation is what the framework costs on top.

use std::process::ExitCode;

use bench_harness::alloc::CountingAlloc;
use bench_harness::args::ServerArgs;
use bench_harness::h2io::{recv_chunk, send_flow_controlled};
use bench_harness::wire::{self, Deframer, EchoRequest};
use bytes::{BufMut, Bytes, BytesMut};
use clap::Parser;
use h2::RecvStream;
use h2::server::SendResponse;
use http::{HeaderMap, HeaderValue, Request, Response};
use tokio::sync::mpsc;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc::new();

/// The largest request message accepted (gRPC's usual 4 MiB default).
const MAX_MESSAGE: usize = 4 << 20;
/// Batches of streamed responses are cut at about one DATA frame.
const BATCH_BYTES: usize = 16 * 1024;
/// Bidi requests read ahead of the responses being sent.
const BIDI_READ_AHEAD: usize = 16;

/// What the server does for each streamed response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Responses {
    /// Sends pre-built responses again and again: the ceiling.
    Prebuilt,
    /// Builds, encodes and frames every response, as a service and its framework must.
    BuiltPerMessage,
}

/// Parses the command line and serves until killed.
pub fn main(name: &str, responses: Responses) -> ExitCode {
    let args = ServerArgs::parse();
    match run(name, &args, responses) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-server-{name}: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(name: &str, args: &ServerArgs, responses: Responses) -> std::io::Result<()> {
    let runtime = bench_harness::tokio_runtime(args.threads)?;
    runtime.block_on(async {
        let listener = bench_harness::serve_prelude(name, args, &ALLOC)?;
        let listener = tokio::net::TcpListener::from_std(listener)?;
        loop {
            let (socket, _) = listener.accept().await?;
            socket.set_nodelay(true)?;
            tokio::spawn(serve_connection(socket, responses));
        }
    })
}

async fn serve_connection(socket: tokio::net::TcpStream, responses: Responses) {
    let handshake = h2::server::Builder::new()
        .initial_window_size(1 << 20)
        .initial_connection_window_size(1 << 20)
        .max_send_buffer_size(400 * 1024)
        .max_header_list_size(16 * 1024)
        .handshake::<_, Bytes>(socket);
    let Ok(mut connection) = handshake.await else {
        return;
    };
    while let Some(Ok((request, respond))) = connection.accept().await {
        tokio::spawn(handle(request, respond, responses));
    }
}

async fn handle(request: Request<RecvStream>, respond: SendResponse<Bytes>, responses: Responses) {
    let (parts, body) = request.into_parts();
    // Errors mean the client reset the stream or went away: nothing left to answer.
    let _ = match parts.uri.path() {
        wire::SAY_HELLO => say_hello(body, respond).await,
        wire::SERVER_STREAM => server_stream(body, respond, responses).await,
        wire::BIDI_STREAM => bidi_stream(body, respond, responses).await,
        _ => trailers_only(respond, "12", "unknown method"),
    };
}

type Result<T> = std::result::Result<T, h2::Error>;

fn ok_headers() -> Response<()> {
    let mut response = Response::new(());
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    response
}

fn ok_trailers() -> HeaderMap {
    let mut trailers = HeaderMap::with_capacity(1);
    trailers.insert("grpc-status", HeaderValue::from_static("0"));
    trailers
}

/// A response that is all trailers: the gRPC way to fail before any message.
fn trailers_only(
    mut respond: SendResponse<Bytes>,
    status: &'static str,
    message: &'static str,
) -> Result<()> {
    let mut response = ok_headers();
    let headers = response.headers_mut();
    headers.insert("grpc-status", HeaderValue::from_static(status));
    headers.insert("grpc-message", HeaderValue::from_static(message));
    respond.send_response(response, true).map(drop)
}

/// Reads the single request message of a unary or server-streaming call.
async fn read_single_message(body: &mut RecvStream) -> Result<Option<Bytes>> {
    let mut deframer = Deframer::new(MAX_MESSAGE);
    let mut message = None;
    while let Some(chunk) = recv_chunk(body).await {
        deframer.push(chunk?);
        while let Some(next) = deframer.next_message().ok().flatten() {
            if message.replace(next).is_some() {
                return Ok(None);
            }
        }
    }
    Ok(message.filter(|_| deframer.finish().is_ok()))
}

async fn say_hello(mut body: RecvStream, mut respond: SendResponse<Bytes>) -> Result<()> {
    let request = read_single_message(&mut body).await?;
    let Some(name) = request
        .as_deref()
        .and_then(|m| wire::parse_hello_request(m).ok())
    else {
        return trailers_only(respond, "13", "bad request message");
    };
    let reply_len = wire::hello_reply_len(name.len());
    let mut reply = BytesMut::with_capacity(wire::FRAME_HEADER_LEN + reply_len);
    wire::put_frame_header(&mut reply, reply_len);
    wire::put_hello_reply(&mut reply, name);

    let mut stream = respond.send_response(ok_headers(), false)?;
    send_flow_controlled(&mut stream, reply.freeze(), false).await?;
    stream.send_trailers(ok_trailers())
}

/// `copies` back-to-back framed `EchoResponse`s of `size` bytes, in one buffer.
fn framed_echo_responses(size: u32, copies: usize) -> Bytes {
    let message = wire::echo_response(size as usize);
    let mut batch = BytesMut::with_capacity(copies * (wire::FRAME_HEADER_LEN + message.len()));
    for _ in 0..copies {
        wire::put_frame_header(&mut batch, message.len());
        batch.put_slice(&message);
    }
    batch.freeze()
}

/// Appends one framed `EchoResponse` carrying `payload`, encoded as protobuf does.
fn put_framed_echo_response(batch: &mut BytesMut, payload: &[u8]) {
    wire::put_frame_header(batch, wire::echo_response_len(payload.len()));
    wire::put_echo_response(batch, payload);
}

/// The bytes of one framed `EchoResponse` of `size` payload bytes.
fn framed_echo_response_len(size: u32) -> usize {
    wire::FRAME_HEADER_LEN + wire::echo_response_len(size as usize)
}

/// One response built as a service and its framework build it: a fresh zero-filled
/// payload, encoded and framed into `batch`.
fn build_response(batch: &mut BytesMut, size: u32) {
    let payload = std::hint::black_box(vec![0u8; size as usize]);
    put_framed_echo_response(batch, &payload);
}

async fn server_stream(
    mut body: RecvStream,
    mut respond: SendResponse<Bytes>,
    responses: Responses,
) -> Result<()> {
    let request = read_single_message(&mut body).await?;
    let Some(EchoRequest {
        response_size,
        response_count,
        ..
    }) = request
        .as_deref()
        .and_then(|m| wire::parse_echo_request(m).ok())
    else {
        return trailers_only(respond, "13", "bad request message");
    };
    let framed_len = framed_echo_response_len(response_size);
    let per_batch = (BATCH_BYTES / framed_len).max(1);
    let mut stream = respond.send_response(ok_headers(), false)?;
    let mut left = response_count as usize;
    if responses == Responses::BuiltPerMessage {
        // About a frame's worth of responses built into each buffer.
        while left > 0 {
            let n = left.min(per_batch);
            let mut built = BytesMut::with_capacity(n * framed_len);
            for _ in 0..n {
                build_response(&mut built, response_size);
            }
            send_flow_controlled(&mut stream, built.freeze(), false).await?;
            left -= n;
        }
        return stream.send_trailers(ok_trailers());
    }
    // One buffer holds about a frame's worth of responses and is sent again and again.
    let batch = framed_echo_responses(response_size, per_batch.min(response_count as usize));
    while left > 0 {
        let n = left.min(per_batch);
        let data = if n == per_batch {
            batch.clone()
        } else {
            batch.slice(..n * framed_len)
        };
        send_flow_controlled(&mut stream, data, false).await?;
        left -= n;
    }
    stream.send_trailers(ok_trailers())
}

async fn bidi_stream(
    mut body: RecvStream,
    mut respond: SendResponse<Bytes>,
    responses: Responses,
) -> Result<()> {
    let mut stream = respond.send_response(ok_headers(), false)?;
    let (sizes_tx, mut sizes_rx) = mpsc::channel::<u32>(BIDI_READ_AHEAD);

    // Reading and writing run side by side, as in any full-duplex gRPC server.
    let read = async move {
        let mut deframer = Deframer::new(MAX_MESSAGE);
        while let Some(chunk) = recv_chunk(&mut body).await {
            deframer.push(chunk?);
            while let Some(message) = deframer.next_message().ok().flatten() {
                let size = wire::parse_echo_request(&message).map_or(0, |r| r.response_size);
                if sizes_tx.send(size).await.is_err() {
                    return Ok(());
                }
            }
        }
        Ok::<(), h2::Error>(())
    };
    let write = async {
        // Consecutive requests usually ask for the same size: reuse the framed response.
        let mut cached: Option<(u32, Bytes)> = None;
        while let Some(size) = sizes_rx.recv().await {
            let framed = if responses == Responses::BuiltPerMessage {
                let mut built = BytesMut::with_capacity(framed_echo_response_len(size));
                build_response(&mut built, size);
                built.freeze()
            } else {
                match &cached {
                    Some((cached_size, framed)) if *cached_size == size => framed.clone(),
                    _ => {
                        let framed = framed_echo_responses(size, 1);
                        cached = Some((size, framed.clone()));
                        framed
                    }
                }
            };
            send_flow_controlled(&mut stream, framed, false).await?;
        }
        Ok::<(), h2::Error>(())
    };
    let (read, write) = tokio::join!(read, write);
    read?;
    write?;
    stream.send_trailers(ok_trailers())
}
