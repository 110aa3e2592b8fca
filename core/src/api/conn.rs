//! One connection as the async layer holds it, for both ends: the engine
//! and the per-call table behind one lock ([`ConnShared`]), shared by the
//! connection's driver and its calls' handles (quinn's `ConnectionRef`
//! pattern), and the one [`Driver`] task that owns the IO and the timer.
//!
//! The driver's `poll` runs named steps — IO, timers, events, memory — and
//! only the events differ per end ([`DriverSide::on_event`]). The task
//! waker has one owner: the engine, which [`drive_io`](Connection::drive_io)
//! gives it, and which every command wakes.

use crate::proto::EndEvent;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use crate::Status;
use crate::codec::queue::InlineFirstQueue;
use crate::proto::{
    CallId, Connection, FramedMessage, RawMessage, Ready, ReceivedMessage, RecvError, SendError,
    Side,
};

use super::interceptor::BoxFuture;
use super::runtime::{BoxIo, Runtime, TimerSlot};

/// How many engine events one poll handles before yielding, so a busy
/// connection does not starve the other tasks of its thread.
const MAX_EVENTS_PER_POLL: usize = 256;
/// How many drive rounds (IO, timers, events) one poll makes.
const MAX_ROUNDS_PER_POLL: usize = 4;

/// A connection shared by its driver and its calls' handles.
pub(crate) struct ConnShared<S: DriverSide> {
    state: Mutex<ConnState<S>>,
}

/// What the lock guards.
pub(crate) struct ConnState<S: DriverSide> {
    /// `None` once the driver ended (the transport is closed then).
    pub(crate) engine: Option<Connection<S, BoxIo>>,
    pub(crate) calls: CallTable<S::Slot>,
    /// The owner is gone (a client's channel): nobody starts calls here any
    /// more, and the connection closes once its last call ends.
    pub(crate) owner_gone: bool,
}

