#!/usr/bin/env python3
"""Checks ferrule's standard services with clients ferrule did not write.

Run with the interop venv (made by .ci/install-peers), from anywhere:

    interop/.venv/bin/python interop/standard-services/check.py

It builds and starts `ferrule-standard-services serve` on 127.0.0.1 (an
ephemeral port the server reports), then runs:

- health (grpcio-health-checking's stub): Check for the whole server, a
  served service and an unknown one (NOT_FOUND); Watch of a service through a
  status change made at run time, and of an unknown service (SERVICE_UNKNOWN,
  then SERVING once it is set);
- reflection with grpcio-reflection's ProtoReflectionDescriptorDatabase
  behind a protobuf DescriptorPool, over v1alpha (the package's own stub) and
  over v1 (the same client with its stub pointed at the v1 path, as the
  package has no v1 client): list services, fetch files by name and by
  symbol with their dependencies, extension numbers, then a GetBook call
  whose request and response classes come only from the reflected schema;
- `buf curl` (npm @bufbuild/buf, installed in interop/tools by
  .ci/install-peers) with `--protocol grpc --http2-prior-knowledge`, over each
  reflection protocol: list the services, call GetBook with a JSON body;
- grpcio-status: `rpc_status.from_call` decodes the ten standard error
  details ferrule sends;
- the other way: a grpcio server aborts with the same ten details and
  `ferrule-standard-services call-details` decodes them;
- the bookstore example (`--serve`) answers health Check and `buf curl`
  through reflection.

Prints `PASS name` / `FAIL name: reason` per check, then
`N passed, M failed`; exits 1 if any check failed. Everything it starts is
stopped by its PID; every call has a deadline.
"""

import argparse
import json
import os
import queue
import subprocess
import sys
import threading
import time
import traceback
from concurrent import futures
from pathlib import Path

import grpc
from google.protobuf import any_pb2, descriptor_pool, duration_pb2, message_factory
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)
from grpc_status import rpc_status

ROOT = Path(__file__).resolve().parents[2]
BUF = ROOT / "interop" / "tools" / "node_modules" / ".bin" / "buf"
DEADLINE = 15  # seconds, for every call
SET_STATUS = "/ferrule.check.Control/SetStatus"
GET_BOOK = "/bookstore.Bookstore/GetBook"
DETAILS_MESSAGE = "the sample error details"
SERVICES = [
    "bookstore.Bookstore",
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
]


def sample_details():
    """The ten standard details ferrule's sample_details() builds, by type."""
    return [
        error_details_pb2.ErrorInfo(
            reason="BOOK_LOCKED",
            domain="bookstore.example",
            metadata={"book": "details", "shelf": "7"},
        ),
        error_details_pb2.RetryInfo(
            retry_delay=duration_pb2.Duration(seconds=1, nanos=500_000_000)
        ),
        error_details_pb2.DebugInfo(
            stack_entries=["bookstore.rs:10", "main.rs:20"], detail="sample stack"
        ),
        error_details_pb2.QuotaFailure(
            violations=[
                error_details_pb2.QuotaFailure.Violation(
                    subject="user:42", description="daily lookups exceeded"
                )
            ]
        ),
        error_details_pb2.PreconditionFailure(
            violations=[
                error_details_pb2.PreconditionFailure.Violation(
                    type="TOS",
                    subject="user:42",
                    description="terms of service not accepted",
                )
            ]
        ),
        error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(
                    field="id", description="must be a number"
                ),
                error_details_pb2.BadRequest.FieldViolation(
                    field="shelf", description="unknown shelf"
                ),
            ]
        ),
        error_details_pb2.RequestInfo(request_id="req-7", serving_data="shard 3"),
        error_details_pb2.ResourceInfo(
            resource_type="book",
            resource_name="details",
            owner="shop",
            description="the book is locked",
        ),
        error_details_pb2.Help(
            links=[
                error_details_pb2.Help.Link(
                    description="locking", url="https://example.invalid/locks"
                )
            ]
        ),
        error_details_pb2.LocalizedMessage(
            locale="en-US", message="That book is locked."
        ),
    ]


