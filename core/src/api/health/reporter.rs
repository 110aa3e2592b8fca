//! [`HealthReporter`]: the status of each service, and the [`WatchStream`]s
//! that follow one.

use std::collections::HashMap;
use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use futures_core::Stream;

use crate::Status;

use super::ServingStatus;
use super::pb::HealthCheckResponse;
use super::service::HealthService;

/// The health of a server's services: set here, read by the health service
/// ([`service`](Self::service)). Cheap to clone; clones share the statuses.
///
/// Service names are the fully qualified gRPC names (`package.Service`, the
/// `SERVICE_NAME` constant of generated code); the empty name is the server
/// as a whole, `SERVING` from the start.
#[derive(Clone)]
pub struct HealthReporter {
    shared: Arc<Shared>,
}

pub(super) struct Shared {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    statuses: HashMap<String, ServingStatus>,
    /// Shutdown began: every status is `NOT_SERVING`, changes are ignored.
    shut_down: bool,
    /// The server is shutting down: a watch ends once it has sent the
    /// current status, so the watches do not hold the graceful shutdown
    /// open for its whole grace period.
    end_watches: bool,
    /// The parked watchers of each service, by watcher id.
    watchers: HashMap<String, HashMap<u64, Waker>>,
    next_watcher: u64,
}

impl State {
    /// Sets a status (or forgets it, for `None`) and wakes that service's
    /// watchers if it changed.
    fn set(&mut self, service: &str, status: Option<ServingStatus>) {
        let old = match status {
            Some(status) => self.statuses.insert(service.to_owned(), status),
            None => self.statuses.remove(service),
        };
        if old != status
            && let Some(watchers) = self.watchers.get_mut(service)
        {
            for (_, waker) in watchers.drain() {
                waker.wake();
            }
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Every update is a single map operation: a panic elsewhere cannot
        // leave the state half written.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The status `Check` answers: `None` for an unknown service.
    pub(super) fn check(&self, service: &str) -> Option<ServingStatus> {
        self.lock().statuses.get(service).copied()
    }
}

impl Default for HealthReporter {
    fn default() -> Self {
        HealthReporter::new()
    }
}

impl HealthReporter {
    /// A reporter that knows one service: the server as a whole (the empty
    /// name), `SERVING`.
    pub fn new() -> HealthReporter {
        let mut state = State::default();
        state.statuses.insert(String::new(), ServingStatus::Serving);
        HealthReporter {
            shared: Arc::new(Shared {
                state: Mutex::new(state),
            }),
        }
    }

    /// The health service to add to a router. Its shutdown hook turns every
    /// status `NOT_SERVING` when the server's shutdown begins.
    pub fn service(&self) -> HealthService {
        HealthService::new(self.clone())
    }

    /// Sets `service` to `SERVING`.
    pub fn set_serving(&self, service: &str) {
        self.set_status(service, ServingStatus::Serving);
    }

    /// Sets `service` to `NOT_SERVING`.
    pub fn set_not_serving(&self, service: &str) {
        self.set_status(service, ServingStatus::NotServing);
    }

    /// Sets the status of `service` (the empty name for the whole server);
    /// watchers of it see the change. Ignored after [`shutdown`](Self::shutdown)
    /// until [`resume`](Self::resume): returns whether the status was set.
    pub fn set_status(&self, service: &str, status: ServingStatus) -> bool {
        let mut state = self.shared.lock();
        if state.shut_down {
            tracing::debug!(
                service,
                ?status,
                "health status change ignored: the server is shutting down"
            );
            return false;
        }
        state.set(service, Some(status));
        true
    }

    /// Forgets `service`: `Check` answers `NOT_FOUND` for it again and
    /// watchers see `SERVICE_UNKNOWN`. Ignored after shutdown, like
    /// [`set_status`](Self::set_status).
    pub fn clear_status(&self, service: &str) -> bool {
        let mut state = self.shared.lock();
        if state.shut_down {
            return false;
        }
        state.set(service, None);
        true
    }

    /// The status of `service`, `None` if it is unknown.
    pub fn status(&self, service: &str) -> Option<ServingStatus> {
        self.shared.check(service)
    }

    /// Sets every known service `NOT_SERVING` and ignores changes from then
    /// on. The health service calls it when the server's graceful shutdown
    /// begins, so load balancers drain the server while its calls finish.
    pub fn shutdown(&self) {
        let mut state = self.shared.lock();
        state.shut_down = true;
        let services: Vec<String> = state.statuses.keys().cloned().collect();
        for service in services {
            state.set(&service, Some(ServingStatus::NotServing));
        }
    }

    /// What the health service's shutdown hook runs when the server's
    /// shutdown begins: [`shutdown`](Self::shutdown), and every watch ends
    /// (status OK) once it has sent `NOT_SERVING`, as the server is going
    /// away.
    pub(super) fn server_shutdown(&self) {
        self.shutdown();
        let mut state = self.shared.lock();
        state.end_watches = true;
        for (_, parked) in state.watchers.drain() {
            for (_, waker) in parked {
                waker.wake();
            }
        }
    }

    /// Undoes [`shutdown`](Self::shutdown): every known service is `SERVING`
    /// again and changes are accepted.
    pub fn resume(&self) {
        let mut state = self.shared.lock();
        state.shut_down = false;
        state.end_watches = false;
        let services: Vec<String> = state.statuses.keys().cloned().collect();
        for service in services {
            state.set(&service, Some(ServingStatus::Serving));
        }
    }

    /// Whether [`shutdown`](Self::shutdown) was called (and not resumed).
    pub fn is_shut_down(&self) -> bool {
        self.shared.lock().shut_down
    }

    /// A stream of the status of `service`: the current one, then each
    /// change (what `Watch` sends).
    pub fn watch(&self, service: impl Into<String>) -> WatchStream {
        let id = {
            let mut state = self.shared.lock();
            state.next_watcher += 1;
            state.next_watcher
        };
        WatchStream {
            shared: Arc::clone(&self.shared),
            service: service.into(),
            id,
            last_sent: None,
        }
    }

    pub(super) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// How many watch streams are parked on `service` (for tests).
    #[cfg(test)]
    pub(super) fn parked_watchers(&self, service: &str) -> usize {
        self.shared
            .lock()
            .watchers
            .get(service)
            .map_or(0, HashMap::len)
    }
}

impl fmt::Debug for HealthReporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.lock();
        let mut statuses: Vec<_> = state.statuses.iter().collect();
        statuses.sort();
        f.debug_struct("HealthReporter")
            .field("statuses", &statuses)
            .field("shut_down", &state.shut_down)
            .finish()
    }
}

