//! Keepalive pings, with grpc-go's semantics (`http2Client.keepalive`,
//! `http2Server.keepalive`): after `interval` without hearing from the peer,
//! send a PING; if nothing arrives within `timeout`, the connection is dead.

use core::fmt;
use std::time::{Duration, Instant};

/// Keepalive settings (grpc-go `keepalive.ClientParameters` /
/// `keepalive.ServerParameters` `Time`, `Timeout`, `PermitWithoutStream`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct KeepaliveConfig {
    /// Quiet time after which a PING is sent: time since anything was last
    /// received from the peer. `Duration::MAX` never pings.
    pub interval: Duration,
    /// How long to wait, after sending the PING, for anything from the peer
    /// before closing the connection.
    pub timeout: Duration,
    /// Whether to ping when no calls are open. When false, the timer sleeps
    /// while the connection has no calls and forgets an unanswered ping.
    pub permit_without_calls: bool,
}

impl KeepaliveConfig {
    /// grpc-go's default `Timeout` (20 s), on both sides.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);
    /// grpc-go's default server `Time` (2 hours).
    pub const DEFAULT_SERVER_INTERVAL: Duration = Duration::from_secs(2 * 60 * 60);
    /// The shortest client `Time` grpc-go accepts (it raises smaller values
    /// to this). Not enforced here; pinging more often than the server's
    /// [`PingPolicyConfig::min_time`](super::PingPolicyConfig::min_time)
    /// (5 minutes by default) gets a client disconnected.
    pub const MIN_CLIENT_INTERVAL: Duration = Duration::from_secs(10);

    /// Client keepalive, off by default in grpc-go and turned on with an
    /// interval: `interval`, the default timeout, no pings without calls.
    pub const fn client(interval: Duration) -> KeepaliveConfig {
        KeepaliveConfig {
            interval,
            timeout: KeepaliveConfig::DEFAULT_TIMEOUT,
            permit_without_calls: false,
        }
    }

    /// grpc-go's server defaults: ping after 2 hours of quiet, wait 20 s,
    /// whether or not calls are open (servers always keep alive).
    pub const fn server() -> KeepaliveConfig {
        KeepaliveConfig {
            interval: KeepaliveConfig::DEFAULT_SERVER_INTERVAL,
            timeout: KeepaliveConfig::DEFAULT_TIMEOUT,
            permit_without_calls: true,
        }
    }
}

/// Why a timer wants the connection closed now, without a graceful drain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CloseReason {
    /// A keepalive PING went unanswered, and nothing else arrived, for the
    /// keepalive timeout.
    KeepaliveTimeout,
    /// The connection reached its maximum age, was sent GOAWAY, and its
    /// calls did not finish within the grace period.
    MaxAgeGraceElapsed,
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CloseReason::KeepaliveTimeout => {
                "keepalive ping was not answered within the keepalive timeout"
            }
            CloseReason::MaxAgeGraceElapsed => {
                "the connection outlived its maximum age and grace period"
            }
        })
    }
}

/// What a [`KeepaliveTimer`] wants done at a timeout.
#[must_use]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeepaliveAction {
    /// Nothing (an early or repeated call, or keepalive is asleep).
    None,
    /// Send a PING now (h2: `PingPong::send_ping(Ping::opaque())`).
    SendPing,
    /// Close the connection at once; the peer is gone. Further calls
    /// return [`KeepaliveAction::None`].
    CloseConnection(CloseReason),
}

/// The keepalive state machine for one connection, client or server.
///
/// Call order, all with the caller's `now` (time only moves forward; an
/// early [`handle_timeout`](Self::handle_timeout) is harmless):
///
/// - [`on_activity`](Self::on_activity) whenever a frame arrives from the
///   peer — any frame, as grpc-go counts any read. A PING ACK is activity
///   too; [`on_pong`](Self::on_pong) is the same call under the name that
///   reads better where h2's `PingPong::poll_pong` is ready.
/// - [`set_active_calls`](Self::set_active_calls) when the number of open
///   calls changes (matters only without `permit_without_calls`).
/// - [`poll_timeout`](Self::poll_timeout) for the next deadline, and
///   [`handle_timeout`](Self::handle_timeout) when it is reached.
///
/// The rules:
/// - With no ping outstanding, a ping is due at `last activity + interval`.
/// - A sent ping is outstanding until any activity; if none comes by
///   `sent + timeout`, the verdict is [`CloseReason::KeepaliveTimeout`].
/// - Without `permit_without_calls`, while no calls are open the timer has
///   no deadline, and dropping to zero calls forgets an outstanding ping.
///   When a call opens after the quiet time has passed, a ping is due at
///   once (grpc-go wakes from dormancy with a ping).
#[derive(Clone, Debug)]
pub struct KeepaliveTimer {
    config: KeepaliveConfig,
    state: KeepaliveState,
}

