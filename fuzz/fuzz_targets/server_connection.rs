#![no_main]
//! A server connection fed arbitrary client bytes after a valid preface,
//! interleaved with what an application does (read, reply, finish, cancel,
//! shut down), time passing, a client that stops reading, and EOF.
//!
//! The engine is driven through the byte interface or along the production
//! path (`with_io`, `drive_io` only when woken), as the input chooses.
//!
//! Invariants checked after every step:
//! - nothing panics; `poll_event` and `poll_transmit` terminate;
//! - on the production path, no work is left without a wake of the task;
//! - the bytes the engine holds for calls never exceed what the limits allow:
//!   per call, the stream window of unread messages, one partial message up
//!   to the max size, and the send queue (limit plus one message);
//! - the engine stops asking for input (`wants_input`) rather than buffering
//!   more than its inbound limit plus one chunk;
//! - once closed, it stays closed with the same error, and reports `Closed`
//!   exactly once, last.

use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use bytes::Bytes;
use ferrule_core::Status;
use ferrule_core::proto::{CallId, ServerConfig, ServerEvent, ServerSide};
use libfuzzer_sys::fuzz_target;

#[path = "common/drive.rs"]
mod drive;
#[path = "common/wire.rs"]
mod wire;

use drive::Engine;

const WINDOW: u32 = 64 * 1024;
const MAX_MESSAGE: usize = 16 * 1024;
const SEND_BUFFER: usize = 16 * 1024;
const MAX_REPLY: usize = 4 * 1024;

#[derive(Arbitrary, Debug)]
enum Op {
    /// Client bytes, delivered in chunks of at most `chunk` bytes.
    Input { bytes: Vec<u8>, chunk: u8 },
    /// A well-formed request HEADERS frame (fields chosen by the fuzzer).
    Request {
        stream: u8,
        variant: u8,
        timeout: Option<u8>,
        end_stream: bool,
    },
    /// DATA carrying a gRPC message (flag and declared length fuzzed).
    Message {
        stream: u8,
        flag: u8,
        len: u16,
        declared: Option<u32>,
        end_stream: bool,
    },
    /// RST_STREAM.
    Reset { stream: u8, code: u8 },
    /// WINDOW_UPDATE.
    WindowUpdate { stream: u8, increment: u32 },
    /// PING (not an ACK).
    Ping,
    /// Time passes (milliseconds).
    Advance(u16),
    /// The application reads every call's messages.
    ReadAll,
    /// The application replies on a call.
    Reply {
        call: u8,
        len: u16,
        finish: bool,
        code: u8,
    },
    /// The application cancels a call.
    Cancel(u8),
    /// Graceful shutdown.
    GoAway,
    /// The transport takes at most this many bytes (0: a stalled client).
    Transmit(u16),
    /// The client closes its side.
    Eof,
}

#[derive(Arbitrary, Debug)]
struct Input {
    /// Driven as production drives it (`with_io`, `drive_io` on wakes).
    production: bool,
    ops: Vec<Op>,
}

fn deliver(conn: &mut Engine<ServerSide>, now: Instant, bytes: &[u8]) {
    if conn.wants_input() {
        conn.input(now, bytes);
    }
}

