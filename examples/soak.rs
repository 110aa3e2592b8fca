//! The soak run (issue 12, "Reliability"): a million calls through one
//! process, its memory sampled every second, and a verdict on whether the
//! memory stayed flat once warmed up.
//!
//! ```text
//! cargo run --release --example soak                                              # smol, full size
//! cargo run --release --example soak --no-default-features --features tokio       # tokio, full size
//! cargo run --release --example soak -- --calls 200000 --streams 2000             # a quick run (seconds)
//! .ci/soak                                                                        # full size on both runtimes
//! ```
//!
//! Flags: `--calls N` (unary calls, default 1,000,000), `--streams N`
//! (server-streaming calls, default 10,000), `--connections N` (default 100),
//! `--in-flight N` (calls in flight per connection, default 8). The full run
//! takes under a minute on two cores; it is not part of `cargo test`, which
//! runs a small one instead (`examples/tests/soak_quick.rs`). A run shorter
//! than a couple of seconds (`--calls 20000`) checks every answer but has no
//! sample after warm-up, so its memory is reported as not judged.
//!
//! # What runs
//! One process serves the bookstore service (`examples/proto/bookstore.proto`,
//! reused so the soak needs no proto of its own) with a soak implementation on
//! `127.0.0.1:0`, and calls it over `--connections` channels (one HTTP/2
//! connection each), `--in-flight` workers per channel. The workers take the
//! calls from one shared plan, so unary calls and streams interleave on every
//! connection:
//!
//! - unary `GetBook`: 98% answered (a small book, compared field by field),
//!   1% failing with `NOT_FOUND`, 1% cancelled by the client (the future
//!   dropped) once the server's handler is running;
//! - server-streaming `ListBooks` (how it ends travels in the request
//!   metadata): 90% stream 20 books and end OK, 5% fail with `ABORTED`
//!   after 10 books, 5% are dropped by the client after 10 books while the
//!   server's stream is still open.
//!
//! Every call carries its own id in the metadata (`soak-call`, as real
//! clients send a request id) and the server echoes it in its response
//! headers. Besides checking that answers do not cross between calls, this
//! fills each connection's four HPACK tables within its first calls: they
//! are bounded (4 KiB of header data each, some 16 KiB of memory) but fill
//! only as new header values arrive. Without an id per call, the only new
//! values were the failures' messages and the streams' metadata, one per
//! ~50 calls, and RSS climbed 6.5 MiB over the first 800,000 calls (100
//! connections) before it levelled off: a warm-up slower than the warm-up
//! figure assumes, not a leak (it levelled off for good, checked to 3M).
//!
//! Every answer is checked; the first wrong one ends the run with an error.
//! At the end the outcome counts must match the plan, every server handler
//! must have been dropped (a cancelled call whose handler lives on is a
//! leak), and every channel must still be on its first connection.
//!
//! # The memory verdict
//! A thread reads `VmRSS` from `/proc/self/status` every second and prints
//! `elapsed, calls done, RSS`. The *warm-up* figure is the first sample once
//! 10% of the calls (unary and streams) are done: by then every connection,
//! buffer and allocator arena has reached its working size. Memory is *flat*
//! when both the largest sample after warm-up and the sample at the end are
//! within the tolerance of the warm-up figure: +10% or +2 MiB, whichever is
//! larger. Allocators keep freed pages and thread caches in chunks of a few
//! hundred KiB to a MiB, so smaller swings are noise; a leak is not: 16
//! bytes kept per call come to 14 MiB over the 900,000 calls after warm-up,
//! beyond the tolerance unless the warm-up RSS is over 140 MiB (the verdict
//! prints the smallest leak per call the run would have caught). A run too
//! short to take a sample after warm-up is reported as such, not as flat.
//!
//! Exit status: 0 when every answer was right and memory was flat (or the
//! run was too short to judge), 1 otherwise, 2 for a bad command line.

#[cfg(not(any(feature = "smol", feature = "tokio")))]
compile_error!("the examples need a runtime: the default `smol` feature, or `tokio`");

use std::collections::HashMap;
use std::fmt;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ferrule::core::api::Runtime;
use ferrule::{Channel, Code, MetadataMap, Request, Response, Router, Status, Streaming, rt};
use ferrule_examples::{DemoError, check, expect_code};
use futures_lite::{StreamExt as _, future, stream};

use proto::bookstore_client::BookstoreClient;
use proto::bookstore_server::{Bookstore, BookstoreServer};
use proto::{Book, BookList, ChatMessage, GetBookRequest};

/// The code generated from `bookstore.proto`.
// prost leaves fields without a proto comment undocumented.
#[allow(missing_docs)]
pub mod proto {
    include!(concat!(env!("OUT_DIR"), "/bookstore.rs"));
}

