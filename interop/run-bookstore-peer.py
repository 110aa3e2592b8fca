#!/usr/bin/env python3
"""Runs ferrule's bookstore example client against a grpcio bookstore server.

The server is interop/peers/python/bookstore_server.py, a plain grpcio
servicer of examples/proto/bookstore.proto with the behaviour of the Rust
example's server. The client is `examples/bookstore.rs --client`, which walks
through the four kinds of RPC and the error cases, checks every answer and
exits 0 only if all are what the service promises. It runs once per runtime
(smol, the default features, and tokio: `--no-default-features --features
tokio`), each against a fresh server on a free port on 127.0.0.1 and with a
time limit; a client still running then is killed by its PID and fails.

Why: grpcio sends a streaming call's response headers only with its first
answer. A client that waits for the headers before sending its first message
deadlocks against it: this is the check that ferrule's bidi client (Chat)
does not.

Both example binaries are built first from the repository root, exactly as
`cargo build --example bookstore` and `cargo build --example bookstore
--no-default-features --features tokio` (the root's default-members hold the
examples crate; the feature flags apply to the root package and the examples
crate alike). Both builds write the same target/debug/examples/bookstore, so
each binary is copied into the log directory right after its build and run
from there.

Prints PASS/FAIL per runtime (with the client's output and the server's log
on failure) and `N passed, M failed`; exits 1 if a runtime failed or could
not run. Only the Python standard library is used; the server needs
`.ci/install-peers` first.
"""

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

INTEROP = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(INTEROP)
PYTHON = os.path.join(INTEROP, ".venv", "bin", "python")
SERVER = os.path.join(INTEROP, "peers", "python", "bookstore_server.py")

# Ports, start-up waits and stopping by PID: the matrix runner's helpers.
_spec = importlib.util.spec_from_file_location("peer_matrix", os.path.join(INTEROP, "run-peer-matrix.py"))
matrix = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(matrix)

# Runtime -> the cargo feature flags of `cargo run --example bookstore ...`.
RUNTIMES = {
    "smol": [],
    "tokio": ["--no-default-features", "--features", "tokio"],
}

BUILD_TIMEOUT_S = 1800
SERVER_START_TIMEOUT_S = 30
CLIENT_TIMEOUT_S = 60


def build(runtime, bindir):
    """Builds the example for `runtime` and copies it into bindir; returns (path, problem)."""
    command = ["cargo", "build", "--quiet", "--example", "bookstore",
               "--message-format=json-render-diagnostics"] + RUNTIMES[runtime]
    started = time.monotonic()
    try:
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=BUILD_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return None, "%s did not finish within %ds" % (" ".join(command), BUILD_TIMEOUT_S)
    if done.returncode != 0:
        return None, "%s failed:\n%s" % (" ".join(command), done.stderr)
    executable = None
    for line in done.stdout.splitlines():
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if (message.get("reason") == "compiler-artifact"
                and message.get("target", {}).get("name") == "bookstore"
                and message.get("executable")):
            executable = message["executable"]
    if not executable:
        return None, "%s reported no bookstore executable" % " ".join(command)
    copy = os.path.join(bindir, "bookstore-" + runtime)
    shutil.copy2(executable, copy)
    print("built the bookstore example (%s) in %.1fs: %s" % (
        runtime, time.monotonic() - started,
        " ".join(["cargo", "build", "--example", "bookstore"] + RUNTIMES[runtime])), flush=True)
    return copy, None


def read(path):
    with open(path, errors="replace") as f:
        return f.read()


def indented(text):
    return "".join("    " + line + "\n" for line in text.rstrip("\n").splitlines()) or "    (nothing)\n"


def run_one(runtime, binary, logdir, timeout_s):
    """Runs the client of `runtime` against a fresh server; returns a problem or None."""
    port = matrix.free_port()
    server_log_path = os.path.join(logdir, "bookstore-%s.server.log" % runtime)
    client_log_path = os.path.join(logdir, "bookstore-%s.client.log" % runtime)
    with open(server_log_path, "w") as server_log:
        try:
            server = subprocess.Popen([PYTHON, SERVER, "--port=%d" % port], stdout=server_log,
                                      stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=INTEROP)
        except OSError as err:
            return "cannot start the server: %s" % err
    problem = None
    try:
        problem = matrix.wait_until_accepting(server, port, SERVER_START_TIMEOUT_S)
        if problem:
            return problem
        command = [binary, "--client", "--addr", "127.0.0.1:%d" % port]
        started = time.monotonic()
        with open(client_log_path, "w") as client_log:
            try:
                client = subprocess.Popen(command, stdout=client_log, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL, cwd=ROOT)
            except OSError as err:
                problem = "cannot start the client: %s" % err
                return problem
            try:
                code = client.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                code = None
            finally:
                matrix.stop(client)
        elapsed = time.monotonic() - started
        if code is None:
            problem = "the client did not finish within %ds (killed)" % timeout_s
        elif code != 0:
            problem = "the client exited with code %d after %.1fs" % (code, elapsed)
        else:
            print("PASS %s (%.1fs)" % (runtime, elapsed), flush=True)
        return problem
    finally:
        matrix.stop(server)
        if problem:
            print("FAIL %s: %s" % (runtime, problem))
            if os.path.exists(client_log_path):
                sys.stdout.write("  client output (%s):\n%s" % (client_log_path, indented(read(client_log_path))))
            sys.stdout.write("  server log (%s):\n%s" % (server_log_path, indented(read(server_log_path))))
            sys.stdout.flush()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runtimes", default=",".join(RUNTIMES), help="comma list (default: smol,tokio)")
    parser.add_argument("--timeout", type=float, default=CLIENT_TIMEOUT_S,
                        help="seconds each client may run (default %d)" % CLIENT_TIMEOUT_S)
    parser.add_argument("--logdir", default=None, help="keep binaries and logs here (default: a temp dir)")
    args = parser.parse_args(argv)

    runtimes = [n.strip() for n in args.runtimes.split(",") if n.strip()]
    unknown = [n for n in runtimes if n not in RUNTIMES]
    if unknown or not runtimes:
        raise SystemExit("unknown runtimes: %s (known: %s)" % (", ".join(unknown), ", ".join(RUNTIMES)))
    if not os.path.exists(PYTHON):
        raise SystemExit("interop/.venv is missing: run .ci/install-peers first")
    logdir = args.logdir or tempfile.mkdtemp(prefix="bookstore-peer-")
    os.makedirs(logdir, exist_ok=True)

    binaries = {}
    for runtime in runtimes:
        binaries[runtime], problem = build(runtime, logdir)
        if problem:
            raise SystemExit(problem)

    started = time.monotonic()
    failed = [runtime for runtime in runtimes
              if run_one(runtime, binaries[runtime], logdir, args.timeout) is not None]
    print("logs: %s; %d runtimes in %.1fs" % (logdir, len(runtimes), time.monotonic() - started))
    print("%d passed, %d failed" % (len(runtimes) - len(failed), len(failed)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
