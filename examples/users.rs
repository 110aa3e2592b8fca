//! The users service: pagination, a stream of events, client streaming, an
//! authentication interceptor on each side, and a deadline.
//!
//! ```text
//! cargo run --example users                  # server + client demo on 127.0.0.1:50052, then exit
//! cargo run --example users -- --serve       # the same, then keep serving other clients
//! cargo run --example users -- --client      # only the client, against a server already running
//! cargo run --example users --no-default-features --features tokio   # on tokio
//! ```
//!
//! Every call needs `authorization: Bearer <token>` with a known token: a
//! server interceptor checks it (`UNAUTHENTICATED` otherwise) and hands the
//! caller's name to the handlers through the request extensions; a client
//! interceptor adds the header. `ExportUsers` is slow on purpose: called with
//! a short timeout it fails with `DEADLINE_EXCEEDED`, and the server sees the
//! call cancelled and stops working on it.

#[cfg(not(any(feature = "smol", feature = "tokio")))]
compile_error!("the examples need a runtime: the default `smol` feature, or `tokio`");

use std::process::ExitCode;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use ferrule::core::api::Runtime;
use ferrule::{
    Channel, Client, Code, Interceptor, Request, Response, Router, Status, Streaming, rt,
};
use ferrule_examples::{DemoError, Mode, Options, check, expect_code};
use futures_lite::{StreamExt as _, future, stream};

use proto::users_client::UsersClient;
use proto::users_server::{Users, UsersServer};
use proto::{
    CreateUserRequest, ExportUsersResponse, GetUserRequest, ListUsersRequest, ListUsersResponse,
    UploadUsersResponse, User, UserEvent, user_event,
};

/// The code generated from `users.proto`.
// prost leaves fields without a proto comment undocumented.
#[allow(missing_docs)]
pub mod proto {
    include!(concat!(env!("OUT_DIR"), "/users.rs"));
}

/// Where the example listens unless `--addr` says otherwise.
pub const DEFAULT_ADDR: &str = "127.0.0.1:50052";

/// The tokens the server knows, and whose they are.
const TOKENS: &[(&str, &str)] = &[("s3cr3t-ada", "ada"), ("s3cr3t-grace", "grace")];

/// How long `ExportUsers` takes.
const EXPORT_TIME: Duration = Duration::from_secs(1);

fn main() -> ExitCode {
    let options = match Options::parse(std::env::args().skip(1), DEFAULT_ADDR) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}\n\nusage: users [--serve | --client] [--addr HOST:PORT]");
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
                eprintln!("users example failed: {error}");
                ExitCode::FAILURE
            }
        }
    })
}

/// Serves on `addr`, runs the client against it, then shuts the server down.
pub async fn demo(addr: &str) -> Result<(), DemoError> {
    let server = rt::serve(addr, router(rt::runtime()))
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
    let server = rt::serve(addr, router(rt::runtime()))
        .await
        .map_err(|e| DemoError(format!("cannot listen on {addr}: {e}")))?;
    let local = server
        .local_addr()
        .map_or_else(|| addr.to_owned(), |a| a.to_string());
    println!("server: listening on {local}");
    run_client(rt::channel(&local)).await?;
    println!("server: still serving on {local} (Ctrl-C to stop)");
    std::future::pending().await
}

/// The users service behind the authentication interceptor; the slow method
/// waits on `timers`, the runtime the server runs on.
pub fn router(timers: Arc<dyn Runtime>) -> Router {
    Router::new()
        .interceptor(authenticate)
        .add_service(UsersServer::new(Directory::new(timers)))
}

// ---------------------------------------------------------------- server

/// Who is calling, as the interceptor found out: the handlers read it from
/// the request extensions.
#[derive(Clone, Debug)]
struct Caller(String);

/// The server interceptor: a known bearer token, or `UNAUTHENTICATED`.
async fn authenticate(mut request: Request<()>) -> Result<Request<()>, Status> {
    let token = request
        .metadata()
        .get("authorization")
        .and_then(|value| value.strip_prefix("Bearer "));
    let Some(&(_, name)) = TOKENS.iter().find(|(known, _)| Some(*known) == token) else {
        println!(
            "server: rejected {} without a valid token",
            request.path().unwrap_or("a call")
        );
        return Err(Status::unauthenticated("a valid bearer token is required"));
    };
    request.extensions_mut().insert(Caller(name.to_owned()));
    Ok(request)
}