/// Books in a stream that ends OK.
const STREAM_LEN: u64 = 20;
/// Books sent before a stream fails or is dropped by the client.
const STREAM_CUT: u64 = 10;
/// The metadata key of a call's id, echoed in the response headers.
const CALL_KEY: &str = "soak-call";
/// The metadata key that says how a stream ends.
const END_KEY: &str = "soak-end";
/// The share of the calls (in percent) done before the warm-up sample.
const WARM_UP_PERCENT: u64 = 10;
/// How far memory may rise over the warm-up figure: this share (percent)...
const TOLERANCE_PERCENT: u64 = 10;
/// ...or this many KiB, whichever is larger.
const TOLERANCE_FLOOR_KIB: u64 = 2 * 1024;
/// How often RSS is sampled.
const SAMPLE_EVERY: Duration = Duration::from_secs(1);
/// A run where no call finishes for this long has hung: it fails.
const STALL_LIMIT: Duration = Duration::from_secs(30);
/// How long the server's handlers get to go away after the last call.
const DRAIN_LIMIT: Duration = Duration::from_secs(5);

fn main() -> ExitCode {
    let settings = match Settings::parse(std::env::args().skip(1)) {
        Ok(settings) => settings,
        Err(message) => {
            eprintln!("{message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&settings) {
        Ok(report) => {
            print!("{report}");
            if report.memory.judgement() == Judgement::Grew {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(error) => {
            eprintln!("soak failed: {error}");
            ExitCode::FAILURE
        }
    }
}

const USAGE: &str = "usage: soak [--calls N] [--streams N] [--connections N] [--in-flight N]\n\
     defaults: 1000000 unary calls, 10000 streams, 100 connections, 8 calls in flight per connection";

// ---------------------------------------------------------------- settings

/// How big a soak run is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Unary calls in total.
    pub calls: u64,
    /// Server-streaming calls in total.
    pub streams: u64,
    /// Client connections (channels) to the server.
    pub connections: usize,
    /// Calls in flight per connection.
    pub in_flight: usize,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            calls: 1_000_000,
            streams: 10_000,
            connections: 100,
            in_flight: 8,
        }
    }
}

impl Settings {
    /// Parses the arguments after the program name; the error says which
    /// argument is wrong.
    pub fn parse(mut args: impl Iterator<Item = String>) -> Result<Settings, String> {
        let mut settings = Settings::default();
        while let Some(arg) = args.next() {
            let mut number = || -> Result<u64, String> {
                let value = args.next().ok_or(format!("{arg} needs a number"))?;
                value
                    .replace('_', "")
                    .parse()
                    .map_err(|_| format!("{arg} needs a number, not {value:?}"))
            };
            match arg.as_str() {
                "--calls" => settings.calls = number()?,
                "--streams" => settings.streams = number()?,
                "--connections" => settings.connections = count(number()?, &arg)?,
                "--in-flight" => settings.in_flight = count(number()?, &arg)?,
                other => return Err(format!("unknown argument {other:?}")),
            }
        }
        Ok(settings)
    }

    /// Unary calls and streams together.
    fn total(&self) -> u64 {
        self.calls + self.streams
    }
}

/// `value` as a count of at least one.
fn count(value: u64, flag: &str) -> Result<usize, String> {
    match usize::try_from(value) {
        Ok(count) if count > 0 => Ok(count),
        _ => Err(format!("{flag} needs a number from 1 up, not {value}")),
    }
}

// ---------------------------------------------------------------- the plan

/// What kind of call an item of the plan is, and how it ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Item {
    /// A unary call.
    Unary(UnaryEnd),
    /// A server-streaming call.
    Stream(StreamEnd),
}

/// How a unary call ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum UnaryEnd {
    /// With its book.
    Answered,
    /// With `NOT_FOUND`.
    Fails,
    /// Dropped by the client while the server's handler runs.
    Cancelled,
}

/// How a stream ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StreamEnd {
    /// After [`STREAM_LEN`] books, with OK.
    Complete,
    /// After [`STREAM_CUT`] books, with `ABORTED`.
    Fails,
    /// Dropped by the client after [`STREAM_CUT`] books, the server's
    /// stream still open.
    Cancelled,
}

impl StreamEnd {
    fn name(self) -> &'static str {
        match self {
            StreamEnd::Complete => "complete",
            StreamEnd::Fails => "fail",
            StreamEnd::Cancelled => "cancel",
        }
    }

    fn from_name(name: &str) -> Option<StreamEnd> {
        [StreamEnd::Complete, StreamEnd::Fails, StreamEnd::Cancelled]
            .into_iter()
            .find(|end| end.name() == name)
    }
}

/// Call `i` of a run of `settings` (its id, `0..total`): streams spread
/// evenly among the unary calls (item `i` is a stream when the count of
/// streams due by `i` goes up), so every stretch of the run mixes both
/// kinds; the endings go by each kind's own count.
fn plan(settings: &Settings, i: u64) -> Item {
    let total = u128::from(settings.total());
    // Streams due before item `i`, rounded down; at most one more per item
    // since there are no more streams than items.
    let due =
        |i: u64| u64::try_from(u128::from(i) * u128::from(settings.streams) / total).unwrap_or(0);
    let (before, after) = (due(i), due(i + 1));
    if after > before {
        Item::Stream(match before % 20 {
            7 => StreamEnd::Fails,
            13 => StreamEnd::Cancelled,
            _ => StreamEnd::Complete,
        })
    } else {
        Item::Unary(match (i - before) % 100 {
            37 => UnaryEnd::Fails,
            71 => UnaryEnd::Cancelled,
            _ => UnaryEnd::Answered,
        })
    }
}

