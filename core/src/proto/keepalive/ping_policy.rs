//! Server-side ping-abuse enforcement, with grpc-go's semantics
//! (`keepalive.EnforcementPolicy`, `http2Server.handlePing`).

use std::time::{Duration, Instant};

/// How often a client may ping when it has no calls open and the policy
/// does not permit pings without calls (grpc-go's `defaultPingTimeout`).
pub const NO_CALLS_MIN_PING_INTERVAL: Duration = Duration::from_secs(2 * 60 * 60);

/// The server's policy for client pings (grpc-go `keepalive.EnforcementPolicy`,
/// grpc-core `GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS` and
/// `GRPC_ARG_HTTP2_MAX_PING_STRIKES`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PingPolicyConfig {
    /// The shortest gap between two client pings that is not a strike while
    /// calls are open (or while `permit_without_calls`). Default 5 minutes.
    /// `Duration::ZERO` with `permit_without_calls` turns enforcement off.
    pub min_time: Duration,
    /// Whether pings on a connection without calls are held to `min_time`
    /// (true) or to [`NO_CALLS_MIN_PING_INTERVAL`] (false, the default).
    pub permit_without_calls: bool,
    /// How many strikes are forgiven: the ping that makes the count exceed
    /// this ends the connection. Default 2, so the third bad ping does.
    pub max_ping_strikes: u32,
}

impl PingPolicyConfig {
    /// grpc-go's default `MinTime`.
    pub const DEFAULT_MIN_TIME: Duration = Duration::from_secs(5 * 60);
    /// grpc-go's `maxPingStrikes` and grpc-core's default.
    pub const DEFAULT_MAX_PING_STRIKES: u32 = 2;
}

impl Default for PingPolicyConfig {
    fn default() -> PingPolicyConfig {
        PingPolicyConfig {
            min_time: PingPolicyConfig::DEFAULT_MIN_TIME,
            permit_without_calls: false,
            max_ping_strikes: PingPolicyConfig::DEFAULT_MAX_PING_STRIKES,
        }
    }
}

/// What to do about a ping the client just sent.
#[must_use]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PingVerdict {
    /// Nothing: h2 answers the ping as usual.
    Ok,
    /// The client pinged too often: send GOAWAY with ENHANCE_YOUR_CALM and
    /// debug data `too_many_pings`, then close the connection (see
    /// [`encode_goaway`](crate::proto::frame::encode_goaway)).
    TooManyPings,
}

/// Counts a client's ping strikes, the way grpc-go's server does.
///
/// The rules, for each received PING without the ACK flag
/// ([`on_ping_received`](Self::on_ping_received)):
///
/// 1. If the server has sent HEADERS or DATA since the previous ping
///    ([`on_data_or_headers_sent`](Self::on_data_or_headers_sent)), the
///    strikes go back to zero and this ping is not judged.
/// 2. Otherwise the allowed gap is `min_time` when calls are open or
///    `permit_without_calls` is set, and [`NO_CALLS_MIN_PING_INTERVAL`]
///    otherwise. If a previous ping arrived less than that gap ago
///    (strictly less), the ping is a strike. The first ping on a connection
///    is never a strike.
/// 3. Every ping, judged or not, becomes the "previous ping" for the next.
/// 4. While the strikes exceed `max_ping_strikes` the verdict is
///    [`PingVerdict::TooManyPings`] (the connection should be closed at the
///    first one; only a forgiven ping, rule 1, would bring the count down).
///
/// PING ACKs (answers to our own pings) are not pings here: do not report
/// them.
#[derive(Clone, Debug)]
pub struct PingPolicy {
    config: PingPolicyConfig,
    state: PingPolicyState,
}

