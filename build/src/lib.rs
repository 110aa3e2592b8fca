//! ferrule-build: code generation from `.proto` files.
//!
//! Empty until the async API issue (issue 4), which adds prost + protox based
//! generation of message types, typed clients and server traits.