/// The book unary call `n` answers with: small, and different per call.
fn unary_book(n: u64) -> Book {
    Book {
        id: n.to_string(),
        title: format!("Soak, volume {n}"),
        author: "ferrule soak".into(),
        published: None,
    }
}

/// Book `k` of the stream of call `n`.
fn stream_book(n: u64, k: u64) -> Book {
    Book {
        id: format!("{n}.{k}"),
        title: format!("Soak stream {n}, part {k}"),
        author: "ferrule soak".into(),
        published: None,
    }
}

/// The id a unary call asks for: the handler reads how to end from it.
fn unary_id(n: u64, end: UnaryEnd) -> String {
    match end {
        UnaryEnd::Answered => n.to_string(),
        UnaryEnd::Fails => format!("missing-{n}"),
        UnaryEnd::Cancelled => format!("hang-{n}"),
    }
}

/// The inverse of [`unary_id`].
fn parse_unary_id(id: &str) -> Option<(u64, UnaryEnd)> {
    let (end, n) = match id.split_once('-') {
        None => (UnaryEnd::Answered, id),
        Some(("missing", n)) => (UnaryEnd::Fails, n),
        Some(("hang", n)) => (UnaryEnd::Cancelled, n),
        Some(_) => return None,
    };
    Some((n.parse().ok()?, end))
}

// ---------------------------------------------------------------- shared state

/// What the server, the clients and the sampler share (all in one process).
#[derive(Debug, Default)]
struct Shared {
    /// The next item of the plan a worker takes.
    next_item: AtomicU64,
    /// Items finished, whatever their outcome.
    done: AtomicU64,
    /// Set when a worker found a wrong answer: the others stop.
    stop: AtomicBool,
    /// How the calls ended, counted by the clients.
    tally: Tally,
    /// Server handlers started and dropped.
    handlers_started: AtomicU64,
    handlers_dropped: AtomicU64,
    /// Unary calls the client will cancel, by call id, waiting for their
    /// handler to start: the handler signals, then the client drops the call.
    hanging: Mutex<HashMap<u64, async_channel::Sender<()>>>,
}

impl Shared {
    fn hanging(&self) -> MutexGuard<'_, HashMap<u64, async_channel::Sender<()>>> {
        // Every update is one insert or remove: a panic cannot leave the
        // map half written.
        self.hanging.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn live_handlers(&self) -> u64 {
        let dropped = self.handlers_dropped.load(Ordering::SeqCst);
        self.handlers_started
            .load(Ordering::SeqCst)
            .saturating_sub(dropped)
    }
}

/// How the calls ended, one counter per outcome.
#[derive(Debug, Default)]
struct Tally {
    answered: AtomicU64,
    failed: AtomicU64,
    cancelled: AtomicU64,
    streams_complete: AtomicU64,
    streams_failed: AtomicU64,
    streams_cancelled: AtomicU64,
    stream_books: AtomicU64,
}

/// [`Tally`] read at one moment (or counted from the plan).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Unary calls answered with their book.
    pub answered: u64,
    /// Unary calls that failed with `NOT_FOUND`, as planned.
    pub failed: u64,
    /// Unary calls the client cancelled.
    pub cancelled: u64,
    /// Streams that ended OK after all their books.
    pub streams_complete: u64,
    /// Streams that failed with `ABORTED` midway, as planned.
    pub streams_failed: u64,
    /// Streams the client dropped midway.
    pub streams_cancelled: u64,
    /// Books received on streams.
    pub stream_books: u64,
}

impl Counts {
    fn of(tally: &Tally) -> Counts {
        let read = |counter: &AtomicU64| counter.load(Ordering::SeqCst);
        Counts {
            answered: read(&tally.answered),
            failed: read(&tally.failed),
            cancelled: read(&tally.cancelled),
            streams_complete: read(&tally.streams_complete),
            streams_failed: read(&tally.streams_failed),
            streams_cancelled: read(&tally.streams_cancelled),
            stream_books: read(&tally.stream_books),
        }
    }

    /// What a run of `settings` must end with.
    fn planned(settings: &Settings) -> Counts {
        let mut counts = Counts::default();
        for i in 0..settings.total() {
            match plan(settings, i) {
                Item::Unary(end) => match end {
                    UnaryEnd::Answered => counts.answered += 1,
                    UnaryEnd::Fails => counts.failed += 1,
                    UnaryEnd::Cancelled => counts.cancelled += 1,
                },
                Item::Stream(end) => match end {
                    StreamEnd::Complete => {
                        counts.streams_complete += 1;
                        counts.stream_books += STREAM_LEN;
                    }
                    StreamEnd::Fails => {
                        counts.streams_failed += 1;
                        counts.stream_books += STREAM_CUT;
                    }
                    StreamEnd::Cancelled => {
                        counts.streams_cancelled += 1;
                        counts.stream_books += STREAM_CUT;
                    }
                },
            }
        }
        counts
    }

