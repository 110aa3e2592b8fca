//! Unit tests of the async API that need no runtime.

#![allow(clippy::unwrap_used)]

mod contract;
mod memory;
mod server_call;
mod status_metadata;
