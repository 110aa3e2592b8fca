//! Which end of a connection an engine is: [`ServerSide`] and
//! [`ClientSide`], the type parameter of [`Connection`](super::Connection)
//! (as rustls' `ConnectionCommon<Data>` and quinn-proto's `Side`).
//!
//! What both ends do is written once, in `connection`; what differs is in
//! `server` and `client`, reached through the sealed [`Side`] trait's
//! hooks: how h2 is polled, how a call moves forward, how a call ends.

use std::fmt::Debug;
use std::time::Instant;

use h2::PingPong;
use tokio::io::{AsyncRead, AsyncWrite};

use super::call_id::CallId;
use super::config::common::EndConfig;
use super::connection::{Abort, CallEnd, CallState, Connection, Core};
use super::error::SendError;
use super::event::common::EndEvent;
use super::frame::{FramesSeen, ReceivedGoAway};
use super::tap::Tap;

/// The server end of a connection: [`ServerConnection`](super::ServerConnection)
/// is `Connection<ServerSide>`.
#[derive(Debug)]
pub enum ServerSide {}

/// The client end of a connection: [`ClientConnection`](super::ClientConnection)
/// is `Connection<ClientSide>`.
#[derive(Debug)]
pub enum ClientSide {}

/// An end of a connection. Sealed: [`ServerSide`] and [`ClientSide`] are
/// the only two.
pub trait Side: hooks::SideHooks + Debug + Send + Sized + 'static {
    /// The connection's configuration.
    type Config: EndConfig + Clone + Debug + Send + Sync + 'static;
    /// What [`poll_event`](super::Connection::poll_event) gives.
    type Event: EndEvent + Debug + Send + 'static;
}

pub(crate) mod hooks {
    //! The hooks of [`Side`](super::Side): public in a private module, so
    //! that nothing outside the crate can name or implement them.

    use super::*;

    /// What each end supplies to the connection written once.
    pub trait SideHooks: Sized {
        /// The h2 end over an IO of type `T`.
        type H2<T>;
        /// The end's own connection state.
        type State: Send;
        /// The end's own part of a call's state.
        type Call: Send;
        /// Whether this is the client (which sends the connection preface).
        const CLIENT: bool;
        /// "server" or "client", for logs.
        const NAME: &'static str;
        /// Whether `recv_message` reaching the end of the peer's stream
        /// releases the call: the client's does (its outcome is known and no
        /// command is left to give); the server still answers.
        const END_OF_STREAM_RELEASES: bool;

        /// The end's state for a new connection.
        fn new_state(config: &Self::Config, now: Instant) -> Self::State
        where
            Self: Side;

        /// Starts h2 over `io` (which the tap wraps).
        fn start_h2<T>(io: Tap<T>, core: &mut Core<Self>) -> Self::H2<T>
        where
            Self: Side,
            T: AsyncRead + AsyncWrite + Unpin;
        /// Polls h2: accepts or opens streams, applies a graceful shutdown,
        /// notices h2's end.
        fn poll_h2<T>(conn: &mut Connection<Self, T>)
        where
            Self: Side,
            T: AsyncRead + AsyncWrite + Unpin;
        /// Applies an abort: h2 is told, or dropped for [`Abort::Hard`].
        fn abort<T>(conn: &mut Connection<Self, T>, abort: Abort)
        where
            Self: Side,
            T: AsyncRead + AsyncWrite + Unpin;
        /// h2's ping handle, taken the first time keepalive pings.
        fn ping_pong<T>(h2: &mut Self::H2<T>) -> Option<PingPong>
        where
            T: AsyncRead + AsyncWrite + Unpin;

        /// Moves a call forward: pulls input, notices its end, flushes output.
        fn service(core: &mut Core<Self>, id: CallId)
        where
            Self: Side;
        /// Work after each drive round (the client opens queued streams).
        fn after_round(_core: &mut Core<Self>)
        where
            Self: Side,
        {
        }
        /// Ends a call on the engine's initiative as `end` says: the call's
        /// end event follows unless the application released it (then the
        /// call goes).
        fn end_call(core: &mut Core<Self>, id: CallId, end: CallEnd)
        where
            Self: Side;
        /// Resets a call's stream with CANCEL: the application cancelled it.
        fn reset_call(core: &mut Core<Self>, id: CallId)
        where
            Self: Side;
        /// Whether the engine is done with a call (nothing left to hand to
        /// h2): with the application's release, it can go.
        fn is_call_over(call: &CallState<Self::Call>) -> bool;
        /// Whether the peer ended its stream normally (the server: the
        /// client half-closed; the client: the response is complete).
        fn peer_stream_ended(call: &CallState<Self::Call>) -> bool;
        /// A message was queued on `id` (the server sends its response
        /// headers with the first).
        fn message_queued(core: &mut Core<Self>, id: CallId) -> Result<(), SendError>
        where
            Self: Side;

        /// What the walkers saw this round: the server's ping policy, the
        /// client's GOAWAY.
        fn on_frames(
            core: &mut Core<Self>,
            received: FramesSeen,
            sent: FramesSeen,
            goaway: Option<ReceivedGoAway>,
        ) where
            Self: Side;
        /// A graceful shutdown was asked for.
        fn on_drain(_core: &mut Core<Self>)
        where
            Self: Side,
        {
        }
        /// The end's own next timer (the server's lifetime limits).
        fn side_timeout(_core: &Core<Self>) -> Option<Instant>
        where
            Self: Side,
        {
            None
        }
        /// Handles the end's own timers.
        fn handle_side_timeout(_core: &mut Core<Self>, _now: Instant)
        where
            Self: Side,
        {
        }
    }
}