impl KeepaliveTimer {
    /// A timer for a connection established at `now` (which counts as
    /// activity) with no calls open.
    pub fn new(config: KeepaliveConfig, now: Instant) -> KeepaliveTimer {
        KeepaliveTimer {
            config,
            state: KeepaliveState::new(now),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &KeepaliveConfig {
        &self.config
    }

    /// Something arrived from the peer at `now`: the peer is alive.
    pub fn on_activity(&mut self, now: Instant) {
        self.state.on_activity(now);
    }

    /// Our PING was answered at `now`. Same as [`on_activity`](Self::on_activity).
    pub fn on_pong(&mut self, now: Instant) {
        self.state.on_activity(now);
    }

    /// The number of open calls changed.
    pub fn set_active_calls(&mut self, active_calls: usize) {
        self.state.set_active_calls(&self.config, active_calls);
    }

    /// Whether a PING has been sent and nothing has been heard since.
    pub fn is_ping_outstanding(&self) -> bool {
        self.state.ping_sent_at.is_some()
    }

    /// When [`handle_timeout`](Self::handle_timeout) next has something to
    /// do, or `None` if nothing is scheduled.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.state.poll_timeout(&self.config)
    }

    /// Acts on the deadlines reached by `now`.
    pub fn handle_timeout(&mut self, now: Instant) -> KeepaliveAction {
        self.state.handle_timeout(&self.config, now)
    }
}

/// A [`KeepaliveTimer`] without its configuration, which each call is
/// given: what a server connection keeps, its configuration being the
/// server's shared one.
#[derive(Clone, Debug)]
pub(crate) struct KeepaliveState {
    last_activity: Instant,
    ping_sent_at: Option<Instant>,
    /// Only whether calls are open matters (see `is_asleep`).
    calls_open: bool,
    closed: bool,
}

impl KeepaliveState {
    /// See [`KeepaliveTimer::new`].
    pub(crate) fn new(now: Instant) -> KeepaliveState {
        KeepaliveState {
            last_activity: now,
            ping_sent_at: None,
            calls_open: false,
            closed: false,
        }
    }

    /// See [`KeepaliveTimer::on_activity`].
    pub(crate) fn on_activity(&mut self, now: Instant) {
        self.last_activity = self.last_activity.max(now);
        self.ping_sent_at = None;
    }

    /// See [`KeepaliveTimer::set_active_calls`].
    pub(crate) fn set_active_calls(&mut self, config: &KeepaliveConfig, active_calls: usize) {
        self.calls_open = active_calls > 0;
        if self.is_asleep(config) {
            self.ping_sent_at = None;
        }
    }

    /// See [`KeepaliveTimer::poll_timeout`].
    pub(crate) fn poll_timeout(&self, config: &KeepaliveConfig) -> Option<Instant> {
        if self.closed || self.is_asleep(config) {
            return None;
        }
        match self.ping_sent_at {
            Some(sent) => sent.checked_add(config.timeout),
            None => self.last_activity.checked_add(config.interval),
        }
    }

    /// See [`KeepaliveTimer::handle_timeout`].
    pub(crate) fn handle_timeout(
        &mut self,
        config: &KeepaliveConfig,
        now: Instant,
    ) -> KeepaliveAction {
        let Some(deadline) = self.poll_timeout(config) else {
            return KeepaliveAction::None;
        };
        if now < deadline {
            return KeepaliveAction::None;
        }
        if self.ping_sent_at.is_some() {
            self.closed = true;
            KeepaliveAction::CloseConnection(CloseReason::KeepaliveTimeout)
        } else {
            self.ping_sent_at = Some(now);
            KeepaliveAction::SendPing
        }
    }

