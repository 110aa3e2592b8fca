//! Interceptors: async functions that see every call before its handler (on
//! the server) or before it is sent (on the client).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::Status;

use super::request::Request;

/// A boxed, sendable future.
pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Sees a call's [`Request<()>`] (method path, metadata, deadline,
/// extensions) and passes it on, changed or not, or rejects the call.
///
/// - On the **server** ([`Router::interceptor`](super::Router::interceptor)),
///   an interceptor runs before the handler and before the request message
///   is read. It may check metadata (an `authorization` token, say), insert
///   typed values into [`Request::extensions_mut`] for the handler, or reject
///   the call with a [`Status`], which the client receives as is.
/// - On the **client** ([`Client::with_interceptor`](super::Client::with_interceptor)),
///   it runs before the call starts and typically adds metadata; a rejection
///   fails the call locally with that status.
///
/// Interceptors chain in the order they were added. Any
/// `Fn(Request<()>) -> impl Future<Output = Result<Request<()>, Status>>`
/// closure is an interceptor:
///
/// ```
/// use ferrule_core::api::{Interceptor, Request};
/// use ferrule_core::Status;
///
/// fn assert_interceptor(_: impl Interceptor) {}
/// assert_interceptor(|mut request: Request<()>| async move {
///     request.metadata_mut().insert("authorization", "Bearer t0k3n")
///         .map_err(|e| Status::internal(e.to_string()))?;
///     Ok(request)
/// });
/// ```
pub trait Interceptor: Send + Sync + 'static {
    /// Inspects or changes the request head; `Err` rejects the call.
    fn intercept(
        &self,
        request: Request<()>,
    ) -> impl Future<Output = Result<Request<()>, Status>> + Send;
}

impl<F, Fut> Interceptor for F
where
    F: Fn(Request<()>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Request<()>, Status>> + Send,
{
    fn intercept(
        &self,
        request: Request<()>,
    ) -> impl Future<Output = Result<Request<()>, Status>> + Send {
        self(request)
    }
}

/// [`Interceptor`] made object-safe (one boxed future per call and
/// interceptor; none when no interceptor is installed).
trait DynInterceptor: Send + Sync {
    fn intercept_boxed(&self, request: Request<()>) -> BoxFuture<'_, Result<Request<()>, Status>>;
}

impl<I: Interceptor> DynInterceptor for I {
    fn intercept_boxed(&self, request: Request<()>) -> BoxFuture<'_, Result<Request<()>, Status>> {
        Box::pin(self.intercept(request))
    }
}

/// A chain of interceptors, cheap to clone.
#[derive(Clone, Default)]
pub(crate) struct Interceptors {
    chain: Arc<[Arc<dyn DynInterceptor>]>,
}

impl Interceptors {
    /// The chain with `interceptor` appended.
    pub(crate) fn with(&self, interceptor: impl Interceptor) -> Interceptors {
        let mut chain: Vec<Arc<dyn DynInterceptor>> = self.chain.iter().cloned().collect();
        chain.push(Arc::new(interceptor));
        Interceptors {
            chain: chain.into(),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.chain.is_empty()
    }

    pub(crate) fn len(&self) -> usize {
        self.chain.len()
    }

    /// Runs the chain in order; the first rejection wins.
    pub(crate) async fn run(&self, mut request: Request<()>) -> Result<Request<()>, Status> {
        for interceptor in self.chain.iter() {
            request = interceptor.intercept_boxed(request).await?;
        }
        Ok(request)
    }
}

impl std::fmt::Debug for Interceptors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Interceptors")
            .field("len", &self.chain.len())
            .finish()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    /// Polls a future that never waits.
    fn ready<F: Future>(future: F) -> F::Output {
        match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(out) => out,
            Poll::Pending => panic!("the future waited"),
        }
    }

    #[test]
    fn chain_runs_in_order_and_stops_at_the_first_rejection() {
        let chain = Interceptors::default()
            .with(|mut r: Request<()>| async move {
                r.metadata_mut().append("x-order", "first").unwrap();
                Ok(r)
            })
            .with(|mut r: Request<()>| async move {
                r.metadata_mut().append("x-order", "second").unwrap();
                Ok(r)
            });
        let out = ready(chain.run(Request::new(()))).unwrap();
        let order: Vec<_> = out.metadata().get_all("x-order").collect();
        assert_eq!(order, ["first", "second"]);

        let rejecting = chain
            .with(|_: Request<()>| async move { Err(Status::unauthenticated("no")) })
            .with(|r: Request<()>| async move {
                REACHED.store(true, std::sync::atomic::Ordering::SeqCst);
                Ok(r)
            });
        static REACHED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
        let status = ready(rejecting.run(Request::new(()))).unwrap_err();
        assert!(!REACHED.load(std::sync::atomic::Ordering::SeqCst));
        assert_eq!(status.code(), crate::Code::UNAUTHENTICATED);
        assert_eq!(rejecting.len(), 4);
        assert!(Interceptors::default().is_empty());
    }
}
