#!/usr/bin/env node
'use strict';
// grpc.testing interop client on @grpc/grpc-js.
//
// Runs the cases of grpc/grpc doc/interop-test-descriptions.md against a
// server and prints one line per case (PASS name / FAIL name: reason / SKIP
// name: reason), then "N passed, M failed[, K skipped]". Exits 1 if any case
// failed. Per-call compression is chosen by channel (grpc-js sets compression
// per channel with grpc.default_compression_algorithm), per-message
// compression is turned off with the NoCompress write flag, and the compressed
// flag of responses is read through the hook in common.js.

const {
  grpc,
  TEST_SERVICE,
  UNIMPLEMENTED_SERVICE,
  ECHO_INITIAL_KEY,
  ECHO_TRAILING_KEY,
  COMPRESSABLE,
  NO_COMPRESS,
  GZIP,
  installClientFlagHook,
  flagging,
  compressedFlag,
  parseBool,
  parseFlags,
  parsePort,
} = require('./common');

const Status = grpc.status;
const flagHookProblem = installClientFlagHook();

const CASES = [
  'empty_unary',
  'large_unary',
  'client_compressed_unary',
  'server_compressed_unary',
  'client_streaming',
  'client_compressed_streaming',
  'server_streaming',
  'server_compressed_streaming',
  'ping_pong',
  'empty_stream',
  'timeout_on_sleeping_server',
  'cancel_after_begin',
  'cancel_after_first_response',
  'custom_metadata',
  'status_code_and_message',
  'special_status_message',
  'unimplemented_method',
  'unimplemented_service',
];

const ECHO_INITIAL_VALUE = 'test_initial_metadata_value';
const ECHO_TRAILING_VALUE = Buffer.from([0xab, 0xab, 0xab]);
const STATUS_MESSAGE = 'test status message';
const SPECIAL_STATUS_MESSAGE = '\t\ntest with whitespace\r\nand Unicode BMP \u263a and non-BMP \u{1f608}\t\n';

class CaseFailed extends Error {}

function check(condition, message) {
  if (!condition) throw new CaseFailed(message);
}

function codeName(code) {
  return `${Status[code] || 'code'} (${code})`;
}

function checkPayload(payload, size) {
  check(payload, `no payload, want ${size} bytes`);
  const type = payload.type || COMPRESSABLE;
  check(type === COMPRESSABLE, `payload type ${type}, want COMPRESSABLE`);
  const body = payload.body || Buffer.alloc(0);
  check(body.length === size, `payload body ${body.length} bytes, want ${size}`);
  check(body.every((b) => b === 0), 'payload body is not all zeros');
}

const zeros = (n) => ({ body: Buffer.alloc(n) });

function largeRequest(extra = {}) {
  return { response_type: COMPRESSABLE, response_size: 314159, payload: zeros(271828), ...extra };
}

function streamingRequest(responseSize, payloadSize, extra = {}) {
  return {
    response_type: COMPRESSABLE,
    response_parameters: [{ size: responseSize }],
    payload: zeros(payloadSize),
    ...extra,
  };
}

function methodsOf(definition) {
  const out = {};
  for (const [name, m] of Object.entries(definition)) {
    out[name] = { path: m.path, serialize: m.requestSerialize, deserialize: flagging(m.responseDeserialize) };
  }
  return out;
}

const TEST = methodsOf(TEST_SERVICE);
const UNIMPLEMENTED = methodsOf(UNIMPLEMENTED_SERVICE);

// Collects everything a call reports: initial metadata, messages, final status.
function observe(call) {
  const seen = { initial: null, messages: [], status: null };
  let wake = null;
  const notify = () => {
    if (wake) {
      const w = wake;
      wake = null;
      w();
    }
  };
  call.on('metadata', (md) => { seen.initial = md; notify(); });
  call.on('data', (message) => { seen.messages.push(message); notify(); });
  call.on('error', () => {}); // the status event carries the same information
  seen.done = new Promise((resolve) => {
    call.on('status', (status) => { seen.status = status; notify(); resolve(status); });
  });
  // Resolves with the next message, or null once the call has ended without one.
  let read = 0;
  seen.next = async () => {
    for (;;) {
      if (read < seen.messages.length) return seen.messages[read++];
      if (seen.status) return null;
      await new Promise((resolve) => { wake = resolve; });
    }
  };
  return seen;
}