fuzz_target!(|input: Input| {
    let mut config = ServerConfig::default();
    config.limits.initial_stream_window = WINDOW;
    config.limits.initial_connection_window = 2 * WINDOW;
    config.limits.max_recv_message_size = MAX_MESSAGE;
    config.limits.max_send_buffer_per_call = SEND_BUFFER;
    config.limits.max_concurrent_streams = 8;
    config.limits.max_header_list_size = 8 * 1024;
    config.limits.max_outbound_buffer = 64 * 1024;
    config.limits.max_inbound_buffer = 64 * 1024;
    let mut now = Instant::now();
    let mut conn = Engine::<ServerSide>::new(config, 64 * 1024, now, input.production);
    let mut calls: Vec<CallId> = Vec::new();
    let mut closed_seen = false;
    let mut closed_error = None;
    let mut buf = vec![0u8; 64 * 1024];

    let mut opening = wire::PREFACE.to_vec();
    wire::frame(&mut opening, wire::SETTINGS, 0, 0, &[]);
    conn.input(now, &opening);

    for op in input.ops {
        match op {
            Op::Input { bytes, chunk } => {
                let chunk = usize::from(chunk).max(1);
                for piece in bytes.chunks(chunk) {
                    if !conn.wants_input() {
                        break;
                    }
                    conn.input(now, piece);
                }
            }
            Op::Request {
                stream,
                variant,
                timeout,
                end_stream,
            } => {
                let path = ["/a.B/C", "/", "/a", "/a.B/C/D", "/a.B/C?x"][usize::from(variant % 5)];
                let method = if variant & 0x20 == 0 { "POST" } else { "GET" };
                let content_type = if variant & 0x40 == 0 {
                    "application/grpc"
                } else {
                    "text/plain"
                };
                let timeout = timeout.map(|t| format!("{t}m"));
                let mut fields = vec![
                    (":method", method),
                    (":scheme", "http"),
                    (":path", path),
                    (":authority", "fuzz"),
                    ("content-type", content_type),
                    ("te", "trailers"),
                ];
                if let Some(t) = &timeout {
                    fields.push(("grpc-timeout", t));
                }
                if variant & 0x80 != 0 {
                    fields.push(("grpc-encoding", "gzip"));
                }
                let mut out = Vec::new();
                wire::headers(&mut out, u32::from(stream) * 2 + 1, &fields, end_stream);
                deliver(&mut conn, now, &out);
            }
            Op::Message {
                stream,
                flag,
                len,
                declared,
                end_stream,
            } => {
                let mut body = wire::message(flag % 3, &vec![b'm'; usize::from(len)]);
                if let Some(declared) = declared {
                    body[1..5].copy_from_slice(&declared.to_be_bytes());
                }
                let mut out = Vec::new();
                for (i, piece) in body.chunks(16_384).enumerate() {
                    let last = (i + 1) * 16_384 >= body.len();
                    let flags = if last && end_stream {
                        wire::END_STREAM
                    } else {
                        0
                    };
                    wire::frame(
                        &mut out,
                        wire::DATA,
                        flags,
                        u32::from(stream) * 2 + 1,
                        piece,
                    );
                }
                deliver(&mut conn, now, &out);
            }
            Op::Reset { stream, code } => {
                let mut out = Vec::new();
                wire::frame(
                    &mut out,
                    wire::RST_STREAM,
                    0,
                    u32::from(stream) * 2 + 1,
                    &u32::from(code % 14).to_be_bytes(),
                );
                deliver(&mut conn, now, &out);
            }
            Op::WindowUpdate { stream, increment } => {
                let mut out = Vec::new();
                let id = if stream == 0 {
                    0
                } else {
                    u32::from(stream) * 2 + 1
                };
                wire::frame(
                    &mut out,
                    wire::WINDOW_UPDATE,
                    0,
                    id,
                    &(increment & 0x7fff_ffff).to_be_bytes(),
                );
                deliver(&mut conn, now, &out);
            }
            Op::Ping => {
                let mut out = Vec::new();
                wire::frame(&mut out, wire::PING, 0, 0, &[0; 8]);
                deliver(&mut conn, now, &out);
            }
            Op::Advance(ms) => {
                now += Duration::from_millis(u64::from(ms));
                conn.timeout(now);
            }
            Op::ReadAll => {
                for &call in &calls {
                    for _ in 0..1000 {
                        match conn.recv_message(call) {
                            Ok(Some(message)) => assert!(message.len() <= MAX_MESSAGE),
                            _ => break,
                        }
                    }
                }
            }
            Op::Reply {
                call,
                len,
                finish,
                code,
            } => {
                if let Some(&call) = calls.get(usize::from(call) % calls.len().max(1)) {
                    let len = usize::from(len) % (MAX_REPLY + 1);
                    let _ = conn.send_message(call, Bytes::from(vec![7u8; len]));
                    if finish {
                        let status = Status::new(i32::from(code % 20).into(), "fuzz");
                        let _ = conn.finish(call, status, &Default::default());
                    }
                }
            }
            Op::Cancel(call) => {
                if let Some(&call) = calls.get(usize::from(call) % calls.len().max(1)) {
                    conn.cancel(call);
                }
            }
            Op::GoAway => conn.close_gracefully(),
            Op::Transmit(max) => {
                let max = usize::from(max).min(buf.len());
                let _ = conn.transmit(now, &mut buf[..max]);
            }
            Op::Eof => conn.eof(now),
        }
        conn.run(now);
        // Drain events.
        for _ in 0..100_000 {
            let Some(event) = conn.poll_event() else {
                break;
            };
            assert!(!closed_seen, "an event after Closed: {event:?}");
            match event {
                ServerEvent::NewCall { call, request } => {
                    assert!(request.path().starts_with('/'));
                    calls.push(call);
                }
                ServerEvent::Closed { error } => {
                    closed_seen = true;
                    closed_error = Some(format!("{error:?}"));
                }
                _ => {}
            }
        }
        // Memory: what the engine holds for calls is bounded by the limits.
        let per_call = WINDOW as usize + MAX_MESSAGE + 5 + SEND_BUFFER + MAX_REPLY + 5;
        let bound = conn.open_calls().max(1) * per_call;
        assert!(
            conn.buffered_bytes() <= bound,
            "{} bytes held for {} calls",
            conn.buffered_bytes(),
            conn.open_calls()
        );
        if closed_seen {
            assert!(conn.is_closed());
            assert_eq!(Some(format!("{:?}", conn.error())), closed_error);
        }
    }
    // The output side always drains.
    for _ in 0..10_000 {
        if conn.transmit(now, &mut buf) == 0 {
            break;
        }
    }
});
