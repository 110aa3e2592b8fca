//! Shared test support for ferrule-core's integration tests: a scripted
//! HTTP/2 peer that speaks raw frames ([`MockPeer`]), frame encoders and a
//! parser ([`frames`]), gRPC header lists and message framing ([`grpc`]),
//! and an in-memory transport for driving h2 with a no-op waker
//! ([`memory_io`]).
//!
//! Use from a test file with `mod support;`. Each test binary uses a part
//! of it, hence the `dead_code` allowance.
#![allow(dead_code, unused_imports)]

pub mod frames;
pub mod grpc;
pub mod memory_io;
pub mod mock_peer;

pub use frames::{
    Fields, Frame, FrameReader, Reading, error_code, field, fields, flag, kind, setting,
};
pub use grpc::GrpcRequest;
pub use memory_io::{MemoryIo, MemoryIoHandle, memory_io, noop_context, poll_once};
pub use mock_peer::{MockPeer, Role};