function writeMessage(call, message, flags) {
  return new Promise((resolve, reject) => {
    const done = (err) => (err ? reject(err) : resolve());
    if (flags === undefined) call.write(message, done);
    else call.write(message, flags, done);
  });
}

class Cases {
  constructor(client, makeGzipClient, deadlineMs) {
    this.client = client;
    this.makeGzipClient = makeGzipClient;
    this.deadlineMs = deadlineMs;
  }

  // Runs body with a new gzip-compressing channel. A new one per compressed
  // call because grpc-js 1.14.7 stops compressing on a channel once a response
  // carried a grpc-accept-encoding list with spaces after the commas (as the C
  // core sends: "identity, deflate, gzip"): it splits on "," without trimming
  // and then finds no " gzip" match (compression-filter.js).
  async withGzipClient(body) {
    const gzipClient = this.makeGzipClient();
    try {
      return await body(gzipClient);
    } finally {
      gzipClient.close();
    }
  }

  options(ms = this.deadlineMs) {
    return { deadline: new Date(Date.now() + ms) };
  }

  unary(method, request, { client = this.client, metadata = new grpc.Metadata() } = {}) {
    let response;
    const call = client.makeUnaryRequest(method.path, method.serialize, method.deserialize, request,
      metadata, this.options(), (err, value) => { response = value; });
    const seen = observe(call);
    return seen.done.then((status) => ({ status, response, initial: seen.initial }));
  }

  async expectOk(what, promise) {
    const result = await promise;
    check(result.status.code === Status.OK,
      `${what}: status ${codeName(result.status.code)} ${JSON.stringify(result.status.details)}, want OK`);
    return result;
  }

  async expectStatus(what, promise, code) {
    const result = await promise;
    check(result.status.code === code,
      `${what}: status ${codeName(result.status.code)} ${JSON.stringify(result.status.details)}, want ${codeName(code)}`);
    return result;
  }

  requireFlags() {
    if (flagHookProblem) throw new CaseFailed(`cannot observe the compressed flag of responses: ${flagHookProblem}`);
  }

  async empty_unary() {
    const { response } = await this.expectOk('EmptyCall', this.unary(TEST.EmptyCall, {}));
    check(response !== undefined && response !== null, 'response is null');
  }

  async large_unary() {
    const { response } = await this.expectOk('UnaryCall', this.unary(TEST.UnaryCall, largeRequest()));
    checkPayload(response.payload, 314159);
  }

  async client_compressed_unary() {
    await this.expectStatus('uncompressed probe with expect_compressed=true',
      this.unary(TEST.UnaryCall, largeRequest({ expect_compressed: { value: true } })), Status.INVALID_ARGUMENT);
    let result = await this.withGzipClient((client) => this.expectOk('compressed call',
      this.unary(TEST.UnaryCall, largeRequest({ expect_compressed: { value: true } }), { client })));
    checkPayload(result.response.payload, 314159);
    result = await this.expectOk('uncompressed call',
      this.unary(TEST.UnaryCall, largeRequest({ expect_compressed: { value: false } })));
    checkPayload(result.response.payload, 314159);
  }

  async server_compressed_unary() {
    this.requireFlags();
    for (const compressed of [true, false]) {
      const { response } = await this.expectOk(`response_compressed=${compressed}`,
        this.unary(TEST.UnaryCall, largeRequest({ response_compressed: { value: compressed } })));
      const flag = compressedFlag(response);
      check(flag === compressed, `response_compressed=${compressed} but the response's compressed flag is ${flag}`);
      checkPayload(response.payload, 314159);
    }
  }

