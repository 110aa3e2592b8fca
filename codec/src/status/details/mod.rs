//! Rich error details: typed messages of `google/rpc/error_details.proto`
//! packed in the `google.rpc.Status` that `grpc-status-details-bin` carries,
//! like grpc-go's `status.WithDetails`/`Details()` and tonic-types'
//! `ErrorDetails`.
//!
//! | item | what it is for |
//! |---|---|
//! | [`Status::details_any`], [`Any::type_name`] | the packed messages, undecoded (always available) |
//! | `ErrorDetails`, `Status::with_error_details`, `Status::error_details` | build and read the standard details (`prost` feature) |
//! | `ErrorInfo`, `RetryInfo`, `BadRequest`, ... | the ten standard messages, as prost messages (`prost` feature) |
//! | `Any::from_msg`, `Any::to_msg` | pack and unpack any `prost::Name` message (`prost` feature) |
//!
//! The messages use prost's derive rather than hand-written code like
//! [`RpcStatus`]: fifteen messages with maps, a proto3
//! `optional` and nested messages are where a generated codec earns its keep,
//! and as `prost::Message`s they also work with the rest of a prost
//! program. `google.rpc.Status` itself stays hand-written, so that the status
//! headers work without prost.

use super::{Any, RpcStatus, RpcStatusError, Status};
use alloc::vec::Vec;

mod any;
#[cfg(feature = "prost")]
mod collection;
#[cfg(feature = "prost")]
mod error;
#[cfg(feature = "prost")]
mod messages;
#[cfg(all(test, feature = "prost"))]
mod tests;

#[cfg(feature = "prost")]
pub use collection::{ErrorDetails, StandardDetail};
#[cfg(feature = "prost")]
pub use error::DetailsError;
#[cfg(feature = "prost")]
pub use messages::{
    BadRequest, DebugInfo, Duration, ErrorInfo, FieldViolation, Help, HelpLink, LocalizedMessage,
    PreconditionFailure, PreconditionViolation, QuotaFailure, QuotaViolation, RequestInfo,
    ResourceInfo, RetryInfo,
};

impl Status {
    /// The messages packed in [`Status::details`], undecoded, in the order
    /// they came (none if the details are empty); an error if the details
    /// are not a `google.rpc.Status`.
    pub fn details_any(&self) -> Result<Vec<Any>, RpcStatusError> {
        if self.details().is_empty() {
            return Ok(Vec::new());
        }
        RpcStatus::decode(self.details()).map(|rpc| rpc.details)
    }
}
