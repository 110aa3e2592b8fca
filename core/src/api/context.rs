//! [`CallContext`]: what a server handler knows about its call besides the
//! message.

use std::borrow::Cow;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::Status;

use super::signal::Signal;

/// The server-side context of one call: its method, deadline, peer, and
/// whether it was cancelled. Cheap to clone; a handler keeps a clone after
/// taking the message out of its [`Request`](super::Request).
#[derive(Clone)]
pub struct CallContext {
    inner: Arc<ContextInner>,
}

struct ContextInner {
    /// The router's own `&'static` path for a routed call: no copy per call.
    path: Cow<'static, str>,
    deadline: Option<Instant>,
    peer: Option<SocketAddr>,
    cancelled: Signal,
}

impl CallContext {
    /// A context with a copy of `path` (tests; served calls are routed).
    #[cfg(test)]
    pub(crate) fn new(path: &str, deadline: Option<Instant>, peer: Option<SocketAddr>) -> Self {
        CallContext::with_path(Cow::Owned(path.to_owned()), deadline, peer)
    }

    /// A context for a call the router matched: its path is the router's.
    pub(crate) fn routed(
        path: &'static str,
        deadline: Option<Instant>,
        peer: Option<SocketAddr>,
    ) -> Self {
        CallContext::with_path(Cow::Borrowed(path), deadline, peer)
    }

    fn with_path(
        path: Cow<'static, str>,
        deadline: Option<Instant>,
        peer: Option<SocketAddr>,
    ) -> Self {
        CallContext {
            inner: Arc::new(ContextInner {
                path,
                deadline,
                peer,
                cancelled: Signal::default(),
            }),
        }
    }

    /// The method path, `/package.Service/Method`.
    pub fn path(&self) -> &str {
        &self.inner.path
    }

    /// The service, `package.Service`.
    pub fn service(&self) -> &str {
        self.split().0
    }

    /// The method name, `Method`.
    pub fn method(&self) -> &str {
        self.split().1
    }

    fn split(&self) -> (&str, &str) {
        let rest = self
            .inner
            .path
            .strip_prefix('/')
            .unwrap_or(&self.inner.path);
        rest.split_once('/').unwrap_or((rest, ""))
    }

    /// The deadline the client set (`grpc-timeout`), as an instant.
    pub fn deadline(&self) -> Option<Instant> {
        self.inner.deadline
    }

    /// The time left until the deadline (zero once passed).
    pub fn time_remaining(&self) -> Option<Duration> {
        self.inner
            .deadline
            .map(|d| d.saturating_duration_since(Instant::now()))
    }

    /// The client's address, when the transport knows it.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.inner.peer
    }

    /// Whether the call was cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.inner.cancelled.is_fired()
    }

    /// Why the call was cancelled (`CANCELLED`, `DEADLINE_EXCEEDED`,
    /// `UNAVAILABLE` for a lost connection or a server shutdown), if it was.
    pub fn cancel_status(&self) -> Option<Status> {
        self.inner.cancelled.get()
    }

    /// Resolves, with the reason, when the call is cancelled. After that the
    /// call's sends fail and nothing the handler returns reaches the client.
    pub async fn cancelled(&self) -> Status {
        self.inner.cancelled.wait().await
    }

    /// Ready once the call is cancelled; otherwise registers `cx`'s waker.
    pub(crate) fn poll_cancelled(
        &self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Status> {
        self.inner.cancelled.poll(cx)
    }

    pub(crate) fn cancel(&self, status: Status) -> bool {
        self.inner.cancelled.fire(status)
    }
}

impl fmt::Debug for CallContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallContext")
            .field("path", &self.inner.path)
            .field("deadline", &self.inner.deadline)
            .field("peer", &self.inner.peer)
            .field("cancelled", &self.inner.cancelled.get())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_the_path_and_reports_cancellation() {
        let ctx = CallContext::new("/pkg.Svc/Get", None, None);
        assert_eq!(ctx.service(), "pkg.Svc");
        assert_eq!(ctx.method(), "Get");
        assert!(!ctx.is_cancelled());
        assert!(ctx.cancel(Status::cancelled("client went away")));
        assert!(ctx.is_cancelled());
        assert_eq!(
            ctx.cancel_status().map(|s| s.code()),
            Some(crate::Code::CANCELLED)
        );
    }

    #[test]
    fn a_routed_context_shares_the_routers_path() {
        static PATH: &str = "/pkg.Svc/Put";
        let ctx = CallContext::routed(PATH, None, None);
        assert_eq!(ctx.path().as_ptr(), PATH.as_ptr());
        assert_eq!((ctx.service(), ctx.method()), ("pkg.Svc", "Put"));
        let copied = CallContext::new(PATH, None, None);
        assert_eq!(copied.path(), PATH);
    }
}
