//! Pair tests: a client engine and a server engine wired through memory, each
//! behaviour run with whole transfers and with 1-byte chunks.

#![allow(clippy::unwrap_used)]

pub(crate) mod pair;

mod cancellation;
mod deadlines;
mod flow_control;
mod goaway;
mod metadata;
mod rpc_kinds;
