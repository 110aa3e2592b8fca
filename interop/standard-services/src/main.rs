//! The ferrule side of `check.py`, which runs real gRPC tools against it:
//!
//! ```text
//! ferrule-standard-services serve [--addr 127.0.0.1:0]
//!     Serves the bookstore (GetBook only), health and reflection (v1 and
//!     v1alpha); prints `listening on ADDR` once bound, then serves until
//!     killed. Extra route for the check: /ferrule.check.Control/SetStatus,
//!     a raw UTF-8 body `SERVICE=STATUS` (SERVING, NOT_SERVING, UNKNOWN, or
//!     CLEAR to forget the service) that changes a health status.
//!     GetBook: "1" is a book; "details" fails FAILED_PRECONDITION with the
//!     ten standard error details (sample_details); anything else NOT_FOUND.
//!
//! ferrule-standard-services call-details --addr HOST:PORT
//!     Calls GetBook("details") on a server (check.py's grpcio one) and checks
//!     that the status decodes to FAILED_PRECONDITION with exactly
//!     sample_details(); prints what it decoded, exits 1 if it differs.
//! ```

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use ferrule::codec::status::details::{
    ErrorDetails, FieldViolation, HelpLink, PreconditionViolation, QuotaViolation,
};
use ferrule::codegen::{BytesCodec, unary_handler};
use ferrule::health::{HealthReporter, ServingStatus};
use ferrule::reflection::ReflectionBuilder;
use ferrule::{Code, Request, Response, Router, Status, StreamReceiver, Streaming, rt};

/// The code generated from `examples/proto/bookstore.proto`.
// prost leaves fields without a proto comment undocumented; the binary uses
// only part of the generated client and descriptors.
#[allow(missing_docs, dead_code)]
mod proto {
    include!(concat!(env!("OUT_DIR"), "/bookstore.rs"));
}

use proto::bookstore_client::BookstoreClient;
use proto::bookstore_server::{Bookstore, BookstoreServer};
use proto::{Book, BookList, ChatMessage, GetBookRequest};

const USAGE: &str = "usage: ferrule-standard-services serve [--addr HOST:PORT]\n       \
                     ferrule-standard-services call-details --addr HOST:PORT";

/// The path of the control method that changes health statuses.
const SET_STATUS: &str = "/ferrule.check.Control/SetStatus";

