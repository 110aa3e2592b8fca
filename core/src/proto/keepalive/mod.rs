//! Keepalive, ping-abuse enforcement and connection lifetime limits, as
//! small sans-IO pieces the connections drive. Nothing here knows h2 or
//! reads a clock: bytes and `now` come in, verdicts and deadlines go out.
//!
//! | piece | what it does | grpc-go counterpart |
//! |---|---|---|
//! | [`InboundFrameSniffer`] | sees every frame header the peer sends (h2 hides inbound PINGs) | the framer's `ReadFrame` loop |
//! | [`PingPolicy`] | strikes for too-frequent client pings | `EnforcementPolicy`, `handlePing` |
//! | [`KeepaliveTimer`] | sends PINGs after quiet time, closes dead connections | `ClientParameters` / `ServerParameters` `Time`, `Timeout` |
//! | [`ConnectionLifetime`] | GOAWAY when idle or old, close after grace | `MaxConnectionIdle`, `MaxConnectionAge(Grace)` |
//! | [`encode_goaway`] | GOAWAY with debug data, which h2 cannot send | `goAway{ENHANCE_YOUR_CALM, "too_many_pings"}` |
//!
//! # Wiring them into a connection
//!
//! Server (`now` is the caller's time in every call):
//!
//! 1. At accept: `InboundFrameSniffer::server(max_frame_size)` (h2's local
//!    `max_frame_size`), `PingPolicy::new(config)`,
//!    `KeepaliveTimer::new(KeepaliveConfig::server(), now)`,
//!    `ConnectionLifetime::new(config, now)`.
//! 2. In `handle_input(bytes, now)`, run the sniffer over the same bytes
//!    given to h2. For each frame: `keepalive.on_activity(now)`; and if
//!    `header.is_ping()`, `policy.on_ping_received(now, active_calls)`.
//!    On [`PingVerdict::TooManyPings`]: stop feeding h2, append
//!    `encode_goaway(last_stream_id, ENHANCE_YOUR_CALM, TOO_MANY_PINGS, ..)`
//!    after what h2 already wrote, and close. A sniffer error mirrors an
//!    error h2 reports itself ([`SniffError::FrameTooLarge`], ...), except
//!    [`SniffError::Http1Request`], which [`InboundFrameSniffer::preface_status`]
//!    decides within the first 24 bytes: hold those bytes back from h2 until
//!    it says [`PrefaceStatus::Http2`].
//! 3. Whenever a response HEADERS, DATA or trailers go to h2
//!    (`send_response`, `send_data`, `send_trailers`):
//!    `policy.on_data_or_headers_sent()`.
//! 4. When the call count changes: `keepalive.set_active_calls(n)`,
//!    `lifetime.set_active_calls(n, now)`.
//! 5. `poll_timeout()` of the connection is the earliest of
//!    `keepalive.poll_timeout()`, `lifetime.poll_timeout()` and its own
//!    deadlines; `handle_timeout(now)` calls both `handle_timeout`s:
//!    - On [`KeepaliveAction::SendPing`], `ping_pong.send_ping(Ping::opaque())`
//!      on the `PingPong` taken once from h2's `ping_pong()`. h2 allows one
//!      user ping in flight; if it refuses because one is pending, carry on
//!      as if sent (the timer's timeout still applies).
//!    - On [`KeepaliveAction::CloseConnection`] or
//!      [`LifetimeAction::CloseConnection`], `abrupt_shutdown`, fail the
//!      open calls (UNAVAILABLE), close the transport.
//!    - On [`LifetimeAction::GoAway`], h2's `graceful_shutdown()`.
//! 6. Each time h2 is polled, poll `ping_pong.poll_pong(cx)` with the no-op
//!    waker; on `Ready(Ok(_))` call `keepalive.on_pong(now)` (the sniffer
//!    already reported the PING ACK as activity, so this is belt and braces).
//!
//! Client: the same with `InboundFrameSniffer::client(..)`, an optional
//! `KeepaliveTimer` (`KeepaliveConfig::client(interval)`; grpc-go clients
//! do not ping unless configured), and no `PingPolicy` or lifetime. A
//! client that receives GOAWAY ENHANCE_YOUR_CALM with `too_many_pings`
//! should double its interval for new connections, as grpc-go does.

mod goaway;
mod lifetime;
mod ping_policy;
mod sniffer;
mod timer;

pub use goaway::{ENHANCE_YOUR_CALM, MAX_GOAWAY_DEBUG_DATA, TOO_MANY_PINGS, encode_goaway};
pub use lifetime::{ConnectionLifetime, GoAwayReason, LifetimeAction, LifetimeConfig};
pub(crate) use ping_policy::PingPolicyState;
pub use ping_policy::{NO_CALLS_MIN_PING_INTERVAL, PingPolicy, PingPolicyConfig, PingVerdict};
pub(crate) use sniffer::FrameScanner;
pub use sniffer::{
    CLIENT_PREFACE, DEFAULT_MAX_FRAME_SIZE, FLAG_ACK, FRAME_HEADER_LEN, FrameCounts, FrameHeader,
    FrameKind, InboundFrameSniffer, MAX_FRAME_SIZE_LIMIT, PrefaceStatus, SniffError, SniffSide,
};
pub(crate) use timer::KeepaliveState;
pub use timer::{CloseReason, KeepaliveAction, KeepaliveConfig, KeepaliveTimer};
