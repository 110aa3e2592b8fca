//! `bench-load`: a load generator for any gRPC server that serves the benchmark protos
//! (`bench/proto/`), given by host:port.
//!
//! It speaks raw h2 with pre-encoded request bytes, so it depends on no gRPC
//! implementation and costs little per call, and it checks every response: HTTP status,
//! content-type, every message byte for byte, and `grpc-status: 0`.
//!
//! C connections (`--connections`) x S concurrent streams each (`--streams`) make calls
//! back to back, first for `--warmup` seconds (not measured), then for `--duration`
//! seconds or `--calls` calls. A phase ends when its last call in flight ends, so the
//! measured calls are exactly those started and finished inside it.
//! `--json` prints one JSON object per line ([`bench_harness::report::LoadEvent`]);
//! `--sync` waits for `go` on stdin after the warm-up and for `report` after the
//! measurement, so a runner can snapshot the server in between.
//! `--scenario idle` opens the connections, makes one call on each (unless
//! `--idle-no-call`), and holds them until stdin closes or `--hold` runs out.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bench_harness::report::{LoadEvent, LoadReport};
use bytes::Bytes;
use clap::{Parser, ValueEnum};
use h2::client::SendRequest;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::task::JoinSet;

use bench_load::calls::{CallError, Plan};
use bench_load::connect;
use bench_load::flood::{Flood, FloodFrame};
use bench_load::tally::Tally;

/// The kind of call a run makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Kind {
    /// `helloworld.Greeter/SayHello`, request message of `--request-size` bytes.
    Unary,
    /// `echo.Echo/ServerStream`: `--stream-messages` responses of `--response-size` bytes.
    ServerStream,
    /// `echo.Echo/BidiStream`: `--stream-messages` messages of `--response-size` bytes
    /// each way per call.
    Bidi,
    /// Open connections and hold them idle.
    Idle,
    /// One connection flooding control frames of `--flood-frame` (counted as
    /// "calls": the server's CPU per call is its CPU per frame).
    Flood,
}

/// The frame a flood sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum FloodKind {
    /// WINDOW_UPDATE on the connection, increment 1.
    WindowUpdate,
    /// PRIORITY on an idle stream.
    Priority,
    /// Empty SETTINGS (the server acknowledges each).
    Settings,
}

/// Load generator for gRPC servers serving the ferrule benchmark protos.
#[derive(Debug, Parser)]
#[command(name = "bench-load")]
struct Args {
    /// Server address, host:port.
    #[arg(long, default_value = "127.0.0.1:50051")]
    addr: String,
    /// What to call.
    #[arg(long, value_enum, default_value_t = Kind::Unary)]
    scenario: Kind,
    /// Label for the report (defaults to the scenario kind).
    #[arg(long)]
    label: Option<String>,
    /// TCP connections, each one HTTP/2 connection.
    #[arg(long, short = 'c', default_value_t = 1)]
    connections: usize,
    /// Concurrent streams (calls in flight) per connection.
    #[arg(long, short = 's', default_value_t = 1)]
    streams: usize,
    /// Unary: size of the `HelloRequest` message in bytes.
    #[arg(long, default_value_t = 10)]
    request_size: usize,
    /// Streaming: payload bytes per response (bidi: per request too).
    #[arg(long, default_value_t = 1024)]
    response_size: u32,
    /// Streaming: response messages per call (bidi: request messages too).
    #[arg(long, default_value_t = 100)]
    stream_messages: u32,
    /// Seconds of warm-up before measuring.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Seconds to measure (ignored with --calls).
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Measure this many calls instead of a duration.
    #[arg(long)]
    calls: Option<u64>,
    /// Give up on a call after this many seconds (counted as an error).
    #[arg(long, default_value_t = 30.0)]
    call_timeout: f64,
    /// Print JSON lines instead of a human summary.
    #[arg(long)]
    json: bool,
    /// Wait for `go` on stdin after the warm-up and `report` after measuring.
    #[arg(long)]
    sync: bool,
    /// Idle: seconds to hold the connections (default: until stdin closes).
    #[arg(long)]
    hold: Option<f64>,
    /// Idle: only handshake (and one PING round trip), no call.
    #[arg(long)]
    idle_no_call: bool,
    /// Runtime threads (1: single-threaded, the default; pin it with taskset).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Make one call, print the response's headers and trailers to stderr, and exit.
    #[arg(long)]
    show_response: bool,
    /// Flood: the frame to send.
    #[arg(long, value_enum, default_value_t = FloodKind::WindowUpdate)]
    flood_frame: FloodKind,
}

