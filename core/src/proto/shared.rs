//! Pieces of a connection that are not the connection itself: what the
//! next drive must do ([`DriveState`]: wakers, flags, the clock), the call
//! deadlines ([`DeadlineQueue`]), when idle memory is given back
//! ([`IdleTrim`]), and h2's builders from our limits.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::task::Waker;
use std::time::{Duration, Instant};

use super::call_id::CallId;
use super::config::Limits;
use super::tap::TapHandle;
use super::transport::MemoryTransport;
use super::wake::{CallWake, ConnWaker};

/// How many rounds of "poll h2, service woken calls" one drive may take
/// before yielding; the rest is picked up by the next drive.
pub(crate) const MAX_DRIVE_ROUNDS: usize = 64;

/// What the next drive must do, and the wakers that say so: h2 wakes the
/// connection (`conn_waker`) when it wants to be polled, calls are woken
/// into its ready queue, commands mark the state dirty.
#[derive(Debug)]
pub(crate) struct DriveState {
    pub(crate) ready_buf: Vec<CallId>,
    /// Also holds the queue of woken calls (`conn_waker.ready`).
    pub(crate) conn_waker: Arc<ConnWaker>,
    pub(crate) conn_waker_handle: Waker,
    /// The in-memory transport, when the engine owns the IO.
    pub(crate) memory: Option<MemoryTransport>,
    /// Work is left over (the drive hit its round limit, or a command changed
    /// state): the next poll must drive.
    pub(crate) dirty: bool,
    /// The next drive must poll h2 even if h2 did not ask (input arrived,
    /// output room appeared, a timer fired, a shutdown was requested).
    pub(crate) poll_needed: bool,
    /// The latest `now` the caller gave.
    pub(crate) now: Instant,
    pub(crate) deadlines: DeadlineQueue,
}

impl DriveState {
    /// The state of a new connection, whose waker is the one holding
    /// `tap`'s state.
    pub(crate) fn new(
        memory: Option<MemoryTransport>,
        now: Instant,
        tap: &TapHandle,
    ) -> DriveState {
        let conn_waker = Arc::clone(tap.conn_waker());
        DriveState {
            ready_buf: Vec::new(),
            conn_waker_handle: Waker::from(Arc::clone(&conn_waker)),
            conn_waker,
            memory,
            dirty: true,
            poll_needed: true,
            now,
            deadlines: DeadlineQueue::default(),
        }
    }

    /// Whether a drive has work: leftover rounds, a command changed state, h2
    /// woke the connection, or a call was woken.
    pub(crate) fn needs_drive(&self) -> bool {
        self.dirty
            || self.poll_needed
            || self.conn_waker.is_woken()
            || !self.conn_waker.ready.is_empty()
    }

    /// A command changed state: the next poll drives, and the caller's task
    /// (driving over its own IO) is woken to make that poll. Once is enough
    /// until that drive (which clears `dirty`): a call sending a stream of
    /// messages makes one wake, not one per message.
    pub(crate) fn request_drive(&mut self) {
        if !std::mem::replace(&mut self.dirty, true) {
            self.conn_waker.wake_outer();
        }
    }

    /// Like [`request_drive`](Self::request_drive), and that drive polls h2.
    pub(crate) fn request_poll(&mut self) {
        self.poll_needed = true;
        self.request_drive();
    }

    /// Whether this round must poll h2: asked for, or h2 woke the connection.
    pub(crate) fn take_poll(&mut self) -> bool {
        let woken = self.conn_waker.take_woken();
        std::mem::take(&mut self.poll_needed) || woken
    }

    /// Whether the next round must poll h2 (without taking the request).
    pub(crate) fn wants_poll(&self) -> bool {
        self.poll_needed || self.conn_waker.is_woken()
    }

    /// A fresh waker for a new call.
    pub(crate) fn call_wake(&self, id: CallId) -> CallWake {
        CallWake::new(id, &self.conn_waker)
    }

    /// Time only moves forward: an earlier `now` than one seen before is
    /// treated as the later one.
    pub(crate) fn advance(&mut self, now: Instant) -> Instant {
        if now > self.now {
            self.now = now;
        }
        self.now
    }

    /// Takes the ids of woken calls.
    pub(crate) fn take_ready(&mut self) -> Vec<CallId> {
        let mut ids = std::mem::take(&mut self.ready_buf);
        self.conn_waker.ready.drain_into(&mut ids);
        ids
    }

    /// Gives the id buffer back for reuse.
    pub(crate) fn return_ready(&mut self, mut ids: Vec<CallId>) {
        ids.clear();
        self.ready_buf = ids;
    }

    /// Gives back the room the queues grew to while calls ran (the
    /// connection is idle: see [`IdleTrim`]); `live` says which calls are
    /// still open.
    pub(crate) fn release_memory(&mut self, live: impl Fn(CallId) -> bool) {
        self.ready_buf = Vec::new();
        self.conn_waker.ready.release_memory();
        self.deadlines.heap.retain(|Reverse((_, id))| live(*id));
        self.deadlines.heap.shrink_to_fit();
    }
}

