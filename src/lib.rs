//! ferrule: a runtime-agnostic gRPC implementation for Rust.
//!
//! The heart of ferrule is a sans-IO engine ([`core::proto`]): it never opens
//! a socket, spawns a task or reads a clock on its own. On top of it sits a
//! runtime-free async API (re-exported here: [`Server`], [`Router`],
//! [`Channel`], [`Client`], [`Request`], [`Response`], [`Streaming`], ...),
//! and thin adapters bind that API to a runtime:
//!
//! | feature | what it adds |
//! |---|---|
//! | `smol` (default) | `ferrule::smol`: smol sockets, timers, tasks |
//! | `tokio` | `ferrule::tokio`: the same on tokio |
//! | `prost` | `ferrule::codegen::ProstCodec`, what generated code encodes messages with |
//! | `gzip` (default), `deflate`, `zstd` | message compression |
//! | `health` | `ferrule::health`: the standard `grpc.health.v1` service |
//! | `reflection` | `ferrule::reflection`: server reflection, `grpc.reflection.v1` and `v1alpha` |
//!
//! `ferrule::rt` is the adapter the features select (tokio if enabled, else smol), so
//! the same program runs on either:
//!
//! ```no_run
//! # #[cfg(any(feature = "smol", feature = "tokio"))]
//! # fn main() -> std::io::Result<()> {
//! use ferrule::{Router, rt};
//!
//! rt::block_on(async {
//!     let router = Router::new(); // .add_service(GreeterServer::new(MyGreeter))
//!     let server = rt::serve("127.0.0.1:50051", router).await?;
//!     let channel = rt::channel("127.0.0.1:50051");
//!     // let client = GreeterClient::new(channel);
//!     # let _ = channel;
//!     server.shutdown(std::time::Duration::from_secs(5)).await;
//!     Ok(())
//! })
//! # }
//! # #[cfg(not(any(feature = "smol", feature = "tokio")))]
//! # fn main() {}
//! ```

pub use ferrule_codec as codec;
pub use ferrule_codec::compression::Encoding;
pub use ferrule_codec::metadata::MetadataMap;
pub use ferrule_codec::{Code, Status};
pub use ferrule_core as core;
pub use ferrule_core::api::{
    CallContext, Channel, ChannelConfig, Client, InboundMessage, Interceptor, OutboundMessage,
    Request, Response, ResponseItem, Router, Server, ServerHandle, StreamReceiver, StreamSender,
    Streaming, codegen, stream_channel,
};
pub use ferrule_core::proto::{ClientConfig, Limits, ServerConfig};

/// The standard health service, `grpc.health.v1.Health`.
#[cfg(feature = "health")]
pub use ferrule_core::api::health;

/// Server reflection, `grpc.reflection.v1` and `v1alpha`.
#[cfg(feature = "reflection")]
pub use ferrule_core::api::reflection;

/// The smol adapter.
#[cfg(feature = "smol")]
pub use ferrule_smol as smol;

/// The tokio adapter.
#[cfg(feature = "tokio")]
pub use ferrule_tokio as tokio;

/// The adapter the cargo features select: tokio when the `tokio` feature is
/// on, otherwise smol. Both offer `block_on`, `runtime`, `serve`, `server`,
/// `channel`, `channel_with`, `connect`, `TcpListener` and `TcpConnector`.
#[cfg(feature = "tokio")]
pub use ferrule_tokio as rt;

/// The adapter the cargo features select: tokio when the `tokio` feature is
/// on, otherwise smol. Both offer `block_on`, `runtime`, `serve`, `server`,
/// `channel`, `channel_with`, `connect`, `TcpListener` and `TcpConnector`.
#[cfg(all(feature = "smol", not(feature = "tokio")))]
pub use ferrule_smol as rt;
