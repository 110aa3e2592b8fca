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
//! | [`Status::metadata`], [`Status::with_metadata`] | custom trailing metadata sent and received with a status |
//!
//! See grpc/grpc `doc/statuscodes.md`, `doc/PROTOCOL-HTTP2.md` and
//! `doc/http-grpc-status-mapping.md`.

use crate::metadata::MetadataMap;
use alloc::borrow::Cow;
use alloc::boxed::Box;
use bytes::Bytes;
use core::fmt;

mod code;
pub mod details;
mod http;
mod percent;
mod rpc;
mod trailers;
mod wire;

#[cfg(test)]
mod tests;

pub use code::{Code, CodeParseError, MAX_STATUS_DIGITS};
#[cfg(feature = "prost")]
pub use details::{DetailsError, ErrorDetails};
pub use percent::{decode_grpc_message, encode_grpc_message};
pub use rpc::{Any, RpcStatus, RpcStatusError};
pub use trailers::StatusHeaderValues;

/// The outcome of a call: a [`Code`], a human-readable message, optional
/// details (the serialized `google.rpc.Status` carried in
/// `grpc-status-details-bin`) and optional metadata (the custom trailing
/// metadata that travels with the status).
///
/// # Metadata
///
/// A server handler that fails with a status carrying metadata sends that
/// metadata in its trailers (tonic's `Status::with_metadata`, grpc-go's
/// `grpc.SetTrailer` on an error path); a client whose call fails gets the
/// server's trailing metadata in the status it returns. The map is a
/// [`MetadataMap`], so it never holds a reserved name (`grpc-status`,
/// `grpc-message`, `grpc-status-details-bin`, `content-type`, ...): its user
/// API refuses them and its wire API skips them, and the status headers
/// always come from the code, message and details alone. A handler that
/// returns a status it received from another server passes that server's
/// trailers on; [`take_metadata`](Self::take_metadata) drops them.
///
/// # Size
///
/// `Status` is the error type of every call, so it stays small (40 bytes on
/// 64-bit targets): the details and the metadata live together behind one
/// `Option<Box<..>>` that is allocated only when one of them is set.
///
/// # Equality
///
/// Two statuses are equal when their code, message, details and metadata
/// are equal (metadata compared as [`MetadataMap`] compares: same keys and
/// values in the same order). Metadata is part of what a status says and can
/// be read back, so statuses that differ in it are not interchangeable; to
/// compare outcomes only, compare [`code`](Self::code) and
/// [`message`](Self::message). An absent map equals an empty one.
/// [`Debug`](fmt::Debug) shows the details' length and the metadata only when
/// they are not empty.
#[derive(Clone)]
pub struct Status {
    code: Code,
    message: Cow<'static, str>,
    /// `None` for a status that was never given details or metadata (most
    /// statuses): they cost no allocation.
    extra: Option<Box<Extra>>,
}

/// The parts of a [`Status`] most statuses do not have.
#[derive(Clone, Default)]
struct Extra {
    details: Bytes,
    metadata: MetadataMap,
}

/// What [`Status::details`] borrows when there are none.
static NO_DETAILS: Bytes = Bytes::new();

/// What [`Status::metadata`] borrows when there is none.
static NO_METADATA: MetadataMap = MetadataMap::new();

impl Status {
    /// A status with this code and message and no details.
    pub fn new(code: Code, message: impl Into<Cow<'static, str>>) -> Status {
        Status {
            code,
            message: message.into(),
            extra: None,
        }
    }

    /// The `OK` status with an empty message.
    pub const fn ok() -> Status {
        Status {
            code: Code::OK,
            message: Cow::Borrowed(""),
            extra: None,
        }
    }

    /// This status with `details`: the bytes of a serialized `google.rpc.Status`.
    pub fn with_details(mut self, details: Bytes) -> Status {
        if details.is_empty() && self.extra.is_none() {
            return self;
        }
        self.extra_mut().details = details;
        self
    }

    /// This status with `metadata` (replacing any it had): a server sends it
    /// as trailing metadata when the call ends with this status.
    ///
    /// ```
    /// use ferrule_codec::Status;
    /// use ferrule_codec::metadata::MetadataMap;
    ///
    /// let mut metadata = MetadataMap::new();
    /// metadata.insert("retry-after", "30")?;
    /// let status = Status::unavailable("try later").with_metadata(metadata);
    /// assert_eq!(status.metadata().get("retry-after"), Some("30"));
    /// # Ok::<(), ferrule_codec::metadata::MetadataError>(())
    /// ```
    pub fn with_metadata(mut self, metadata: MetadataMap) -> Status {
        if metadata.is_empty() && self.extra.is_none() {
            return self;
        }
        self.extra_mut().metadata = metadata;
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
        self.extra
            .as_ref()
            .map_or(&NO_DETAILS, |extra| &extra.details)
    }

    /// The metadata that travels with this status: on a server, the trailing
    /// metadata to send with it; on a client, the trailing metadata the
    /// server sent with it. Empty if none.
    pub fn metadata(&self) -> &MetadataMap {
        self.extra
            .as_ref()
            .map_or(&NO_METADATA, |extra| &extra.metadata)
    }

    /// The metadata, to change in place (allocates the first time, since a
    /// status without details or metadata holds no map).
    pub fn metadata_mut(&mut self) -> &mut MetadataMap {
        &mut self.extra_mut().metadata
    }

    /// Takes the metadata out of this status, leaving it empty.
    pub fn take_metadata(&mut self) -> MetadataMap {
        let Some(extra) = self.extra.as_mut() else {
            return MetadataMap::new();
        };
        let metadata = core::mem::take(&mut extra.metadata);
        if extra.details.is_empty() {
            self.extra = None;
        }
        metadata
    }

    /// Whether the code is `OK`.
    pub fn is_ok(&self) -> bool {
        self.code == Code::OK
    }

    fn extra_mut(&mut self) -> &mut Extra {
        self.extra.get_or_insert_with(Box::default)
    }
}

impl PartialEq for Status {
    fn eq(&self, other: &Status) -> bool {
        self.code == other.code
            && self.message == other.message
            && self.details() == other.details()
            && self.metadata() == other.metadata()
    }
}

impl Eq for Status {}

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
        if !self.details().is_empty() {
            s.field("details", &self.details().len());
        }
        if !self.metadata().is_empty() {
            s.field("metadata", self.metadata());
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