class CheckFailed(Exception):
    pass


def expect(condition, message):
    if not condition:
        raise CheckFailed(message)


def encode_get_book_request(book_id):
    """bookstore.GetBookRequest{id}: field 1, length-delimited."""
    raw = book_id.encode()
    assert len(raw) < 128
    return b"\x0a" + bytes([len(raw)]) + raw


class FerruleServer:
    """A ferrule server process that prints its address, its output collected
    by a thread."""

    def __init__(self, command, announce="listening on "):
        self.process = subprocess.Popen(
            [str(part) for part in command],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        self.lines = queue.Queue()
        self.log = []
        threading.Thread(target=self._read, daemon=True).start()
        self.addr = None
        deadline = time.monotonic() + 30
        while self.addr is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.stop()
                raise RuntimeError("the ferrule server did not report its address")
            try:
                line = self.lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                raise RuntimeError("the ferrule server exited:\n" + "".join(self.log))
            if line.startswith(announce):
                self.addr = line.split()[-1]

    def _read(self):
        for line in self.process.stdout:
            self.log.append(line)
            self.lines.put(line)
        self.lines.put(None)

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


# ------------------------------------------------------------------ health


def set_status(channel, service, status):
    control = channel.unary_unary(SET_STATUS)
    control(f"{service}={status}".encode(), timeout=DEADLINE)


def check_health_check(channel):
    stub = health_pb2_grpc.HealthStub(channel)
    serving = health_pb2.HealthCheckResponse.SERVING
    for service in ["", "bookstore.Bookstore"]:
        response = stub.Check(
            health_pb2.HealthCheckRequest(service=service), timeout=DEADLINE
        )
        expect(
            response.status == serving,
            f"Check({service!r}) = {response.status}, not SERVING",
        )
    try:
        stub.Check(health_pb2.HealthCheckRequest(service="no.Such"), timeout=DEADLINE)
        raise CheckFailed("Check of an unknown service succeeded")
    except grpc.RpcError as error:
        expect(
            error.code() == grpc.StatusCode.NOT_FOUND,
            f"Check of an unknown service: {error.code()}, not NOT_FOUND",
        )


def next_status(responses, what):
    try:
        return next(responses).status
    except StopIteration:
        raise CheckFailed(f"the watch ended before {what}")


def check_health_watch(channel):
    stub = health_pb2_grpc.HealthStub(channel)
    statuses = health_pb2.HealthCheckResponse
    watch = stub.Watch(
        health_pb2.HealthCheckRequest(service="bookstore.Bookstore"), timeout=DEADLINE
    )
    try:
        seen = [next_status(watch, "the first message")]
        set_status(channel, "bookstore.Bookstore", "NOT_SERVING")
        seen.append(next_status(watch, "NOT_SERVING"))
        set_status(channel, "bookstore.Bookstore", "SERVING")
        seen.append(next_status(watch, "SERVING again"))
        want = [statuses.SERVING, statuses.NOT_SERVING, statuses.SERVING]
        expect(seen == want, f"Watch saw {seen}, expected {want}")
    finally:
        watch.cancel()

    later = stub.Watch(
        health_pb2.HealthCheckRequest(service="later.Service"), timeout=DEADLINE
    )
    try:
        seen = [next_status(later, "the first message")]
        set_status(channel, "later.Service", "SERVING")
        seen.append(next_status(later, "SERVING"))
        set_status(channel, "later.Service", "CLEAR")
        seen.append(next_status(later, "SERVICE_UNKNOWN again"))
        want = [statuses.SERVICE_UNKNOWN, statuses.SERVING, statuses.SERVICE_UNKNOWN]
        expect(seen == want, f"Watch of a later service saw {seen}, expected {want}")
    finally:
        later.cancel()


# -------------------------------------------------------------- reflection


class V1Stub:
    """grpcio-reflection's stub shape, on the v1 path (same messages on the wire)."""

    def __init__(self, channel):
        self.ServerReflectionInfo = channel.stream_stream(
            "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
            request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
            response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
        )


def with_deadline(stub):
    """Wraps a stub so every reflection call carries a deadline."""
    method = stub.ServerReflectionInfo

    class Bounded:
        def ServerReflectionInfo(self, requests):
            return method(requests, timeout=DEADLINE)

    return Bounded()


def check_reflection(channel, version):
    db = ProtoReflectionDescriptorDatabase(channel)
    if version == "v1":
        db._stub = V1Stub(channel)
    db._stub = with_deadline(db._stub)

    services = sorted(db.get_services())
    expect(services == SERVICES, f"get_services() = {services}")

    bookstore = db.FindFileByName("bookstore.proto")
    expect(bookstore.package == "bookstore", f"bookstore.proto package {bookstore.package!r}")
    expect(
        set(bookstore.dependency)
        == {"google/protobuf/empty.proto", "google/protobuf/timestamp.proto"},
        f"bookstore.proto imports {list(bookstore.dependency)}",
    )
    # The dependencies came with the file: the database has them without
    # asking the server again.
    for dependency in bookstore.dependency:
        expect(dependency in db._known_files, f"{dependency} was not sent with bookstore.proto")

    for symbol, file in [
        ("grpc.health.v1.Health", "grpc/health/v1/health.proto"),
        ("grpc.health.v1.HealthCheckResponse.ServingStatus", "grpc/health/v1/health.proto"),
        ("grpc.reflection.v1.ServerReflection", "grpc/reflection/v1/reflection.proto"),
        (
            "grpc.reflection.v1alpha.ServerReflection.ServerReflectionInfo",
            "grpc/reflection/v1alpha/reflection.proto",
        ),
    ]:
        found = db.FindFileContainingSymbol(symbol)
        expect(found.name == file, f"{symbol} is in {found.name}, not {file}")
    try:
        db.FindFileContainingSymbol("bookstore.Nope")
        raise CheckFailed("an unknown symbol was found")
    except KeyError:
        pass
    try:
        db.FindFileByName("nope.proto")
        raise CheckFailed("an unknown file was found")
    except KeyError:
        pass
    numbers = list(db.FindAllExtensionNumbers("bookstore.Book"))
    expect(numbers == [], f"extension numbers of bookstore.Book: {numbers}")

    # A call built only from the reflected schema.
    pool = descriptor_pool.DescriptorPool(db)
    method = pool.FindServiceByName("bookstore.Bookstore").FindMethodByName("GetBook")
    request_class = message_factory.GetMessageClass(method.input_type)
    response_class = message_factory.GetMessageClass(method.output_type)
    get_book = channel.unary_unary(
        f"/bookstore.Bookstore/{method.name}",
        request_serializer=request_class.SerializeToString,
        response_deserializer=response_class.FromString,
    )
    book = get_book(request_class(id="1"), timeout=DEADLINE)
    expect(
        book.title == "The Rust Programming Language"
        and book.published.ToJsonString() == "2018-08-01T00:00:00Z",
        f"GetBook through the reflected schema returned {book}",
    )


def check_reflection_wrong_path(channel):
    """The version in the path matters: an unknown one is UNIMPLEMENTED."""
    method = channel.stream_stream(
        "/grpc.reflection.v2.ServerReflection/ServerReflectionInfo",
        request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
        response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
    )
    try:
        list(method(iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=DEADLINE))
        raise CheckFailed("a v2 reflection call succeeded")
    except grpc.RpcError as error:
        expect(
            error.code() == grpc.StatusCode.UNIMPLEMENTED,
            f"a v2 reflection call ended {error.code()}, not UNIMPLEMENTED",
        )


def buf_curl(addr, protocol, *args):
    command = [
        str(BUF),
        "curl",
        "--protocol",
        "grpc",
        "--http2-prior-knowledge",
        "--reflect-protocol",
        protocol,
        *args,
    ]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL
    )
    if result.returncode != 0:
        raise CheckFailed(
            f"{' '.join(command)} exited {result.returncode}: {result.stderr.strip()}"
        )
    return result.stdout


