//! [`HealthService`]: `Check` and `Watch` over a [`HealthReporter`].

use std::fmt;
use std::sync::Arc;

use crate::Status;
use crate::api::codegen::{Routes, Service};
use crate::api::{Request, Response};

use super::pb::health_server::{Health, HealthServer};
use super::pb::{HealthCheckRequest, HealthCheckResponse};
use super::reporter::{HealthReporter, WatchStream};

/// The `grpc.health.v1.Health` service over a [`HealthReporter`]; add it to
/// a router with `Router::add_service`. Made by [`HealthReporter::service`].
pub struct HealthService {
    reporter: HealthReporter,
}

impl HealthService {
    pub(super) fn new(reporter: HealthReporter) -> HealthService {
        HealthService { reporter }
    }

    /// The reporter this service answers from.
    pub fn reporter(&self) -> &HealthReporter {
        &self.reporter
    }
}

impl fmt::Debug for HealthService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HealthService")
            .field("reporter", &self.reporter)
            .finish()
    }
}

impl Service for HealthService {
    const NAME: &'static str = super::SERVICE_NAME;

    fn register(self, routes: &mut Routes) {
        let reporter = self.reporter.clone();
        routes.on_shutdown(move || reporter.server_shutdown());
        HealthServer::from_arc(Arc::new(Handlers {
            reporter: self.reporter,
        }))
        .register(routes);
    }
}

pub(super) struct Handlers {
    pub(super) reporter: HealthReporter,
}

impl Health for Handlers {
    async fn check(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        let service = &request.get_ref().service;
        match self.reporter.shared().check(service) {
            Some(status) => Ok(Response::new(HealthCheckResponse {
                status: status.into(),
            })),
            None => Err(Status::not_found(format!("unknown service {service:?}"))),
        }
    }

    type WatchStream = WatchStream;

    async fn watch(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<WatchStream>, Status> {
        Ok(Response::new(
            self.reporter.watch(request.into_inner().service),
        ))
    }
}
