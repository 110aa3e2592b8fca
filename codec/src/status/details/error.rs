//! [`DetailsError`]: why error details cannot be read.

use crate::status::{RpcStatusError, Status};
use alloc::string::String;
use core::fmt;

/// Why the error details of a [`Status`] (or one packed message) cannot be
/// read. Every case is the sender's fault; none is a panic.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DetailsError {
    /// The details are not a `google.rpc.Status`.
    Status(RpcStatusError),
    /// A `google.protobuf.Any` holds a type other than the one asked for
    /// ([`Any::to_msg`](crate::status::Any::to_msg)).
    WrongType {
        /// The full name asked for, such as `"google.rpc.BadRequest"`.
        expected: String,
        /// The type URL found.
        found: String,
    },
    /// A packed message of a known type does not decode as that type.
    Detail {
        /// The type's full name, such as `"google.rpc.BadRequest"`.
        type_name: String,
        /// What prost found wrong.
        error: prost::DecodeError,
    },
}

impl fmt::Display for DetailsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DetailsError::Status(err) => fmt::Display::fmt(err, f),
            DetailsError::WrongType { expected, found } => {
                write!(f, "google.protobuf.Any holds {found:?}, not {expected}")
            }
            DetailsError::Detail { type_name, error } => {
                write!(f, "error detail {type_name} does not decode: {error}")
            }
        }
    }
}

impl core::error::Error for DetailsError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            DetailsError::Status(err) => Some(err),
            DetailsError::WrongType { .. } => None,
            DetailsError::Detail { error, .. } => Some(error),
        }
    }
}

impl From<RpcStatusError> for DetailsError {
    fn from(err: RpcStatusError) -> DetailsError {
        DetailsError::Status(err)
    }
}

impl From<DetailsError> for Status {
    /// An `INTERNAL` status ("malformed grpc-status-details-bin: ..."), for a
    /// caller that treats unreadable details as an error, as
    /// [`RpcStatusError`] converts.
    fn from(err: DetailsError) -> Status {
        Status::internal(alloc::format!("malformed grpc-status-details-bin: {err}"))
    }
}
