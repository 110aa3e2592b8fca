//! Configuration and limits of the engine.
//!
//! Every limit is explicit and has a documented default. The structs are
//! `#[non_exhaustive]`: start from `Default` and assign the fields you need.
//!
//! ```
//! use ferrule_core::proto::ServerConfig;
//! let mut config = ServerConfig::default();
//! config.limits.max_recv_message_size = 16 * 1024 * 1024;
//! config.limits.max_concurrent_streams = 500;
//! ```

use std::time::Duration;

use crate::codec::compression::EncodingSet;
use crate::proto::keepalive::{KeepaliveConfig, LifetimeConfig, PingPolicyConfig};

/// Limits shared by both sides of a connection.
///
/// # Memory
/// What one call can make the engine hold is bounded: the messages received
/// but not yet taken fit in the call's flow-control window
/// (`initial_stream_window`, and all calls together in
/// `initial_connection_window`), plus one message still arriving (at most
/// `max_recv_message_size`); the messages queued for sending are at most
/// `max_send_buffer_per_call` plus one message, and h2 buffers at most as
/// much again. So a connection holds at most about
/// `max_concurrent_streams × (initial_stream_window + max_recv_message_size +
/// 2 × max_send_buffer_per_call)` for its calls, plus `max_outbound_buffer`
/// and `max_inbound_buffer` (and the header lists, bounded by
/// `max_header_list_size`). Received messages are decompressed only when
/// taken, so compression cannot inflate what is held. The fuzz targets assert
/// the per-call bound ([`ServerConnection::buffered_bytes`](super::ServerConnection::buffered_bytes)).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// The longest message accepted from the peer, after decompression.
    /// A longer one fails the call with `RESOURCE_EXHAUSTED`. Default 4 MiB
    /// (grpc-go, grpc-java, grpc-core).
    pub max_recv_message_size: usize,
    /// The longest message the application may send (as written on the wire,
    /// after compression). `send_message` refuses a longer one with
    /// [`SendError::MessageTooLarge`](super::SendError::MessageTooLarge).
    /// Default: the 32-bit length prefix's limit.
    pub max_send_message_size: usize,
    /// `SETTINGS_MAX_HEADER_LIST_SIZE` announced to the peer: the largest
    /// header block (sum of name + value + 32 per field) accepted. h2 refuses
    /// a larger request with 431 / a larger response with a stream error.
    /// Default 16 KiB.
    pub max_header_list_size: u32,
    /// `SETTINGS_MAX_CONCURRENT_STREAMS` announced to the peer: how many
    /// calls the peer may have open at once. h2 refuses the excess with
    /// `REFUSED_STREAM` (the client sees `UNAVAILABLE`). Default 100, the
    /// minimum RFC 9113 recommends.
    pub max_concurrent_streams: u32,
    /// `SETTINGS_INITIAL_WINDOW_SIZE`: how many bytes of one call the peer may
    /// send before the application takes messages. Default 1 MiB.
    pub initial_stream_window: u32,
    /// The connection-level receive window, shared by all calls. Default 2 MiB.
    pub initial_connection_window: u32,
    /// `SETTINGS_MAX_FRAME_SIZE`: the largest frame accepted. Default 16 KiB
    /// (the protocol's minimum).
    pub max_frame_size: u32,
    /// Bytes of messages one call may have queued in the engine waiting for
    /// flow-control capacity before `send_message` answers
    /// [`SendError::NotReady`](super::SendError::NotReady). A message is
    /// always accepted when the queue is empty, so one message larger than
    /// this can be sent. Default 64 KiB.
    pub max_send_buffer_per_call: usize,
    /// Bytes of encoded frames the engine keeps for the caller to take with
    /// `poll_transmit`. When full, h2 stops writing (and reading): a peer
    /// that does not read stalls the connection instead of growing memory.
    /// Default 256 KiB.
    pub max_outbound_buffer: usize,
    /// Bytes of received, unprocessed input above which
    /// `wants_input()` turns false. Default 256 KiB.
    pub max_inbound_buffer: usize,
    /// h2: how many locally reset streams are remembered (to ignore their
    /// late frames) at once. Default 50 (h2's default).
    pub max_concurrent_reset_streams: usize,
    /// h2: how long a locally reset stream is remembered. Default 1 s.
    ///
    /// This is the one place the engine's behaviour depends on the real
    /// clock rather than the `now` it is given: h2 forgets reset streams by
    /// `Instant::now()`. A simulation that must replay a run exactly sets it
    /// beyond the run's length.
    pub reset_stream_duration: Duration,
    /// h2: how many streams the peer opened and reset before the engine took
    /// them may be pending at once, beyond which the connection ends with
    /// `ENHANCE_YOUR_CALM` (the "rapid reset" protection). Default 20.
    pub max_pending_accept_reset_streams: usize,
    /// h2: how many streams the engine may reset because of the peer's
    /// protocol errors before it ends the connection with `ENHANCE_YOUR_CALM`.
    /// `None` disables the protection (not recommended). Default 1024.
    pub max_local_error_reset_streams: Option<usize>,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_recv_message_size: 4 * 1024 * 1024,
            max_send_message_size: u32::MAX as usize,
            max_header_list_size: 16 * 1024,
            max_concurrent_streams: 100,
            initial_stream_window: 1024 * 1024,
            initial_connection_window: 2 * 1024 * 1024,
            max_frame_size: 16 * 1024,
            max_send_buffer_per_call: 64 * 1024,
            max_outbound_buffer: 256 * 1024,
            max_inbound_buffer: 256 * 1024,
            max_concurrent_reset_streams: 50,
            reset_stream_duration: Duration::from_secs(1),
            max_pending_accept_reset_streams: 20,
            max_local_error_reset_streams: Some(1024),
        }
    }
}