  clientStream(method, client, metadata = new grpc.Metadata()) {
    let response;
    const call = client.makeClientStreamRequest(method.path, method.serialize, method.deserialize,
      metadata, this.options(), (err, value) => { response = value; });
    const seen = observe(call);
    return { call, result: seen.done.then((status) => ({ status, response })) };
  }

  async client_streaming() {
    const { call, result } = this.clientStream(TEST.StreamingInputCall, this.client);
    for (const n of [27182, 8, 1828, 45904]) await writeMessage(call, { payload: zeros(n) });
    call.end();
    const { response } = await this.expectOk('StreamingInputCall', result);
    check(response.aggregated_payload_size === 74922,
      `aggregated_payload_size ${response.aggregated_payload_size}, want 74922`);
  }

  async client_compressed_streaming() {
    const probe = this.clientStream(TEST.StreamingInputCall, this.client);
    await writeMessage(probe.call, { expect_compressed: { value: true }, payload: zeros(27182) }).catch(() => {});
    probe.call.end();
    await this.expectStatus('uncompressed probe with expect_compressed=true', probe.result, Status.INVALID_ARGUMENT);

    const { response } = await this.withGzipClient(async (client) => {
      const { call, result } = this.clientStream(TEST.StreamingInputCall, client);
      await writeMessage(call, { expect_compressed: { value: true }, payload: zeros(27182) });
      await writeMessage(call, { expect_compressed: { value: false }, payload: zeros(45904) }, NO_COMPRESS);
      call.end();
      return this.expectOk('compressed then uncompressed message', result);
    });
    check(response.aggregated_payload_size === 73086,
      `aggregated_payload_size ${response.aggregated_payload_size}, want 73086`);
  }

  serverStream(request) {
    const m = TEST.StreamingOutputCall;
    const call = this.client.makeServerStreamRequest(m.path, m.serialize, m.deserialize, request,
      new grpc.Metadata(), this.options());
    return observe(call);
  }

  async server_streaming() {
    const sizes = [31415, 9, 2653, 58979];
    const seen = this.serverStream({ response_type: COMPRESSABLE, response_parameters: sizes.map((size) => ({ size })) });
    const status = await seen.done;
    check(status.code === Status.OK, `status ${codeName(status.code)} ${JSON.stringify(status.details)}, want OK`);
    check(seen.messages.length === 4, `${seen.messages.length} responses, want 4`);
    seen.messages.forEach((m, i) => checkPayload(m.payload, sizes[i]));
  }

  async server_compressed_streaming() {
    this.requireFlags();
    const seen = this.serverStream({
      response_type: COMPRESSABLE,
      response_parameters: [
        { size: 31415, compressed: { value: true } },
        { size: 92653, compressed: { value: false } },
      ],
    });
    const status = await seen.done;
    check(status.code === Status.OK, `status ${codeName(status.code)} ${JSON.stringify(status.details)}, want OK`);
    check(seen.messages.length === 2, `${seen.messages.length} responses, want 2`);
    [[31415, true], [92653, false]].forEach(([size, compressed], i) => {
      const flag = compressedFlag(seen.messages[i]);
      check(flag === compressed, `response of ${size} bytes: compressed flag ${flag}, want ${compressed}`);
      checkPayload(seen.messages[i].payload, size);
    });
  }

  bidi(metadata = new grpc.Metadata(), ms = this.deadlineMs) {
    const m = TEST.FullDuplexCall;
    const call = this.client.makeBidiStreamRequest(m.path, m.serialize, m.deserialize, metadata, this.options(ms));
    return { call, seen: observe(call) };
  }

  async ping_pong() {
    const { call, seen } = this.bidi();
    const pairs = [[31415, 27182], [9, 8], [2653, 1828], [58979, 45904]];
    for (const [responseSize, payloadSize] of pairs) {
      await writeMessage(call, streamingRequest(responseSize, payloadSize));
      const response = await seen.next();
      check(response, `stream ended before the reply of ${responseSize} bytes: ${seen.status && codeName(seen.status.code)}`);
      checkPayload(response.payload, responseSize);
    }
    call.end();
    const status = await seen.done;
    check(status.code === Status.OK, `status ${codeName(status.code)} ${JSON.stringify(status.details)}, want OK`);
    check(seen.messages.length === 4, `${seen.messages.length} responses, want 4`);
  }

