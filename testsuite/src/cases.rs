//! The test bodies, generic over the runtime.

use std::collections::VecDeque;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

use ferrule_core::api::codegen::{
    BytesCodec, Code, MethodDescriptor, MethodKind, Status, streaming_handler, unary_handler,
};
use ferrule_core::api::{
    Channel, ChannelConfig, Client, OutboundMessage, Request, Response, Router, Runtime, Server,
    ServerHandle, Streaming,
};
use ferrule_core::codec::compression::Encoding;

use crate::Harness;
use crate::kill::{KillSwitch, KillableListener};
use crate::service::{Echo, EchoClient, EchoServer, Items, Msg, Probe, User};
use crate::util::{sleep, wait_until, within};

const SECOND: Duration = Duration::from_secs(1);
const LIMIT: Duration = Duration::from_secs(10);

/// A server with the Echo service and a client to it.
struct Env {
    rt: Arc<dyn Runtime>,
    probe: Arc<Probe>,
    echo_relay: Arc<Mutex<Option<EchoClient>>>,
    server: ServerHandle,
    addr: SocketAddr,
    channel: Channel,
    client: EchoClient,
}

/// Settings of one environment.
struct Setup {
    server: Box<dyn FnOnce(&mut Server) + Send>,
    router: Box<dyn FnOnce(Router) -> Router + Send>,
    channel: ChannelConfig,
    addr: SocketAddr,
    kill: Option<KillSwitch>,
}

impl Default for Setup {
    fn default() -> Setup {
        let mut channel = ChannelConfig::default();
        channel.initial_backoff = Duration::from_millis(20);
        channel.max_backoff = Duration::from_millis(100);
        channel.connect_timeout = Duration::from_secs(5);
        Setup {
            server: Box::new(|_| {}),
            router: Box::new(|r| r),
            channel,
            addr: "127.0.0.1:0".parse().unwrap(),
            kill: None,
        }
    }
}

fn echo_router(
    rt: &Arc<dyn Runtime>,
    probe: &Arc<Probe>,
) -> (Router, Arc<Mutex<Option<EchoClient>>>) {
    let echo = Echo {
        runtime: Arc::clone(rt),
        probe: Arc::clone(probe),
        relay: Mutex::new(None),
    };
    let relay = Arc::new(Mutex::new(None));
    let server = EchoServer::new(echo);
    (Router::new().add_service(server), relay)
}

async fn serve<H: Harness>(
    rt: &Arc<dyn Runtime>,
    addr: SocketAddr,
    router: Router,
    configure: Box<dyn FnOnce(&mut Server) + Send>,
    kill: Option<KillSwitch>,
) -> ServerHandle {
    let mut server = Server::with_runtime(Arc::clone(rt));
    configure(&mut server);
    // A port just released may take a moment to bind again.
    let mut tries = 0;
    let listener = loop {
        match H::bind(addr).await {
            Ok(listener) => break listener,
            Err(e) => {
                tries += 1;
                assert!(tries < 100, "bind {addr}: {e}");
                sleep(rt, Duration::from_millis(20)).await;
            }
        }
    };
    match kill {
        Some(switch) => server.serve(
            KillableListener {
                inner: listener,
                switch,
            },
            router,
        ),
        None => server.serve(listener, router),
    }
}

async fn start<H: Harness>(setup: Setup) -> Env {
    let rt = H::runtime();
    let probe = Arc::new(Probe::default());
    let (router, _) = echo_router(&rt, &probe);
    let router = (setup.router)(router);
    let server = serve::<H>(&rt, setup.addr, router, setup.server, setup.kill).await;
    let addr = server.local_addr().expect("a TCP listener has an address");
    let channel = H::channel(addr, setup.channel);
    let client = EchoClient::new(channel.clone());
    Env {
        rt,
        probe,
        echo_relay: Arc::new(Mutex::new(None)),
        server,
        addr,
        channel,
        client,
    }
}

/// Collects a response stream: the messages, then the error if it failed.
async fn drain(
    rt: &Arc<dyn Runtime>,
    mut stream: Streaming<Msg>,
) -> (Vec<Msg>, Option<Status>, Streaming<Msg>) {
    let mut out = Vec::new();
    loop {
        match within(rt, LIMIT, "next stream message", stream.message()).await {
            Ok(Some(m)) => out.push(m),
            Ok(None) => return (out, None, stream),
            Err(status) => return (out, Some(status), stream),
        }
    }
}

/// Spawns `future` on the runtime; the returned slot fills with its output.
fn spawn<T: Send + 'static>(
    rt: &Arc<dyn Runtime>,
    future: impl Future<Output = T> + Send + 'static,
) -> Arc<Mutex<Option<T>>> {
    let slot = Arc::new(Mutex::new(None));
    let out = Arc::clone(&slot);
    rt.spawn(Box::pin(async move {
        let value = future.await;
        *out.lock().unwrap() = Some(value);
    }));
    slot
}

async fn take<T>(rt: &Arc<dyn Runtime>, slot: &Arc<Mutex<Option<T>>>, what: &str) -> T {
    wait_until(rt, LIMIT, what, || slot.lock().unwrap().is_some()).await;
    slot.lock().unwrap().take().unwrap()
}

fn code_of<T>(result: Result<T, Status>) -> Code {
    match result {
        Ok(_) => Code::OK,
        Err(status) => status.code(),
    }
}

// ----- the four kinds, metadata, statuses --------------------------------

pub async fn four_kinds<H: Harness>() {
    let env = start::<H>(Setup::default()).await;
    let rt = &env.rt;

    let reply = within(rt, LIMIT, "unary", env.client.unary(Msg::text("hello"))).await;
    assert_eq!(reply.unwrap().into_inner().text, "hello");

    let request = Msg {
        text: "x".into(),
        count: 5,
        ..Msg::default()
    };
    let stream = within(rt, LIMIT, "server streaming", env.client.expand(request)).await;
    let (items, error, _) = drain(rt, stream.unwrap().into_inner()).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(
        items.iter().map(|m| m.index).collect::<Vec<_>>(),
        [0, 1, 2, 3, 4]
    );

    let reply = within(
        rt,
        LIMIT,
        "client streaming",
        env.client.collect(Items::of(&["a", "b", "c"])),
    )
    .await;
    let reply = reply.unwrap().into_inner();
    assert_eq!((reply.text.as_str(), reply.count), ("a,b,c", 3));

    let stream = within(
        rt,
        LIMIT,
        "bidi",
        env.client.chat(Items::of(&["1", "2", "3"])),
    )
    .await;
    let (items, error, _) = drain(rt, stream.unwrap().into_inner()).await;
    assert!(error.is_none(), "{error:?}");
    let got: Vec<_> = items.iter().map(|m| (m.text.as_str(), m.index)).collect();
    assert_eq!(got, [("1", 0), ("2", 1), ("3", 2)]);

    // Empty client stream: zero messages is a valid request stream.
    let reply = within(
        rt,
        LIMIT,
        "empty client stream",
        env.client.collect(Items::of(&[])),
    )
    .await;
    assert_eq!(reply.unwrap().into_inner().count, 0);
    assert_eq!(env.channel.connection_attempts(), 1);
}