def check_buf_curl(addr, protocol):
    listed = buf_curl(addr, protocol, "--list-services", f"http://{addr}").split()
    expect(sorted(listed) == SERVICES, f"buf curl --list-services printed {listed}")
    output = buf_curl(addr, protocol, "-d", '{"id": "1"}', f"http://{addr}{GET_BOOK}")
    book = json.loads(output)
    expect(
        book.get("title") == "The Rust Programming Language"
        and book.get("published") == "2018-08-01T00:00:00Z",
        f"buf curl GetBook printed {output!r}",
    )


def check_bookstore_example(addr):
    """The bookstore example registers health and reflection."""
    with grpc.insecure_channel(addr) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for service in ["", "bookstore.Bookstore"]:
            response = stub.Check(
                health_pb2.HealthCheckRequest(service=service), timeout=DEADLINE
            )
            expect(
                response.status == health_pb2.HealthCheckResponse.SERVING,
                f"Check({service!r}) = {response.status}",
            )
    listed = sorted(buf_curl(addr, "grpc-v1", "--list-services", f"http://{addr}").split())
    expect(listed == SERVICES, f"buf curl --list-services printed {listed}")
    output = buf_curl(addr, "grpc-v1alpha", "-d", '{"id": "1"}', f"http://{addr}{GET_BOOK}")
    expect(
        json.loads(output).get("title") == "The Rust Programming Language",
        f"buf curl GetBook printed {output!r}",
    )


