//! embedded: gRPC served and called on a hand-written, single-threaded event
//! loop over the sans-IO engine (`ferrule::core::proto`), with no async
//! runtime: what an embedder with a loop of its own writes.
//!
//! ```text
//! cargo run --example embedded                        # serve 127.0.0.1:50053, call it, exit
//! cargo run --example embedded -- --addr 127.0.0.1:0  # any free port
//! cargo run --example embedded -- --serve             # the same, then keep serving
//! cargo run --example embedded -- --client            # only call a server already running
//! ```
//!
//! The engines never touch a socket or a clock; this file does both, in one
//! loop ([`EventLoop::run`]), turn after turn:
//!
//! 1. wait for socket readiness (mio, on epoll), at most until the earliest
//!    `poll_timeout()` of any engine (or timer of the application);
//! 2. accept connections, each into a `ServerConnection`;
//! 3. read each socket into its engine (`handle_input`) while the engine
//!    `wants_input()`; a read of 0 bytes is `handle_eof`;
//! 4. `handle_timeout(now)` for each engine whose `poll_timeout()` has come;
//! 5. `poll_transmit()` and write to the socket what it takes, keeping the
//!    rest for when it is writable again;
//! 6. `poll_event()` until `None`, the application reacting with commands
//!    (back to 5 while it reacts);
//! 7. close a socket once its engine `is_drained()`.
//!
//! The server answers `/hello.Greeter/SayHello` (`examples/proto/hello.proto`)
//! and `UNIMPLEMENTED` for any other method; the client, on a connection to
//! the same process, makes a unary call, a call whose deadline passes while
//! the server takes its time, a call to an unknown method, and 100 calls in
//! flight at once. It checks every answer and exits non-zero if one is not
//! what it should be.

use std::collections::{BTreeMap, VecDeque};
use std::io::{self, Read as _, Write as _};
use std::net::{SocketAddr, ToSocketAddrs as _};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrule::core::proto::{
    CallError, CallId, CallOptions, ClientConfig, ClientConnection, ClientEvent, ClientSide,
    Connection, RecvError, SendError, ServerConfig, ServerConnection, ServerEvent, ServerSide,
    Side,
};
use ferrule::{Code, MetadataMap, Status};
use ferrule_examples::{DemoError, Mode, Options};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use prost::Message as _;

use hello::greeter_methods::SAY_HELLO;
use hello::{HelloReply, HelloRequest};

/// The code generated from `hello.proto`: here only its messages and the
/// method's path are used (the async client and server go unused).
#[allow(missing_docs, dead_code)]
pub mod hello {
    include!(concat!(env!("OUT_DIR"), "/hello.rs"));
}

/// Where the example listens unless `--addr` says otherwise.
pub const DEFAULT_ADDR: &str = "127.0.0.1:50053";

const USAGE: &str = "usage: embedded [--serve | --client] [--addr HOST:PORT]";

/// Request metadata asking the server to answer only this many
/// milliseconds after the request is complete (how the client makes a call
/// outlive its deadline).
const REPLY_AFTER_MS: &str = "x-reply-after-ms";

/// How many calls the client has in flight at once in its last step: as
/// many as the server's default `max_concurrent_streams` lets open.
const IN_FLIGHT: usize = 100;

/// The most bytes one read or one `poll_transmit` moves.
const CHUNK: usize = 64 * 1024;

const LISTENER: Token = Token(0);
const CLIENT: Token = Token(1);

