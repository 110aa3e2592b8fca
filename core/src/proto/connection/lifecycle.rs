//! [`Lifecycle`]: where a connection stands, as one value, and the error it
//! ended with (sticky).

use crate::proto::error::{ConnectionError, ErrorCode};

/// How a connection is to be closed at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Abort {
    /// GOAWAY with this code, after the resets of the calls still open.
    Code(ErrorCode),
    /// GOAWAY ENHANCE_YOUR_CALM with the debug data `too_many_pings`
    /// (server; h2 cannot send debug data, so the engine writes it).
    TooManyPings,
    /// Drop the transport without a word: the peer is unreachable (keepalive
    /// timeout) or never spoke HTTP/2 (handshake timeout).
    Hard,
}

/// Where a connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Calls flow both ways.
    Open,
    /// No new calls (a graceful shutdown, or the peer's GOAWAY); those open
    /// go on. `tell_h2`: h2 is still to be told (the server's GOAWAY).
    Draining { tell_h2: bool },
    /// To be closed at once, when h2 is next polled.
    Aborting(Abort),
    /// h2 ended: the calls still open end at the end of this drive round.
    Ending,
    /// Over. `reported`: the `Closed` event was handed out.
    Closed { reported: bool },
}

/// A connection's lifecycle and the error it ended with.
#[derive(Debug)]
pub(crate) struct Lifecycle {
    state: State,
    /// Set once, by the first failure (boxed: most connections never fail).
    error: Option<Box<ConnectionError>>,
}

impl Lifecycle {
    pub(crate) fn new() -> Lifecycle {
        Lifecycle {
            state: State::Open,
            error: None,
        }
    }

    /// Whether new calls may start.
    pub(crate) fn accepts_calls(&self) -> bool {
        self.state == State::Open
    }

    /// Whether a graceful shutdown (ours or the peer's) is under way.
    pub(crate) fn is_draining(&self) -> bool {
        matches!(self.state, State::Draining { .. })
    }

    /// Whether the connection is over (its `Closed` event may be pending).
    pub(crate) fn is_closed(&self) -> bool {
        matches!(self.state, State::Ending | State::Closed { .. })
    }

    /// The error the connection ended with.
    pub(crate) fn error(&self) -> Option<&ConnectionError> {
        self.error.as_deref()
    }

    /// Records why the connection fails, unless an earlier failure was.
    pub(crate) fn fail(&mut self, error: ConnectionError) {
        if self.error.is_none() {
            self.error = Some(Box::new(error));
        }
    }

    /// Starts a graceful shutdown; false if one is under way or the
    /// connection is closing already. `tell_h2`: whether h2 must send the
    /// GOAWAY (ours) or already knows (the peer's).
    pub(crate) fn drain(&mut self, tell_h2: bool) -> bool {
        if self.state != State::Open {
            return false;
        }
        self.state = State::Draining { tell_h2 };
        true
    }

    /// Takes the request to tell h2 of the graceful shutdown.
    pub(crate) fn take_drain_for_h2(&mut self) -> bool {
        if self.state == (State::Draining { tell_h2: true }) {
            self.state = State::Draining { tell_h2: false };
            return true;
        }
        false
    }

    /// Asks for the connection to be closed at once; false if it is closing.
    /// A hard abort overrides a pending softer one.
    pub(crate) fn abort(&mut self, abort: Abort) -> bool {
        match self.state {
            State::Ending | State::Closed { .. } => false,
            State::Aborting(_) if abort != Abort::Hard => false,
            _ => {
                self.state = State::Aborting(abort);
                true
            }
        }
    }

    /// Takes a pending abort, to apply it; the connection is ending then.
    pub(crate) fn take_abort(&mut self) -> Option<Abort> {
        match self.state {
            State::Aborting(abort) => {
                self.state = State::Ending;
                Some(abort)
            }
            _ => None,
        }
    }

    /// h2 is over; `error` says why, if not cleanly.
    pub(crate) fn h2_ended(&mut self, error: Option<ConnectionError>) {
        if let Some(error) = error {
            self.fail(error);
        }
        if !matches!(self.state, State::Closed { .. }) {
            self.state = State::Ending;
        }
    }

    /// Whether the connection just ended (true once): its calls must end now.
    pub(crate) fn take_ending(&mut self) -> bool {
        if self.state == State::Ending {
            self.state = State::Closed { reported: false };
            return true;
        }
        false
    }

    /// The `Closed` event's error, once the connection is closed (once).
    pub(crate) fn take_closed_report(&mut self) -> Option<Option<ConnectionError>> {
        if self.state == (State::Closed { reported: false }) {
            self.state = State::Closed { reported: true };
            return Some(self.error.as_deref().cloned());
        }
        None
    }

    /// The status calls still open end with when the connection ends.
    pub(crate) fn end_status(&self) -> crate::Status {
        match self.error() {
            Some(err) => err.to_status(),
            None => crate::Status::unavailable("connection closed"),
        }
    }
}

impl std::fmt::Display for Lifecycle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_goes_from_open_through_draining_to_closed_once() {
        let mut life = Lifecycle::new();
        assert!(life.accepts_calls());
        assert!(life.drain(true));
        assert!(!life.drain(true), "once");
        assert!(life.is_draining() && !life.accepts_calls());
        assert!(life.take_drain_for_h2());
        assert!(!life.take_drain_for_h2(), "h2 is told once");
        life.h2_ended(None);
        assert!(life.is_closed());
        assert!(life.take_ending());
        assert!(!life.take_ending(), "the calls end once");
        assert!(matches!(life.take_closed_report(), Some(None)));
        assert!(life.take_closed_report().is_none(), "reported once");
    }

    #[test]
    fn the_first_error_sticks_and_aborts_end_the_connection() {
        let mut life = Lifecycle::new();
        life.fail(ConnectionError::KeepaliveTimeout);
        assert!(life.abort(Abort::Code(ErrorCode::NO_ERROR)));
        assert!(!life.abort(Abort::TooManyPings), "one abort at a time");
        assert!(life.abort(Abort::Hard), "a hard abort overrides");
        assert_eq!(life.take_abort(), Some(Abort::Hard));
        assert!(life.is_closed());
        life.h2_ended(Some(ConnectionError::TransportClosed));
        assert!(matches!(
            life.error(),
            Some(ConnectionError::KeepaliveTimeout)
        ));
        assert!(!life.abort(Abort::Hard), "closing already");
        assert!(life.take_ending());
        assert!(matches!(
            life.take_closed_report(),
            Some(Some(ConnectionError::KeepaliveTimeout))
        ));
    }
}
