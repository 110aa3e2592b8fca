//! The soak run (`examples/soak.rs`) in small, on `ferrule::rt`: the full
//! run is outside `cargo test` (`.ci/soak`), so this keeps its code path
//! checked: every answer, the outcome counts, the handlers and connections
//! at the end. The memory verdict is printed, not asserted: a run of a
//! second or two has no sample after warm-up to judge.

#![cfg(any(feature = "smol", feature = "tokio"))]

#[allow(dead_code)]
#[path = "../soak.rs"]
mod soak;

use std::time::Duration;

/// Long enough for a slow CI machine, short enough that a hang fails (the
/// soak itself fails after 30 s without progress).
const LIMIT: Duration = Duration::from_secs(60);

/// Runs a soak of `settings` on a thread of its own, so a hang fails the
/// test after [`LIMIT`]; panics if it fails, checks the counts.
fn soak_passes(settings: soak::Settings) {
    let (done, outcome) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(soak::run(&settings).map_err(|e| e.to_string()));
    });
    let report = match outcome.recv_timeout(LIMIT) {
        Ok(Ok(report)) => report,
        Ok(Err(error)) => panic!("the soak failed: {error}"),
        Err(_) => panic!("the soak did not finish within {LIMIT:?}"),
    };
    print!("{report}");
    let counts = report.counts;
    assert_eq!(counts.unary(), settings.calls);
    assert_eq!(counts.streams(), settings.streams);
    assert!(counts.failed > 0 && counts.cancelled > 0);
    assert!(counts.streams_failed > 0 && counts.streams_cancelled > 0);
    assert_eq!(
        report.memory.end.done,
        settings.calls + settings.streams,
        "the end sample comes after the last call"
    );
}

/// One call at a time per connection: the soak's every path (answers,
/// failures, cancels, streams cut short), each connection used by one task.
#[test]
fn a_small_soak_gets_every_answer_right() {
    soak_passes(soak::Settings {
        calls: 5_000,
        streams: 100,
        connections: 10,
        in_flight: 1,
    });
}

/// The same with calls multiplexed, 8 in flight per connection, as the full
/// soak runs. It once found a call answered OK failing with UNAVAILABLE when
/// another call started on its connection between the end of its response
/// stream and the read of its status (the engine had let go of the call's
/// slot, and the new call took its entry in the driver's call table): it
/// takes two threads polling calls of one connection (tokio, or smol with
/// SMOL_THREADS=2).
#[test]
fn a_small_soak_with_calls_multiplexed_gets_every_answer_right() {
    soak_passes(soak::Settings {
        calls: 5_000,
        streams: 100,
        connections: 10,
        in_flight: 8,
    });
}
