//! `bench-server-ferrule-smol`: SLOT for the benchmark services on ferrule + smol.
//!
//! Not wired yet: ferrule's async API and the smol adapter are still being written.
//! The interface it must implement is in bench/README.md ("Plugging in ferrule").

use std::process::ExitCode;

fn main() -> ExitCode {
    eprintln!(
        "bench-server-ferrule-smol: not available yet (ferrule's async API and smol adapter \
         are not wired into the benchmark; see bench/README.md)"
    );
    ExitCode::from(2)
}
