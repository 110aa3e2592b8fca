'use strict';
// Shared pieces of the grpc-js interop peers: the grpc.testing definitions,
// flag parsing, and the compressed flag of received messages.
//
// Why wire flags: grpc-js reads the compressed flag of every received message
// (it decides whether to inflate) but does not hand it to applications. The
// interop cases need it: a server checks `expect_compressed` against it and a
// client checks `response_compressed` against it. The two hooks below wrap the
// grpc-js functions that receive a framed message (5-byte prefix included) and
// return its plain bytes, and remember the flag for that returned Buffer; the
// peers' deserializers then attach the flag to the decoded message. The hooks
// only observe: arguments and results pass through unchanged. They target the
// grpc-js version pinned in package-lock.json; if its internals move, the hook
// reports itself unavailable and the cases that need it fail with that reason
// instead of passing unchecked.

const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const PROTO_ROOT = path.join(__dirname, '..', '..', 'proto');
const packageDefinition = protoLoader.loadSync(
  ['grpc/testing/empty.proto', 'grpc/testing/messages.proto', 'grpc/testing/test.proto'],
  { includeDirs: [PROTO_ROOT], keepCase: true, longs: Number, defaults: false, oneofs: true },
);

const ECHO_INITIAL_KEY = 'x-grpc-test-echo-initial';
const ECHO_TRAILING_KEY = 'x-grpc-test-echo-trailing-bin';
const COMPRESSABLE = 0;
const NO_COMPRESS = 2; // grpc-js WriteFlags.NoCompress
const GZIP = 2; // grpc-js compression algorithm key for gzip

const COMPRESSED = Symbol('compressed');
const flagOfBuffer = new WeakMap();

function remember(compressed) {
  return (plain) => {
    if (plain && typeof plain === 'object') {
      flagOfBuffer.set(plain, compressed);
    }
    return plain;
  };
}

function installServerFlagHook() {
  let proto;
  try {
    proto = require('@grpc/grpc-js/build/src/server-interceptors').BaseServerInterceptingCall.prototype;
  } catch (err) {
    return `grpc-js internals not found (${err.message})`;
  }
  if (typeof proto.decompressMessage !== 'function') {
    return 'grpc-js BaseServerInterceptingCall.decompressMessage not found';
  }
  const original = proto.decompressMessage;
  proto.decompressMessage = function decompressMessageObserved(framed, encoding) {
    const mark = remember(framed.readUInt8(0) === 1);
    const plain = original.call(this, framed, encoding);
    return plain && typeof plain.then === 'function' ? plain.then(mark) : mark(plain);
  };
  return null;
}

function installClientFlagHook() {
  let proto;
  try {
    proto = require('@grpc/grpc-js/build/src/compression-filter').CompressionFilter.prototype;
  } catch (err) {
    return `grpc-js internals not found (${err.message})`;
  }
  if (typeof proto.receiveMessage !== 'function') {
    return 'grpc-js CompressionFilter.receiveMessage not found';
  }
  const original = proto.receiveMessage;
  proto.receiveMessage = async function receiveMessageObserved(message) {
    const framed = await message;
    const plain = await original.call(this, framed);
    return remember(framed.readUInt8(0) === 1)(plain);
  };
  return null;
}

// Wraps a deserializer so the decoded message carries the compressed flag
// (absent when no hook saw the message).
function flagging(deserialize) {
  return (buffer) => {
    const message = deserialize(buffer);
    if (flagOfBuffer.has(buffer) && message && typeof message === 'object') {
      Object.defineProperty(message, COMPRESSED, { value: flagOfBuffer.get(buffer) });
    }
    return message;
  };
}

// true / false as received, undefined if it could not be observed.
function compressedFlag(message) {
  return message ? message[COMPRESSED] : undefined;
}

function parseBool(text) {
  const lowered = String(text).trim().toLowerCase();
  if (['true', '1', 'yes'].includes(lowered)) return true;
  if (['false', '0', 'no'].includes(lowered)) return false;
  throw new Error(`expected true or false, got ${JSON.stringify(text)}`);
}

// --name=value and --name value, as the official interop binaries take them.
function parseFlags(argv, spec) {
  const values = {};
  for (const [name, def] of Object.entries(spec)) values[name] = def.default;
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    if (!arg.startsWith('--')) throw new Error(`unexpected argument ${arg}`);
    let name = arg.slice(2);
    let value;
    const eq = name.indexOf('=');
    if (eq >= 0) {
      value = name.slice(eq + 1);
      name = name.slice(0, eq);
    } else {
      i += 1;
      if (i >= argv.length) throw new Error(`--${name} needs a value`);
      value = argv[i];
    }
    if (!(name in spec)) throw new Error(`unknown flag --${name}`);
    values[name] = spec[name].parse ? spec[name].parse(value) : value;
  }
  for (const [name, def] of Object.entries(spec)) {
    if (def.required && values[name] === undefined) throw new Error(`--${name} is required`);
  }
  return values;
}

function parsePort(text) {
  const port = Number(text);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`bad port ${text}`);
  return port;
}

module.exports = {
  grpc,
  packageDefinition,
  TEST_SERVICE: packageDefinition['grpc.testing.TestService'],
  UNIMPLEMENTED_SERVICE: packageDefinition['grpc.testing.UnimplementedService'],
  ECHO_INITIAL_KEY,
  ECHO_TRAILING_KEY,
  COMPRESSABLE,
  NO_COMPRESS,
  GZIP,
  installServerFlagHook,
  installClientFlagHook,
  flagging,
  compressedFlag,
  parseBool,
  parseFlags,
  parsePort,
};
