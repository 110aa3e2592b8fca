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

/// The headline of one run, as [`Row::headline`] reads it from medians.
fn run_headline(result: &RunResult, headline: Headline) -> Option<f64> {
    if result.error.is_some() {
        return None;
    }
    match headline {
        Headline::CallsPerS => result.report.as_ref().map(|l| l.calls_per_s),
        Headline::MbPerS => result.report.as_ref().map(|l| l.mb_per_s),
        Headline::KibPerConnection => result.kib_per_connection,
    }
}

/// Per-round ratios of `implementation` over `base` in `scenario`: each round's
/// runs were made back to back, so a ratio within a round is less disturbed by
/// the machine's drift than a ratio of medians taken over all rounds.
fn round_ratios(
    results: &[RunResult],
    scenario: &str,
    implementation: &str,
    base: &str,
    value: &dyn Fn(&RunResult) -> Option<f64>,
) -> Vec<f64> {
    let find = |name: &str, round: usize| {
        results
            .iter()
            .find(|r| r.scenario == scenario && r.implementation == name && r.round == round)
            .and_then(value)
    };
    let mut rounds: Vec<usize> = results
        .iter()
        .filter(|r| r.scenario == scenario && r.implementation == implementation)
        .map(|r| r.round)
        .collect();
    rounds.sort_unstable();
    rounds.dedup();
    rounds
        .into_iter()
        .filter_map(
            |round| match (find(implementation, round), find(base, round)) {
                (Some(v), Some(b)) if b > 0.0 && v.is_finite() => Some(v / b),
                _ => None,
            },
        )
        .collect()
}

/// "min-max (median)" of ratios; "-" for none.
fn spread(ratios: Vec<f64>) -> String {
    let Some(mid) = median(ratios.clone()) else {
        return "-".to_owned();
    };
    let low = ratios.iter().copied().fold(f64::INFINITY, f64::min);
    let high = ratios.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if ratios.len() == 1 {
        format!("{mid:.2}x")
    } else {
        format!("{low:.2}-{high:.2}x ({mid:.2}x)")
    }
}

/// The ratios round by round (markdown): the headline against tonic, bare h2
/// and bare h2 with per-message work (streaming only), server CPU per call against tonic's (tonic's over this one's: above 1 is
/// cheaper than tonic), and p99 against tonic's (below 1 is better).
pub fn round_table(
    scenarios: &[Scenario],
    implementations: &[String],
    results: &[RunResult],
) -> String {
    let mut out = String::new();
    out.push_str(
        "| scenario | implementation | rounds | vs tonic | vs h2 | vs h2-work | CPU/call: tonic's over this | p99 over tonic's |\n",
    );
    out.push_str("|---|---|--:|--:|--:|--:|--:|--:|\n");
    for scenario in scenarios {
        let headline = |r: &RunResult| run_headline(r, scenario.headline);
        let cpu = |r: &RunResult| {
            r.server_cpu_us_per_call
                .filter(|_| r.error.is_none())
                .map(|v| 1.0 / v)
        };
        let p99 = |r: &RunResult| {
            r.report
                .as_ref()
                .filter(|_| r.error.is_none())
                .map(|l| l.latency_us.p99)
        };
        for implementation in implementations
            .iter()
            .filter(|i| !matches!(i.as_str(), "tonic" | "h2" | "h2-work"))
        {
            let name = scenario.name;
            let vs_tonic = round_ratios(results, name, implementation, "tonic", &headline);
            if vs_tonic.is_empty() {
                continue;
            }
            let rounds = vs_tonic.len();
            let vs_h2 = round_ratios(results, name, implementation, "h2", &headline);
            let vs_h2_work = round_ratios(results, name, implementation, "h2-work", &headline);
            let cheaper = round_ratios(results, name, implementation, "tonic", &cpu);
            let latency = round_ratios(results, name, implementation, "tonic", &p99);
            let _ = writeln!(
                out,
                "| {name} | {implementation} | {rounds} | {} | {} | {} | {} | {} |",
                spread(vs_tonic),
                spread(vs_h2),
                spread(vs_h2_work),
                spread(cheaper),
                spread(latency),
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

    fn unary_scenario() -> Scenario {
        Scenario {
            name: "unary",
            load_args: vec![],
            headline: Headline::CallsPerS,
            idle_connections: None,
            h2load: None,
        }
    }

    #[test]
    fn table_has_medians_ratios_and_skips_failed_rounds() {
        let scenarios = vec![unary_scenario()];
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

    #[test]
    fn round_table_pairs_runs_of_the_same_round() {
        let scenarios = vec![unary_scenario()];
        let run = |implementation: &str, round: usize, calls_per_s: f64, cpu: f64| RunResult {
            round,
            server_cpu_us_per_call: Some(cpu),
            ..result(implementation, calls_per_s, None)
        };
        let results = vec![
            run("tonic", 1, 100.0, 10.0),
            run("ferrule", 1, 150.0, 8.0),
            run("h2", 1, 300.0, 5.0),
            run("tonic", 2, 200.0, 10.0),
            run("ferrule", 2, 220.0, 12.5),
            run("h2", 2, 400.0, 5.0),
            // A failed round is left out, not counted as zero.
            RunResult {
                round: 3,
                ..result("ferrule", 1.0, Some("server exited"))
            },
            run("tonic", 3, 100.0, 10.0),
        ];
        let table = round_table(
            &scenarios,
            &["ferrule".into(), "tonic".into(), "h2".into()],
            &results,
        );
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 3, "{table}");
        assert_eq!(
            lines[2],
            "| unary | ferrule | 2 | 1.10-1.50x (1.30x) | 0.50-0.55x (0.53x) | - | 0.80-1.25x (1.02x) | - |",
            "{table}"
        );
    }
}
