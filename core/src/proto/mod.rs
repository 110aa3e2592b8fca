//! The sans-IO engine: gRPC server and client connections over h2.
//!
//! A [`Connection`] wraps an h2 connection and turns its HTTP/2 streams into
//! gRPC calls: [`ServerConnection`] (`Connection<ServerSide>`) and
//! [`ClientConnection`] (`Connection<ClientSide>`), one type written once
//! with what differs per end in [`side`]. They never open a socket, spawn a
//! task or read a clock:
//!
//! - **bytes in**: `handle_input(now, &[u8])` (or h2 reads an IO object given
//!   to `with_io` when the caller calls `drive_io`);
//! - **bytes out**: `poll_transmit(now, &mut [u8])`, bounded: when the caller
//!   stops taking bytes, h2 stops writing, calls stop draining their send
//!   queues, and `send_message` answers [`SendError::NotReady`];
//! - **events**: `poll_event()` — new calls, readable/writable calls, headers,
//!   final statuses, GOAWAY, connection closed;
//! - **time**: `poll_timeout()` says when `handle_timeout(now)` is due
//!   (deadlines, keepalive, the handshake timeout).
//!
//! # Example: a unary call between two engines, in memory
//!
//! ```
//! use std::time::Instant;
//! use bytes::Bytes;
//! use ferrule_core::Status;
//! use ferrule_core::codec::metadata::MetadataMap;
//! use ferrule_core::proto::{
//!     CallOptions, ClientConfig, ClientConnection, ClientEvent, ServerConfig,
//!     ServerConnection, ServerEvent,
//! };
//!
//! let now = Instant::now();
//! let mut client = ClientConnection::new(ClientConfig::default(), now);
//! let mut server = ServerConnection::new(ServerConfig::default(), now);
//!
//! // Moves bytes both ways until neither side has anything to send.
//! fn pump(client: &mut ClientConnection, server: &mut ServerConnection, now: Instant) {
//!     let mut buf = [0u8; 16 * 1024];
//!     loop {
//!         let to_server = client.poll_transmit(now, &mut buf);
//!         server.handle_input(now, &buf[..to_server]);
//!         let to_client = server.poll_transmit(now, &mut buf);
//!         client.handle_input(now, &buf[..to_client]);
//!         if to_server == 0 && to_client == 0 {
//!             return;
//!         }
//!     }
//! }
//!
//! let call = client.start_call(now, "/echo.Echo/Say", CallOptions::new())?;
//! client.send_message(call, Bytes::from_static(b"hello"))?;
//! client.close_send(call)?;
//! pump(&mut client, &mut server, now);
//!
//! while let Some(event) = server.poll_event() {
//!     if let ServerEvent::NewCall { call, request } = event {
//!         assert_eq!(request.path(), "/echo.Echo/Say");
//!         let message = server.recv_message(call)?.expect("the request");
//!         server.send_message(call, message)?;
//!         server.finish(call, Status::ok(), &MetadataMap::new())?;
//!     }
//! }
//! pump(&mut client, &mut server, now);
//!
//! let mut finished = false;
//! while let Some(event) = client.poll_event() {
//!     if let ClientEvent::Finished { status, .. } = event {
//!         assert!(status.is_ok());
//!         finished = true;
//!     }
//! }
//! assert!(finished);
//! assert_eq!(client.recv_message(call)?, Some(Bytes::from_static(b"hello")));
//! assert_eq!(client.recv_message(call)?, None);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Internally h2 is polled with flag-setting wakers: each call has a waker
//! that queues the call's id when h2 wakes it, so a drive services only the
//! calls something happened to. The in-memory transport wakes h2 as a socket
//! does, so the engine fed bytes by hand runs on exactly the wakes that
//! drive it over a real socket.
//!
//! | module | concern |
//! |---|---|
//! | [`Connection`] (`connection`) | one connection, written once for both ends: the shell, the drive loop, the lifecycle, a call's shared state and commands |
//! | [`side`] | [`ServerSide`], [`ClientSide`]: what differs between the ends |
//! | `server`, `client` | each end's own hooks and commands |
//! | `stream` | a call's receive half (messages, flow control) and send half (queue, capacity) |
//! | `message` | messages framed, raw and received, handled outside the engine |
//! | `headers` | request/response/trailer blocks, validation |
//! | `path` | [`CallPath`], the method path a client call goes to |
//! | [`config`](Limits) | limits and settings |
//! | `event`, `error` | what comes out |
//! | [`frame`] | HTTP/2 frame headers and the one walker that follows them beside h2 |
//! | `transport`, `tap` | the in-memory byte pipe; the IO wrapper that watches h2's bytes |
//! | `wake`, `shared` | wakers, what the next drive must do, deadlines, idle memory |
//! | [`keepalive`] | PING policy, keepalive timers, connection lifetime |

mod call_id;
mod client;
mod config;
mod connection;
mod error;
mod event;
pub mod frame;
mod headers;
pub mod keepalive;
mod message;
mod path;
mod server;
mod shared;
pub mod side;
mod stream;
mod tap;
mod transport;
mod wake;

#[cfg(test)]
mod tests;

pub use call_id::CallId;
pub use client::{CallOptions, ClientConnection};
pub use config::{ClientConfig, Limits, ServerConfig};
pub use connection::Connection;
pub use error::{
    CallError, ConnectionError, ErrorCode, Fault, RecvError, SendError, StartCallError,
};
pub(crate) use event::Ready;
pub(crate) use event::common::EndEvent;
pub use event::{ClientEvent, ServerEvent};
pub use headers::RequestHead;
pub use message::{FramedMessage, RawMessage, ReceivedMessage, SendOptions};
pub use path::CallPath;
pub use server::ServerConnection;
pub use side::{ClientSide, ServerSide, Side};
pub use transport::MemoryTransport;
