//! The sans-IO engine: gRPC server and client connections over h2.
//!
//! [`ServerConnection`] and [`ClientConnection`] each wrap an h2 connection
//! and turn its HTTP/2 streams into gRPC calls. They never open a socket,
//! spawn a task or read a clock:
//!
//! - **bytes in**: `handle_input(now, &[u8])` (or h2 reads an IO object given
//!   to `with_io` when the caller calls `drive_io`);
//! - **bytes out**: `poll_transmit(now, &mut [u8])`, bounded: when the caller
//!   stops taking bytes, h2 stops writing, calls stop draining their send
//!   queues, and `send_message` answers [`SendError::NotReady`];
//! - **events**: `poll_event()` — new calls, readable/writable calls, headers,
//!   final statuses, GOAWAY, connection closed;
//! - **time**: `poll_timeout()` says when `handle_timeout(now)` is due
//!   (deadlines, keepalive).
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
//! calls something happened to.
//!
//! | module | concern |
//! |---|---|
//! | `server`, `client` | the connection types, each in three parts: the connection, its calls (`call`), the drive loop over h2 (`drive`) |
//! | `stream` | a call's receive half (messages, flow control) and send half (queue, capacity) |
//! | `headers` | request/response/trailer blocks, validation |
//! | `path` | [`CallPath`], the method path a client call goes to |
//! | `message` | framing outgoing messages |
//! | [`config`](Limits) | limits and settings |
//! | `event`, `error` | what comes out |
//! | `transport`, `tap` | the in-memory byte pipe; the wrapper that watches h2's bytes |
//! | `wake`, `driver` | wakers, deadline queue, shared plumbing |
//! | [`keepalive`] | PING policy, keepalive timers, frame sniffer |

mod call_id;
mod client;
mod config;
mod driver;
mod error;
mod event;
mod headers;
pub mod keepalive;
mod message;
mod path;
mod server;
mod stream;
mod tap;
mod transport;
mod wake;

#[cfg(test)]
mod tests;

pub use call_id::CallId;
pub use client::{CallOptions, ClientConnection};
pub use config::{ClientConfig, Limits, ServerConfig};
pub use error::{
    CallError, ConnectionError, ErrorCode, Fault, RecvError, SendError, StartCallError,
};
pub use event::{ClientEvent, ServerEvent};
pub use headers::RequestHead;
pub use message::{ReceivedMessage, SendOptions};
pub use path::CallPath;
pub use server::ServerConnection;
pub use transport::MemoryTransport;
