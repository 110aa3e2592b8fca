//! Flag-setting wakers: how the engine learns what h2 wants polled next.
//!
//! Every call owns a [`Waker`] that, when h2 wakes it (data arrived, capacity
//! was assigned, the stream was reset), pushes the call's id onto a shared
//! [`ReadyQueue`]. The engine then services only the calls in that queue, so a
//! drive does work in proportion to what happened, not to how many calls are
//! open (the quinn-proto habit). The connection itself has a [`ConnWaker`]:
//! h2 wakes it when a stream handle queued a frame, meaning the connection must
//! be polled again to write it; when the caller drives the engine over a real
//! socket it also forwards the wake to the caller's task.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Wake, Waker};

use super::call_id::CallId;
use super::tap::TapState;

/// Calls whose wakers fired since the engine last looked (part of the
/// [`ConnWaker`], so a connection makes one allocation for both).
#[derive(Debug, Default)]
pub(crate) struct ReadyQueue {
    ids: Mutex<Vec<CallId>>,
}

impl ReadyQueue {
    /// Moves the ready ids into `out` (which the caller reuses between drives).
    pub(crate) fn drain_into(&self, out: &mut Vec<CallId>) {
        let mut ids = self.ids.lock().unwrap_or_else(PoisonError::into_inner);
        out.append(&mut ids);
    }

    /// Whether any call is queued.
    pub(crate) fn is_empty(&self) -> bool {
        self.ids
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_empty()
    }

    /// Gives back the queue's room if it is empty.
    pub(crate) fn release_memory(&self) {
        let mut ids = self.ids.lock().unwrap_or_else(PoisonError::into_inner);
        if ids.is_empty() {
            *ids = Vec::new();
        }
    }

    fn push(&self, id: CallId) {
        self.ids
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(id);
    }
}

/// The waker of one call.
#[derive(Debug)]
struct CallWaker {
    id: CallId,
    /// Set while the id sits in the queue, so repeated wakes queue it once.
    queued: AtomicBool,
    conn: Arc<ConnWaker>,
}

impl Wake for CallWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // A call is woken once per message sent: the plain load spares the
        // locked swap when the call is already queued.
        if !self.queued.load(Ordering::Acquire) && !self.queued.swap(true, Ordering::AcqRel) {
            self.conn.ready.push(self.id);
        }
    }
}

/// A call's waker plus the handle to re-arm it after the engine serviced it.
#[derive(Debug, Clone)]
pub(crate) struct CallWake {
    inner: Arc<CallWaker>,
    waker: Waker,
}

impl CallWake {
    pub(crate) fn new(id: CallId, conn: &Arc<ConnWaker>) -> CallWake {
        let inner = Arc::new(CallWaker {
            id,
            queued: AtomicBool::new(false),
            conn: Arc::clone(conn),
        });
        let waker = Waker::from(Arc::clone(&inner));
        CallWake { inner, waker }
    }

    /// The waker to hand to h2 when polling this call's stream.
    pub(crate) fn waker(&self) -> &Waker {
        &self.waker
    }

    /// Allows the next wake to queue the call again. Called just before the
    /// engine services the call, so a wake during servicing is not lost.
    pub(crate) fn rearm(&self) {
        self.inner.queued.store(false, Ordering::Release);
    }

    /// Queues the call as if h2 had woken it.
    pub(crate) fn wake(&self) {
        self.waker.wake_by_ref();
    }
}

/// The connection task's waker (see the module docs). It also holds the
/// state the IO tap shares with the engine, so a connection makes one
/// allocation for the waker, its ready queue and the tap.
#[derive(Debug)]
pub(crate) struct ConnWaker {
    woken: AtomicBool,
    outer: Mutex<Option<Waker>>,
    /// The calls woken since the engine last looked.
    pub(crate) ready: ReadyQueue,
    /// Reached through a [`TapHandle`](super::tap::TapHandle).
    pub(crate) tap: Mutex<TapState>,
}

impl ConnWaker {
    pub(crate) fn new(tap: TapState) -> ConnWaker {
        ConnWaker {
            woken: AtomicBool::new(false),
            outer: Mutex::new(None),
            ready: ReadyQueue::default(),
            tap: Mutex::new(tap),
        }
    }

    /// Takes the "poll the connection again" flag.
    pub(crate) fn take_woken(&self) -> bool {
        self.woken.swap(false, Ordering::AcqRel)
    }

    /// Whether the flag is set, without taking it.
    pub(crate) fn is_woken(&self) -> bool {
        self.woken.load(Ordering::Acquire)
    }

    /// Wakes the caller's task (if any) without setting the flag: the engine
    /// has work for the next drive.
    pub(crate) fn wake_outer(&self) {
        let outer = self.outer.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(waker) = outer.as_ref() {
            waker.wake_by_ref();
        }
    }

    /// Forwards future wakes to `waker` (the caller's task), if any.
    pub(crate) fn set_outer(&self, waker: Option<&Waker>) {
        let mut outer = self.outer.lock().unwrap_or_else(PoisonError::into_inner);
        match (outer.as_mut(), waker) {
            (Some(current), Some(new)) if current.will_wake(new) => {}
            (_, new) => *outer = new.cloned(),
        }
    }
}

impl Wake for ConnWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        let outer = self.outer.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(waker) = outer.as_ref() {
            waker.wake_by_ref();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_is_queued_once_until_rearmed() {
        let conn = Arc::new(ConnWaker::new(TapState::new(false)));
        let queue = &conn.ready;
        let a = CallWake::new(CallId::new(1, 0), &conn);
        let b = CallWake::new(CallId::new(2, 0), &conn);
        a.waker().wake_by_ref();
        a.waker().wake_by_ref();
        b.waker().wake_by_ref();
        let mut out = Vec::new();
        queue.drain_into(&mut out);
        assert_eq!(out, vec![CallId::new(1, 0), CallId::new(2, 0)]);
        out.clear();
        a.waker().wake_by_ref();
        queue.drain_into(&mut out);
        assert!(out.is_empty(), "not re-armed yet");
        a.rearm();
        a.wake();
        queue.drain_into(&mut out);
        assert_eq!(out, vec![CallId::new(1, 0)]);
    }

    #[test]
    fn conn_waker_sets_its_flag_and_forwards() {
        struct Count(std::sync::atomic::AtomicUsize);
        impl Wake for Count {
            fn wake(self: Arc<Self>) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let count = Arc::new(Count(Default::default()));
        let outer = Waker::from(Arc::clone(&count));
        let conn = Arc::new(ConnWaker::new(TapState::new(false)));
        let waker = Waker::from(Arc::clone(&conn));
        waker.wake_by_ref();
        assert!(conn.take_woken());
        assert!(!conn.take_woken());
        conn.set_outer(Some(&outer));
        waker.wake_by_ref();
        assert!(conn.take_woken());
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        conn.set_outer(None);
        waker.wake_by_ref();
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
    }
}