/// How long a connection with no call open keeps the memory its calls used
/// (call slots, queues) for the next call: long enough that calls made one
/// after another do not allocate that memory again each time, short enough
/// that idle connections stay small.
pub(crate) const IDLE_TRIM_AFTER: Duration = Duration::from_secs(1);

/// When an idle connection gives back its calls' memory.
///
/// Memory is kept for the next call only once calls have been seen to follow
/// one another: the first call of a connection (or the first after a quiet
/// spell) gives its memory back as soon as it ends, since many connections
/// make one call and then sit idle; a call that begins within
/// [`IDLE_TRIM_AFTER`] of the previous one's end keeps it, and so does every
/// call after it until the connection has been quiet for that long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IdleTrim {
    /// Calls are open. `warm`: they followed an earlier call closely, so
    /// their memory is kept when they end.
    Busy {
        /// The calls followed an earlier call closely.
        warm: bool,
    },
    /// No call open; the memory is kept and given back at this instant.
    Due(Instant),
    /// No call open and the memory given back; a call before this instant
    /// still counts as following the last one.
    Cooling(Instant),
    /// Given back (or nothing taken yet), and quiet for a while.
    Done,
}

/// What a drive's outcome means for the calls' memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TrimVerdict {
    /// Nothing to do now.
    Keep,
    /// Give the memory back now (a lone call ended).
    Release,
}

impl IdleTrim {
    /// Notes, after a drive at `now`, whether any call is open.
    pub(crate) fn note(&mut self, calls_open: bool, now: Instant) -> TrimVerdict {
        let (next, verdict) = match *self {
            IdleTrim::Busy { warm } if calls_open => (IdleTrim::Busy { warm }, TrimVerdict::Keep),
            IdleTrim::Due(_) if calls_open => (IdleTrim::Busy { warm: true }, TrimVerdict::Keep),
            IdleTrim::Cooling(until) if calls_open => {
                (IdleTrim::Busy { warm: now < until }, TrimVerdict::Keep)
            }
            IdleTrim::Done if calls_open => (IdleTrim::Busy { warm: false }, TrimVerdict::Keep),
            IdleTrim::Busy { warm } => match now.checked_add(IDLE_TRIM_AFTER) {
                Some(at) if warm => (IdleTrim::Due(at), TrimVerdict::Keep),
                Some(at) => (IdleTrim::Cooling(at), TrimVerdict::Release),
                None => (IdleTrim::Done, TrimVerdict::Release),
            },
            idle => (idle, TrimVerdict::Keep),
        };
        *self = next;
        verdict
    }

    /// When the memory is to be given back, if pending.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        match self {
            IdleTrim::Due(at) => Some(*at),
            _ => None,
        }
    }

    /// Whether the memory is to be given back at `now` (true once).
    pub(crate) fn take_due(&mut self, now: Instant) -> bool {
        match self {
            IdleTrim::Due(at) if *at <= now => {
                *self = IdleTrim::Done;
                true
            }
            _ => false,
        }
    }
}

/// Call deadlines, earliest first. Entries of calls that ended or changed
/// deadline are skipped lazily when they surface.
#[derive(Debug, Default)]
pub(crate) struct DeadlineQueue {
    heap: BinaryHeap<Reverse<(Instant, CallId)>>,
}

impl DeadlineQueue {
    pub(crate) fn push(&mut self, at: Instant, call: CallId) {
        self.heap.push(Reverse((at, call)));
    }

    /// The earliest deadline that may still be live.
    pub(crate) fn peek(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _))| *at)
    }

    /// Pops one entry due at `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<(Instant, CallId)> {
        match self.heap.peek() {
            Some(Reverse((at, _))) if *at <= now => self.heap.pop().map(|Reverse(e)| e),
            _ => None,
        }
    }

    /// Drops entries for which `live` says no, so the heap does not grow with
    /// dead calls when deadlines are long.
    pub(crate) fn prune(&mut self, live: impl Fn(CallId) -> bool) {
        if self.heap.len() > 64 {
            self.heap.retain(|Reverse((_, id))| live(*id));
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }
}

/// Sets our limits on an h2 builder: the server's and the client's have
/// the same methods but no trait in common.
macro_rules! with_limits {
    ($builder:expr, $limits:expr) => {{
        let mut b = $builder;
        let limits: &Limits = $limits;
        b.initial_window_size(limits.initial_stream_window)
            .initial_connection_window_size(limits.initial_connection_window)
            .max_frame_size(limits.max_frame_size)
            .max_header_list_size(limits.max_header_list_size)
            .max_concurrent_streams(limits.max_concurrent_streams)
            .max_send_buffer_size(limits.max_send_buffer_per_call)
            .max_concurrent_reset_streams(limits.max_concurrent_reset_streams)
            .reset_stream_duration(limits.reset_stream_duration)
            .max_pending_accept_reset_streams(limits.max_pending_accept_reset_streams)
            .max_local_error_reset_streams(limits.max_local_error_reset_streams);
        b
    }};
}

