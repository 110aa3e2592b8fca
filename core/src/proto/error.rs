//! Errors of the engine, grouped by who is at fault (the rustls habit).
//!
//! - [`ConnectionError`]: the connection is over. Sticky: once reported,
//!   every later poll reports it again, and what must still reach the peer
//!   (a GOAWAY, RST_STREAMs) can still be drained with `poll_transmit`.
//! - [`SendError`], [`RecvError`], [`CallError`], [`StartCallError`]: the
//!   application asked for something the call's state does not allow, or the
//!   call cannot take more right now. They never end the connection.
//!
//! A peer's bad input never surfaces as a panic: at the call level it becomes
//! a [`Status`](crate::Status) in the call's final event; at the connection
//! level it is a `ConnectionError` whose [`fault`](ConnectionError::fault)
//! says [`Fault::Peer`].

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;

use crate::Status;

/// An HTTP/2 error code (RFC 9113 section 7), as carried by RST_STREAM and
/// GOAWAY. An open newtype: unknown codes survive.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ErrorCode(u32);

impl ErrorCode {
    /// Graceful shutdown, or no error.
    pub const NO_ERROR: ErrorCode = ErrorCode(0x0);
    /// The peer broke the protocol.
    pub const PROTOCOL_ERROR: ErrorCode = ErrorCode(0x1);
    /// An implementation fault.
    pub const INTERNAL_ERROR: ErrorCode = ErrorCode(0x2);
    /// Flow control was violated.
    pub const FLOW_CONTROL_ERROR: ErrorCode = ErrorCode(0x3);
    /// A SETTINGS frame was not acknowledged in time.
    pub const SETTINGS_TIMEOUT: ErrorCode = ErrorCode(0x4);
    /// A frame arrived on a half-closed stream.
    pub const STREAM_CLOSED: ErrorCode = ErrorCode(0x5);
    /// A frame had an invalid size.
    pub const FRAME_SIZE_ERROR: ErrorCode = ErrorCode(0x6);
    /// The stream was refused before any processing.
    pub const REFUSED_STREAM: ErrorCode = ErrorCode(0x7);
    /// The stream is no longer needed.
    pub const CANCEL: ErrorCode = ErrorCode(0x8);
    /// The HPACK state could not be maintained.
    pub const COMPRESSION_ERROR: ErrorCode = ErrorCode(0x9);
    /// A CONNECT tunnel failed.
    pub const CONNECT_ERROR: ErrorCode = ErrorCode(0xa);
    /// The peer is generating excessive load.
    pub const ENHANCE_YOUR_CALM: ErrorCode = ErrorCode(0xb);
    /// The transport's security is inadequate.
    pub const INADEQUATE_SECURITY: ErrorCode = ErrorCode(0xc);
    /// HTTP/1.1 is required.
    pub const HTTP_1_1_REQUIRED: ErrorCode = ErrorCode(0xd);

    /// The code with this number.
    pub const fn from_u32(code: u32) -> ErrorCode {
        ErrorCode(code)
    }

    /// The number on the wire.
    pub const fn as_u32(self) -> u32 {
        self.0
    }

    /// The name RFC 9113 gives the code, if it is one of the 14.
    pub const fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0x0 => "NO_ERROR",
            0x1 => "PROTOCOL_ERROR",
            0x2 => "INTERNAL_ERROR",
            0x3 => "FLOW_CONTROL_ERROR",
            0x4 => "SETTINGS_TIMEOUT",
            0x5 => "STREAM_CLOSED",
            0x6 => "FRAME_SIZE_ERROR",
            0x7 => "REFUSED_STREAM",
            0x8 => "CANCEL",
            0x9 => "COMPRESSION_ERROR",
            0xa => "CONNECT_ERROR",
            0xb => "ENHANCE_YOUR_CALM",
            0xc => "INADEQUATE_SECURITY",
            0xd => "HTTP_1_1_REQUIRED",
            _ => return None,
        })
    }

    pub(crate) fn from_reason(reason: h2::Reason) -> ErrorCode {
        ErrorCode(u32::from(reason))
    }

    pub(crate) fn to_reason(self) -> h2::Reason {
        h2::Reason::from(self.0)
    }
}

