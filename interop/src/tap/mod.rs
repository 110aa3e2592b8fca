//! A wire tap: what the interop cases need to know about the bytes on the
//! wire and ferrule's API does not tell.
//!
//! # Why
//! The compression cases check the **Compressed-Flag of each message**:
//! `expect_compressed` on the server, `response_compressed` /
//! `ResponseParameters.compressed` on the client. ferrule's engine reads the
//! flag and then drops it: `Inbound::take` (core/src/proto/stream.rs)
//! decompresses and returns plain bytes, so `ServerConnection::recv_message`
//! / `ClientConnection::recv_message` and everything above them (handlers'
//! requests, `Streaming`) cannot say whether a message arrived compressed.
//! The cancellation cases want to see that a dropped call really reset its
//! stream, which the API also does not report (a dropped call has no status
//! left to read).
//!
//! # How
//! [`Tapped`] wraps the socket under h2 (a [`TapListener`] on the server, a
//! [`TapConnector`] on the client) and follows the HTTP/2 frames both ways
//! (`frames::FrameWatcher`): every gRPC message received is recorded with
//! its flag and a [`Digest`] of its body *after* decompression, which is what
//! the application sees; the client side also records the streams it opens
//! and the RST_STREAM codes it sends. A handler (or a client case) computes
//! the digest of the message it got (see [`crate::codec::CaptureCodec`]) and
//! [`WireLog::take_received`] finds it. The tap only observes: bytes pass
//! through unchanged.
//!
//! Matching is by content: a call's first message is looked up on the
//! stream of the newest byte-identical message, later ones on the stream
//! found for the first, oldest first. Two concurrent calls on one connection
//! whose first messages are byte-identical but differently compressed could
//! swap; the interop clients run one case at a time, so this does not arise.
//! A message the tap did not see (or could not decompress) is reported as
//! unknown, and the checks treat unknown as a failure, never as a pass.

mod frames;

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, VecDeque};
use std::hash::Hasher;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use bytes::BytesMut;
use ferrule::Encoding;
use ferrule::codec::compression::decompress;
use ferrule::core::api::{Connector, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use frames::{Event, FrameWatcher};

/// The HTTP/2 client connection preface's length.
const PREFACE_LEN: usize = 24;
/// The largest message body (before or after decompression) the tap keeps
/// to identify; twice gRPC's default limit, so the limit checks are covered.
pub const MAX_TAPPED_MESSAGE: usize = 8 << 20;
/// Records kept per connection; older ones are dropped.
const MAX_RECORDS: usize = 1024;

/// Identifies a message body: its length and a hash of its bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Digest {
    len: usize,
    hash: u64,
}

impl Digest {
    /// The digest of `body` (a message as the application sees it).
    pub fn of(body: &[u8]) -> Digest {
        let mut hasher = DefaultHasher::new();
        hasher.write(body);
        Digest {
            len: body.len(),
            hash: hasher.finish(),
        }
    }
}

/// A stream of one connection the tap saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StreamRef {
    /// Which connection (the tap numbers them in the order they were made).
    pub connection: u64,
    /// The HTTP/2 stream id.
    pub stream: u32,
}

/// A received message found with [`WireLog::take_received`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeenMessage {
    /// The stream it came on.
    pub stream: StreamRef,
    /// Whether its Compressed-Flag was set.
    pub compressed: bool,
}

#[derive(Debug)]
struct Received {
    stream: StreamRef,
    compressed: bool,
    digest: Option<Digest>,
}

#[derive(Debug, Default)]
struct LogState {
    received: VecDeque<Received>,
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

/// The body as the application sees it: compressed bodies are inflated
/// (gzip or zlib "deflate", recognised by their headers); `None` if that
/// fails.
fn plain_digest(compressed: bool, body: &[u8]) -> Option<Digest> {
    if !compressed {
        return Some(Digest::of(body));
    }
    let gzip = body.starts_with(&[0x1f, 0x8b]);
    let order = if gzip {
        [Encoding::Gzip, Encoding::Deflate]
    } else {
        [Encoding::Deflate, Encoding::Gzip]
    };
    order.into_iter().find_map(|encoding| {
        let mut out = BytesMut::new();
        decompress(encoding, body, &mut out, MAX_TAPPED_MESSAGE)
            .ok()
            .map(|()| Digest::of(&out))
    })
}

impl WireLog {
    /// An empty log.
    pub fn new() -> Arc<WireLog> {
        Arc::new(WireLog::default())
    }