  async empty_stream() {
    const { call, seen } = this.bidi();
    call.end();
    const status = await seen.done;
    check(status.code === Status.OK, `status ${codeName(status.code)} ${JSON.stringify(status.details)}, want OK`);
    check(seen.messages.length === 0, `${seen.messages.length} responses, want 0`);
  }

  async timeout_on_sleeping_server() {
    const { call, seen } = this.bidi(new grpc.Metadata(), 1);
    call.write({ response_type: COMPRESSABLE, payload: zeros(27182) }, () => {});
    const status = await seen.done;
    call.end();
    check(status.code === Status.DEADLINE_EXCEEDED,
      `status ${codeName(status.code)} ${JSON.stringify(status.details)}, want DEADLINE_EXCEEDED`);
  }

  async cancel_after_begin() {
    const { call, result } = this.clientStream(TEST.StreamingInputCall, this.client);
    call.cancel();
    await this.expectStatus('StreamingInputCall cancelled after begin', result, Status.CANCELLED);
  }

  async cancel_after_first_response() {
    const { call, seen } = this.bidi();
    await writeMessage(call, streamingRequest(31415, 27182));
    const response = await seen.next();
    check(response, 'no response before the end of the call');
    checkPayload(response.payload, 31415);
    call.cancel();
    const status = await seen.done;
    check(status.code === Status.CANCELLED, `status ${codeName(status.code)}, want CANCELLED`);
  }

  checkEchoedMetadata(what, initial, trailing) {
    const got = initial ? initial.get(ECHO_INITIAL_KEY) : [];
    check(got.length === 1 && got[0] === ECHO_INITIAL_VALUE,
      `${what}: initial metadata ${ECHO_INITIAL_KEY}=${JSON.stringify(got)}, want ["${ECHO_INITIAL_VALUE}"]`);
    const bin = trailing ? trailing.get(ECHO_TRAILING_KEY) : [];
    check(bin.length === 1 && Buffer.isBuffer(bin[0]) && bin[0].equals(ECHO_TRAILING_VALUE),
      `${what}: trailing metadata ${ECHO_TRAILING_KEY}=${JSON.stringify(bin.map((b) => b.toString('hex')))}, want ["ababab"]`);
  }

  echoMetadata() {
    const md = new grpc.Metadata();
    md.add(ECHO_INITIAL_KEY, ECHO_INITIAL_VALUE);
    md.add(ECHO_TRAILING_KEY, ECHO_TRAILING_VALUE);
    return md;
  }

  async custom_metadata() {
    const unary = await this.expectOk('UnaryCall',
      this.unary(TEST.UnaryCall, largeRequest(), { metadata: this.echoMetadata() }));
    checkPayload(unary.response.payload, 314159);
    this.checkEchoedMetadata('UnaryCall', unary.initial, unary.status.metadata);

    const { call, seen } = this.bidi(this.echoMetadata());
    await writeMessage(call, streamingRequest(314159, 271828));
    call.end();
    const status = await seen.done;
    check(status.code === Status.OK, `FullDuplexCall: status ${codeName(status.code)} ${JSON.stringify(status.details)}, want OK`);
    check(seen.messages.length === 1, `FullDuplexCall: ${seen.messages.length} responses, want 1`);
    checkPayload(seen.messages[0].payload, 314159);
    this.checkEchoedMetadata('FullDuplexCall', seen.initial, status.metadata);
  }

  checkStatus(what, status, message) {
    check(status.code === Status.UNKNOWN, `${what}: status ${codeName(status.code)}, want UNKNOWN (2)`);
    check(status.details === message, `${what}: message ${JSON.stringify(status.details)}, want ${JSON.stringify(message)}`);
  }