fn main() -> ExitCode {
    let options = match Options::parse(std::env::args().skip(1), DEFAULT_ADDR) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(options.mode, &options.addr) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("embedded example failed: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Serves on `addr`, runs the client flow against it and returns once every
/// connection is closed: what `cargo run --example embedded` does.
pub fn demo(addr: &str) -> Result<(), DemoError> {
    run(Mode::Demo, addr)
}

fn run(mode: Mode, addr: &str) -> Result<(), DemoError> {
    let mut event_loop = EventLoop::new(mode == Mode::Serve)?;
    let target = match mode {
        Mode::Demo | Mode::Serve => event_loop.listen(addr)?,
        Mode::Client => resolve(addr)?,
    };
    event_loop.connect(target, Instant::now())?;
    event_loop.run()
}

fn resolve(addr: &str) -> Result<SocketAddr, DemoError> {
    addr.to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .ok_or_else(|| DemoError(format!("cannot resolve {addr}")))
}

fn io_error(what: &str) -> impl FnOnce(io::Error) -> DemoError + '_ {
    move |error| DemoError(format!("{what}: {error}"))
}

// ----- the loop ----------------------------------------------------------------

/// The event loop: one thread, one poller, every connection of both ends.
struct EventLoop {
    poll: Poll,
    listener: Option<TcpListener>,
    /// The address the listener is bound to.
    local: Option<SocketAddr>,
    /// Shared by every server connection.
    server_config: Arc<ServerConfig>,
    servers: BTreeMap<Token, Link<ServerSide, Greeter>>,
    next_token: usize,
    client: Option<Link<ClientSide, ClientFlow>>,
    /// `--serve`: keep serving once the client flow is done.
    keep_serving: bool,
    /// Where reads land before the engine copies them in.
    read_buf: Box<[u8]>,
}

impl EventLoop {
    fn new(keep_serving: bool) -> Result<EventLoop, DemoError> {
        Ok(EventLoop {
            poll: Poll::new().map_err(io_error("cannot create the poller"))?,
            listener: None,
            local: None,
            server_config: Arc::new(ServerConfig::default()),
            servers: BTreeMap::new(),
            next_token: CLIENT.0 + 1,
            client: None,
            keep_serving,
            read_buf: vec![0; CHUNK].into_boxed_slice(),
        })
    }

    /// Listens on `addr` (port 0: any free port); returns the address bound.
    fn listen(&mut self, addr: &str) -> Result<SocketAddr, DemoError> {
        let cannot_listen = |e: io::Error| DemoError(format!("cannot listen on {addr}: {e}"));
        let listener = std::net::TcpListener::bind(addr).map_err(cannot_listen)?;
        listener.set_nonblocking(true).map_err(cannot_listen)?;
        let mut listener = TcpListener::from_std(listener);
        let local = listener.local_addr().map_err(cannot_listen)?;
        self.poll
            .registry()
            .register(&mut listener, LISTENER, Interest::READABLE)
            .map_err(cannot_listen)?;
        self.listener = Some(listener);
        self.local = Some(local);
        println!("server: listening on {local}");
        Ok(local)
    }

    /// Starts connecting the client to `addr` (without waiting: the socket
    /// turns writable once connected) and its flow.
    fn connect(&mut self, addr: SocketAddr, now: Instant) -> Result<(), DemoError> {
        let cannot_connect = io_error("cannot connect");
        let mut stream = TcpStream::connect(addr).map_err(cannot_connect)?;
        self.register(&mut stream, CLIENT)?;
        println!("client: connecting to {addr}");
        let mut config = ClientConfig::default();
        config.authority = addr.to_string();
        self.client = Some(Link::new(
            stream,
            "client",
            ClientConnection::new(config, now),
            ClientFlow::new(),
        ));
        Ok(())
    }

    fn register(&self, stream: &mut TcpStream, token: Token) -> Result<(), DemoError> {
        self.poll
            .registry()
            .register(stream, token, Interest::READABLE | Interest::WRITABLE)
            .map_err(io_error("cannot register a socket"))
    }

    fn run(&mut self) -> Result<(), DemoError> {
        let mut events = Events::with_capacity(256);
        loop {
            let now = Instant::now();
            if let Some(client) = &mut self.client {
                client.turn(now, &mut self.read_buf)?;
                if client.is_over() {
                    client.app.check_complete()?;
                    self.close(CLIENT);
                    if let (true, Some(local)) = (self.keep_serving, self.local) {
                        println!(
                            "server: still serving on {local} (Ctrl-C to stop); try --client in another terminal"
                        );
                    }
                }
            }
            // Every connection gets a turn on every wake: simple, and cheap
            // for a handful of connections (a loop serving thousands would
            // keep a list of the ready ones).
            for link in self.servers.values_mut() {
                link.turn(now, &mut self.read_buf)?;
            }
            for token in self.servers_over() {
                self.close(token);
            }
            if self.client.is_none() && self.servers.is_empty() && !self.keep_serving {
                return Ok(());
            }

            // Sleep until a socket is ready or the earliest engine (or
            // application) timer is due. `poll_timeout()` is also "now"
            // while commands wait to be processed, so queued work is never
            // slept on.
            let wake_at = self
                .client
                .iter()
                .map(Link::wake_at)
                .chain(self.servers.values().map(Link::wake_at))
                .flatten()
                .min();
            let timeout = wake_at.map(|at| at.saturating_duration_since(Instant::now()));
            match self.poll.poll(&mut events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(DemoError(format!("poll failed: {e}"))),
            }
            for event in &events {
                match event.token() {
                    LISTENER => self.accept(Instant::now())?,
                    CLIENT => {
                        if let Some(client) = &mut self.client {
                            client.socket.note_ready(event);
                        }
                    }
                    token => {
                        if let Some(link) = self.servers.get_mut(&token) {
                            link.socket.note_ready(event);
                        }
                    }
                }
            }
        }
    }

    /// Accepts every pending connection (mio reports the listener's
    /// readiness once per change: take all there is).
    fn accept(&mut self, now: Instant) -> Result<(), DemoError> {
        let Some(listener) = &self.listener else {
            return Ok(());
        };
        loop {
            match listener.accept() {
                Ok((mut stream, peer)) => {
                    let token = Token(self.next_token);
                    self.next_token += 1;
                    self.register(&mut stream, token)?;
                    println!("server: connection from {peer}");
                    let conn = ServerConnection::new(Arc::clone(&self.server_config), now);
                    let link = Link::new(stream, "server", conn, Greeter::new(peer));
                    self.servers.insert(token, link);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // A connection that failed before it was accepted: the
                // listener itself is fine.
                Err(e) => eprintln!("server: accept failed: {e}"),
            }
        }
    }

    fn servers_over(&self) -> Vec<Token> {
        self.servers
            .iter()
            .filter(|(_, link)| link.is_over())
            .map(|(&token, _)| token)
            .collect()
    }

    /// Closes a connection whose engine is drained.
    fn close(&mut self, token: Token) {
        let socket = if token == CLIENT {
            self.client.take().map(|link| link.socket)
        } else {
            self.servers.remove(&token).map(|link| link.socket)
        };
        if let Some(mut socket) = socket {
            // Deregistered before it is dropped (closed), as mio asks, so
            // the poller keeps no registration for a closed socket.
            let _ = self.poll.registry().deregister(&mut socket.stream);
        }
    }
}

// ----- one connection: socket, engine, application ------------------------------

/// A connected non-blocking socket, as the loop sees it.
struct Socket {
    stream: TcpStream,
    /// "server" or "client", for what it prints.
    end: &'static str,
    /// mio reports readiness on edges: a socket stays readable (writable)
    /// until a read (write) answers `WouldBlock`.
    readable: bool,
    writable: bool,
    /// The peer closed its side (a read gave 0) and the engine was told.
    read_closed: bool,
    /// The socket failed (reset, broken pipe): the engine was told as at
    /// EOF, and its output goes nowhere.
    failed: bool,
    /// Output the engine gave that the socket has not taken yet:
    /// `out[sent..filled]`.
    out: Box<[u8]>,
    sent: usize,
    filled: usize,
}

impl Socket {
    fn new(stream: TcpStream, end: &'static str) -> Socket {
        Socket {
            stream,
            end,
            readable: false,
            writable: false,
            read_closed: false,
            failed: false,
            out: vec![0; CHUNK].into_boxed_slice(),
            sent: 0,
            filled: 0,
        }
    }

    fn note_ready(&mut self, event: &mio::event::Event) {
        // A closed or failed socket counts as ready: the next read or write
        // finds out how (0 bytes, or the error).
        self.readable |= event.is_readable() || event.is_read_closed() || event.is_error();
        self.writable |= event.is_writable() || event.is_write_closed() || event.is_error();
    }

    /// Whether a read would feed the engine: the socket may hold bytes and
    /// the engine has room. While the engine holds more unprocessed input
    /// than its limit (its peer does not read what it sends), the bytes wait
    /// in the kernel, and TCP slows the peer down.
    fn can_read<S: Side>(&self, conn: &Connection<S>) -> bool {
        self.readable && !self.read_closed && !self.failed && conn.wants_input()
    }

    /// Moves bytes from the socket into the engine while both have some.
    fn read_into<S: Side>(&mut self, conn: &mut Connection<S>, now: Instant, buf: &mut [u8]) {
        while self.can_read(conn) {
            match self.stream.read(buf) {
                Ok(0) => {
                    self.read_closed = true;
                    conn.handle_eof(now);
                }
                Ok(n) => conn.handle_input(now, &buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.readable = false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => self.fail(conn, now, &e),
            }
        }
    }

    /// Hands the engine's output to the socket. What the socket does not
    /// take stays in `out` for its next writable edge, and the engine is
    /// asked for more only once `out` is empty: a peer that reads slowly
    /// leaves the engine holding its (bounded) output, so that h2 stops and
    /// the application's `send_message` answers `NotReady`.
    fn write_from<S: Side>(&mut self, conn: &mut Connection<S>, now: Instant) {
        if self.failed {
            // Nobody will read it: let the engine drain, so it can close.
            while conn.poll_transmit(now, &mut self.out) > 0 {}
            return;
        }
        while self.writable {
            if self.sent == self.filled {
                self.sent = 0;
                self.filled = conn.poll_transmit(now, &mut self.out);
                if self.filled == 0 {
                    return;
                }
            }
            match self.stream.write(&self.out[self.sent..self.filled]) {
                Ok(n) => self.sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.writable = false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return self.fail(conn, now, &e),
            }
        }
    }

    /// The socket broke: for the engine the peer is gone, as at EOF (it
    /// ends the calls still open with `UNAVAILABLE`).
    fn fail<S: Side>(&mut self, conn: &mut Connection<S>, now: Instant, error: &io::Error) {
        println!("{}: the socket failed: {error}", self.end);
        self.failed = true;
        self.sent = self.filled;
        if !self.read_closed {
            self.read_closed = true;
            conn.handle_eof(now);
        }
    }

    fn is_flushed(&self) -> bool {
        self.failed || self.sent == self.filled
    }
}

/// What runs on an engine's events: the server's handler, the client flow.
trait Application<S: Side> {
    /// Reacts to one event with commands.
    fn on_event(
        &mut self,
        conn: &mut Connection<S>,
        event: S::Event,
        now: Instant,
    ) -> Result<(), DemoError>;

    /// Does what is due without an event (a timer of its own, the next
    /// step); whether it did anything.
    fn act(&mut self, conn: &mut Connection<S>, now: Instant) -> Result<bool, DemoError>;

    /// When `act` has something to do next, if it knows.
    fn next_timer(&self) -> Option<Instant>;
}

/// One connection: its socket, its engine and the application on it.
/// Written once for both ends, as the engine is.
struct Link<S: Side, A> {
    socket: Socket,
    conn: Connection<S>,
    app: A,
}

impl<S: Side, A: Application<S>> Link<S, A> {
    fn new(stream: TcpStream, end: &'static str, conn: Connection<S>, app: A) -> Self {
        Link {
            socket: Socket::new(stream, end),
            conn,
            app,
        }
    }

    /// Everything the connection can do now, without waiting.
    fn turn(&mut self, now: Instant, read_buf: &mut [u8]) -> Result<(), DemoError> {
        loop {
            self.socket.read_into(&mut self.conn, now, read_buf);
            if self.conn.poll_timeout().is_some_and(|at| at <= now) {
                // Deadlines, keepalive, and the commands queued since the
                // last drive (an early call is harmless).
                self.conn.handle_timeout(now);
            }
            loop {
                // Writing first also processes the commands queued by the
                // last round; that may add events, which this round reads.
                self.socket.write_from(&mut self.conn, now);
                let mut reacted = self.app.act(&mut self.conn, now)?;
                while let Some(event) = self.conn.poll_event() {
                    reacted = true;
                    self.app.on_event(&mut self.conn, event, now)?;
                }
                if !reacted {
                    break;
                }
            }
            // Writing may have let the engine take input again.
            if !self.socket.can_read(&self.conn) {
                return Ok(());
            }
        }
    }

    fn wake_at(&self) -> Option<Instant> {
        [self.conn.poll_timeout(), self.app.next_timer()]
            .into_iter()
            .flatten()
            .min()
    }

    /// The engine is done and every byte it gave was written.
    fn is_over(&self) -> bool {
        self.conn.is_drained() && self.socket.is_flushed()
    }
}

// ----- the server: hello.Greeter -------------------------------------------------

/// The server's handler on one connection: answers `SayHello` with a
/// greeting, any other method with `UNIMPLEMENTED`.
struct Greeter {
    peer: SocketAddr,
    /// `SayHello` calls not answered yet.
    calls: BTreeMap<CallId, Greeting>,
    /// Calls answered (or failed by the engine) on this connection.
    served: usize,
}

/// A `SayHello` call on its way to an answer.
#[derive(Default)]
struct Greeting {
    request: Option<HelloRequest>,
    /// How long to wait before answering (`x-reply-after-ms`).
    delay: Duration,
    /// When to answer, once the request is complete (the client
    /// half-closed).
    answer_at: Option<Instant>,
}

impl Greeter {
    fn new(peer: SocketAddr) -> Greeter {
        Greeter {
            peer,
            calls: BTreeMap::new(),
            served: 0,
        }
    }

    /// Takes the request messages that arrived, and the end of the
    /// request: a unary call has exactly one message.
    fn read_request(
        &mut self,
        conn: &mut ServerConnection,
        call: CallId,
        now: Instant,
    ) -> Result<(), DemoError> {
        loop {
            let Some(greeting) = self.calls.get_mut(&call) else {
                return Ok(());
            };
            let problem = match conn.recv_message(call) {
                Ok(Some(message)) => match HelloRequest::decode(message) {
                    Ok(request) if greeting.request.is_none() => {
                        greeting.request = Some(request);
                        continue;
                    }
                    Ok(_) => "SayHello takes one request message",
                    Err(_) => "the request is not a HelloRequest",
                },
                // The client half-closed: the request is complete.
                Ok(None) if greeting.request.is_some() => {
                    greeting.answer_at = Some(now + greeting.delay);
                    return Ok(());
                }
                Ok(None) => "SayHello needs a request message",
                Err(RecvError::Blocked) => return Ok(()),
                // The engine ended the call; its Cancelled event says why.
                Err(_) => return Ok(()),
            };
            self.calls.remove(&call);
            self.served += 1;
            return finish(conn, call, Status::invalid_argument(problem));
        }
    }
}

impl Application<ServerSide> for Greeter {
    fn on_event(
        &mut self,
        conn: &mut ServerConnection,
        event: ServerEvent,
        now: Instant,
    ) -> Result<(), DemoError> {
        match event {
            ServerEvent::NewCall { call, request } if request.path() == SAY_HELLO.path => {
                let delay = request
                    .metadata()
                    .get(REPLY_AFTER_MS)
                    .and_then(|ms| ms.parse().ok())
                    .map(Duration::from_millis)
                    .unwrap_or_default();
                let greeting = Greeting {
                    delay,
                    ..Greeting::default()
                };
                self.calls.insert(call, greeting);
            }
            ServerEvent::NewCall { call, request } => {
                let path = request.path();
                println!("server: {path} -> UNIMPLEMENTED");
                self.served += 1;
                let status = Status::unimplemented(format!("unknown method {path}"));
                finish(conn, call, status)?;
            }
            ServerEvent::Readable { call } => self.read_request(conn, call, now)?,
            ServerEvent::Cancelled { call, status } => {
                // Here: the client gave up at its deadline (CANCELLED), or
                // the server's copy of that deadline passed
                // (DEADLINE_EXCEEDED; the engine answered the client).
                if let Some(greeting) = self.calls.remove(&call) {
                    let name = greeting.request.map(|r| r.name).unwrap_or_default();
                    println!(
                        "server: SayHello({name:?}) ended before its answer was due: {status}"
                    );
                }
                self.served += 1;
                // The engine keeps an ended call until the application lets
                // go of it.
                conn.cancel(call);
            }
            ServerEvent::Closed { error } => {
                let how = error.map_or_else(|| "cleanly".to_owned(), |e| format!("({e})"));
                println!(
                    "server: connection from {} closed {how}, after {} calls",
                    self.peer, self.served
                );
            }
            // Each answer is one small message, which a call always takes
            // while its send queue is empty: no need to wait for Writable.
            _ => {}
        }
        Ok(())
    }

    fn act(&mut self, conn: &mut ServerConnection, now: Instant) -> Result<bool, DemoError> {
        let due: Vec<CallId> = self
            .calls
            .iter()
            .filter(|(_, greeting)| greeting.answer_at.is_some_and(|at| at <= now))
            .map(|(&call, _)| call)
            .collect();
        for &call in &due {
            let Some(request) = self.calls.remove(&call).and_then(|g| g.request) else {
                continue;
            };
            let reply = HelloReply {
                message: format!("Hello, {}!", request.name),
            };
            match conn.send_message(call, reply.encode_to_vec().into()) {
                Ok(()) => {
                    self.served += 1;
                    finish(conn, call, Status::ok())?;
                }
                // Ended by the engine meanwhile (its deadline): the
                // Cancelled event is on its way.
                Err(SendError::Closed) => {}
                Err(e) => return Err(DemoError(format!("server: cannot answer: {e}"))),
            }
        }
        Ok(!due.is_empty())
    }

    fn next_timer(&self) -> Option<Instant> {
        self.calls.values().filter_map(|g| g.answer_at).min()
    }
}

/// Ends a call with `status` (and no trailing metadata).
fn finish(conn: &mut ServerConnection, call: CallId, status: Status) -> Result<(), DemoError> {
    match conn.finish(call, status, &MetadataMap::new()) {
        // Closed: the engine ended the call first; its Cancelled event says why.
        Ok(()) | Err(CallError::Closed) => Ok(()),
        Err(e) => Err(DemoError(format!("server: cannot finish a call: {e}"))),
    }
}

// ----- the client flow -------------------------------------------------------------

/// The client's steps, one after the other: each starts its calls and
/// waits for all their outcomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Unary,
    Deadline,
    UnknownMethod,
    ManyInFlight,
}

/// What a call must end with.
#[derive(Debug)]
enum Expected {
    Reply(String),
    Code(Code),
}

/// A call to make: where, with what name in the request, and what it
/// must end with.
struct Planned {
    path: &'static str,
    name: String,
    options: CallOptions,
    expected: Expected,
}

impl Step {
    fn calls(self) -> Vec<Planned> {
        let hello = |name: String| Planned {
            path: SAY_HELLO.path,
            expected: Expected::Reply(format!("Hello, {name}!")),
            name,
            options: CallOptions::new(),
        };
        match self {
            Step::Unary => vec![hello("ferrule".into())],
            Step::Deadline => {
                let mut metadata = MetadataMap::new();
                metadata
                    .insert(REPLY_AFTER_MS, "1000")
                    .expect("a valid metadata key and value");
                let options = CallOptions::new()
                    .with_metadata(metadata)
                    .with_timeout(Duration::from_millis(100));
                vec![Planned {
                    options,
                    expected: Expected::Code(Code::DEADLINE_EXCEEDED),
                    ..hello("sloth".into())
                }]
            }
            Step::UnknownMethod => vec![Planned {
                path: "/hello.Greeter/SayGoodbye",
                expected: Expected::Code(Code::UNIMPLEMENTED),
                ..hello("ferrule".into())
            }],
            Step::ManyInFlight => (0..IN_FLIGHT)
                .map(|i| hello(format!("caller {i}")))
                .collect(),
        }
    }
}

/// A call started and not finished yet.
struct Outstanding {
    /// `Method("name")`, for what is printed.
    what: String,
    expected: Expected,
    reply: Option<HelloReply>,
}

/// The client's side of the demo: starts the calls of each step, checks
/// their outcomes, and closes the connection after the last step.
struct ClientFlow {
    steps: VecDeque<Step>,
    /// The step under way, and when it started.
    current: Option<(Step, Instant)>,
    waiting: BTreeMap<CallId, Outstanding>,
    /// Every step passed; the connection is closing.
    complete: bool,
}

impl ClientFlow {
    fn new() -> ClientFlow {
        ClientFlow {
            steps: VecDeque::from([
                Step::Unary,
                Step::Deadline,
                Step::UnknownMethod,
                Step::ManyInFlight,
            ]),
            current: None,
            waiting: BTreeMap::new(),
            complete: false,
        }
    }

    /// Starts the step's calls, each with its one request and half-closed:
    /// the commands queue, and each request leaves with its headers on the
    /// next drive (`poll_transmit`).
    fn start(
        &mut self,
        conn: &mut ClientConnection,
        step: Step,
        now: Instant,
    ) -> Result<(), DemoError> {
        self.current = Some((step, now));
        for Planned {
            path,
            name,
            options,
            expected,
        } in step.calls()
        {
            let what = format!("{}({name:?})", path.rsplit('/').next().unwrap_or(path));
            let failed = |e: &dyn std::fmt::Display| DemoError(format!("client: {what}: {e}"));
            let call = conn
                .start_call(now, path, options)
                .map_err(|e| failed(&e))?;
            let request = HelloRequest { name }.encode_to_vec();
            conn.send_message(call, request.into())
                .map_err(|e| failed(&e))?;
            conn.close_send(call).map_err(|e| failed(&e))?;
            self.waiting.insert(
                call,
                Outstanding {
                    what,
                    expected,
                    reply: None,
                },
            );
        }
        Ok(())
    }

    /// Takes the replies that arrived; reading to the end of the response
    /// releases the call.
    fn read_replies(&mut self, conn: &mut ClientConnection, call: CallId) -> Result<(), DemoError> {
        while let Ok(Some(message)) = conn.recv_message(call) {
            let Some(outstanding) = self.waiting.get_mut(&call) else {
                continue;
            };
            let what = &outstanding.what;
            let reply = HelloReply::decode(message)
                .map_err(|e| DemoError(format!("client: {what}: not a HelloReply: {e}")))?;
            if outstanding.reply.replace(reply).is_some() {
                return Err(DemoError(format!("client: {what}: more than one reply")));
            }
        }
        Ok(())
    }

    /// Checks a finished call against what it had to end with.
    fn check(
        &self,
        outstanding: Outstanding,
        status: &Status,
        now: Instant,
    ) -> Result<(), DemoError> {
        let Outstanding {
            what,
            expected,
            reply,
        } = outstanding;
        let outcome = match (&expected, &reply) {
            (Expected::Reply(text), Some(reply)) if status.is_ok() && reply.message == *text => {
                format!("{:?}", reply.message)
            }
            (Expected::Code(code), None) if status.code() == *code => status.to_string(),
            _ => {
                let replied = reply.map_or_else(String::new, |r| format!(" and {:?}", r.message));
                return Err(DemoError(format!(
                    "client: {what}: expected {expected:?}, got {status}{replied}"
                )));
            }
        };
        match self.current {
            // Summed up when the step is over.
            Some((Step::ManyInFlight, _)) => {}
            Some((Step::Deadline, started)) => println!(
                "client: {what} with a 100 ms timeout, the server answering after 1 s -> {} after {} ms",
                status.code(),
                now.duration_since(started).as_millis()
            ),
            _ => println!("client: {what} -> {outcome}"),
        }
        Ok(())
    }

    /// Every step passed (or the connection closed before they did).
    fn check_complete(&self) -> Result<(), DemoError> {
        if self.complete {
            Ok(())
        } else {
            Err(DemoError(
                "client: the connection closed before every step was done".into(),
            ))
        }
    }
}

impl Application<ClientSide> for ClientFlow {
    fn on_event(
        &mut self,
        conn: &mut ClientConnection,
        event: ClientEvent,
        now: Instant,
    ) -> Result<(), DemoError> {
        match event {
            ClientEvent::Readable { call } => self.read_replies(conn, call)?,
            ClientEvent::Finished { call, status, .. } => {
                // Replies sent before the trailers are still to be read.
                self.read_replies(conn, call)?;
                if let Some(outstanding) = self.waiting.remove(&call) {
                    self.check(outstanding, &status, now)?;
                }
            }
            ClientEvent::GoAway { code, .. } => println!("client: the server sent GOAWAY ({code})"),
            ClientEvent::Closed { error: Some(error) } => {
                println!("client: connection closed ({error})");
            }
            ClientEvent::Closed { error: None } => println!("client: connection closed"),
            // Headers (initial metadata) are not needed; each request is
            // one small message, which a call takes while its queue is empty.
            _ => {}
        }
        Ok(())
    }

    fn act(&mut self, conn: &mut ClientConnection, now: Instant) -> Result<bool, DemoError> {
        if !self.waiting.is_empty() || self.complete {
            return Ok(false);
        }
        if let Some((Step::ManyInFlight, started)) = self.current {
            println!(
                "client: {IN_FLIGHT} SayHello calls in flight at once -> {IN_FLIGHT} right answers in {} ms",
                now.duration_since(started).as_millis()
            );
        }
        match self.steps.pop_front() {
            Some(step) => self.start(conn, step, now)?,
            None => {
                println!("client: every answer was right; closing the connection");
                self.complete = true;
                // No call is open: the engine closes the connection (GOAWAY)
                // and drains, and then the loop closes the socket.
                conn.close_gracefully();
            }
        }
        Ok(true)
    }

    fn next_timer(&self) -> Option<Instant> {
        None
    }
}
