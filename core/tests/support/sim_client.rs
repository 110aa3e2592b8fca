//! The simulation's client application (`tests/simulation.rs`): keeps a
//! number of calls of every kind in flight, each with its requests (spaced
//! out on streaming calls), sometimes a deadline, sometimes a cancel;
//! reads the responses, checking each byte for byte, and records how each
//! call ended.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ferrule_core::Code;
use ferrule_core::codec::metadata::MetadataMap;
use ferrule_core::proto::{
    CallId, CallOptions, ClientConnection, ClientEvent, RecvError, SendError,
};

use crate::sim_common::{CALL_NUMBER, Kind, Record, message_len, metadata_text, ms, payload};
use crate::sim_rng::Rng;

/// A call the client started and has no outcome for yet.
pub struct ClientCall {
    pub number: u64,
    pub link: u32,
    pub id: CallId,
    /// Lengths of the request messages to send.
    pub requests: Vec<usize>,
    /// How many were handed to the engine.
    pub sent: usize,
    /// The next one goes at this time (streaming calls space them).
    pub next_send_at: Duration,
    pub spacing: Duration,
    /// `send_message` answered `NotReady`: wait for `Writable`.
    pub waiting_writable: bool,
    /// The send side is over (half-closed, or the engine said closed).
    pub send_done: bool,
    pub cancel_at: Option<Duration>,
    pub headers: Option<String>,
    /// Lengths of the responses received, each checked byte for byte.
    pub responses: Vec<usize>,
}

/// What a started call was, for the checks.
#[derive(Clone, Copy)]
pub struct Started {
    pub link: u32,
    pub kind: Kind,
    pub requests: usize,
    pub deadline: Option<Duration>,
}

/// How a call ended, as the client saw it.
#[derive(Debug)]
pub enum Outcome {
    /// The client cancelled it first (no event follows a cancel).
    Cancelled,
    Finished {
        at: Duration,
        code: Code,
        message: String,
        trailers: String,
        headers: Option<String>,
        /// Lengths of the responses received, each checked byte for byte.
        responses: Vec<usize>,
    },
}

/// The client application: keeps up to `concurrency` calls in flight on
/// the current connection until `total` were made, connects again when the
/// connection stops taking calls.
pub struct Client {
    /// Calls to make, in all.
    pub total: u64,
    pub concurrency: usize,
    /// Every call started, by number.
    pub started: Vec<Started>,
    pub next_start_at: Duration,
    /// The connection new calls go to; `None` while connecting again.
    pub current: Option<u32>,
    pub reconnect_at: Option<Duration>,
    /// The calls in flight, by number.
    pub calls: BTreeMap<u64, ClientCall>,
    /// Call numbers by connection and id, kept after the calls end (an
    /// event naming an ended call is a problem to report).
    pub numbers: BTreeMap<(u32, CallId), u64>,
    pub outcomes: BTreeMap<u64, Outcome>,
    /// Every call is over and the connections are closing.
    pub closing: bool,
}

impl Client {
    /// A client that connects at once and makes `total` calls,
    /// `concurrency` at a time.
    pub fn new(total: u64, concurrency: usize) -> Client {
        Client {
            total,
            concurrency,
            started: Vec::new(),
            next_start_at: Duration::ZERO,
            current: None,
            reconnect_at: Some(Duration::ZERO),
            calls: BTreeMap::new(),
            numbers: BTreeMap::new(),
            outcomes: BTreeMap::new(),
            closing: false,
        }
    }

