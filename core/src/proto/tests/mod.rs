//! Pair tests: a client engine and a server engine wired through memory, each
//! behaviour run with whole transfers and with 1-byte chunks.

#![allow(clippy::unwrap_used, clippy::field_reassign_with_default)]

pub(crate) mod pair;

mod cancellation;
mod compression;
mod deadlines;
mod faults;
mod flow_control;
mod goaway;
mod limits;
mod liveness;
mod metadata;
mod raw;
mod responses;
mod rpc_kinds;
mod validation;
