//! The simulation's network: one direction of a connection ([`Wire`]) as
//! TCP delivers it — in order, late by a latency drawn per chunk, cut into
//! chunks of random sizes — that can be closed (EOF after the last byte)
//! or cut (the bytes in flight are lost, and the receiver sees EOF after a
//! latency, as after a reset). Time is a [`Duration`] since the start of
//! the simulation; nothing here reads a clock.

use std::collections::VecDeque;
use std::time::Duration;

use super::sim_rng::Rng;

/// What the receiving end gets next.
#[derive(Debug, PartialEq, Eq)]
pub enum Arrival {
    Bytes(Vec<u8>),
    Eof,
}

/// One direction of a simulated TCP connection.
#[derive(Debug)]
pub struct Wire {
    /// Bytes in flight, each chunk with the time it arrives; arrival
    /// times never decrease (TCP delivers in order).
    chunks: VecDeque<(Duration, Vec<u8>)>,
    /// This direction's latency: every chunk takes at least this long...
    base_latency: Duration,
    /// ...plus up to this much.
    jitter: Duration,
    /// When the last chunk sent arrives: later chunks arrive no earlier.
    last_arrival: Duration,
    /// When the receiver sees the end of the stream, once the sender
    /// closed or the connection was cut.
    eof_at: Option<Duration>,
    eof_delivered: bool,
    /// Cut: what is sent from now on is lost.
    cut: bool,
    /// Bytes sent and bytes delivered, for the transcript.
    pub sent: u64,
    pub delivered: u64,
}

impl Wire {
    pub fn new(rng: &mut Rng) -> Wire {
        let base_latency = rng.micros(0, 5_000);
        Wire {
            chunks: VecDeque::new(),
            jitter: base_latency / 2,
            base_latency,
            last_arrival: Duration::ZERO,
            eof_at: None,
            eof_delivered: false,
            cut: false,
            sent: 0,
            delivered: 0,
        }
    }

    pub fn base_latency(&self) -> Duration {
        self.base_latency
    }

    fn latency(&self, rng: &mut Rng) -> Duration {
        let jitter = u64::try_from(self.jitter.as_micros()).unwrap_or(u64::MAX);
        self.base_latency + rng.micros(0, jitter)
    }

    /// Sends `bytes` at `now`: cut into chunks (usually few and large,
    /// sometimes many and tiny), each arriving after a latency, in order.
    pub fn send(&mut self, now: Duration, bytes: &[u8], rng: &mut Rng) {
        if self.cut || self.eof_at.is_some() || bytes.is_empty() {
            return;
        }
        self.sent += bytes.len() as u64;
        let mut rest = bytes;
        while !rest.is_empty() {
            let len = match rng.below(100) {
                // Whole.
                0..70 => rest.len(),
                // A few pieces.
                70..95 => rng.size(1, rest.len().max(2) / 2 + 1),
                // Tiny pieces: a frame header split across reads.
                _ => rng.size(1, 16),
            }
            .min(rest.len());
            let (chunk, tail) = rest.split_at(len);
            let arrival = (now + self.latency(rng)).max(self.last_arrival);
            self.last_arrival = arrival;
            self.chunks.push_back((arrival, chunk.to_vec()));
            rest = tail;
        }
    }

    /// The sender closed its side: the receiver sees EOF after the bytes
    /// in flight.
    pub fn close(&mut self, now: Duration, rng: &mut Rng) {
        if self.eof_at.is_none() {
            let at = (now + self.latency(rng)).max(self.last_arrival);
            self.eof_at = Some(at);
        }
    }

    /// The connection broke at `now`: the bytes in flight are lost, what
    /// is sent later too, and the receiver sees EOF after a latency.
    pub fn cut(&mut self, now: Duration, rng: &mut Rng) {
        self.chunks.clear();
        self.cut = true;
        let at = now + self.latency(rng);
        self.eof_at = Some(self.eof_at.map_or(at, |eof| eof.min(at)));
    }

    /// When the next arrival is due, if anything is still to arrive.
    pub fn next_arrival(&self) -> Option<Duration> {
        match self.chunks.front() {
            Some((at, _)) => Some(*at),
            None if !self.eof_delivered => self.eof_at,
            None => None,
        }
    }

    /// The next arrival, if it is due at `now`.
    pub fn take_due(&mut self, now: Duration) -> Option<Arrival> {
        if self.chunks.front().is_some_and(|(at, _)| *at <= now) {
            let (_, bytes) = self.chunks.pop_front()?;
            self.delivered += bytes.len() as u64;
            return Some(Arrival::Bytes(bytes));
        }
        if self.chunks.is_empty() && !self.eof_delivered && self.eof_at.is_some_and(|at| at <= now)
        {
            self.eof_delivered = true;
            return Some(Arrival::Eof);
        }
        None
    }

    /// Bytes sent and not yet delivered.
    pub fn in_flight(&self) -> usize {
        self.chunks.iter().map(|(_, c)| c.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wire_delivers_everything_in_order_then_eof() {
        let mut rng = Rng::new(3);
        let mut wire = Wire::new(&mut rng);
        let data: Vec<u8> = (0..=255).cycle().take(10_000).collect();
        wire.send(Duration::ZERO, &data[..6_000], &mut rng);
        wire.send(Duration::from_micros(10), &data[6_000..], &mut rng);
        wire.close(Duration::from_micros(20), &mut rng);
        let mut got = Vec::new();
        let mut now = Duration::ZERO;
        let mut eof = false;
        while let Some(at) = wire.next_arrival() {
            assert!(at >= now, "arrivals go forward");
            now = at;
            while let Some(arrival) = wire.take_due(now) {
                match arrival {
                    Arrival::Bytes(bytes) => got.extend(bytes),
                    Arrival::Eof => eof = true,
                }
            }
        }
        assert_eq!(got, data);
        assert!(eof);
    }

    #[test]
    fn a_cut_wire_loses_what_is_in_flight() {
        let mut rng = Rng::new(4);
        let mut wire = Wire::new(&mut rng);
        wire.send(Duration::ZERO, b"lost", &mut rng);
        wire.cut(Duration::ZERO, &mut rng);
        wire.send(Duration::ZERO, b"lost too", &mut rng);
        let at = wire.next_arrival().expect("the EOF");
        assert_eq!(wire.take_due(at), Some(Arrival::Eof));
        assert_eq!(wire.next_arrival(), None);
    }
}