    /// Unary calls, however they ended.
    pub fn unary(&self) -> u64 {
        self.answered + self.failed + self.cancelled
    }

    /// Streams, however they ended.
    pub fn streams(&self) -> u64 {
        self.streams_complete + self.streams_failed + self.streams_cancelled
    }
}

// ---------------------------------------------------------------- server

/// The soak's bookstore: books made up from the request, endings chosen by
/// the client, every handler counted in and out.
#[derive(Debug)]
struct SoakStore {
    shared: Arc<Shared>,
}

/// The id of the call `metadata` is from.
fn call_id(metadata: &MetadataMap) -> Result<u64, Status> {
    metadata
        .get(CALL_KEY)
        .and_then(|call| call.parse().ok())
        .ok_or_else(|| Status::invalid_argument(format!("no call id in {CALL_KEY}")))
}

/// Marks `metadata` (a request's or a response's) as call `call`'s.
fn tag_call(metadata: &mut MetadataMap, call: u64) -> Result<(), String> {
    metadata
        .insert(CALL_KEY, &call.to_string())
        .map_err(|e| format!("cannot set {CALL_KEY}: {e}"))
}

/// Whether `metadata` is marked as call `call`'s.
fn is_tagged(metadata: &MetadataMap, call: u64) -> bool {
    metadata.get(CALL_KEY) == Some(call.to_string().as_str())
}

/// Counts a handler as started; counts it dropped when dropped, which is
/// how a handler of a cancelled call ends.
#[derive(Debug)]
struct HandlerGuard(Arc<Shared>);

impl HandlerGuard {
    fn new(shared: &Arc<Shared>) -> HandlerGuard {
        shared.handlers_started.fetch_add(1, Ordering::SeqCst);
        HandlerGuard(Arc::clone(shared))
    }
}

impl Drop for HandlerGuard {
    fn drop(&mut self) {
        self.0.handlers_dropped.fetch_add(1, Ordering::SeqCst);
    }
}

impl Bookstore for SoakStore {
    async fn get_book(&self, request: Request<GetBookRequest>) -> Result<Response<Book>, Status> {
        let _counted = HandlerGuard::new(&self.shared);
        let call = call_id(request.metadata())?;
        let id = &request.get_ref().id;
        // The book asked for must be the call's: a request's body and
        // headers must not come from different calls.
        let Some((_, end)) = parse_unary_id(id).filter(|&(n, _)| n == call) else {
            return Err(Status::invalid_argument(format!(
                "{id:?} is not a book of call {call}"
            )));
        };
        match end {
            UnaryEnd::Answered => {
                let mut response = Response::new(unary_book(call));
                tag_call(response.metadata_mut(), call).map_err(Status::internal)?;
                Ok(response)
            }
            UnaryEnd::Fails => Err(Status::not_found(format!("no book {id:?}"))),
            UnaryEnd::Cancelled => {
                let waiting = self.shared.hanging().remove(&call);
                let waiting = waiting
                    .ok_or_else(|| Status::internal(format!("no client waits on {id:?}")))?;
                // The client drops the call once it hears from us; this
                // handler is then dropped mid-await (with `_counted`).
                let _ = waiting.try_send(());
                std::future::pending().await
            }
        }
    }

    type ListBooksStream = stream::Boxed<Result<Book, Status>>;

    async fn list_books(
        &self,
        request: Request<()>,
    ) -> Result<Response<Self::ListBooksStream>, Status> {
        let counted = HandlerGuard::new(&self.shared);
        let metadata = request.metadata();
        let call = call_id(metadata)?;
        let end = metadata
            .get(END_KEY)
            .and_then(StreamEnd::from_name)
            .ok_or_else(|| Status::invalid_argument(format!("no ending in {END_KEY}")))?;
        let sent = if end == StreamEnd::Complete {
            STREAM_LEN
        } else {
            STREAM_CUT
        };
        let books = stream::iter((0..sent).map(move |k| Ok(stream_book(call, k))));
        let rest = match end {
            StreamEnd::Complete => stream::empty().boxed(),
            StreamEnd::Fails => stream::once(Err(Status::new(
                Code::ABORTED,
                format!("stream {call} fails after {STREAM_CUT} books"),
            )))
            .boxed(),
            // Open until the client's cancel drops it.
            StreamEnd::Cancelled => stream::pending().boxed(),
        };
        // The guard lives in the stream: the handler is over when the
        // stream is dropped.
        let answers = books.chain(rest).map(move |item| {
            let _counted = &counted;
            item
        });
        let mut response = Response::new(answers.boxed());
        tag_call(response.metadata_mut(), call).map_err(Status::internal)?;
        Ok(response)
    }

