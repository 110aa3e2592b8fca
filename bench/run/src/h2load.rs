//! nghttp2's h2load as a second, independent load generator for the unary scenarios.
//!
//! It checks only the HTTP status, not `grpc-status` or the message, so its numbers
//! complement `bench-load`'s rather than replace them.

use std::path::{Path, PathBuf};
use std::process::Command;

use bench_harness::wire;
use serde::Serialize;

use crate::measure::{Pinning, Timing};
use crate::process::Server;
use crate::scenarios::H2load;

/// What one h2load run reported.
#[derive(Clone, Debug, Default, Serialize)]
pub struct H2loadResult {
    /// Implementation.
    pub implementation: String,
    /// Scenario name.
    pub scenario: String,
    /// Round, from 1.
    pub round: usize,
    /// Requests per second over the main duration.
    pub requests_per_s: f64,
    /// Mean request time, microseconds.
    pub mean_us: f64,
    /// Requests with a 2xx answer.
    pub succeeded: u64,
    /// Requests that failed.
    pub failed: u64,
    /// Why the run failed, if it did.
    pub error: Option<String>,
}

/// The h2load binary, if it is on `PATH`.
pub fn find() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("h2load"))
        .find(|p| p.is_file())
}

/// Writes the framed `HelloRequest` body h2load sends with `-d`.
pub fn write_body(dir: &Path, request_size: usize) -> std::io::Result<PathBuf> {
    let path = dir.join(format!("bench-hello-{request_size}.grpc"));
    std::fs::write(&path, wire::frame(&wire::hello_request(request_size)))?;
    Ok(path)
}

/// Runs h2load once against a fresh server.
#[allow(clippy::too_many_arguments)]
pub fn run(
    h2load: &Path,
    body: &Path,
    implementation: &str,
    server_bin: &Path,
    scenario: &str,
    settings: H2load,
    round: usize,
    pinning: &Pinning,
    timing: Timing,
) -> H2loadResult {
    let mut result = H2loadResult {
        implementation: implementation.to_owned(),
        scenario: scenario.to_owned(),
        round,
        ..H2loadResult::default()
    };
    let server = match Server::start(implementation, server_bin, pinning.server.as_deref()) {
        Ok(server) => server,
        Err(e) => {
            result.error = Some(e.to_string());
            return result;
        }
    };
    let mut command = match &pinning.load {
        Some(cpus) => {
            let mut c = Command::new("taskset");
            c.arg("-c").arg(cpus).arg(h2load);
            c
        }
        None => Command::new(h2load),
    };
    command
        .arg("-c")
        .arg(settings.connections.to_string())
        .arg("-m")
        .arg(settings.streams.to_string())
        .arg("-D")
        .arg(format!("{}", timing.duration.ceil().max(1.0) as u64))
        .arg(format!(
            "--warm-up-time={}",
            timing.warmup.ceil().max(1.0) as u64
        ))
        .arg("-d")
        .arg(body)
        .arg("-H")
        .arg("content-type: application/grpc")
        .arg("-H")
        .arg("te: trailers")
        .arg(format!("http://{}{}", server.addr, wire::SAY_HELLO));
    match command.output() {
        Ok(output) => {
            let text = String::from_utf8_lossy(&output.stdout);
            if let Err(e) = parse_output(&text, &mut result) {
                result.error = Some(format!(
                    "{e}; h2load said: {}",
                    String::from_utf8_lossy(&output.stderr).trim()
                ));
            }
        }
        Err(e) => result.error = Some(format!("h2load: {e}")),
    }
    let _ = server.stop();
    result
}

/// Picks the rate, the counts and the mean request time out of h2load's summary.
fn parse_output(text: &str, result: &mut H2loadResult) -> Result<(), String> {
    let mut found_rate = false;
    for line in text.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("finished in ") {
            // "finished in 3.00s, 50080.00 req/s, 2.48MB/s"
            let rate = rest
                .split(", ")
                .nth(1)
                .and_then(|r| r.strip_suffix(" req/s"));
            result.requests_per_s = rate.and_then(|r| r.parse().ok()).ok_or("unreadable rate")?;
            found_rate = true;
        } else if let Some(rest) = line.strip_prefix("requests: ") {
            // "requests: 100160 total, 100160 started, 100160 done, 100160 succeeded, 0 failed, ..."
            for part in rest.split(", ") {
                let mut words = part.split_whitespace();
                let (Some(n), Some(what)) = (words.next(), words.next()) else {
                    continue;
                };
                let n: u64 = n.parse().unwrap_or(0);
                match what {
                    "succeeded" => result.succeeded = n,
                    "failed" => result.failed = n,
                    _ => {}
                }
            }
        } else if let Some(rest) = line.strip_prefix("time for request:") {
            // "time for request:  1.03ms  9.83ms  4.96ms  1.40ms  76.47%": min max mean sd
            result.mean_us = rest
                .split_whitespace()
                .nth(2)
                .and_then(parse_time_us)
                .ok_or("unreadable mean")?;
        }
    }
    if found_rate {
        Ok(())
    } else {
        Err("no summary in h2load's output".into())
    }
}

fn parse_time_us(text: &str) -> Option<f64> {
    let (number, scale) = if let Some(n) = text.strip_suffix("us") {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix("ms") {
        (n, 1e3)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1e6)
    } else {
        return None;
    };
    Some(number.parse::<f64>().ok()? * scale)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const OUTPUT: &str = "\
finished in 3.00s, 50080.00 req/s, 2.48MB/s
requests: 100160 total, 100160 started, 100160 done, 100157 succeeded, 3 failed, 0 errored, 0 timeout
status codes: 100160 2xx, 0 3xx, 0 4xx, 0 5xx
                     min         max         mean         sd        +/- sd
time for request:     1.03ms      9.83ms      4.96ms      1.40ms    76.47%
time for connect:        0us         0us         0us         0us     0.00%
";

    #[test]
    fn parses_the_summary() {
        let mut r = H2loadResult::default();
        parse_output(OUTPUT, &mut r).unwrap();
        assert_eq!(r.requests_per_s, 50080.0);
        assert_eq!((r.succeeded, r.failed), (100157, 3));
        assert!((r.mean_us - 4960.0).abs() < 1e-6);
    }

    #[test]
    fn rejects_output_without_a_summary() {
        let mut r = H2loadResult::default();
        assert!(parse_output("connect failed\n", &mut r).is_err());
        assert!(parse_output("finished in 3.00s, lots req/s, 2.48MB/s\n", &mut r).is_err());
    }

    #[test]
    fn time_units() {
        assert_eq!(parse_time_us("250us"), Some(250.0));
        assert_eq!(parse_time_us("1.5ms"), Some(1500.0));
        assert_eq!(parse_time_us("2.00s"), Some(2e6));
        assert_eq!(parse_time_us("2.00"), None);
    }
}
