//! What the simulation's parts share (`tests/simulation.rs`): the four
//! kinds of RPC, the messages (whose bytes say whose they are, so a
//! receiver checks them), metadata as text, and the [`Record`]: the
//! transcript and the problems found.

use std::fmt::{self, Write as _};
use std::time::Duration;

use ferrule_core::Code;
use ferrule_core::codec::metadata::{MetadataMap, MetadataValue};

use crate::sim_rng::Rng;

/// The largest message either end sends.
pub const MAX_MESSAGE: usize = 32 * 1024;

/// The four kinds of RPC, one method each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Unary,
    ServerStreaming,
    ClientStreaming,
    Bidi,
}

impl Kind {
    pub const ALL: [Kind; 4] = [
        Kind::Unary,
        Kind::ServerStreaming,
        Kind::ClientStreaming,
        Kind::Bidi,
    ];

    pub fn path(self) -> &'static str {
        match self {
            Kind::Unary => "/sim.Sim/Unary",
            Kind::ServerStreaming => "/sim.Sim/ServerStreaming",
            Kind::ClientStreaming => "/sim.Sim/ClientStreaming",
            Kind::Bidi => "/sim.Sim/Bidi",
        }
    }

    pub fn from_path(path: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|kind| kind.path() == path)
    }

    pub fn streams_requests(self) -> bool {
        matches!(self, Kind::ClientStreaming | Kind::Bidi)
    }

    pub fn streams_responses(self) -> bool {
        matches!(self, Kind::ServerStreaming | Kind::Bidi)
    }
}

/// The codes a server handler fails calls with: none that the engine or
/// the network produce (`CANCELLED`, `DEADLINE_EXCEEDED`, `UNAVAILABLE`),
/// so that an outcome says who decided it.
pub const HANDLER_CODES: [Code; 10] = [
    Code::INVALID_ARGUMENT,
    Code::NOT_FOUND,
    Code::ALREADY_EXISTS,
    Code::PERMISSION_DENIED,
    Code::RESOURCE_EXHAUSTED,
    Code::FAILED_PRECONDITION,
    Code::ABORTED,
    Code::OUT_OF_RANGE,
    Code::INTERNAL,
    Code::UNAUTHENTICATED,
];

/// The request metadata naming a call (its number in the run).
pub const CALL_NUMBER: &str = "x-sim-call";

/// A message's bytes: whose it is (call, index, direction), then a filler
/// drawn from that (64 bytes repeated: cheap in a debug build), so the
/// receiver can check it byte for byte.
pub fn payload(call: u64, index: usize, len: usize, response: bool) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(len.max(77));
    bytes.extend_from_slice(&call.to_be_bytes());
    bytes.extend_from_slice(&(index as u32).to_be_bytes());
    bytes.push(u8::from(response));
    let mut filler = Rng::new(call.rotate_left(20) ^ ((index as u64) << 1) ^ u64::from(response));
    for _ in 0..8 {
        bytes.extend_from_slice(&filler.next_u64().to_le_bytes());
    }
    while bytes.len() < len {
        let more = (bytes.len() - 13).min(len - bytes.len());
        bytes.extend_from_within(13..13 + more);
    }
    bytes.truncate(len);
    bytes
}

/// FNV-1a over 8-byte words (a word at a time: cheap in a debug build),
/// with the length: what the report says a transcript hashes to.
pub fn digest(bytes: &[u8]) -> (usize, u64) {
    let hash = bytes.chunks(8).fold(0xcbf2_9ce4_8422_2325_u64, |h, chunk| {
        let mut word = [0u8; 8];
        word[..chunk.len()].copy_from_slice(chunk);
        (h ^ u64::from_le_bytes(word)).wrapping_mul(0x0100_0000_01b3)
    });
    (bytes.len(), hash)
}

/// A message length: mostly small, sometimes a few KiB, rarely large
/// enough to wait for flow control.
pub fn message_len(rng: &mut Rng) -> usize {
    match rng.below(10) {
        0..6 => rng.size(0, 100),
        6..9 => rng.size(100, 4096),
        _ => rng.size(4096, MAX_MESSAGE),
    }
}

/// Metadata as the transcript and the checks see it: `key=value` sorted
/// (binary values in hex).
pub fn metadata_text(metadata: &MetadataMap) -> String {
    let mut entries: Vec<String> = metadata
        .iter()
        .map(|(key, value)| match value {
            MetadataValue::Ascii(text) => format!("{key}={text}"),
            MetadataValue::Binary(bytes) => {
                let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
                format!("{key}={hex}")
            }
        })
        .collect();
    entries.sort();
    entries.join(",")
}

pub fn ms(d: Duration) -> String {
    format!("{}.{:03}ms", d.as_millis(), d.as_micros() % 1000)
}

// ----- the record: transcript and problems -----------------------------------

/// What a run writes down: every event and outcome in order with its
/// simulated time, and every broken invariant.
#[derive(Default)]
pub struct Record {
    pub transcript: String,
    pub problems: Vec<String>,
}

impl Record {
    pub fn note(&mut self, t: Duration, what: fmt::Arguments<'_>) {
        let _ = writeln!(
            self.transcript,
            "{}.{:06} {what}",
            t.as_secs(),
            t.subsec_micros()
        );
    }

    pub fn problem(&mut self, t: Duration, what: String) {
        self.note(t, format_args!("PROBLEM {what}"));
        // Enough to diagnose; a flood says nothing more.
        if self.problems.len() < 100 {
            self.problems.push(format!("at {}: {what}", ms(t)));
        }
    }
}