    async fn add_books(
        &self,
        _request: Request<Streaming<Book>>,
    ) -> Result<Response<BookList>, Status> {
        Err(Status::unimplemented("AddBooks is not part of the soak"))
    }

    type ChatStream = stream::Boxed<Result<ChatMessage, Status>>;

    async fn chat(
        &self,
        _request: Request<Streaming<ChatMessage>>,
    ) -> Result<Response<Self::ChatStream>, Status> {
        Err(Status::unimplemented("Chat is not part of the soak"))
    }
}

// ---------------------------------------------------------------- client

/// Takes items from the plan until it is used up (or another worker found a
/// wrong answer), makes each call on `client` and checks its answer.
async fn worker(
    client: BookstoreClient,
    shared: Arc<Shared>,
    settings: Settings,
) -> Result<(), DemoError> {
    while !shared.stop.load(Ordering::Relaxed) {
        let i = shared.next_item.fetch_add(1, Ordering::Relaxed);
        if i >= settings.total() {
            break;
        }
        let checked = match plan(&settings, i) {
            Item::Unary(end) => unary_call(&client, &shared, i, end).await,
            Item::Stream(end) => stream_call(&client, &shared, i, end).await,
        };
        if let Err(error) = checked {
            shared.stop.store(true, Ordering::Relaxed);
            return Err(DemoError(format!("call {i} of the plan: {}", error.0)));
        }
        shared.done.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

async fn unary_call(
    client: &BookstoreClient,
    shared: &Shared,
    call: u64,
    end: UnaryEnd,
) -> Result<(), DemoError> {
    let mut request = Request::new(GetBookRequest {
        id: unary_id(call, end),
    });
    tag_call(request.metadata_mut(), call).map_err(DemoError)?;
    let tally = &shared.tally;
    match end {
        UnaryEnd::Answered => {
            let answer = client.get_book(request).await?;
            check(
                is_tagged(answer.metadata(), call),
                &format!("the answer to call {call} has its id in its headers"),
            )?;
            check(
                *answer.get_ref() == unary_book(call),
                &format!("call {call} gets its book"),
            )?;
            tally.answered.fetch_add(1, Ordering::Relaxed);
        }
        UnaryEnd::Fails => {
            let status = expect_code(client.get_book(request).await, Code::NOT_FOUND)?;
            check(
                status.message() == format!("no book \"missing-{call}\""),
                &format!("GetBook missing-{call} says which book is missing"),
            )?;
            tally.failed.fetch_add(1, Ordering::Relaxed);
        }
        UnaryEnd::Cancelled => {
            let (started, handler_running) = async_channel::bounded(1);
            shared.hanging().insert(call, started);
            let answered = async { Some(client.get_book(request).await) };
            let running = async {
                let _ = handler_running.recv().await;
                None
            };
            // Dropping the call's future is the client's cancel.
            if let Some(answer) = future::or(answered, running).await {
                shared.hanging().remove(&call);
                return Err(DemoError(format!(
                    "GetBook hang-{call} should hang until cancelled, got {answer:?}"
                )));
            }
            tally.cancelled.fetch_add(1, Ordering::Relaxed);
        }
    }
    Ok(())
}

async fn stream_call(
    client: &BookstoreClient,
    shared: &Shared,
    call: u64,
    end: StreamEnd,
) -> Result<(), DemoError> {
    let mut request = Request::new(());
    let metadata = request.metadata_mut();
    tag_call(metadata, call).map_err(DemoError)?;
    metadata
        .insert(END_KEY, end.name())
        .map_err(|e| DemoError(format!("cannot set {END_KEY}: {e}")))?;
    let mut books = client.list_books(request).await?.into_inner();
    check(
        is_tagged(books.headers().await?, call),
        &format!("stream {call}'s headers have its id"),
    )?;
    let expected = if end == StreamEnd::Complete {
        STREAM_LEN
    } else {
        STREAM_CUT
    };
    for k in 0..expected {
        let book = books.message().await?;
        check(
            book == Some(stream_book(call, k)),
            &format!("stream {call} sends book {k} in order"),
        )?;
    }
    let tally = &shared.tally;
    tally.stream_books.fetch_add(expected, Ordering::Relaxed);
    match end {
        StreamEnd::Complete => {
            check(
                books.message().await?.is_none(),
                &format!("stream {call} ends OK after {STREAM_LEN} books"),
            )?;
            tally.streams_complete.fetch_add(1, Ordering::Relaxed);
        }
        StreamEnd::Fails => {
            let status = expect_code(books.message().await, Code::ABORTED)?;
            check(
                status.message() == format!("stream {call} fails after {STREAM_CUT} books"),
                &format!("stream {call} says why it failed"),
            )?;
            tally.streams_failed.fetch_add(1, Ordering::Relaxed);
        }
        StreamEnd::Cancelled => {
            // The server's stream is still open: dropping ours cancels it.
            drop(books);
            tally.streams_cancelled.fetch_add(1, Ordering::Relaxed);
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- memory

/// One reading of the process's memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    /// Since the run started.
    pub elapsed: Duration,
    /// Calls (unary and streams) finished by then.
    pub done: u64,
    /// Resident set size, KiB.
    pub rss_kib: u64,
}

impl fmt::Display for Sample {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:>7.1} s {:>9} calls {:>8} KiB",
            self.elapsed.as_secs_f64(),
            self.done,
            self.rss_kib
        )
    }
}

/// The process's resident set size in KiB (`VmRSS`, Linux only).
fn rss_kib() -> Result<u64, String> {
    let status = std::fs::read_to_string("/proc/self/status")
        .map_err(|e| format!("the soak reads VmRSS from /proc/self/status (Linux): {e}"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().strip_suffix("kB"))
        .and_then(|kib| kib.trim().parse().ok())
        .ok_or_else(|| "no VmRSS line in /proc/self/status".to_owned())
}

/// A thread that samples RSS every [`SAMPLE_EVERY`] and prints each sample.
struct Sampler {
    stop: mpsc::Sender<()>,
    thread: JoinHandle<Result<Vec<Sample>, String>>,
}

impl Sampler {
    fn start(shared: Arc<Shared>, start: Instant) -> Sampler {
        let (stop, stopped) = mpsc::channel();
        let thread = std::thread::spawn(move || {
            let mut samples = Vec::new();
            let mut next = start + SAMPLE_EVERY;
            loop {
                // Ticks at whole seconds from the start, however long a
                // reading took.
                match stopped.recv_timeout(next.saturating_duration_since(Instant::now())) {
                    Err(RecvTimeoutError::Timeout) => {}
                    Ok(()) | Err(RecvTimeoutError::Disconnected) => return Ok(samples),
                }
                let sample = Sample {
                    elapsed: start.elapsed(),
                    done: shared.done.load(Ordering::Relaxed),
                    rss_kib: rss_kib()?,
                };
                println!("{sample}");
                samples.push(sample);
                next += SAMPLE_EVERY;
            }
        });
        Sampler { stop, thread }
    }

    /// Stops the thread and returns its samples.
    fn finish(self) -> Result<Vec<Sample>, String> {
        let _ = self.stop.send(());
        self.thread
            .join()
            .map_err(|_| "the sampler thread panicked".to_owned())?
    }
}

/// What the samples say about memory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Memory {
    /// The first sample once [`WARM_UP_PERCENT`] of the calls were done
    /// (the end sample if no periodic sample came that late).
    pub warm_up: Sample,
    /// Periodic samples taken after the warm-up sample.
    pub samples_after_warm_up: usize,
    /// The largest RSS after warm-up, the end sample included.
    pub max_after_warm_up_kib: u64,
    /// Taken once every call ended and every handler was dropped, before
    /// the connections close.
    pub end: Sample,
    /// How far above the warm-up figure memory may go and still be flat.
    pub tolerance_kib: u64,
    /// Calls finished after the warm-up sample.
    pub calls_after_warm_up: u64,
}

/// Whether memory stayed flat.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Judgement {
    /// The maximum after warm-up and the end within the tolerance.
    Flat,
    /// One of them above it.
    Grew,
    /// No sample after warm-up: nothing to judge.
    TooShort,
}