impl fmt::Debug for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "ErrorCode({:#x})", self.0),
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// Who caused a [`ConnectionError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Fault {
    /// The peer misbehaved or closed the connection with an error.
    Peer,
    /// The transport failed or went away (EOF, IO error, keepalive timeout).
    Transport,
    /// This side closed the connection (the application, or a limit the
    /// configuration set, such as the max connection age).
    Local,
}

/// Why a connection ended. Sticky; see the module docs.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum ConnectionError {
    /// The peer broke HTTP/2; the engine (h2) detected it and sent GOAWAY with
    /// this code.
    Protocol(ErrorCode),
    /// The peer sent GOAWAY with an error code (not NO_ERROR).
    GoAway {
        /// The peer's code.
        code: ErrorCode,
        /// The peer's debug data (possibly empty).
        debug_data: Bytes,
    },
    /// The client pinged more often than the ping policy allows; the server
    /// sent GOAWAY `ENHANCE_YOUR_CALM` with `too_many_pings`.
    TooManyPings,
    /// The bytes received are not HTTP/2: an HTTP/1 request, or a wrong
    /// connection preface.
    NotHttp2,
    /// The transport reached end of stream while calls were open or before
    /// the HTTP/2 shutdown was complete: the peer vanished.
    TransportClosed,
    /// The transport failed.
    Io(Arc<std::io::Error>),
    /// A keepalive PING went unanswered for the keepalive timeout.
    KeepaliveTimeout,
    /// The peer did not complete the HTTP/2 handshake (its connection
    /// preface and SETTINGS) within the handshake timeout.
    HandshakeTimeout,
    /// The connection was open longer than the configured max age plus grace,
    /// or the application closed it abruptly.
    LocallyClosed,
}

impl ConnectionError {
    /// Who caused it.
    pub fn fault(&self) -> Fault {
        match self {
            ConnectionError::Protocol(_)
            | ConnectionError::GoAway { .. }
            | ConnectionError::TooManyPings
            | ConnectionError::NotHttp2 => Fault::Peer,
            ConnectionError::TransportClosed
            | ConnectionError::Io(_)
            | ConnectionError::KeepaliveTimeout
            | ConnectionError::HandshakeTimeout => Fault::Transport,
            ConnectionError::LocallyClosed => Fault::Local,
        }
    }

    /// The status calls that were open on the connection end with.
    pub fn to_status(&self) -> Status {
        Status::unavailable(format!("connection closed: {self}"))
    }

    pub(crate) fn from_h2(err: &h2::Error) -> ConnectionError {
        if let Some(io) = err.get_io() {
            if io.kind() == std::io::ErrorKind::UnexpectedEof
                || io.kind() == std::io::ErrorKind::BrokenPipe
                || io.kind() == std::io::ErrorKind::ConnectionReset
            {
                return ConnectionError::TransportClosed;
            }
            return ConnectionError::Io(Arc::new(std::io::Error::new(io.kind(), io.to_string())));
        }
        let code = err
            .reason()
            .map_or(ErrorCode::INTERNAL_ERROR, ErrorCode::from_reason);
        if err.is_go_away() && err.is_remote() {
            ConnectionError::GoAway {
                code,
                debug_data: Bytes::new(),
            }
        } else {
            ConnectionError::Protocol(code)
        }
    }
}

impl fmt::Display for ConnectionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectionError::Protocol(code) => {
                write!(f, "the peer violated HTTP/2 (GOAWAY {code} sent)")
            }
            ConnectionError::GoAway { code, debug_data } => {
                write!(f, "the peer sent GOAWAY {code}")?;
                if !debug_data.is_empty() {
                    write!(f, " ({})", String::from_utf8_lossy(debug_data))?;
                }
                Ok(())
            }
            ConnectionError::TooManyPings => f.write_str(
                "the client sent too many pings (GOAWAY ENHANCE_YOUR_CALM too_many_pings sent)",
            ),
            ConnectionError::NotHttp2 => f.write_str("the peer does not speak HTTP/2"),
            ConnectionError::TransportClosed => {
                f.write_str("the transport closed before the HTTP/2 connection ended")
            }
            ConnectionError::Io(err) => write!(f, "transport error: {err}"),
            ConnectionError::KeepaliveTimeout => {
                f.write_str("keepalive ping not answered within the timeout")
            }
            ConnectionError::HandshakeTimeout => {
                f.write_str("the peer did not complete the HTTP/2 handshake in time")
            }
            ConnectionError::LocallyClosed => f.write_str("the connection was closed locally"),
        }
    }
}

