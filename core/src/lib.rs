//! ferrule-core: the sans-IO gRPC engine on h2 ([`proto`]) and, with the async API
//! issue, the runtime-free async layer (`api`).

pub mod proto;

pub use ferrule_codec as codec;
pub use ferrule_codec::{Code, Status};
