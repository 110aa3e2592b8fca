//! Proves the test support right before other tests rely on it: the mock
//! peer talks to a real h2 server and a real h2 client driven in memory
//! with the no-op waker, its frames round-trip through its own reader, and
//! a ping flood it produces is seen by the engine's frame walker and the
//! ping policy.
#![allow(clippy::unwrap_used)]

mod support;

use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ferrule_core::proto::frame::{self, FrameKind, FrameWalker};
use ferrule_core::proto::keepalive::{PingPolicy, PingPolicyConfig, PingVerdict};
use h2::RecvStream;
use h2::server::SendResponse;
use http::{HeaderMap, HeaderValue, Request, Response};

use support::frames::{self as raw, FrameReader, Reading};
use support::grpc;
use support::{
    Fields, Frame, GrpcRequest, MemoryIo, MemoryIoHandle, MockPeer, error_code, field, fields,
    kind, memory_io, noop_context, poll_once, setting,
};

type H2Server = h2::server::Connection<MemoryIo, Bytes>;
type Accepted = (Request<RecvStream>, SendResponse<Bytes>);

/// An h2 server whose handshake has completed on the mock client's opening.
fn h2_server(client: &mut MockPeer) -> (H2Server, MemoryIoHandle) {
    let (io, handle) = memory_io();
    handle.push(&client.take_output());
    let mut handshake = Box::pin(h2::server::handshake(io));
    let conn = match poll_once(&mut handshake) {
        Poll::Ready(result) => result.expect("h2 server handshake"),
        Poll::Pending => panic!("h2 server handshake should finish on the preface"),
    };
    (conn, handle)
}

/// Polls the server connection once: drives its IO and maybe accepts.
fn accept(conn: &mut H2Server) -> Poll<Option<Result<Accepted, h2::Error>>> {
    conn.poll_accept(&mut noop_context())
}

fn accept_request(conn: &mut H2Server) -> Accepted {
    match accept(conn) {
        Poll::Ready(Some(Ok(accepted))) => accepted,
        other => panic!(
            "expected a request, got {:?}",
            other.map(|o| o.map(|r| r.map(|_| ())))
        ),
    }
}

/// Frames other than connection management (SETTINGS, WINDOW_UPDATE, PING).
fn stream_frames(frames: Vec<Frame>) -> Vec<Frame> {
    frames
        .into_iter()
        .filter(|f| {
            !matches!(
                f,
                Frame::Settings { .. } | Frame::WindowUpdate { .. } | Frame::Ping { .. }
            )
        })
        .collect()
}

fn grpc_response_head() -> Response<()> {
    Response::builder()
        .status(200)
        .header("content-type", "application/grpc")
        .body(())
        .unwrap()
}

fn grpc_trailer_map(code: &'static str) -> HeaderMap {
    let mut map = HeaderMap::new();
    map.insert("grpc-status", HeaderValue::from_static(code));
    map
}

// ===== the mock against itself =====

