//! [`Router`]: method paths to handlers, plus the server interceptors.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use crate::codec::compression::Encoding;

use super::super::codegen::{MethodDescriptor, Service};
use super::super::interceptor::{Interceptor, Interceptors};
use super::handler::Handler;

/// The handlers of a router, by path. Generated code adds to it in
/// [`Service::register`].
#[derive(Default, Clone)]
pub struct Routes {
    handlers: HashMap<&'static str, Handler>,
    services: Vec<&'static str>,
    shutdown_hooks: Vec<ShutdownHook>,
}

/// A function a server runs once when its shutdown begins.
pub(crate) type ShutdownHook = Arc<dyn Fn() + Send + Sync>;

impl Routes {
    /// Registers `handler` for `method.path`, replacing any earlier one.
    pub fn add(&mut self, method: &MethodDescriptor, handler: Handler) {
        self.add_path(method.path, handler);
    }

    /// Registers `handler` for a path (`/package.Service/Method`).
    pub fn add_path(&mut self, path: &'static str, handler: Handler) {
        if self.handlers.insert(path, handler).is_some() {
            tracing::debug!(path, "a handler was replaced");
        }
    }

    /// The handler for `path`.
    pub fn get(&self, path: &str) -> Option<&Handler> {
        self.handlers.get(path)
    }

    /// The handler for `path` with the path as registered (`'static`, so a
    /// call's context can name its method without a copy).
    pub(crate) fn lookup(&self, path: &str) -> Option<(&'static str, &Handler)> {
        self.handlers
            .get_key_value(path)
            .map(|(path, handler)| (*path, handler))
    }

    /// How many methods are registered.
    pub fn len(&self) -> usize {
        self.handlers.len()
    }

    /// Whether no method is registered.
    pub fn is_empty(&self) -> bool {
        self.handlers.is_empty()
    }

    /// Runs `hook` once when a server serving these routes begins to shut
    /// down ([`ServerHandle::shutdown`](super::ServerHandle::shutdown) or
    /// [`abort`](super::ServerHandle::abort)), before it stops accepting:
    /// how the health service reports `NOT_SERVING` to load balancers while
    /// in-flight calls finish.
    pub fn on_shutdown(&mut self, hook: impl Fn() + Send + Sync + 'static) {
        self.shutdown_hooks.push(Arc::new(hook));
    }

    pub(crate) fn shutdown_hooks(&self) -> &[ShutdownHook] {
        &self.shutdown_hooks
    }
}

impl fmt::Debug for Routes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut paths: Vec<_> = self.handlers.keys().collect();
        paths.sort();
        f.debug_struct("Routes").field("paths", &paths).finish()
    }
}

/// Routes calls by their full path (`/package.Service/Method`) to handlers.
/// A call to an unknown path is answered `UNIMPLEMENTED` (Trailers-Only)
/// without running any interceptor.
///
/// ```ignore
/// let router = Router::new()
///     .interceptor(check_auth)
///     .add_service(BookstoreServer::new(MyStore::default()));
/// ```
#[derive(Clone, Default)]
pub struct Router {
    pub(crate) routes: Arc<Routes>,
    pub(crate) interceptors: Interceptors,
    pub(crate) send_compression: Option<Encoding>,
}

impl Router {
    /// An empty router.
    pub fn new() -> Router {
        Router::default()
    }

    /// Adds every method of `service`.
    #[must_use]
    pub fn add_service<S: Service>(mut self, service: S) -> Router {
        let routes = Arc::make_mut(&mut self.routes);
        routes.services.push(S::NAME);
        service.register(routes);
        self
    }

    /// Adds one handler under `path`.
    #[must_use]
    pub fn route(mut self, path: &'static str, handler: Handler) -> Router {
        Arc::make_mut(&mut self.routes).add_path(path, handler);
        self
    }

    /// Appends a server interceptor; interceptors run in the order added,
    /// before every routed call's handler.
    #[must_use]
    pub fn interceptor(mut self, interceptor: impl Interceptor) -> Router {
        self.interceptors = self.interceptors.with(interceptor);
        self
    }

    /// Runs `hook` once when a server serving this router begins to shut
    /// down (see [`Routes::on_shutdown`]).
    #[must_use]
    pub fn on_shutdown(mut self, hook: impl Fn() + Send + Sync + 'static) -> Router {
        Arc::make_mut(&mut self.routes).on_shutdown(hook);
        self
    }

    /// Compresses response messages with `encoding` when the client accepts
    /// it (otherwise they go uncompressed).
    #[must_use]
    pub fn send_compressed(mut self, encoding: Encoding) -> Router {
        self.send_compression = Some(encoding);
        self
    }

    /// The names of the services added with [`add_service`](Self::add_service).
    pub fn services(&self) -> &[&'static str] {
        &self.routes.services
    }

    /// The handler for `path`, if any.
    pub fn handler(&self, path: &str) -> Option<&Handler> {
        self.routes.get(path)
    }
}

impl fmt::Debug for Router {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Router")
            .field("routes", &self.routes)
            .field("interceptors", &self.interceptors.len())
            .field("send_compression", &self.send_compression)
            .finish()
    }
}
