//! Checks that a benchmark server binary keeps the harness contract (see
//! `bench/README.md`, "Plugging in ferrule"): the ready line, correct answers to every
//! benchmark method (unary, server streaming, bidi, empty and large messages, many
//! streams at once), an allocation-free `stats` channel whose counters move with
//! traffic, and a clean exit with a last `stats` line when stdin closes.
//!
//! Each server crate runs it from its tests against its own binary.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

use bench_harness::report::ServerStats;
use tokio::task::JoinSet;

use crate::calls::Plan;

/// Runs every check against `program`, which must announce itself as `implementation`.
pub fn check_server(program: &Path, implementation: &str) -> Result<(), String> {
    let mut server = Spawned::start(program)?;
    let result = check_running(&mut server, implementation);
    if result.is_err() {
        let _ = server.child.kill();
        let _ = server.child.wait();
    }
    result
}

fn check_running(server: &mut Spawned, implementation: &str) -> Result<(), String> {
    let ready = server.line("the ready line", |l| {
        l.starts_with("ready ").then(|| l.to_owned())
    })?;
    let mut words = ready.split_whitespace().skip(1);
    let (Some(name), Some(addr)) = (words.next(), words.next()) else {
        return Err(format!("malformed ready line {ready:?}"));
    };
    if name != implementation {
        return Err(format!(
            "ready line names {name:?}, expected {implementation:?}"
        ));
    }
    let addr: std::net::SocketAddr = addr
        .parse()
        .map_err(|e| format!("ready line address {addr:?}: {e}"))?;

    // A server may still be settling right after its ready line; at rest, answering
    // `stats` must not allocate, so two answers in a row must agree before long.
    let mut first = server.stats()?;
    let mut settled = false;
    for _ in 0..20 {
        let again = server.stats()?;
        if (again.allocs, again.deallocs) == (first.allocs, first.deallocs) {
            settled = true;
            break;
        }
        first = again;
        std::thread::sleep(Duration::from_millis(50));
    }
    if !settled {
        return Err(format!(
            "allocations counted at rest or while answering stats: {first:?}"
        ));
    }
    if first.rss_kb == 0 || first.hwm_kb < first.rss_kb {
        return Err(format!("implausible memory figures in {first:?}"));
    }

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))?;
    runtime.block_on(exercise(addr))?;

    let after = server.stats()?;
    if after.allocs <= first.allocs {
        return Err(format!(
            "no allocations counted while serving: {first:?} then {after:?}"
        ));
    }

    server.stdin = None;
    server.line(
        "a last stats line after stdin closed",
        ServerStats::from_line,
    )?;
    for _ in 0..100 {
        if let Some(status) = server.child.try_wait().map_err(|e| e.to_string())? {
            return if status.success() {
                Ok(())
            } else {
                Err(format!("exited with {status}"))
            };
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err("still running 5 s after stdin closed".into())
}

/// Every call kind, odd sizes included, twice each, then many streams at once.
async fn exercise(addr: std::net::SocketAddr) -> Result<(), String> {
    let authority = addr.to_string();
    let plans = [
        Plan::unary(&authority, 10),
        Plan::unary(&authority, 0),
        Plan::unary(&authority, 65_536),
        Plan::server_stream(&authority, 1024, 100),
        Plan::server_stream(&authority, 0, 3),
        Plan::server_stream(&authority, 100_000, 2),
        Plan::bidi(&authority, 1 << 20, 3),
        Plan::bidi(&authority, 10, 50),
    ];
    let (mut sender, _) = crate::connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    for plan in plans {
        let plan = plan.map_err(|e| format!("plan: {e}"))?;
        for attempt in 1..=2 {
            plan.call(&mut sender)
                .await
                .map_err(|e| format!("{plan:?}, call {attempt}: {e}"))?;
        }
    }
    let plan = Plan::unary(&authority, 10).map_err(|e| format!("plan: {e}"))?;
    let mut calls = JoinSet::new();
    for _ in 0..64 {
        let (plan, mut sender) = (plan.clone(), sender.clone());
        calls.spawn(async move {
            plan.call(&mut sender)
                .await
                .map_err(|e| format!("concurrent call: {e}"))
        });
    }
    while let Some(joined) = calls.join_next().await {
        joined.map_err(|e| e.to_string())??;
    }
    Ok(())
}

struct Spawned {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
}

impl Spawned {
    fn start(program: &Path) -> Result<Spawned, String> {
        let mut child = Command::new(program)
            .args(["--port", "0"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("{}: {e}", program.display()))?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Spawned {
            child,
            stdin,
            lines,
        })
    }

    fn line<T>(
        &mut self,
        what: &str,
        mut pick: impl FnMut(&str) -> Option<T>,
    ) -> Result<T, String> {
        loop {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(30))
                .map_err(|_| format!("no {what} (stdout closed or silent for 30 s)"))?;
            if let Some(found) = pick(&line) {
                return Ok(found);
            }
        }
    }

    fn stats(&mut self) -> Result<ServerStats, String> {
        let stdin = self.stdin.as_mut().ok_or("stdin closed")?;
        writeln!(stdin, "stats")
            .and_then(|()| stdin.flush())
            .map_err(|e| format!("writing stats: {e}"))?;
        self.line("stats line", ServerStats::from_line)
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
