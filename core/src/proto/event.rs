//! Events: what the engine tells the application, drained one at a time with
//! `poll_event`.
//!
//! Call events name the call they concern, so an async layer can wake just
//! the task waiting on it. `Readable` and `Writable` are edge-triggered: after
//! `Readable`, read with `recv_message` until it answers
//! [`RecvError::Blocked`](super::RecvError::Blocked) (or the end); the next
//! `Readable` comes when more arrives. `Writable` comes once after
//! `send_message` answered [`SendError::NotReady`](super::SendError::NotReady)
//! and room appeared.

use bytes::Bytes;

use crate::Status;
use crate::codec::metadata::MetadataMap;

use super::call_id::CallId;
use super::error::{ConnectionError, ErrorCode};
use super::headers::RequestHead;

/// An event of a [`ServerConnection`](super::ServerConnection).
#[derive(Debug)]
#[non_exhaustive]
pub enum ServerEvent {
    /// A client started a call that passed validation. Route it by
    /// [`RequestHead::path`]; answer with `send_headers`/`send_message`/
    /// `finish`. (Requests that fail validation are answered by the engine
    /// and never reported.)
    NewCall {
        /// The call.
        call: CallId,
        /// Its request headers.
        request: Box<RequestHead>,
    },
    /// Messages, or the end of the client's stream, can be read with
    /// `recv_message`.
    Readable {
        /// The call.
        call: CallId,
    },
    /// `send_message` has room again after answering `NotReady`.
    Writable {
        /// The call.
        call: CallId,
    },
    /// The call ended before the application finished it: the client
    /// cancelled (`CANCELLED`), the deadline passed (`DEADLINE_EXCEEDED`; the
    /// engine has already answered the client), the client broke the protocol
    /// for this call, the connection was lost (`UNAVAILABLE`) or closed
    /// (`CANCELLED`). Reads of the call answer
    /// [`RecvError::Cancelled`](super::RecvError::Cancelled) with this status
    /// and sends are refused; `finish` or `cancel` lets go of the id.
    Cancelled {
        /// The call.
        call: CallId,
        /// Why.
        status: Status,
    },
    /// The connection is over. The last event; `None` for a clean close.
    Closed {
        /// Why, if not clean.
        error: Option<ConnectionError>,
    },
}

/// An event of a [`ClientConnection`](super::ClientConnection).
#[derive(Debug)]
#[non_exhaustive]
pub enum ClientEvent {
    /// The response headers (initial metadata) arrived. Not reported for a
    /// Trailers-Only response, whose metadata comes with `Finished`.
    Headers {
        /// The call.
        call: CallId,
        /// The server's initial metadata.
        metadata: MetadataMap,
    },
    /// Messages can be read with `recv_message`.
    Readable {
        /// The call.
        call: CallId,
    },
    /// `send_message` has room again after answering `NotReady`.
    Writable {
        /// The call.
        call: CallId,
    },
    /// The call is over, with this status. Messages the server sent before its
    /// trailers stay readable with `recv_message` until it answers `Ok(None)`,
    /// which lets go of the id. A failure the client saw itself (deadline,
    /// reset, lost connection) discards unread messages: `recv_message` then
    /// answers [`RecvError::Cancelled`](super::RecvError::Cancelled) with this
    /// status, once, and the id is let go.
    Finished {
        /// The call.
        call: CallId,
        /// The outcome.
        status: Status,
        /// The server's trailing metadata (or a Trailers-Only response's
        /// metadata).
        trailers: MetadataMap,
    },
    /// The server sent GOAWAY: no new calls will be accepted on this
    /// connection; calls it did not process finish with `UNAVAILABLE` and may
    /// be retried elsewhere.
    GoAway {
        /// The server's error code (`NO_ERROR` for a graceful shutdown).
        code: ErrorCode,
        /// The server's debug data. `ENHANCE_YOUR_CALM` with `too_many_pings`
        /// means this client pinged too often: grpc clients double their
        /// keepalive interval for the next connection.
        debug_data: Bytes,
    },
    /// The connection is over. The last event; `None` for a clean close.
    Closed {
        /// Why, if not clean.
        error: Option<ConnectionError>,
    },
}

/// What a call's `Readable` or `Writable` event says, for code written once
/// for both ends (the async layer's driver wakes the task waiting on it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ready {
    /// Messages, or the end of the peer's stream, can be read.
    Read,
    /// A send that was refused can be retried.
    Write,
}

pub(crate) mod common {
    //! What the connection written once needs of either end's events.

    use super::{CallId, ClientEvent, ConnectionError, Ready, ServerEvent};

    /// The events both ends have. Public in a private module: a bound of
    /// [`Side::Event`](crate::proto::Side::Event) that nothing outside the
    /// crate can name or implement.
    pub trait EndEvent: Sized {
        /// Messages (or the end of the peer's stream) can be read.
        fn readable(call: CallId) -> Self;
        /// A send that was refused can be retried.
        fn writable(call: CallId) -> Self;
        /// The connection is over: the last event.
        fn closed(error: Option<ConnectionError>) -> Self;
        /// The call and what became ready, for `Readable` and `Writable`.
        fn ready(&self) -> Option<(CallId, Ready)>;
        /// For `Closed`, its error (`Some(None)`: a clean close).
        fn closed_error(&self) -> Option<Option<&ConnectionError>>;
    }

    impl EndEvent for ServerEvent {
        fn readable(call: CallId) -> Self {
            ServerEvent::Readable { call }
        }

        fn writable(call: CallId) -> Self {
            ServerEvent::Writable { call }
        }

        fn closed(error: Option<ConnectionError>) -> Self {
            ServerEvent::Closed { error }
        }

        fn ready(&self) -> Option<(CallId, Ready)> {
            match *self {
                ServerEvent::Readable { call } => Some((call, Ready::Read)),
                ServerEvent::Writable { call } => Some((call, Ready::Write)),
                _ => None,
            }
        }

        fn closed_error(&self) -> Option<Option<&ConnectionError>> {
            match self {
                ServerEvent::Closed { error } => Some(error.as_ref()),
                _ => None,
            }
        }
    }

    impl EndEvent for ClientEvent {
        fn readable(call: CallId) -> Self {
            ClientEvent::Readable { call }
        }

        fn writable(call: CallId) -> Self {
            ClientEvent::Writable { call }
        }

        fn closed(error: Option<ConnectionError>) -> Self {
            ClientEvent::Closed { error }
        }

        fn ready(&self) -> Option<(CallId, Ready)> {
            match *self {
                ClientEvent::Readable { call } => Some((call, Ready::Read)),
                ClientEvent::Writable { call } => Some((call, Ready::Write)),
                _ => None,
            }
        }

        fn closed_error(&self) -> Option<Option<&ConnectionError>> {
            match self {
                ClientEvent::Closed { error } => Some(error.as_ref()),
                _ => None,
            }
        }
    }
}