impl<S: DriverSide> ConnShared<S> {
    pub(crate) fn new(engine: Connection<S, BoxIo>) -> ConnShared<S> {
        ConnShared {
            state: Mutex::new(ConnState {
                engine: Some(engine),
                calls: CallTable::default(),
                owner_gone: false,
            }),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, ConnState<S>> {
        // Only short, non-panicking sections hold the lock.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The next message of call `id`, decompressed after the lock is
    /// released; pending, with the task kept as the call's reader, while
    /// none is waiting. A message that does not decode ends the call as the
    /// engine would (`Failed`); a connection that is gone reads as `Closed`.
    pub(crate) fn poll_recv(
        &self,
        id: CallId,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Option<ReceivedMessage>, RecvError>> {
        let raw = match std::task::ready!(self.poll_recv_raw(id, cx)) {
            Ok(Some(raw)) => raw,
            Ok(None) => return Poll::Ready(Ok(None)),
            Err(err) => return Poll::Ready(Err(err)),
        };
        Poll::Ready(raw.decode().map(Some).map_err(|status| {
            if let Some(engine) = self.lock().engine.as_mut() {
                engine.fail_call(id, status.clone());
            }
            RecvError::Failed(status)
        }))
    }

    /// The next message of call `id`, as it arrived; pending, with the task
    /// kept as the call's reader, while none is waiting.
    fn poll_recv_raw(
        &self,
        id: CallId,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Option<RawMessage>, RecvError>> {
        let mut state = self.lock();
        let state = &mut *state;
        let Some(engine) = state.engine.as_mut() else {
            return Poll::Ready(Err(RecvError::Closed));
        };
        match engine.recv_raw(id) {
            Err(RecvError::Blocked) => {
                if let Some(slot) = state.calls.get_mut(id) {
                    slot.reader = Some(cx.waker().clone());
                }
                Poll::Pending
            }
            outcome => Poll::Ready(outcome),
        }
    }

    /// Hands `message` (framed by the caller, outside the lock) to the
    /// engine for call `id` once the call takes it; pending, with the task
    /// kept as the call's writer, while its send buffer is full. The engine
    /// wakes the driver to send it. A connection that is gone refuses it as
    /// `Closed`.
    pub(crate) fn poll_send(
        &self,
        id: CallId,
        cx: &mut Context<'_>,
        message: &mut Option<FramedMessage>,
    ) -> Poll<Result<(), SendError>> {
        let mut state = self.lock();
        let state = &mut *state;
        let Some(engine) = state.engine.as_mut() else {
            return Poll::Ready(Err(SendError::Closed));
        };
        let sent = engine.send_ready(id).and_then(|()| match message.take() {
            Some(message) => engine.send_framed(id, message),
            None => Ok(()),
        });
        match sent {
            Err(SendError::NotReady) => {
                if let Some(slot) = state.calls.get_mut(id) {
                    slot.writer = Some(cx.waker().clone());
                }
                Poll::Pending
            }
            outcome => Poll::Ready(outcome),
        }
    }
}

/// What the driver knows about a call a handle owns: the tasks waiting to
/// read and to send, and what the end keeps besides (`X`).
pub(crate) struct CallSlot<X> {
    pub(crate) reader: Option<Waker>,
    pub(crate) writer: Option<Waker>,
    pub(crate) side: X,
}

impl<X> CallSlot<X> {
    pub(crate) fn new(side: X) -> CallSlot<X> {
        CallSlot {
            reader: None,
            writer: None,
            side,
        }
    }

    /// Wakes the task waiting to read.
    pub(crate) fn wake_reader(&mut self) {
        if let Some(w) = self.reader.take() {
            w.wake();
        }
    }

    /// Wakes the task waiting to send.
    pub(crate) fn wake_writer(&mut self) {
        if let Some(w) = self.writer.take() {
            w.wake();
        }
    }

    /// Wakes both halves (the call ended or the connection did).
    pub(crate) fn wake_all(&mut self) {
        self.wake_reader();
        self.wake_writer();
    }
}

/// The driver's [`CallSlot`]s by call id: a vector indexed by the id's slot
/// in the engine, which reuses the slots of ended calls, so the table is as
/// long as the most calls open at once (most connections: one). Half the
/// inline size of a `HashMap`, and no hashing.
///
/// The engine may reuse a slot while a handle still holds the id of the
/// call that had it: a client call is let go by the engine once its end is
/// read, and its handle reads the outcome after that, while another task
/// starts a call that gets the slot. The entry that finds its slot taken
/// waits in `displaced`, searched by id: rare and short-lived.
pub(crate) struct CallTable<X> {
    /// No trailing `None`: empty when no call is open.
    slots: Vec<Option<(CallId, CallSlot<X>)>>,
    /// Entries whose slot holds another call (boxed: most connections never
    /// have one).
    displaced: Option<Box<Displaced<X>>>,
}

/// Entries waiting for their slot, by id.
type Displaced<X> = Vec<(CallId, CallSlot<X>)>;

impl<X> Default for CallTable<X> {
    fn default() -> Self {
        CallTable {
            slots: Vec::new(),
            displaced: None,
        }
    }
}

impl<X> CallTable<X> {
    pub(crate) fn insert(&mut self, id: CallId, slot: CallSlot<X>) {
        let index = id.slot_index();
        if self.slots.len() <= index {
            self.slots.resize_with(index + 1, || None);
        }
        match self.slots.get_mut(index) {
            Some(Some((held, _))) if *held != id => {
                self.displaced.get_or_insert_default().push((id, slot));
            }
            Some(entry) => *entry = Some((id, slot)),
            None => {}
        }
    }

    pub(crate) fn get_mut(&mut self, id: CallId) -> Option<&mut CallSlot<X>> {
        match self.slots.get_mut(id.slot_index()) {
            Some(Some((held, slot))) if *held == id => Some(slot),
            _ => self
                .displaced
                .as_mut()?
                .iter_mut()
                .find(|(held, _)| *held == id)
                .map(|(_, slot)| slot),
        }
    }

    pub(crate) fn remove(&mut self, id: CallId) -> Option<CallSlot<X>> {
        let index = id.slot_index();
        let held_here = self
            .slots
            .get(index)
            .is_some_and(|entry| entry.as_ref().is_some_and(|(held, _)| *held == id));
        let slot = if held_here {
            // A call waiting for this slot takes it.
            let waiting = self.take_displaced(|held| held.slot_index() == index);
            let entry = self.slots.get_mut(index)?;
            std::mem::replace(entry, waiting).map(|(_, slot)| slot)
        } else {
            self.take_displaced(|held| held == id).map(|(_, slot)| slot)
        };
        while self.slots.last().is_some_and(Option::is_none) {
            self.slots.pop();
        }
        slot
    }

    fn take_displaced(&mut self, which: impl Fn(CallId) -> bool) -> Option<(CallId, CallSlot<X>)> {
        let displaced = self.displaced.as_mut()?;
        let at = displaced.iter().position(|(held, _)| which(*held))?;
        let entry = displaced.swap_remove(at);
        if displaced.is_empty() {
            self.displaced = None;
        }
        Some(entry)
    }

    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = (CallId, &mut CallSlot<X>)> {
        let displaced = self.displaced.iter_mut().flat_map(|d| d.iter_mut());
        self.slots
            .iter_mut()
            .filter_map(|entry| entry.as_mut())
            .chain(displaced)
            .map(|(id, slot)| (*id, slot))
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.slots.is_empty() && self.displaced.is_none()
    }

    /// Gives back the table's room if no call is open.
    pub(crate) fn release_memory(&mut self) {
        if self.slots.is_empty() {
            self.slots = Vec::new();
        }
    }
}

/// Tasks a driver's poll starts (handlers, on the server): spawned after
/// the lock is released. Most polls start one at most, which needs no
/// allocation.
pub(crate) type Spawns = InlineFirstQueue<BoxFuture<'static, ()>>;

/// What an end's event handling works with.
pub(crate) struct EventCx<'a, S: DriverSide> {
    /// The end's own driver state.
    pub(crate) ctx: &'a mut S::Context,
    pub(crate) conn: &'a Arc<ConnShared<S>>,
    /// The engine and the call table (the lock is held).
    pub(crate) state: &'a mut ConnState<S>,
    /// Tasks to start once the lock is released.
    pub(crate) spawns: &'a mut Spawns,
}

/// What each end brings to the one driver.
pub(crate) trait DriverSide: Side {
    /// What the async layer keeps per call besides its wakers.
    type Slot: Send;
    /// What the end's driver holds (the router, the channel, ...).
    type Context: Send + Unpin;

    /// Handles one event of the engine (not `Readable`, `Writable` or
    /// `Closed`, which the driver handles), with the lock held.
    fn on_event(cx: EventCx<'_, Self>, event: Self::Event);

    /// The connection is over: every call the handles hold ends with
    /// `status` (with the lock held).
    fn end_calls(state: &mut ConnState<Self>, status: &Status);

    /// Before the IO step, with the lock held (the client notices that no
    /// channel can start calls any more).
    fn before_io(_ctx: &mut Self::Context, _state: &mut ConnState<Self>) {}

    /// After the events, with the lock released.
    fn after_unlock(_ctx: &mut Self::Context, _conn: &Arc<ConnShared<Self>>) {}

    /// The driver ends.
    fn on_end(ctx: &mut Self::Context, conn: &Arc<ConnShared<Self>>);
}

/// The task that owns a connection: drives its IO and timers, hands its
/// events to the call handles, and starts the tasks events ask for.
pub(crate) struct Driver<S: DriverSide> {
    conn: Arc<ConnShared<S>>,
    runtime: Arc<dyn Runtime>,
    timer: TimerSlot,
    ctx: S::Context,
}

impl<S: DriverSide> Driver<S> {
    pub(crate) fn new(
        conn: Arc<ConnShared<S>>,
        runtime: Arc<dyn Runtime>,
        ctx: S::Context,
    ) -> Self {
        Driver {
            conn,
            runtime,
            timer: TimerSlot::default(),
            ctx,
        }
    }
}

impl<S: DriverSide> Future for Driver<S> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let mut spawns = Spawns::new();
        let outcome = this.drive(cx, &mut spawns);
        while let Some(task) = spawns.pop_front() {
            this.runtime.spawn(task);
        }
        if outcome.is_ready() {
            S::on_end(&mut this.ctx, &this.conn);
        }
        outcome
    }
}

/// How a poll's events step ended.
enum EventsOutcome {
    /// Every event was handled.
    Drained,
    /// The budget ran out: more next poll.
    Budget,
    /// The connection is over.
    Closed,
}

impl<S: DriverSide> Driver<S> {
    fn drive(&mut self, cx: &mut Context<'_>, spawns: &mut Spawns) -> Poll<()> {
        for _ in 0..MAX_ROUNDS_PER_POLL {
            let now = self.runtime.now();
            let next_timeout = {
                let mut guard = self.conn.lock();
                let state = &mut *guard;
                S::before_io(&mut self.ctx, state);
                let Some(engine) = state.engine.as_mut() else {
                    return Poll::Ready(());
                };
                // IO: reads, writes, queued commands; the engine keeps the
                // task's waker and wakes it for all of them.
                engine.drive_io(now, cx.waker());
                // Timers: deadlines, keepalive, handshake.
                if engine.poll_timeout().is_some_and(|at| at <= now) {
                    engine.handle_timeout(now);
                }
                // Events, to the handles they concern.
                match handle_events(&mut self.ctx, &self.conn, state, spawns) {
                    EventsOutcome::Closed => {
                        // The engine dropped the transport already; handles
                        // still alive find their calls over.
                        return Poll::Ready(());
                    }
                    EventsOutcome::Budget => {
                        cx.waker().wake_by_ref();
                        return Poll::Pending;
                    }
                    EventsOutcome::Drained => {}
                }
                // Memory: the engine gave back its calls' memory (a lone call
                // ended, or calls stopped a while ago): so does the table.
                let Some(engine) = state.engine.as_mut() else {
                    return Poll::Ready(());
                };
                if engine.take_memory_released() {
                    state.calls.release_memory();
                }
                engine.poll_timeout()
            };
            S::after_unlock(&mut self.ctx, &self.conn);
            match next_timeout {
                None => return Poll::Pending,
                Some(at) if at <= now => continue,
                Some(at) => {
                    if self.timer.poll_at(&*self.runtime, cx, at).is_pending() {
                        return Poll::Pending;
                    }
                }
            }
        }
        // Work is left: yield, and come back at once.
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// Hands the engine's events to [`DriverSide::on_event`], up to the budget.
fn handle_events<S: DriverSide>(
    ctx: &mut S::Context,
    conn: &Arc<ConnShared<S>>,
    state: &mut ConnState<S>,
    spawns: &mut Spawns,
) -> EventsOutcome {
    for _ in 0..MAX_EVENTS_PER_POLL {
        let Some(event) = state.engine.as_mut().and_then(Connection::poll_event) else {
            return EventsOutcome::Drained;
        };
        // Readiness is the same on both ends: the task waiting on it runs.
        if let Some((call, ready)) = event.ready() {
            if let Some(slot) = state.calls.get_mut(call) {
                match ready {
                    Ready::Read => slot.wake_reader(),
                    Ready::Write => slot.wake_writer(),
                }
            }
            continue;
        }
        if let Some(error) = event.closed_error() {
            let status = match error {
                Some(error) => {
                    tracing::debug!(side = S::NAME, %error, "connection closed with an error");
                    error.to_status()
                }
                None => Status::unavailable("the connection was closed"),
            };
            S::end_calls(state, &status);
            // The engine dropped the transport already; handles still
            // alive find their calls over.
            return EventsOutcome::Closed;
        }
        let cx = EventCx {
            ctx: &mut *ctx,
            conn,
            state: &mut *state,
            spawns: &mut *spawns,
        };
        S::on_event(cx, event);
    }
    EventsOutcome::Budget
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_call_table_finds_calls_by_id_and_not_stale_ids() {
        let mut table = CallTable::default();
        let (a, b) = (CallId::new(0, 1), CallId::new(2, 1));
        table.insert(a, CallSlot::new("/a"));
        table.insert(b, CallSlot::new("/b"));
        assert_eq!(table.get_mut(a).unwrap().side, "/a");
        assert_eq!(table.get_mut(b).unwrap().side, "/b");
        // The same slot, another generation: a call that ended.
        assert!(table.get_mut(CallId::new(0, 0)).is_none());
        assert!(table.remove(CallId::new(2, 0)).is_none());
        assert!(table.get_mut(CallId::new(1, 1)).is_none());
        assert!(table.get_mut(CallId::new(9, 1)).is_none());
        let ids: Vec<CallId> = table.iter_mut().map(|(id, _)| id).collect();
        assert_eq!(ids, [a, b]);

        assert_eq!(table.remove(b).unwrap().side, "/b");
        assert!(table.remove(b).is_none());
        assert_eq!(table.slots.len(), 1, "trailing empty slots dropped");
        table.release_memory();
        assert!(table.slots.capacity() > 0, "kept while a call is open");
        table.remove(a).unwrap();
        assert!(table.is_empty());
        table.release_memory();
        assert_eq!(table.slots.capacity(), 0);
    }

    /// A call that lost its slot to a newer call is still found by its id,
    /// and so is the newer call (a client call's end is read after the
    /// engine let go of it and gave its slot to the next call).
    #[test]
    fn a_displaced_call_is_found_by_its_id() {
        let mut table = CallTable::default();
        let (old, new) = (CallId::new(0, 1), CallId::new(0, 2));
        table.insert(old, CallSlot::new("old"));
        table.insert(new, CallSlot::new("new"));
        assert_eq!(table.get_mut(old).unwrap().side, "old");
        assert_eq!(table.get_mut(new).unwrap().side, "new");
        let mut ids: Vec<CallId> = table.iter_mut().map(|(id, _)| id).collect();
        ids.sort();
        assert_eq!(ids, [old, new]);
        assert_eq!(table.remove(new).unwrap().side, "new");
        assert_eq!(table.get_mut(old).unwrap().side, "old");
        assert!(!table.is_empty());
        assert_eq!(table.remove(old).unwrap().side, "old");
        assert!(table.is_empty());
        // The other order: the displaced one goes first.
        table.insert(old, CallSlot::new("old"));
        table.insert(new, CallSlot::new("new"));
        assert_eq!(table.remove(old).unwrap().side, "old");
        assert_eq!(table.get_mut(new).unwrap().side, "new");
        assert!(table.displaced.is_none(), "given back");
    }

    /// The table is inline in every connection's shared state: one vector
    /// and a pointer.
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn the_call_table_is_one_vector_and_a_pointer() {
        assert_eq!(std::mem::size_of::<CallTable<()>>(), 32);
    }
}
