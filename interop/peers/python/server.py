#!/usr/bin/env python3
"""grpc.testing.TestService interop server on grpcio (the gRPC C core).

Implements the server features of grpc/grpc doc/interop-test-descriptions.md:
EmptyCall, UnaryCall, CacheableUnaryCall, StreamingInputCall,
StreamingOutputCall, FullDuplexCall, HalfDuplexCall, CompressedRequest
(expect_compressed), CompressedResponse (response_compressed / per-message
compressed), Echo Status (response_status), Echo Metadata and
ResponseParameters.interval_us. UnimplementedCall and UnimplementedService are
left unregistered so the core answers UNIMPLEMENTED.

Listens on 127.0.0.1 only. Plaintext only: --use_tls=true is refused.
"""

import argparse
import signal
import sys
import threading
import time
from concurrent import futures

from common import (
    ECHO_INITIAL_KEY,
    ECHO_TRAILING_KEY,
    RAW_COMPRESSION_OPTIONS,
    empty_pb2,
    grpc,
    messages_pb2,
    parse_bool,
    raw_decoder,
    status_code,
)

SERVICE = "grpc.testing.TestService"


class EndCall(Exception):
    """Ends the call with a status chosen by the request (or a check)."""

    def __init__(self, code, details):
        super().__init__(details)
        self.code = code
        self.details = details


def _echo_metadata(context):
    """Echo Metadata: initial key back in headers, -bin key back in trailers."""
    initial = []
    for key, value in context.invocation_metadata():
        if key == ECHO_INITIAL_KEY:
            initial.append((key, value))
        elif key == ECHO_TRAILING_KEY:
            context.set_trailing_metadata(((key, value),))
    if initial:
        context.send_initial_metadata(tuple(initial))


def _check_expected_compression(received, expect):
    """CompressedRequest: a set expect_compressed must match the message flag."""
    if expect is None:
        return
    if expect.value and not received.compressed:
        raise EndCall(
            grpc.StatusCode.INVALID_ARGUMENT,
            "expect_compressed is true but the request message was not compressed",
        )
    if not expect.value and received.compressed:
        raise EndCall(
            grpc.StatusCode.INVALID_ARGUMENT,
            "expect_compressed is false but the request message was compressed",
        )


def _check_response_type(response_type):
    if response_type != messages_pb2.COMPRESSABLE:
        raise EndCall(
            grpc.StatusCode.INVALID_ARGUMENT,
            "unsupported response_type %d" % response_type,
        )


def _echo_status(request):
    """Echo Status: a set response_status ends the call with that status."""
    if request.HasField("response_status"):
        raise EndCall(
            status_code(request.response_status.code), request.response_status.message
        )


def _finish(context, end):
    if end.code == grpc.StatusCode.OK:
        context.set_code(grpc.StatusCode.OK)
        context.set_details(end.details)
        return
    context.abort(end.code, end.details)


def _payload(size):
    if size < 0:
        raise EndCall(grpc.StatusCode.INVALID_ARGUMENT, "negative payload size %d" % size)
    return messages_pb2.Payload(type=messages_pb2.COMPRESSABLE, body=bytes(size))


def _sleep_us(context, interval_us):
    if interval_us > 0:
        time.sleep(interval_us / 1_000_000)
    if not context.is_active():
        raise EndCall(grpc.StatusCode.CANCELLED, "call ended while sleeping")


def _optional(message, field):
    return getattr(message, field) if message.HasField(field) else None


