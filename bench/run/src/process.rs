//! Child processes the runner talks to line by line: servers and load generators.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bench_harness::report::ServerStats;

/// A child whose stdout arrives as lines and whose stdin takes commands.
pub struct Talker {
    /// Short name for messages.
    pub name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    stderr: Arc<Mutex<String>>,
}

/// Why talking to a child failed.
#[derive(Debug)]
pub enum TalkError {
    /// Spawning or writing failed.
    Io(std::io::Error),
    /// The child closed stdout (exited) before saying what was expected.
    Exited {
        /// The child.
        name: String,
        /// What it wrote to stderr.
        stderr: String,
    },
    /// No expected line within the time allowed.
    Timeout {
        /// The child.
        name: String,
        /// What was awaited.
        waiting_for: String,
    },
}

impl std::fmt::Display for TalkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TalkError::Io(e) => write!(f, "{e}"),
            TalkError::Exited { name, stderr } => {
                write!(f, "{name} exited")?;
                match stderr.trim() {
                    "" => Ok(()),
                    text => write!(f, ": {text}"),
                }
            }
            TalkError::Timeout { name, waiting_for } => {
                write!(f, "{name}: no {waiting_for} in time")
            }
        }
    }
}

impl std::error::Error for TalkError {}

impl From<std::io::Error> for TalkError {
    fn from(e: std::io::Error) -> Self {
        TalkError::Io(e)
    }
}