use bench_load::BoxError;

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match bench_harness::tokio_runtime(args.threads) {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("bench-load: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("bench-load: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<ExitCode, BoxError> {
    let addr = tokio::net::lookup_host(&args.addr)
        .await?
        .next()
        .ok_or_else(|| format!("{} resolves to no address", args.addr))?;
    if args.scenario == Kind::Flood {
        return flood(&args, addr).await;
    }
    let plan = match args.scenario {
        Kind::Unary | Kind::Idle | Kind::Flood => Plan::unary(&args.addr, args.request_size)?,
        Kind::ServerStream => {
            Plan::server_stream(&args.addr, args.response_size, args.stream_messages)?
        }
        Kind::Bidi => Plan::bidi(&args.addr, args.response_size, args.stream_messages)?,
    };
    if args.show_response {
        let (mut sender, _) = connect(addr).await?;
        plan.show(&mut sender).await?;
        return Ok(ExitCode::SUCCESS);
    }
    if args.scenario == Kind::Idle {
        return hold_idle(&args, addr, &plan).await;
    }
    let mut senders = Vec::with_capacity(args.connections);
    for _ in 0..args.connections {
        senders.push(connect(addr).await?.0);
    }
    let mut control = Control::new(&args);
    let plan = Arc::new(plan);
    let call_timeout = Duration::from_secs_f64(args.call_timeout);

    if args.warmup > 0.0 {
        let limit = Limit::Time(Duration::from_secs_f64(args.warmup));
        run_phase(&senders, args.streams, &plan, limit, call_timeout).await;
    }
    control.event(&LoadEvent::Warm);
    control.wait_for("go").await;

    let limit = match args.calls {
        Some(calls) => Limit::Calls(calls),
        None => Limit::Time(Duration::from_secs_f64(args.duration)),
    };
    let (tally, elapsed) = run_phase(&senders, args.streams, &plan, limit, call_timeout).await;
    control.event(&LoadEvent::Measured);
    control.wait_for("report").await;

    let label = args
        .label
        .clone()
        .unwrap_or_else(|| kind_name(args.scenario).to_owned());
    let report = tally.report(&label, args.connections, args.streams, elapsed);
    let failed = report.errors > 0 || report.calls == 0;
    if args.json {
        control.event(&LoadEvent::Report(report));
    } else {
        print_summary(&report);
    }
    Ok(if failed {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    })
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Unary => "unary",
        Kind::ServerStream => "server-stream",
        Kind::Bidi => "bidi",
        Kind::Idle => "idle",
        Kind::Flood => "flood",
    }
}

/// Flood mode: one connection, control frames as fast as the server takes
/// them; frames count as calls.
async fn flood(args: &Args, addr: SocketAddr) -> Result<ExitCode, BoxError> {
    let kind = match args.flood_frame {
        FloodKind::WindowUpdate => FloodFrame::WindowUpdate,
        FloodKind::Priority => FloodFrame::Priority,
        FloodKind::Settings => FloodFrame::Settings,
    };
    let mut flood = Flood::connect(addr, kind).await?;
    let mut control = Control::new(args);
    if args.warmup > 0.0 {
        flood.run(Duration::from_secs_f64(args.warmup)).await?;
    }
    control.event(&LoadEvent::Warm);
    control.wait_for("go").await;
    let (frames, elapsed) = flood.run(Duration::from_secs_f64(args.duration)).await?;
    control.event(&LoadEvent::Measured);
    control.wait_for("report").await;
    let report = LoadReport {
        scenario: args.label.clone().unwrap_or_else(|| "flood".to_owned()),
        connections: 1,
        streams: 0,
        duration_s: elapsed.as_secs_f64(),
        calls: frames,
        calls_per_s: frames as f64 / elapsed.as_secs_f64().max(f64::MIN_POSITIVE),
        ..LoadReport::default()
    };
    if args.json {
        control.event(&LoadEvent::Report(report));
    } else {
        println!(
            "{frames} frames in {:.2} s: {:.0} frames/s",
            elapsed.as_secs_f64(),
            frames as f64 / elapsed.as_secs_f64()
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Clone, Copy, Debug)]
enum Limit {
    Time(Duration),
    Calls(u64),
}

/// Runs `streams` workers per connection until `limit`, then waits for every call in
/// flight; returns the tally and the phase's length.
async fn run_phase(
    senders: &[SendRequest<Bytes>],
    streams: usize,
    plan: &Arc<Plan>,
    limit: Limit,
    call_timeout: Duration,
) -> (Tally, Duration) {
    let started = Instant::now();
    let tally = Arc::new(Mutex::new(Tally::new()));
    let (deadline, tickets) = match limit {
        Limit::Time(duration) => (Some(started + duration), None),
        Limit::Calls(calls) => (None, Some(Arc::new(AtomicU64::new(calls)))),
    };
    let mut workers = JoinSet::new();
    for sender in senders {
        for _ in 0..streams {
            let mut sender = sender.clone();
            let plan = Arc::clone(plan);
            let tally = Arc::clone(&tally);
            let tickets = tickets.clone();
            workers.spawn(async move {
                loop {
                    let may_start = match (&tickets, deadline) {
                        (Some(t), _) => t
                            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                                n.checked_sub(1)
                            })
                            .is_ok(),
                        (None, Some(deadline)) => Instant::now() < deadline,
                        (None, None) => false,
                    };
                    if !may_start {
                        break;
                    }
                    let call_started = Instant::now();
                    let result = tokio::time::timeout(call_timeout, plan.call(&mut sender)).await;
                    let took = call_started.elapsed();
                    let mut tally = tally.lock().unwrap_or_else(PoisonError::into_inner);
                    match result {
                        Ok(Ok(outcome)) => tally.record_success(outcome, took),
                        Ok(Err(error)) => {
                            tally.record_error(&error);
                            // A dead connection fails every call at once: stop using it.
                            if matches!(&error, CallError::Http2(e) if !e.is_reset()) {
                                break;
                            }
                        }
                        Err(_) => tally.record_error(&CallError::Invalid(format!(
                            "no answer within {call_timeout:?}"
                        ))),
                    }
                }
            });
        }
    }
    while workers.join_next().await.is_some() {}
    let elapsed = started.elapsed();
    let tally = std::mem::replace(
        &mut *tally.lock().unwrap_or_else(PoisonError::into_inner),
        Tally::new(),
    );
    (tally, elapsed)
}

