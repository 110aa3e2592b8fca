//! `bench-run`: the one command behind `bench/run.sh`.
//!
//! For every scenario and round it starts each implementation's server fresh, drives it
//! with `bench-load` (and, for the unary scenarios, with h2load when it is installed),
//! and collects the server's allocations, CPU time and peak RSS around the measured
//! phase. Implementations take turns within a round, and each round starts one later
//! in the list (A B, B A, ...), so drift on the machine spreads over all of them.
//! Servers and load generators are pinned to different cores with taskset where the
//! machine has two. The medians over rounds go into one markdown table on stdout;
//! progress goes to stderr.

mod h2load;
mod measure;
mod process;
mod scenarios;
mod table;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;

use measure::{Pinning, RunResult, Timing};
use process::Server;
use scenarios::{Headline, Scenario};

/// Implementations known to the runner, in table order; each is `bench-server-<name>`.
const IMPLEMENTATIONS: &[&str] = &["ferrule-tokio", "ferrule-smol", "tonic", "h2", "h2-work"];

/// The ceiling with per-message work (`bench-server-h2-work`): it differs from the
/// ceiling only in how streamed responses are made, so it runs in streaming
/// scenarios only.
const STREAMING_ONLY: &str = "h2-work";

/// Whether `implementation` has anything to show in `scenario`.
fn runs_in(implementation: &str, scenario: &Scenario) -> bool {
    implementation != STREAMING_ONLY || scenario.headline == Headline::MbPerS
}

/// Runs the ferrule benchmarks and prints one table.
#[derive(Debug, Parser)]
#[command(name = "bench-run")]
struct Args {
    /// Rounds per scenario (medians are taken over them).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Warm-up seconds per run.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Measured seconds per run.
    #[arg(long, default_value_t = 3.0)]
    duration: f64,
    /// Connections held in the idle scenario.
    #[arg(long, default_value_t = 1000)]
    idle_connections: usize,
    /// A smoke run: 1 round, 0.2 s warm-up, 0.5 s runs, 100 idle connections.
    #[arg(long)]
    quick: bool,
    /// Comma-separated implementations (default: all that start).
    #[arg(long, value_delimiter = ',')]
    impls: Vec<String>,
    /// Only scenarios whose name contains one of these comma-separated words.
    #[arg(long, value_delimiter = ',')]
    scenarios: Vec<String>,
    /// Where the bench binaries are (default: beside this one).
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// taskset CPU list for the servers.
    #[arg(long)]
    server_cpus: Option<String>,
    /// taskset CPU list for the load generators.
    #[arg(long)]
    load_cpus: Option<String>,
    /// Do not pin.
    #[arg(long)]
    no_pin: bool,
    /// Skip h2load even if it is installed.
    #[arg(long)]
    no_h2load: bool,
    /// Also write every run's raw numbers here, as JSON.
    #[arg(long)]
    json_out: Option<PathBuf>,
}

