//! Counting and timing the calls of one phase.

use std::time::Duration;

use bench_harness::report::{Latency, LoadReport};
use hdrhistogram::Histogram;

use crate::calls::{CallError, CallOutcome};

/// Distinct error descriptions kept for the report.
const ERROR_SAMPLES: usize = 5;

/// Everything the workers of one phase record.
#[derive(Debug)]
pub struct Tally {
    /// Call latency, nanoseconds.
    latency_ns: Histogram<u64>,
    calls: u64,
    errors: u64,
    messages: u64,
    bytes_received: u64,
    bytes_sent: u64,
    error_samples: Vec<String>,
}

impl Tally {
    /// An empty tally.
    pub fn new() -> Self {
        // 1 ns to 1 hour at 3 significant digits; `saturating_record` clamps the rest.
        let latency_ns = Histogram::new_with_bounds(1, 3_600_000_000_000, 3).unwrap_or_else(|_| {
            Histogram::new(3).unwrap_or_else(|_| unreachable!("3 digits is valid"))
        });
        Tally {
            latency_ns,
            calls: 0,
            errors: 0,
            messages: 0,
            bytes_received: 0,
            bytes_sent: 0,
            error_samples: Vec::new(),
        }
    }

    /// Records a successful call and its duration.
    pub fn record_success(&mut self, outcome: CallOutcome, took: Duration) {
        self.latency_ns
            .saturating_record(u64::try_from(took.as_nanos()).unwrap_or(u64::MAX));
        self.calls += 1;
        self.messages += outcome.messages;
        self.bytes_received += outcome.bytes_received;
        self.bytes_sent += outcome.bytes_sent;
    }

    /// Records a failed call.
    pub fn record_error(&mut self, error: &CallError) {
        self.errors += 1;
        if self.error_samples.len() < ERROR_SAMPLES {
            let text = error.to_string();
            if !self.error_samples.contains(&text) {
                self.error_samples.push(text);
            }
        }
    }

    /// The report for a phase that lasted `elapsed`.
    pub fn report(
        &self,
        scenario: &str,
        connections: usize,
        streams: usize,
        elapsed: Duration,
    ) -> LoadReport {
        let secs = elapsed.as_secs_f64().max(f64::MIN_POSITIVE);
        let us = |ns: u64| ns as f64 / 1000.0;
        let h = &self.latency_ns;
        let latency_us = if h.is_empty() {
            Latency::default()
        } else {
            Latency {
                mean: h.mean() / 1000.0,
                p50: us(h.value_at_quantile(0.50)),
                p90: us(h.value_at_quantile(0.90)),
                p99: us(h.value_at_quantile(0.99)),
                p999: us(h.value_at_quantile(0.999)),
                max: us(h.max()),
            }
        };
        LoadReport {
            scenario: scenario.to_owned(),
            connections,
            streams,
            duration_s: secs,
            calls: self.calls,
            errors: self.errors,
            error_samples: self.error_samples.clone(),
            messages_received: self.messages,
            bytes_received: self.bytes_received,
            bytes_sent: self.bytes_sent,
            calls_per_s: self.calls as f64 / secs,
            messages_per_s: self.messages as f64 / secs,
            mb_per_s: self.bytes_received as f64 / 1e6 / secs,
            latency_us,
        }
    }
}

impl Default for Tally {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn report_computes_rates_and_percentiles() {
        let mut tally = Tally::new();
        for i in 1..=100u64 {
            let outcome = CallOutcome {
                bytes_sent: 10,
                messages: 2,
                bytes_received: 1_000,
            };
            tally.record_success(outcome, Duration::from_micros(i));
        }
        tally.record_error(&CallError::Invalid("bad".into()));
        tally.record_error(&CallError::Invalid("bad".into()));
        tally.record_error(&CallError::Invalid("worse".into()));
        let r = tally.report("s", 2, 3, Duration::from_secs(2));
        assert_eq!((r.calls, r.errors, r.messages_received), (100, 3, 200));
        assert_eq!(r.error_samples, ["bad", "worse"]);
        assert_eq!((r.bytes_sent, r.bytes_received), (1_000, 100_000));
        assert!((r.calls_per_s - 50.0).abs() < 1e-9);
        assert!((r.messages_per_s - 100.0).abs() < 1e-9);
        assert!((r.mb_per_s - 0.05).abs() < 1e-9);
        // Three significant digits: within 0.1 %.
        assert!((r.latency_us.p50 - 50.0).abs() < 0.1, "{:?}", r.latency_us);
        assert!((r.latency_us.p90 - 90.0).abs() < 0.1, "{:?}", r.latency_us);
        assert!((r.latency_us.p99 - 99.0).abs() < 0.1, "{:?}", r.latency_us);
        assert!((r.latency_us.max - 100.0).abs() < 0.1, "{:?}", r.latency_us);
    }

    #[test]
    fn empty_tally_reports_zeros() {
        let r = Tally::new().report("s", 1, 1, Duration::ZERO);
        assert_eq!((r.calls, r.calls_per_s, r.latency_us.p99), (0, 0.0, 0.0));
    }
}
