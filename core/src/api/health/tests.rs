//! The reporter, the watch stream and the handlers, polled by hand (no
//! runtime). The socket-level tests are in the facade's
//! `tests/standard_services.rs`.

#![allow(clippy::unwrap_used)]

use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use futures_core::Stream;

use super::pb::health_server::Health;
use super::pb::{HealthCheckRequest, HealthCheckResponse};
use super::service::Handlers;
use super::*;
use crate::Code;
use crate::api::codegen::{Routes, Service};
use crate::api::{Request, Response};

/// Counts its wake-ups.
#[derive(Default)]
struct Count(AtomicUsize);

impl Wake for Count {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

impl Count {
    fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// The output of a future that needs no wake-up to finish.
fn ready<F: Future>(future: F) -> F::Output {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("the future should be ready at once"),
    }
}

/// One poll of a watch stream with `waker`: the status it yields, or `None`
/// when it is pending.
fn poll(stream: &mut WatchStream, waker: &Waker) -> Option<ServingStatus> {
    match Pin::new(stream).poll_next(&mut Context::from_waker(waker)) {
        Poll::Ready(Some(Ok(response))) => Some(response.status()),
        Poll::Ready(other) => panic!("a watch stream yields statuses only, got {other:?}"),
        Poll::Pending => None,
    }
}

fn check(handlers: &Handlers, service: &str) -> Result<ServingStatus, Code> {
    ready(handlers.check(Request::new(HealthCheckRequest {
        service: service.into(),
    })))
    .map(|response: Response<HealthCheckResponse>| response.into_inner().status())
    .map_err(|status| status.code())
}

#[test]
fn a_new_reporter_knows_only_the_whole_server() {
    let health = HealthReporter::new();
    assert_eq!(health.status(""), Some(ServingStatus::Serving));
    assert_eq!(health.status("shop.Bookstore"), None);
    assert!(!health.is_shut_down());
}

#[test]
fn check_answers_known_services_and_not_found_for_others() {
    let health = HealthReporter::new();
    let handlers = Handlers {
        reporter: health.clone(),
    };
    health.set_serving("shop.Bookstore");
    health.set_not_serving("shop.Users");
    let cases = [
        ("", Ok(ServingStatus::Serving)),
        ("shop.Bookstore", Ok(ServingStatus::Serving)),
        ("shop.Users", Ok(ServingStatus::NotServing)),
        ("shop.Nothing", Err(Code::NOT_FOUND)),
        ("shop.bookstore", Err(Code::NOT_FOUND)),
    ];
    for (service, want) in cases {
        assert_eq!(check(&handlers, service), want, "{service:?}");
    }
    assert!(health.clear_status("shop.Users"));
    assert_eq!(check(&handlers, "shop.Users"), Err(Code::NOT_FOUND));
}

#[test]
fn watch_sends_the_current_status_then_each_change() {
    let health = HealthReporter::new();
    health.set_serving("shop.Bookstore");
    let count = Arc::new(Count::default());
    let waker = Waker::from(Arc::clone(&count));
    let mut watch = health.watch("shop.Bookstore");

    assert_eq!(poll(&mut watch, &waker), Some(ServingStatus::Serving));
    assert_eq!(poll(&mut watch, &waker), None);
    assert_eq!(health.parked_watchers("shop.Bookstore"), 1);

    // Setting the same status wakes nobody and sends nothing.
    health.set_serving("shop.Bookstore");
    assert_eq!(count.get(), 0);

    health.set_not_serving("shop.Bookstore");
    assert_eq!(count.get(), 1);
    assert_eq!(poll(&mut watch, &waker), Some(ServingStatus::NotServing));
    assert_eq!(poll(&mut watch, &waker), None);

    // Another service's change does not concern this watch.
    health.set_not_serving("shop.Users");
    assert_eq!(count.get(), 1);
    assert_eq!(poll(&mut watch, &waker), None);
}

#[test]
fn watch_coalesces_changes_between_polls() {
    let health = HealthReporter::new();
    let waker = Waker::noop();
    let mut watch = health.watch("");
    assert_eq!(poll(&mut watch, waker), Some(ServingStatus::Serving));
    assert_eq!(poll(&mut watch, waker), None);

    // Three changes while the watcher is busy: only the latest is sent.
    health.set_not_serving("");
    health.set_status("", ServingStatus::Unknown);
    health.set_not_serving("");
    assert_eq!(poll(&mut watch, waker), Some(ServingStatus::NotServing));
    assert_eq!(poll(&mut watch, waker), None);

    // A change and back: nothing to send.
    health.set_serving("");
    health.set_not_serving("");
    assert_eq!(poll(&mut watch, waker), None);
}

#[test]
fn watch_of_an_unknown_service_says_so_and_keeps_watching() {
    let health = HealthReporter::new();
    let count = Arc::new(Count::default());
    let waker = Waker::from(Arc::clone(&count));
    let mut watch = health.watch("shop.Later");
    assert_eq!(
        poll(&mut watch, &waker),
        Some(ServingStatus::ServiceUnknown)
    );
    assert_eq!(poll(&mut watch, &waker), None);

    health.set_serving("shop.Later");
    assert_eq!(count.get(), 1);
    assert_eq!(poll(&mut watch, &waker), Some(ServingStatus::Serving));
    assert_eq!(poll(&mut watch, &waker), None);

    health.clear_status("shop.Later");
    assert_eq!(count.get(), 2);
    assert_eq!(
        poll(&mut watch, &waker),
        Some(ServingStatus::ServiceUnknown)
    );
}

#[test]
fn every_watcher_of_a_service_is_woken() {
    let health = HealthReporter::new();
    let counts: Vec<Arc<Count>> = (0..3).map(|_| Arc::new(Count::default())).collect();
    let mut watches: Vec<WatchStream> = (0..3).map(|_| health.watch("")).collect();
    for (watch, count) in watches.iter_mut().zip(&counts) {
        let waker = Waker::from(Arc::clone(count));
        assert_eq!(poll(watch, &waker), Some(ServingStatus::Serving));
        assert_eq!(poll(watch, &waker), None);
    }
    assert_eq!(health.parked_watchers(""), 3);
    health.set_not_serving("");
    for (watch, count) in watches.iter_mut().zip(&counts) {
        assert_eq!(count.get(), 1);
        assert_eq!(poll(watch, Waker::noop()), Some(ServingStatus::NotServing));
    }
}

#[test]
fn a_dropped_watch_leaves_nothing_parked() {
    let health = HealthReporter::new();
    let mut watch = health.watch("shop.Bookstore");
    assert_eq!(
        poll(&mut watch, Waker::noop()),
        Some(ServingStatus::ServiceUnknown)
    );
    // Polling again and again parks one waker, not one per poll.
    for _ in 0..10 {
        assert_eq!(poll(&mut watch, Waker::noop()), None);
    }
    assert_eq!(health.parked_watchers("shop.Bookstore"), 1);
    drop(watch);
    assert_eq!(health.parked_watchers("shop.Bookstore"), 0);
}

#[test]
fn shutdown_turns_everything_not_serving_and_freezes_it_until_resume() {
    let health = HealthReporter::new();
    health.set_serving("shop.Bookstore");
    let mut watch = health.watch("shop.Bookstore");
    assert_eq!(
        poll(&mut watch, Waker::noop()),
        Some(ServingStatus::Serving)
    );

    health.shutdown();
    assert!(health.is_shut_down());
    assert_eq!(health.status(""), Some(ServingStatus::NotServing));
    assert_eq!(
        health.status("shop.Bookstore"),
        Some(ServingStatus::NotServing)
    );
    assert_eq!(
        poll(&mut watch, Waker::noop()),
        Some(ServingStatus::NotServing)
    );
    // Nothing moves while shutting down.
    assert!(!health.set_serving_ok("shop.Bookstore"));
    assert!(!health.clear_status("shop.Bookstore"));
    assert_eq!(
        health.status("shop.Bookstore"),
        Some(ServingStatus::NotServing)
    );

    health.resume();
    assert_eq!(health.status(""), Some(ServingStatus::Serving));
    assert_eq!(
        poll(&mut watch, Waker::noop()),
        Some(ServingStatus::Serving)
    );
    assert!(health.set_serving_ok("shop.Users"));
}

#[test]
fn the_server_shutdown_ends_every_watch_after_not_serving() {
    let health = HealthReporter::new();
    health.set_serving("shop.Bookstore");
    let count = Arc::new(Count::default());
    let waker = Waker::from(Arc::clone(&count));
    let mut parked = health.watch("shop.Bookstore");
    assert_eq!(poll(&mut parked, &waker), Some(ServingStatus::Serving));
    assert_eq!(poll(&mut parked, &waker), None);
    let mut unknown = health.watch("shop.Nothing");
    assert_eq!(
        poll(&mut unknown, &waker),
        Some(ServingStatus::ServiceUnknown)
    );
    assert_eq!(poll(&mut unknown, &waker), None);

    health.server_shutdown();
    assert_eq!(count.get(), 2, "both parked watches are woken");
    assert_eq!(poll(&mut parked, &waker), Some(ServingStatus::NotServing));
    let end = |watch: &mut WatchStream| {
        matches!(
            Pin::new(watch).poll_next(&mut Context::from_waker(Waker::noop())),
            Poll::Ready(None)
        )
    };
    assert!(end(&mut parked));
    // Its status did not change: it just ends.
    assert!(end(&mut unknown));
    // A watch that starts now gets the status once, then ends.
    let mut late = health.watch("");
    assert_eq!(
        poll(&mut late, Waker::noop()),
        Some(ServingStatus::NotServing)
    );
    assert!(end(&mut late));

    health.resume();
    let mut again = health.watch("");
    assert_eq!(
        poll(&mut again, Waker::noop()),
        Some(ServingStatus::Serving)
    );
    assert_eq!(poll(&mut again, Waker::noop()), None);
}

impl HealthReporter {
    fn set_serving_ok(&self, service: &str) -> bool {
        self.set_status(service, ServingStatus::Serving)
    }
}

#[test]
fn the_service_registers_both_methods_and_a_shutdown_hook() {
    let health = HealthReporter::new();
    let mut routes = Routes::default();
    health.service().register(&mut routes);
    assert_eq!(routes.len(), 2);
    assert!(routes.get("/grpc.health.v1.Health/Check").is_some());
    assert!(routes.get("/grpc.health.v1.Health/Watch").is_some());
    assert_eq!(routes.shutdown_hooks().len(), 1);
    for hook in routes.shutdown_hooks() {
        hook();
    }
    assert!(health.is_shut_down());
    assert_eq!(health.status(""), Some(ServingStatus::NotServing));
}

/// Just the file names of a `FileDescriptorSet`.
#[derive(Clone, PartialEq, prost::Message)]
struct FileNames {
    #[prost(message, repeated, tag = "1")]
    file: Vec<FileName>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct FileName {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(string, tag = "2")]
    package: String,
}

#[test]
fn the_descriptor_set_holds_the_health_proto() {
    use prost::Message as _;
    let set = FileNames::decode(FILE_DESCRIPTOR_SET).unwrap();
    let names: Vec<(&str, &str)> = set
        .file
        .iter()
        .map(|f| (f.name.as_str(), f.package.as_str()))
        .collect();
    assert_eq!(names, [("grpc/health/v1/health.proto", "grpc.health.v1")]);
    assert_eq!(SERVICE_NAME, "grpc.health.v1.Health");
}