fn main() -> ExitCode {
    let mut args = Args::parse();
    if args.quick {
        args.rounds = 1;
        args.warmup = 0.2;
        args.duration = 0.5;
        args.idle_connections = args.idle_connections.min(100);
    }
    match run(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("bench-run: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let bin_dir = match &args.bin_dir {
        Some(dir) => dir.clone(),
        None => std::env::current_exe()?
            .parent()
            .ok_or("no directory for this binary")?
            .to_path_buf(),
    };
    let load_bin = bin_dir.join("bench-load");
    if !load_bin.is_file() {
        return Err(format!(
            "{} not found: build the bench workspace first (bench/run.sh does)",
            load_bin.display()
        )
        .into());
    }
    let pinning = pinning(args);
    let timing = Timing {
        warmup: args.warmup,
        duration: args.duration,
    };

    let wanted: Vec<String> = if args.impls.is_empty() {
        IMPLEMENTATIONS.iter().map(|s| (*s).to_owned()).collect()
    } else {
        args.impls.clone()
    };
    let mut implementations = Vec::new();
    let mut notes = Vec::new();
    for implementation in wanted {
        let bin = server_bin(&bin_dir, &implementation);
        match probe(&implementation, &bin, &pinning) {
            Ok(()) => implementations.push(implementation),
            Err(why) => {
                eprintln!("{implementation}: not run: {why}");
                notes.push(format!("{implementation}: not run: {why}"));
            }
        }
    }
    if implementations.is_empty() {
        return Err("no implementation could be started".into());
    }

    let scenarios: Vec<_> = scenarios::all(args.idle_connections)
        .into_iter()
        .filter(|s| {
            args.scenarios.is_empty() || args.scenarios.iter().any(|w| s.name.contains(w.as_str()))
        })
        .collect();
    let h2load = if args.no_h2load { None } else { h2load::find() };
    if h2load.is_none() && !args.no_h2load {
        notes.push(
            "h2load: not installed (apt-get install nghttp2-client), second generator skipped"
                .into(),
        );
    }

    let mut results: Vec<RunResult> = Vec::new();
    let mut h2load_results = Vec::new();
    for scenario in &scenarios {
        let here: Vec<String> = implementations
            .iter()
            .filter(|i| runs_in(i, scenario))
            .cloned()
            .collect();
        for round in 1..=args.rounds {
            for implementation in rotated(&here, round - 1) {
                let bin = server_bin(&bin_dir, implementation);
                let result = measure::run(
                    implementation,
                    &bin,
                    &load_bin,
                    scenario,
                    round,
                    &pinning,
                    timing,
                );
                eprintln!("{}", progress_line(&result, args.rounds));
                results.push(result);
            }
        }
        if let (Some(h2load), Some(settings)) = (&h2load, scenario.h2load) {
            let body = h2load::write_body(&std::env::temp_dir(), settings.request_size)?;
            for round in 1..=args.rounds {
                for implementation in rotated(&here, round - 1) {
                    let bin = server_bin(&bin_dir, implementation);
                    let result = h2load::run(
                        h2load,
                        &body,
                        implementation,
                        &bin,
                        scenario.name,
                        settings,
                        round,
                        &pinning,
                        timing,
                    );
                    eprintln!(
                        "[h2load {round}/{}] {} / {}: {:.0} req/s, mean {:.0} us, {} failed{}",
                        args.rounds,
                        scenario.name,
                        implementation,
                        result.requests_per_s,
                        result.mean_us,
                        result.failed,
                        result
                            .error
                            .as_deref()
                            .map(|e| format!(" ERROR {e}"))
                            .unwrap_or_default()
                    );
                    h2load_results.push(result);
                }
            }
        }
    }

    if let Some(path) = &args.json_out {
        let json = serde_json::json!({ "runs": results, "h2load": h2load_results });
        std::fs::write(path, serde_json::to_string_pretty(&json)?)?;
    }

    println!("{}", header(args, &pinning));
    println!(
        "{}",
        table::main_table(&scenarios, &implementations, &results)
    );
    println!(
        "Medians over {} round(s). Ratios compare calls/s (unary), MB/s (streaming: response payload), \
         KiB/conn (idle: server RSS gained per connection, lower is better). allocs/call: server \
         allocations in the measured phase / calls. CPU: share of one core over the measured phase; \
         server CPU µs/call: server CPU time / calls, the figure least disturbed by other load.",
        args.rounds
    );
    if implementations.iter().any(|i| i == "tonic") && args.rounds > 1 {
        println!(
            "\nRound by round (each ratio from runs made back to back in one round; min-max and median over rounds):\n"
        );
        println!(
            "{}",
            table::round_table(&scenarios, &implementations, &results)
        );
    }
    let other: Vec<f64> = results.iter().filter_map(|r| r.other_cpu).collect();
    let busiest = other.iter().copied().fold(0.0, f64::max);
    if let Some(typical) = table::median(other) {
        println!(
            "\nOther processes used {typical:.2} cores (median; at most {busiest:.2}) during the measured phases."
        );
        if typical > 0.25 {
            println!(
                "WARNING: the machine was busy with other work: neither server nor load generator had a \
                 core to itself, so absolute numbers and ratios are contention-limited. Rerun on a quiet machine."
            );
        }
    }
    if !h2load_results.is_empty() {
        println!("\nh2load (independent generator; checks HTTP status only):\n");
        println!(
            "{}",
            table::h2load_table(&scenarios, &implementations, &h2load_results)
        );
    }
    for note in &notes {
        println!("- {note}");
    }
    let failures: Vec<&RunResult> = results.iter().filter(|r| r.error.is_some()).collect();
    for failure in &failures {
        println!(
            "- failed: {} / {} round {}: {}",
            failure.scenario,
            failure.implementation,
            failure.round,
            failure.error.as_deref().unwrap_or_default()
        );
    }
    Ok(if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(3)
    })
}

fn server_bin(bin_dir: &Path, implementation: &str) -> PathBuf {
    bin_dir.join(format!("bench-server-{implementation}"))
}

/// Starts and stops a server once to see whether it is there and works.
fn probe(implementation: &str, bin: &Path, pinning: &Pinning) -> Result<(), String> {
    if !bin.is_file() {
        return Err(format!("{} not built", bin.display()));
    }
    let server =
        Server::start(implementation, bin, pinning.server.as_deref()).map_err(|e| e.to_string())?;
    server.stop().map(drop).map_err(|e| e.to_string())
}

/// `items` starting at `by` (mod length): rounds take turns at going first.
fn rotated(items: &[String], by: usize) -> impl Iterator<Item = &String> {
    let n = items.len().max(1);
    items.iter().cycle().skip(by % n).take(items.len())
}