/// The responses of one `Watch` call: the status of a service when first
/// polled, then every change. It ends only when the server shuts down
/// (after sending `NOT_SERVING`), or with the call.
///
/// Holds no queue: when several changes happen between two polls, only the
/// latest status is sent, and nothing is sent when the status is back to the
/// one last sent.
pub struct WatchStream {
    shared: Arc<Shared>,
    service: String,
    id: u64,
    last_sent: Option<ServingStatus>,
}

impl WatchStream {
    /// The service watched.
    pub fn service(&self) -> &str {
        &self.service
    }
}

impl Stream for WatchStream {
    type Item = Result<HealthCheckResponse, Status>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let mut state = this.shared.lock();
        let current = state
            .statuses
            .get(&this.service)
            .copied()
            .unwrap_or(ServingStatus::ServiceUnknown);
        if this.last_sent != Some(current) {
            this.last_sent = Some(current);
            return Poll::Ready(Some(Ok(HealthCheckResponse {
                status: current.into(),
            })));
        }
        if state.end_watches {
            return Poll::Ready(None);
        }
        let parked = state.watchers.entry(this.service.clone()).or_default();
        match parked.get_mut(&this.id) {
            Some(waker) => waker.clone_from(cx.waker()),
            None => {
                parked.insert(this.id, cx.waker().clone());
            }
        }
        Poll::Pending
    }
}

impl Drop for WatchStream {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        if let Some(parked) = state.watchers.get_mut(&self.service) {
            parked.remove(&self.id);
            if parked.is_empty() {
                state.watchers.remove(&self.service);
            }
        }
    }
}

impl fmt::Debug for WatchStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WatchStream")
            .field("service", &self.service)
            .field("last_sent", &self.last_sent)
            .finish()
    }
}
