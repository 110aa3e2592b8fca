//! Medians over rounds, and the tables.

use std::fmt::Write;

use crate::h2load::H2loadResult;
use crate::measure::RunResult;
use crate::scenarios::{Headline, Scenario};

/// The median, `None` for no values.
pub fn median(mut values: Vec<f64>) -> Option<f64> {
    values.retain(|v| v.is_finite());
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    })
}

/// Medians of one implementation in one scenario.
#[derive(Clone, Debug, Default)]
struct Row {
    calls_per_s: Option<f64>,
    p50_us: Option<f64>,
    p99_us: Option<f64>,
    mb_per_s: Option<f64>,
    peak_rss_mib: Option<f64>,
    allocs_per_call: Option<f64>,
    kib_per_connection: Option<f64>,
    server_cpu: Option<f64>,
    server_cpu_us_per_call: Option<f64>,
    load_cpu: Option<f64>,
    errors: u64,
    failed_rounds: usize,
    rounds: usize,
}

impl Row {
    fn of(results: &[&RunResult]) -> Row {
        let ok: Vec<&&RunResult> = results.iter().filter(|r| r.error.is_none()).collect();
        let pick = |f: &dyn Fn(&RunResult) -> Option<f64>| {
            median(ok.iter().filter_map(|r| f(r)).collect())
        };
        Row {
            calls_per_s: pick(&|r| r.report.as_ref().map(|l| l.calls_per_s)),
            p50_us: pick(&|r| r.report.as_ref().map(|l| l.latency_us.p50)),
            p99_us: pick(&|r| r.report.as_ref().map(|l| l.latency_us.p99)),
            mb_per_s: pick(&|r| r.report.as_ref().map(|l| l.mb_per_s)),
            peak_rss_mib: pick(&|r| (r.peak_rss_kb > 0).then(|| r.peak_rss_kb as f64 / 1024.0)),
            allocs_per_call: pick(&|r| r.allocs_per_call),
            kib_per_connection: pick(&|r| r.kib_per_connection),
            server_cpu: pick(&|r| r.server_cpu),
            server_cpu_us_per_call: pick(&|r| r.server_cpu_us_per_call),
            load_cpu: pick(&|r| r.load_cpu),
            errors: results
                .iter()
                .filter_map(|r| r.report.as_ref())
                .map(|l| l.errors)
                .sum(),
            failed_rounds: results.len() - ok.len(),
            rounds: results.len(),
        }
    }

    fn headline(&self, headline: Headline) -> Option<f64> {
        match headline {
            Headline::CallsPerS => self.calls_per_s,
            Headline::MbPerS => self.mb_per_s,
            Headline::KibPerConnection => self.kib_per_connection,
        }
    }
}

fn num(value: Option<f64>, decimals: usize) -> String {
    value.map_or_else(|| "-".to_owned(), |v| format!("{v:.decimals$}"))
}

/// Fewer decimals as values grow, so columns stay readable.
fn adaptive(value: Option<f64>) -> String {
    match value {
        Some(v) if v >= 1000.0 => format!("{v:.0}"),
        Some(v) if v >= 10.0 => format!("{v:.1}"),
        other => num(other, 2),
    }
}

fn percent(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| format!("{:.0}%", v * 100.0))
}

fn ratio(value: Option<f64>, base: Option<f64>) -> String {
    match (value, base) {
        (Some(v), Some(b)) if b > 0.0 => format!("{:.2}x", v / b),
        _ => "-".to_owned(),
    }
}