pub async fn metadata_both_ways<H: Harness>() {
    let env = start::<H>(Setup::default()).await;
    let rt = &env.rt;
    let mut request = Request::new(Msg::text("m"));
    request.metadata_mut().insert("x-request", "abc").unwrap();
    request
        .metadata_mut()
        .insert_bin("x-blob-bin", &[0, 1, 254, 255])
        .unwrap();
    let reply = within(rt, LIMIT, "unary with metadata", env.client.unary(request))
        .await
        .unwrap();
    assert_eq!(reply.metadata().get("x-echo"), Some("abc"));
    assert_eq!(
        reply.metadata().get_bin("x-blob-bin"),
        Some(&[0u8, 1, 254, 255][..])
    );
    assert_eq!(reply.trailers().get("x-trailer"), Some("done"));

    let mut request = Request::new(Msg {
        count: 2,
        ..Msg::default()
    });
    request.metadata_mut().insert("x-request", "s").unwrap();
    let reply = within(
        rt,
        LIMIT,
        "streaming with metadata",
        env.client.expand(request),
    )
    .await
    .unwrap();
    // The call returns before the server's headers: they come with the stream.
    assert!(reply.metadata().is_empty());
    let mut stream = reply.into_inner();
    let headers = within(rt, LIMIT, "headers", stream.headers())
        .await
        .unwrap();
    assert_eq!(headers.get("x-echo"), Some("s"));
    let (items, error, stream) = drain(rt, stream).await;
    assert_eq!((items.len(), error), (2, None));
    assert_eq!(
        stream.trailers().and_then(|t| t.get("x-trailer")),
        Some("streamed")
    );
}

pub async fn every_status_path<H: Harness>() {
    let env = start::<H>(Setup::default()).await;
    let rt = &env.rt;
    // Every non-OK code, from a unary handler (a Trailers-Only response).
    for code in 1..=16 {
        let request = Msg {
            text: format!("failure {code}: ünïcode % and\nnewline"),
            code,
            ..Msg::default()
        };
        let status = within(
            rt,
            LIMIT,
            "failing unary",
            env.client.unary(request.clone()),
        )
        .await
        .unwrap_err();
        assert_eq!(status.code(), Code::from_i32(code));
        assert_eq!(status.message(), request.text);
    }
    // Rich error details travel in grpc-status-details-bin.
    let request = Msg {
        text: "details:\x00binary\u{1}".into(),
        code: Code::FAILED_PRECONDITION.as_i32(),
        ..Msg::default()
    };
    let status = within(rt, LIMIT, "details", env.client.unary(request))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FAILED_PRECONDITION);
    let rpc = ferrule_core::codec::status::RpcStatus::decode(status.details()).unwrap();
    assert_eq!(rpc.code, Code::FAILED_PRECONDITION);
    assert_eq!(rpc.details.len(), 1);
    assert_eq!(rpc.details[0].type_url, "type.googleapis.com/test.Detail");
    assert_eq!(&rpc.details[0].value[..], b"\x00binary\x01");
    // Server streaming: messages, then the error in the trailers.
    let request = Msg {
        text: "late".into(),
        count: 3,
        code: Code::ABORTED.as_i32(),
        ..Msg::default()
    };
    let stream = within(rt, LIMIT, "failing stream", env.client.expand(request))
        .await
        .unwrap();
    let (items, error, _) = drain(rt, stream.into_inner()).await;
    assert_eq!(items.len(), 3);
    assert_eq!(
        error.map(|s| (s.code(), s.message().to_owned())),
        Some((Code::ABORTED, "late".to_owned()))
    );
    // Client streaming: the handler rejects a message.
    let mut bad = Msg::text("bad");
    bad.code = Code::INVALID_ARGUMENT.as_i32();
    let items = Items(VecDeque::from([Msg::text("ok"), bad]));
    let result = within(
        rt,
        LIMIT,
        "failing client stream",
        env.client.collect(items),
    )
    .await;
    assert_eq!(code_of(result), Code::INVALID_ARGUMENT);
    // Bidi: the error arrives after the echoed messages.
    let mut bad = Msg::text("nope");
    bad.code = Code::OUT_OF_RANGE.as_i32();
    let items = Items(VecDeque::from([Msg::text("1"), bad]));
    let stream = within(rt, LIMIT, "failing bidi", env.client.chat(items))
        .await
        .unwrap();
    let (items, error, _) = drain(rt, stream.into_inner()).await;
    assert_eq!(items.len(), 1);
    assert_eq!(error.map(|s| s.code()), Some(Code::OUT_OF_RANGE));
    // A request that does not decode: the server answers INTERNAL.
    let raw = Client::new(env.channel.clone());
    let garbage = bytes::Bytes::from_static(b"\x0a\x05ab");
    let result = within(
        rt,
        LIMIT,
        "undecodable request",
        raw.unary(
            &crate::service::UNARY,
            Request::new(garbage),
            ferrule_core::codec::BytesCodec,
        ),
    )
    .await;
    assert_eq!(code_of(result), Code::INTERNAL);
    // A handler that panics: its call ends with INTERNAL, the server goes on.
    let status = within(
        rt,
        LIMIT,
        "panicking handler",
        env.client.unary(Msg::text(crate::service::PANIC)),
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::INTERNAL, "{status:?}");
    assert!(
        within(
            rt,
            LIMIT,
            "after the panic",
            env.client.unary(Msg::default())
        )
        .await
        .is_ok()
    );
}

