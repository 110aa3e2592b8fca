//! One measured run: a fresh server, one load generator, the server's numbers around
//! the measured phase.

use std::path::Path;
use std::time::{Duration, Instant};

use bench_harness::report::{LoadEvent, LoadReport, ServerStats};
use serde::Serialize;

use crate::process::{Server, TalkError, Talker, cpu_time, machine_busy_time};
use crate::scenarios::Scenario;

/// Where the server and the load generator run.
#[derive(Clone, Debug, Default)]
pub struct Pinning {
    /// taskset CPU list for servers.
    pub server: Option<String>,
    /// taskset CPU list for load generators.
    pub load: Option<String>,
}

/// Timing of a run.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    /// Warm-up seconds.
    pub warmup: f64,
    /// Measured seconds.
    pub duration: f64,
}

/// What one run measured.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RunResult {
    /// Implementation.
    pub implementation: String,
    /// Scenario name.
    pub scenario: String,
    /// Round, from 1.
    pub round: usize,
    /// The load generator's report (not for idle runs).
    pub report: Option<LoadReport>,
    /// Server allocations per completed call in the measured phase.
    pub allocs_per_call: Option<f64>,
    /// Server bytes allocated per completed call.
    pub alloc_bytes_per_call: Option<f64>,
    /// Server CPU use over the measured phase (1.0 = one core busy).
    pub server_cpu: Option<f64>,
    /// Load generator CPU use over the measured phase.
    pub load_cpu: Option<f64>,
    /// Server CPU time per completed call, microseconds: less sensitive than the rates
    /// to other work on the machine.
    pub server_cpu_us_per_call: Option<f64>,
    /// Cores used by every other process on the machine over the measured phase (other
    /// work competing with the benchmark).
    pub other_cpu: Option<f64>,
    /// The server's peak resident set, KiB.
    pub peak_rss_kb: u64,
    /// Idle runs: resident KiB the server gained per connection.
    pub kib_per_connection: Option<f64>,
    /// Why the run failed, if it did.
    pub error: Option<String>,
}

/// Runs `scenario` once against a fresh `server_bin`.
pub fn run(
    implementation: &str,
    server_bin: &Path,
    load_bin: &Path,
    scenario: &Scenario,
    round: usize,
    pinning: &Pinning,
    timing: Timing,
) -> RunResult {
    let mut result = RunResult {
        implementation: implementation.to_owned(),
        scenario: scenario.name.to_owned(),
        round,
        ..RunResult::default()
    };
    if let Err(e) = run_into(&mut result, server_bin, load_bin, scenario, pinning, timing) {
        result.error = Some(e.to_string());
    }
    result
}

fn run_into(
    result: &mut RunResult,
    server_bin: &Path,
    load_bin: &Path,
    scenario: &Scenario,
    pinning: &Pinning,
    timing: Timing,
) -> Result<(), TalkError> {
    let mut server = Server::start(
        &result.implementation,
        server_bin,
        pinning.server.as_deref(),
    )?;
    let baseline = server.stats()?;
    let mut args = scenario.load_args.clone();
    args.extend(
        [
            "--addr",
            &server.addr,
            "--json",
            "--sync",
            "--warmup",
            &timing.warmup.to_string(),
            "--duration",
            &timing.duration.to_string(),
        ]
        .map(str::to_owned),
    );
    let mut load = Talker::spawn("bench-load", load_bin, &args, pinning.load.as_deref())?;
    let event = |line: &str| serde_json::from_str::<LoadEvent>(line).ok();

    if let Some(connections) = scenario.idle_connections {
        load.expect("idle_ready", Duration::from_secs(120), |l| {
            event(l).filter(|e| matches!(e, LoadEvent::IdleReady { .. }))
        })?;
        let holding = server.stats()?;
        load.finish(Duration::from_secs(10));
        let last = server.stop()?;
        result.peak_rss_kb = last.hwm_kb;
        let gained = holding.rss_kb.saturating_sub(baseline.rss_kb) as f64;
        result.kib_per_connection = Some(gained / connections.max(1) as f64);
        return Ok(());
    }

    let warm_limit = Duration::from_secs_f64(timing.warmup + 60.0);
    load.expect("warm event", warm_limit, |l| {
        event(l).filter(|e| *e == LoadEvent::Warm)
    })?;
    let before = Snapshot::take(&mut server, &load)?;
    load.send("go")?;
    let measure_limit = Duration::from_secs_f64(timing.duration + 60.0);
    load.expect("measured event", measure_limit, |l| {
        event(l).filter(|e| *e == LoadEvent::Measured)
    })?;
    let after = Snapshot::take(&mut server, &load)?;
    load.send("report")?;
    let report = load.expect("report", Duration::from_secs(10), |l| match event(l) {
        Some(LoadEvent::Report(report)) => Some(report),
        _ => None,
    })?;
    load.finish(Duration::from_secs(10));
    let last = server.stop()?;

    let wall = after
        .at
        .duration_since(before.at)
        .as_secs_f64()
        .max(f64::MIN_POSITIVE);
    let calls = report.calls.max(1) as f64;
    result.allocs_per_call =
        Some(after.stats.allocs.saturating_sub(before.stats.allocs) as f64 / calls);
    result.alloc_bytes_per_call = Some(
        after
            .stats
            .bytes_allocated
            .saturating_sub(before.stats.bytes_allocated) as f64
            / calls,
    );
    result.server_cpu = cpu_share(before.server_cpu, after.server_cpu, wall);
    result.load_cpu = cpu_share(before.load_cpu, after.load_cpu, wall);
    result.server_cpu_us_per_call = result.server_cpu.map(|share| share * wall * 1e6 / calls);
    if let (Some(machine), Some(server), Some(load)) = (
        cpu_share(before.machine_busy, after.machine_busy, wall),
        result.server_cpu,
        result.load_cpu,
    ) {
        result.other_cpu = Some((machine - server - load).max(0.0));
    }
    result.peak_rss_kb = last.hwm_kb;
    if report.errors > 0 {
        result.error = Some(format!(
            "{} failed calls: {}",
            report.errors,
            report.error_samples.join("; ")
        ));
    }
    result.report = Some(report);
    Ok(())
}

fn cpu_share(before: Option<Duration>, after: Option<Duration>, wall: f64) -> Option<f64> {
    Some(after?.saturating_sub(before?).as_secs_f64() / wall)
}

struct Snapshot {
    stats: ServerStats,
    server_cpu: Option<Duration>,
    load_cpu: Option<Duration>,
    machine_busy: Option<Duration>,
    at: Instant,
}

impl Snapshot {
    fn take(server: &mut Server, load: &Talker) -> Result<Snapshot, TalkError> {
        let at = Instant::now();
        let server_cpu = cpu_time(server.pid());
        let load_cpu = cpu_time(load.pid());
        let machine_busy = machine_busy_time();
        let stats = server.stats()?;
        Ok(Snapshot {
            stats,
            server_cpu,
            load_cpu,
            machine_busy,
            at,
        })
    }
}
