//! gRPC status: [`Code`], [`Status`] and their forms on the wire.
//!
//! | item | what it is for |
//! |---|---|
//! | [`Code`], [`Code::from_header_value`], [`Code::header_value`] | the `grpc-status` header |
//! | [`encode_grpc_message`], [`decode_grpc_message`] | percent-encoding of `grpc-message` |
//! | [`Code::from_http_status`], [`Status::from_http_status`] | responses without `grpc-status` |
//! | [`RpcStatus`], [`Any`] | the `google.rpc.Status` in `grpc-status-details-bin` |
//! | [`details`]: `ErrorDetails`, `Status::error_details` | rich error details (`google.rpc.BadRequest`, ...) in it |
//! | [`Status::from_header_values`], [`Status::to_header_values`] | the status headers of Trailers and Trailers-Only |
//!
//! See grpc/grpc `doc/statuscodes.md`, `doc/PROTOCOL-HTTP2.md` and
//! `doc/http-grpc-status-mapping.md`.

use alloc::borrow::Cow;
use bytes::Bytes;
use core::fmt;

mod code;
pub mod details;
mod http;
mod percent;
mod rpc;
mod trailers;
mod wire;

pub use code::{Code, CodeParseError, MAX_STATUS_DIGITS};
#[cfg(feature = "prost")]
pub use details::{DetailsError, ErrorDetails};
pub use percent::{decode_grpc_message, encode_grpc_message};
pub use rpc::{Any, RpcStatus, RpcStatusError};
pub use trailers::StatusHeaderValues;

/// The outcome of a call: a [`Code`], a human-readable message and optional
/// details (the serialized `google.rpc.Status` carried in
/// `grpc-status-details-bin`).
#[derive(Clone, PartialEq, Eq)]
pub struct Status {
    code: Code,
    message: Cow<'static, str>,
    details: Bytes,
}

impl Status {
    /// A status with this code and message and no details.
    pub fn new(code: Code, message: impl Into<Cow<'static, str>>) -> Status {
        Status {
            code,
            message: message.into(),
            details: Bytes::new(),
        }
    }

    /// The `OK` status with an empty message.
    pub const fn ok() -> Status {
        Status {
            code: Code::OK,
            message: Cow::Borrowed(""),
            details: Bytes::new(),
        }
    }

    /// This status with `details`: the bytes of a serialized `google.rpc.Status`.
    pub fn with_details(mut self, details: Bytes) -> Status {
        self.details = details;
        self
    }

    /// The code.
    pub fn code(&self) -> Code {
        self.code
    }

    /// The message (already percent-decoded).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The serialized `google.rpc.Status`, empty if none.
    pub fn details(&self) -> &Bytes {
        &self.details
    }

    /// Whether the code is `OK`.
    pub fn is_ok(&self) -> bool {
        self.code == Code::OK
    }
}

macro_rules! status_ctors {
    ($( $fn:ident => $konst:ident ),+ $(,)?) => {
        impl Status {
            $(
                #[doc = concat!("A `", stringify!($konst), "` status with this message.")]
                pub fn $fn(message: impl Into<Cow<'static, str>>) -> Status {
                    Status::new(Code::$konst, message)
                }
            )+
        }
    };
}

status_ctors! {
    cancelled => CANCELLED,
    unknown => UNKNOWN,
    invalid_argument => INVALID_ARGUMENT,
    deadline_exceeded => DEADLINE_EXCEEDED,
    not_found => NOT_FOUND,
    already_exists => ALREADY_EXISTS,
    permission_denied => PERMISSION_DENIED,
    resource_exhausted => RESOURCE_EXHAUSTED,
    failed_precondition => FAILED_PRECONDITION,
    aborted => ABORTED,
    out_of_range => OUT_OF_RANGE,
    unimplemented => UNIMPLEMENTED,
    internal => INTERNAL,
    unavailable => UNAVAILABLE,
    data_loss => DATA_LOSS,
    unauthenticated => UNAUTHENTICATED,
}

impl fmt::Debug for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("Status");
        s.field("code", &self.code).field("message", &self.message);
        if !self.details.is_empty() {
            s.field("details", &self.details.len());
        }
        s.finish()
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.message.is_empty() {
            write!(f, "{}", self.code)
        } else {
            write!(f, "{}: {}", self.code, self.message)
        }
    }
}

impl core::error::Error for Status {}

impl From<CodeParseError> for Status {
    /// An `UNKNOWN` status with the parse error as message: `statuscodes.md`
    /// lists "Error parsing returned status" as `UNKNOWN` (grpc-go moved from
    /// `INTERNAL` to `UNKNOWN` for the same reason).
    fn from(err: CodeParseError) -> Status {
        Status::unknown(alloc::format!("{err}"))
    }
}
