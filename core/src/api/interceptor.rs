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
