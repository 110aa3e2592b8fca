#!/usr/bin/env node
'use strict';
// grpc.testing.TestService interop server on @grpc/grpc-js.
//
// Implements the server features of grpc/grpc doc/interop-test-descriptions.md:
// EmptyCall, UnaryCall, CacheableUnaryCall, StreamingInputCall,
// StreamingOutputCall, FullDuplexCall, HalfDuplexCall, CompressedRequest
// (expect_compressed, via the flag hook in common.js), Echo Status, Echo
// Metadata and ResponseParameters.interval_us. UnimplementedCall has no
// handler, so grpc-js answers UNIMPLEMENTED.
//
// CompressedResponse cannot be implemented: grpc-js servers never compress a
// response (server-interceptors.js serializeMessage always writes flag 0), so a
// request asking for a compressed response is answered with UNIMPLEMENTED
// rather than with an uncompressed response a client might not notice.
//
// Listens on 127.0.0.1 only. Plaintext only: --use_tls=true is refused.

const {
  grpc,
  TEST_SERVICE,
  ECHO_INITIAL_KEY,
  ECHO_TRAILING_KEY,
  COMPRESSABLE,
  installServerFlagHook,
  flagging,
  compressedFlag,
  parseBool,
  parseFlags,
  parsePort,
} = require('./common');

const Status = grpc.status;
const flagHookProblem = installServerFlagHook();

class EndCall extends Error {
  constructor(code, details) {
    super(details);
    this.code = code;
    this.details = details;
  }
}

function echoInitial(call) {
  const values = call.metadata.get(ECHO_INITIAL_KEY);
  if (values.length > 0) {
    const md = new grpc.Metadata();
    for (const value of values) md.add(ECHO_INITIAL_KEY, value);
    call.sendMetadata(md);
  }
}

function echoTrailer(call) {
  const md = new grpc.Metadata();
  for (const value of call.metadata.get(ECHO_TRAILING_KEY)) md.add(ECHO_TRAILING_KEY, value);
  return md;
}

function present(field) {
  return field !== undefined && field !== null;
}

function checkExpectedCompression(request, expect) {
  if (!present(expect)) return;
  const expected = Boolean(expect.value);
  const actual = compressedFlag(request);
  if (actual === undefined) {
    throw new EndCall(Status.UNIMPLEMENTED, `expect_compressed cannot be checked: ${flagHookProblem || 'flag not observed'}`);
  }
  if (expected && !actual) {
    throw new EndCall(Status.INVALID_ARGUMENT, 'expect_compressed is true but the request message was not compressed');
  }
  if (!expected && actual) {
    throw new EndCall(Status.INVALID_ARGUMENT, 'expect_compressed is false but the request message was compressed');
  }
}

function refuseCompressedResponse(flag) {
  if (present(flag) && flag.value) {
    throw new EndCall(Status.UNIMPLEMENTED, 'grpc-js servers cannot compress responses (compressed flag is always 0)');
  }
}

function echoStatus(request) {
  if (present(request.response_status)) {
    const { code, message } = request.response_status;
    throw new EndCall(code || 0, message || '');
  }
}

function checkResponseType(type) {
  if ((type || COMPRESSABLE) !== COMPRESSABLE) {
    throw new EndCall(Status.INVALID_ARGUMENT, `unsupported response_type ${type}`);
  }
}

function payload(size) {
  const n = size || 0;
  if (n < 0) throw new EndCall(Status.INVALID_ARGUMENT, `negative payload size ${n}`);
  return { type: COMPRESSABLE, body: Buffer.alloc(n) };
}

function statusOf(err, trailer) {
  if (err instanceof EndCall) return { code: err.code, details: err.details, metadata: trailer };
  return { code: Status.INTERNAL, details: `server error: ${err && err.message}`, metadata: trailer };
}

// A finished for-await loop must not destroy the call: its status is still to be sent.
const KEEP_OPEN = { destroyOnReturn: false };

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function write(call, message) {
  return new Promise((resolve, reject) => {
    call.write(message, (err) => (err ? reject(err) : resolve()));
  });
}

async function sendResponses(call, request) {
  echoStatus(request);
  checkResponseType(request.response_type);
  for (const params of request.response_parameters || []) {
    refuseCompressedResponse(params.compressed);
    if (params.interval_us > 0) await sleep(params.interval_us / 1000);
    if (call.cancelled) throw new EndCall(Status.CANCELLED, 'call cancelled');
    await write(call, { payload: payload(params.size) });
  }
}