fn pinning(args: &Args) -> Pinning {
    if args.no_pin {
        return Pinning::default();
    }
    let has_taskset = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join("taskset").is_file()));
    let cpus = allowed_cpus();
    if !has_taskset || (cpus.len() < 2 && args.server_cpus.is_none()) {
        eprintln!("bench-run: not pinning (taskset missing or fewer than 2 CPUs)");
        return Pinning::default();
    }
    let first = |i: usize| cpus.get(i).map(u32::to_string);
    Pinning {
        server: args.server_cpus.clone().or_else(|| first(0)),
        load: args.load_cpus.clone().or_else(|| first(1)),
    }
}

/// The CPUs this process may run on, from `Cpus_allowed_list` (e.g. `0-3,6`).
fn allowed_cpus() -> Vec<u32> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let list = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .unwrap_or("")
        .trim();
    parse_cpu_list(list)
}

fn parse_cpu_list(list: &str) -> Vec<u32> {
    let mut cpus = Vec::new();
    for part in list.split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.trim().parse::<u32>(), b.trim().parse::<u32>()) {
                    cpus.extend(a..=b);
                }
            }
            None => cpus.extend(part.trim().parse::<u32>().ok()),
        }
    }
    cpus
}

fn progress_line(r: &RunResult, rounds: usize) -> String {
    let mut line = format!(
        "[{}/{}] {} / {}:",
        r.round, rounds, r.scenario, r.implementation
    );
    if let Some(report) = &r.report {
        line += &format!(
            " {:.0} calls/s, {:.1} MB/s, p50 {:.0} us, p99 {:.0} us",
            report.calls_per_s, report.mb_per_s, report.latency_us.p50, report.latency_us.p99
        );
    }
    if let Some(a) = r.allocs_per_call {
        line += &format!(", {a:.1} allocs/call");
    }
    if let (Some(s), Some(l)) = (r.server_cpu, r.load_cpu) {
        line += &format!(", cpu server {:.0}% load {:.0}%", s * 100.0, l * 100.0);
    }
    if let Some(o) = r.other_cpu {
        line += &format!(" other {:.0}%", o * 100.0);
    }
    if let Some(k) = r.kib_per_connection {
        line += &format!(" {k:.1} KiB/conn");
    }
    line += &format!(", peak RSS {:.1} MiB", r.peak_rss_kb as f64 / 1024.0);
    if let Some(e) = &r.error {
        line += &format!(" ERROR {e}");
    }
    line
}

/// Date, machine and settings, for the README.
fn header(args: &Args, pinning: &Pinning) -> String {
    let date = command_output("date", &["-u", "+%Y-%m-%d %H:%M UTC"]);
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .and_then(|r| r.split_once(':'))
                .map(|(_, m)| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let rustc = command_output("rustc", &["--version"]);
    let tonic = locked_version("tonic").unwrap_or_else(|| "?".into());
    let pin = match (&pinning.server, &pinning.load) {
        (Some(s), Some(l)) => format!("servers on CPU {s}, load generator on CPU {l}"),
        _ => "not pinned".into(),
    };
    format!(
        "## Benchmark results\n\n{date}; {model}, {cores} cores; Linux {}; {rustc}; tonic {tonic}.\n\
         {} round(s), {} s warm-up + {} s measured per run; {pin}; every server single-threaded \
         (current-thread runtime).\n",
        kernel.trim(),
        args.rounds,
        args.warmup,
        args.duration
    )
}

fn command_output(program: &str, args: &[&str]) -> String {
    std::process::Command::new(program)
        .args(args)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| format!("({program} unavailable)"))
}

/// A package's version in the bench workspace's lock file.
fn locked_version(package: &str) -> Option<String> {
    let lock =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.lock")).ok()?;
    let needle = format!("name = \"{package}\"\nversion = \"");
    let start = lock.find(&needle)? + needle.len();
    let end = start + lock[start..].find('"')?;
    Some(lock[start..end].to_owned())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("0-1"), [0, 1]);
        assert_eq!(parse_cpu_list("0-2,5,7-8"), [0, 1, 2, 5, 7, 8]);
        assert_eq!(parse_cpu_list(""), Vec::<u32>::new());
        assert_eq!(parse_cpu_list("x,3"), [3]);
    }

    #[test]
    fn rotation_takes_turns() {
        let items: Vec<String> = ["a", "b", "c"].iter().map(|s| (*s).to_owned()).collect();
        let order = |by| rotated(&items, by).cloned().collect::<Vec<_>>().join("");
        assert_eq!(
            (order(0), order(1), order(2), order(3)),
            ("abc".into(), "bca".into(), "cab".into(), "abc".into())
        );
    }

    #[test]
    fn tonic_version_is_in_the_lock_file() {
        assert!(locked_version("tonic").unwrap().starts_with("0.14"));
    }
}