impl Memory {
    fn of(samples: &[Sample], end: Sample, warm_up_calls: u64) -> Memory {
        let warm_at = samples.iter().position(|s| s.done >= warm_up_calls);
        let warm_up = warm_at.map_or(end, |at| samples[at]);
        let after = warm_at.map_or(&[][..], |at| &samples[at + 1..]);
        let max_after_warm_up_kib = after
            .iter()
            .map(|s| s.rss_kib)
            .chain([end.rss_kib])
            .max()
            .unwrap_or(end.rss_kib);
        Memory {
            warm_up,
            samples_after_warm_up: after.len(),
            max_after_warm_up_kib,
            end,
            tolerance_kib: (warm_up.rss_kib * TOLERANCE_PERCENT / 100).max(TOLERANCE_FLOOR_KIB),
            calls_after_warm_up: end.done.saturating_sub(warm_up.done),
        }
    }

    /// The verdict.
    pub fn judgement(&self) -> Judgement {
        let limit = self.warm_up.rss_kib + self.tolerance_kib;
        if self.samples_after_warm_up == 0 {
            Judgement::TooShort
        } else if self.max_after_warm_up_kib <= limit && self.end.rss_kib <= limit {
            Judgement::Flat
        } else {
            Judgement::Grew
        }
    }
}

// ---------------------------------------------------------------- the run

