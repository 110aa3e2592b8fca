//! What servers and the load generator report, as the runner reads it.

use serde::{Deserialize, Serialize};

/// A server's `stats` line (see [`crate::control`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerStats {
    /// Allocations so far (`alloc` + `alloc_zeroed`).
    pub allocs: u64,
    /// Reallocations so far.
    pub reallocs: u64,
    /// Deallocations so far.
    pub deallocs: u64,
    /// Bytes requested so far.
    pub bytes_allocated: u64,
    /// Bytes allocated now.
    pub live_bytes: u64,
    /// Most bytes allocated at once.
    pub peak_live_bytes: u64,
    /// Resident set size now, KiB.
    pub rss_kb: u64,
    /// Peak resident set size, KiB.
    pub hwm_kb: u64,
}

impl ServerStats {
    /// Parses a `stats {json}` line; `None` for any other line.
    pub fn from_line(line: &str) -> Option<ServerStats> {
        serde_json::from_str(line.trim_end().strip_prefix("stats ")?).ok()
    }
}

/// One line of the load generator's JSON output (`--json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum LoadEvent {
    /// Warm-up done, no call in flight. With `--sync` the generator now waits for `go`
    /// on stdin.
    Warm,
    /// Measurement done, no call in flight, connections still open. With `--sync` the
    /// generator now waits for `report` on stdin before closing them.
    Measured,
    /// Idle mode: every connection is open and has completed its handshake (and its
    /// warm-up call, if asked). The generator holds them until stdin closes or `--hold`
    /// runs out.
    IdleReady {
        /// Connections held open.
        connections: usize,
    },
    /// The final report.
    Report(LoadReport),
}

/// Results of one measured phase.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LoadReport {
    /// Scenario name.
    pub scenario: String,
    /// TCP connections.
    pub connections: usize,
    /// Concurrent streams per connection.
    pub streams: usize,
    /// Length of the measured phase, seconds.
    pub duration_s: f64,
    /// Calls completed and validated.
    pub calls: u64,
    /// Calls that failed (bad status, wrong message, transport error).
    pub errors: u64,
    /// Up to a few distinct error descriptions.
    pub error_samples: Vec<String>,
    /// Response messages received and validated.
    pub messages_received: u64,
    /// Response message bytes (protobuf, without the 5-byte prefix) received.
    pub bytes_received: u64,
    /// Request message bytes sent.
    pub bytes_sent: u64,
    /// Completed calls per second.
    pub calls_per_s: f64,
    /// Response messages per second.
    pub messages_per_s: f64,
    /// Response message megabytes (10^6 bytes) per second.
    pub mb_per_s: f64,
    /// Call latency percentiles and extremes, microseconds.
    pub latency_us: Latency,
}

/// Latency summary, microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Maximum.
    pub max: f64,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn stats_lines_parse_and_other_lines_do_not() {
        let line = "stats {\"allocs\":1,\"reallocs\":2,\"deallocs\":3,\"bytes_allocated\":4,\"live_bytes\":5,\"peak_live_bytes\":6,\"rss_kb\":7,\"hwm_kb\":8}\n";
        let s = ServerStats::from_line(line).unwrap();
        assert_eq!((s.allocs, s.deallocs, s.rss_kb, s.hwm_kb), (1, 3, 7, 8));
        assert_eq!(ServerStats::from_line("ready h2 127.0.0.1:1"), None);
        assert_eq!(ServerStats::from_line("stats {\"allocs\":1"), None);
    }

    #[test]
    fn load_events_round_trip_through_json() {
        let events = [
            LoadEvent::Warm,
            LoadEvent::Measured,
            LoadEvent::IdleReady { connections: 1000 },
            LoadEvent::Report(LoadReport {
                scenario: "unary".into(),
                calls: 5,
                ..LoadReport::default()
            }),
        ];
        for event in events {
            let json = serde_json::to_string(&event).unwrap();
            assert_eq!(
                serde_json::from_str::<LoadEvent>(&json).unwrap(),
                event,
                "{json}"
            );
        }
        assert_eq!(
            serde_json::to_string(&LoadEvent::Warm).unwrap(),
            "{\"event\":\"warm\"}"
        );
    }
}
