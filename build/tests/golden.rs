//! The generated code for `tests/protos/shop.proto`, checked in under
//! `tests/golden/`: this test fails when the generator's output changes
//! (review the diff, then regenerate with
//! `FERRULE_BLESS=1 cargo test -p ferrule-build --test golden`), and the
//! modules below compile the checked-in code against
//! `ferrule_core::api::codegen`, so the generated code is known to compile
//! and to fit the contract.

#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::Path;

const PROTOS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/protos");
const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden");

/// The builder the golden files come from.
fn builder() -> ferrule_build::Builder {
    ferrule_build::configure()
        .codegen_path("::ferrule_core::api::codegen")
        .skip_file_descriptor_set()
        .emit_rerun_if_changed(false)
}

#[test]
fn generated_code_matches_the_golden_files() {
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ferrule-build-golden");
    let _ = fs::remove_dir_all(&out);
    builder()
        .out_dir(&out)
        .compile(&["shop.proto"], &[PROTOS])
        .unwrap();
    let bless = std::env::var_os("FERRULE_BLESS").is_some();
    for name in ["shop.v1.rs", "shop.common.rs"] {
        let generated = fs::read_to_string(out.join(name)).unwrap();
        let golden_path = Path::new(GOLDEN).join(name);
        if bless {
            fs::write(&golden_path, &generated).unwrap();
            continue;
        }
        let golden = fs::read_to_string(&golden_path).unwrap();
        if generated != golden {
            let first_difference = generated
                .lines()
                .zip(golden.lines())
                .position(|(a, b)| a != b)
                .map_or("at the end".to_owned(), |line| {
                    format!("at line {}", line + 1)
                });
            panic!(
                "{name} differs from tests/golden/{name} {first_difference}; if the change is \
                 intended, run FERRULE_BLESS=1 cargo test -p ferrule-build --test golden\n\
                 --- generated ---\n{generated}"
            );
        }
    }
}

#[allow(dead_code)]
mod shop {
    pub mod common {
        include!("golden/shop.common.rs");
    }
    pub mod v1 {
        include!("golden/shop.v1.rs");
    }
}

/// The generated trait, implemented the way users write it: plain `async fn`.
mod implemented {
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use ferrule_core::api::codegen::{Request, Response, Status, Stream, Streaming};

    use super::shop::common::Note;
    use super::shop::v1::bookstore_server::Bookstore;
    use super::shop::v1::warehouse_server::Warehouse;
    use super::shop::v1::{Book, BookList, GetBookRequest, ListBooksRequest};

    /// A stream of the items of a vector.
    pub struct Items<T>(pub std::vec::IntoIter<T>);

    impl<T: Unpin> Stream for Items<T> {
        type Item = T;
        fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<T>> {
            Poll::Ready(self.0.next())
        }
    }

    pub struct Store;

    impl Bookstore for Store {
        async fn get_book(
            &self,
            request: Request<GetBookRequest>,
        ) -> Result<Response<Book>, Status> {
            let id = request.into_inner().id;
            Err(Status::not_found(format!("no book {id}")))
        }

        type ListBooksStream = Items<Result<Book, Status>>;

        async fn list_books(
            &self,
            request: Request<ListBooksRequest>,
        ) -> Result<Response<Self::ListBooksStream>, Status> {
            let limit = request.get_ref().limit as usize;
            let books = vec![Ok(Book::default()); limit];
            Ok(Response::new(Items(books.into_iter())))
        }

        async fn add_books(
            &self,
            request: Request<Streaming<Book>>,
        ) -> Result<Response<BookList>, Status> {
            let mut stream = request.into_inner();
            let mut books = Vec::new();
            while let Some(book) = stream.message().await? {
                books.push(book);
            }
            Ok(Response::new(BookList { books }))
        }

        type ChatStream = Streaming<Note>;

        async fn chat(
            &self,
            request: Request<Streaming<Note>>,
        ) -> Result<Response<Self::ChatStream>, Status> {
            Ok(Response::new(request.into_inner()))
        }

