//! The gRPC wire format, with no IO and no async.
//!
//! `ferrule-codec` is the bottom layer of ferrule: pure functions and small state
//! machines over [`bytes`]. Everything here can be driven by a test, a fuzzer or
//! an engine feeding chunks of any size; nothing here reads a clock or a socket.
//!
//! | module | what it holds |
//! |---|---|
//! | [`frame`] | Length-Prefixed-Message framing: [`frame::encode_message`] and the incremental [`frame::MessageDecoder`] |
//! | [`status`] | [`Code`], [`Status`], `grpc-message` percent-encoding, HTTP status mapping, `grpc-status-details-bin` |
//! | [`metadata`] | [`metadata::MetadataMap`]: ASCII and `-bin` values, key validation, reserved headers |
//! | [`timeout`] | `grpc-timeout` parsing and formatting |
//! | [`compression`] | identity/gzip/deflate/zstd, bounded decompression, `grpc-(accept-)encoding` negotiation |
//! | [`web`] | gRPC-Web trailer frames and the `grpc-web-text` base64 stream |
//! | [`typed`] | the [`Codec`] trait (typed message <-> bytes), [`BytesCodec`], and a `prost` implementation |
//! | [`queue`] | [`queue::InlineFirstQueue`], the per-call queue that allocates only for a second element |
//!
//! The crate is `#![no_std]` with `alloc`; the `std` feature (on by default) is
//! needed only by the compression features.
#![no_std]
#![cfg_attr(docsrs, feature(doc_cfg))]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod compression;
pub mod frame;
pub mod metadata;
pub mod queue;
pub mod status;
pub mod timeout;
pub mod typed;
pub mod web;

pub use status::{Code, Status};
#[cfg(feature = "prost")]
pub use typed::ProstCodec;
pub use typed::{BytesCodec, Codec};
