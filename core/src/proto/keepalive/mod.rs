//! Keepalive, ping-abuse enforcement and connection lifetime limits: small
//! sans-IO state machines the connection drives. Nothing here knows h2 or
//! reads a clock: `now` comes in, verdicts and deadlines go out. What they
//! react to (frames arriving, PINGs, HEADERS/DATA sent) is what the
//! connection's [`FrameWalker`](super::frame::FrameWalker)s note.
//!
//! | piece | what it does | grpc-go counterpart |
//! |---|---|---|
//! | [`PingPolicy`] | strikes for too-frequent client pings | `EnforcementPolicy`, `handlePing` |
//! | [`KeepaliveTimer`] | sends PINGs after quiet time, closes dead connections | `ClientParameters` / `ServerParameters` `Time`, `Timeout` |
//! | [`ConnectionLifetime`] | GOAWAY when idle or old, close after grace | `MaxConnectionIdle`, `MaxConnectionAge(Grace)` |
//!
//! How a connection uses them (both sides, written once in the
//! connection): every frame received is activity for the keepalive timer;
//! its `SendPing` sends an h2 PING, its `CloseConnection` ends the
//! connection at once without a GOAWAY (the peer is unreachable; grpc-go
//! closes the transport the same way). On the server, received PINGs go to
//! the ping policy (HEADERS and DATA sent forgive the next one); its
//! `TooManyPings` ends the connection with GOAWAY ENHANCE_YOUR_CALM
//! `too_many_pings` ([`encode_goaway`](super::frame::encode_goaway)), and
//! the lifetime limits send a graceful GOAWAY, then close after the grace.

mod lifetime;
mod ping_policy;
mod timer;

pub use lifetime::{ConnectionLifetime, GoAwayReason, LifetimeAction, LifetimeConfig};
pub(crate) use ping_policy::PingPolicyState;
pub use ping_policy::{NO_CALLS_MIN_PING_INTERVAL, PingPolicy, PingPolicyConfig, PingVerdict};
pub(crate) use timer::KeepaliveState;
pub use timer::{CloseReason, KeepaliveAction, KeepaliveConfig, KeepaliveTimer};
