#!/usr/bin/env bash
# The benchmark in one command: builds the bench workspace in release mode and runs
# every implementation interleaved, printing one markdown table on stdout.
#   bench/run.sh                 # full run: 3 rounds of every scenario
#   bench/run.sh --quick         # smoke run: 1 short round
#   bench/run.sh --help          # all options (rounds, durations, implementations, pinning)
#   bench/run.sh --check         # no benchmark: check, clippy -D warnings and unit tests
# h2load (Debian: apt-get install nghttp2-client) is used as a second generator if present.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
manifest="$here/Cargo.toml"
if [[ "${1:-}" == "--check" ]]; then
    cargo check --manifest-path "$manifest" --all-targets
    cargo clippy --manifest-path "$manifest" --all-targets -- -D warnings
    cargo test --manifest-path "$manifest"
    exit 0
fi
cargo build --release --quiet --manifest-path "$manifest" --bins
# The idle scenario holds 1,000 connections: servers and load generator need the fds.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
exec "$here/target/release/bench-run" "$@"