impl Limits {
    /// The largest window h2 accepts (2^31 - 1).
    const MAX_WINDOW: u32 = (1 << 31) - 1;

    /// The values clamped to what HTTP/2 allows, so h2 never panics on them.
    pub(crate) fn sanitized(&self) -> Limits {
        let mut l = self.clone();
        l.initial_stream_window = l.initial_stream_window.min(Self::MAX_WINDOW);
        l.initial_connection_window = l.initial_connection_window.clamp(65_535, Self::MAX_WINDOW);
        l.max_frame_size = l.max_frame_size.clamp(16_384, 16_777_215);
        l.max_send_message_size = l.max_send_message_size.min(u32::MAX as usize);
        l.max_send_buffer_per_call = l.max_send_buffer_per_call.clamp(1, u32::MAX as usize);
        l.max_outbound_buffer = l.max_outbound_buffer.max(1024);
        l
    }
}

/// Configuration of a [`ServerConnection`](super::ServerConnection).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ServerConfig {
    /// Size and flow-control limits.
    pub limits: Limits,
    /// Whether a request without `te: trailers` is rejected (HTTP 400,
    /// `INTERNAL`), as PROTOCOL-HTTP2.md requires. Some proxies strip `te`;
    /// set false to accept such requests. Default true.
    pub require_te_trailers: bool,
    /// The encodings this server decodes and lists in
    /// `grpc-accept-encoding`. A request compressed with anything else is
    /// answered `UNIMPLEMENTED`. Default: every encoding compiled in.
    pub accept_encodings: EncodingSet,
    /// Keepalive pings from the server. Default: grpc-go's (ping after 2 h of
    /// quiet, 20 s timeout).
    pub keepalive: KeepaliveConfig,
    /// The client ping policy (too many pings -> GOAWAY `too_many_pings`).
    pub ping_policy: PingPolicyConfig,
    /// Max connection idle time / age. Default: none.
    pub lifetime: LifetimeConfig,
    /// How long a client has to complete the HTTP/2 handshake (send the
    /// connection preface and its SETTINGS) after the connection is made;
    /// a connection that stays silent longer is closed
    /// ([`ConnectionError::HandshakeTimeout`](super::ConnectionError::HandshakeTimeout)),
    /// so silent connections cannot pile up. `None`: no limit. Default 10 s.
    pub handshake_timeout: Option<Duration>,
}

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        ServerConfig {
            limits: Limits::default(),
            require_te_trailers: true,
            accept_encodings: EncodingSet::supported(),
            keepalive: KeepaliveConfig::server(),
            ping_policy: PingPolicyConfig::default(),
            lifetime: LifetimeConfig::default(),
            handshake_timeout: Some(Duration::from_secs(10)),
        }
    }
}

