#![no_main]
//! A client connection with calls in flight, fed arbitrary server bytes,
//! interleaved with what an application does (start calls, send, half-close,
//! read, cancel), time passing and EOF.
//!
//! The engine is driven through the byte interface or along the production
//! path (`with_io`, `drive_io` only when woken), as the input chooses.
//!
//! Invariants checked after every step:
//! - nothing panics; `poll_event` and `poll_transmit` terminate;
//! - on the production path, no work is left without a wake of the task;
//! - the bytes held for calls stay within the limits (stream window of
//!   unread messages, one partial message, the send queue);
//! - every call gets at most one `Finished`, and none after `Closed`;
//! - once closed, the error is sticky.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use bytes::Bytes;
use ferrule_core::proto::{CallId, CallOptions, ClientConfig, ClientEvent, ClientSide};
use libfuzzer_sys::fuzz_target;

#[path = "common/drive.rs"]
mod drive;
#[path = "common/wire.rs"]
mod wire;

use drive::Engine;

const WINDOW: u32 = 64 * 1024;
const MAX_MESSAGE: usize = 16 * 1024;
const SEND_BUFFER: usize = 16 * 1024;
const MAX_REQUEST: usize = 4 * 1024;

#[derive(Arbitrary, Debug)]
enum Op {
    Start {
        timeout_ms: Option<u16>,
    },
    Send {
        call: u8,
        len: u16,
    },
    CloseSend(u8),
    Cancel(u8),
    ReadAll,
    Input {
        bytes: Vec<u8>,
        chunk: u8,
    },
    /// Well-formed response headers on a call's stream (variant picks the
    /// HTTP status, content type, encoding, and whether it is Trailers-Only).
    Response {
        stream: u8,
        variant: u8,
        end_stream: bool,
    },
    /// DATA with a gRPC message.
    Message {
        stream: u8,
        flag: u8,
        len: u16,
        declared: Option<u32>,
        end_stream: bool,
    },
    /// Trailers with a fuzzed grpc-status.
    Trailers {
        stream: u8,
        status: u8,
        malformed: bool,
    },
    Reset {
        stream: u8,
        code: u8,
    },
    GoAway {
        last: u8,
        code: u8,
    },
    Advance(u16),
    Transmit(u16),
    Eof,
}

#[derive(Arbitrary, Debug)]
struct Input {
    /// Driven as production drives it (`with_io`, `drive_io` on wakes).
    production: bool,
    settings_first: bool,
    ops: Vec<Op>,
}

fn deliver(conn: &mut Engine<ClientSide>, now: Instant, bytes: &[u8]) {
    if conn.wants_input() {
        conn.input(now, bytes);
    }
}