/// Idle mode: open the connections, prove each works, hold them.
async fn hold_idle(args: &Args, addr: SocketAddr, plan: &Plan) -> Result<ExitCode, BoxError> {
    let mut held = Vec::with_capacity(args.connections);
    // A few dozen handshakes at a time stay well inside the server's accept backlog.
    for batch_start in (0..args.connections).step_by(50) {
        let batch = (args.connections - batch_start).min(50);
        let mut handshakes = JoinSet::new();
        for _ in 0..batch {
            handshakes.spawn(async move {
                let (sender, ping_pong) = connect(addr).await?;
                if let Some(mut ping_pong) = ping_pong {
                    ping_pong.ping(h2::Ping::opaque()).await?;
                }
                Ok::<_, BoxError>(sender)
            });
        }
        while let Some(joined) = handshakes.join_next().await {
            held.push(joined??);
        }
    }
    if !args.idle_no_call {
        for sender in &mut held {
            plan.call(sender).await?;
        }
    }
    let mut control = Control::new(args);
    if args.json {
        control.event(&LoadEvent::IdleReady {
            connections: held.len(),
        });
    } else {
        println!("holding {} idle connections to {addr}", held.len());
    }
    match args.hold {
        Some(secs) => tokio::time::sleep(Duration::from_secs_f64(secs)).await,
        None => control.wait_for_eof().await,
    }
    drop(held);
    Ok(ExitCode::SUCCESS)
}

/// The runner's side of the conversation: JSON events out, commands in.
struct Control {
    json: bool,
    sync: bool,
    stdin: tokio::io::Lines<BufReader<tokio::io::Stdin>>,
}

impl Control {
    fn new(args: &Args) -> Self {
        Control {
            json: args.json,
            sync: args.sync,
            stdin: BufReader::new(tokio::io::stdin()).lines(),
        }
    }

    fn event(&mut self, event: &LoadEvent) {
        if self.json {
            match serde_json::to_string(event) {
                Ok(line) => println!("{line}"),
                Err(e) => eprintln!("bench-load: cannot encode {event:?}: {e}"),
            }
        }
    }

    /// With `--sync`, waits for the line `word` (or the end of stdin).
    async fn wait_for(&mut self, word: &str) {
        if !self.sync {
            return;
        }
        while let Ok(Some(line)) = self.stdin.next_line().await {
            if line.trim() == word {
                return;
            }
        }
    }

    async fn wait_for_eof(&mut self) {
        while let Ok(Some(_)) = self.stdin.next_line().await {}
    }
}

fn print_summary(r: &LoadReport) {
    let l = &r.latency_us;
    println!(
        "{} {}x{} {:.2}s: {} calls, {} errors, {:.0} calls/s, {:.0} msgs/s, {:.2} MB/s\n\
         latency us: mean {:.1} p50 {:.1} p90 {:.1} p99 {:.1} p99.9 {:.1} max {:.1}",
        r.scenario,
        r.connections,
        r.streams,
        r.duration_s,
        r.calls,
        r.errors,
        r.calls_per_s,
        r.messages_per_s,
        r.mb_per_s,
        l.mean,
        l.p50,
        l.p90,
        l.p99,
        l.p999,
        l.max
    );
    for sample in &r.error_samples {
        println!("error: {sample}");
    }
}