impl PingPolicy {
    /// A policy with no pings seen yet.
    pub fn new(config: PingPolicyConfig) -> PingPolicy {
        PingPolicy {
            config,
            state: PingPolicyState::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &PingPolicyConfig {
        &self.config
    }

    /// Judges a PING (without ACK) received at `now` while `active_calls`
    /// calls are open on the connection.
    pub fn on_ping_received(&mut self, now: Instant, active_calls: usize) -> PingVerdict {
        self.state.on_ping_received(&self.config, now, active_calls)
    }

    /// Call whenever the server sends a HEADERS or DATA frame (response
    /// headers, messages, trailers): the next ping is forgiven and resets
    /// the strikes, because a client that receives data may ping after it.
    pub fn on_data_or_headers_sent(&mut self) {
        self.state.on_data_or_headers_sent();
    }

    /// Strikes counted so far.
    pub fn strikes(&self) -> u32 {
        self.state.strikes
    }
}

/// A [`PingPolicy`] without its configuration, which each call is given:
/// what a server connection keeps, its configuration being the server's
/// shared one.
#[derive(Clone, Debug, Default)]
pub(crate) struct PingPolicyState {
    last_ping_at: Option<Instant>,
    strikes: u32,
    sent_data_since_last_ping: bool,
}

impl PingPolicyState {
    /// See [`PingPolicy::on_ping_received`].
    pub(crate) fn on_ping_received(
        &mut self,
        config: &PingPolicyConfig,
        now: Instant,
        active_calls: usize,
    ) -> PingVerdict {
        let previous = self.last_ping_at.replace(now);
        if core::mem::take(&mut self.sent_data_since_last_ping) {
            self.strikes = 0;
            return PingVerdict::Ok;
        }
        let allowed_gap = if active_calls > 0 || config.permit_without_calls {
            config.min_time
        } else {
            NO_CALLS_MIN_PING_INTERVAL
        };
        if let Some(previous) = previous
            && now.saturating_duration_since(previous) < allowed_gap
        {
            self.strikes = self.strikes.saturating_add(1);
        }
        if self.strikes > config.max_ping_strikes {
            PingVerdict::TooManyPings
        } else {
            PingVerdict::Ok
        }
    }

    /// See [`PingPolicy::on_data_or_headers_sent`].
    pub(crate) fn on_data_or_headers_sent(&mut self) {
        self.sent_data_since_last_ping = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: Duration = Duration::from_secs(1);

    fn policy(min_time: Duration, permit_without_calls: bool) -> PingPolicy {
        PingPolicy::new(PingPolicyConfig {
            min_time,
            permit_without_calls,
            max_ping_strikes: 2,
        })
    }

    #[test]
    fn defaults_match_grpc_go() {
        let config = PingPolicyConfig::default();
        assert_eq!(config.min_time, Duration::from_secs(300));
        assert!(!config.permit_without_calls);
        assert_eq!(config.max_ping_strikes, 2);
    }

    #[test]
    fn third_strike_is_too_many() {
        let base = Instant::now();
        let mut p = policy(10 * SEC, false);
        // (seconds since base, expected verdict, expected strikes)
        let steps = [
            (0, PingVerdict::Ok, 0), // first ping: never a strike
            (1, PingVerdict::Ok, 1),
            (2, PingVerdict::Ok, 2),
            (3, PingVerdict::TooManyPings, 3),
            (100, PingVerdict::TooManyPings, 3), // strikes never decay by time
        ];
        for (at, verdict, strikes) in steps {
            assert_eq!(p.on_ping_received(base + at * SEC, 1), verdict, "at {at}s");
            assert_eq!(p.strikes(), strikes, "at {at}s");
        }
    }

    #[test]
    fn exactly_min_time_is_not_a_strike() {
        let base = Instant::now();
        let mut p = policy(10 * SEC, false);
        for i in 0..10 {
            assert_eq!(p.on_ping_received(base + i * 10 * SEC, 1), PingVerdict::Ok);
        }
        assert_eq!(p.strikes(), 0);
        assert_eq!(
            p.on_ping_received(base + 90 * SEC + Duration::from_millis(9_999), 1),
            PingVerdict::Ok
        );
        assert_eq!(p.strikes(), 1, "9.999 s after the previous ping");
    }

    #[test]
    fn gap_is_measured_from_every_ping_not_only_good_ones() {
        let base = Instant::now();
        let mut p = policy(10 * SEC, false);
        let _ = p.on_ping_received(base, 1);
        let _ = p.on_ping_received(base + 9 * SEC, 1); // strike 1
        // 10 s after the first ping but only 2 s after the second: a strike.
        let _ = p.on_ping_received(base + 11 * SEC, 1);
        assert_eq!(p.strikes(), 2);
    }

    #[test]
    fn sending_data_forgives_the_next_ping() {
        let base = Instant::now();
        let mut p = policy(10 * SEC, false);
        let _ = p.on_ping_received(base, 1);
        let _ = p.on_ping_received(base + SEC, 1);
        let _ = p.on_ping_received(base + 2 * SEC, 1);
        assert_eq!(p.strikes(), 2);
        p.on_data_or_headers_sent();
        p.on_data_or_headers_sent(); // several sends still forgive one ping
        assert_eq!(p.on_ping_received(base + 3 * SEC, 1), PingVerdict::Ok);
        assert_eq!(p.strikes(), 0, "reset, and the forgiven ping is not judged");
        let _ = p.on_ping_received(base + 4 * SEC, 1);
        assert_eq!(p.strikes(), 1, "only the next ping is forgiven");
    }

    #[test]
    fn without_calls_the_gap_is_two_hours() {
        let base = Instant::now();
        let mut p = policy(10 * SEC, false);
        let _ = p.on_ping_received(base, 0);
        let _ = p.on_ping_received(base + 3600 * SEC, 0);
        assert_eq!(p.strikes(), 1, "an hour apart with no calls");
        let _ = p.on_ping_received(base + 3 * 3600 * SEC, 0);
        assert_eq!(p.strikes(), 1, "two hours apart is fine");
        let _ = p.on_ping_received(base + 3 * 3600 * SEC + 10 * SEC, 1);
        assert_eq!(p.strikes(), 1, "with a call open min_time applies");
    }

    #[test]
    fn permit_without_calls_uses_min_time() {
        let base = Instant::now();
        let mut p = policy(10 * SEC, true);
        let _ = p.on_ping_received(base, 0);
        let _ = p.on_ping_received(base + 10 * SEC, 0);
        assert_eq!(p.strikes(), 0);
        let _ = p.on_ping_received(base + 11 * SEC, 0);
        assert_eq!(p.strikes(), 1);
    }

    #[test]
    fn zero_min_time_with_permit_never_strikes() {
        let base = Instant::now();
        let mut p = policy(Duration::ZERO, true);
        for _ in 0..1000 {
            assert_eq!(p.on_ping_received(base, 0), PingVerdict::Ok);
        }
        assert_eq!(p.strikes(), 0);
    }

    #[test]
    fn zero_max_strikes_ends_on_first_strike() {
        let base = Instant::now();
        let mut p = PingPolicy::new(PingPolicyConfig {
            max_ping_strikes: 0,
            ..PingPolicyConfig::default()
        });
        assert_eq!(p.on_ping_received(base, 1), PingVerdict::Ok);
        assert_eq!(p.on_ping_received(base, 1), PingVerdict::TooManyPings);
    }

    #[test]
    fn time_going_backwards_is_a_strike_not_a_panic() {
        let base = Instant::now() + 100 * SEC;
        let mut p = policy(10 * SEC, false);
        let _ = p.on_ping_received(base, 1);
        let _ = p.on_ping_received(base - 50 * SEC, 1);
        assert_eq!(p.strikes(), 1);
    }
}
