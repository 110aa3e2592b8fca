//! Server connection lifetime limits, with grpc-go's semantics
//! (`keepalive.ServerParameters` `MaxConnectionIdle`, `MaxConnectionAge`,
//! `MaxConnectionAgeGrace`).

use core::fmt;
use std::time::{Duration, Instant};

use super::timer::CloseReason;

/// Lifetime limits for a server connection. `None` is no limit, the
/// default for each (as in grpc-go).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct LifetimeConfig {
    /// Send GOAWAY once the connection has had no open calls for this long.
    pub max_connection_idle: Option<Duration>,
    /// Send GOAWAY once the connection is this old, calls or not. grpc-go
    /// adds ±10% random jitter so that connections made together do not
    /// all go away together; this engine reads no randomness, so a caller
    /// who wants jitter applies it to this value.
    pub max_connection_age: Option<Duration>,
    /// After the max-age GOAWAY, close the connection outright if calls are
    /// still open after this long.
    pub max_connection_age_grace: Option<Duration>,
}

/// Why the lifetime timer asks for a graceful GOAWAY.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GoAwayReason {
    /// No calls for `max_connection_idle`.
    Idle,
    /// The connection reached `max_connection_age`.
    MaxAge,
}

impl fmt::Display for GoAwayReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GoAwayReason::Idle => "the connection was idle for its maximum idle time",
            GoAwayReason::MaxAge => "the connection reached its maximum age",
        })
    }
}

/// What a [`ConnectionLifetime`] wants done at a timeout.
#[must_use]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LifetimeAction {
    /// Nothing.
    None,
    /// Start a graceful shutdown: GOAWAY (h2: `graceful_shutdown()`), let
    /// open calls finish, refuse new ones.
    GoAway(GoAwayReason),
    /// Close the connection at once (h2: `abrupt_shutdown(Reason::NO_ERROR)`,
    /// then drop the transport).
    CloseConnection(CloseReason),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Serving,
    Draining {
        reason: GoAwayReason,
        since: Instant,
    },
    Closed,
}

/// The idle and age limits of one server connection.
///
/// Call [`set_active_calls`](Self::set_active_calls) when the number of
/// open calls changes, and [`handle_timeout`](Self::handle_timeout) at
/// [`poll_timeout`](Self::poll_timeout). The rules:
///
/// - The connection is idle from its start, and again from each moment its
///   call count drops to zero; at `idle since + max_connection_idle` the
///   action is [`GoAway(Idle)`](GoAwayReason::Idle).
/// - At `start + max_connection_age` the action is
///   [`GoAway(MaxAge)`](GoAwayReason::MaxAge); if both are due, age wins.
/// - After a max-age GOAWAY issued at `t`, at `t + max_connection_age_grace`
///   the action is [`CloseConnection`](LifetimeAction::CloseConnection).
///   An idle GOAWAY has no such follow-up (there were no calls to wait for).
/// - Each action is returned once.
#[derive(Clone, Debug)]
pub struct ConnectionLifetime {
    config: LifetimeConfig,
    started_at: Instant,
    idle_since: Option<Instant>,
    phase: Phase,
}

impl ConnectionLifetime {
    /// Limits for a connection accepted at `now`, with no calls yet.
    pub fn new(config: LifetimeConfig, now: Instant) -> ConnectionLifetime {
        ConnectionLifetime {
            config,
            started_at: now,
            idle_since: Some(now),
            phase: Phase::Serving,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &LifetimeConfig {
        &self.config
    }

    /// The number of open calls changed at `now`.
    pub fn set_active_calls(&mut self, active_calls: usize, now: Instant) {
        if active_calls > 0 {
            self.idle_since = None;
        } else if self.idle_since.is_none() {
            self.idle_since = Some(now);
        }
    }

    /// Whether a GOAWAY has been asked for.
    pub fn is_draining(&self) -> bool {
        !matches!(self.phase, Phase::Serving)
    }

    /// When [`handle_timeout`](Self::handle_timeout) next has something to
    /// do, or `None` if nothing is scheduled.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.phase {
            Phase::Serving => {
                let age = self
                    .config
                    .max_connection_age
                    .and_then(|age| self.started_at.checked_add(age));
                let idle = self
                    .config
                    .max_connection_idle
                    .zip(self.idle_since)
                    .and_then(|(idle, since)| since.checked_add(idle));
                match (age, idle) {
                    (Some(a), Some(i)) => Some(a.min(i)),
                    (a, i) => a.or(i),
                }
            }
            Phase::Draining {
                reason: GoAwayReason::MaxAge,
                since,
            } => self
                .config
                .max_connection_age_grace
                .and_then(|grace| since.checked_add(grace)),
            Phase::Draining { .. } | Phase::Closed => None,
        }
    }

