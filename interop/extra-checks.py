#!/usr/bin/env python3
"""Checks beyond the interop cases, between ferrule and the grpcio peer.

For each ferrule runtime (smol, tokio):

- grpcio client -> ferrule server:
  - a request of exactly 4 MiB (the default receive limit) succeeds and one
    of 4 MiB + 1 byte fails with RESOURCE_EXHAUSTED (ferrule's limit);
  - a response of exactly 4 MiB succeeds and one of 4 MiB + 1 byte fails
    with RESOURCE_EXHAUSTED (grpcio's limit, on a message ferrule sent);
  - 100 FullDuplexCalls from one channel are open at the same time (each
    gets a reply, then all wait at a barrier before the second request), and
    all end OK. 100 is ferrule's default max_concurrent_streams;
  - a UnaryCall failed through response_status still carries the echoed
    x-grpc-test-echo-trailing-bin in its trailers (a handler's error status
    with metadata, seen by grpcio's RpcError.trailing_metadata()).
- ferrule client -> grpcio server: the client's `max_*_limit` cases, the same
  four checks seen from ferrule's side (ferrule's receive limit on responses,
  grpcio's on requests), and `error_trailers` (grpcio's trailers after
  context.abort reach ferrule's Status::metadata).

Prints `PASS name` / `FAIL name: reason` per check and `N passed, M failed`;
exits 1 if any failed. Run with the peers' venv python (the runner does):
interop/.venv/bin/python interop/extra-checks.py
"""

import argparse
import importlib.util
import os
import subprocess
import sys
import threading
import time

INTEROP = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(INTEROP, "peers", "python"))

from common import grpc, messages_pb2, test_pb2_grpc  # noqa: E402

_spec = importlib.util.spec_from_file_location("peer_matrix", os.path.join(INTEROP, "run-peer-matrix.py"))
matrix = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(matrix)

m = messages_pb2
LIMIT = 4 * 1024 * 1024
CONCURRENT_STREAMS = 100
DEADLINE_S = 30
ECHO_TRAILING_KEY = "x-grpc-test-echo-trailing-bin"
ECHO_TRAILING_VALUE = b"\xab\xab\xab"
RUNTIMES = ["smol", "tokio"]


class CheckFailed(Exception):
    pass


def sized(target, make):
    """make(n) for the n whose encoding is exactly `target` bytes."""
    n = max(target - 32, 0)
    while True:
        size = make(n).ByteSize()
        if size == target:
            return make(n), n
        if size > target:
            raise CheckFailed("no payload size encodes to exactly %d bytes" % target)
        n += 1


def unary_outcome(stub, request):
    """(status code, details, response) of one UnaryCall."""
    try:
        response = stub.UnaryCall(request, timeout=DEADLINE_S)
        return grpc.StatusCode.OK, "", response
    except grpc.RpcError as err:
        return err.code(), err.details(), None


def expect(outcome, code, what):
    got, details, _ = outcome
    if got != code:
        raise CheckFailed("%s: status %s (%r), want %s" % (what, got, details, code))


def request_limit(stub, over):
    target = LIMIT + over
    request, _ = sized(target, lambda n: m.SimpleRequest(response_size=1, payload=m.Payload(body=bytes(n))))
    want = grpc.StatusCode.RESOURCE_EXHAUSTED if over else grpc.StatusCode.OK
    expect(unary_outcome(stub, request), want, "UnaryCall with a %d-byte request" % target)


def response_limit(stub, over):
    target = LIMIT + over
    _, size = sized(target, lambda n: m.SimpleResponse(payload=m.Payload(body=bytes(n))))
    outcome = unary_outcome(stub, m.SimpleRequest(response_size=size))
    want = grpc.StatusCode.RESOURCE_EXHAUSTED if over else grpc.StatusCode.OK
    expect(outcome, want, "UnaryCall with a %d-byte response" % target)
    if not over and len(outcome[2].payload.body) != size:
        raise CheckFailed("response payload %d bytes, want %d" % (len(outcome[2].payload.body), size))


