#!/usr/bin/env python3
"""grpc.testing interop client on grpcio (the gRPC C core).

Runs the cases of grpc/grpc doc/interop-test-descriptions.md against a server
and prints one line per case (PASS name / FAIL name: reason / SKIP name:
reason), then "N passed, M failed, K skipped". Exits 1 if any case failed.

Cases grpcio cannot run are listed in CANNOT_RUN with the reason. Such a case
still FAILs (with that reason) unless the caller names it in --skip, in which
case it is reported as SKIP with the reason; nothing is left out silently.
"""

import argparse
import sys
import threading

from common import (
    ECHO_INITIAL_KEY,
    ECHO_TRAILING_KEY,
    RAW_COMPRESSION_OPTIONS,
    empty_pb2,
    grpc,
    messages_pb2,
    parse_bool,
    raw_decoder,
    test_pb2_grpc,
)

m = messages_pb2

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

CANNOT_RUN = {
    "client_compressed_streaming": (
        "grpcio's client API has no per-message compression control: request "
        "messages are always sent with write flags 0 (grpc/_channel.py), so one "
        "stream cannot carry a compressed message followed by an uncompressed one"
    ),
}

ECHO_INITIAL_VALUE = "test_initial_metadata_value"
ECHO_TRAILING_VALUE = b"\xab\xab\xab"
STATUS_MESSAGE = "test status message"
SPECIAL_STATUS_MESSAGE = "\t\ntest with whitespace\r\nand Unicode BMP \u263a and non-BMP \U0001f608\t\n"


class CaseFailed(Exception):
    pass


def check(condition, message):
    if not condition:
        raise CaseFailed(message)


def check_payload(payload, size):
    check(payload.type == m.COMPRESSABLE, "payload type %d, want COMPRESSABLE" % payload.type)
    check(len(payload.body) == size, "payload body %d bytes, want %d" % (len(payload.body), size))
    check(payload.body == bytes(size), "payload body is not all zeros")


def expect_error(call_fn, code, what):
    """Runs call_fn, which must raise grpc.RpcError with `code`."""
    try:
        call_fn()
    except grpc.RpcError as err:
        check(err.code() == code, "%s: status %s (%r), want %s" % (what, err.code(), err.details(), code))
        return err
    raise CaseFailed("%s: call succeeded, want %s" % (what, code))


class Pipe:
    """A request iterator the test feeds one message at a time."""

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


def large_request(**extra):
    return m.SimpleRequest(
        response_type=m.COMPRESSABLE,
        response_size=314159,
        payload=m.Payload(body=bytes(271828)),
        **extra,
    )


def streaming_request(response_size, payload_size, **extra):
    return m.StreamingOutputCallRequest(
        response_type=m.COMPRESSABLE,
        response_parameters=[m.ResponseParameters(size=response_size)],
        payload=m.Payload(body=bytes(payload_size)),
        **extra,
    )