/// A failing handler's status metadata reaches the client's `Status`: from a
/// unary handler (Trailers-Only), and from a stream that fails after its
/// headers, where it merges with the handler's own trailers (the status's
/// `x-trailer` replaces the handler's). The status headers never show up in
/// it, and the initial metadata stays in the response.
pub async fn error_metadata_both_ways<H: Harness>() {
    let env = start::<H>(Setup::default()).await;
    let rt = &env.rt;
    let unary = Msg {
        text: "meta:r-1".into(),
        code: Code::UNAVAILABLE.as_i32(),
        ..Msg::default()
    };
    let status = within(rt, LIMIT, "unary error", env.client.unary(unary))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::UNAVAILABLE);
    assert_eq!(status.message(), "meta:r-1");
    let keys: Vec<&str> = status.metadata().keys().collect();
    assert_eq!(keys, ["x-error", "x-error-bin", "x-trailer"], "{status:?}");
    assert_eq!(status.metadata().get("x-error"), Some("r-1"));
    assert_eq!(status.metadata().get_bin("x-error-bin"), Some(&b"r-1"[..]));
    assert_eq!(status.metadata().get("x-trailer"), Some("error"));

    let mut request = Request::new(Msg {
        text: "meta:r-2".into(),
        count: 2,
        code: Code::RESOURCE_EXHAUSTED.as_i32(),
        ..Msg::default()
    });
    request.metadata_mut().insert("x-request", "s").unwrap();
    let reply = within(rt, LIMIT, "failing stream", env.client.expand(request))
        .await
        .unwrap();
    let mut stream = reply.into_inner();
    let headers = within(rt, LIMIT, "headers", stream.headers())
        .await
        .unwrap();
    assert_eq!(headers.get("x-echo"), Some("s"));
    let (items, error, stream) = drain(rt, stream).await;
    assert_eq!(items.len(), 2);
    let status = error.expect("the stream fails");
    assert_eq!(status.code(), Code::RESOURCE_EXHAUSTED);
    assert_eq!(
        status.metadata().get_all("x-trailer").collect::<Vec<_>>(),
        ["error"],
        "{status:?}"
    );
    assert_eq!(status.metadata().get("x-error"), Some("r-2"));
    assert!(!status.metadata().contains_key("x-echo"));
    assert!(!status.metadata().contains_key("grpc-status"));
    assert_eq!(stream.trailers(), Some(status.metadata()));
}

pub async fn unknown_method_is_unimplemented<H: Harness>() {
    let env = start::<H>(Setup::default()).await;
    let status = within(
        &env.rt,
        LIMIT,
        "missing method",
        env.client.missing(Msg::text("?")),
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::UNIMPLEMENTED);
    assert!(
        status.message().contains("/test.Echo/Missing"),
        "{status:?}"
    );
    // The connection is fine afterwards.
    let reply = within(
        &env.rt,
        LIMIT,
        "unary after",
        env.client.unary(Msg::text("ok")),
    )
    .await;
    assert!(reply.is_ok());
}

pub async fn interceptors_chain_on_both_sides<H: Harness>() {
    let mut setup = Setup::default();
    setup.router = Box::new(|router| {
        router
            .interceptor(|request: Request<()>| async move {
                match request.metadata().get("authorization") {
                    Some("Bearer good") => Ok(request),
                    _ => Err(Status::unauthenticated("missing or bad token")),
                }
            })
            .interceptor(|mut request: Request<()>| async move {
                request.extensions_mut().insert(User("alice".into()));
                Ok(request)
            })
    });
    let env = start::<H>(setup).await;
    let rt = &env.rt;
    let status = within(rt, LIMIT, "no token", env.client.unary(Msg::text("x")))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::UNAUTHENTICATED);
    assert_eq!(
        env.probe.started("Unary"),
        0,
        "a rejected call never reaches the handler"
    );

    let client = EchoClient::new(
        Client::new(env.channel.clone())
            .with_interceptor(|mut request: Request<()>| async move {
                request
                    .metadata_mut()
                    .insert("authorization", "Bearer good")
                    .unwrap();
                Ok(request)
            })
            .with_interceptor(|mut request: Request<()>| async move {
                assert_eq!(request.path(), Some("/test.Echo/Unary"));
                request
                    .metadata_mut()
                    .insert("x-request", "chained")
                    .unwrap();
                Ok(request)
            }),
    );
    let reply = within(rt, LIMIT, "with token", client.unary(Msg::text("x")))
        .await
        .unwrap();
    assert_eq!(reply.metadata().get("x-echo"), Some("chained"));
    assert_eq!(
        env.probe.extension_seen.lock().unwrap().as_deref(),
        Some("alice")
    );

    let refusing =
        EchoClient::new(Client::new(env.channel.clone()).with_interceptor(
            |_: Request<()>| async move { Err(Status::permission_denied("local")) },
        ));
    let status = within(
        rt,
        LIMIT,
        "client interceptor rejects",
        refusing.unary(Msg::text("x")),
    )
    .await
    .unwrap_err();
    assert_eq!(
        (status.code(), status.message()),
        (Code::PERMISSION_DENIED, "local")
    );
}

// ----- deadlines and cancellation -----------------------------------------

pub async fn deadline_exceeded_on_a_slow_handler<H: Harness>() {
    let env = start::<H>(Setup::default()).await;
    let rt = &env.rt;
    let mut request = Request::new(Msg {
        delay_ms: 10_000,
        ..Msg::default()
    });
    request.set_timeout(Duration::from_millis(100));
    let started = rt.now();
    let status = within(rt, LIMIT, "slow call", env.client.unary(request))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::DEADLINE_EXCEEDED, "{status:?}");
    assert!(
        rt.now() - started < 3 * SECOND,
        "the deadline ended the call promptly"
    );

    // A client-wide default timeout, and the server handler sees its call end.
    let client =
        EchoClient::new(Client::new(env.channel.clone()).with_timeout(Duration::from_millis(100)));
    let status = within(rt, LIMIT, "hang", client.hang(Msg::default()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::DEADLINE_EXCEEDED);
    wait_until(rt, LIMIT, "server saw the deadline", || {
        !env.probe.cancelled_codes("Hang").is_empty()
    })
    .await;
    let codes = env.probe.cancelled_codes("Hang");
    assert!(
        codes == [Code::DEADLINE_EXCEEDED] || codes == [Code::CANCELLED],
        "{codes:?}"
    );
    // A deadline already passed fails at once, without a round trip.
    let mut request = Request::new(Msg::default());
    request.set_deadline(rt.now());
    let status = within(rt, LIMIT, "past deadline", env.client.unary(request))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::DEADLINE_EXCEEDED);
}