#[test]
fn every_frame_round_trips_through_the_reader_in_any_chunking() {
    let request = GrpcRequest::new("/pkg.Svc/Method")
        .timeout("100m")
        .metadata("x-trace", "abc");
    let mut client = MockPeer::client();
    client
        .handshake()
        .settings(&[
            (setting::INITIAL_WINDOW_SIZE, 1 << 20),
            (setting::ENABLE_PUSH, 0),
        ])
        .settings_ack()
        .grpc_request(1, &request)
        .headers_in_fragments(3, &request.fields(), true, 7)
        .data(1, b"plain", false)
        .data_padded(1, b"padded", 10, true)
        .rst_stream(3, error_code::CANCEL)
        .ping(*b"12345678")
        .ping_ack(*b"87654321")
        .goaway(3, error_code::ENHANCE_YOUR_CALM, b"too_many_pings")
        .window_update(0, 65_535)
        .priority(5, 3, true, 200)
        .raw_frame(0xbb, 0x3, 9, b"ext");
    let bytes = client.take_output();
    assert!(bytes.starts_with(raw::PREFACE));

    let expected = vec![
        Frame::Settings {
            ack: false,
            settings: vec![],
        },
        Frame::Settings {
            ack: false,
            settings: vec![
                (setting::INITIAL_WINDOW_SIZE, 1 << 20),
                (setting::ENABLE_PUSH, 0),
            ],
        },
        Frame::Settings {
            ack: true,
            settings: vec![],
        },
        Frame::Headers {
            stream_id: 1,
            fields: request.fields(),
            end_stream: false,
            continuations: 0,
        },
        Frame::Headers {
            stream_id: 3,
            fields: request.fields(),
            end_stream: true,
            // The second block is mostly indexed, so it is short; 7-byte
            // fragments still need several CONTINUATIONs.
            continuations: 0, // replaced below
        },
        Frame::Data {
            stream_id: 1,
            data: b"plain".to_vec(),
            end_stream: false,
            padding: 0,
        },
        Frame::Data {
            stream_id: 1,
            data: b"padded".to_vec(),
            end_stream: true,
            padding: 11,
        },
        Frame::RstStream {
            stream_id: 3,
            error_code: error_code::CANCEL,
        },
        Frame::Ping {
            ack: false,
            payload: *b"12345678",
        },
        Frame::Ping {
            ack: true,
            payload: *b"87654321",
        },
        Frame::GoAway {
            last_stream_id: 3,
            error_code: error_code::ENHANCE_YOUR_CALM,
            debug_data: b"too_many_pings".to_vec(),
        },
        Frame::WindowUpdate {
            stream_id: 0,
            increment: 65_535,
        },
        Frame::Priority {
            stream_id: 5,
            dependency: 3,
            exclusive: true,
            weight: 200,
        },
        Frame::Unknown {
            kind: 0xbb,
            flags: 0x3,
            stream_id: 9,
            payload: b"ext".to_vec(),
        },
    ];

    for chunk in [bytes.len(), 1, 2, 9, 10, 100] {
        let mut reader = FrameReader::new(Reading::FromClient);
        let mut parsed = Vec::new();
        for piece in bytes.chunks(chunk) {
            reader.push(piece);
            parsed.extend(reader.frames());
        }
        assert_eq!(reader.buffered(), 0);
        // Fix up the one field that depends on the encoder's output size.
        let Frame::Headers { continuations, .. } = &parsed[4] else {
            panic!("expected HEADERS, got {:?}", parsed[4]);
        };
        assert!(*continuations >= 1, "7-byte fragments need CONTINUATIONs");
        let mut expected = expected.clone();
        if let Frame::Headers {
            continuations: c, ..
        } = &mut expected[4]
        {
            *c = *continuations;
        }
        assert_eq!(parsed, expected, "chunk size {chunk}");
    }
}

#[test]
fn grpc_message_framing_by_hand() {
    assert_eq!(grpc::message(b"hi"), [0, 0, 0, 0, 2, b'h', b'i']);
    assert_eq!(grpc::message_with_flag(1, b""), [1, 0, 0, 0, 0]);
    assert_eq!(grpc::message_header(0, 0x0102_0304), [0, 1, 2, 3, 4]);
    let mut body = grpc::message(b"one");
    body.extend(grpc::message_with_flag(1, b"two"));
    body.extend(grpc::message(b""));
    assert_eq!(
        grpc::parse_messages(&body),
        vec![(0, b"one".to_vec()), (1, b"two".to_vec()), (0, vec![])]
    );
    let request = GrpcRequest::new("/a.B/C").fields();
    assert_eq!(
        request,
        fields(&[
            (":method", "POST"),
            (":scheme", "http"),
            (":path", "/a.B/C"),
            (":authority", "localhost"),
            ("content-type", "application/grpc"),
            ("te", "trailers"),
        ])
    );
    assert_eq!(
        grpc::trailers_only(5, "not%20found"),
        fields(&[
            (":status", "200"),
            ("content-type", "application/grpc"),
            ("grpc-status", "5"),
            ("grpc-message", "not%20found"),
        ])
    );
}

// ===== the mock as a client of h2 =====