/// What a finished run found.
#[derive(Clone, Debug)]
pub struct Report {
    /// The run's size.
    pub settings: Settings,
    /// From the first call to the last answer.
    pub duration: Duration,
    /// How the calls ended (as planned, or the run would have failed).
    pub counts: Counts,
    /// The memory verdict.
    pub memory: Memory,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (s, c, m) = (&self.settings, &self.counts, &self.memory);
        let seconds = self.duration.as_secs_f64();
        writeln!(
            f,
            "soak on {RUNTIME}: {} unary calls ({} answered, {} NOT_FOUND, {} cancelled) and \
             {} streams ({} complete, {} ABORTED midway, {} cancelled midway; {} books) \
             over {} connections, {} in flight each, in {seconds:.1} s",
            c.unary(),
            c.answered,
            c.failed,
            c.cancelled,
            c.streams(),
            c.streams_complete,
            c.streams_failed,
            c.streams_cancelled,
            c.stream_books,
            s.connections,
            s.in_flight,
        )?;
        writeln!(
            f,
            "rate: {:.0} calls/s (unary and streams), {:.0} unary calls/s",
            (c.unary() + c.streams()) as f64 / seconds,
            c.unary() as f64 / seconds,
        )?;
        let percent = |kib: u64| (kib as f64 / m.warm_up.rss_kib as f64 - 1.0) * 100.0;
        writeln!(
            f,
            "rss: warm-up {} KiB (at {:.1} s, {} calls done), max after warm-up {} KiB ({:+.1}%), \
             end {} KiB ({:+.1}%); tolerance +{} KiB (10% or 2 MiB, the larger)",
            m.warm_up.rss_kib,
            m.warm_up.elapsed.as_secs_f64(),
            m.warm_up.done,
            m.max_after_warm_up_kib,
            percent(m.max_after_warm_up_kib),
            m.end.rss_kib,
            percent(m.end.rss_kib),
            m.tolerance_kib,
        )?;
        if let Some(per_call) = (m.tolerance_kib * 1024).checked_div(m.calls_after_warm_up) {
            writeln!(
                f,
                "a leak of {} bytes per call or more would have shown ({} calls after warm-up)",
                per_call + 1,
                m.calls_after_warm_up,
            )?;
        }
        let verdict = match m.judgement() {
            Judgement::Flat => "flat".to_owned(),
            Judgement::Grew => "GREW beyond the tolerance".to_owned(),
            Judgement::TooShort => format!(
                "not judged: no sample after warm-up (the run is too short; \
                 samples come every {SAMPLE_EVERY:?})"
            ),
        };
        writeln!(f, "memory: {verdict}")
    }
}

/// The runtime `ferrule::rt` stands for.
const RUNTIME: &str = if cfg!(feature = "tokio") {
    "tokio"
} else {
    "smol"
};

async fn sleep(runtime: &dyn Runtime, duration: Duration) {
    runtime.new_timer(Instant::now() + duration).await;
}

/// Runs a soak of `settings` on `ferrule::rt`, printing a sample every
/// second. `Err` on the first wrong answer, a hang, a handler left behind or
/// a connection lost; the memory verdict is in the report.
pub fn run(settings: &Settings) -> Result<Report, DemoError> {
    let start = Instant::now();
    rss_kib().map_err(DemoError)?;
    let shared = Arc::new(Shared::default());
    let sampler = Sampler::start(Arc::clone(&shared), start);
    let settings = *settings;
    let outcome = rt::block_on(soak(settings, Arc::clone(&shared)));
    let end = Sample {
        elapsed: start.elapsed(),
        done: shared.done.load(Ordering::SeqCst),
        rss_kib: rss_kib().map_err(DemoError)?,
    };
    let samples = sampler.finish().map_err(DemoError)?;
    let duration = outcome?;
    println!("{end} (end)");
    let warm_up_calls = settings.total() * WARM_UP_PERCENT / 100;
    Ok(Report {
        settings,
        duration,
        counts: Counts::of(&shared.tally),
        memory: Memory::of(&samples, end, warm_up_calls),
    })
}