    /// Acts on the deadlines reached by `now`.
    pub fn handle_timeout(&mut self, now: Instant) -> LifetimeAction {
        let Some(deadline) = self.poll_timeout() else {
            return LifetimeAction::None;
        };
        if now < deadline {
            return LifetimeAction::None;
        }
        match self.phase {
            Phase::Serving => {
                let age_due = self
                    .config
                    .max_connection_age
                    .and_then(|age| self.started_at.checked_add(age))
                    .is_some_and(|at| at <= now);
                let reason = if age_due {
                    GoAwayReason::MaxAge
                } else {
                    GoAwayReason::Idle
                };
                self.phase = Phase::Draining { reason, since: now };
                LifetimeAction::GoAway(reason)
            }
            Phase::Draining { .. } => {
                self.phase = Phase::Closed;
                LifetimeAction::CloseConnection(CloseReason::MaxAgeGraceElapsed)
            }
            Phase::Closed => LifetimeAction::None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: Duration = Duration::from_secs(1);

    fn lifetime(
        idle: Option<u32>,
        age: Option<u32>,
        grace: Option<u32>,
    ) -> (ConnectionLifetime, Instant) {
        let t0 = Instant::now();
        let config = LifetimeConfig {
            max_connection_idle: idle.map(|s| s * SEC),
            max_connection_age: age.map(|s| s * SEC),
            max_connection_age_grace: grace.map(|s| s * SEC),
        };
        (ConnectionLifetime::new(config, t0), t0)
    }

    #[test]
    fn no_limits_by_default() {
        let (mut l, t0) = lifetime(None, None, None);
        assert_eq!(LifetimeConfig::default(), *l.config());
        assert_eq!(l.poll_timeout(), None);
        assert_eq!(l.handle_timeout(t0 + 1_000_000 * SEC), LifetimeAction::None);
        assert!(!l.is_draining());
    }

    #[test]
    fn idle_goaway_after_no_calls() {
        let (mut l, t0) = lifetime(Some(60), None, None);
        assert_eq!(l.poll_timeout(), Some(t0 + 60 * SEC), "idle from the start");
        l.set_active_calls(1, t0 + 10 * SEC);
        assert_eq!(l.poll_timeout(), None, "busy");
        l.set_active_calls(2, t0 + 20 * SEC);
        l.set_active_calls(0, t0 + 30 * SEC);
        assert_eq!(l.poll_timeout(), Some(t0 + 90 * SEC));
        l.set_active_calls(0, t0 + 40 * SEC); // still idle since 30 s
        assert_eq!(l.handle_timeout(t0 + 89 * SEC), LifetimeAction::None);
        assert_eq!(
            l.handle_timeout(t0 + 90 * SEC),
            LifetimeAction::GoAway(GoAwayReason::Idle)
        );
        assert!(l.is_draining());
        assert_eq!(l.poll_timeout(), None);
        assert_eq!(l.handle_timeout(t0 + 900 * SEC), LifetimeAction::None);
    }

    #[test]
    fn age_goaway_then_grace_close() {
        let (mut l, t0) = lifetime(None, Some(100), Some(10));
        l.set_active_calls(5, t0);
        assert_eq!(l.poll_timeout(), Some(t0 + 100 * SEC));
        assert_eq!(
            l.handle_timeout(t0 + 101 * SEC),
            LifetimeAction::GoAway(GoAwayReason::MaxAge)
        );
        assert_eq!(
            l.poll_timeout(),
            Some(t0 + 111 * SEC),
            "grace from the GOAWAY"
        );
        assert_eq!(l.handle_timeout(t0 + 110 * SEC), LifetimeAction::None);
        assert_eq!(
            l.handle_timeout(t0 + 111 * SEC),
            LifetimeAction::CloseConnection(CloseReason::MaxAgeGraceElapsed)
        );
        assert_eq!(l.poll_timeout(), None);
        assert_eq!(l.handle_timeout(t0 + 999 * SEC), LifetimeAction::None);
    }

    #[test]
    fn age_without_grace_only_goes_away() {
        let (mut l, t0) = lifetime(None, Some(100), None);
        assert_eq!(
            l.handle_timeout(t0 + 100 * SEC),
            LifetimeAction::GoAway(GoAwayReason::MaxAge)
        );
        assert_eq!(l.poll_timeout(), None);
    }

    #[test]
    fn earliest_limit_first_and_age_wins_ties() {
        let (l, t0) = lifetime(Some(50), Some(100), Some(1));
        assert_eq!(l.poll_timeout(), Some(t0 + 50 * SEC));
        let (mut l, t0) = lifetime(Some(100), Some(100), Some(1));
        assert_eq!(
            l.handle_timeout(t0 + 100 * SEC),
            LifetimeAction::GoAway(GoAwayReason::MaxAge)
        );
        let (mut l, t0) = lifetime(Some(50), Some(100), Some(1));
        assert_eq!(
            l.handle_timeout(t0 + 60 * SEC),
            LifetimeAction::GoAway(GoAwayReason::Idle)
        );
        assert_eq!(l.poll_timeout(), None, "no grace after an idle GOAWAY");
    }

    #[test]
    fn huge_limits_do_not_overflow() {
        let t0 = Instant::now();
        let mut l = ConnectionLifetime::new(
            LifetimeConfig {
                max_connection_idle: Some(Duration::MAX),
                max_connection_age: Some(Duration::MAX),
                max_connection_age_grace: Some(Duration::MAX),
            },
            t0,
        );
        assert_eq!(l.poll_timeout(), None);
        assert_eq!(l.handle_timeout(t0 + SEC), LifetimeAction::None);
    }

    #[test]
    fn reason_messages() {
        assert_eq!(
            GoAwayReason::Idle.to_string(),
            "the connection was idle for its maximum idle time"
        );
        assert_eq!(
            GoAwayReason::MaxAge.to_string(),
            "the connection reached its maximum age"
        );
    }
}
