//! The sans-IO engine: gRPC server and client connections over h2.

pub mod keepalive;