/// The users and the open `WatchUsers` streams, shared by every call.
#[derive(Debug, Clone)]
pub struct Directory {
    state: Arc<Mutex<State>>,
    timers: Arc<dyn Runtime>,
}

#[derive(Debug, Default)]
struct State {
    users: Vec<User>,
    watchers: Vec<async_channel::Sender<UserEvent>>,
}

/// How many events a watcher may fall behind before it is dropped.
const WATCH_BACKLOG: usize = 64;

impl Directory {
    /// An empty directory whose slow method waits on `timers`.
    pub fn new(timers: Arc<dyn Runtime>) -> Directory {
        Directory {
            state: Arc::default(),
            timers,
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Every update is one push; a panicking handler cannot leave the
        // state half written, so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn create(&self, request: CreateUserRequest, caller: &str) -> User {
        let mut state = self.state();
        let user = User {
            id: format!("u{}", state.users.len() + 1),
            name: request.name,
            email: request.email,
            created_at: Some(SystemTime::now().into()),
            created_by: caller.to_owned(),
        };
        state.users.push(user.clone());
        let event = UserEvent {
            kind: user_event::Kind::Created.into(),
            user: Some(user.clone()),
        };
        // A watcher that is gone, or too far behind, is dropped (its stream ends).
        state
            .watchers
            .retain(|watcher| watcher.try_send(event.clone()).is_ok());
        user
    }
}

fn validate(request: &CreateUserRequest) -> Result<(), Status> {
    if request.name.trim().is_empty() {
        return Err(Status::invalid_argument("a user needs a name"));
    }
    if !request.email.contains('@') {
        return Err(Status::invalid_argument(format!(
            "{:?} is not an email address",
            request.email
        )));
    }
    Ok(())
}

fn caller<T>(request: &Request<T>) -> Result<String, Status> {
    // The interceptor always sets it; a route added without it is a bug.
    request
        .extensions()
        .get::<Caller>()
        .map(|caller| caller.0.clone())
        .ok_or_else(|| Status::internal("no caller: the authentication interceptor did not run"))
}

/// The default and the largest page of `ListUsers`.
const DEFAULT_PAGE: usize = 10;
const MAX_PAGE: usize = 100;

impl Users for Directory {
    async fn get_user(&self, request: Request<GetUserRequest>) -> Result<Response<User>, Status> {
        let id = &request.get_ref().id;
        let user = self.state().users.iter().find(|u| &u.id == id).cloned();
        user.map(Response::new)
            .ok_or_else(|| Status::not_found(format!("no user with id {id:?}")))
    }

    async fn create_user(
        &self,
        request: Request<CreateUserRequest>,
    ) -> Result<Response<User>, Status> {
        let caller = caller(&request)?;
        validate(request.get_ref())?;
        let user = self.create(request.into_inner(), &caller);
        println!("server: {caller} created {} ({})", user.id, user.name);
        Ok(Response::new(user))
    }

    async fn list_users(
        &self,
        request: Request<ListUsersRequest>,
    ) -> Result<Response<ListUsersResponse>, Status> {
        let ListUsersRequest {
            page_size,
            page_token,
        } = request.into_inner();
        let page_size = match usize::try_from(page_size) {
            Ok(0) => DEFAULT_PAGE,
            Ok(size) => size.min(MAX_PAGE),
            Err(_) => MAX_PAGE,
        };
        // The token is the position of the page's first user.
        let start = if page_token.is_empty() {
            0
        } else {
            page_token
                .parse::<usize>()
                .map_err(|_| Status::invalid_argument(format!("bad page token {page_token:?}")))?
        };
        let state = self.state();
        let users: Vec<User> = state
            .users
            .iter()
            .skip(start)
            .take(page_size)
            .cloned()
            .collect();
        let end = start.saturating_add(users.len());
        let next_page_token = if end < state.users.len() {
            end.to_string()
        } else {
            String::new()
        };
        Ok(Response::new(ListUsersResponse {
            users,
            next_page_token,
        }))
    }

    type WatchUsersStream =
        stream::Map<async_channel::Receiver<UserEvent>, fn(UserEvent) -> Result<UserEvent, Status>>;

