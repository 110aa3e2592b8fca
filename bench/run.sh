#!/usr/bin/env bash
# The benchmark in one command: builds the bench workspace in release mode and runs
# every implementation interleaved, printing one markdown table on stdout.
#   bench/run.sh                 # full run (3 rounds; about 5 minutes per implementation pair)
#   bench/run.sh --quick         # smoke run: 1 short round
#   bench/run.sh --help          # all options (rounds, durations, implementations, pinning)
# h2load (Debian: apt-get install nghttp2-client) is used as a second generator if present.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cargo build --release --quiet --manifest-path "$here/Cargo.toml" --bins
exec "$here/target/release/bench-run" "$@"
