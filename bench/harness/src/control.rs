//! The control channel every benchmark server speaks, over its own stdin and stdout.
//!
//! - On start, once listening, a server prints `ready <implementation> <ip:port>`.
//! - Each `stats` line on stdin is answered with `stats {json}` on stdout: the
//!   counting allocator's [`AllocSnapshot`] plus `VmRSS`/`VmHWM` from
//!   `/proc/self/status` (see [`crate::report::ServerStats`]). Answering allocates
//!   nothing, so the runner's allocs/call are the server's own.
//! - When stdin closes (or on `exit`), the server prints a last `stats` line and exits
//!   with status 0: a runner that dies takes its servers with it.
//!
//! Other stdout lines are allowed and ignored by the runner.

use std::io::{BufRead, Write};
use std::net::SocketAddr;

use crate::alloc::{AllocSnapshot, CountingAlloc};

/// Prints the ready line. Call it once the listener is bound.
pub fn announce_ready(implementation: &str, addr: SocketAddr) {
    let mut out = std::io::stdout().lock();
    // A closed stdout means nobody is listening; the server can still serve.
    let _ = writeln!(out, "ready {implementation} {addr}");
    let _ = out.flush();
}

/// Starts the thread that answers `stats` and exits the process when stdin closes.
///
/// With `keep_running`, a closed stdin is ignored (for starting a server by hand in the
/// background, where stdin is `/dev/null`).
pub fn spawn(alloc: &'static CountingAlloc, keep_running: bool) {
    let spawned = std::thread::Builder::new()
        .name("bench-control".into())
        .spawn(move || serve_commands(alloc, keep_running));
    if let Err(e) = spawned {
        eprintln!("bench-control: cannot start the control thread: {e}");
        std::process::exit(2);
    }
}

fn serve_commands(alloc: &'static CountingAlloc, keep_running: bool) {
    let stdin = std::io::stdin();
    // Reused so that reading a command allocates nothing after the first one.
    let mut line = String::with_capacity(64);
    loop {
        line.clear();
        let read = stdin.lock().read_line(&mut line);
        match (read, line.trim()) {
            (Ok(0) | Err(_), _) if keep_running => return,
            (Ok(0) | Err(_), _) | (_, "exit") => {
                print_stats(alloc);
                std::process::exit(0);
            }
            (_, "stats") => print_stats(alloc),
            (_, "") => {}
            (_, other) => {
                eprintln!("bench-control: unknown command {other:?} (known: stats, exit)")
            }
        }
    }
}

/// Writes one `stats {json}` line without allocating.
pub fn print_stats(alloc: &CountingAlloc) {
    let snapshot = alloc.snapshot();
    let memory = read_proc_memory();
    let mut buf = [0u8; 512];
    let len = format_stats(&mut buf, &snapshot, memory);
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(&buf[..len]);
    let _ = out.flush();
}

/// Formats `stats {json}\n` into `buf`, returning the length used.
fn format_stats(buf: &mut [u8], s: &AllocSnapshot, memory: ProcMemory) -> usize {
    let total = buf.len();
    let mut cursor: &mut [u8] = buf;
    // 512 bytes hold eight u64 values with their names with room to spare.
    let _ = writeln!(
        cursor,
        "stats {{\"allocs\":{},\"reallocs\":{},\"deallocs\":{},\"bytes_allocated\":{},\
         \"live_bytes\":{},\"peak_live_bytes\":{},\"rss_kb\":{},\"hwm_kb\":{}}}",
        s.allocs,
        s.reallocs,
        s.deallocs,
        s.bytes_allocated,
        s.live_bytes,
        s.peak_live_bytes,
        memory.rss_kb,
        memory.hwm_kb,
    );
    total - cursor.len()
}

/// Resident set size now and at its peak, in KiB; zero where `/proc` is unavailable.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProcMemory {
    /// `VmRSS`.
    pub rss_kb: u64,
    /// `VmHWM`: the peak resident set size.
    pub hwm_kb: u64,
}

/// Reads `/proc/self/status` into a stack buffer (no allocation).
pub fn read_proc_memory() -> ProcMemory {
    use std::io::Read;
    let mut buf = [0u8; 8192];
    let Ok(mut file) = std::fs::File::open("/proc/self/status") else {
        return ProcMemory::default();
    };
    let mut len = 0;
    while len < buf.len() {
        match file.read(&mut buf[len..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => len += n,
        }
    }
    parse_proc_memory(&buf[..len])
}

/// Picks `VmRSS` and `VmHWM` out of a `/proc/<pid>/status` text.
pub fn parse_proc_memory(status: &[u8]) -> ProcMemory {
    let mut memory = ProcMemory::default();
    for line in status.split(|&b| b == b'\n') {
        if let Some(rest) = line.strip_prefix(b"VmRSS:") {
            memory.rss_kb = parse_kb(rest);
        } else if let Some(rest) = line.strip_prefix(b"VmHWM:") {
            memory.hwm_kb = parse_kb(rest);
        }
    }
    memory
}

fn parse_kb(field: &[u8]) -> u64 {
    field
        .iter()
        .skip_while(|b| b.is_ascii_whitespace())
        .take_while(|b| b.is_ascii_digit())
        .fold(0u64, |n, &d| {
            n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
        })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::report::ServerStats;

    #[test]
    fn parses_rss_and_hwm_from_status_text() {
        let status = b"Name:\tbench\nVmPeak:\t  99999 kB\nVmHWM:\t    4321 kB\nVmRSS:\t    1234 kB\nThreads:\t2\n";
        assert_eq!(
            parse_proc_memory(status),
            ProcMemory {
                rss_kb: 1234,
                hwm_kb: 4321
            }
        );
    }

    #[test]
    fn missing_or_malformed_fields_read_as_zero() {
        assert_eq!(parse_proc_memory(b""), ProcMemory::default());
        assert_eq!(
            parse_proc_memory(b"VmRSS:\tlots kB\n"),
            ProcMemory::default()
        );
        // Truncated mid-number: the digits that are there.
        assert_eq!(parse_proc_memory(b"VmRSS:\t12").rss_kb, 12);
    }

    #[test]
    fn own_status_has_a_resident_set() {
        let memory = read_proc_memory();
        assert!(
            memory.rss_kb > 0 && memory.hwm_kb >= memory.rss_kb,
            "{memory:?}"
        );
    }

    #[test]
    fn stats_line_parses_as_server_stats_even_at_u64_max() {
        let s = AllocSnapshot {
            allocs: u64::MAX,
            reallocs: u64::MAX,
            deallocs: u64::MAX,
            bytes_allocated: u64::MAX,
            live_bytes: u64::MAX,
            peak_live_bytes: u64::MAX,
        };
        let memory = ProcMemory {
            rss_kb: u64::MAX,
            hwm_kb: u64::MAX,
        };
        let mut buf = [0u8; 512];
        let len = format_stats(&mut buf, &s, memory);
        let line = std::str::from_utf8(&buf[..len]).unwrap();
        assert!(line.ends_with("}\n"), "{line}");
        let stats = ServerStats::from_line(line).unwrap();
        assert_eq!(stats.allocs, u64::MAX);
        assert_eq!(stats.hwm_kb, u64::MAX);
    }
}