    pub fn start(
        &mut self,
        conn: &mut ClientConnection,
        link: u32,
        t: Duration,
        now: Instant,
        rng: &mut Rng,
        record: &mut Record,
    ) {
        let number = self.started.len() as u64;
        let kind = *rng.pick(&Kind::ALL);
        let count = if kind.streams_requests() {
            rng.size(0, 4)
        } else {
            1
        };
        let requests: Vec<usize> = (0..count).map(|_| message_len(rng)).collect();
        let mut options = CallOptions::new();
        let mut metadata = MetadataMap::new();
        metadata.insert(CALL_NUMBER, &number.to_string()).unwrap();
        options = options.with_metadata(metadata);
        let timeout = match rng.below(100) {
            0 => Some(Duration::ZERO),
            1..15 => Some(rng.micros(1_000, 150_000)),
            _ => None,
        };
        if let Some(timeout) = timeout {
            options = options.with_timeout(timeout);
        }
        let cancel_at = rng.chance(40).then(|| t + rng.micros(0, 40_000));
        let spacing = if kind.streams_requests() && rng.chance(300) {
            rng.micros(100, 5_000)
        } else {
            Duration::ZERO
        };
        let id = match conn.start_call(now, kind.path(), options) {
            Ok(id) => id,
            Err(e) => {
                return record.problem(t, format!("L{link} start_call #{number} failed: {e}"));
            }
        };
        record.note(
            t,
            format_args!(
                "L{link} client start #{number} {id:?} {kind:?} requests={requests:?} timeout={} cancel_at={}",
                timeout.map_or_else(|| "-".into(), ms),
                cancel_at.map_or_else(|| "-".into(), ms),
            ),
        );
        self.started.push(Started {
            link,
            kind,
            requests: requests.len(),
            deadline: timeout.map(|d| t + d),
        });
        self.numbers.insert((link, id), number);
        let mut call = ClientCall {
            number,
            link,
            id,
            requests,
            sent: 0,
            next_send_at: t,
            spacing,
            waiting_writable: false,
            send_done: false,
            cancel_at,
            headers: None,
            responses: Vec::new(),
        };
        call.pump(conn, number, t, record);
        self.calls.insert(number, call);
    }

    /// Reacts to one event of connection `link`.
    pub fn on_event(
        &mut self,
        conn: &mut ClientConnection,
        link: u32,
        event: ClientEvent,
        t: Duration,
        record: &mut Record,
    ) {
        let call_of = |id: CallId| self.numbers.get(&(link, id)).copied();
        match event {
            ClientEvent::Headers { call, metadata } => {
                let text = metadata_text(&metadata);
                let number = call_of(call);
                record.note(
                    t,
                    format_args!("L{link} client headers #{number:?} {call:?} [{text}]"),
                );
                match number.and_then(|n| self.calls.get_mut(&n)) {
                    Some(c) if c.headers.is_none() => c.headers = Some(text),
                    Some(_) => record.problem(t, format!("L{link} {call:?}: headers twice")),
                    None => record.problem(t, format!("L{link} headers for {call:?}, not open")),
                }
            }
            ClientEvent::Readable { call } => {
                let number = call_of(call);
                record.note(
                    t,
                    format_args!("L{link} client readable #{number:?} {call:?}"),
                );
                match number.and_then(|n| self.calls.get_mut(&n)) {
                    Some(c) => c.read(conn, record, t),
                    None => record.problem(t, format!("L{link} readable {call:?}, not open")),
                }
            }
            ClientEvent::Writable { call } => {
                let number = call_of(call);
                record.note(
                    t,
                    format_args!("L{link} client writable #{number:?} {call:?}"),
                );
                if let Some(n) = number
                    && let Some(c) = self.calls.get_mut(&n)
                {
                    c.waiting_writable = false;
                    c.pump(conn, n, t, record);
                } else {
                    record.problem(t, format!("L{link} writable {call:?}, not open"));
                }
            }
            ClientEvent::Finished {
                call,
                status,
                trailers,
            } => {
                let trailers = metadata_text(&trailers);
                let number = call_of(call);
                record.note(
                    t,
                    format_args!(
                        "L{link} client finished #{number:?} {call:?} {:?} {:?} [{trailers}]",
                        status.code(),
                        status.message()
                    ),
                );
                let Some(number) = number else {
                    return record.problem(t, format!("L{link} finished {call:?}: unknown call"));
                };
                let Some(mut c) = self.calls.remove(&number) else {
                    return record.problem(t, format!("L{link} #{number} finished twice"));
                };
                // Messages sent before the trailers stay readable; reading
                // to the end releases the call.
                c.read(conn, record, t);
                if conn.recv_message(call) != Err(RecvError::Closed) {
                    record.problem(t, format!("L{link} #{number}: not released at its end"));
                }
                record.note(
                    t,
                    format_args!(
                        "L{link} client outcome #{number} responses={:?}",
                        c.responses
                    ),
                );
                let outcome = Outcome::Finished {
                    at: t,
                    code: status.code(),
                    message: status.message().to_owned(),
                    trailers,
                    headers: c.headers,
                    responses: c.responses,
                };
                if self.outcomes.insert(number, outcome).is_some() {
                    record.problem(t, format!("#{number}: a second outcome"));
                }
            }
            ClientEvent::GoAway { code, debug_data } => {
                record.note(
                    t,
                    format_args!("L{link} client goaway {code:?} {debug_data:?}"),
                );
            }
            ClientEvent::Closed { error } => {
                record.note(t, format_args!("L{link} client closed {error:?}"));
            }
            other => record.note(t, format_args!("L{link} client event {other:?}")),
        }
    }