impl Talker {
    /// Starts `program args..`, on `cpus` (a taskset list) when given.
    pub fn spawn(
        name: &str,
        program: &Path,
        args: &[String],
        cpus: Option<&str>,
    ) -> Result<Self, TalkError> {
        let mut command = match cpus {
            Some(cpus) => {
                let mut c = Command::new("taskset");
                c.arg("-c").arg(cpus).arg(program);
                c
            }
            None => Command::new(program),
        };
        let mut child = command
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // smol's global executor runs this many threads; one, like every runtime here.
            .env("SMOL_THREADS", "1")
            .spawn()
            .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", program.display())))?;
        let stdin = child.stdin.take();
        let (tx, lines) = mpsc::channel();
        if let Some(stdout) = child.stdout.take() {
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        let stderr = Arc::new(Mutex::new(String::new()));
        if let Some(pipe) = child.stderr.take() {
            let collected = Arc::clone(&stderr);
            let prefix = name.to_owned();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines() {
                    let Ok(line) = line else { break };
                    eprintln!("  [{prefix}] {line}");
                    let mut text = collected.lock().unwrap_or_else(PoisonError::into_inner);
                    if text.len() < 4096 {
                        text.push_str(&line);
                        text.push('\n');
                    }
                }
            });
        }
        Ok(Talker {
            name: name.to_owned(),
            child,
            stdin,
            lines,
            stderr,
        })
    }

    /// The child's process id (taskset execs, so it is the program's).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends one line.
    pub fn send(&mut self, line: &str) -> Result<(), TalkError> {
        let name = self.name.clone();
        let stdin = self.stdin.as_mut().ok_or_else(|| TalkError::Exited {
            name,
            stderr: String::new(),
        })?;
        writeln!(stdin, "{line}")?;
        stdin.flush()?;
        Ok(())
    }

    /// Closes the child's stdin (servers and idle load generators then finish).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// The first line for which `pick` returns something, within `timeout`; other lines
    /// are skipped.
    pub fn expect<T>(
        &mut self,
        waiting_for: &str,
        timeout: Duration,
        mut pick: impl FnMut(&str) -> Option<T>,
    ) -> Result<T, TalkError> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(found) = pick(&line) {
                        return Ok(found);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    return Err(TalkError::Timeout {
                        name: self.name.clone(),
                        waiting_for: waiting_for.into(),
                    });
                }
                Err(RecvTimeoutError::Disconnected) => {
                    // Give the stderr thread a moment to collect the last words.
                    let _ = self.child.wait();
                    std::thread::sleep(Duration::from_millis(50));
                    let stderr = self
                        .stderr
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .clone();
                    return Err(TalkError::Exited {
                        name: self.name.clone(),
                        stderr,
                    });
                }
            }
        }
    }

    /// Waits up to `timeout` for the child to exit, then kills it.
    pub fn finish(&mut self, timeout: Duration) {
        self.close_stdin();
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Talker {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A benchmark server speaking the control protocol of `bench_harness::control`.
pub struct Server {
    talker: Talker,
    /// Where it listens.
    pub addr: String,
}

impl Server {
    /// Starts a server and waits for its ready line.
    pub fn start(
        implementation: &str,
        program: &Path,
        cpus: Option<&str>,
    ) -> Result<Self, TalkError> {
        let args = ["--port".to_owned(), "0".to_owned()];
        let mut talker = Talker::spawn(implementation, program, &args, cpus)?;
        let addr = talker.expect("ready line", Duration::from_secs(30), |line| {
            line.strip_prefix("ready ")
                .and_then(|rest| rest.split_whitespace().nth(1))
                .map(str::to_owned)
        })?;
        Ok(Server { talker, addr })
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.talker.pid()
    }

    /// Asks for a `stats` line.
    pub fn stats(&mut self) -> Result<ServerStats, TalkError> {
        self.talker.send("stats")?;
        self.talker.expect(
            "stats line",
            Duration::from_secs(10),
            ServerStats::from_line,
        )
    }

    /// Closes stdin, reads the last `stats` line, and waits for the exit.
    pub fn stop(mut self) -> Result<ServerStats, TalkError> {
        self.talker.close_stdin();
        let last = self.talker.expect(
            "final stats line",
            Duration::from_secs(10),
            ServerStats::from_line,
        );
        self.talker.finish(Duration::from_secs(5));
        last
    }
}

/// CPU time (user + system) a process has used so far, from `/proc/<pid>/stat`.
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_cpu_time(&stat)
}

/// utime + stime from a `/proc/<pid>/stat` line, in clock ticks of 1/100 s (Linux's
/// `USER_HZ` on every architecture it exports to user space).
fn parse_cpu_time(stat: &str) -> Option<Duration> {
    // The command name (field 2) is in parentheses and may hold spaces: skip past it.
    let after_comm = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_comm.split_whitespace();
    // Fields 3.. follow; utime and stime are fields 14 and 15.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}

/// CPU time every core of the machine spent busy so far, from `/proc/stat`.
pub fn machine_busy_time() -> Option<Duration> {
    parse_machine_busy(&std::fs::read_to_string("/proc/stat").ok()?)
}

/// user + nice + system + irq + softirq + steal of the aggregate `cpu` line (ticks of
/// 1/100 s); guest time is already inside user.
fn parse_machine_busy(stat: &str) -> Option<Duration> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let ticks: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map_while(|f| f.parse().ok())
        .collect();
    let busy = [0, 1, 2, 5, 6, 7]
        .iter()
        .map(|&i| ticks.get(i).copied().unwrap_or(0))
        .sum::<u64>();
    Some(Duration::from_millis(busy * 10))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn machine_busy_time_sums_the_busy_columns() {
        let stat = "cpu  100 5 20 9000 7 1 2 3 0 0\ncpu0 50 0 10 4500 0 0 1 0 0 0\n";
        assert_eq!(
            parse_machine_busy(stat),
            Some(Duration::from_millis((100 + 5 + 20 + 1 + 2 + 3) * 10))
        );
        assert_eq!(parse_machine_busy("intr 5\n"), None);
        assert!(machine_busy_time().is_some());
    }

    #[test]
    fn parses_cpu_time_even_with_spaces_in_the_command_name() {
        let stat = "1234 (bench server) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 30 0 0 20 0 2 0 99 1000 200";
        assert_eq!(parse_cpu_time(stat), Some(Duration::from_millis(2800)));
        assert_eq!(parse_cpu_time("1234 (x) S 1 2"), None);
        assert_eq!(parse_cpu_time("garbage"), None);
    }

    #[test]
    fn own_cpu_time_is_readable() {
        assert!(cpu_time(std::process::id()).is_some());
    }
}
