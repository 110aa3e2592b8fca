#!/usr/bin/env python3
"""Runs the grpc.testing interop cases for every client x server cell.

For each cell it starts the server on a free port on 127.0.0.1, waits until
the port accepts, runs the client with all cases, stops the server by its PID
and records one result per case. Prints a matrix and exits 1 if any case
failed or any cell could not run.

Adding an implementation is one line in SERVERS and one in CLIENTS; cases an
implementation genuinely cannot run go in CANNOT_RUN with the reason, and are
passed to the client as --skip and shown in the matrix as "skip" with that
reason. Only the Python standard library is used, so the system python3 runs
this file; the peers themselves need `.ci/install-peers` first.

When a ferrule cell is selected, the ferrule binaries are built first
(`cargo build --release -p ferrule-interop`; `--no-build` skips it). After the
matrix, `extra-checks.py` runs the 4 MiB limit and 100-concurrent-streams
checks between ferrule and the Python peer (`--no-extra` skips them).
"""

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time

INTEROP = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(INTEROP)
PYTHON = os.path.join(INTEROP, ".venv", "bin", "python")

# Command templates; {port} is the server's port, {interop} and {root} paths.
FERRULE_SERVER = "{root}/target/release/interop-server"
FERRULE_CLIENT = "{root}/target/release/interop-client"
SERVERS = {
    "python": [PYTHON, "{interop}/peers/python/server.py", "--port={port}", "--use_tls=false"],
    "node": ["node", "{interop}/peers/node/server.js", "--port={port}", "--use_tls=false"],
    "ferrule-smol": [FERRULE_SERVER, "--runtime=smol", "--port={port}", "--use_tls=false"],
    "ferrule-tokio": [FERRULE_SERVER, "--runtime=tokio", "--port={port}", "--use_tls=false"],
}
CLIENTS = {
    "python": [PYTHON, "{interop}/peers/python/client.py", "--server_host=127.0.0.1",
               "--server_port={port}", "--use_tls=false"],
    "node": ["node", "{interop}/peers/node/client.js", "--server_host=127.0.0.1",
             "--server_port={port}", "--use_tls=false"],
    "ferrule-smol": [FERRULE_CLIENT, "--runtime=smol", "--server_host=127.0.0.1",
                     "--server_port={port}", "--use_tls=false"],
    "ferrule-tokio": [FERRULE_CLIENT, "--runtime=tokio", "--server_host=127.0.0.1",
                      "--server_port={port}", "--use_tls=false"],
}

CASES = [
    "empty_unary",
    "large_unary",
    "client_compressed_unary",
    "server_compressed_unary",
    "client_streaming",
    "client_compressed_streaming",
    "server_streaming",
    "server_compressed_streaming",
    "ping_pong",
    "empty_stream",
    "timeout_on_sleeping_server",
    "cancel_after_begin",
    "cancel_after_first_response",
    "custom_metadata",
    "status_code_and_message",
    "special_status_message",
    "unimplemented_method",
    "unimplemented_service",
]

_GRPCJS_NO_RESPONSE_COMPRESSION = (
    "grpc-js servers cannot compress responses: @grpc/grpc-js 1.14.7 "
    "server-interceptors.js serializeMessage always writes compressed flag 0, and "
    "there is no per-call or per-message server compression API"
)

# (role, implementation) -> {case: reason it cannot be run}.
CANNOT_RUN = {
    ("client", "python"): {
        "client_compressed_streaming": (
            "grpcio's client API has no per-message compression control: request "
            "messages are always sent with write flags 0 (grpc/_channel.py), so one "
            "stream cannot carry a compressed message followed by an uncompressed one"
        ),
    },
    ("server", "node"): {
        "server_compressed_unary": _GRPCJS_NO_RESPONSE_COMPRESSION,
        "server_compressed_streaming": _GRPCJS_NO_RESPONSE_COMPRESSION,
    },
}

SERVER_START_TIMEOUT_S = 30
CELL_TIMEOUT_S = 300