/// The main table (markdown).
pub fn main_table(
    scenarios: &[Scenario],
    implementations: &[String],
    results: &[RunResult],
) -> String {
    let mut out = String::new();
    out.push_str(
        "| scenario | implementation | calls/s | p50 µs | p99 µs | MB/s | peak RSS MiB | allocs/call \
         | KiB/conn | server CPU | server CPU µs/call | load CPU | vs tonic | vs h2 | errors |\n",
    );
    out.push_str("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n");
    for scenario in scenarios {
        let rows: Vec<(&String, Row)> = implementations
            .iter()
            .map(|implementation| {
                let mine: Vec<&RunResult> = results
                    .iter()
                    .filter(|r| r.scenario == scenario.name && &r.implementation == implementation)
                    .collect();
                (implementation, Row::of(&mine))
            })
            .filter(|(_, row)| row.rounds > 0)
            .collect();
        let base = |name: &str| {
            rows.iter()
                .find(|(i, _)| i.as_str() == name)
                .and_then(|(_, r)| r.headline(scenario.headline))
        };
        let (tonic, h2) = (base("tonic"), base("h2"));
        for (implementation, row) in &rows {
            let headline = row.headline(scenario.headline);
            let errors = match (row.errors, row.failed_rounds) {
                (0, 0) => "0".to_owned(),
                (calls, 0) => format!("{calls} calls"),
                (calls, rounds) => format!("{calls} calls, {rounds}/{} rounds", row.rounds),
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                scenario.name,
                implementation,
                num(row.calls_per_s, 0),
                adaptive(row.p50_us),
                adaptive(row.p99_us),
                adaptive(row.mb_per_s),
                num(row.peak_rss_mib, 1),
                adaptive(row.allocs_per_call),
                num(row.kib_per_connection, 1),
                percent(row.server_cpu),
                adaptive(row.server_cpu_us_per_call),
                percent(row.load_cpu),
                ratio(headline, tonic),
                ratio(headline, h2),
                errors,
            );
        }
    }
    out
}

/// The h2load table (markdown).
pub fn h2load_table(
    scenarios: &[Scenario],
    implementations: &[String],
    results: &[H2loadResult],
) -> String {
    let mut out = String::new();
    out.push_str("| scenario | implementation | req/s | mean µs | failed | vs tonic | vs h2 |\n");
    out.push_str("|---|---|--:|--:|--:|--:|--:|\n");
    for scenario in scenarios.iter().filter(|s| s.h2load.is_some()) {
        let rows: Vec<(&String, Option<f64>, Option<f64>, u64)> = implementations
            .iter()
            .filter_map(|implementation| {
                let mine: Vec<&H2loadResult> = results
                    .iter()
                    .filter(|r| r.scenario == scenario.name && &r.implementation == implementation)
                    .collect();
                if mine.is_empty() {
                    return None;
                }
                let ok = || mine.iter().filter(|r| r.error.is_none());
                let rate = median(ok().map(|r| r.requests_per_s).collect());
                let mean = median(ok().map(|r| r.mean_us).collect());
                let failed = mine.iter().map(|r| r.failed).sum();
                Some((implementation, rate, mean, failed))
            })
            .collect();
        let base = |name: &str| rows.iter().find(|r| r.0.as_str() == name).and_then(|r| r.1);
        let (tonic, h2) = (base("tonic"), base("h2"));
        for (implementation, rate, mean, failed) in &rows {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} |",
                scenario.name,
                implementation,
                num(*rate, 0),
                adaptive(*mean),
                failed,
                ratio(*rate, tonic),
                ratio(*rate, h2),
            );
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use bench_harness::report::LoadReport;

    #[test]
    fn median_of_odd_even_and_empty() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(vec![]), None);
        assert_eq!(median(vec![f64::NAN, 5.0]), Some(5.0));
    }

    fn result(implementation: &str, calls_per_s: f64, error: Option<&str>) -> RunResult {
        RunResult {
            implementation: implementation.into(),
            scenario: "unary".into(),
            report: Some(LoadReport {
                calls_per_s,
                ..LoadReport::default()
            }),
            allocs_per_call: Some(10.0),
            error: error.map(Into::into),
            ..RunResult::default()
        }
    }

    #[test]
    fn table_has_medians_ratios_and_skips_failed_rounds() {
        let scenarios = vec![Scenario {
            name: "unary",
            load_args: vec![],
            headline: Headline::CallsPerS,
            idle_connections: None,
            h2load: None,
        }];
        let results = vec![
            result("tonic", 100.0, None),
            result("tonic", 300.0, None),
            result("tonic", 200.0, None),
            result("h2", 400.0, None),
            result("h2", 1.0, Some("server exited")),
        ];
        let table = main_table(
            &scenarios,
            &["tonic".into(), "h2".into(), "absent".into()],
            &results,
        );
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 4, "{table}");
        assert!(lines[2].starts_with("| unary | tonic | 200 |"), "{table}");
        assert!(lines[2].contains("| 1.00x | 0.50x | 0 |"), "{table}");
        assert!(lines[3].starts_with("| unary | h2 | 400 |"), "{table}");
        assert!(
            lines[3].contains("| 2.00x | 1.00x | 0 calls, 1/2 rounds |"),
            "{table}"
        );
    }
}