    async fn watch_users(
        &self,
        request: Request<()>,
    ) -> Result<Response<Self::WatchUsersStream>, Status> {
        let caller = caller(&request)?;
        let (sender, receiver) = async_channel::bounded(WATCH_BACKLOG);
        self.state().watchers.push(sender);
        println!("server: {caller} watches users");
        Ok(Response::new(receiver.map(Ok as fn(_) -> _)))
    }

    async fn upload_users(
        &self,
        request: Request<Streaming<CreateUserRequest>>,
    ) -> Result<Response<UploadUsersResponse>, Status> {
        let caller = caller(&request)?;
        let mut incoming = request.into_inner();
        let mut accepted = Vec::new();
        while let Some(user) = incoming.message().await? {
            validate(&user)?;
            accepted.push(user);
        }
        // All or nothing: users are created once every one of them is valid.
        let users: Vec<User> = accepted
            .into_iter()
            .map(|user| self.create(user, &caller))
            .collect();
        println!("server: {caller} uploaded {} users", users.len());
        Ok(Response::new(UploadUsersResponse { users }))
    }

    async fn export_users(
        &self,
        request: Request<()>,
    ) -> Result<Response<ExportUsersResponse>, Status> {
        println!(
            "server: ExportUsers, the caller allows {:?}",
            request.time_remaining()
        );
        let finished = async {
            self.timers.new_timer(Instant::now() + EXPORT_TIME).await;
            true
        };
        let cancelled = async {
            request.cancelled().await;
            false
        };
        if !future::or(finished, cancelled).await {
            println!("server: ExportUsers cancelled (the deadline passed); work abandoned");
            return Err(Status::cancelled("abandoned"));
        }
        let mut csv = String::from("id,name,email,created_by\n");
        for user in &self.state().users {
            csv.push_str(&format!(
                "{},{},{},{}\n",
                user.id, user.name, user.email, user.created_by
            ));
        }
        Ok(Response::new(ExportUsersResponse { csv: csv.into() }))
    }
}

// ---------------------------------------------------------------- client

/// The client interceptor: adds `authorization: Bearer <token>` to every call.
#[derive(Clone, Debug)]
pub struct BearerToken(pub String);

impl Interceptor for BearerToken {
    async fn intercept(&self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let value = format!("Bearer {}", self.0);
        request
            .metadata_mut()
            .insert("authorization", &value)
            .map_err(|e| Status::internal(format!("cannot set authorization: {e}")))?;
        Ok(request)
    }
}

/// The client's walk through the service; every answer is checked.
pub async fn run_client(channel: Channel) -> Result<(), DemoError> {
    // No token, then a wrong one: rejected by the server's interceptor.
    let anonymous = UsersClient::new(Client::new(channel.clone()));
    let status = expect_code(
        anonymous.get_user(GetUserRequest { id: "u1".into() }).await,
        Code::UNAUTHENTICATED,
    )?;
    println!("client: GetUser without a token -> {status}");
    let intruder = UsersClient::new(
        Client::new(channel.clone()).with_interceptor(BearerToken("guess".into())),
    );
    let status = expect_code(
        intruder.create_user(new_user("Mallory")).await,
        Code::UNAUTHENTICATED,
    )?;
    println!("client: CreateUser with a wrong token -> {status}");

    let client =
        UsersClient::new(Client::new(channel).with_interceptor(BearerToken("s3cr3t-ada".into())));

    // Server streaming: watch before creating, to see the events. The call
    // returns before the server answers; its headers say the server has
    // taken the watch (the handler registers it before answering).
    let mut events = client.watch_users(()).await?.into_inner();
    events.headers().await?;

    // Unary: create three users, then an invalid one.
    let mut created = Vec::new();
    for name in ["Grace", "Linus", "Barbara"] {
        let user = client.create_user(new_user(name)).await?.into_inner();
        let at = user.created_at.map(|t| t.to_string()).unwrap_or_default();
        println!(
            "client: CreateUser {name} -> {} at {at} by {}",
            user.id, user.created_by
        );
        check(
            user.created_by == "ada",
            "the server knows who created the user",
        )?;
        created.push(user.id);
    }
    let invalid = CreateUserRequest {
        name: "Nobody".into(),
        email: "nowhere".into(),
    };
    let status = expect_code(client.create_user(invalid).await, Code::INVALID_ARGUMENT)?;
    println!("client: CreateUser with a bad email -> {status}");

    for expected in ["Grace", "Linus", "Barbara"] {
        let event = events
            .message()
            .await?
            .ok_or_else(|| DemoError("the watch ended early".into()))?;
        let kind = event.kind();
        let name = event.user.map(|u| u.name).unwrap_or_default();
        println!("client: WatchUsers -> {kind:?} {name}");
        check(
            name == expected && kind == user_event::Kind::Created,
            "one event per user, in order",
        )?;
    }
    // Dropping the stream cancels the watch on the server.
    drop(events);

    // Client streaming: twelve users in one call.
    let batch: Vec<CreateUserRequest> = (1..=12).map(|i| new_user(&format!("Batch {i}"))).collect();
    let uploaded = client.upload_users(stream::iter(batch)).await?.into_inner();
    println!(
        "client: UploadUsers (12) -> {} users created",
        uploaded.users.len()
    );
    check(uploaded.users.len() == 12, "every uploaded user is created")?;

    // Pagination: every user (fifteen, or more if other clients added some),
    // in pages of five.
    let mut page_token = String::new();
    let mut pages = Vec::new();
    loop {
        let page = client
            .list_users(ListUsersRequest {
                page_size: 5,
                page_token: page_token.clone(),
            })
            .await?
            .into_inner();
        let ids: Vec<String> = page.users.into_iter().map(|u| u.id).collect();
        println!("client: ListUsers page {} -> {ids:?}", pages.len() + 1);
        pages.push(ids);
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    let total: usize = pages.iter().map(Vec::len).sum();
    let full_pages = pages.iter().rev().skip(1).all(|page| page.len() == 5);
    let last_page = pages.last().map_or(0, Vec::len);
    let mut ids: Vec<&String> = pages.iter().flatten().collect();
    ids.sort();
    ids.dedup();
    check(
        total >= 15 && full_pages && (1..=5).contains(&last_page) && ids.len() == total,
        "every user once, in pages of five",
    )?;
    let status = expect_code(
        client
            .list_users(ListUsersRequest {
                page_size: 5,
                page_token: "not-a-token".into(),
            })
            .await,
        Code::INVALID_ARGUMENT,
    )?;
    println!("client: ListUsers with a bad token -> {status}");

    // Unary: found and not found.
    let linus = client
        .get_user(GetUserRequest {
            id: created[1].clone(),
        })
        .await?
        .into_inner();
    println!(
        "client: GetUser {} -> {} <{}>",
        linus.id, linus.name, linus.email
    );
    check(linus.name == "Linus", "GetUser finds a created user by id")?;
    let status = expect_code(
        client.get_user(GetUserRequest { id: "u0".into() }).await,
        Code::NOT_FOUND,
    )?;
    println!("client: GetUser u0 -> {status}");

    // Deadlines: too short for the slow method, then long enough.
    let mut hurried = Request::new(());
    hurried.set_timeout(Duration::from_millis(100));
    let started = Instant::now();
    let status = expect_code(client.export_users(hurried).await, Code::DEADLINE_EXCEEDED)?;
    println!(
        "client: ExportUsers with a 100 ms timeout -> {status} after {:?}",
        started.elapsed()
    );
    check(
        started.elapsed() < EXPORT_TIME,
        "the deadline ends the call before the work would",
    )?;
    let mut patient = Request::new(());
    patient.set_timeout(EXPORT_TIME * 5);
    let export = client.export_users(patient).await?.into_inner();
    let lines = export
        .csv
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .count();
    println!(
        "client: ExportUsers with a 5 s timeout -> {} bytes of CSV, {lines} lines",
        export.csv.len()
    );
    check(lines == total + 1, "a header line and a line per user")?;

    println!("client: authentication, pagination, streams and deadlines behaved as expected");
    Ok(())
}

fn new_user(name: &str) -> CreateUserRequest {
    CreateUserRequest {
        name: name.to_owned(),
        email: format!("{}@example.com", name.to_lowercase().replace(' ', ".")),
    }
}

// ---------------------------------------------------------------- helpers