#[test]
fn mock_client_completes_a_unary_call_with_an_h2_server() {
    let mut client = MockPeer::client();
    client
        .handshake()
        .grpc_request(
            1,
            &GrpcRequest::new("/echo.Echo/Say")
                .timeout("5S")
                .metadata("x-id", "42"),
        )
        .grpc_message(1, b"ping me", true);
    let (mut server, io) = h2_server(&mut client);

    let (request, mut respond) = accept_request(&mut server);
    assert_eq!(request.method(), "POST");
    assert_eq!(request.uri().path(), "/echo.Echo/Say");
    assert_eq!(request.headers()["content-type"], "application/grpc");
    assert_eq!(request.headers()["te"], "trailers");
    assert_eq!(request.headers()["grpc-timeout"], "5S");
    assert_eq!(request.headers()["x-id"], "42");
    let mut body = request.into_body();
    let chunk = match body.poll_data(&mut noop_context()) {
        Poll::Ready(Some(Ok(chunk))) => chunk,
        other => panic!("expected the request message, got {other:?}"),
    };
    body.flow_control().release_capacity(chunk.len()).unwrap();
    assert_eq!(grpc::parse_messages(&chunk), vec![(0, b"ping me".to_vec())]);
    assert!(body.is_end_stream());

    let mut send = respond.send_response(grpc_response_head(), false).unwrap();
    send.send_data(Bytes::from(grpc::message(b"pong")), false)
        .unwrap();
    send.send_trailers(grpc_trailer_map("0")).unwrap();
    assert!(accept(&mut server).is_pending(), "flushes, no new stream");

    client.receive(&io.take_written());
    let all = client.frames();
    assert!(
        matches!(all.first(), Some(Frame::Settings { ack: false, .. })),
        "h2 opens with SETTINGS: {all:?}"
    );
    assert!(all.contains(&Frame::Settings {
        ack: true,
        settings: vec![]
    }));
    let frames = stream_frames(all);
    assert_eq!(frames.len(), 3, "{frames:?}");
    let Frame::Headers {
        stream_id: 1,
        fields: head,
        end_stream: false,
        ..
    } = &frames[0]
    else {
        panic!("expected response headers, got {:?}", frames[0]);
    };
    assert_eq!(field(head, ":status"), Some("200"));
    assert_eq!(field(head, "content-type"), Some("application/grpc"));
    let Frame::Data {
        stream_id: 1,
        data,
        end_stream: false,
        ..
    } = &frames[1]
    else {
        panic!("expected a DATA frame, got {:?}", frames[1]);
    };
    assert_eq!(grpc::parse_messages(data), vec![(0, b"pong".to_vec())]);
    assert_eq!(
        frames[2],
        Frame::Headers {
            stream_id: 1,
            fields: fields(&[("grpc-status", "0")]),
            end_stream: true,
            continuations: 0,
        }
    );
}

#[test]
fn continuation_split_request_headers_reach_h2_whole() {
    let long = "v".repeat(300);
    let request = GrpcRequest::new("/big.Headers/Call").metadata("x-long", &long);
    let mut client = MockPeer::client();
    client
        .handshake()
        .set_max_frame_size(10)
        .grpc_request(1, &request);
    let (mut server, _io) = h2_server(&mut client);
    let (request, _respond) = accept_request(&mut server);
    assert_eq!(request.uri().path(), "/big.Headers/Call");
    assert_eq!(request.headers()["x-long"], long.as_str());
}

#[test]
fn large_response_headers_from_h2_are_reassembled_from_continuations() {
    let mut client = MockPeer::client();
    client
        .handshake()
        .grpc_request(1, &GrpcRequest::new("/big.Headers/Reply"));
    let (mut server, io) = h2_server(&mut client);
    let (_request, mut respond) = accept_request(&mut server);
    let long = "x".repeat(40_000);
    let mut response = grpc_response_head();
    response
        .headers_mut()
        .insert("x-long", HeaderValue::from_str(&long).unwrap());
    respond.send_response(response, true).unwrap();
    assert!(accept(&mut server).is_pending());

    client.receive(&io.take_written());
    let frames = stream_frames(client.frames());
    let [
        Frame::Headers {
            stream_id: 1,
            fields,
            end_stream: true,
            continuations,
        },
    ] = frames.as_slice()
    else {
        panic!("expected one header block, got {frames:?}");
    };
    assert!(*continuations >= 2, "40 kB of headers need CONTINUATIONs");
    assert_eq!(field(fields, "x-long"), Some(long.as_str()));
}

