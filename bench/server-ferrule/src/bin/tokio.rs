//! `bench-server-ferrule-tokio`: SLOT for the benchmark services on ferrule + tokio.
//!
//! Not wired yet: ferrule's async API and the tokio adapter are still being written.
//! The interface it must implement is in bench/README.md ("Plugging in ferrule").

use std::process::ExitCode;

fn main() -> ExitCode {
    eprintln!(
        "bench-server-ferrule-tokio: not available yet (ferrule's async API and tokio adapter \
         are not wired into the benchmark; see bench/README.md)"
    );
    ExitCode::from(2)
}