class Cases:
    def __init__(self, channel, raw_channel, deadline):
        self.stub = test_pb2_grpc.TestServiceStub(channel)
        self.unimplemented = test_pb2_grpc.UnimplementedServiceStub(channel)
        self.deadline = deadline
        # Raw-mode calls: the response deserializer sees the compressed flag.
        self.raw_unary = raw_channel.unary_unary(
            "/grpc.testing.TestService/UnaryCall",
            request_serializer=m.SimpleRequest.SerializeToString,
            response_deserializer=raw_decoder(m.SimpleResponse),
        )
        self.raw_server_stream = raw_channel.unary_stream(
            "/grpc.testing.TestService/StreamingOutputCall",
            request_serializer=m.StreamingOutputCallRequest.SerializeToString,
            response_deserializer=raw_decoder(m.StreamingOutputCallResponse),
        )

    def empty_unary(self):
        response = self.stub.EmptyCall(empty_pb2.Empty(), timeout=self.deadline)
        check(isinstance(response, empty_pb2.Empty), "response is %r, want Empty" % type(response))

    def large_unary(self):
        response = self.stub.UnaryCall(large_request(), timeout=self.deadline)
        check_payload(response.payload, 314159)

    def client_compressed_unary(self):
        expect_error(
            lambda: self.stub.UnaryCall(
                large_request(expect_compressed=m.BoolValue(value=True)), timeout=self.deadline
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            "uncompressed probe with expect_compressed=true",
        )
        response = self.stub.UnaryCall(
            large_request(expect_compressed=m.BoolValue(value=True)),
            timeout=self.deadline,
            compression=grpc.Compression.Gzip,
        )
        check_payload(response.payload, 314159)
        response = self.stub.UnaryCall(
            large_request(expect_compressed=m.BoolValue(value=False)), timeout=self.deadline
        )
        check_payload(response.payload, 314159)

    def server_compressed_unary(self):
        for compressed in (True, False):
            received = self.raw_unary(
                large_request(response_compressed=m.BoolValue(value=compressed)),
                timeout=self.deadline,
            )
            check(
                received.compressed == compressed,
                "response_compressed=%s but the response's compressed flag is %s"
                % (compressed, received.compressed),
            )
            check_payload(received.message.payload, 314159)

    def client_streaming(self):
        sizes = (27182, 8, 1828, 45904)
        requests = (m.StreamingInputCallRequest(payload=m.Payload(body=bytes(n))) for n in sizes)
        response = self.stub.StreamingInputCall(requests, timeout=self.deadline)
        check(
            response.aggregated_payload_size == 74922,
            "aggregated_payload_size %d, want 74922" % response.aggregated_payload_size,
        )

    def client_compressed_streaming(self):
        raise CaseFailed("not supported by this client: " + CANNOT_RUN["client_compressed_streaming"])

    def server_streaming(self):
        sizes = (31415, 9, 2653, 58979)
        request = m.StreamingOutputCallRequest(
            response_type=m.COMPRESSABLE,
            response_parameters=[m.ResponseParameters(size=n) for n in sizes],
        )
        responses = list(self.stub.StreamingOutputCall(request, timeout=self.deadline))
        check(len(responses) == 4, "%d responses, want 4" % len(responses))
        for response, size in zip(responses, sizes):
            check_payload(response.payload, size)

    def server_compressed_streaming(self):
        request = m.StreamingOutputCallRequest(
            response_type=m.COMPRESSABLE,
            response_parameters=[
                m.ResponseParameters(size=31415, compressed=m.BoolValue(value=True)),
                m.ResponseParameters(size=92653, compressed=m.BoolValue(value=False)),
            ],
        )
        responses = list(self.raw_server_stream(request, timeout=self.deadline))
        check(len(responses) == 2, "%d responses, want 2" % len(responses))
        for received, size, compressed in zip(responses, (31415, 92653), (True, False)):
            check(
                received.compressed == compressed,
                "response of %d bytes: compressed flag %s, want %s"
                % (size, received.compressed, compressed),
            )
            check_payload(received.message.payload, size)

    def ping_pong(self):
        pipe = Pipe()
        responses = self.stub.FullDuplexCall(pipe, timeout=self.deadline)
        try:
            for response_size, payload_size in zip((31415, 9, 2653, 58979), (27182, 8, 1828, 45904)):
                pipe.add(streaming_request(response_size, payload_size))
                response = next(responses, None)
                check(response is not None, "stream ended before the reply of %d bytes" % response_size)
                check_payload(response.payload, response_size)
        finally:
            pipe.close()
        check(next(responses, None) is None, "more than 4 responses")
        check(responses.code() == grpc.StatusCode.OK, "status %s, want OK" % responses.code())

    def empty_stream(self):
        pipe = Pipe()
        pipe.close()
        responses = list(self.stub.FullDuplexCall(pipe, timeout=self.deadline))
        check(len(responses) == 0, "%d responses, want 0" % len(responses))

    def timeout_on_sleeping_server(self):
        pipe = Pipe()
        responses = self.stub.FullDuplexCall(pipe, timeout=0.001)
        pipe.add(m.StreamingOutputCallRequest(response_type=m.COMPRESSABLE, payload=m.Payload(body=bytes(27182))))
        try:
            expect_error(lambda: next(responses), grpc.StatusCode.DEADLINE_EXCEEDED, "FullDuplexCall with 1ms deadline")
        finally:
            pipe.close()

    def cancel_after_begin(self):
        pipe = Pipe()
        future = self.stub.StreamingInputCall.future(pipe, timeout=self.deadline)
        future.cancel()
        pipe.close()
        check(future.cancelled(), "future not cancelled")
        check(future.code() == grpc.StatusCode.CANCELLED, "status %s, want CANCELLED" % future.code())

    def cancel_after_first_response(self):
        pipe = Pipe()
        responses = self.stub.FullDuplexCall(pipe, timeout=self.deadline)
        try:
            pipe.add(streaming_request(31415, 27182))
            response = next(responses)
            check_payload(response.payload, 31415)
            responses.cancel()
            expect_error(lambda: next(responses), grpc.StatusCode.CANCELLED, "read after cancel")
            check(responses.code() == grpc.StatusCode.CANCELLED, "status %s, want CANCELLED" % responses.code())
        finally:
            pipe.close()

    def _check_echoed_metadata(self, call, what):
        initial = [v for k, v in call.initial_metadata() if k == ECHO_INITIAL_KEY]
        check(initial == [ECHO_INITIAL_VALUE], "%s: initial metadata %s=%r, want [%r]" % (what, ECHO_INITIAL_KEY, initial, ECHO_INITIAL_VALUE))
        trailing = [v for k, v in call.trailing_metadata() if k == ECHO_TRAILING_KEY]
        check(trailing == [ECHO_TRAILING_VALUE], "%s: trailing metadata %s=%r, want [%r]" % (what, ECHO_TRAILING_KEY, trailing, ECHO_TRAILING_VALUE))

    def custom_metadata(self):
        metadata = ((ECHO_INITIAL_KEY, ECHO_INITIAL_VALUE), (ECHO_TRAILING_KEY, ECHO_TRAILING_VALUE))
        response, call = self.stub.UnaryCall.with_call(large_request(), metadata=metadata, timeout=self.deadline)
        check_payload(response.payload, 314159)
        self._check_echoed_metadata(call, "UnaryCall")

        pipe = Pipe()
        responses = self.stub.FullDuplexCall(pipe, metadata=metadata, timeout=self.deadline)
        pipe.add(streaming_request(314159, 271828))
        pipe.close()
        received = list(responses)
        check(len(received) == 1, "FullDuplexCall: %d responses, want 1" % len(received))
        check_payload(received[0].payload, 314159)
        check(responses.code() == grpc.StatusCode.OK, "FullDuplexCall: status %s, want OK" % responses.code())
        self._check_echoed_metadata(responses, "FullDuplexCall")

    def _check_status(self, err, message, what):
        check(err.code() == grpc.StatusCode.UNKNOWN, "%s: status %s, want UNKNOWN (2)" % (what, err.code()))
        check(err.details() == message, "%s: message %r, want %r" % (what, err.details(), message))

    def status_code_and_message(self):
        echo = m.EchoStatus(code=2, message=STATUS_MESSAGE)
        err = expect_error(
            lambda: self.stub.UnaryCall(m.SimpleRequest(response_status=echo), timeout=self.deadline),
            grpc.StatusCode.UNKNOWN,
            "UnaryCall",
        )
        self._check_status(err, STATUS_MESSAGE, "UnaryCall")

        pipe = Pipe()
        responses = self.stub.FullDuplexCall(pipe, timeout=self.deadline)
        pipe.add(m.StreamingOutputCallRequest(response_status=echo))
        pipe.close()
        err = expect_error(lambda: list(responses), grpc.StatusCode.UNKNOWN, "FullDuplexCall")
        self._check_status(err, STATUS_MESSAGE, "FullDuplexCall")

    def special_status_message(self):
        echo = m.EchoStatus(code=2, message=SPECIAL_STATUS_MESSAGE)
        err = expect_error(
            lambda: self.stub.UnaryCall(m.SimpleRequest(response_status=echo), timeout=self.deadline),
            grpc.StatusCode.UNKNOWN,
            "UnaryCall",
        )
        self._check_status(err, SPECIAL_STATUS_MESSAGE, "UnaryCall")

    def unimplemented_method(self):
        expect_error(
            lambda: self.stub.UnimplementedCall(empty_pb2.Empty(), timeout=self.deadline),
            grpc.StatusCode.UNIMPLEMENTED,
            "TestService/UnimplementedCall",
        )

    def unimplemented_service(self):
        expect_error(
            lambda: self.unimplemented.UnimplementedCall(empty_pb2.Empty(), timeout=self.deadline),
            grpc.StatusCode.UNIMPLEMENTED,
            "UnimplementedService/UnimplementedCall",
        )


def parse_case_list(text, what):
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in CASES]
    if unknown:
        raise SystemExit("unknown %s: %s (known: %s)" % (what, ", ".join(unknown), ", ".join(CASES)))
    return names


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server_host", default="127.0.0.1")
    parser.add_argument("--server_host_override", default=None, help="accepted for compatibility; TLS only")
    parser.add_argument("--server_port", type=int, required=True)
    parser.add_argument("--test_case", default="all", help="a case, a comma list, or all")
    parser.add_argument("--use_tls", type=parse_bool, default=False)
    parser.add_argument("--skip", default="", help="comma list of cases to report as SKIP (the caller documents why)")
    parser.add_argument("--deadline_s", type=float, default=20.0, help="deadline of every call except the 1ms one")
    args = parser.parse_args(argv)
    if args.use_tls:
        sys.stderr.write("this peer speaks plaintext only; pass --use_tls=false\n")
        return 2

    selected = CASES if args.test_case == "all" else parse_case_list(args.test_case, "test case")
    skipped = set(parse_case_list(args.skip, "case in --skip"))

    target = "%s:%d" % (args.server_host, args.server_port)
    channel = grpc.insecure_channel(target)
    raw_channel = grpc.insecure_channel(target, options=RAW_COMPRESSION_OPTIONS)
    try:
        grpc.channel_ready_future(channel).result(timeout=args.deadline_s)
    except grpc.FutureTimeoutError:
        print("FAIL connect: no connection to %s within %ss" % (target, args.deadline_s), flush=True)
        print("0 passed, %d failed" % len(selected), flush=True)
        return 1

    cases = Cases(channel, raw_channel, args.deadline_s)
    passed = failed = skip_count = 0
    for name in selected:
        if name in skipped:
            reason = CANNOT_RUN.get(name, "skipped by the caller (--skip)")
            print("SKIP %s: %s" % (name, reason), flush=True)
            skip_count += 1
            continue
        try:
            getattr(cases, name)()
        except CaseFailed as err:
            print("FAIL %s: %s" % (name, err), flush=True)
            failed += 1
        except grpc.RpcError as err:
            print("FAIL %s: unexpected status %s: %r" % (name, err.code(), err.details()), flush=True)
            failed += 1
        except Exception as err:  # a broken case must be reported, not crash the run
            print("FAIL %s: %s: %s" % (name, type(err).__name__, err), flush=True)
            failed += 1
        else:
            print("PASS %s" % name, flush=True)
            passed += 1
    channel.close()
    raw_channel.close()
    summary = "%d passed, %d failed" % (passed, failed)
    if skip_count:
        summary += ", %d skipped" % skip_count
    print(summary, flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