pub async fn server_reads_its_deadline_and_propagates_it<H: Harness>() {
    let env = start::<H>(Setup::default()).await;
    let rt = &env.rt;
    let mut request = Request::new(Msg::default());
    request.set_timeout(Duration::from_secs(5));
    let reply = within(rt, LIMIT, "deadline seen", env.client.unary(request))
        .await
        .unwrap();
    let seen = reply.into_inner().deadline_ms;
    assert!(seen > 0 && seen <= 5_000, "{seen}");
    let reply = within(rt, LIMIT, "no deadline", env.client.unary(Msg::default()))
        .await
        .unwrap();
    assert_eq!(reply.into_inner().deadline_ms, 0);

    // Relay forwards to Unary with the incoming deadline propagated.
    let _ = &env.echo_relay;
    let relay_probe = Arc::new(Probe::default());
    let echo = Echo {
        runtime: Arc::clone(rt),
        probe: relay_probe,
        relay: Mutex::new(Some(env.client.clone())),
    };
    let relay_server = serve::<H>(
        rt,
        "127.0.0.1:0".parse().unwrap(),
        Router::new().add_service(EchoServer::new(echo)),
        Box::new(|_| {}),
        None,
    )
    .await;
    let relay_addr = relay_server.local_addr().unwrap();
    let relay_client = EchoClient::new(H::channel(relay_addr, ChannelConfig::default()));
    let mut request = Request::new(Msg::default());
    request.set_timeout(Duration::from_secs(2));
    let reply = within(rt, LIMIT, "relayed", relay_client.relay(request))
        .await
        .unwrap();
    let seen = reply.into_inner().deadline_ms;
    assert!(
        seen > 0 && seen <= 2_000,
        "the inner call inherited the deadline: {seen}"
    );
    let reply = within(
        rt,
        LIMIT,
        "relayed, no deadline",
        relay_client.relay(Msg::default()),
    )
    .await
    .unwrap();
    assert_eq!(reply.into_inner().deadline_ms, 0);
}

pub async fn cancellation_is_seen_by_the_server_handler<H: Harness>() {
    let env = start::<H>(Setup::default()).await;
    let rt = &env.rt;
    let call = env.client.hang(Msg::default());
    let probe = Arc::clone(&env.probe);
    let wait_started = async {
        wait_until(rt, LIMIT, "handler started", || probe.started("Hang") == 1).await;
        sleep(rt, Duration::from_millis(20)).await;
    };
    // Race the call against "the handler started": the call loses and is
    // dropped, which must cancel it on the wire.
    // Boxed, so that dropping it really drops the call's future.
    let mut call = Box::pin(call);
    let mut started = pin!(wait_started);
    let finished_early = std::future::poll_fn(|cx| {
        if let Poll::Ready(result) = call.as_mut().poll(cx) {
            return Poll::Ready(Some(result));
        }
        started.as_mut().poll(cx).map(|()| None)
    })
    .await;
    assert!(finished_early.is_none(), "{finished_early:?}");
    drop(call);
    wait_until(rt, LIMIT, "server saw the cancellation", || {
        env.probe.cancelled_codes("Hang") == [Code::CANCELLED]
    })
    .await;
    // A client stream cancelled midway ends with an error on the server,
    // never as a complete stream.
    for _ in 0..20 {
        let before = env.probe.started("Collect");
        let pending = crate::service::ItemsThenPending(VecDeque::from([Msg::text("a")]));
        let mut call = Box::pin(env.client.collect(pending));
        let started = wait_until(rt, LIMIT, "collect started", || {
            env.probe.started("Collect") == before + 1
        });
        let mut started = pin!(started);
        let done = std::future::poll_fn(|cx| {
            if let Poll::Ready(result) = call.as_mut().poll(cx) {
                return Poll::Ready(Some(result));
            }
            started.as_mut().poll(cx).map(|()| None)
        })
        .await;
        assert!(done.is_none(), "{done:?}");
        drop(call);
    }
    wait_until(
        rt,
        LIMIT,
        "server saw every client stream cancelled",
        || env.probe.cancelled_codes("Collect").len() == 20,
    )
    .await;
    let codes = env.probe.cancelled_codes("Collect");
    assert!(codes.iter().all(|c| *c == Code::CANCELLED), "{codes:?}");
    // The connection survives cancelled calls.
    assert!(
        within(rt, LIMIT, "after cancel", env.client.unary(Msg::default()))
            .await
            .is_ok()
    );
}

pub async fn dropping_a_response_stream_cancels_the_server_stream<H: Harness>() {
    let env = start::<H>(Setup::default()).await;
    let rt = &env.rt;
    let request = Msg {
        count: 10_000,
        delay_ms: 5,
        ..Msg::default()
    };
    let mut stream = within(rt, LIMIT, "open stream", env.client.expand(request))
        .await
        .unwrap()
        .into_inner();
    for _ in 0..2 {
        assert!(
            within(rt, LIMIT, "message", stream.message())
                .await
                .unwrap()
                .is_some()
        );
    }
    drop(stream);
    wait_until(rt, LIMIT, "server dropped its stream", || {
        *env.probe.streams_dropped.lock().unwrap() == 1
    })
    .await;

    // A producer task feeding the response through a stream_channel: its
    // sends fail once the client dropped the stream.
    let request = Msg {
        count: 10_000,
        delay_ms: 1,
        ..Msg::default()
    };
    let reply = within(rt, LIMIT, "open feed", env.client.feed(request))
        .await
        .unwrap();
    let (mut stream, mut complete) = (reply.into_inner(), Vec::new());
    for _ in 0..3 {
        complete.push(
            within(rt, LIMIT, "fed message", stream.message())
                .await
                .unwrap()
                .unwrap()
                .index,
        );
    }
    assert_eq!(complete, [0, 1, 2]);
    drop(stream);
    wait_until(rt, LIMIT, "the producer's send failed", || {
        *env.probe.feed_send_failed.lock().unwrap() == Some(Code::CANCELLED)
    })
    .await;

    // Dropping a bidi response stream ends the request sender too.
    let pending = crate::service::ItemsThenPending(VecDeque::from([Msg::text("a")]));
    let mut stream = within(rt, LIMIT, "open chat", env.client.chat(pending))
        .await
        .unwrap()
        .into_inner();
    assert!(
        within(rt, LIMIT, "chat message", stream.message())
            .await
            .unwrap()
            .is_some()
    );
    drop(stream);
    assert!(
        within(rt, LIMIT, "after drop", env.client.unary(Msg::default()))
            .await
            .is_ok()
    );
}

// ----- load and limits ----------------------------------------------------

