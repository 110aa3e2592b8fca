//! The simulation's server application (`tests/simulation.rs`): one
//! handler for the four methods, which decides each call's answer when it
//! comes (status, metadata, responses, a delay, reading late, answering
//! early, cancelling) and keeps a [`Ledger`] of what it did, which the
//! client's outcomes are checked against.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use ferrule_core::codec::metadata::MetadataMap;
use ferrule_core::proto::{CallError, CallId, RecvError, SendError, ServerConnection, ServerEvent};
use ferrule_core::{Code, Status};

use crate::sim_common::{
    CALL_NUMBER, HANDLER_CODES, Kind, Record, message_len, metadata_text, ms, payload,
};
use crate::sim_rng::Rng;

/// What the server's handler decided for a call, when it saw it.
#[derive(Debug)]
pub struct Decision {
    /// `None`: cancel the call (RST_STREAM) instead of finishing it.
    pub status: Option<Status>,
    pub trailers: MetadataMap,
    /// Initial metadata sent at once, if any.
    pub headers: Option<MetadataMap>,
    /// Lengths of the responses sent at answer time.
    pub responses: Vec<usize>,
    /// Answer without waiting for the end of the request stream.
    pub early: bool,
    /// Bidi: answer each request with a response as it arrives.
    pub echo: bool,
    /// Wait this long (after the request stream ends, or the call came)
    /// before answering.
    pub delay: Duration,
    /// Do not read requests before this long after the call came.
    pub read_after: Duration,
}

impl Decision {
    pub fn draw(kind: Kind, rng: &mut Rng) -> Decision {
        let ok = rng.chance(700);
        let status = if rng.chance(30) {
            None
        } else if ok {
            Some(Status::ok())
        } else {
            let code = *rng.pick(&HANDLER_CODES);
            let message = match rng.below(3) {
                0 => String::new(),
                1 => format!("the handler says no ({})", rng.below(1000)),
                // Non-ASCII and '%': percent-encoded on the wire.
                _ => format!("naïve 100% ✗ {}", rng.below(1000)),
            };
            Some(Status::new(code, message))
        };
        let mut trailers = MetadataMap::new();
        if rng.chance(500) {
            trailers
                .insert("x-sim-trailer", &rng.below(1_000_000).to_string())
                .unwrap();
        }
        if rng.chance(200) {
            let blob: Vec<u8> = (0..rng.size(0, 40)).map(|_| rng.below(256) as u8).collect();
            trailers.insert_bin("x-sim-blob-bin", &blob).unwrap();
        }
        let headers = rng.chance(300).then(|| {
            let mut headers = MetadataMap::new();
            headers
                .insert("x-sim-header", &rng.below(1000).to_string())
                .unwrap();
            headers
        });
        let count = match (kind.streams_responses(), status.as_ref()) {
            (true, _) => rng.size(0, 4),
            (false, Some(status)) if status.is_ok() => 1,
            (false, _) => 0,
        };
        Decision {
            responses: (0..count).map(|_| message_len(rng)).collect(),
            early: kind.streams_requests() && rng.chance(100),
            echo: kind == Kind::Bidi && rng.chance(500),
            delay: match rng.below(10) {
                0..5 => Duration::ZERO,
                5..9 => rng.micros(0, 20_000),
                _ => rng.micros(50_000, 300_000),
            },
            read_after: if rng.chance(150) {
                rng.micros(0, 100_000)
            } else {
                Duration::ZERO
            },
            status,
            trailers,
            headers,
        }
    }
}

/// A call the server's handler has not ended.
pub struct ServerCall {
    pub number: u64,
    pub decision: Decision,
    /// Index of the next request expected.
    pub next_request: usize,
    /// A `Readable` came and was not read yet (reading starts at `read_from`).
    pub readable: bool,
    pub read_from: Duration,
    pub answer_at: Option<Duration>,
    /// Responses handed to the engine (echoes and answers).
    pub sent: usize,
    pub waiting_writable: bool,
}

/// How the server ended a call: the handler (`finish` or `cancel`) or the
/// engine (its `Cancelled` event).
#[derive(Debug, Clone, PartialEq)]
pub enum ServerEnd {
    Finished {
        code: Code,
        message: String,
        trailers: String,
    },
    HandlerCancelled,
    EngineEnded {
        code: Code,
    },
}

/// What the server did with a call, for the checks.
#[derive(Debug, Default)]
pub struct Ledger {
    pub headers: Option<String>,
    /// The responses queued with `send_message`, in order.
    pub sent: Vec<usize>,
    /// Requests received (each checked byte for byte).
    pub requests: usize,
    pub early: bool,
    pub end: Option<ServerEnd>,
}

/// The server application: one handler for the four methods, on every
/// connection.
#[derive(Default)]
pub struct Server {
    pub calls: BTreeMap<(u32, CallId), ServerCall>,
    /// Call numbers by connection and id, kept after the calls end (an
    /// event may name an ended call).
    pub numbers: BTreeMap<(u32, CallId), u64>,
    pub ledger: BTreeMap<u64, Ledger>,
}

