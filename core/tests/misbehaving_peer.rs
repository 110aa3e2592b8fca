//! What the engine does when the peer misbehaves at the frame level, with
//! the scripted [`MockPeer`] writing raw HTTP/2.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::{Duration, Instant};

use bytes::Bytes;
use ferrule_core::proto::{
    CallOptions, ClientConfig, ClientConnection, ClientEvent, ConnectionError, ErrorCode, Fault,
    RecvError, ServerConfig, ServerConnection, ServerEvent,
};
use ferrule_core::{Code, Status};

use support::{Frame, GrpcRequest, MockPeer, error_code, field, grpc};

/// Our server against a scripted client.
struct Server {
    conn: ServerConnection,
    peer: MockPeer,
    now: Instant,
    events: Vec<ServerEvent>,
}

impl Server {
    fn new(config: ServerConfig) -> Server {
        let now = Instant::now();
        let mut s = Server {
            conn: ServerConnection::new(config, now),
            peer: MockPeer::client(),
            now,
            events: Vec::new(),
        };
        s.peer.handshake();
        s.exchange();
        s
    }

    /// Delivers what the peer wrote, in one chunk, and takes the answer.
    fn exchange(&mut self) -> Vec<Frame> {
        let input = self.peer.take_output();
        if !input.is_empty() {
            self.conn.handle_input(self.now, &input);
        }
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = self.conn.poll_transmit(self.now, &mut buf);
            if n == 0 {
                break;
            }
            self.peer.receive(&buf[..n]);
        }
        while let Some(event) = self.conn.poll_event() {
            self.events.push(event);
        }
        self.peer.frames()
    }

    fn new_call(&mut self) -> ferrule_core::proto::CallId {
        let index = self
            .events
            .iter()
            .position(|e| matches!(e, ServerEvent::NewCall { .. }))
            .unwrap_or_else(|| panic!("no call: {:?}", self.events));
        match self.events.remove(index) {
            ServerEvent::NewCall { call, .. } => call,
            _ => unreachable!(),
        }
    }
}

fn goaway(frames: &[Frame]) -> Option<(u32, u32, Vec<u8>)> {
    frames.iter().find_map(|f| match f {
        Frame::GoAway {
            last_stream_id,
            error_code,
            debug_data,
        } => Some((*last_stream_id, *error_code, debug_data.clone())),
        _ => None,
    })
}

#[test]
fn a_ping_flood_gets_goaway_too_many_pings() {
    let mut server = Server::new(ServerConfig::default());
    server.peer.grpc_request(1, &GrpcRequest::new("/a.B/C"));
    server.exchange();
    let _call = server.new_call();
    server.peer.ping_flood(10);
    let frames = server.exchange();
    let (last, code, debug) = goaway(&frames).expect("GOAWAY");
    assert_eq!((last, code), (1, error_code::ENHANCE_YOUR_CALM));
    assert_eq!(debug, b"too_many_pings");
    assert!(server.conn.is_closed());
    assert!(matches!(
        server.conn.error(),
        Some(ConnectionError::TooManyPings)
    ));
    assert_eq!(server.conn.error().unwrap().fault(), Fault::Peer);
    assert!(server.events.iter().any(|e| matches!(
        e,
        ServerEvent::Cancelled { status, .. } if status.code() == Code::UNAVAILABLE
    )));
    // Nothing follows the GOAWAY.
    let after = frames
        .iter()
        .skip_while(|f| !matches!(f, Frame::GoAway { .. }))
        .count();
    assert_eq!(after, 1);
}

#[test]
fn data_on_an_idle_stream_is_a_connection_error() {
    let mut server = Server::new(ServerConfig::default());
    server.peer.data(5, b"\x00\x00\x00\x00\x00", false);
    let frames = server.exchange();
    let (_, code, _) = goaway(&frames).expect("GOAWAY");
    assert_eq!(code, error_code::PROTOCOL_ERROR);
    assert!(server.conn.is_closed());
    assert!(matches!(
        server.conn.error(),
        Some(ConnectionError::Protocol(code)) if *code == ErrorCode::PROTOCOL_ERROR
    ));
}

#[test]
fn a_wrong_preface_is_not_http2() {
    let now = Instant::now();
    for input in [
        &b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"[..],
        b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n",
    ] {
        let mut conn = ServerConnection::new(ServerConfig::default(), now);
        conn.handle_input(now, input);
        let mut buf = [0u8; 4096];
        while conn.poll_transmit(now, &mut buf) > 0 {}
        assert!(conn.is_closed(), "{input:?}");
        assert!(
            matches!(
                conn.error(),
                Some(ConnectionError::NotHttp2 | ConnectionError::Protocol(_))
            ),
            "{:?}",
            conn.error()
        );
    }
}