class Pipe:
    """A request iterator fed one message at a time."""

    def __init__(self):
        self._cond = threading.Condition()
        self._items = []
        self._open = True

    def __iter__(self):
        return self

    def __next__(self):
        with self._cond:
            while not self._items and self._open:
                self._cond.wait()
            if self._items:
                return self._items.pop(0)
            raise StopIteration

    def add(self, item):
        with self._cond:
            self._items.append(item)
            self._cond.notify()

    def close(self):
        with self._cond:
            self._open = False
            self._cond.notify()


def concurrent_streams(stub):
    barrier = threading.Barrier(CONCURRENT_STREAMS, timeout=DEADLINE_S)
    errors = []

    def one(index):
        pipe = Pipe()
        try:
            request = m.StreamingOutputCallRequest(
                response_parameters=[m.ResponseParameters(size=index + 1)],
                payload=m.Payload(body=bytes(index)),
            )
            responses = stub.FullDuplexCall(pipe, timeout=DEADLINE_S)
            pipe.add(request)
            first = next(responses)
            if len(first.payload.body) != index + 1:
                raise CheckFailed("stream %d: first reply %d bytes" % (index, len(first.payload.body)))
            barrier.wait()  # every stream is open and answered once
            pipe.add(request)
            second = next(responses)
            if len(second.payload.body) != index + 1:
                raise CheckFailed("stream %d: second reply %d bytes" % (index, len(second.payload.body)))
            pipe.close()
            if next(responses, None) is not None:
                raise CheckFailed("stream %d: more than two replies" % index)
            if responses.code() != grpc.StatusCode.OK:
                raise CheckFailed("stream %d: status %s" % (index, responses.code()))
        except threading.BrokenBarrierError:
            errors.append("stream %d: not all %d streams were open together within %ds"
                          % (index, CONCURRENT_STREAMS, DEADLINE_S))
        except grpc.RpcError as err:
            errors.append("stream %d: %s %r" % (index, err.code(), err.details()))
            barrier.abort()
        except CheckFailed as err:
            errors.append(str(err))
            barrier.abort()
        finally:
            pipe.close()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(CONCURRENT_STREAMS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise CheckFailed("%d of %d streams failed; first: %s" % (len(errors), CONCURRENT_STREAMS, errors[0]))


def error_trailers(stub):
    """A UnaryCall failed through response_status still echoes the trailing
    metadata: grpcio sees it on the RpcError."""
    request = m.SimpleRequest(response_status=m.EchoStatus(code=2, message="error with trailers"))
    try:
        stub.UnaryCall(request, timeout=DEADLINE_S, metadata=((ECHO_TRAILING_KEY, ECHO_TRAILING_VALUE),))
    except grpc.RpcError as err:
        if err.code() != grpc.StatusCode.UNKNOWN:
            raise CheckFailed("status %s (%r), want UNKNOWN" % (err.code(), err.details()))
        got = [v for k, v in (err.trailing_metadata() or ()) if k == ECHO_TRAILING_KEY]
        if got != [ECHO_TRAILING_VALUE]:
            raise CheckFailed("trailing metadata %s=%r, want [%r]" % (ECHO_TRAILING_KEY, got, ECHO_TRAILING_VALUE))
        return
    raise CheckFailed("the call succeeded, want UNKNOWN")


PYTHON_CLIENT_CHECKS = [
    ("request_at_limit", lambda stub: request_limit(stub, 0)),
    ("request_over_limit", lambda stub: request_limit(stub, 1)),
    ("response_at_limit", lambda stub: response_limit(stub, 0)),
    ("response_over_limit", lambda stub: response_limit(stub, 1)),
    ("concurrent_streams_100", concurrent_streams),
    ("error_trailers", error_trailers),
]
FERRULE_CLIENT_CASES = ["max_request_at_limit", "max_request_over_limit",
                        "max_response_at_limit", "max_response_over_limit", "error_trailers"]


class Results:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def report(self, name, problem):
        if problem is None:
            print("PASS %s" % name, flush=True)
            self.passed += 1
        else:
            print("FAIL %s: %s" % (name, problem), flush=True)
            self.failed += 1


def start_server(name, logdir):
    port = matrix.free_port()
    log = open(os.path.join(logdir, "extra_%s.server.log" % name), "w")
    proc = subprocess.Popen(matrix.expand(matrix.SERVERS[name], port), stdout=log,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=INTEROP)
    problem = matrix.wait_until_accepting(proc, port, matrix.SERVER_START_TIMEOUT_S)
    return proc, log, port, problem


def python_client_against(runtime, results, logdir):
    server = "ferrule-" + runtime
    proc, log, port, problem = start_server(server, logdir)
    try:
        label = "python client -> %s server" % server
        if problem:
            for name, _ in PYTHON_CLIENT_CHECKS:
                results.report("%s: %s" % (label, name), problem)
            return
        channel = grpc.insecure_channel("127.0.0.1:%d" % port)
        stub = test_pb2_grpc.TestServiceStub(channel)
        for name, check in PYTHON_CLIENT_CHECKS:
            started = time.monotonic()
            try:
                check(stub)
                problem = None
            except CheckFailed as err:
                problem = str(err)
            except grpc.RpcError as err:
                problem = "unexpected status %s %r" % (err.code(), err.details())
            results.report("%s: %s (%.2fs)" % (label, name, time.monotonic() - started)
                           if problem is None else "%s: %s" % (label, name), problem)
        channel.close()
    finally:
        matrix.stop(proc)
        log.close()


def ferrule_client_against_python(runtime, results, logdir):
    proc, log, port, problem = start_server("python", logdir)
    label = "ferrule-%s client -> python server" % runtime
    try:
        if problem:
            for case in FERRULE_CLIENT_CASES:
                results.report("%s: %s" % (label, case), problem)
            return
        command = matrix.expand(matrix.CLIENTS["ferrule-" + runtime], port)
        command.append("--test_case=" + ",".join(FERRULE_CLIENT_CASES))
        done = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                              timeout=120, cwd=INTEROP)
        seen = matrix.parse_client_output(done.stdout)
        for case in FERRULE_CLIENT_CASES:
            verdict, reason = seen.get(case, ("FAIL", "no result line (exit code %d): %s"
                                              % (done.returncode, done.stderr.strip())))
            results.report("%s: %s" % (label, case), None if verdict == "PASS" else reason)
    finally:
        matrix.stop(proc)
        log.close()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runtimes", default=",".join(RUNTIMES), help="comma list of ferrule runtimes")
    parser.add_argument("--no-build", action="store_true", help="use target/release as it is")
    parser.add_argument("--logdir", default=None)
    args = parser.parse_args(argv)
    runtimes = [r for r in args.runtimes.split(",") if r]
    unknown = [r for r in runtimes if r not in RUNTIMES]
    if unknown:
        raise SystemExit("unknown runtime: %s" % ", ".join(unknown))
    if not args.no_build:
        problem = matrix.build_ferrule()
        if problem:
            raise SystemExit(problem)
    logdir = args.logdir or matrix.tempfile.mkdtemp(prefix="extra-checks-")
    os.makedirs(logdir, exist_ok=True)
    started = time.monotonic()
    results = Results()
    for runtime in runtimes:
        python_client_against(runtime, results, logdir)
        ferrule_client_against_python(runtime, results, logdir)
    print("extra checks: logs in %s; %.1fs" % (logdir, time.monotonic() - started))
    print("%d passed, %d failed" % (results.passed, results.failed), flush=True)
    return 1 if results.failed else 0


if __name__ == "__main__":
    sys.exit(main())