// Ends a streaming call: OK with the echoed trailer, or the chosen status.
function finishStream(call, trailer, err) {
  if (call.cancelled) return;
  if (err) {
    call.emit('error', statusOf(err, trailer));
  } else {
    call.end(trailer);
  }
}

const handlers = {
  EmptyCall(call, callback) {
    echoInitial(call);
    callback(null, {}, echoTrailer(call));
  },

  UnaryCall(call, callback) {
    const request = call.request;
    const trailer = echoTrailer(call);
    echoInitial(call);
    try {
      refuseCompressedResponse(request.response_compressed);
      checkExpectedCompression(request, request.expect_compressed);
      echoStatus(request);
      checkResponseType(request.response_type);
      callback(null, { payload: payload(request.response_size) }, trailer);
    } catch (err) {
      callback(statusOf(err, trailer));
    }
  },

  CacheableUnaryCall(call, callback) {
    const md = new grpc.Metadata();
    md.set('cache-control', 'max-age=60');
    call.sendMetadata(md);
    const body = Buffer.from(String(process.hrtime.bigint()));
    callback(null, { payload: { type: COMPRESSABLE, body } });
  },

  StreamingInputCall(call, callback) {
    const trailer = echoTrailer(call);
    echoInitial(call);
    let total = 0;
    let done = false;
    const finish = (err, value) => {
      if (done) return;
      done = true;
      if (err) callback(statusOf(err, trailer));
      else callback(null, value, trailer);
    };
    call.on('data', (request) => {
      if (done) return;
      try {
        checkExpectedCompression(request, request.expect_compressed);
        total += request.payload && request.payload.body ? request.payload.body.length : 0;
      } catch (err) {
        finish(err);
      }
    });
    call.on('end', () => finish(null, { aggregated_payload_size: total }));
    call.on('error', () => { done = true; });
  },

  async StreamingOutputCall(call) {
    const trailer = echoTrailer(call);
    echoInitial(call);
    try {
      await sendResponses(call, call.request);
      finishStream(call, trailer, null);
    } catch (err) {
      finishStream(call, trailer, err);
    }
  },

  async FullDuplexCall(call) {
    const trailer = echoTrailer(call);
    echoInitial(call);
    call.on('error', () => {});
    try {
      for await (const request of call.iterator(KEEP_OPEN)) {
        await sendResponses(call, request);
      }
      finishStream(call, trailer, null);
    } catch (err) {
      finishStream(call, trailer, err);
    }
  },

  async HalfDuplexCall(call) {
    const trailer = echoTrailer(call);
    echoInitial(call);
    call.on('error', () => {});
    try {
      const requests = [];
      for await (const request of call.iterator(KEEP_OPEN)) requests.push(request);
      for (const request of requests) await sendResponses(call, request);
      finishStream(call, trailer, null);
    } catch (err) {
      finishStream(call, trailer, err);
    }
  },
  // UnimplementedCall deliberately has no handler.
};

function serviceWithFlags(definition) {
  const service = {};
  for (const [name, method] of Object.entries(definition)) {
    service[name] = { ...method, requestDeserialize: flagging(method.requestDeserialize) };
  }
  return service;
}

function main() {
  let flags;
  try {
    flags = parseFlags(process.argv.slice(2), {
      port: { required: true, parse: parsePort },
      use_tls: { default: false, parse: parseBool },
    });
  } catch (err) {
    process.stderr.write(`${err.message}\n`);
    process.exit(2);
  }
  if (flags.use_tls) {
    process.stderr.write('this peer speaks plaintext only; pass --use_tls=false\n');
    process.exit(2);
  }
  if (flagHookProblem) {
    process.stderr.write(`warning: expect_compressed cannot be checked: ${flagHookProblem}\n`);
  }
  const server = new grpc.Server();
  server.addService(serviceWithFlags(TEST_SERVICE), handlers);
  server.bindAsync(`127.0.0.1:${flags.port}`, grpc.ServerCredentials.createInsecure(), (err, port) => {
    if (err) {
      process.stderr.write(`could not listen on 127.0.0.1:${flags.port}: ${err.message}\n`);
      process.exit(1);
    }
    process.stdout.write(`node interop server listening on 127.0.0.1:${port}\n`);
  });
  const stop = () => {
    server.tryShutdown(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main();