#[test]
fn malformed_frames_from_the_mock_draw_h2_connection_errors() {
    // (description, bytes after the handshake, expected GOAWAY code)
    let cases: Vec<(&str, Vec<u8>, u32)> = vec![
        (
            "PING on a stream",
            {
                let mut b = Vec::new();
                raw::raw_frame(&mut b, kind::PING, 0, 1, &[0; 8]);
                b
            },
            error_code::PROTOCOL_ERROR,
        ),
        (
            "PING of 7 bytes",
            {
                let mut b = Vec::new();
                raw::raw_frame(&mut b, kind::PING, 0, 0, &[0; 7]);
                b
            },
            // RFC 9113 §6.7 says FRAME_SIZE_ERROR; h2 0.4 answers every
            // malformed PING with PROTOCOL_ERROR.
            error_code::PROTOCOL_ERROR,
        ),
        (
            "CONTINUATION without HEADERS",
            {
                let mut b = Vec::new();
                raw::raw_frame(&mut b, kind::CONTINUATION, 0x4, 1, &[0x82]);
                b
            },
            error_code::PROTOCOL_ERROR,
        ),
        (
            "DATA over the 16 kB max frame size",
            {
                let mut b = Vec::new();
                raw::data(&mut b, 1, &[0; 16_385], false);
                b
            },
            error_code::FRAME_SIZE_ERROR,
        ),
        (
            "WINDOW_UPDATE of zero on the connection",
            {
                let mut b = Vec::new();
                raw::window_update(&mut b, 0, 0);
                b
            },
            error_code::PROTOCOL_ERROR,
        ),
    ];
    for (what, bytes, code) in cases {
        let mut client = MockPeer::client();
        client.handshake();
        let (mut server, io) = h2_server(&mut client);
        io.push(&bytes);
        match accept(&mut server) {
            Poll::Ready(Some(Err(error))) => assert!(error.is_go_away(), "{what}: {error}"),
            other => panic!("{what}: expected an error, got {:?}", other.is_ready()),
        }
        client.receive(&io.take_written());
        let goaway = client
            .frames()
            .into_iter()
            .find(|f| matches!(f, Frame::GoAway { .. }))
            .unwrap_or_else(|| panic!("{what}: h2 sent no GOAWAY"));
        let Frame::GoAway { error_code, .. } = goaway else {
            unreachable!()
        };
        assert_eq!(error_code, code, "{what}");
    }
}

// ===== the mock as a server for h2 =====

#[test]
fn mock_server_answers_an_h2_client() {
    let (io, handle) = memory_io();
    let mut handshake = Box::pin(h2::client::handshake(io));
    let (mut send_request, mut conn) = match poll_once(&mut handshake) {
        Poll::Ready(result) => result.expect("h2 client handshake"),
        Poll::Pending => panic!("the client handshake needs no input"),
    };
    assert!(send_request.poll_ready(&mut noop_context()).is_ready());
    let request = Request::builder()
        .method("POST")
        .uri("http://localhost/echo.Echo/Say")
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(())
        .unwrap();
    let (mut response, mut send) = send_request.send_request(request, false).unwrap();
    send.send_data(Bytes::from(grpc::message(b"hello")), true)
        .unwrap();
    assert!(poll_once(&mut conn).is_pending());

    let mut server = MockPeer::server();
    server.receive(&handle.take_written());
    let frames = server.frames();
    assert!(
        matches!(frames[0], Frame::Settings { ack: false, .. }),
        "{frames:?}"
    );
    let frames = stream_frames(frames);
    let [
        Frame::Headers {
            stream_id: 1,
            fields: head,
            end_stream: false,
            ..
        },
        Frame::Data {
            stream_id: 1,
            data,
            end_stream: true,
            ..
        },
    ] = frames.as_slice()
    else {
        panic!("expected a request, got {frames:?}");
    };
    assert_eq!(field(head, ":method"), Some("POST"));
    assert_eq!(field(head, ":path"), Some("/echo.Echo/Say"));
    assert_eq!(field(head, "te"), Some("trailers"));
    assert_eq!(grpc::parse_messages(data), vec![(0, b"hello".to_vec())]);

    server
        .handshake()
        .settings_ack()
        .grpc_unary_response(1, b"world", 0, "");
    handle.push(&server.take_output());
    assert!(poll_once(&mut conn).is_pending());

    let response = match poll_once(&mut response) {
        Poll::Ready(result) => result.expect("response"),
        Poll::Pending => panic!("the response should have arrived"),
    };
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/grpc");
    let mut body = response.into_body();
    let chunk = match body.poll_data(&mut noop_context()) {
        Poll::Ready(Some(Ok(chunk))) => chunk,
        other => panic!("expected the response message, got {other:?}"),
    };
    assert_eq!(grpc::parse_messages(&chunk), vec![(0, b"world".to_vec())]);
    let trailers = match body.poll_trailers(&mut noop_context()) {
        Poll::Ready(Ok(Some(trailers))) => trailers,
        other => panic!("expected trailers, got {other:?}"),
    };
    assert_eq!(trailers["grpc-status"], "0");

    // The client acknowledged our SETTINGS.
    assert!(poll_once(&mut conn).is_pending());
    server.receive(&handle.take_written());
    assert!(server.frames().contains(&Frame::Settings {
        ack: true,
        settings: vec![]
    }));
}

