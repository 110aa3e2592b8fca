//! The grpc.testing interop client on ferrule.
//!
//! ```text
//! interop-client --server_port=PORT [--server_host=127.0.0.1] [--test_case=all|a,b,..]
//!                [--use_tls=false] [--server_host_override=H] [--skip=a,b]
//!                [--deadline_s=20] [--runtime=smol|tokio]
//! ```
//!
//! Prints `PASS case`, `FAIL case: reason` or `SKIP case: reason` per case,
//! then `N passed, M failed` (`, K skipped`). Exit code 1 if a case failed,
//! 2 on bad flags.

use std::process::ExitCode;
use std::time::Duration;

use ferrule_interop::client::{CASES, Cases, EXTRA_CASES, cannot_run};
use ferrule_interop::flags::{Flags, comma_list};
use ferrule_interop::rt::{RuntimeKind, within};
use ferrule_interop::tap::WireLog;

const FLAGS: &[&str] = &[
    "server_host",
    "server_port",
    "test_case",
    "use_tls",
    "server_host_override",
    "skip",
    "deadline_s",
    "runtime",
];

struct Options {
    target: String,
    cases: Vec<String>,
    skip: Vec<String>,
    deadline: Duration,
    runtime: RuntimeKind,
}

fn case_names(text: &str, what: &str) -> Result<Vec<String>, String> {
    let names = comma_list(text);
    for name in &names {
        if !CASES.contains(name) && !EXTRA_CASES.contains(name) {
            return Err(format!(
                "unknown {what} {name} (known: {}; extra: {})",
                CASES.join(", "),
                EXTRA_CASES.join(", ")
            ));
        }
    }
    Ok(names.into_iter().map(str::to_owned).collect())
}

fn options() -> Result<Options, String> {
    let flags = Flags::parse(std::env::args().skip(1), FLAGS)?;
    if flags.boolean("use_tls", false)? {
        return Err("this client speaks plaintext only; pass --use_tls=false".to_owned());
    }
    let port = flags
        .get("server_port")
        .ok_or("--server_port is required")?
        .parse::<u16>()
        .map_err(|e| format!("--server_port: {e}"))?;
    let host = flags.get_or("server_host", "127.0.0.1");
    let cases = match flags.get_or("test_case", "all") {
        "all" => CASES.iter().map(|c| (*c).to_owned()).collect(),
        list => case_names(list, "test case")?,
    };
    let deadline_s: f64 = flags.parsed("deadline_s", 20.0)?;
    let deadline =
        Duration::try_from_secs_f64(deadline_s).map_err(|e| format!("--deadline_s: {e}"))?;
    Ok(Options {
        target: format!("{host}:{port}"),
        cases,
        skip: case_names(flags.get_or("skip", ""), "case in --skip")?,
        deadline,
        runtime: RuntimeKind::from_flag(flags.get_or("runtime", "smol"))?,
    })
}

fn main() -> ExitCode {
    let options = match options() {
        Ok(options) => options,
        Err(problem) => {
            eprintln!("interop-client: {problem}");
            return ExitCode::from(2);
        }
    };
    let kind = options.runtime;
    let failed = kind.block_on(async move {
        let runtime = kind.runtime();
        let log = WireLog::new();
        let channel = kind.channel(&options.target, log.clone());
        let ready = within(&*runtime, options.deadline, channel.ready()).await;
        if !matches!(ready, Some(Ok(()))) {
            let why = match ready {
                Some(Err(status)) => status.message().to_owned(),
                _ => format!("no connection within {:?}", options.deadline),
            };
            println!("FAIL connect: {} unreachable: {why}", options.target);
            println!("0 passed, {} failed", options.cases.len());
            return true;
        }
        let cases = Cases::new(channel, log, runtime.clone(), options.deadline);
        let (mut passed, mut failed, mut skipped) = (0, 0, 0);
        for case in &options.cases {
            if options.skip.contains(case) {
                let reason = cannot_run(case).unwrap_or("skipped by the caller (--skip)");
                println!("SKIP {case}: {reason}");
                skipped += 1;
                continue;
            }
            let limit = options.deadline + Duration::from_secs(10);
            match within(&*runtime, limit, cases.run(case)).await {
                Some(Ok(())) => {
                    println!("PASS {case}");
                    passed += 1;
                }
                Some(Err(reason)) => {
                    println!("FAIL {case}: {reason}");
                    failed += 1;
                }
                None => {
                    println!("FAIL {case}: did not finish within {limit:?}");
                    failed += 1;
                }
            }
        }
        if skipped > 0 {
            println!("{passed} passed, {failed} failed, {skipped} skipped");
        } else {
            println!("{passed} passed, {failed} failed");
        }
        failed > 0
    });
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
