//! How a fuzz target drives its engine: through the embedder's byte
//! interface (`handle_input`, `poll_transmit`, `handle_eof`), or along the
//! path production runs — `with_io` over an in-memory socket, `drive_io`
//! only when the engine woke its task, as the async layer's driver is
//! polled. The input chooses; both reach every state.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Wake, Waker};
use std::time::Instant;

use ferrule_core::proto::{Connection, MemoryTransport, Side};

/// A task waker that notes it was woken.
#[derive(Default)]
struct Woken(AtomicBool);

impl Wake for Woken {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

struct Task {
    socket: MemoryTransport,
    woken: Arc<Woken>,
    waker: Waker,
}

/// An engine and how it is driven.
pub struct Engine<S: Side> {
    conn: Connection<S, MemoryTransport>,
    task: Option<Task>,
}

impl<S: Side> Engine<S> {
    /// A connection driven as production drives it if `production`.
    pub fn new(config: S::Config, outbound_limit: usize, now: Instant, production: bool) -> Self {
        if !production {
            return Engine {
                conn: Connection::new(config, now),
                task: None,
            };
        }
        let woken = Arc::new(Woken(AtomicBool::new(true)));
        let task = Task {
            socket: MemoryTransport::new(outbound_limit),
            waker: Waker::from(Arc::clone(&woken)),
            woken,
        };
        let conn = Connection::with_io(task.socket.clone(), config, now);
        let mut engine = Engine {
            conn,
            task: Some(task),
        };
        engine.run(now);
        engine
    }

    /// Polls the engine's task while it was woken, as an executor would;
    /// then checks that no work is left without a wake (which would stall
    /// a real driver).
    pub fn run(&mut self, now: Instant) {
        let Some(task) = &self.task else {
            return;
        };
        for _ in 0..1000 {
            if !task.woken.0.swap(false, Ordering::SeqCst) {
                break;
            }
            self.conn.drive_io(now, &task.waker);
        }
        let pending = self.conn.poll_timeout().is_some_and(|at| at <= now);
        assert!(
            !pending || task.woken.0.load(Ordering::SeqCst),
            "the engine has work but did not wake its task"
        );
    }

    /// Whether the engine takes more input now.
    pub fn wants_input(&self) -> bool {
        match &self.task {
            None => self.conn.wants_input(),
            // The socket takes what comes; h2 reads as it can.
            Some(task) => task.socket.inbound_len() < 256 * 1024,
        }
    }

    /// Bytes from the peer.
    pub fn input(&mut self, now: Instant, bytes: &[u8]) {
        match &self.task {
            None => self.conn.handle_input(now, bytes),
            Some(task) => {
                task.socket.push_inbound(bytes);
                self.run(now);
            }
        }
    }

    /// The peer closed its side.
    pub fn eof(&mut self, now: Instant) {
        match &self.task {
            None => self.conn.handle_eof(now),
            Some(task) => {
                task.socket.close_inbound();
                self.run(now);
            }
        }
    }

    /// Bytes for the peer, at most `buf.len()`.
    pub fn transmit(&mut self, now: Instant, buf: &mut [u8]) -> usize {
        if self.task.is_none() {
            return self.conn.poll_transmit(now, buf);
        }
        self.run(now);
        let n = self.task.as_ref().map_or(0, |t| t.socket.take_outbound(buf));
        // Taking bytes may wake a writer that found no room.
        self.run(now);
        n
    }

    /// Time passed: the timers due, then the task if woken.
    pub fn timeout(&mut self, now: Instant) {
        self.conn.handle_timeout(now);
        self.run(now);
    }
}

impl<S: Side> Deref for Engine<S> {
    type Target = Connection<S, MemoryTransport>;

    fn deref(&self) -> &Self::Target {
        &self.conn
    }
}

impl<S: Side> DerefMut for Engine<S> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.conn
    }
}