pub async fn thousand_concurrent_calls_on_one_connection<H: Harness>() {
    let env = start::<H>(Setup::default()).await;
    let rt = &env.rt;
    let ok = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(Mutex::new(Vec::new()));
    for i in 0..1000u32 {
        let client = env.client.clone();
        let ok = Arc::clone(&ok);
        let failed = Arc::clone(&failed);
        rt.spawn(Box::pin(async move {
            let request = Msg {
                text: i.to_string(),
                ..Msg::default()
            };
            match client.unary(request).await {
                Ok(reply) if reply.get_ref().text == i.to_string() => {
                    ok.fetch_add(1, Ordering::SeqCst);
                }
                other => failed.lock().unwrap().push(format!("{i}: {other:?}")),
            }
        }));
    }
    wait_until(rt, Duration::from_secs(60), "1000 calls", || {
        ok.load(Ordering::SeqCst) + failed.lock().unwrap().len() == 1000
    })
    .await;
    assert_eq!(*failed.lock().unwrap(), Vec::<String>::new());
    assert_eq!(env.channel.connection_attempts(), 1, "one connection");
    assert_eq!(env.server.connections(), 1);
}

/// The length of a `Msg` carrying only a payload of `n` bytes.
fn payload_msg(n: usize) -> Msg {
    Msg {
        payload: vec![1u8; n],
        ..Msg::default()
    }
}

fn msg_of_len(len: usize) -> Msg {
    use prost::Message;
    // 1 tag byte + the varint length + the payload.
    let mut n = len.saturating_sub(6);
    while payload_msg(n).encoded_len() < len {
        n += 1;
    }
    let msg = payload_msg(n);
    assert_eq!(msg.encoded_len(), len);
    msg
}

pub async fn messages_up_to_the_limit_and_one_over<H: Harness>() {
    const MAX: usize = 1024 * 1024;
    let mut setup = Setup::default();
    setup.server = Box::new(|server| server.config_mut().limits.max_recv_message_size = MAX);
    let env = start::<H>(setup).await;
    let rt = &env.rt;
    let reply = within(
        rt,
        LIMIT,
        "message at the limit",
        env.client.unary(msg_of_len(MAX)),
    )
    .await;
    assert_eq!(
        reply.unwrap().into_inner().payload.len(),
        msg_of_len(MAX).payload.len()
    );
    let status = within(
        rt,
        LIMIT,
        "one byte over",
        env.client.unary(msg_of_len(MAX + 1)),
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::RESOURCE_EXHAUSTED, "{status:?}");
    // Streams too: the oversized message ends the call, the others went through.
    let items = Items(VecDeque::from([msg_of_len(10), msg_of_len(MAX + 1)]));
    let result = within(
        rt,
        LIMIT,
        "stream with an oversized message",
        env.client.collect(items),
    )
    .await;
    assert_eq!(code_of(result), Code::RESOURCE_EXHAUSTED);
    assert!(
        within(rt, LIMIT, "still fine", env.client.unary(Msg::default()))
            .await
            .is_ok()
    );
}

pub async fn response_over_the_client_limit<H: Harness>() {
    let mut setup = Setup::default();
    setup.channel.client.limits.max_recv_message_size = 1024;
    let env = start::<H>(setup).await;
    let rt = &env.rt;
    let request = Msg {
        reply_payload_len: 1000,
        ..Msg::default()
    };
    assert!(
        within(rt, LIMIT, "under", env.client.unary(request))
            .await
            .is_ok()
    );
    let request = Msg {
        reply_payload_len: 2000,
        ..Msg::default()
    };
    let status = within(rt, LIMIT, "over", env.client.unary(request))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::RESOURCE_EXHAUSTED, "{status:?}");
    // A send over the client's send limit fails locally.
    let mut setup = Setup::default();
    setup.channel.client.limits.max_send_message_size = 100;
    let env = start::<H>(setup).await;
    let status = within(rt, LIMIT, "send over", env.client.unary(payload_msg(200)))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::RESOURCE_EXHAUSTED, "{status:?}");
}

// ----- failures and shutdown ----------------------------------------------

pub async fn server_dies_mid_call<H: Harness>() {
    let switch = KillSwitch::default();
    let setup = Setup {
        kill: Some(switch.clone()),
        ..Setup::default()
    };
    let env = start::<H>(setup).await;
    let rt = &env.rt;
    let client = env.client.clone();
    let hang = spawn(rt, async move { client.hang(Msg::default()).await });
    let client = env.client.clone();
    let request = Msg {
        count: 1000,
        delay_ms: 5,
        ..Msg::default()
    };
    let stream = within(rt, LIMIT, "open stream", client.expand(request))
        .await
        .unwrap();
    wait_until(rt, LIMIT, "handler started", || {
        env.probe.started("Hang") == 1
    })
    .await;
    switch.kill();
    let status = take(rt, &hang, "the call in flight ends")
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::UNAVAILABLE, "{status:?}");
    let (_, error, _) = drain(rt, stream.into_inner()).await;
    assert_eq!(error.map(|s| s.code()), Some(Code::UNAVAILABLE));
    wait_until(rt, LIMIT, "the handler saw its call end", || {
        env.probe.cancelled_codes("Hang") == [Code::UNAVAILABLE]
    })
    .await;
}

pub async fn reconnect_after_the_server_restarts<H: Harness>() {
    let env = start::<H>(Setup::default()).await;
    let rt = &env.rt;
    assert!(
        within(rt, LIMIT, "first call", env.client.unary(Msg::default()))
            .await
            .is_ok()
    );
    within(rt, LIMIT, "abort", env.server.abort()).await;
    let status = within(
        rt,
        LIMIT,
        "call while down",
        env.client.unary(Msg::default()),
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::UNAVAILABLE, "{status:?}");

    let probe = Arc::new(Probe::default());
    let (router, _) = echo_router(rt, &probe);
    let restarted = serve::<H>(rt, env.addr, router, Box::new(|_| {}), None).await;
    let deadline = rt.now() + LIMIT;
    loop {
        match within(
            rt,
            LIMIT,
            "call after restart",
            env.client.unary(Msg::text("back")),
        )
        .await
        {
            Ok(reply) => {
                assert_eq!(reply.into_inner().text, "back");
                break;
            }
            Err(status) => {
                assert_eq!(status.code(), Code::UNAVAILABLE, "{status:?}");
                assert!(rt.now() < deadline, "never reconnected: {status:?}");
                sleep(rt, Duration::from_millis(20)).await;
            }
        }
    }
    assert!(env.channel.connection_attempts() >= 2);
    assert_eq!(probe.started("Unary"), 1);
    within(rt, LIMIT, "shutdown", restarted.shutdown(SECOND)).await;
}

