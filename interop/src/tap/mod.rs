//! A wire tap for what the interop cases need to know about the bytes on the
//! wire and ferrule's API does not tell: that a dropped call really reset its
//! stream. The cancellation cases (`cancel_after_begin`,
//! `cancel_after_first_response`) drop the call, after which there is no
//! status left to read, and check the client's RST_STREAM(CANCEL) here.
//!
//! (The Compressed-Flag of each message, which this tap used to recover,
//! now comes from the API: `Request::message_compressed`,
//! `Response::message_compressed`, `Streaming::message_flagged`.)
//!
//! # How
//! [`Tapped`] wraps the socket under h2 on the client (a [`TapConnector`])
//! and follows the HTTP/2 frames it sends (`frames::FrameWatcher`),
//! recording the streams its HEADERS open and the RST_STREAM codes. The tap
//! only observes: bytes pass through unchanged.

mod frames;

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use ferrule::core::api::Connector;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use frames::{Event, FrameWatcher};

/// The HTTP/2 client connection preface's length.
const PREFACE_LEN: usize = 24;
/// Records kept per connection; older ones are dropped.
const MAX_RECORDS: usize = 1024;

/// A stream of one connection the tap saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StreamRef {
    /// Which connection (the tap numbers them in the order they were made).
    pub connection: u64,
    /// The HTTP/2 stream id.
    pub stream: u32,
}

#[derive(Debug, Default)]
struct LogState {
    opened: VecDeque<StreamRef>,
    resets: VecDeque<(StreamRef, u32)>,
    lost: bool,
}

/// What the tap recorded for the connections it wrapped.
#[derive(Debug, Default)]
pub struct WireLog {
    state: Mutex<LogState>,
}

fn push_bounded<T>(queue: &mut VecDeque<T>, item: T) {
    if queue.len() == MAX_RECORDS {
        queue.pop_front();
    }
    queue.push_back(item);
}

impl WireLog {
    /// An empty log.
    pub fn new() -> Arc<WireLog> {
        Arc::new(WireLog::default())
    }

    fn lock(&self) -> MutexGuard<'_, LogState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn record_sent(&self, connection: u64, event: Event) {
        let mut state = self.lock();
        match event {
            Event::Headers { stream } => {
                let stream = StreamRef { connection, stream };
                if !state.opened.contains(&stream) {
                    push_bounded(&mut state.opened, stream);
                }
            }
            Event::Reset { stream, code } => {
                push_bounded(&mut state.resets, (StreamRef { connection, stream }, code));
            }
            Event::Lost => state.lost = true,
            Event::Message { .. } => {}
        }
    }

    /// The stream the client side opened last (its latest HEADERS).
    pub fn last_opened(&self) -> Option<StreamRef> {
        self.lock().opened.back().copied()
    }

    /// The code of the RST_STREAM the client side sent on `stream`, if any.
    pub fn reset_code(&self, stream: StreamRef) -> Option<u32> {
        let state = self.lock();
        state
            .resets
            .iter()
            .find(|(s, _)| *s == stream)
            .map(|(_, code)| *code)
    }

    /// Whether the tap lost track of a connection's frames.
    pub fn lost_track(&self) -> bool {
        self.lock().lost
    }
}

static CONNECTIONS: AtomicU64 = AtomicU64::new(0);

/// A client's byte stream with a tap on what it sends. Bytes pass through
/// unchanged.
pub struct Tapped<T> {
    io: T,
    connection: u64,
    /// The requests' HEADERS and RST_STREAM.
    outbound: FrameWatcher,
    log: Arc<WireLog>,
    events: Vec<Event>,
}

impl<T> Tapped<T> {
    fn new(io: T, log: Arc<WireLog>) -> Tapped<T> {
        Tapped {
            io,
            connection: CONNECTIONS.fetch_add(1, Ordering::Relaxed),
            // Frames only: message bodies are not reassembled.
            outbound: FrameWatcher::new(PREFACE_LEN, false, 0),
            log,
            events: Vec::new(),
        }
    }

    fn saw_sent(&mut self, bytes: &[u8]) {
        self.outbound.feed(bytes, &mut self.events);
        for event in self.events.drain(..) {
            self.log.record_sent(self.connection, event);
        }
    }
}

impl<T> std::fmt::Debug for Tapped<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tapped")
            .field("connection", &self.connection)
            .finish_non_exhaustive()
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Tapped<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Tapped<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.io).poll_write(cx, data);
        if let Poll::Ready(Ok(n)) = result {
            this.saw_sent(&data[..n.min(data.len())]);
        }
        result
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(mut n)) = result {
            for buf in bufs {
                if n == 0 {
                    break;
                }
                let taken = n.min(buf.len());
                this.saw_sent(&buf[..taken]);
                n -= taken;
            }
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// A [`Connector`] whose connections are tapped into one shared log.
#[derive(Debug)]
pub struct TapConnector<C> {
    inner: C,
    log: Arc<WireLog>,
}

impl<C> TapConnector<C> {
    /// Taps the connections `inner` makes into `log`.
    pub fn new(inner: C, log: Arc<WireLog>) -> TapConnector<C> {
        TapConnector { inner, log }
    }
}

impl<C: Connector> Connector for TapConnector<C> {
    type Io = Tapped<C::Io>;

    async fn connect(&self) -> io::Result<Tapped<C::Io>> {
        let io = self.inner.connect().await?;
        Ok(Tapped::new(io, Arc::clone(&self.log)))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn sent_headers_and_resets_are_kept_per_connection() {
        let log = WireLog::new();
        log.record_sent(0, Event::Headers { stream: 1 });
        log.record_sent(1, Event::Headers { stream: 1 });
        log.record_sent(1, Event::Reset { stream: 1, code: 8 });
        let newest = log.last_opened().unwrap();
        assert_eq!(
            newest,
            StreamRef {
                connection: 1,
                stream: 1
            }
        );
        assert_eq!(log.reset_code(newest), Some(8));
        let old = StreamRef {
            connection: 0,
            stream: 1,
        };
        assert_eq!(log.reset_code(old), None);
        assert!(!log.lost_track());
        log.record_sent(0, Event::Lost);
        assert!(log.lost_track());
    }

    #[test]
    fn the_log_is_bounded() {
        let log = WireLog::new();
        for stream in 0..(MAX_RECORDS as u32 + 10) {
            log.record_sent(0, Event::Reset { stream, code: 8 });
        }
        let at = |stream| StreamRef {
            connection: 0,
            stream,
        };
        assert_eq!(log.reset_code(at(0)), None, "the oldest was dropped");
        assert_eq!(log.reset_code(at(MAX_RECORDS as u32 + 9)), Some(8));
    }

    #[test]
    fn a_tapped_write_records_what_it_sent() {
        // The client preface, then HEADERS on stream 1 and RST_STREAM(CANCEL).
        let mut wire = vec![0u8; PREFACE_LEN];
        wire.extend_from_slice(&[0, 0, 0, 0x1, 0x4, 0, 0, 0, 1]);
        wire.extend_from_slice(&[0, 0, 4, 0x3, 0, 0, 0, 0, 1, 0, 0, 0, 8]);
        let log = WireLog::new();
        let mut tapped = Tapped::new(Vec::<u8>::new(), Arc::clone(&log));
        // In two pieces, split inside a frame header.
        tapped.saw_sent(&wire[..PREFACE_LEN + 4]);
        tapped.saw_sent(&wire[PREFACE_LEN + 4..]);
        let stream = log.last_opened().unwrap();
        assert_eq!(stream.stream, 1);
        assert_eq!(log.reset_code(stream), Some(8));
    }
}