// ===== ping floods, the frame walker and the policy =====

#[test]
fn ping_flood_is_counted_by_the_walker_judged_by_the_policy_and_answered_by_h2() {
    const PINGS: u64 = 50;
    let mut client = MockPeer::client();
    client.handshake().ping_flood(PINGS);
    let flood = client.pending_output().to_vec();

    // The walker, fed in uneven chunks, sees every ping.
    let mut walker = FrameWalker::after_preface();
    let mut policy = PingPolicy::new(PingPolicyConfig::default());
    let now = Instant::now();
    let mut verdicts = Vec::new();
    for chunk in flood.chunks(13) {
        walker.walk(chunk, |header| {
            if header.is_ping() {
                verdicts.push(policy.on_ping_received(now, 1));
            }
        });
    }
    assert!(walker.at_boundary());
    let seen = walker.take_seen();
    assert_eq!(u64::from(seen.pings), PINGS);
    assert!(seen.settings);
    assert_eq!(u64::from(seen.frames), PINGS + 1);
    // First ping free, two strikes forgiven, the fourth ping is too many.
    assert_eq!(
        verdicts
            .iter()
            .position(|v| *v == PingVerdict::TooManyPings),
        Some(3)
    );

    // h2 answers every one of them by itself.
    let (mut server, io) = h2_server(&mut client);
    assert!(accept(&mut server).is_pending());
    let written = io.take_written();
    client.receive(&written);
    let acks: Vec<[u8; 8]> = client
        .frames()
        .into_iter()
        .filter_map(|f| match f {
            Frame::Ping { ack: true, payload } => Some(payload),
            _ => None,
        })
        .collect();
    assert_eq!(acks.len() as u64, PINGS);
    assert!(
        acks.iter()
            .enumerate()
            .all(|(i, p)| *p == (i as u64).to_be_bytes())
    );

    // A walker over h2's output sees the same ACKs, and no PING of its own.
    let headers = frame::frame_headers(&written, false);
    let acks = headers.iter().filter(|h| h.kind == FrameKind::PING).count();
    assert_eq!(acks as u64, PINGS);
    assert!(headers.iter().all(|h| !h.is_ping()));
}

#[test]
fn data_sent_between_pings_resets_strikes() {
    let mut client = MockPeer::client();
    client.handshake().ping_flood(3);
    let mut walker = FrameWalker::after_preface();
    let mut policy = PingPolicy::new(PingPolicyConfig::default());
    let now = Instant::now() + Duration::from_secs(1);
    let mut feed = |bytes: &[u8], policy: &mut PingPolicy| {
        let mut last = PingVerdict::Ok;
        walker.walk(bytes, |h| {
            if h.is_ping() {
                last = policy.on_ping_received(now, 1);
            }
        });
        last
    };
    assert_eq!(feed(&client.take_output(), &mut policy), PingVerdict::Ok);
    assert_eq!(policy.strikes(), 2);
    policy.on_data_or_headers_sent();
    client.ping_flood(3);
    assert_eq!(feed(&client.take_output(), &mut policy), PingVerdict::Ok);
    assert_eq!(
        policy.strikes(),
        2,
        "reset by the forgiven ping, then two strikes"
    );
    client.ping(*b"thirdone");
    assert_eq!(
        feed(&client.take_output(), &mut policy),
        PingVerdict::TooManyPings
    );
}