        async fn ping(&self, _: Request<()>) -> Result<Response<()>, Status> {
            Ok(Response::new(()))
        }

        async fn r#match(
            &self,
            _: Request<GetBookRequest>,
        ) -> Result<Response<prost_types::Timestamp>, Status> {
            Ok(Response::new(prost_types::Timestamp::default()))
        }
    }

    impl Warehouse for Store {
        async fn restock(&self, request: Request<Streaming<Book>>) -> Result<Response<()>, Status> {
            let mut stream = request.into_inner();
            while stream.message().await?.is_some() {}
            Ok(Response::new(()))
        }
    }
}

#[test]
fn generated_servers_register_every_method_under_its_path() {
    use ferrule_core::api::Router;
    use ferrule_core::api::codegen::{MethodKind, Service};
    use shop::v1::{bookstore_methods, bookstore_server, warehouse_methods, warehouse_server};

    assert_eq!(
        <bookstore_server::BookstoreServer<implemented::Store> as Service>::NAME,
        "shop.v1.Bookstore"
    );
    let store = std::sync::Arc::new(implemented::Store);
    let router = Router::new()
        .add_service(bookstore_server::BookstoreServer::from_arc(store.clone()))
        .add_service(warehouse_server::WarehouseServer::from_arc(store));
    assert_eq!(
        router.services(),
        &["shop.v1.Bookstore", "shop.v1.Warehouse"]
    );

    let expected = [
        ("/shop.v1.Bookstore/GetBook", MethodKind::Unary),
        ("/shop.v1.Bookstore/ListBooks", MethodKind::ServerStreaming),
        ("/shop.v1.Bookstore/AddBooks", MethodKind::ClientStreaming),
        ("/shop.v1.Bookstore/Chat", MethodKind::BidiStreaming),
        ("/shop.v1.Bookstore/Ping", MethodKind::Unary),
        ("/shop.v1.Bookstore/Match", MethodKind::Unary),
        ("/shop.v1.Warehouse/Restock", MethodKind::ClientStreaming),
    ];
    let descriptors = bookstore_methods::METHODS
        .iter()
        .chain(warehouse_methods::METHODS);
    for (descriptor, (path, kind)) in descriptors.zip(expected) {
        assert_eq!((descriptor.path, descriptor.kind), (path, kind));
        assert_eq!(router.handler(path).map(|h| h.kind()), Some(kind), "{path}");
    }
    assert_eq!(
        bookstore_methods::METHODS.len() + warehouse_methods::METHODS.len(),
        expected.len()
    );
    assert_eq!(bookstore_methods::CHAT.service, "shop.v1.Bookstore");
    assert_eq!(bookstore_methods::CHAT.method, "Chat");
    assert!(router.handler("/shop.v1.Bookstore/Missing").is_none());
}

/// Never called: compiles only if every generated client method returns a
/// `Send` future, for each way of passing a request.
#[allow(dead_code)]
fn generated_client_futures_are_send(client: shop::v1::bookstore_client::BookstoreClient) {
    use ferrule_core::api::codegen::Request;
    use shop::v1::{Book, GetBookRequest, ListBooksRequest};

    fn send<T: Send>(_: T) {}
    send(client.get_book(GetBookRequest::default()));
    send(client.get_book(Request::new(GetBookRequest::default())));
    send(client.list_books(ListBooksRequest { limit: 3 }));
    send(client.add_books(implemented::Items(vec![Book::default()].into_iter())));
    send(client.add_books(Request::new(implemented::Items(
        Vec::<Book>::new().into_iter(),
    ))));
    send(client.chat(implemented::Items(
        Vec::<shop::common::Note>::new().into_iter(),
    )));
    send(client.ping(()));
    send(client.r#match(GetBookRequest::default()));
    let _clone: shop::v1::bookstore_client::BookstoreClient = client.clone();
}