/// The server, the clients and the checks at the end; returns how long the
/// calls took.
async fn soak(settings: Settings, shared: Arc<Shared>) -> Result<Duration, DemoError> {
    let runtime = rt::runtime();
    let router = Router::new().add_service(BookstoreServer::new(SoakStore {
        shared: Arc::clone(&shared),
    }));
    let server = rt::serve("127.0.0.1:0", router)
        .await
        .map_err(|e| DemoError(format!("cannot listen on 127.0.0.1:0: {e}")))?;
    let addr = server
        .local_addr()
        .ok_or_else(|| DemoError("the server has no local address".into()))?
        .to_string();
    println!(
        "soak on {RUNTIME}: {} unary calls and {} streams over {} connections to {addr}, \
         {} in flight each; RSS every {SAMPLE_EVERY:?}:",
        settings.calls, settings.streams, settings.connections, settings.in_flight
    );
    let channels: Vec<Channel> = (0..settings.connections)
        .map(|_| rt::channel(&addr))
        .collect();
    for channel in &channels {
        channel.ready().await?;
    }

    let started = Instant::now();
    let (results, finished) = async_channel::unbounded();
    for channel in &channels {
        for _ in 0..settings.in_flight {
            let work = worker(
                BookstoreClient::new(channel.clone()),
                Arc::clone(&shared),
                settings,
            );
            let results = results.clone();
            runtime.spawn(Box::pin(async move {
                let _ = results.send(work.await).await;
            }));
        }
    }
    drop(results);
    let workers = settings.connections * settings.in_flight;
    let all_done = async {
        let mut first_error = None;
        let mut reported = 0;
        // Ends early only if every worker is gone, some without a word
        // (a panic).
        while let Ok(result) = finished.recv().await {
            reported += 1;
            if let Err(error) = result {
                first_error.get_or_insert(error);
            }
        }
        match first_error {
            Some(error) => Err(error),
            None if reported < workers => Err(DemoError(format!(
                "{} of {workers} workers ended without a result (panicked)",
                workers - reported
            ))),
            None => Ok(()),
        }
    };
    future::or(all_done, watch_for_stall(&*runtime, &shared)).await?;
    let duration = started.elapsed();

    let counts = Counts::of(&shared.tally);
    let planned = Counts::planned(&settings);
    check(
        counts == planned,
        &format!("the calls end as planned: {planned:?}, not {counts:?}"),
    )?;
    drain_handlers(&*runtime, &shared).await?;
    for (i, channel) in channels.iter().enumerate() {
        check(
            channel.connection_attempts() == 1,
            &format!(
                "connection {i} is still its first (made {} attempts)",
                channel.connection_attempts()
            ),
        )?;
    }
    check(
        server.connections() == settings.connections,
        &format!(
            "the server holds {} connections, not {}",
            settings.connections,
            server.connections()
        ),
    )?;

    drop(channels);
    server.shutdown(Duration::from_secs(1)).await;
    Ok(duration)
}

/// Fails once no call finished for [`STALL_LIMIT`]: a hang fails the run
/// instead of stalling it.
async fn watch_for_stall(runtime: &dyn Runtime, shared: &Shared) -> Result<(), DemoError> {
    let mut last = (shared.done.load(Ordering::Relaxed), Instant::now());
    loop {
        sleep(runtime, SAMPLE_EVERY).await;
        let done = shared.done.load(Ordering::Relaxed);
        if done != last.0 {
            last = (done, Instant::now());
        } else if last.1.elapsed() >= STALL_LIMIT {
            return Err(DemoError(format!(
                "no call finished for {STALL_LIMIT:?}: stuck at {done} calls done, \
                 {} server handlers alive",
                shared.live_handlers()
            )));
        }
    }
}

/// Waits until every server handler was dropped: each call is over on the
/// client, so one still alive after [`DRAIN_LIMIT`] is a leak.
async fn drain_handlers(runtime: &dyn Runtime, shared: &Shared) -> Result<(), DemoError> {
    let deadline = Instant::now() + DRAIN_LIMIT;
    while shared.live_handlers() > 0 && Instant::now() < deadline {
        sleep(runtime, Duration::from_millis(20)).await;
    }
    check(
        shared.live_handlers() == 0,
        &format!(
            "every server handler dropped within {DRAIN_LIMIT:?} of the last call \
             ({} started, {} still alive)",
            shared.handlers_started.load(Ordering::SeqCst),
            shared.live_handlers()
        ),
    )?;
    let waiting = shared.hanging().len();
    check(
        waiting == 0,
        &format!("every cancelled call reached its handler ({waiting} did not)"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_spreads_streams_and_endings() {
        let settings = Settings {
            calls: 1_000,
            streams: 100,
            ..Settings::default()
        };
        let counts = Counts::planned(&settings);
        assert_eq!((counts.unary(), counts.streams()), (1_000, 100));
        assert_eq!((counts.failed, counts.cancelled), (10, 10));
        assert_eq!((counts.streams_failed, counts.streams_cancelled), (5, 5));
        // One stream in every 11 items.
        let kinds: Vec<bool> = (0..22)
            .map(|i| matches!(plan(&settings, i), Item::Stream { .. }))
            .collect();
        assert_eq!(kinds.iter().filter(|&&stream| stream).count(), 2);
        assert_eq!(
            parse_unary_id(&unary_id(5, UnaryEnd::Cancelled)),
            Some((5, UnaryEnd::Cancelled))
        );
        assert_eq!(parse_unary_id("other-5"), None);
    }

    #[test]
    fn command_line() {
        let parse = |args: &[&str]| Settings::parse(args.iter().map(|a| a.to_string()));
        assert_eq!(parse(&[]), Ok(Settings::default()));
        assert_eq!(
            parse(&[
                "--calls",
                "20_000",
                "--streams",
                "200",
                "--connections",
                "10"
            ]),
            Ok(Settings {
                calls: 20_000,
                streams: 200,
                connections: 10,
                in_flight: 8
            })
        );
        assert_eq!(
            parse(&["--in-flight", "0"]),
            Err("--in-flight needs a number from 1 up, not 0".into())
        );
        assert_eq!(parse(&["--calls"]), Err("--calls needs a number".into()));
        assert_eq!(
            parse(&["--calls", "many"]),
            Err("--calls needs a number, not \"many\"".into())
        );
        assert_eq!(parse(&["-x"]), Err("unknown argument \"-x\"".into()));
    }
}