# ------------------------------------------------------------ rich details


def check_grpcio_status_decodes_ferrule(channel):
    get_book = channel.unary_unary(GET_BOOK)
    try:
        get_book(encode_get_book_request("details"), timeout=DEADLINE)
        raise CheckFailed('GetBook("details") succeeded')
    except grpc.RpcError as error:
        rich = rpc_status.from_call(error)
    expect(rich is not None, "no grpc-status-details-bin trailer")
    expect(
        rich.code == code_pb2.FAILED_PRECONDITION and rich.message == DETAILS_MESSAGE,
        f"google.rpc.Status {rich.code} {rich.message!r}",
    )
    expected = {type(m).DESCRIPTOR.full_name: m for m in sample_details()}
    got = {}
    for packed in rich.details:
        name = packed.TypeName()
        expect(name in expected, f"unexpected detail type {name}")
        message = type(expected[name])()
        expect(packed.Unpack(message), f"{name} does not unpack")
        expect(name not in got, f"{name} sent twice")
        got[name] = message
    missing = sorted(set(expected) - set(got))
    expect(not missing, f"missing details {missing}")
    for name, message in expected.items():
        expect(got[name] == message, f"{name}: got {got[name]}, expected {message}")


def start_grpcio_details_server():
    def get_book(request, context):
        details = []
        for message in sample_details():
            packed = any_pb2.Any()
            packed.Pack(message)
            details.append(packed)
        context.abort_with_status(
            rpc_status.to_status(
                status_pb2.Status(
                    code=code_pb2.FAILED_PRECONDITION,
                    message=DETAILS_MESSAGE,
                    details=details,
                )
            )
        )

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    server.add_generic_rpc_handlers(
        [
            grpc.method_handlers_generic_handler(
                "bookstore.Bookstore",
                {"GetBook": grpc.unary_unary_rpc_method_handler(get_book)},
            )
        ]
    )
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, port