pub async fn calls_fail_fast_while_the_server_is_down<H: Harness>() {
    let rt = H::runtime();
    // A port nobody listens on.
    let addr = {
        let listener = H::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        ferrule_core::api::Listener::local_addr(&listener).unwrap()
    };
    let mut config = ChannelConfig::default();
    config.initial_backoff = Duration::from_secs(30);
    let channel = H::channel(addr, config);
    let client = EchoClient::new(channel.clone());
    let started = rt.now();
    let status = within(&rt, LIMIT, "refused", client.unary(Msg::default()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::UNAVAILABLE, "{status:?}");
    let status = within(&rt, LIMIT, "in backoff", client.unary(Msg::default()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::UNAVAILABLE);
    assert_eq!(
        channel.connection_attempts(),
        1,
        "no new attempt during the backoff"
    );
    assert!(rt.now() - started < 3 * SECOND);
    assert!(!channel.is_connected());
    let status = within(&rt, LIMIT, "ready", channel.ready())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::UNAVAILABLE);
}

pub async fn graceful_shutdown_lets_in_flight_calls_finish<H: Harness>() {
    let env = start::<H>(Setup::default()).await;
    let rt = &env.rt;
    let mut calls = Vec::new();
    for _ in 0..3 {
        let client = env.client.clone();
        let request = Msg {
            text: "slow".into(),
            delay_ms: 300,
            ..Msg::default()
        };
        calls.push(spawn(rt, async move { client.unary(request).await }));
    }
    wait_until(rt, LIMIT, "calls started", || {
        env.probe.started("Unary") == 3
    })
    .await;
    let started = rt.now();
    within(
        rt,
        LIMIT,
        "graceful shutdown",
        env.server.shutdown(Duration::from_secs(5)),
    )
    .await;
    assert!(
        rt.now() - started < 4 * SECOND,
        "shutdown waited only for the calls"
    );
    for call in &calls {
        let reply = take(rt, call, "in-flight call").await;
        assert_eq!(reply.unwrap().into_inner().text, "slow");
    }
    assert_eq!(env.server.connections(), 0);
    let status = within(
        rt,
        LIMIT,
        "after shutdown",
        env.client.unary(Msg::default()),
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::UNAVAILABLE);
}

pub async fn graceful_shutdown_cancels_calls_after_the_grace_period<H: Harness>() {
    let env = start::<H>(Setup::default()).await;
    let rt = &env.rt;
    let client = env.client.clone();
    let hang = spawn(rt, async move { client.hang(Msg::default()).await });
    wait_until(rt, LIMIT, "handler started", || {
        env.probe.started("Hang") == 1
    })
    .await;
    let started = rt.now();
    within(
        rt,
        LIMIT,
        "shutdown",
        env.server.shutdown(Duration::from_millis(200)),
    )
    .await;
    let elapsed = rt.now() - started;
    assert!(
        elapsed >= Duration::from_millis(200) && elapsed < 5 * SECOND,
        "{elapsed:?}"
    );
    // As documented: the calls left see CANCELLED (their streams are reset
    // with CANCEL before the connection closes), never a lost connection.
    let status = take(rt, &hang, "cancelled call").await.unwrap_err();
    assert_eq!(status.code(), Code::CANCELLED, "{status}");
    wait_until(rt, LIMIT, "handler saw the shutdown", || {
        env.probe.cancelled_codes("Hang") == [Code::UNAVAILABLE]
    })
    .await;
    assert_eq!(env.server.connections(), 0);
}

pub async fn compression_both_ways<H: Harness>() {
    let mut setup = Setup::default();
    setup.router = Box::new(|r| r.send_compressed(Encoding::Gzip));
    let env = start::<H>(setup).await;
    let rt = &env.rt;
    let client = EchoClient::new(Client::new(env.channel.clone()).send_compressed(Encoding::Gzip));
    let request = Msg {
        text: "z".repeat(100_000),
        reply_payload_len: 100_000,
        ..Msg::default()
    };
    let reply = within(rt, LIMIT, "compressed", client.unary(request))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((reply.text.len(), reply.payload.len()), (100_000, 100_000));
    let items = Items(VecDeque::from(vec![Msg::text(&"q".repeat(50_000)); 3]));
    let reply = within(rt, LIMIT, "compressed stream", client.collect(items))
        .await
        .unwrap();
    assert_eq!(reply.into_inner().count, 3);
}

/// Echoes each request's Compressed-Flag: the reply body is the flag (one
/// byte), and the reply is compressed exactly when the request was.
struct EchoFlags(Streaming<bytes::Bytes>);

impl futures_core::Stream for EchoFlags {
    type Item = Result<OutboundMessage<bytes::Bytes>, Status>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<Option<Self::Item>> {
        let next = std::task::ready!(std::pin::Pin::new(&mut self.0).poll_next(cx));
        let flag = self.0.last_compressed().unwrap_or(false);
        Poll::Ready(next.map(|item| {
            item.map(|body| {
                assert_eq!(body.len(), 1_000, "a whole request message");
                OutboundMessage::new(bytes::Bytes::from(vec![u8::from(flag); 1_000]))
                    .with_compression(flag)
            })
        }))
    }
}

/// A request stream of the given messages.
struct Outbound(VecDeque<OutboundMessage<bytes::Bytes>>);

impl futures_core::Stream for Outbound {
    type Item = OutboundMessage<bytes::Bytes>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> Poll<Option<Self::Item>> {
        Poll::Ready(self.0.pop_front())
    }
}

const FLAGS_CHAT: MethodDescriptor = MethodDescriptor {
    path: "/test.Flags/Chat",
    service: "test.Flags",
    method: "Chat",
    kind: MethodKind::BidiStreaming,
};
const FLAGS_UNARY: MethodDescriptor = MethodDescriptor {
    path: "/test.Flags/Unary",
    service: "test.Flags",
    method: "Unary",
    kind: MethodKind::Unary,
};

pub async fn per_message_compression_both_ways<H: Harness>() {
    let mut setup = Setup::default();
    setup.router = Box::new(|r| {
        let chat = streaming_handler(
            Arc::new(()),
            |_: Arc<()>, request: Request<Streaming<bytes::Bytes>>| async move {
                Ok(Response::new(EchoFlags(request.into_inner())))
            },
            BytesCodec,
        );
        let unary = unary_handler(
            Arc::new(()),
            |_: Arc<()>, request: Request<bytes::Bytes>| async move {
                let flag = request
                    .message_compressed()
                    .expect("a unary request's flag");
                Ok(Response::new(bytes::Bytes::from(vec![
                    u8::from(flag);
                    1_000
                ])))
            },
            BytesCodec,
        );
        r.send_compressed(Encoding::Gzip)
            .route(FLAGS_CHAT.path, chat)
            .route(FLAGS_UNARY.path, unary)
    });
    let env = start::<H>(setup).await;
    let rt = &env.rt;
    let client = Client::new(env.channel.clone()).send_compressed(Encoding::Gzip);

    let flags = [true, false, false, true, false];
    let requests = flags
        .iter()
        .map(|&compress| {
            OutboundMessage::new(bytes::Bytes::from(vec![b'z'; 1_000])).with_compression(compress)
        })
        .collect();
    let call = client.streaming(&FLAGS_CHAT, Request::new(Outbound(requests)), BytesCodec);
    let mut replies = within(rt, LIMIT, "flags chat", call)
        .await
        .unwrap()
        .into_inner();
    let mut seen = Vec::new();
    while let Some(reply) = within(rt, LIMIT, "flags reply", replies.message_flagged())
        .await
        .unwrap()
    {
        // What the server saw, and how its reply travelled.
        seen.push((reply.message[0] == 1, reply.compressed));
    }
    let want: Vec<(bool, bool)> = flags.iter().map(|&f| (f, f)).collect();
    assert_eq!(seen, want, "(request flag the server saw, reply flag)");

    for compress in [true, false] {
        let mut request = Request::new(bytes::Bytes::from(vec![b'z'; 1_000]));
        if !compress {
            request.set_compression(Encoding::Identity);
        }
        let call = client.unary(&FLAGS_UNARY, request, BytesCodec);
        let reply = within(rt, LIMIT, "flags unary", call).await.unwrap();
        assert_eq!(
            reply.message_compressed(),
            Some(true),
            "the router compresses"
        );
        assert_eq!(reply.get_ref()[0], u8::from(compress), "the server saw it");
    }
}

/// CPU time this process used so far (Linux), in clock ticks.
fn cpu_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) start after ')'.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15; here indexes 11 and 12.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