impl std::error::Error for ConnectionError {}

/// Why `send_message` did not take a message.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendError {
    /// The call's send queue is full (the peer is not reading fast enough).
    /// Wait for the call's `Writable` event and try again.
    NotReady,
    /// The message is longer than `max_send_message_size`.
    MessageTooLarge {
        /// The message's length on the wire.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The sending side of the call is closed: the application half-closed or
    /// finished it, or the call ended.
    Closed,
    /// The application's encoder failed; nothing was queued.
    Encode(String),
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::NotReady => f.write_str("the call's send buffer is full; wait for Writable"),
            SendError::MessageTooLarge { len, max } => write!(
                f,
                "message of {len} bytes is larger than the max send message size ({max})"
            ),
            SendError::Closed => f.write_str("the call's sending side is closed"),
            SendError::Encode(err) => write!(f, "message encoding failed: {err}"),
        }
    }
}

impl std::error::Error for SendError {}

impl From<SendError> for Status {
    fn from(err: SendError) -> Status {
        match err {
            SendError::MessageTooLarge { .. } => Status::resource_exhausted(err.to_string()),
            SendError::Closed => Status::cancelled(err.to_string()),
            SendError::NotReady | SendError::Encode(_) => Status::internal(err.to_string()),
        }
    }
}

/// Why `recv_message` returned no message. The same on both ends.
///
/// A normal end of the peer's stream is not an error: it is `Ok(None)` (the
/// client half-closed; the server sent its trailers, whose status comes
/// with the client's `Finished` event). A call that ended any other way
/// reads as `Cancelled` until the application lets go of it, so a cancelled
/// stream never reads as complete; after that, as `Closed`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecvError {
    /// No message is available yet; wait for the call's `Readable` event.
    Blocked,
    /// The message failed to decode (decompression failed, or the message
    /// exceeded the limit once decompressed). The engine has ended the call
    /// with this status; its end event follows.
    Failed(Status),
    /// The call ended before the peer ended its stream normally (a reset,
    /// the deadline, a lost connection, the connection closed): this
    /// status says why. The same status comes with the call's end event
    /// (`Cancelled` on the server, `Finished` on the client).
    Cancelled(Status),
    /// The application let go of the call (the server finished or
    /// cancelled it; the client read its end or cancelled it), or the id is
    /// not one of this connection's.
    Closed,
}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecvError::Blocked => f.write_str("no message available yet; wait for Readable"),
            RecvError::Failed(status) => write!(f, "the call failed: {status}"),
            RecvError::Cancelled(status) => write!(f, "the call was cancelled: {status}"),
            RecvError::Closed => f.write_str("the call is over"),
        }
    }
}

impl std::error::Error for RecvError {}

impl From<RecvError> for Status {
    fn from(err: RecvError) -> Status {
        match err {
            RecvError::Failed(status) | RecvError::Cancelled(status) => status,
            RecvError::Closed => Status::cancelled(err.to_string()),
            RecvError::Blocked => Status::internal(err.to_string()),
        }
    }
}

/// Why a call command (`send_headers`, `finish`, `close_send`) was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallError {
    /// The call is over (it finished, was cancelled, or the id is stale).
    Closed,
    /// Response headers were already sent.
    HeadersAlreadySent,
    /// The metadata contains something HTTP/2 cannot carry.
    InvalidMetadata(String),
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Closed => f.write_str("the call is over"),
            CallError::HeadersAlreadySent => f.write_str("response headers were already sent"),
            CallError::InvalidMetadata(why) => write!(f, "invalid metadata: {why}"),
        }
    }
}

impl std::error::Error for CallError {}

/// Why `start_call` did not start a call.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StartCallError {
    /// The connection is closing or closed; start the call on another one.
    /// Retrying elsewhere is safe: nothing was sent.
    ConnectionClosed,
    /// The method path is not of the form `/service/method`.
    InvalidPath(String),
    /// The metadata contains something HTTP/2 cannot carry.
    InvalidMetadata(String),
}