fuzz_target!(|input: Input| {
    let mut config = ClientConfig::default();
    config.limits.initial_stream_window = WINDOW;
    config.limits.initial_connection_window = 2 * WINDOW;
    config.limits.max_recv_message_size = MAX_MESSAGE;
    config.limits.max_send_buffer_per_call = SEND_BUFFER;
    config.limits.max_outbound_buffer = 64 * 1024;
    let mut now = Instant::now();
    let mut conn = Engine::<ClientSide>::new(config, 64 * 1024, now, input.production);
    let mut calls: Vec<CallId> = Vec::new();
    let mut finished: HashSet<CallId> = HashSet::new();
    let mut closed_seen = false;
    let mut closed_error = None;
    let mut buf = vec![0u8; 64 * 1024];
    if input.settings_first {
        let mut settings = Vec::new();
        wire::frame(&mut settings, wire::SETTINGS, 0, 0, &[]);
        conn.input(now, &settings);
    }
    let pick = |calls: &[CallId], i: u8| calls.get(usize::from(i) % calls.len().max(1)).copied();

    for op in input.ops {
        match op {
            Op::Start { timeout_ms } => {
                let mut options = CallOptions::new();
                if let Some(ms) = timeout_ms {
                    options = options.with_timeout(Duration::from_millis(u64::from(ms)));
                }
                if let Ok(call) = conn.start_call(now, "/fuzz.F/Call", options) {
                    calls.push(call);
                }
            }
            Op::Send { call, len } => {
                if let Some(call) = pick(&calls, call) {
                    let len = usize::from(len) % (MAX_REQUEST + 1);
                    let _ = conn.send_message(call, Bytes::from(vec![1u8; len]));
                }
            }
            Op::CloseSend(call) => {
                if let Some(call) = pick(&calls, call) {
                    let _ = conn.close_send(call);
                }
            }
            Op::Cancel(call) => {
                if let Some(call) = pick(&calls, call) {
                    conn.cancel(call);
                }
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
            Op::Input { bytes, chunk } => {
                let chunk = usize::from(chunk).max(1);
                for piece in bytes.chunks(chunk) {
                    if !conn.wants_input() {
                        break;
                    }
                    conn.input(now, piece);
                }
            }
            Op::Response {
                stream,
                variant,
                end_stream,
            } => {
                let status = ["200", "200", "503", "404", "100"][usize::from(variant % 5)];
                let content_type = if variant & 0x20 == 0 {
                    "application/grpc"
                } else {
                    "text/html"
                };
                let mut fields = vec![(":status", status), ("content-type", content_type)];
                if variant & 0x40 != 0 {
                    fields.push(("grpc-encoding", "gzip"));
                }
                if variant & 0x80 != 0 {
                    fields.push(("grpc-status", "3"));
                }
                let mut out = Vec::new();
                wire::headers(
                    &mut out,
                    u32::from(stream % 16) * 2 + 1,
                    &fields,
                    end_stream,
                );
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
                        u32::from(stream % 16) * 2 + 1,
                        piece,
                    );
                }
                deliver(&mut conn, now, &out);
            }
            Op::Trailers {
                stream,
                status,
                malformed,
            } => {
                let code = if malformed {
                    "x".to_owned()
                } else {
                    (status % 20).to_string()
                };
                let mut out = Vec::new();
                wire::headers(
                    &mut out,
                    u32::from(stream % 16) * 2 + 1,
                    &[("grpc-status", &code), ("grpc-message", "fuzz%20")],
                    true,
                );
                deliver(&mut conn, now, &out);
            }
            Op::Reset { stream, code } => {
                let mut out = Vec::new();
                wire::frame(
                    &mut out,
                    wire::RST_STREAM,
                    0,
                    u32::from(stream % 16) * 2 + 1,
                    &u32::from(code % 14).to_be_bytes(),
                );
                deliver(&mut conn, now, &out);
            }
            Op::GoAway { last, code } => {
                let mut payload = (u32::from(last) * 2 + 1).to_be_bytes().to_vec();
                payload.extend_from_slice(&u32::from(code % 14).to_be_bytes());
                payload.extend_from_slice(b"too_many_pings");
                let mut out = Vec::new();
                wire::frame(&mut out, wire::GOAWAY, 0, 0, &payload);
                deliver(&mut conn, now, &out);
            }
            Op::Advance(ms) => {
                now += Duration::from_millis(u64::from(ms));
                conn.timeout(now);
            }
            Op::Transmit(max) => {
                let max = usize::from(max).min(buf.len());
                let _ = conn.transmit(now, &mut buf[..max]);
            }
            Op::Eof => conn.eof(now),
        }
        conn.run(now);
        for _ in 0..100_000 {
            let Some(event) = conn.poll_event() else {
                break;
            };
            assert!(!closed_seen, "an event after Closed: {event:?}");
            match event {
                ClientEvent::Finished { call, .. } => {
                    assert!(finished.insert(call), "{call:?} finished twice");
                }
                ClientEvent::Closed { error } => {
                    closed_seen = true;
                    closed_error = Some(format!("{error:?}"));
                }
                _ => {}
            }
        }
        let per_call = WINDOW as usize + MAX_MESSAGE + 5 + SEND_BUFFER + MAX_REQUEST + 5;
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
    for _ in 0..10_000 {
        if conn.transmit(now, &mut buf) == 0 {
            break;
        }
    }
});
