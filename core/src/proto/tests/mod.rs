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
mod symmetry;
mod validation;

/// The async layer moves connections into spawned tasks: they must be `Send`
/// (with a `Send` IO).
#[test]
fn connections_are_send() {
    fn assert_send<T: Send>() {}
    assert_send::<crate::proto::ServerConnection>();
    assert_send::<crate::proto::ClientConnection>();
    assert_send::<crate::proto::ServerEvent>();
    assert_send::<crate::proto::ClientEvent>();
    assert_send::<crate::proto::ConnectionError>();
}