impl fmt::Display for StartCallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartCallError::ConnectionClosed => f.write_str("the connection is closing or closed"),
            StartCallError::InvalidPath(path) => {
                write!(f, "method path {path:?} is not of the form /service/method")
            }
            StartCallError::InvalidMetadata(why) => write!(f, "invalid metadata: {why}"),
        }
    }
}

impl std::error::Error for StartCallError {}

impl From<StartCallError> for Status {
    fn from(err: StartCallError) -> Status {
        match err {
            StartCallError::ConnectionClosed => Status::unavailable(err.to_string()),
            StartCallError::InvalidPath(_) | StartCallError::InvalidMetadata(_) => {
                Status::internal(err.to_string())
            }
        }
    }
}

/// The status a call ends with when its stream is reset with `code`
/// (PROTOCOL-HTTP2.md, "Errors").
pub(crate) fn status_for_reset(code: ErrorCode) -> Status {
    let text = |what: &str| format!("stream reset by the peer with {code}{what}");
    match code {
        ErrorCode::CANCEL => Status::cancelled(text("")),
        ErrorCode::REFUSED_STREAM => Status::unavailable(text(" (not processed; safe to retry)")),
        ErrorCode::ENHANCE_YOUR_CALM => Status::resource_exhausted(text(" (too much load)")),
        ErrorCode::INADEQUATE_SECURITY => Status::permission_denied(text("")),
        _ => Status::internal(text("")),
    }
}

/// The status a call ends with when h2 reports an error on its stream.
pub(crate) fn status_for_stream_error(err: &h2::Error) -> Status {
    if err.is_io() {
        return Status::unavailable(format!("connection lost: {err}"));
    }
    if err.is_go_away() {
        return Status::unavailable(format!(
            "the connection is closing and the call was not completed: {err}"
        ));
    }
    match err.reason() {
        Some(reason) if err.is_reset() && !err.is_remote() => Status::internal(format!(
            "stream reset after a protocol error: {}",
            ErrorCode::from_reason(reason)
        )),
        Some(reason) => status_for_reset(ErrorCode::from_reason(reason)),
        None => Status::internal(format!("HTTP/2 error: {err}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Code;

    #[test]
    fn reset_codes_map_as_the_spec_says() {
        let table = [
            (ErrorCode::NO_ERROR, Code::INTERNAL),
            (ErrorCode::PROTOCOL_ERROR, Code::INTERNAL),
            (ErrorCode::INTERNAL_ERROR, Code::INTERNAL),
            (ErrorCode::FLOW_CONTROL_ERROR, Code::INTERNAL),
            (ErrorCode::SETTINGS_TIMEOUT, Code::INTERNAL),
            (ErrorCode::FRAME_SIZE_ERROR, Code::INTERNAL),
            (ErrorCode::REFUSED_STREAM, Code::UNAVAILABLE),
            (ErrorCode::CANCEL, Code::CANCELLED),
            (ErrorCode::COMPRESSION_ERROR, Code::INTERNAL),
            (ErrorCode::CONNECT_ERROR, Code::INTERNAL),
            (ErrorCode::ENHANCE_YOUR_CALM, Code::RESOURCE_EXHAUSTED),
            (ErrorCode::INADEQUATE_SECURITY, Code::PERMISSION_DENIED),
            (ErrorCode::from_u32(0x99), Code::INTERNAL),
        ];
        for (code, expected) in table {
            assert_eq!(status_for_reset(code).code(), expected, "{code}");
        }
    }

    #[test]
    fn error_codes_print_their_names() {
        assert_eq!(ErrorCode::CANCEL.to_string(), "CANCEL");
        assert_eq!(ErrorCode::from_u32(0x42).to_string(), "ErrorCode(0x42)");
        assert_eq!(
            ErrorCode::from_reason(ErrorCode::REFUSED_STREAM.to_reason()),
            ErrorCode::REFUSED_STREAM
        );
    }

    #[test]
    fn connection_errors_name_their_fault() {
        assert_eq!(ConnectionError::TooManyPings.fault(), Fault::Peer);
        assert_eq!(ConnectionError::TransportClosed.fault(), Fault::Transport);
        assert_eq!(ConnectionError::LocallyClosed.fault(), Fault::Local);
        assert_eq!(
            ConnectionError::TransportClosed.to_status().code(),
            Code::UNAVAILABLE
        );
    }
}