impl Server {
    pub fn end(&mut self, number: u64, end: ServerEnd, t: Duration, record: &mut Record) {
        let ledger = self.ledger.entry(number).or_default();
        if let Some(first) = &ledger.end {
            record.problem(
                t,
                format!("#{number}: ended twice on the server: {first:?}, then {end:?}"),
            );
        } else {
            ledger.end = Some(end);
        }
    }

    pub fn on_event(
        &mut self,
        conn: &mut ServerConnection,
        link: u32,
        event: ServerEvent,
        t: Duration,
        rng: &mut Rng,
        record: &mut Record,
    ) {
        match event {
            ServerEvent::NewCall { call, request } => {
                let number = request
                    .metadata()
                    .get(CALL_NUMBER)
                    .and_then(|n| n.parse::<u64>().ok());
                let (Some(number), Some(kind)) = (number, Kind::from_path(request.path())) else {
                    return record.problem(
                        t,
                        format!("L{link} a call not from the client: {request:?}"),
                    );
                };
                let decision = Decision::draw(kind, rng);
                record.note(
                    t,
                    format_args!(
                        "L{link} server new #{number} {call:?} {kind:?} timeout={:?} decides {:?} {:?} [{}] headers={:?} responses={:?} early={} echo={} delay={} read_after={}",
                        request.timeout(),
                        decision.status.as_ref().map(Status::code),
                        decision.status.as_ref().map(Status::message),
                        metadata_text(&decision.trailers),
                        decision.headers.as_ref().map(metadata_text),
                        decision.responses,
                        decision.early,
                        decision.echo,
                        ms(decision.delay),
                        ms(decision.read_after),
                    ),
                );
                if self.numbers.insert((link, call), number).is_some()
                    || self.ledger.contains_key(&number)
                {
                    record.problem(t, format!("L{link} #{number}: seen twice by the server"));
                }
                let ledger = self.ledger.entry(number).or_default();
                ledger.early = decision.early;
                if let Some(headers) = &decision.headers {
                    match conn.send_headers(call, headers) {
                        Ok(()) => ledger.headers = Some(metadata_text(headers)),
                        // Ended already (a reset or the deadline came with
                        // the headers): its Cancelled event follows.
                        Err(CallError::Closed) => {
                            record
                                .note(t, format_args!("L{link} server headers #{number}: closed"));
                        }
                        Err(e) => {
                            record.problem(t, format!("L{link} #{number}: send_headers: {e}"))
                        }
                    }
                }
                let server_call = ServerCall {
                    number,
                    answer_at: decision.early.then_some(t + decision.delay),
                    read_from: t + decision.read_after,
                    decision,
                    next_request: 0,
                    readable: false,
                    sent: 0,
                    waiting_writable: false,
                };
                self.calls.insert((link, call), server_call);
            }
            ServerEvent::Readable { call } => {
                let number = self.numbers.get(&(link, call)).copied();
                record.note(
                    t,
                    format_args!("L{link} server readable #{number:?} {call:?}"),
                );
                match self.calls.get_mut(&(link, call)) {
                    Some(c) => {
                        c.readable = true;
                        if c.read_from <= t {
                            self.read(conn, link, call, t, record);
                        }
                    }
                    None => record.problem(t, format!("L{link} readable {call:?}, not open")),
                }
            }
            ServerEvent::Writable { call } => {
                let number = self.numbers.get(&(link, call)).copied();
                record.note(
                    t,
                    format_args!("L{link} server writable #{number:?} {call:?}"),
                );
                match self.calls.get_mut(&(link, call)) {
                    Some(c) => {
                        c.waiting_writable = false;
                        if c.answer_at.is_some_and(|at| at <= t) {
                            self.answer(conn, link, call, t, record);
                        }
                    }
                    None => record.problem(t, format!("L{link} writable {call:?}, not open")),
                }
            }
            ServerEvent::Cancelled { call, status } => {
                let number = self.numbers.get(&(link, call)).copied();
                record.note(
                    t,
                    format_args!(
                        "L{link} server cancelled #{number:?} {call:?} {:?} {:?}",
                        status.code(),
                        status.message()
                    ),
                );
                let Some(number) = number else {
                    return record.problem(t, format!("L{link} cancelled {call:?}: unknown call"));
                };
                if self.calls.remove(&(link, call)).is_none() {
                    return record
                        .problem(t, format!("L{link} #{number}: cancelled after its end"));
                }
                self.end(
                    number,
                    ServerEnd::EngineEnded {
                        code: status.code(),
                    },
                    t,
                    record,
                );
                // The engine keeps an ended call until the handler lets go.
                conn.cancel(call);
            }
            ServerEvent::Closed { error } => {
                record.note(t, format_args!("L{link} server closed {error:?}"));
            }
            other => record.note(t, format_args!("L{link} server event {other:?}")),
        }
    }