class TestService:
    """Handlers; requests arrive as common.Received (message + compressed flag)."""

    def empty_call(self, received, context):
        _echo_metadata(context)
        return empty_pb2.Empty()

    def unary_call(self, received, context):
        request = received.message
        try:
            wants_compressed = (
                request.HasField("response_compressed") and request.response_compressed.value
            )
            # The call's compression must be chosen before headers go out.
            if wants_compressed:
                context.set_compression(grpc.Compression.Gzip)
            _echo_metadata(context)
            _check_expected_compression(received, _optional(request, "expect_compressed"))
            _echo_status(request)
            _check_response_type(request.response_type)
            return messages_pb2.SimpleResponse(payload=_payload(request.response_size))
        except EndCall as end:
            _finish(context, end)
            return None

    def cacheable_unary_call(self, received, context):
        context.send_initial_metadata((("cache-control", "max-age=60"),))
        body = str(time.time_ns()).encode()
        return messages_pb2.SimpleResponse(
            payload=messages_pb2.Payload(type=messages_pb2.COMPRESSABLE, body=body)
        )

    def streaming_input_call(self, request_iterator, context):
        _echo_metadata(context)
        total = 0
        try:
            for received in request_iterator:
                request = received.message
                _check_expected_compression(
                    received, _optional(request, "expect_compressed")
                )
                total += len(request.payload.body)
        except EndCall as end:
            _finish(context, end)
            return None
        return messages_pb2.StreamingInputCallResponse(aggregated_payload_size=total)

    def _responses(self, request, context):
        """One response per ResponseParameters, with interval and compression."""
        _echo_status(request)
        _check_response_type(request.response_type)
        for params in request.response_parameters:
            _sleep_us(context, params.interval_us)
            if not (params.HasField("compressed") and params.compressed.value):
                context.disable_next_message_compression()
            yield messages_pb2.StreamingOutputCallResponse(payload=_payload(params.size))

    def _start_stream(self, context):
        # Streams always negotiate gzip so any single message can be compressed;
        # every message not asked to be compressed is sent with the flag clear.
        context.set_compression(grpc.Compression.Gzip)
        _echo_metadata(context)

    def streaming_output_call(self, received, context):
        self._start_stream(context)
        try:
            yield from self._responses(received.message, context)
        except EndCall as end:
            _finish(context, end)

    def full_duplex_call(self, request_iterator, context):
        self._start_stream(context)
        try:
            for received in request_iterator:
                yield from self._responses(received.message, context)
        except EndCall as end:
            _finish(context, end)

    def half_duplex_call(self, request_iterator, context):
        self._start_stream(context)
        try:
            requests = [received.message for received in request_iterator]
            for request in requests:
                yield from self._responses(request, context)
        except EndCall as end:
            _finish(context, end)


def build_handler(service):
    """Generic handler with raw-mode deserializers (see common.py for why)."""
    unary = grpc.unary_unary_rpc_method_handler
    client_stream = grpc.stream_unary_rpc_method_handler
    server_stream = grpc.unary_stream_rpc_method_handler
    bidi = grpc.stream_stream_rpc_method_handler
    m = messages_pb2
    methods = {
        "EmptyCall": unary(
            service.empty_call,
            raw_decoder(empty_pb2.Empty),
            empty_pb2.Empty.SerializeToString,
        ),
        "UnaryCall": unary(
            service.unary_call,
            raw_decoder(m.SimpleRequest),
            m.SimpleResponse.SerializeToString,
        ),
        "CacheableUnaryCall": unary(
            service.cacheable_unary_call,
            raw_decoder(m.SimpleRequest),
            m.SimpleResponse.SerializeToString,
        ),
        "StreamingInputCall": client_stream(
            service.streaming_input_call,
            raw_decoder(m.StreamingInputCallRequest),
            m.StreamingInputCallResponse.SerializeToString,
        ),
        "StreamingOutputCall": server_stream(
            service.streaming_output_call,
            raw_decoder(m.StreamingOutputCallRequest),
            m.StreamingOutputCallResponse.SerializeToString,
        ),
        "FullDuplexCall": bidi(
            service.full_duplex_call,
            raw_decoder(m.StreamingOutputCallRequest),
            m.StreamingOutputCallResponse.SerializeToString,
        ),
        "HalfDuplexCall": bidi(
            service.half_duplex_call,
            raw_decoder(m.StreamingOutputCallRequest),
            m.StreamingOutputCallResponse.SerializeToString,
        ),
        # UnimplementedCall is deliberately absent: the core answers UNIMPLEMENTED.
    }
    return grpc.method_handlers_generic_handler(SERVICE, methods)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--use_tls", type=parse_bool, default=False)
    args = parser.parse_args(argv)
    if args.use_tls:
        sys.stderr.write("this peer speaks plaintext only; pass --use_tls=false\n")
        return 2

    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=16),
        handlers=[build_handler(TestService())],
        options=RAW_COMPRESSION_OPTIONS,
    )
    bound = server.add_insecure_port("127.0.0.1:%d" % args.port)
    if bound == 0:
        sys.stderr.write("could not listen on 127.0.0.1:%d\n" % args.port)
        return 1
    server.start()
    print("python interop server listening on 127.0.0.1:%d" % bound, flush=True)

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    server.stop(grace=1).wait(5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
