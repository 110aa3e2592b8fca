//! The socket-level test suite of ferrule's async API. The bodies here are
//! generic over a [`Harness`] (how to run futures, listen and connect on one
//! runtime); each adapter instantiates all of them with [`suite!`]:
//!
//! ```ignore
//! ferrule_testsuite::suite!(MyHarness);
//! ```
//!
//! Every test talks over 127.0.0.1 with ephemeral ports, and every wait is
//! bounded ([`within`]).

#![allow(clippy::unwrap_used, clippy::field_reassign_with_default, missing_docs)]

pub mod cases;
pub mod kill;
pub mod outside;
pub mod service;
pub mod util;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use ferrule_core::api::{Channel, ChannelConfig, Network, Runtime, Tcp, TcpListener};

pub use util::{wait_until, within};

/// One runtime, as the suite needs it.
pub trait Harness: 'static {
    /// The adapter's sockets.
    type Network: Network + Default;

    /// Runs `test` to completion on this runtime (the test's main task).
    fn block_on(test: impl Future<Output = ()> + Send + 'static);

    /// The runtime, for servers, channels and timers.
    fn runtime() -> Arc<dyn Runtime>;

    /// Binds a TCP listener to `addr` (port 0 for an ephemeral port).
    fn bind(
        addr: SocketAddr,
    ) -> impl Future<Output = io::Result<TcpListener<Self::Network>>> + Send {
        TcpListener::bind(addr)
    }

    /// A lazily connecting channel to `addr`.
    fn channel(addr: SocketAddr, config: ChannelConfig) -> Channel {
        Tcp::new(Self::runtime(), Self::Network::default()).channel_with(&addr.to_string(), config)
    }
}

/// Instantiates every test of [`cases`] for a harness.
#[macro_export]
macro_rules! suite {
    ($harness:ty) => {
        $crate::suite!(@tests $harness;
            four_kinds,
            metadata_both_ways,
            every_status_path,
            error_metadata_both_ways,
            unknown_method_is_unimplemented,
            interceptors_chain_on_both_sides,
            deadline_exceeded_on_a_slow_handler,
            server_reads_its_deadline_and_propagates_it,
            cancellation_is_seen_by_the_server_handler,
            dropping_a_response_stream_cancels_the_server_stream,
            thousand_concurrent_calls_on_one_connection,
            messages_up_to_the_limit_and_one_over,
            response_over_the_client_limit,
            server_dies_mid_call,
            reconnect_after_the_server_restarts,
            calls_fail_fast_while_the_server_is_down,
            graceful_shutdown_lets_in_flight_calls_finish,
            graceful_shutdown_cancels_calls_after_the_grace_period,
            compression_both_ways,
            per_message_compression_both_ways,
            idle_connections_do_not_spin,
            dropping_the_channel_closes_its_connection,
            flow_control_holds_back_fast_writers,
            streaming_calls_return_before_the_servers_headers,
            a_handler_is_dropped_when_its_call_ends_first,
            a_silent_server_fails_calls_within_the_connect_timeout,
            silent_connections_are_closed_after_the_handshake_timeout,
            serve_one_connection_and_connect_eagerly,
        );
    };
    (@tests $harness:ty; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                <$harness as $crate::Harness>::block_on($crate::cases::$name::<$harness>());
            }
        )*
    };
}
