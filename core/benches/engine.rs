//! The engine alone: unary calls through a client and a server wired in
//! memory (no runtime, no sockets), one at a time and 32 in flight, with the
//! allocations per call counted by a counting global allocator.
//!
//! `cargo bench -p ferrule-core --bench engine` (add `-- --quick` for a
//! short run). The figures are the floor later optimisations start from.

use std::alloc::System;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ferrule_core::Status;
use ferrule_core::codec::metadata::MetadataMap;
use ferrule_core::proto::{
    CallId, CallOptions, ClientConfig, ClientConnection, ClientEvent, RecvError, ServerConfig,
    ServerConnection, ServerEvent,
};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const PATH: &str = "/bench.Bench/Unary";

struct Bench {
    client: ClientConnection,
    server: ServerConnection,
    now: Instant,
    buf: Vec<u8>,
    request: Bytes,
    reply: Bytes,
    trailers: MetadataMap,
    done: usize,
}

impl Bench {
    fn new() -> Bench {
        let now = Instant::now();
        let mut bench = Bench {
            client: ClientConnection::new(ClientConfig::default(), now),
            server: ServerConnection::new(ServerConfig::default(), now),
            now,
            buf: vec![0; 64 * 1024],
            request: Bytes::from(vec![1u8; 100]),
            reply: Bytes::from(vec![2u8; 100]),
            trailers: MetadataMap::new(),
            done: 0,
        };
        bench.pump();
        bench
    }

    /// Moves bytes both ways until quiet, playing the server application and
    /// the client application on the way.
    fn pump(&mut self) {
        loop {
            let mut moved = false;
            loop {
                let n = self.client.poll_transmit(self.now, &mut self.buf);
                if n == 0 {
                    break;
                }
                self.server.handle_input(self.now, &self.buf[..n]);
                moved = true;
            }
            loop {
                let n = self.server.poll_transmit(self.now, &mut self.buf);
                if n == 0 {
                    break;
                }
                self.client.handle_input(self.now, &self.buf[..n]);
                moved = true;
            }
            self.serve();
            self.consume();
            if !moved {
                return;
            }
        }
    }

    /// The server application: echo-like unary handler.
    fn serve(&mut self) {
        while let Some(event) = self.server.poll_event() {
            match event {
                ServerEvent::NewCall { call, .. } | ServerEvent::Readable { call } => {
                    self.serve_call(call);
                }
                _ => {}
            }
        }
    }

    fn serve_call(&mut self, call: CallId) {
        loop {
            match self.server.recv_message(call) {
                Ok(Some(_request)) => {}
                Ok(None) => {
                    let _ = self.server.send_message(call, self.reply.clone());
                    let _ = self.server.finish(call, Status::ok(), &self.trailers);
                    return;
                }
                // Closed: a `Readable` queued before this handler finished
                // the call.
                Err(RecvError::Blocked | RecvError::Closed) => return,
                Err(err) => panic!("{err}"),
            }
        }
    }

    /// The client application: takes the reply and the status.
    fn consume(&mut self) {
        while let Some(event) = self.client.poll_event() {
            if let ClientEvent::Finished { call, status, .. } = event {
                assert!(status.is_ok(), "{status}");
                while let Ok(Some(_reply)) = self.client.recv_message(call) {}
                self.done += 1;
            }
        }
    }

    fn start(&mut self) {
        let call = self
            .client
            .start_call(self.now, PATH, CallOptions::new())
            .expect("start");
        self.client
            .send_message(call, self.request.clone())
            .expect("send");
        self.client.close_send(call).expect("close");
    }

    /// Runs `calls` unary calls with `in_flight` outstanding at a time.
    fn run(&mut self, calls: usize, in_flight: usize) {
        let target = self.done + calls;
        let mut started = self.done;
        while self.done < target {
            while started < target && started - self.done < in_flight {
                self.start();
                started += 1;
            }
            self.pump();
        }
    }
}

fn measure(label: &str, calls: usize, in_flight: usize) {
    let mut bench = Bench::new();
    bench.run(1000, in_flight); // warm-up: buffers and tables reach their size
    let region = Region::new(GLOBAL);
    let start = Instant::now();
    bench.run(calls, in_flight);
    let elapsed = start.elapsed();
    let stats = region.change();
    let per_call = |n: usize| n as f64 / calls as f64;
    println!(
        "{label:<28} {calls:>7} calls in {:>7.1} ms: {:>9.0} calls/s, {:>6.2} µs/call, {:>6.1} allocs/call ({:>7.0} bytes/call), {:>5.1} reallocs/call",
        elapsed.as_secs_f64() * 1000.0,
        calls as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1e6 / calls as f64,
        per_call(stats.allocations),
        per_call(stats.bytes_allocated),
        per_call(stats.reallocations),
    );
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let calls = if quick { 5_000 } else { 50_000 };
    // Print a header so the output reads on its own.
    println!("ferrule-core engine benchmark (client + server in memory, 100-byte messages)");
    let start = Instant::now();
    measure("unary, 1 in flight", calls, 1);
    measure("unary, 32 in flight", calls, 32);
    if start.elapsed() > Duration::from_secs(600) {
        eprintln!("(slow machine: consider --quick)");
    }
}