pub async fn idle_connections_do_not_spin<H: Harness>() {
    let env = start::<H>(Setup::default()).await;
    let rt = &env.rt;
    assert!(
        within(rt, LIMIT, "warm up", env.client.unary(Msg::default()))
            .await
            .is_ok()
    );
    // An open server stream that sends nothing for a while, too.
    let request = Msg {
        count: 1,
        delay_ms: 5_000,
        ..Msg::default()
    };
    let stream = within(rt, LIMIT, "idle stream", env.client.expand(request))
        .await
        .unwrap();
    let Some(before) = cpu_ticks() else {
        return; // not Linux: nothing to measure
    };
    sleep(rt, Duration::from_millis(1000)).await;
    let used = cpu_ticks().unwrap_or(before) - before;
    eprintln!("idle: {used} ticks of CPU in 1 s");
    // Ticks are usually 10 ms. Other tests run in parallel in this process,
    // so allow some, but a spinning driver would use ~100 per core.
    assert!(
        used < 60,
        "idle connections used {used} ticks of CPU in 1 s"
    );
    drop(stream);
}

pub async fn dropping_the_channel_closes_its_connection<H: Harness>() {
    let env = start::<H>(Setup::default()).await;
    let rt = Arc::clone(&env.rt);
    assert!(
        within(&rt, LIMIT, "call", env.client.unary(Msg::default()))
            .await
            .is_ok()
    );
    assert_eq!(env.server.connections(), 1);
    let Env {
        server,
        channel,
        client,
        ..
    } = env;
    drop(client);
    drop(channel);
    wait_until(&rt, LIMIT, "the server saw the connection close", || {
        server.connections() == 0
    })
    .await;
}

pub async fn flow_control_holds_back_fast_writers<H: Harness>() {
    let env = start::<H>(Setup::default()).await;
    let rt = &env.rt;
    // 100 x 64 KiB to a server that takes 2 ms per message: far more than
    // the flow-control windows, so the client's sender must wait.
    let items: VecDeque<Msg> = (0..100)
        .map(|_| Msg {
            payload: vec![9u8; 64 * 1024],
            delay_ms: 2,
            ..Msg::default()
        })
        .collect();
    let reply = within(
        rt,
        LIMIT,
        "slow server reader",
        env.client.collect(Items(items)),
    )
    .await
    .unwrap();
    let reply = reply.into_inner();
    assert_eq!(
        (reply.count, reply.reply_payload_len),
        (100, 100 * 64 * 1024)
    );

    // And the other way: a server stream of 100 x 64 KiB to a slow client.
    let request = Msg {
        count: 100,
        reply_payload_len: 64 * 1024,
        ..Msg::default()
    };
    let mut stream = within(rt, LIMIT, "open", env.client.expand(request))
        .await
        .unwrap()
        .into_inner();
    let mut received = 0;
    while let Some(m) = within(rt, LIMIT, "slow client reader", stream.message())
        .await
        .unwrap()
    {
        assert_eq!((m.index, m.payload.len()), (received, 64 * 1024));
        received += 1;
        sleep(rt, Duration::from_millis(2)).await;
    }
    assert_eq!(received, 100);
}

pub async fn serve_one_connection_and_connect_eagerly<H: Harness>() {
    use ferrule_core::api::Listener;
    let rt = H::runtime();
    let mut listener = H::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let channel = H::channel(addr, ChannelConfig::default());
    assert!(!channel.is_connected());
    // `ready` connects before any call; the accept is done by hand and the
    // connection served on its own, as for a custom transport.
    let ready = spawn(&rt, {
        let channel = channel.clone();
        async move { channel.ready().await }
    });
    let (io, peer) = within(&rt, LIMIT, "accept", listener.accept())
        .await
        .unwrap();
    let probe = Arc::new(Probe::default());
    let (router, _) = echo_router(&rt, &probe);
    let handle = Server::with_runtime(Arc::clone(&rt)).serve_connection(io, peer, router);
    take(&rt, &ready, "ready").await.unwrap();
    assert!(channel.is_connected());
    let client = EchoClient::new(channel.clone());
    let reply = within(&rt, LIMIT, "call", client.unary(Msg::text("one")))
        .await
        .unwrap();
    assert_eq!(reply.into_inner().text, "one");
    assert_eq!(handle.connections(), 1);
    within(&rt, LIMIT, "shutdown", handle.shutdown(SECOND)).await;
    assert_eq!(handle.connections(), 0);
    assert_eq!(channel.connection_attempts(), 1);
}

