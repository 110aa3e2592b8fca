//! ferrule-core: the sans-IO gRPC engine on h2 ([`proto`]) and the
//! runtime-free async layer ([`api`]).

pub mod api;
pub mod proto;

pub use ferrule_codec as codec;
pub use ferrule_codec::{Code, Status};