    fn is_asleep(&self, config: &KeepaliveConfig) -> bool {
        !self.calls_open && !config.permit_without_calls
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: Duration = Duration::from_secs(1);

    fn config(interval: u32, timeout: u32, permit_without_calls: bool) -> KeepaliveConfig {
        KeepaliveConfig {
            interval: interval * SEC,
            timeout: timeout * SEC,
            permit_without_calls,
        }
    }

    #[test]
    fn defaults() {
        assert_eq!(KeepaliveConfig::server().interval, 7200 * SEC);
        assert_eq!(KeepaliveConfig::server().timeout, 20 * SEC);
        assert!(KeepaliveConfig::server().permit_without_calls);
        let client = KeepaliveConfig::client(30 * SEC);
        assert_eq!(client.interval, 30 * SEC);
        assert_eq!(client.timeout, 20 * SEC);
        assert!(!client.permit_without_calls);
    }

    #[test]
    fn pings_after_quiet_interval_and_again_after_pong() {
        let t0 = Instant::now();
        let mut timer = KeepaliveTimer::new(config(10, 3, true), t0);
        assert_eq!(timer.poll_timeout(), Some(t0 + 10 * SEC));
        assert_eq!(
            timer.handle_timeout(t0 + 9 * SEC),
            KeepaliveAction::None,
            "early"
        );
        assert_eq!(
            timer.handle_timeout(t0 + 10 * SEC),
            KeepaliveAction::SendPing
        );
        assert!(timer.is_ping_outstanding());
        assert_eq!(timer.poll_timeout(), Some(t0 + 13 * SEC));
        assert_eq!(
            timer.handle_timeout(t0 + 10 * SEC),
            KeepaliveAction::None,
            "repeat"
        );
        timer.on_pong(t0 + 11 * SEC);
        assert!(!timer.is_ping_outstanding());
        assert_eq!(timer.poll_timeout(), Some(t0 + 21 * SEC));
        assert_eq!(
            timer.handle_timeout(t0 + 21 * SEC),
            KeepaliveAction::SendPing
        );
    }

    #[test]
    fn activity_postpones_the_ping() {
        let t0 = Instant::now();
        let mut timer = KeepaliveTimer::new(config(10, 3, true), t0);
        timer.on_activity(t0 + 4 * SEC);
        assert_eq!(timer.handle_timeout(t0 + 10 * SEC), KeepaliveAction::None);
        assert_eq!(timer.poll_timeout(), Some(t0 + 14 * SEC));
        timer.on_activity(t0 + 2 * SEC); // stale report: time never goes back
        assert_eq!(timer.poll_timeout(), Some(t0 + 14 * SEC));
    }

    #[test]
    fn unanswered_ping_closes_the_connection() {
        let t0 = Instant::now();
        let mut timer = KeepaliveTimer::new(config(10, 3, true), t0);
        assert_eq!(
            timer.handle_timeout(t0 + 10 * SEC),
            KeepaliveAction::SendPing
        );
        assert_eq!(timer.handle_timeout(t0 + 12 * SEC), KeepaliveAction::None);
        assert_eq!(
            timer.handle_timeout(t0 + 13 * SEC),
            KeepaliveAction::CloseConnection(CloseReason::KeepaliveTimeout)
        );
        assert_eq!(timer.poll_timeout(), None);
        assert_eq!(timer.handle_timeout(t0 + 99 * SEC), KeepaliveAction::None);
    }

    #[test]
    fn any_activity_answers_the_ping() {
        let t0 = Instant::now();
        let mut timer = KeepaliveTimer::new(config(10, 3, true), t0);
        assert_eq!(
            timer.handle_timeout(t0 + 10 * SEC),
            KeepaliveAction::SendPing
        );
        timer.on_activity(t0 + 12 * SEC);
        assert_eq!(timer.handle_timeout(t0 + 13 * SEC), KeepaliveAction::None);
        assert_eq!(timer.poll_timeout(), Some(t0 + 22 * SEC));
    }

    #[test]
    fn late_handle_timeout_sends_ping_at_the_late_time() {
        let t0 = Instant::now();
        let mut timer = KeepaliveTimer::new(config(10, 3, true), t0);
        assert_eq!(
            timer.handle_timeout(t0 + 50 * SEC),
            KeepaliveAction::SendPing
        );
        assert_eq!(
            timer.poll_timeout(),
            Some(t0 + 53 * SEC),
            "timeout from when it was sent"
        );
    }

    #[test]
    fn sleeps_without_calls_unless_permitted() {
        let t0 = Instant::now();
        let mut timer = KeepaliveTimer::new(config(10, 3, false), t0);
        assert_eq!(timer.poll_timeout(), None);
        assert_eq!(timer.handle_timeout(t0 + 100 * SEC), KeepaliveAction::None);
        timer.set_active_calls(1);
        assert_eq!(
            timer.poll_timeout(),
            Some(t0 + 10 * SEC),
            "overdue: ping at once"
        );
        assert_eq!(
            timer.handle_timeout(t0 + 100 * SEC),
            KeepaliveAction::SendPing
        );
        // The call ends before the pong: the ping is forgotten...
        timer.set_active_calls(0);
        assert!(!timer.is_ping_outstanding());
        assert_eq!(timer.handle_timeout(t0 + 200 * SEC), KeepaliveAction::None);
        // ...and a new call starts a fresh ping rather than a stale timeout.
        timer.set_active_calls(2);
        assert_eq!(
            timer.handle_timeout(t0 + 200 * SEC),
            KeepaliveAction::SendPing
        );
        assert_eq!(timer.poll_timeout(), Some(t0 + 203 * SEC));
    }

    #[test]
    fn permit_without_calls_keeps_pinging_idle_connections() {
        let t0 = Instant::now();
        let mut timer = KeepaliveTimer::new(config(10, 3, true), t0);
        timer.set_active_calls(0);
        assert_eq!(
            timer.handle_timeout(t0 + 10 * SEC),
            KeepaliveAction::SendPing
        );
        timer.set_active_calls(0);
        assert!(timer.is_ping_outstanding());
    }

    #[test]
    fn huge_interval_never_pings() {
        let t0 = Instant::now();
        let mut timer = KeepaliveTimer::new(
            KeepaliveConfig {
                interval: Duration::MAX,
                ..KeepaliveConfig::server()
            },
            t0,
        );
        assert_eq!(timer.poll_timeout(), None);
        assert_eq!(
            timer.handle_timeout(t0 + 1_000_000 * SEC),
            KeepaliveAction::None
        );
    }

    #[test]
    fn close_reason_messages() {
        assert_eq!(
            CloseReason::KeepaliveTimeout.to_string(),
            "keepalive ping was not answered within the keepalive timeout"
        );
    }
}