/// h2's server builder from our limits.
pub(crate) fn server_builder(limits: &Limits) -> h2::server::Builder {
    with_limits!(h2::server::Builder::new(), limits)
}

/// h2's client builder from our limits (no server push: gRPC has none).
pub(crate) fn client_builder(limits: &Limits) -> h2::client::Builder {
    let mut b = with_limits!(h2::client::Builder::new(), limits);
    b.enable_push(false);
    b
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn idle_trim_is_due_a_while_after_the_last_call_and_only_once() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        // A first call: warm only if it follows another closely.
        let mut trim = IdleTrim::Done;
        assert_eq!(trim.note(true, t0), TrimVerdict::Keep);
        assert_eq!(trim, IdleTrim::Busy { warm: false });
        assert_eq!(trim.note(true, t0 + ms(1)), TrimVerdict::Keep);
        // A lone call gives its memory back as it ends, with no timer.
        assert_eq!(trim.note(false, t0 + ms(2)), TrimVerdict::Release);
        assert_eq!(trim.deadline(), None);
        assert_eq!(trim.note(false, t0 + ms(3)), TrimVerdict::Keep, "once");
        // The next call follows it: its memory is kept when it ends.
        assert_eq!(trim.note(true, t0 + ms(500)), TrimVerdict::Keep);
        assert_eq!(trim, IdleTrim::Busy { warm: true });
        let idle_at = t0 + ms(600);
        assert_eq!(trim.note(false, idle_at), TrimVerdict::Keep);
        assert_eq!(trim.deadline(), Some(idle_at + IDLE_TRIM_AFTER));
        // Still idle later: the deadline does not move.
        assert_eq!(trim.note(false, idle_at + ms(500)), TrimVerdict::Keep);
        assert_eq!(trim.deadline(), Some(idle_at + IDLE_TRIM_AFTER));
        assert!(!trim.take_due(idle_at + ms(999)));
        // A call in between restarts the wait.
        trim.note(true, idle_at + ms(600));
        assert_eq!(trim, IdleTrim::Busy { warm: true });
        assert_eq!(trim.note(false, idle_at + ms(700)), TrimVerdict::Keep);
        let at = idle_at + ms(700) + IDLE_TRIM_AFTER;
        assert_eq!(trim.deadline(), Some(at));
        assert!(!trim.take_due(at - ms(1)));
        assert!(trim.take_due(at));
        assert!(!trim.take_due(at), "once");
        assert_eq!(trim.deadline(), None);
        assert_eq!(trim.note(false, at + IDLE_TRIM_AFTER), TrimVerdict::Keep);
        assert_eq!(trim.deadline(), None, "nothing more to give back");
        // After a quiet spell a call is a first call again.
        trim.note(true, at + IDLE_TRIM_AFTER);
        assert_eq!(trim, IdleTrim::Busy { warm: false });
        // So is one that comes after the cooling window.
        let end = at + IDLE_TRIM_AFTER + ms(1);
        assert_eq!(trim.note(false, end), TrimVerdict::Release);
        trim.note(true, end + IDLE_TRIM_AFTER);
        assert_eq!(trim, IdleTrim::Busy { warm: false });
    }

    #[test]
    fn deadlines_pop_in_order_and_only_when_due() {
        let t0 = Instant::now();
        let mut q = DeadlineQueue::default();
        q.push(t0 + Duration::from_secs(3), CallId::new(3, 0));
        q.push(t0 + Duration::from_secs(1), CallId::new(1, 0));
        q.push(t0 + Duration::from_secs(2), CallId::new(2, 0));
        assert_eq!(q.peek(), Some(t0 + Duration::from_secs(1)));
        assert!(q.pop_due(t0).is_none());
        let due: Vec<_> = std::iter::from_fn(|| q.pop_due(t0 + Duration::from_secs(2)))
            .map(|(_, id)| id)
            .collect();
        assert_eq!(due, vec![CallId::new(1, 0), CallId::new(2, 0)]);
        assert_eq!(q.len(), 1);
    }

    #[test]
    fn time_never_goes_back() {
        let t0 = Instant::now();
        let tap = TapHandle::new(crate::proto::tap::TapState::new(false));
        let mut p = DriveState::new(None, t0 + Duration::from_secs(5), &tap);
        assert_eq!(p.advance(t0), t0 + Duration::from_secs(5));
        assert_eq!(
            p.advance(t0 + Duration::from_secs(6)),
            t0 + Duration::from_secs(6)
        );
    }
}