def build_ferrule():
    """Builds the ferrule interop binaries (release); returns a problem or None."""
    started = time.monotonic()
    done = subprocess.run(["cargo", "build", "--release", "--quiet", "-p", "ferrule-interop",
                           "--bins"], cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        return "cargo build --release -p ferrule-interop failed:\n" + done.stdout + done.stderr
    print("built the ferrule interop binaries (release) in %.1fs" % (time.monotonic() - started))
    return None


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def expand(template, port):
    return [part.format(port=port, interop=INTEROP, root=ROOT) for part in template]


def wait_until_accepting(proc, port, timeout_s):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return "server exited with code %d before accepting" % proc.returncode
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return None
        except OSError:
            time.sleep(0.1)
    return "server did not accept on 127.0.0.1:%d within %ds" % (port, timeout_s)


def stop(proc):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def skips_for(client, server, cases):
    reasons = {}
    for role, name in (("client", client), ("server", server)):
        for case, reason in CANNOT_RUN.get((role, name), {}).items():
            if case in cases:
                reasons[case] = "%s %s: %s" % (name, role, reason)
    return reasons


def parse_client_output(text):
    """{case: (verdict, reason)} from PASS/FAIL/SKIP lines."""
    results = {}
    for line in text.splitlines():
        for verdict in ("PASS", "FAIL", "SKIP"):
            if line.startswith(verdict + " "):
                rest = line[len(verdict) + 1:]
                name, _, reason = rest.partition(":")
                results[name.strip()] = (verdict, reason.strip())
    return results


def run_cell(client, server, cases, logdir):
    """Returns ({case: (verdict, reason)}, problem or None)."""
    port = free_port()
    label = "%s-client_%s-server" % (client, server)
    server_log = open(os.path.join(logdir, label + ".server.log"), "w")
    try:
        proc = subprocess.Popen(expand(SERVERS[server], port), stdout=server_log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=INTEROP)
    except OSError as err:
        server_log.close()
        return {}, "cannot start the server: %s" % err
    try:
        problem = wait_until_accepting(proc, port, SERVER_START_TIMEOUT_S)
        if problem:
            return {}, problem
        skips = skips_for(client, server, cases)
        command = expand(CLIENTS[client], port) + ["--test_case=" + ",".join(cases)]
        if skips:
            command.append("--skip=" + ",".join(sorted(skips)))
        try:
            done = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                                  timeout=CELL_TIMEOUT_S, cwd=INTEROP)
        except subprocess.TimeoutExpired:
            return {}, "client did not finish within %ds" % CELL_TIMEOUT_S
        except OSError as err:
            return {}, "cannot start the client: %s" % err
        with open(os.path.join(logdir, label + ".client.log"), "w") as log:
            log.write(done.stdout + done.stderr)
        sys.stdout.write("--- %s client -> %s server (port %d)\n%s" % (client, server, port, done.stdout))
        if done.stderr.strip():
            sys.stdout.write("    [client stderr]\n" + "".join("    " + l + "\n" for l in done.stderr.splitlines()))
        results = parse_client_output(done.stdout)
        for case, reason in skips.items():
            if results.get(case, ("SKIP",))[0] == "SKIP":
                results[case] = ("SKIP", reason)
        missing = [c for c in cases if c not in results]
        for case in missing:
            results[case] = ("FAIL", "no result line from the client (exit code %d)" % done.returncode)
        if done.returncode != 0 and not any(v == "FAIL" for v, _ in results.values()):
            return results, "client exited with code %d without a failing case" % done.returncode
        return results, None
    finally:
        stop(proc)
        server_log.close()
        if proc.returncode not in (0, -15, None):
            sys.stdout.write("    [server exit code %d; log in %s]\n" % (proc.returncode, logdir))


