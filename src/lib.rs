//! ferrule: a runtime-agnostic gRPC implementation for Rust.
//!
//! The heart of ferrule is a sans-IO engine: it never opens a socket, spawns a
//! task or reads a clock on its own. This facade re-exports its layers; the
//! runtime adapters (`smol`, `tokio` features) arrive with the async API.

pub use ferrule_codec as codec;
pub use ferrule_codec::{Code, Status};
pub use ferrule_core as core;