/// The status message of the rich-details error, both ways.
const DETAILS_MESSAGE: &str = "the sample error details";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mode = args.next();
    let mut addr = None;
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--addr", Some(value)) => addr = Some(value),
            _ => {
                eprintln!("unexpected argument {arg:?}\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let result = rt::block_on(async move {
        match (mode.as_deref(), addr) {
            (Some("serve"), addr) => serve(addr.as_deref().unwrap_or("127.0.0.1:0")).await,
            (Some("call-details"), Some(addr)) => call_details(&addr).await,
            _ => Err(format!("missing or unknown mode\n{USAGE}")),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("ferrule-standard-services: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The ten standard details, as both sides of the check send them
/// (check.py builds the same with grpcio-status / googleapis-common-protos).
fn sample_details() -> ErrorDetails {
    ErrorDetails::new()
        .with_error_info(
            "BOOK_LOCKED",
            "bookstore.example",
            [("book", "details"), ("shelf", "7")],
        )
        .with_retry_info(Duration::from_millis(1500))
        .with_debug_info(["bookstore.rs:10", "main.rs:20"], "sample stack")
        .with_quota_failure([QuotaViolation::new("user:42", "daily lookups exceeded")])
        .with_precondition_failure([PreconditionViolation::new(
            "TOS",
            "user:42",
            "terms of service not accepted",
        )])
        .with_bad_request([
            FieldViolation::new("id", "must be a number"),
            FieldViolation::new("shelf", "unknown shelf"),
        ])
        .with_request_info("req-7", "shard 3")
        .with_resource_info("book", "details", "shop", "the book is locked")
        .with_help([HelpLink::new("locking", "https://example.invalid/locks")])
        .with_localized_message("en-US", "That book is locked.")
}

async fn serve(addr: &str) -> Result<(), String> {
    let health = HealthReporter::new();
    health.set_serving(proto::bookstore_methods::SERVICE_NAME);
    let reflection = ReflectionBuilder::new()
        .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(ferrule::health::FILE_DESCRIPTOR_SET)
        .build()
        .map_err(|e| format!("reflection: {e}"))?;
    let control = Arc::new(health.clone());
    let router = Router::new()
        .add_service(BookstoreServer::new(Store))
        .add_service(health.service())
        .add_service(reflection)
        .route(
            SET_STATUS,
            unary_handler(
                control,
                |health: Arc<HealthReporter>, request| async move { set_status(&health, request) },
                BytesCodec,
            ),
        );
    let server = rt::serve(addr, router)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = server
        .local_addr()
        .ok_or("the server has no local address")?;
    println!("listening on {local}");
    std::future::pending::<()>().await;
    Ok(())
}

fn set_status<B: AsRef<[u8]> + Default>(
    health: &HealthReporter,
    request: Request<B>,
) -> Result<Response<B>, Status> {
    let body = std::str::from_utf8(request.get_ref().as_ref())
        .map_err(|_| Status::invalid_argument("the body is not UTF-8"))?;
    let (service, status) = body
        .split_once('=')
        .ok_or_else(|| Status::invalid_argument("the body is not SERVICE=STATUS"))?;
    let set = match status {
        "CLEAR" => health.clear_status(service),
        other => {
            let status = ServingStatus::from_str_name(other)
                .ok_or_else(|| Status::invalid_argument(format!("unknown status {other:?}")))?;
            health.set_status(service, status)
        }
    };
    println!("control: {service:?} -> {status} (applied: {set})");
    Ok(Response::new(B::default()))
}

/// GetBook only; the other methods answer UNIMPLEMENTED.
struct Store;

impl Bookstore for Store {
    async fn get_book(&self, request: Request<GetBookRequest>) -> Result<Response<Book>, Status> {
        match request.get_ref().id.as_str() {
            "1" => Ok(Response::new(Book {
                id: "1".into(),
                title: "The Rust Programming Language".into(),
                author: "Klabnik, Nichols".into(),
                published: prost_types::Timestamp::date(2018, 8, 1).ok(),
            })),
            "details" => Err(Status::with_error_details(
                Code::FAILED_PRECONDITION,
                DETAILS_MESSAGE,
                sample_details(),
            )),
            id => Err(Status::not_found(format!("no book with id {id:?}"))),
        }
    }

    type ListBooksStream = StreamReceiver<Result<Book, Status>>;

    async fn list_books(
        &self,
        _request: Request<()>,
    ) -> Result<Response<Self::ListBooksStream>, Status> {
        Err(Status::unimplemented("only GetBook is served here"))
    }

    async fn add_books(
        &self,
        _request: Request<Streaming<Book>>,
    ) -> Result<Response<BookList>, Status> {
        Err(Status::unimplemented("only GetBook is served here"))
    }

    type ChatStream = StreamReceiver<Result<ChatMessage, Status>>;

    async fn chat(
        &self,
        _request: Request<Streaming<ChatMessage>>,
    ) -> Result<Response<Self::ChatStream>, Status> {
        Err(Status::unimplemented("only GetBook is served here"))
    }
}

async fn call_details(addr: &str) -> Result<(), String> {
    let client = BookstoreClient::new(rt::channel(addr));
    let mut request = Request::new(GetBookRequest {
        id: "details".into(),
    });
    request.set_timeout(Duration::from_secs(10));
    let status = match client.get_book(request).await {
        Ok(_) => return Err("GetBook(\"details\") succeeded; it should fail".into()),
        Err(status) => status,
    };
    println!("status: {} {:?}", status.code(), status.message());
    let details = status
        .error_details()
        .map_err(|e| format!("the details do not decode: {e}"))?;
    println!("details: {details:#?}");
    let mut problems = Vec::new();
    if status.code() != Code::FAILED_PRECONDITION {
        problems.push(format!("code {} is not FAILED_PRECONDITION", status.code()));
    }
    if status.message() != DETAILS_MESSAGE {
        problems.push(format!(
            "message {:?} is not {DETAILS_MESSAGE:?}",
            status.message()
        ));
    }
    let expected = sample_details();
    if details != expected {
        problems.push(format!("details differ; expected {expected:#?}"));
    }
    if details.len() != 10 {
        problems.push(format!("{} standard details, not 10", details.len()));
    }
    if problems.is_empty() {
        println!("all ten standard details decoded as sent");
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}