#[test]
fn headers_in_continuations_and_tiny_padded_data_frames_work() {
    let mut server = Server::new(ServerConfig::default());
    let request = GrpcRequest::new("/a.B/C").metadata("x-long", &"v".repeat(300));
    server
        .peer
        .headers_in_fragments(1, &request.fields(), false, 100);
    let message = grpc::message(b"assembled from pieces");
    for (i, byte) in message.iter().enumerate() {
        server
            .peer
            .data_padded(1, &[*byte], 3, i + 1 == message.len());
    }
    server.exchange();
    let call = server.new_call();
    assert_eq!(
        server.conn.recv_message(call),
        Ok(Some(Bytes::from_static(b"assembled from pieces")))
    );
    assert_eq!(server.conn.recv_message(call), Ok(None));
    server
        .conn
        .send_message(call, Bytes::from_static(b"ok"))
        .unwrap();
    server
        .conn
        .finish(call, Status::ok(), &Default::default())
        .unwrap();
    let frames = server.exchange();
    let trailers = frames
        .iter()
        .find_map(|f| match f {
            Frame::Headers {
                fields,
                end_stream: true,
                ..
            } => Some(fields.clone()),
            _ => None,
        })
        .expect("trailers");
    assert_eq!(field(&trailers, "grpc-status"), Some("0"));
}

#[test]
fn a_continuation_flood_is_refused_by_h2() {
    let mut server = Server::new(ServerConfig::default());
    let request = GrpcRequest::new("/a.B/C").metadata("x-long", &"v".repeat(300));
    server
        .peer
        .headers_in_fragments(1, &request.fields(), false, 10);
    let frames = server.exchange();
    let (_, code, _) = goaway(&frames).expect("GOAWAY");
    assert_eq!(code, error_code::ENHANCE_YOUR_CALM);
    assert!(server.conn.is_closed());
}

#[test]
fn overrunning_the_stream_window_is_a_flow_control_error() {
    let mut config = ServerConfig::default();
    config.limits.initial_stream_window = 65_535;
    let mut server = Server::new(config);
    server.peer.settings_ack();
    server.peer.grpc_request(1, &GrpcRequest::new("/a.B/C"));
    server.exchange();
    let call = server.new_call();
    // 70 000 bytes, more than the window, without waiting for WINDOW_UPDATE
    // (the application reads nothing, so none is sent).
    server.peer.data_in_frames(1, &vec![0u8; 70_000], false);
    let frames = server.exchange();
    let reset = frames.iter().any(|f| {
        matches!(f, Frame::RstStream { stream_id: 1, error_code } if *error_code == error_code::FLOW_CONTROL_ERROR)
    });
    let goaway = goaway(&frames).map(|(_, code, _)| code);
    assert!(
        reset || goaway == Some(error_code::FLOW_CONTROL_ERROR),
        "{frames:?}"
    );
    // The call was reset (or the connection closed): its stream never reads
    // as complete.
    let read = server.conn.recv_message(call);
    assert!(
        matches!(
            read,
            Err(RecvError::Cancelled(_) | RecvError::Closed | RecvError::Blocked)
        ),
        "{read:?}"
    );
}

#[test]
fn peer_resets_cancel_the_call() {
    for (code, expected) in [
        (error_code::CANCEL, Code::CANCELLED),
        (error_code::REFUSED_STREAM, Code::UNAVAILABLE),
        (error_code::INTERNAL_ERROR, Code::INTERNAL),
        (error_code::ENHANCE_YOUR_CALM, Code::RESOURCE_EXHAUSTED),
    ] {
        let mut server = Server::new(ServerConfig::default());
        server.peer.grpc_request(1, &GrpcRequest::new("/a.B/C"));
        server.peer.grpc_message(1, b"x", false);
        server.exchange();
        let call = server.new_call();
        server.peer.rst_stream(1, code);
        server.exchange();
        let status = server
            .events
            .iter()
            .find_map(|e| match e {
                ServerEvent::Cancelled { call: c, status } if *c == call => Some(status.clone()),
                _ => None,
            })
            .unwrap_or_else(|| panic!("{code}: {:?}", server.events));
        assert_eq!(status.code(), expected, "{code}");
        assert!(!server.conn.is_closed());
    }
}