  async status_code_and_message() {
    const echo = { code: 2, message: STATUS_MESSAGE };
    const unary = await this.unary(TEST.UnaryCall, { response_status: echo });
    this.checkStatus('UnaryCall', unary.status, STATUS_MESSAGE);

    const { call, seen } = this.bidi();
    await writeMessage(call, { response_status: echo }).catch(() => {});
    call.end();
    this.checkStatus('FullDuplexCall', await seen.done, STATUS_MESSAGE);
  }

  async special_status_message() {
    const unary = await this.unary(TEST.UnaryCall, { response_status: { code: 2, message: SPECIAL_STATUS_MESSAGE } });
    this.checkStatus('UnaryCall', unary.status, SPECIAL_STATUS_MESSAGE);
  }

  async unimplemented_method() {
    await this.expectStatus('TestService/UnimplementedCall', this.unary(TEST.UnimplementedCall, {}), Status.UNIMPLEMENTED);
  }

  async unimplemented_service() {
    await this.expectStatus('UnimplementedService/UnimplementedCall',
      this.unary(UNIMPLEMENTED.UnimplementedCall, {}), Status.UNIMPLEMENTED);
  }
}

function parseCaseList(text, what) {
  const names = String(text).split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = names.filter((n) => !CASES.includes(n));
  if (unknown.length) throw new Error(`unknown ${what}: ${unknown.join(', ')} (known: ${CASES.join(', ')})`);
  return names;
}

function waitForReady(client, ms) {
  return new Promise((resolve) => client.waitForReady(new Date(Date.now() + ms), (err) => resolve(err)));
}

function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new CaseFailed(`${what} did not finish within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function main() {
  let flags;
  try {
    flags = parseFlags(process.argv.slice(2), {
      server_host: { default: '127.0.0.1' },
      server_host_override: { default: undefined },
      server_port: { required: true, parse: parsePort },
      test_case: { default: 'all' },
      use_tls: { default: false, parse: parseBool },
      skip: { default: '' },
      deadline_s: { default: 20, parse: Number },
    });
    flags.selected = flags.test_case === 'all' ? CASES : parseCaseList(flags.test_case, 'test case');
    flags.skipped = new Set(parseCaseList(flags.skip, 'case in --skip'));
  } catch (err) {
    process.stderr.write(`${err.message}\n`);
    return 2;
  }
  if (flags.use_tls) {
    process.stderr.write('this peer speaks plaintext only; pass --use_tls=false\n');
    return 2;
  }
  const target = `${flags.server_host}:${flags.server_port}`;
  const deadlineMs = flags.deadline_s * 1000;
  const creds = grpc.credentials.createInsecure();
  const client = new grpc.Client(target, creds);
  const makeGzipClient = () => new grpc.Client(target, creds, { 'grpc.default_compression_algorithm': GZIP });
  const err = await waitForReady(client, deadlineMs);
  if (err) {
    console.log(`FAIL connect: no connection to ${target} within ${flags.deadline_s}s: ${err.message}`);
    console.log(`0 passed, ${flags.selected.length} failed`);
    return 1;
  }
  const cases = new Cases(client, makeGzipClient, deadlineMs);
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  for (const name of flags.selected) {
    if (flags.skipped.has(name)) {
      console.log(`SKIP ${name}: skipped by the caller (--skip)`);
      skipped += 1;
      continue;
    }
    try {
      await withTimeout(cases[name](), deadlineMs + 5000, name);
      console.log(`PASS ${name}`);
      passed += 1;
    } catch (err) {
      const reason = err instanceof CaseFailed ? err.message : `${err && err.name}: ${err && err.message}`;
      console.log(`FAIL ${name}: ${reason}`);
      failed += 1;
    }
  }
  client.close();
  console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
  return failed ? 1 : 0;
}

main().then((code) => process.exit(code), (err) => {
  process.stderr.write(`client crashed: ${err && err.stack}\n`);
  process.exit(1);
});