def print_matrix(cells, cases, results):
    headers = ["%s->%s" % cell for cell in cells]
    width = max(len("case (client->server)"), *(len(c) for c in cases))
    col = max(8, *(len(h) for h in headers))
    print("\n%-*s  %s" % (width, "case (client->server)", "  ".join(h.ljust(col) for h in headers)))
    notes = []
    for case in cases:
        row = []
        for cell in cells:
            verdict, reason = results[cell].get(case, ("FAIL", "not run"))
            mark = {"PASS": "PASS", "FAIL": "FAIL", "SKIP": "skip"}[verdict]
            if verdict == "SKIP":
                if reason not in notes:
                    notes.append(reason)
                mark += "[%d]" % (notes.index(reason) + 1)
            row.append(mark.ljust(col))
        print("%-*s  %s" % (width, case, "  ".join(row)))
    for index, note in enumerate(notes, 1):
        print("[%d] %s" % (index, note))


def names(text, table, what):
    chosen = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in chosen if n not in table]
    if unknown:
        raise SystemExit("unknown %s: %s (known: %s)" % (what, ", ".join(unknown), ", ".join(table)))
    return chosen


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", default=",".join(CLIENTS), help="comma list (default: all)")
    parser.add_argument("--servers", default=",".join(SERVERS), help="comma list (default: all)")
    parser.add_argument("--cases", default="all", help="comma list or all")
    parser.add_argument("--logdir", default=None, help="keep client/server logs here (default: a temp dir)")
    parser.add_argument("--no-build", action="store_true",
                        help="use the ferrule binaries in target/release as they are")
    parser.add_argument("--no-extra", action="store_true",
                        help="skip extra-checks.py (4 MiB limits, 100 concurrent streams)")
    args = parser.parse_args(argv)

    clients = names(args.clients, CLIENTS, "client")
    servers = names(args.servers, SERVERS, "server")
    cases = CASES if args.cases == "all" else names(args.cases, CASES, "case")
    if not os.path.exists(PYTHON) and ("python" in clients or "python" in servers):
        raise SystemExit("interop/.venv is missing: run .ci/install-peers first")

    wants_ferrule = any(n.startswith("ferrule") for n in clients + servers)
    if wants_ferrule and not args.no_build:
        problem = build_ferrule()
        if problem:
            raise SystemExit(problem)

    logdir = args.logdir or tempfile.mkdtemp(prefix="peer-matrix-")
    os.makedirs(logdir, exist_ok=True)
    cells = [(c, s) for c in clients for s in servers]
    results = {}
    problems = []
    started = time.monotonic()
    for cell in cells:
        results[cell], problem = run_cell(cell[0], cell[1], cases, logdir)
        if problem:
            problems.append("%s client -> %s server: %s" % (cell[0], cell[1], problem))

    print_matrix(cells, cases, results)
    failures = [(cell, case, reason) for cell in cells for case, (verdict, reason)
                in results[cell].items() if verdict == "FAIL"]
    for (client, server), case, reason in failures:
        print("FAIL %s client -> %s server: %s: %s" % (client, server, case, reason))
    for problem in problems:
        print("ERROR " + problem)
    counts = {v: sum(1 for cell in cells for verdict, _ in results[cell].values() if verdict == v)
              for v in ("PASS", "FAIL", "SKIP")}
    counts["FAIL"] += sum(1 for cell in cells if not results[cell])  # a cell that never ran
    print("logs: %s; %d cells in %.1fs" % (logdir, len(cells), time.monotonic() - started))
    print("%d passed, %d failed, %d skipped" % (counts["PASS"], counts["FAIL"], counts["SKIP"]))
    extra_failed = False
    if wants_ferrule and not args.no_extra:
        print("\n=== extra checks (extra-checks.py) ===", flush=True)
        extra = subprocess.run([PYTHON, os.path.join(INTEROP, "extra-checks.py"), "--no-build"],
                               cwd=INTEROP, stdin=subprocess.DEVNULL)
        extra_failed = extra.returncode != 0
    return 1 if counts["FAIL"] or problems or extra_failed else 0


if __name__ == "__main__":
    sys.exit(main())