/// Configuration of a [`ClientConnection`](super::ClientConnection).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ClientConfig {
    /// Size and flow-control limits.
    pub limits: Limits,
    /// The `:authority` of requests (the server's host and port). Default
    /// `localhost`.
    pub authority: String,
    /// The `:scheme` of requests. Default `http`.
    pub scheme: String,
    /// The `user-agent` sent with every request.
    pub user_agent: String,
    /// The encodings this client decodes and lists in `grpc-accept-encoding`.
    /// Default: every encoding compiled in.
    pub accept_encodings: EncodingSet,
    /// Keepalive pings from the client; `None` (the default, as in grpc-go)
    /// sends none.
    pub keepalive: Option<KeepaliveConfig>,
    /// How long the server has to complete the HTTP/2 handshake (send its
    /// SETTINGS) after the connection is made; then the connection closes
    /// ([`ConnectionError::HandshakeTimeout`](super::ConnectionError::HandshakeTimeout))
    /// and its calls fail with `UNAVAILABLE`, so a server that accepts TCP
    /// but never speaks HTTP/2 cannot hang a call. `None`: no limit. Default
    /// 20 s (a channel sets what is left of its connect timeout).
    pub handshake_timeout: Option<Duration>,
}

impl Default for ClientConfig {
    fn default() -> ClientConfig {
        ClientConfig {
            limits: Limits::default(),
            authority: "localhost".to_owned(),
            scheme: "http".to_owned(),
            user_agent: concat!("ferrule/", env!("CARGO_PKG_VERSION")).to_owned(),
            accept_encodings: EncodingSet::supported(),
            keepalive: None,
            handshake_timeout: Some(Duration::from_secs(20)),
        }
    }
}

pub(crate) mod common {
    //! What the connection written once reads of either end's configuration.

    use std::time::Duration;

    use super::{ClientConfig, Limits, ServerConfig};
    use crate::proto::keepalive::KeepaliveConfig;

    /// The settings both ends' configurations have. Public in a private
    /// module: a bound of [`Side::Config`](crate::proto::Side::Config) that
    /// nothing outside the crate can name or implement.
    pub trait EndConfig {
        /// The limits.
        fn limits(&self) -> &Limits;
        /// The limits, to sanitize them.
        fn limits_mut(&mut self) -> &mut Limits;
        /// The keepalive configuration, if this end pings (the server
        /// always does; the client when configured).
        fn keepalive(&self) -> Option<&KeepaliveConfig>;
        /// How long the peer has to complete the HTTP/2 handshake.
        fn handshake_timeout(&self) -> Option<Duration>;
    }

    impl EndConfig for ServerConfig {
        fn limits(&self) -> &Limits {
            &self.limits
        }

        fn limits_mut(&mut self) -> &mut Limits {
            &mut self.limits
        }

        fn keepalive(&self) -> Option<&KeepaliveConfig> {
            Some(&self.keepalive)
        }

        fn handshake_timeout(&self) -> Option<Duration> {
            self.handshake_timeout
        }
    }

    impl EndConfig for ClientConfig {
        fn limits(&self) -> &Limits {
            &self.limits
        }

        fn limits_mut(&mut self) -> &mut Limits {
            &mut self.limits
        }

        fn keepalive(&self) -> Option<&KeepaliveConfig> {
            self.keepalive.as_ref()
        }

        fn handshake_timeout(&self) -> Option<Duration> {
            self.handshake_timeout
        }
    }
}