    /// Reads the requests that arrived, checking each.
    pub fn read(
        &mut self,
        conn: &mut ServerConnection,
        link: u32,
        call: CallId,
        t: Duration,
        record: &mut Record,
    ) {
        loop {
            let Some(c) = self.calls.get_mut(&(link, call)) else {
                return;
            };
            match conn.recv_message(call) {
                Ok(Some(message)) => {
                    let expected = payload(c.number, c.next_request, message.len(), false);
                    if message != expected {
                        record.problem(
                            t,
                            format!(
                                "L{link} #{}: request {} is not what was sent",
                                c.number, c.next_request
                            ),
                        );
                    }
                    c.next_request += 1;
                    self.ledger.entry(c.number).or_default().requests += 1;
                    if c.decision.echo && c.answer_at.is_none() {
                        let len = message_len(&mut Rng::new(c.number ^ c.next_request as u64));
                        c.decision.responses.insert(0, len);
                        // Sent now, ahead of the answer.
                        self.send_responses(conn, link, call, 1, t, record);
                    }
                }
                Ok(None) => {
                    record.note(t, format_args!("L{link} server half-closed #{}", c.number));
                    c.readable = false;
                    if c.answer_at.is_none() {
                        c.answer_at = Some(t + c.decision.delay);
                    }
                    return;
                }
                Err(RecvError::Blocked) => {
                    c.readable = false;
                    return;
                }
                // Over; the Cancelled event says why.
                Err(RecvError::Cancelled(_)) | Err(RecvError::Closed) => return,
                Err(RecvError::Failed(status)) => {
                    return record
                        .problem(t, format!("L{link} #{}: recv failed: {status}", c.number));
                }
                Err(e) => return record.problem(t, format!("L{link} recv: {e}")),
            }
        }
    }

    /// Queues up to `count` of the call's responses; false if it cannot
    /// take more now.
    pub fn send_responses(
        &mut self,
        conn: &mut ServerConnection,
        link: u32,
        call: CallId,
        count: usize,
        t: Duration,
        record: &mut Record,
    ) -> bool {
        let Some(c) = self.calls.get_mut(&(link, call)) else {
            return false;
        };
        for _ in 0..count {
            if c.waiting_writable {
                return false;
            }
            let Some(&len) = c.decision.responses.first() else {
                return true;
            };
            let message = payload(c.number, c.sent, len, true);
            match conn.send_message(call, Bytes::from(message)) {
                Ok(()) => {
                    c.decision.responses.remove(0);
                    c.sent += 1;
                    self.ledger.entry(c.number).or_default().sent.push(len);
                }
                Err(SendError::NotReady) => {
                    c.waiting_writable = true;
                    return false;
                }
                // The engine ended the call; its Cancelled event follows.
                Err(SendError::Closed) => return false,
                Err(e) => {
                    record.problem(t, format!("L{link} #{}: send failed: {e}", c.number));
                    return false;
                }
            }
        }
        true
    }

    /// Sends the responses, then ends the call as decided.
    pub fn answer(
        &mut self,
        conn: &mut ServerConnection,
        link: u32,
        call: CallId,
        t: Duration,
        record: &mut Record,
    ) {
        if !self.send_responses(conn, link, call, usize::MAX, t, record) {
            return;
        }
        let Some(c) = self.calls.get(&(link, call)) else {
            return;
        };
        if !c.decision.responses.is_empty() {
            return;
        }
        let number = c.number;
        let end = match &c.decision.status {
            None => {
                conn.cancel(call);
                ServerEnd::HandlerCancelled
            }
            Some(status) => match conn.finish(call, status.clone(), &c.decision.trailers) {
                Ok(()) => ServerEnd::Finished {
                    code: status.code(),
                    message: status.message().to_owned(),
                    trailers: metadata_text(&c.decision.trailers),
                },
                Err(CallError::Closed) => {
                    // The engine ended it first; the Cancelled event says how.
                    record.note(t, format_args!("L{link} server finish #{number}: closed"));
                    return;
                }
                Err(e) => return record.problem(t, format!("L{link} #{number}: finish: {e}")),
            },
        };
        record.note(t, format_args!("L{link} server ends #{number} {end:?}"));
        self.calls.remove(&(link, call));
        self.end(number, end, t, record);
    }

    /// Does what is due on connection `link`: deferred reads, answers.
    pub fn act(
        &mut self,
        conn: &mut ServerConnection,
        link: u32,
        t: Duration,
        record: &mut Record,
    ) -> bool {
        let due: Vec<(CallId, bool, bool)> = self
            .calls
            .iter()
            .filter(|((l, _), _)| *l == link)
            .filter_map(|(&(_, id), c)| {
                let read = c.readable && c.read_from <= t;
                let answer = !c.waiting_writable && c.answer_at.is_some_and(|at| at <= t);
                (read || answer).then_some((id, read, answer))
            })
            .collect();
        for &(id, read, answer) in &due {
            if read {
                self.read(conn, link, id, t, record);
            }
            if answer {
                self.answer(conn, link, id, t, record);
            }
        }
        !due.is_empty()
    }

    pub fn next_timer(&self) -> Option<Duration> {
        self.calls
            .values()
            .flat_map(|c| {
                let read = c.readable.then_some(c.read_from);
                let answer = c.answer_at.filter(|_| !c.waiting_writable);
                [read, answer]
            })
            .flatten()
            .min()
    }
}
