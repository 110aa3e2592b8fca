//! gRPC status: [`Code`] and [`Status`].
//!
//! See grpc/grpc `doc/statuscodes.md` and `doc/PROTOCOL-HTTP2.md`.

use alloc::borrow::Cow;
use bytes::Bytes;
use core::fmt;

/// A gRPC status code.
///
/// An open newtype, like h2's `Reason`: the 17 codes of the spec are named
/// constants, and any other number a peer sends survives a round trip. Use
/// [`Code::normalize`] where the spec wants unknown codes treated as `UNKNOWN`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Code(i32);

macro_rules! codes {
    ($( $(#[$doc:meta])* ($num:expr, $konst:ident, $name:expr); )+) => {
        impl Code {
            $(
                $(#[$doc])*
                pub const $konst: Code = Code($num);
            )+

            /// The spec's name of the code (`"NOT_FOUND"`), or `None` for an unknown number.
            pub const fn name(self) -> Option<&'static str> {
                match self.0 {
                    $( $num => Some($name), )+
                    _ => None,
                }
            }
        }
    };
}

codes! {
    /// Not an error; returned on success.
    (0, OK, "OK");
    /// The operation was cancelled, typically by the caller.
    (1, CANCELLED, "CANCELLED");
    /// Unknown error.
    (2, UNKNOWN, "UNKNOWN");
    /// The client specified an invalid argument.
    (3, INVALID_ARGUMENT, "INVALID_ARGUMENT");
    /// The deadline expired before the operation could complete.
    (4, DEADLINE_EXCEEDED, "DEADLINE_EXCEEDED");
    /// Some requested entity was not found.
    (5, NOT_FOUND, "NOT_FOUND");
    /// The entity that a client attempted to create already exists.
    (6, ALREADY_EXISTS, "ALREADY_EXISTS");
    /// The caller does not have permission to execute the operation.
    (7, PERMISSION_DENIED, "PERMISSION_DENIED");
    /// Some resource has been exhausted (a quota, or a message size limit).
    (8, RESOURCE_EXHAUSTED, "RESOURCE_EXHAUSTED");
    /// The system is not in a state required for the operation's execution.
    (9, FAILED_PRECONDITION, "FAILED_PRECONDITION");
    /// The operation was aborted, typically due to a concurrency issue.
    (10, ABORTED, "ABORTED");
    /// The operation was attempted past the valid range.
    (11, OUT_OF_RANGE, "OUT_OF_RANGE");
    /// The operation is not implemented or not supported.
    (12, UNIMPLEMENTED, "UNIMPLEMENTED");
    /// Internal error: an invariant expected by the system is broken.
    (13, INTERNAL, "INTERNAL");
    /// The service is currently unavailable; retrying may help.
    (14, UNAVAILABLE, "UNAVAILABLE");
    /// Unrecoverable data loss or corruption.
    (15, DATA_LOSS, "DATA_LOSS");
    /// The request does not have valid authentication credentials.
    (16, UNAUTHENTICATED, "UNAUTHENTICATED");
}

impl Code {
    /// The code with this number, known or not.
    pub const fn from_i32(value: i32) -> Code {
        Code(value)
    }

    /// The number carried in `grpc-status`.
    pub const fn as_i32(self) -> i32 {
        self.0
    }

    /// Whether this is one of the 17 codes the spec names.
    pub const fn is_known(self) -> bool {
        self.0 >= 0 && self.0 <= 16
    }

    /// This code, or `UNKNOWN` if the spec does not name it.
    pub const fn normalize(self) -> Code {
        if self.is_known() { self } else { Code::UNKNOWN }
    }
}

impl fmt::Debug for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "Code({})", self.0),
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl From<i32> for Code {
    fn from(value: i32) -> Code {
        Code(value)
    }
}

impl From<Code> for i32 {
    fn from(code: Code) -> i32 {
        code.0
    }
}

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
