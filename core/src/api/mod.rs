//! The async, runtime-free API: what services and clients are written
//! against.
//!
//! | item | what it is |
//! |---|---|
//! | [`Server`], [`Router`], [`ServerHandle`] | serving: accept loop, one driver task per connection, routing by path, graceful shutdown |
//! | [`Channel`], [`Client`] | calling: one lazily connected, reconnecting HTTP/2 connection; interceptors and defaults |
//! | [`Request`], [`Response`], [`Streaming`], [`CallContext`] | what handlers and callers exchange |
//! | [`OutboundMessage`], [`InboundMessage`], [`ResponseItem`] | per-message compression: send one message uncompressed, see how one arrived |
//! | [`Interceptor`] | async hooks on both sides |
//! | [`stream_channel`] | a bounded channel whose receiver is a response stream; sends fail once the call is over |
//! | [`Runtime`], [`Timer`], [`Listener`], [`Connector`] | what a runtime adapter provides |
//! | [`Network`], [`Tcp`], [`TcpListener`], [`TcpConnector`], [`ToTcpAddrs`] | TCP on any runtime: an adapter provides the sockets ([`Network`]), the rest is here |
//! | [`codegen`] | the surface generated code uses |
//! | `health`, `reflection` | the standard `grpc.health.v1` and `grpc.reflection` services (features of the same names) |
//!
//! # How it runs (quinn's pattern)
//! Each connection has **one driver task** (`conn`, the same for both ends)
//! that owns the sans-IO engine (`crate::proto`) behind an `Arc<Mutex<..>>`:
//! it drives the socket and the timers, drains the engine's events (at most
//! a few hundred per poll before yielding), spawns a task per new call on
//! the server, and wakes the call handles the events concern. The handles
//! (a handler's call, a client's response stream) encode and decode
//! messages outside the lock, and lock the shared state only to hand bytes
//! to the engine or take them — so flow control reaches the application:
//! credit goes back to the peer only as messages are taken. The engine keeps
//! the driver's waker and wakes it after every command. The clock is read
//! here ([`Runtime::now`]) and passed to the engine.

mod client;
pub mod codegen;
mod conn;
mod context;
#[cfg(feature = "health")]
pub mod health;
mod interceptor;
mod message;
mod net;
#[cfg(feature = "reflection")]
pub mod reflection;
mod request;
mod runtime;
mod server;
mod signal;
mod stream_channel;
mod streaming;

pub use client::{Channel, ChannelConfig, Client, authority_of};
pub use context::CallContext;
pub use interceptor::Interceptor;
pub use message::{InboundMessage, OutboundMessage, ResponseItem};
pub use net::{Network, Tcp, TcpAddrs, TcpConnector, TcpListener, ToTcpAddrs};
pub use request::{Request, Response};
pub use runtime::{BoxIo, Connector, Io, Listener, Runtime, Timer};
pub use server::{Handler, Router, Routes, Server, ServerHandle};
pub use stream_channel::{StreamReceiver, StreamSender, stream_channel};
pub use streaming::Streaming;

#[cfg(test)]
mod tests;