#[test]
fn a_short_timeout_from_the_peer_expires_on_the_server() {
    let mut server = Server::new(ServerConfig::default());
    server
        .peer
        .grpc_request(1, &GrpcRequest::new("/a.B/C").timeout("100m"));
    server.exchange();
    let call = server.new_call();
    assert_eq!(
        server.conn.poll_timeout(),
        Some(server.now + Duration::from_millis(100))
    );
    server.now += Duration::from_millis(100);
    server.conn.handle_timeout(server.now);
    let frames = server.exchange();
    let answer = frames
        .iter()
        .find_map(|f| match f {
            Frame::Headers {
                stream_id: 1,
                fields,
                ..
            } => Some(fields.clone()),
            _ => None,
        })
        .expect("Trailers-Only");
    assert_eq!(field(&answer, "grpc-status"), Some("4"));
    assert!(server.events.iter().any(|e| matches!(
        e,
        ServerEvent::Cancelled { call: c, status } if *c == call && status.code() == Code::DEADLINE_EXCEEDED
    )));
}

/// Our client against a scripted server.
struct Client {
    conn: ClientConnection,
    peer: MockPeer,
    now: Instant,
    events: Vec<ClientEvent>,
}

impl Client {
    fn new() -> Client {
        let now = Instant::now();
        let mut c = Client {
            conn: ClientConnection::new(ClientConfig::default(), now),
            peer: MockPeer::server(),
            now,
            events: Vec::new(),
        };
        c.peer.settings(&[]);
        c.exchange();
        c
    }

    fn exchange(&mut self) -> Vec<Frame> {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = self.conn.poll_transmit(self.now, &mut buf);
            if n == 0 {
                break;
            }
            self.peer.receive(&buf[..n]);
        }
        let input = self.peer.take_output();
        if !input.is_empty() {
            self.conn.handle_input(self.now, &input);
        }
        loop {
            let n = self.conn.poll_transmit(self.now, &mut buf);
            if n == 0 {
                break;
            }
            self.peer.receive(&buf[..n]);
        }
        while let Some(event) = self.conn.poll_event() {
            self.events.push(event);
        }
        self.peer.frames()
    }

    fn finished(&self, call: ferrule_core::proto::CallId) -> Option<Status> {
        self.events.iter().find_map(|e| match e {
            ClientEvent::Finished {
                call: c, status, ..
            } if *c == call => Some(status.clone()),
            _ => None,
        })
    }

    fn start(&mut self) -> ferrule_core::proto::CallId {
        let call = self
            .conn
            .start_call(self.now, "/a.B/C", CallOptions::new())
            .unwrap();
        self.conn
            .send_message(call, Bytes::from_static(b"q"))
            .unwrap();
        self.conn.close_send(call).unwrap();
        let frames = self.exchange();
        assert!(
            frames
                .iter()
                .any(|f| matches!(f, Frame::Headers { stream_id: 1, .. })),
            "{frames:?}"
        );
        call
    }
}

#[test]
fn a_scripted_unary_response_is_understood() {
    let mut client = Client::new();
    let call = client.start();
    client.peer.grpc_unary_response(1, b"answer", 0, "");
    client.exchange();
    assert_eq!(client.finished(call).unwrap().code(), Code::OK);
    assert_eq!(
        client.conn.recv_message(call),
        Ok(Some(Bytes::from_static(b"answer")))
    );
    assert_eq!(client.conn.recv_message(call), Ok(None));
}

#[test]
fn goaway_below_the_call_makes_it_unavailable() {
    let mut client = Client::new();
    let call = client.start();
    client.peer.goaway(0, error_code::NO_ERROR, b"");
    client.exchange();
    let status = client.finished(call).expect("finished");
    assert_eq!(status.code(), Code::UNAVAILABLE, "{status}");
    assert!(
        client
            .events
            .iter()
            .any(|e| matches!(e, ClientEvent::GoAway { .. }))
    );
    assert!(!client.conn.is_accepting_calls());
}

#[test]
fn malformed_response_headers_fail_the_call_and_the_connection() {
    let mut client = Client::new();
    let call = client.start();
    let mut headers = grpc::response_headers();
    headers.push(("X-Upper".to_owned(), "1".to_owned()));
    client.peer.headers(1, &headers, false);
    let frames = client.exchange();
    // h2 treats uppercase field names as a protocol error of the connection.
    let status = client.finished(call).expect("finished");
    assert_eq!(status.code(), Code::UNAVAILABLE, "{status}");
    assert!(goaway(&frames).is_some());
    assert!(matches!(
        client.conn.error(),
        Some(ConnectionError::Protocol(code)) if *code == ErrorCode::PROTOCOL_ERROR
    ));
}

#[test]
fn trailers_only_with_a_bad_status_is_unknown() {
    let mut client = Client::new();
    let call = client.start();
    let mut fields = grpc::response_headers();
    fields.push(("grpc-status".to_owned(), "not-a-number".to_owned()));
    client.peer.headers(1, &fields, true);
    client.exchange();
    assert_eq!(client.finished(call).unwrap().code(), Code::UNKNOWN);
}
