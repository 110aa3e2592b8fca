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
    /// When the task was last polled.
    last_poll: Option<Instant>,
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
            last_poll: None,
        };
        let conn = Connection::with_io(task.socket.clone(), config, now);
        let mut engine = Engine {
            conn,
            task: Some(task),
        };
        engine.run(now);
        engine
    }

    /// Polls the engine's task as the async layer's driver does: while it
    /// was woken or a timer is due, `drive_io`, then the timers due. Checks
    /// first that work queued since the last poll at this same instant
    /// woke the task (a driver waiting on it would stall otherwise; when
    /// time has passed, the due timers are the driver's timer firing), and
    /// that the rounds end (a driver would spin otherwise).
    pub fn run(&mut self, now: Instant) {
        let Some(task) = &mut self.task else {
            return;
        };
        let due =
            |conn: &Connection<S, MemoryTransport>| conn.poll_timeout().is_some_and(|at| at <= now);
        if task.last_poll == Some(now) {
            assert!(
                !due(&self.conn) || task.woken.0.load(Ordering::SeqCst),
                "the engine has work but did not wake its task"
            );
        }
        let mut rounds = 0;
        loop {
            let woken = task.woken.0.swap(false, Ordering::SeqCst);
            if !woken && !due(&self.conn) {
                break;
            }
            rounds += 1;
            assert!(
                rounds <= 1000,
                "the engine still has work after 1,000 rounds"
            );
            self.conn.drive_io(now, &task.waker);
            if due(&self.conn) {
                self.conn.handle_timeout(now);
            }
        }
        task.last_poll = Some(now);
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
        let n = self
            .task
            .as_ref()
            .map_or(0, |t| t.socket.take_outbound(buf));
        // Taking bytes may wake a writer that found no room.
        self.run(now);
        n
    }

    /// Time passed: the timers due (on the production path, as the
    /// driver's timer fires), then the task if woken.
    pub fn timeout(&mut self, now: Instant) {
        if self.task.is_none() {
            self.conn.handle_timeout(now);
        }
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