    fn lock(&self) -> MutexGuard<'_, LogState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn record_received(&self, connection: u64, event: Event) {
        let mut state = self.lock();
        match event {
            Event::Message {
                stream,
                compressed,
                body,
            } => {
                let digest = body.and_then(|body| plain_digest(compressed, &body));
                let stream = StreamRef { connection, stream };
                push_bounded(
                    &mut state.received,
                    Received {
                        stream,
                        compressed,
                        digest,
                    },
                );
            }
            Event::Lost => state.lost = true,
            Event::Headers { .. } | Event::Reset { .. } => {}
        }
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

    /// Finds and removes a received message whose body (after
    /// decompression) has `digest`: on `stream` if given, else on the
    /// stream of the newest such message (a call being handled now is newer
    /// than any earlier call whose messages nobody claimed); within the
    /// stream, the oldest (a stream's messages are read in order). `None` if
    /// the tap did not see such a message.
    pub fn take_received(&self, digest: Digest, stream: Option<StreamRef>) -> Option<SeenMessage> {
        let mut state = self.lock();
        let stream = match stream {
            Some(stream) => stream,
            None => {
                state
                    .received
                    .iter()
                    .rev()
                    .find(|r| r.digest == Some(digest))?
                    .stream
            }
        };
        let index = state
            .received
            .iter()
            .position(|r| r.digest == Some(digest) && r.stream == stream)?;
        let found = state.received.remove(index)?;
        Some(SeenMessage {
            stream: found.stream,
            compressed: found.compressed,
        })
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

/// Which end of the connection a [`Tapped`] stream is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    Server,
    Client,
}

/// The server's logs, by the client's address: a handler finds its
/// connection's log through its call's
/// [`peer_addr`](ferrule::CallContext::peer_addr).
#[derive(Debug, Default)]
pub struct ConnectionTaps {
    logs: Mutex<HashMap<SocketAddr, Arc<WireLog>>>,
}

impl ConnectionTaps {
    /// A registry with no connection.
    pub fn new() -> Arc<ConnectionTaps> {
        Arc::new(ConnectionTaps::default())
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<SocketAddr, Arc<WireLog>>> {
        self.logs.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The log of the open connection from `peer`.
    pub fn log_for(&self, peer: SocketAddr) -> Option<Arc<WireLog>> {
        self.lock().get(&peer).cloned()
    }

    fn forget(&self, peer: SocketAddr, log: &Arc<WireLog>) {
        let mut logs = self.lock();
        if logs.get(&peer).is_some_and(|l| Arc::ptr_eq(l, log)) {
            logs.remove(&peer);
        }
    }
}

static CONNECTIONS: AtomicU64 = AtomicU64::new(0);

/// A byte stream with a tap on it. Bytes pass through unchanged.
pub struct Tapped<T> {
    io: T,
    connection: u64,
    end: End,
    inbound: FrameWatcher,
    /// Client side only: the requests' HEADERS and RST_STREAM.
    outbound: Option<FrameWatcher>,
    log: Arc<WireLog>,
    registration: Option<(Arc<ConnectionTaps>, SocketAddr)>,
    events: Vec<Event>,
}

impl<T> Tapped<T> {
    fn new(io: T, end: End, log: Arc<WireLog>) -> Tapped<T> {
        let (inbound_skip, outbound) = match end {
            End::Server => (PREFACE_LEN, None),
            End::Client => (
                0,
                Some(FrameWatcher::new(PREFACE_LEN, false, MAX_TAPPED_MESSAGE)),
            ),
        };
        Tapped {
            io,
            connection: CONNECTIONS.fetch_add(1, Ordering::Relaxed),
            end,
            inbound: FrameWatcher::new(inbound_skip, true, MAX_TAPPED_MESSAGE),
            outbound,
            log,
            registration: None,
            events: Vec::new(),
        }
    }

    fn saw_received(&mut self, bytes: &[u8]) {
        self.inbound.feed(bytes, &mut self.events);
        for event in self.events.drain(..) {
            self.log.record_received(self.connection, event);
        }
    }

    fn saw_sent(&mut self, bytes: &[u8]) {
        if let Some(outbound) = &mut self.outbound {
            outbound.feed(bytes, &mut self.events);
            for event in self.events.drain(..) {
                self.log.record_sent(self.connection, event);
            }
        }
    }
}

impl<T> std::fmt::Debug for Tapped<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tapped")
            .field("connection", &self.connection)
            .field("end", &self.end)
            .finish_non_exhaustive()
    }
}

impl<T> Drop for Tapped<T> {
    fn drop(&mut self) {
        if let Some((taps, peer)) = self.registration.take() {
            taps.forget(peer, &self.log);
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Tapped<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let result = Pin::new(&mut this.io).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = result {
            this.saw_received(&buf.filled()[before..]);
        }
        result
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

/// A [`Listener`] whose connections are tapped, each with a log registered
/// in a [`ConnectionTaps`] under the client's address.
#[derive(Debug)]
pub struct TapListener<L> {
    inner: L,
    taps: Arc<ConnectionTaps>,
}

impl<L> TapListener<L> {
    /// Taps the connections `inner` accepts.
    pub fn new(inner: L, taps: Arc<ConnectionTaps>) -> TapListener<L> {
        TapListener { inner, taps }
    }
}

impl<L: Listener> Listener for TapListener<L> {
    type Io = Tapped<L::Io>;

    async fn accept(&mut self) -> io::Result<(Tapped<L::Io>, Option<SocketAddr>)> {
        let (io, peer) = self.inner.accept().await?;
        let log = WireLog::new();
        let mut tapped = Tapped::new(io, End::Server, Arc::clone(&log));
        if let Some(peer) = peer {
            self.taps.lock().insert(peer, log);
            tapped.registration = Some((Arc::clone(&self.taps), peer));
        }
        Ok((tapped, peer))
    }

    fn local_addr(&self) -> Option<SocketAddr> {
        self.inner.local_addr()
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
        Ok(Tapped::new(io, End::Client, Arc::clone(&self.log)))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use ferrule::codec::compression::compress;

    fn received(log: &WireLog, connection: u64, stream: u32, compressed: bool, body: &[u8]) {
        log.record_received(
            connection,
            Event::Message {
                stream,
                compressed,
                body: Some(body.to_vec()),
            },
        );
    }

    fn gzip(plain: &[u8]) -> Vec<u8> {
        let mut wire = BytesMut::new();
        compress(Encoding::Gzip, plain, &mut wire).unwrap();
        wire.to_vec()
    }

    #[test]
    fn compressed_messages_are_found_by_their_plain_digest() {
        let log = WireLog::new();
        let plain = vec![7u8; 1000];
        for (stream, encoding) in [(1, Encoding::Gzip), (3, Encoding::Deflate)] {
            let mut wire = BytesMut::new();
            compress(encoding, &plain, &mut wire).unwrap();
            received(&log, 0, stream, true, &wire);
        }
        let newest = log.take_received(Digest::of(&plain), None).unwrap();
        assert_eq!(newest.stream.stream, 3);
        assert!(newest.compressed);
        let older = log.take_received(Digest::of(&plain), None).unwrap();
        assert_eq!(older.stream.stream, 1);
        assert_eq!(log.take_received(Digest::of(&plain), None), None);
    }

    #[test]
    fn a_call_finds_its_stream_by_the_newest_match_then_reads_it_in_order() {
        let log = WireLog::new();
        let on = |stream| StreamRef {
            connection: 0,
            stream,
        };
        // An earlier call's message nobody claimed, then a call whose two
        // identical messages differ in compression.
        received(&log, 0, 1, false, b"same");
        received(&log, 0, 3, true, &gzip(b"same"));
        received(&log, 0, 3, false, b"same");
        let first = log.take_received(Digest::of(b"same"), None).unwrap();
        assert_eq!((first.stream, first.compressed), (on(3), true));
        let second = log.take_received(Digest::of(b"same"), Some(on(3))).unwrap();
        assert_eq!((second.stream, second.compressed), (on(3), false));
        assert_eq!(log.take_received(Digest::of(b"same"), Some(on(3))), None);
        let stale = log.take_received(Digest::of(b"same"), None).unwrap();
        assert_eq!(stale.stream, on(1));
        assert_eq!(log.take_received(Digest::of(b"other"), None), None);
    }

    #[test]
    fn undecodable_compressed_bodies_never_match() {
        let log = WireLog::new();
        received(&log, 0, 1, true, b"not gzip at all");
        assert_eq!(
            log.take_received(Digest::of(b"not gzip at all"), None),
            None
        );
    }

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
    }

    #[test]
    fn the_log_is_bounded() {
        let log = WireLog::new();
        for i in 0..(MAX_RECORDS as u32 + 10) {
            received(&log, 0, 1, false, &i.to_be_bytes());
        }
        assert_eq!(
            log.take_received(Digest::of(&0u32.to_be_bytes()), None),
            None
        );
        assert!(
            log.take_received(Digest::of(&(MAX_RECORDS as u32).to_be_bytes()), None)
                .is_some()
        );
    }
}
