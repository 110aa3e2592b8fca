//! ferrule-core: the sans-IO gRPC engine on h2 (`proto`) and the runtime-free
//! async API (`api`).
//!
//! Not built yet: the engine arrives with issue 3 and the async API with issue 4.
//! Until then this crate only re-exports the wire format, so that nothing
//! pretends to serve or call anything.

pub use ferrule_codec as codec;