#[test]
fn the_walker_agrees_with_the_reader_on_h2_output() {
    let mut client = MockPeer::client();
    client
        .handshake()
        .grpc_request(1, &GrpcRequest::new("/s.S/M"))
        .grpc_message(1, &vec![7; 50_000], true)
        .ping(*b"abcdefgh");
    let (mut server, io) = h2_server(&mut client);
    let (request, mut respond) = accept_request(&mut server);
    let mut body = request.into_body();
    while let Poll::Ready(Some(Ok(chunk))) = body.poll_data(&mut noop_context()) {
        body.flow_control().release_capacity(chunk.len()).unwrap();
    }
    let mut send = respond.send_response(grpc_response_head(), false).unwrap();
    send.send_data(Bytes::from(grpc::message(&vec![9; 40_000])), false)
        .unwrap();
    send.send_trailers(grpc_trailer_map("0")).unwrap();
    assert!(accept(&mut server).is_pending());
    let written = io.take_written();

    let mut reader = FrameReader::new(Reading::FromServer);
    reader.push(&written);
    let frames = reader.frames();
    let headers = frame::frame_headers(&written, false);
    let kinds: Vec<FrameKind> = headers.iter().map(|h| h.kind).collect();
    let expected: Vec<FrameKind> = frames
        .iter()
        .map(|f| match f {
            Frame::Data { .. } => FrameKind::DATA,
            Frame::Headers { .. } => FrameKind::HEADERS,
            Frame::Settings { .. } => FrameKind::SETTINGS,
            Frame::Ping { .. } => FrameKind::PING,
            Frame::WindowUpdate { .. } => FrameKind::WINDOW_UPDATE,
            other => panic!("unexpected frame from h2: {other:?}"),
        })
        .collect();
    assert_eq!(kinds, expected);
    let data = kinds.iter().filter(|k| **k == FrameKind::DATA).count();
    assert!(data >= 3, "40 kB of DATA in 16 kB frames");
}

#[test]
fn too_many_pings_goaway_is_what_grpc_clients_expect() {
    let mut out = Vec::new();
    frame::encode_goaway(7, frame::ENHANCE_YOUR_CALM, frame::TOO_MANY_PINGS, &mut out);
    let mut reader = FrameReader::new(Reading::FromServer);
    reader.push(&out);
    assert_eq!(
        reader.frames(),
        vec![Frame::GoAway {
            last_stream_id: 7,
            error_code: error_code::ENHANCE_YOUR_CALM,
            debug_data: b"too_many_pings".to_vec(),
        }]
    );

    // And h2, as a client, takes it as a GOAWAY with that code.
    let (io, handle) = memory_io();
    let mut handshake = Box::pin(h2::client::handshake(io));
    let (_send_request, mut conn) = match poll_once(&mut handshake) {
        Poll::Ready(result) => result.unwrap(),
        Poll::Pending => panic!("the client handshake needs no input"),
    };
    let mut server = MockPeer::server();
    server.handshake();
    handle.push(&server.take_output());
    let mut goaway = Vec::new();
    frame::encode_goaway(
        0,
        frame::ENHANCE_YOUR_CALM,
        frame::TOO_MANY_PINGS,
        &mut goaway,
    );
    handle.push(&goaway);
    handle.close();
    match poll_once(&mut conn) {
        Poll::Ready(Err(error)) => {
            assert!(error.is_go_away(), "{error}");
            assert!(error.is_remote());
            assert_eq!(error.reason(), Some(h2::Reason::ENHANCE_YOUR_CALM));
        }
        other => panic!("expected the GOAWAY to end the connection, got {other:?}"),
    }
}

#[test]
fn unused_helpers_compile() {
    // Touch the helpers no other test here uses, so they stay checked.
    let _: Fields = fields(&[]);
    let mut peer = MockPeer::server();
    peer.goaway(0, error_code::NO_ERROR, b"");
    assert_eq!(peer.take_output().len(), 17);
    assert_eq!(peer.buffered_input(), 0);
}