    /// The next time the client has something of its own to do.
    pub fn next_timer(&self) -> Option<Duration> {
        let starts = (self.current.is_some()
            && (self.started.len() as u64) < self.total
            && self.calls.len() < self.concurrency)
            .then_some(self.next_start_at);
        let calls = self.calls.values().flat_map(|c| {
            let send = (!c.waiting_writable && !c.send_done).then_some(c.next_send_at);
            [send, c.cancel_at]
        });
        [starts, self.reconnect_at]
            .into_iter()
            .chain(calls)
            .flatten()
            .min()
    }
}

impl ClientCall {
    /// Hands the requests due to the engine, then half-closes.
    pub fn pump(
        &mut self,
        conn: &mut ClientConnection,
        number: u64,
        t: Duration,
        record: &mut Record,
    ) {
        while !self.send_done && !self.waiting_writable && self.next_send_at <= t {
            let Some(&len) = self.requests.get(self.sent) else {
                self.send_done = true;
                if let Err(e) = conn.close_send(self.id) {
                    record.note(
                        t,
                        format_args!("L{} client close_send #{number}: {e}", self.link),
                    );
                }
                return;
            };
            let message = Bytes::from(payload(number, self.sent, len, false));
            match conn.send_message(self.id, message) {
                Ok(()) => {
                    self.sent += 1;
                    self.next_send_at = t + self.spacing;
                }
                Err(SendError::NotReady) => self.waiting_writable = true,
                Err(SendError::Closed) => {
                    record.note(
                        t,
                        format_args!("L{} client send #{number}: closed", self.link),
                    );
                    self.send_done = true;
                }
                Err(e) => {
                    record.problem(t, format!("L{} #{number}: send failed: {e}", self.link));
                    self.send_done = true;
                }
            }
        }
    }

    /// Takes the responses that arrived.
    pub fn read(&mut self, conn: &mut ClientConnection, record: &mut Record, t: Duration) {
        loop {
            match conn.recv_message(self.id) {
                Ok(Some(message)) => {
                    let index = self.responses.len();
                    if message != payload(self.number, index, message.len(), true) {
                        record.problem(
                            t,
                            format!(
                                "L{} #{}: response {index} is not what was sent",
                                self.link, self.number
                            ),
                        );
                    }
                    self.responses.push(message.len());
                }
                Ok(None) | Err(RecvError::Blocked) | Err(RecvError::Closed) => return,
                // The call ended: its Finished event says how.
                Err(RecvError::Cancelled(_)) => return,
                Err(RecvError::Failed(status)) => {
                    return record.problem(t, format!("L{} recv failed: {status}", self.link));
                }
                Err(e) => return record.problem(t, format!("L{} recv: {e}", self.link)),
            }
        }
    }
}
