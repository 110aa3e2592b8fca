//! A one-shot broadcast: set once with a [`Status`], awaited by any number of
//! tasks. Used for call cancellation and for "the connection is gone".

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use crate::Status;

/// A one-shot broadcast carrying a [`Status`].
#[derive(Debug, Default)]
pub(crate) struct Signal {
    state: Mutex<SignalState>,
    /// Set when fired: checked without the lock.
    fired: AtomicBool,
}

#[derive(Debug, Default)]
struct SignalState {
    fired: Option<Status>,
    /// The first waiter, kept inline: most signals (a call's cancellation)
    /// have one, and then need no allocation.
    first: Option<Waker>,
    more: Vec<Waker>,
}

impl Signal {
    fn lock(&self) -> MutexGuard<'_, SignalState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Fires the signal with `status` (the first status wins) and wakes every
    /// waiter. Returns whether this call fired it.
    pub(crate) fn fire(&self, status: Status) -> bool {
        let wakers = {
            let mut state = self.lock();
            if state.fired.is_some() {
                return false;
            }
            state.fired = Some(status);
            self.fired.store(true, Ordering::Release);
            (state.first.take(), std::mem::take(&mut state.more))
        };
        let (first, more) = wakers;
        first.into_iter().chain(more).for_each(Waker::wake);
        true
    }

    /// The status it fired with, if it did.
    pub(crate) fn get(&self) -> Option<Status> {
        self.lock().fired.clone()
    }

    /// Whether it fired.
    pub(crate) fn is_fired(&self) -> bool {
        self.fired.load(Ordering::Acquire)
    }

    /// Ready with the status once fired; otherwise registers `cx`'s waker.
    pub(crate) fn poll(&self, cx: &mut Context<'_>) -> Poll<Status> {
        let mut state = self.lock();
        if let Some(status) = &state.fired {
            return Poll::Ready(status.clone());
        }
        let waker = cx.waker();
        let known = state
            .first
            .iter()
            .chain(&state.more)
            .any(|w| w.will_wake(waker));
        if !known {
            if state.first.is_none() {
                state.first = Some(waker.clone());
            } else {
                // Drop wakers of tasks that went away without being woken, so
                // a long-lived signal polled by many short-lived tasks stays
                // small.
                if state.more.len() >= 32 {
                    state.more.remove(0);
                }
                state.more.push(waker.clone());
            }
        }
        Poll::Pending
    }

    /// Waits until fired.
    pub(crate) async fn wait(&self) -> Status {
        std::future::poll_fn(|cx| self.poll(cx)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn fires_once_and_wakes_each_waiter_once() {
        let signal = Signal::default();
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(Arc::clone(&count));
        let mut cx = Context::from_waker(&waker);
        assert!(signal.poll(&mut cx).is_pending());
        assert!(
            signal.poll(&mut cx).is_pending(),
            "same waker registered once"
        );
        assert!(signal.fire(Status::cancelled("first")));
        assert!(!signal.fire(Status::cancelled("second")));
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        match signal.poll(&mut cx) {
            Poll::Ready(status) => assert_eq!(status.message(), "first"),
            Poll::Pending => panic!("fired signal must be ready"),
        }
        assert!(signal.is_fired());
    }
}
