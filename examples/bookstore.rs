//! The bookstore: ferrule's main example, one RPC of each kind.
//!
//! ```text
//! cargo run --example bookstore                  # server + client demo on 127.0.0.1:50051, then exit
//! cargo run --example bookstore -- --serve       # the same, then keep serving other clients
//! cargo run --example bookstore -- --client      # only the client, against a server already running
//! cargo run --example bookstore -- --addr 127.0.0.1:6000
//! cargo run --example bookstore --no-default-features --features tokio   # on tokio
//! ```
//!
//! The service is generated from `examples/proto/bookstore.proto` by the
//! package's `build.rs` (`ferrule-build`). The client walks through the four
//! kinds of RPC and the error cases (`NOT_FOUND`, `INVALID_ARGUMENT`,
//! `UNIMPLEMENTED`), checks every answer and exits non-zero if one is not
//! what it should be.
//!
//! The server also offers the standard health service (`grpc.health.v1`) and
//! server reflection (v1 and v1alpha), so tools work without the `.proto`:
//!
//! ```text
//! buf curl --protocol grpc --http2-prior-knowledge --list-services http://127.0.0.1:50051
//! buf curl --protocol grpc --http2-prior-knowledge -d '{"id":"1"}' \
//!     http://127.0.0.1:50051/bookstore.Bookstore/GetBook
//! grpcurl -plaintext 127.0.0.1:50051 grpc.health.v1.Health/Check
//! ```

#[cfg(not(any(feature = "smol", feature = "tokio")))]
compile_error!("the examples need a runtime: the default `smol` feature, or `tokio`");

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use ferrule::codegen::{MethodDescriptor, MethodKind, ProstCodec};
use ferrule::health::HealthReporter;
use ferrule::reflection::ReflectionBuilder;
use ferrule::{Channel, Code, Request, Response, Router, Status, Streaming, rt};
use ferrule_examples::{DemoError, Mode, Options, check, expect_code};
use futures_lite::{StreamExt as _, stream};
use prost_types::Timestamp;

use proto::bookstore_client::BookstoreClient;
use proto::bookstore_server::{Bookstore, BookstoreServer};
use proto::{Book, BookList, ChatMessage, GetBookRequest};

/// The code generated from `bookstore.proto`.
// prost leaves fields without a proto comment undocumented.
#[allow(missing_docs)]
pub mod proto {
    include!(concat!(env!("OUT_DIR"), "/bookstore.rs"));
}

/// Where the example listens unless `--addr` says otherwise.
pub const DEFAULT_ADDR: &str = "127.0.0.1:50051";

fn main() -> ExitCode {
    let options = match Options::parse(std::env::args().skip(1), DEFAULT_ADDR) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    rt::block_on(async move {
        let result = match options.mode {
            Mode::Demo => demo(&options.addr).await,
            Mode::Serve => serve_forever(&options.addr).await,
            Mode::Client => run_client(rt::channel(&options.addr)).await,
        };
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("bookstore example failed: {error}");
                ExitCode::FAILURE
            }
        }
    })
}

const USAGE: &str = "usage: bookstore [--serve | --client] [--addr HOST:PORT]";

/// Serves on `addr`, runs the client against it, then shuts the server down.
pub async fn demo(addr: &str) -> Result<(), DemoError> {
    let server = rt::serve(addr, router())
        .await
        .map_err(|e| DemoError(format!("cannot listen on {addr}: {e}")))?;
    let local = server
        .local_addr()
        .ok_or_else(|| DemoError("the server has no local address".into()))?;
    println!("server: listening on {local}");
    let result = run_client(rt::channel(&local.to_string())).await;
    server.shutdown(Duration::from_secs(1)).await;
    println!("server: shut down");
    result
}

async fn serve_forever(addr: &str) -> Result<(), DemoError> {
    let server = rt::serve(addr, router())
        .await
        .map_err(|e| DemoError(format!("cannot listen on {addr}: {e}")))?;
    let local = server
        .local_addr()
        .map_or_else(|| addr.to_owned(), |a| a.to_string());
    println!("server: listening on {local}");
    run_client(rt::channel(&local)).await?;
    println!("server: still serving on {local} (Ctrl-C to stop); try --client in another terminal");
    std::future::pending().await
}

/// The bookstore service, with a few books on its shelves, plus health
/// and reflection.
pub fn router() -> Router {
    let health = HealthReporter::new();
    health.set_serving(proto::bookstore_methods::SERVICE_NAME);
    // The descriptor set holds every file build.rs compiled (users and
    // greeter too): list only the services served here.
    let reflection = ReflectionBuilder::new()
        .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(ferrule::health::FILE_DESCRIPTOR_SET)
        .with_service_name(proto::bookstore_methods::SERVICE_NAME)
        .with_service_name(ferrule::health::SERVICE_NAME)
        .build()
        .expect("ferrule-build's descriptor sets decode");
    Router::new()
        .add_service(BookstoreServer::new(Store::with_classics()))
        .add_service(health.service())
        .add_service(reflection)
}