// ----- the traps users hit ------------------------------------------------

/// A bidirectional call returns before the server's headers, so a client
/// may await it and only then send, against a server that answers (headers
/// included) only after the first request, as grpcio does. Server streaming
/// likewise returns before the server answers.
pub async fn streaming_calls_return_before_the_servers_headers<H: Harness>() {
    let env = start::<H>(Setup::default()).await;
    let rt = &env.rt;
    let (requests, rx) = ferrule_core::api::stream_channel::<Msg>(4);
    let response = within(rt, LIMIT, "the bidi call", env.client.chat_late(rx))
        .await
        .unwrap();
    assert!(
        response.metadata().is_empty(),
        "returned before the headers"
    );
    let mut replies = response.into_inner();
    within(rt, LIMIT, "send", requests.send(Msg::text("first")))
        .await
        .unwrap();
    let reply = within(rt, LIMIT, "the first reply", replies.message())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reply.text, "first");
    within(rt, LIMIT, "headers", replies.headers())
        .await
        .unwrap();
    within(rt, LIMIT, "send", requests.send(Msg::text("second")))
        .await
        .unwrap();
    let reply = within(rt, LIMIT, "the second reply", replies.message())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((reply.text.as_str(), reply.index), ("second", 1));
    drop(requests);
    let (rest, error, _) = drain(rt, replies).await;
    assert_eq!((rest.len(), error), (0, None));
    // Server streaming: the call returns while the handler still sleeps.
    let request = Msg {
        count: 1,
        delay_ms: 60_000,
        ..Msg::default()
    };
    let stream = within(rt, LIMIT, "server streaming", env.client.expand(request))
        .await
        .unwrap();
    drop(stream);
}

/// A handler that never looks at its call's cancellation is dropped when
/// the call ends first (its deadline passes, the client cancels): no work
/// goes on for an answer nobody reads.
pub async fn a_handler_is_dropped_when_its_call_ends_first<H: Harness>() {
    let env = start::<H>(Setup::default()).await;
    let rt = &env.rt;
    let mut request = Request::new(Msg {
        delay_ms: 60_000,
        ..Msg::default()
    });
    request.set_timeout(Duration::from_millis(100));
    let result = within(rt, LIMIT, "the call", env.client.unary(request)).await;
    assert_eq!(code_of(result), Code::DEADLINE_EXCEEDED);
    wait_until(rt, LIMIT, "the handler dropped after the deadline", || {
        *env.probe.unary_dropped.lock().unwrap() == 1
    })
    .await;
    // The client gives up (drops the call) while the handler sleeps.
    let request = Msg {
        delay_ms: 60_000,
        ..Msg::default()
    };
    let mut call = Box::pin(env.client.unary(request));
    let mut started = pin!(wait_until(rt, LIMIT, "handler started", || {
        env.probe.started("Unary") == 2
    }));
    let done = std::future::poll_fn(|cx| {
        if let Poll::Ready(result) = call.as_mut().poll(cx) {
            return Poll::Ready(Some(result));
        }
        started.as_mut().poll(cx).map(|()| None)
    })
    .await;
    assert!(done.is_none(), "{done:?}");
    drop(call);
    wait_until(rt, LIMIT, "the handler dropped after the cancel", || {
        *env.probe.unary_dropped.lock().unwrap() == 2
    })
    .await;
    // A handler that answers is not counted as dropped.
    let answered = within(rt, LIMIT, "a quick call", env.client.unary(Msg::default())).await;
    assert!(answered.is_ok());
    assert_eq!(*env.probe.unary_answered.lock().unwrap(), 1);
    assert_eq!(*env.probe.unary_dropped.lock().unwrap(), 2);
}

/// A server that accepts TCP but never speaks HTTP/2 fails a call without a
/// deadline with `UNAVAILABLE` once the connect timeout (which the HTTP/2
/// handshake is part of) is over, instead of hanging it.
pub async fn a_silent_server_fails_calls_within_the_connect_timeout<H: Harness>() {
    use ferrule_core::api::Listener;
    let rt = H::runtime();
    let mut listener = H::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let addr = listener.local_addr().unwrap();
    // Accepts and holds connections, saying nothing.
    let held = Arc::new(Mutex::new(Vec::new()));
    let keep = Arc::clone(&held);
    rt.spawn(Box::pin(async move {
        while let Ok((io, _)) = listener.accept().await {
            keep.lock().unwrap().push(io);
        }
    }));
    let mut config = ChannelConfig::default();
    config.connect_timeout = Duration::from_millis(300);
    let client = EchoClient::new(H::channel(addr, config));
    let started = rt.now();
    let status = within(
        &rt,
        LIMIT,
        "a call to a silent server",
        client.unary(Msg::default()),
    )
    .await
    .unwrap_err();
    let elapsed = rt.now() - started;
    assert_eq!(status.code(), Code::UNAVAILABLE, "{status}");
    assert!(status.message().contains("HTTP/2 handshake"), "{status}");
    assert!(
        elapsed >= Duration::from_millis(250) && elapsed < 5 * SECOND,
        "{elapsed:?}"
    );
    assert!(!held.lock().unwrap().is_empty(), "the server accepted");
}

/// Connections that never send the HTTP/2 preface are closed by the server
/// after its handshake timeout, so silent connections cannot pile up.
pub async fn silent_connections_are_closed_after_the_handshake_timeout<H: Harness>() {
    use ferrule_core::api::Network;
    let setup = Setup {
        server: Box::new(|server| {
            server.config_mut().handshake_timeout = Some(Duration::from_millis(200));
        }),
        ..Setup::default()
    };
    let env = start::<H>(setup).await;
    let rt = &env.rt;
    let network = H::Network::default();
    let mut silent = Vec::new();
    for _ in 0..20 {
        silent.push(
            within(rt, LIMIT, "connect", network.connect(env.addr))
                .await
                .unwrap(),
        );
    }
    wait_until(rt, LIMIT, "the server holds them", || {
        env.server.connections() == 20
    })
    .await;
    wait_until(rt, LIMIT, "the server closed them", || {
        env.server.connections() == 0
    })
    .await;
    // A connection that speaks HTTP/2 is served as ever.
    assert!(
        within(rt, LIMIT, "a call", env.client.unary(Msg::default()))
            .await
            .is_ok()
    );
    drop(silent);
}
