//! [`stream_channel`]: a bounded, runtime-free channel whose receiving half
//! is a `Stream` — the usual way to feed a streaming response from another
//! task. Once the call is over (the receiver dropped), sends fail.

use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use futures_core::Stream;

use crate::Status;

/// A bounded channel for `capacity` items (at least 1): the sender for a
/// task producing a response stream, the receiver to return as that stream.
///
/// ```ignore
/// let (tx, rx) = stream_channel(16);
/// runtime.spawn(async move {
///     for book in books {
///         if tx.send(Ok(book)).await.is_err() {
///             break; // the client went away
///         }
///     }
/// });
/// Ok(Response::new(rx))
/// ```
pub fn stream_channel<T>(capacity: usize) -> (StreamSender<T>, StreamReceiver<T>) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            queue: VecDeque::new(),
            capacity: capacity.max(1),
            senders: 1,
            receiver_alive: true,
            receiver: None,
            blocked_senders: Vec::new(),
        }),
    });
    (
        StreamSender {
            shared: Arc::clone(&shared),
        },
        StreamReceiver { shared },
    )
}

struct Shared<T> {
    state: Mutex<State<T>>,
}

struct State<T> {
    queue: VecDeque<T>,
    capacity: usize,
    senders: usize,
    receiver_alive: bool,
    receiver: Option<Waker>,
    blocked_senders: Vec<Waker>,
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn receiver_gone() -> Status {
    Status::cancelled("the stream's receiver is gone (the call ended)")
}

/// The sending half of a [`stream_channel`]. Clone it for several producers;
/// the stream ends when every sender is dropped.
pub struct StreamSender<T> {
    shared: Arc<Shared<T>>,
}

impl<T> StreamSender<T> {
    /// Sends `item`, waiting while the channel is full. Fails with
    /// `CANCELLED` once the receiver is gone: the call ended, nobody reads.
    pub async fn send(&self, item: T) -> Result<(), Status> {
        let mut item = Some(item);
        std::future::poll_fn(|cx| {
            let mut state = self.shared.lock();
            if !state.receiver_alive {
                return Poll::Ready(Err(receiver_gone()));
            }
            if state.queue.len() >= state.capacity {
                if !state
                    .blocked_senders
                    .iter()
                    .any(|w| w.will_wake(cx.waker()))
                {
                    state.blocked_senders.push(cx.waker().clone());
                }
                return Poll::Pending;
            }
            if let Some(item) = item.take() {
                state.queue.push_back(item);
            }
            if let Some(w) = state.receiver.take() {
                w.wake();
            }
            Poll::Ready(Ok(()))
        })
        .await
    }

    /// Whether the receiver is gone (sends would fail).
    pub fn is_closed(&self) -> bool {
        !self.shared.lock().receiver_alive
    }
}

impl<T> Clone for StreamSender<T> {
    fn clone(&self) -> Self {
        self.shared.lock().senders += 1;
        StreamSender {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<T> Drop for StreamSender<T> {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.senders -= 1;
        if state.senders == 0
            && let Some(w) = state.receiver.take()
        {
            w.wake();
        }
    }
}

impl<T> fmt::Debug for StreamSender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamSender")
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// The receiving half of a [`stream_channel`]: a `Stream` of the items sent.
pub struct StreamReceiver<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Stream for StreamReceiver<T> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mut state = self.shared.lock();
        if let Some(item) = state.queue.pop_front() {
            for w in state.blocked_senders.drain(..) {
                w.wake();
            }
            return Poll::Ready(Some(item));
        }
        if state.senders == 0 {
            return Poll::Ready(None);
        }
        state.receiver = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl<T> Drop for StreamReceiver<T> {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.receiver_alive = false;
        state.queue.clear();
        for w in state.blocked_senders.drain(..) {
            w.wake();
        }
    }
}

impl<T> fmt::Debug for StreamReceiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamReceiver").finish_non_exhaustive()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::pin::pin;

    fn poll_once<F: Future>(f: Pin<&mut F>) -> Poll<F::Output> {
        f.poll(&mut Context::from_waker(Waker::noop()))
    }

    fn next<T>(rx: &mut StreamReceiver<T>) -> Poll<Option<T>> {
        Pin::new(rx).poll_next(&mut Context::from_waker(Waker::noop()))
    }

    #[test]
    fn items_flow_in_order_and_the_stream_ends_with_the_senders() {
        let (tx, mut rx) = stream_channel(2);
        let tx2 = tx.clone();
        assert!(poll_once(pin!(tx.send(1))).is_ready());
        assert!(poll_once(pin!(tx2.send(2))).is_ready());
        assert!(
            poll_once(pin!(tx.send(3))).is_pending(),
            "full at capacity 2"
        );
        assert_eq!(next(&mut rx), Poll::Ready(Some(1)));
        assert_eq!(next(&mut rx), Poll::Ready(Some(2)));
        assert_eq!(next(&mut rx), Poll::Pending);
        drop(tx);
        assert_eq!(next(&mut rx), Poll::Pending, "one sender left");
        drop(tx2);
        assert_eq!(next(&mut rx), Poll::Ready(None));
    }

    #[test]
    fn sends_fail_once_the_receiver_is_gone() {
        let (tx, rx) = stream_channel::<u8>(1);
        assert!(poll_once(pin!(tx.send(1))).is_ready());
        let mut blocked = pin!(tx.send(2));
        assert!(poll_once(blocked.as_mut()).is_pending());
        drop(rx);
        assert!(tx.is_closed());
        match poll_once(blocked) {
            Poll::Ready(Err(status)) => assert_eq!(status.code(), crate::Code::CANCELLED),
            other => panic!("expected a failed send, got {other:?}"),
        }
    }
}