def check_ferrule_decodes_grpcio(binary):
    server, port = start_grpcio_details_server()
    try:
        result = subprocess.run(
            [str(binary), "call-details", "--addr", f"127.0.0.1:{port}"],
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
    finally:
        server.stop(grace=None)
    expect(
        result.returncode == 0,
        f"call-details exited {result.returncode}: {result.stderr.strip()}\n{result.stdout}",
    )
    expect(
        "all ten standard details decoded as sent" in result.stdout,
        f"call-details printed {result.stdout!r}",
    )


# -------------------------------------------------------------------- main


def build():
    """Builds the check's server and the bookstore example; their paths."""
    for package, target in [
        ("ferrule-standard-services", []),
        ("ferrule-examples", ["--example", "bookstore"]),
    ]:
        subprocess.run(
            ["cargo", "build", "--quiet", "-p", package, *target],
            cwd=ROOT,
            check=True,
            stdin=subprocess.DEVNULL,
        )
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "debug"
    return target / "ferrule-standard-services", target / "examples" / "bookstore"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", help="a built ferrule-standard-services (default: cargo build)")
    parser.add_argument("--bookstore", help="a built bookstore example (default: cargo build)")
    parser.add_argument("-v", "--verbose", action="store_true", help="print the server's output")
    args = parser.parse_args()
    if not BUF.exists():
        print(f"missing {BUF}: run .ci/install-peers", file=sys.stderr)
        return 2
    if args.binary and args.bookstore:
        binary, bookstore = Path(args.binary), Path(args.bookstore)
    else:
        binary, bookstore = build()

    results = []

    def run(name, check, *check_args):
        started = time.monotonic()
        try:
            check(*check_args)
        except CheckFailed as failure:
            results.append((name, str(failure)))
            print(f"FAIL {name}: {failure}", flush=True)
            return
        except Exception:
            reason = traceback.format_exc().strip().splitlines()[-1]
            results.append((name, reason))
            print(f"FAIL {name}: {reason}", flush=True)
            if args.verbose:
                traceback.print_exc()
            return
        results.append((name, None))
        print(f"PASS {name} ({time.monotonic() - started:.2f} s)", flush=True)

    server = FerruleServer([binary, "serve", "--addr", "127.0.0.1:0"])
    print(f"ferrule server on {server.addr} (pid {server.process.pid})", flush=True)
    try:
        with grpc.insecure_channel(server.addr) as channel:
            run("health_check (grpcio-health-checking)", check_health_check, channel)
            run("health_watch with status changes (grpcio-health-checking)", check_health_watch, channel)
            run("reflection v1alpha (grpcio-reflection ProtoReflectionDescriptorDatabase)", check_reflection, channel, "v1alpha")
            run("reflection v1 (grpcio-reflection ProtoReflectionDescriptorDatabase on the v1 path)", check_reflection, channel, "v1")
            run("reflection unknown version is UNIMPLEMENTED", check_reflection_wrong_path, channel)
            run("buf curl over reflection v1 (list services, GetBook JSON)", check_buf_curl, server.addr, "grpc-v1")
            run("buf curl over reflection v1alpha (list services, GetBook JSON)", check_buf_curl, server.addr, "grpc-v1alpha")
            run("grpcio-status rpc_status.from_call decodes ferrule's details", check_grpcio_status_decodes_ferrule, channel)
        run("ferrule decodes the details a grpcio server sends", check_ferrule_decodes_grpcio, binary)
    finally:
        server.stop()
        if args.verbose:
            print("".join(server.log), end="")

    # The bookstore example runs its own client walk first, then serves.
    example = FerruleServer(
        [bookstore, "--serve", "--addr", "127.0.0.1:0"], announce="server: listening on "
    )
    try:
        run("bookstore example serves health and reflection (grpcio, buf curl)", check_bookstore_example, example.addr)
    finally:
        example.stop()
        if args.verbose:
            print("".join(example.log), end="")

    failed = sum(1 for _, reason in results if reason is not None)
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
