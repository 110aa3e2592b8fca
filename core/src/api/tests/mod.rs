//! Unit tests of the async API that need no runtime.

#![allow(clippy::unwrap_used)]

mod contract;
mod server_call;