// ---------------------------------------------------------------- server

/// The books, shared by every call.
#[derive(Debug, Default, Clone)]
pub struct Store {
    shelves: Arc<Mutex<Shelves>>,
}

#[derive(Debug, Default)]
struct Shelves {
    books: BTreeMap<u64, Book>,
    last_id: u64,
}

impl Shelves {
    fn add(&mut self, mut book: Book) -> Book {
        self.last_id += 1;
        book.id = self.last_id.to_string();
        self.books.insert(self.last_id, book.clone());
        book
    }
}

impl Store {
    /// A store with three books.
    pub fn with_classics() -> Store {
        let store = Store::default();
        {
            let mut shelves = store.shelves();
            for (title, author, (year, month, day)) in [
                (
                    "The Rust Programming Language",
                    "Klabnik, Nichols",
                    (2018, 8, 1),
                ),
                (
                    "Programming Rust",
                    "Blandy, Orendorff, Tindall",
                    (2021, 7, 6),
                ),
                ("Rust for Rustaceans", "Gjengset", (2021, 12, 7)),
            ] {
                shelves.add(Book {
                    id: String::new(),
                    title: title.into(),
                    author: author.into(),
                    published: Timestamp::date(year, month, day).ok(),
                });
            }
        }
        store
    }

    fn shelves(&self) -> std::sync::MutexGuard<'_, Shelves> {
        // A handler that panicked mid-update cannot leave the map half
        // written (every update is one insert), so a poisoned lock is usable.
        self.shelves.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Bookstore for Store {
    async fn get_book(&self, request: Request<GetBookRequest>) -> Result<Response<Book>, Status> {
        let id = &request.get_ref().id;
        println!("server: GetBook {id:?}");
        let book = id
            .parse::<u64>()
            .ok()
            .and_then(|key| self.shelves().books.get(&key).cloned());
        book.map(Response::new)
            .ok_or_else(|| Status::not_found(format!("no book with id {id:?}")))
    }

    type ListBooksStream = stream::Iter<std::vec::IntoIter<Result<Book, Status>>>;

    async fn list_books(
        &self,
        _request: Request<()>,
    ) -> Result<Response<Self::ListBooksStream>, Status> {
        let books: Vec<_> = self.shelves().books.values().cloned().map(Ok).collect();
        println!("server: ListBooks, streaming {} books", books.len());
        Ok(Response::new(stream::iter(books)))
    }

    async fn add_books(
        &self,
        request: Request<Streaming<Book>>,
    ) -> Result<Response<BookList>, Status> {
        let mut incoming = request.into_inner();
        let mut received = Vec::new();
        while let Some(book) = incoming.message().await? {
            if book.title.trim().is_empty() {
                println!(
                    "server: AddBooks, book #{} has no title",
                    received.len() + 1
                );
                return Err(Status::invalid_argument(format!(
                    "book #{} has no title; nothing was added",
                    received.len() + 1
                )));
            }
            received.push(book);
        }
        // All or nothing: the books go on the shelves once all arrived.
        let mut shelves = self.shelves();
        let books: Vec<Book> = received.into_iter().map(|b| shelves.add(b)).collect();
        println!("server: AddBooks, added {}", books.len());
        Ok(Response::new(BookList { books }))
    }

    type ChatStream = stream::Boxed<Result<ChatMessage, Status>>;

    async fn chat(
        &self,
        request: Request<Streaming<ChatMessage>>,
    ) -> Result<Response<Self::ChatStream>, Status> {
        let store = self.clone();
        // One answer per message, sent as soon as that message arrives.
        let answers = request.into_inner().map(move |message| {
            let message = message?;
            println!("server: Chat from {}: {:?}", message.from, message.text);
            Ok(store.answer(&message.text))
        });
        Ok(Response::new(answers.boxed()))
    }
}

impl Store {
    fn answer(&self, question: &str) -> ChatMessage {
        let needle = question.to_lowercase();
        let titles: Vec<String> = self
            .shelves()
            .books
            .values()
            .filter(|book| book.title.to_lowercase().contains(&needle))
            .map(|book| format!("{} (id {})", book.title, book.id))
            .collect();
        let text = if titles.is_empty() {
            format!("no book matches {question:?}")
        } else {
            format!("{question:?}: {}", titles.join("; "))
        };
        ChatMessage {
            from: "bookstore".into(),
            text,
            sent: Some(SystemTime::now().into()),
        }
    }
}

// ---------------------------------------------------------------- client

/// The client's walk through the service. Every answer is checked; the
/// first one that is not what the service promises is the error. The checks
/// hold for a store other clients used before (`--serve`, then `--client`).
pub async fn run_client(channel: Channel) -> Result<(), DemoError> {
    let client = BookstoreClient::new(channel);

    // Unary.
    let book = client.get_book(GetBookRequest { id: "1".into() }).await?;
    let book = book.into_inner();
    println!(
        "client: GetBook 1 -> {:?} by {}, published {}",
        book.title,
        book.author,
        published(&book)
    );
    check(
        book.title == "The Rust Programming Language",
        "GetBook 1 returns the first book",
    )?;

    // Unary, error: a missing id.
    let status = expect_code(
        client.get_book(GetBookRequest { id: "999".into() }).await,
        Code::NOT_FOUND,
    )?;
    println!("client: GetBook 999 -> {status}");

    // Server streaming.
    let mut books = client.list_books(()).await?.into_inner();
    let mut listed = Vec::new();
    while let Some(book) = books.message().await? {
        println!("client: ListBooks -> [{}] {}", book.id, book.title);
        listed.push(book.title);
    }
    check(
        listed.len() >= 3 && listed[0] == "The Rust Programming Language",
        "ListBooks streams the shelves, the three classics first",
    )?;

    // Client streaming.
    let new_books = vec![
        Book {
            title: "Zero To Production In Rust".into(),
            author: "Palmieri".into(),
            published: Timestamp::date(2022, 5, 1).ok(),
            ..Book::default()
        },
        Book {
            title: "Rust Atomics and Locks".into(),
            author: "Bos".into(),
            published: Timestamp::date(2023, 1, 3).ok(),
            ..Book::default()
        },
    ];
    let added = client
        .add_books(stream::iter(new_books))
        .await?
        .into_inner();
    let ids: Vec<&str> = added.books.iter().map(|b| b.id.as_str()).collect();
    println!("client: AddBooks (2 books) -> ids {ids:?}");
    check(
        ids.len() == 2 && ids[0] != ids[1] && !ids[0].is_empty(),
        "AddBooks returns both books with new ids",
    )?;
    let fetched = client
        .get_book(GetBookRequest {
            id: ids[1].to_owned(),
        })
        .await?
        .into_inner();
    check(
        fetched.title == "Rust Atomics and Locks",
        "an added book can be fetched by its new id",
    )?;

    // Client streaming, error: a book without a title; nothing is added.
    let invalid = vec![
        Book {
            title: "Hands-on Rust".into(),
            ..Book::default()
        },
        Book::default(),
    ];
    let status = expect_code(
        client.add_books(stream::iter(invalid)).await,
        Code::INVALID_ARGUMENT,
    )?;
    println!("client: AddBooks (one untitled) -> {status}");
    let count = client.list_books(()).await?.into_inner().count().await;
    check(
        count == listed.len() + 2,
        "a rejected AddBooks adds nothing",
    )?;

    // Bidirectional: each question is sent only after the previous answer
    // came back, so the two directions really interleave.
    let (questions, outbox) = async_channel::bounded(1);
    let mut answers = client.chat(outbox).await?.into_inner();
    for question in ["rust", "atomics", "cooking"] {
        let message = ChatMessage {
            from: "client".into(),
            text: question.into(),
            sent: Some(SystemTime::now().into()),
        };
        questions
            .send(message)
            .await
            .map_err(|_| DemoError("the chat request stream closed early".into()))?;
        let answer = answers
            .message()
            .await?
            .ok_or_else(|| DemoError("the chat ended before answering".into()))?;
        println!("client: Chat {question:?} -> {}", answer.text);
        check(answer.from == "bookstore", "the store answers")?;
    }
    questions.close();
    check(
        answers.message().await?.is_none(),
        "the chat ends when the client is done",
    )?;

    // A method the server does not have, through the untyped client.
    const MISSING: MethodDescriptor = MethodDescriptor {
        path: "/bookstore.Bookstore/SellBook",
        service: "bookstore.Bookstore",
        method: "SellBook",
        kind: MethodKind::Unary,
    };
    let result = client
        .inner()
        .unary(&MISSING, Request::new(()), ProstCodec::<(), ()>::new())
        .await;
    let status = expect_code(result, Code::UNIMPLEMENTED)?;
    println!("client: SellBook -> {status}");

    println!("client: all four kinds of RPC and the error cases behaved as expected");
    Ok(())
}

fn published(book: &Book) -> String {
    book.published
        .as_ref()
        .map_or_else(|| "at an unknown date".into(), |t| t.to_string())
}
