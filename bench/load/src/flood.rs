//! Frame floods: one HTTP/2 connection that, after the handshake, sends one
//! kind of control frame as fast as the server takes them (WINDOW_UPDATE on
//! the connection, PRIORITY on an idle stream, or empty SETTINGS), while a
//! reader takes and drops everything the server answers, so only the server's
//! cost per frame limits the rate. Each frame is legal on its own and the
//! flood never breaks the protocol: the server must keep the connection,
//! spend little per frame, and hold its memory flat.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;

use crate::BoxError;

/// The kind of frame a flood sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FloodFrame {
    /// WINDOW_UPDATE on stream 0, increment 1 (the connection window grows
    /// by one byte a frame: millions of frames stay far below 2^31).
    WindowUpdate,
    /// PRIORITY on stream 1 (idle: never opened), depending on stream 0.
    Priority,
    /// An empty SETTINGS frame, which the server must acknowledge.
    Settings,
}

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// Frames written per `write_all`: one buffer, one system call.
const FRAMES_PER_WRITE: usize = 4096;

fn frame(out: &mut Vec<u8>, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
    let len = u32::try_from(payload.len()).unwrap_or(0).to_be_bytes();
    out.extend_from_slice(&len[1..]);
    out.push(kind);
    out.push(flags);
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
}

impl FloodFrame {
    fn encode(self, out: &mut Vec<u8>) {
        match self {
            FloodFrame::WindowUpdate => frame(out, 0x8, 0, 0, &1u32.to_be_bytes()),
            FloodFrame::Priority => frame(out, 0x2, 0, 1, &[0, 0, 0, 0, 15]),
            FloodFrame::Settings => frame(out, 0x4, 0, 0, &[]),
        }
    }
}

/// A connection ready to flood: handshake done, a reader draining the
/// server's answers.
pub struct Flood {
    writer: OwnedWriteHalf,
    batch: Vec<u8>,
    reading: Arc<AtomicBool>,
}

impl Flood {
    /// Connects and completes the HTTP/2 handshake (our preface and
    /// SETTINGS, the server's SETTINGS acknowledged).
    pub async fn connect(addr: SocketAddr, kind: FloodFrame) -> Result<Flood, BoxError> {
        let tcp = TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        let (mut reader, mut writer) = tcp.into_split();
        let mut opening = PREFACE.to_vec();
        frame(&mut opening, 0x4, 0, 0, &[]);
        writer.write_all(&opening).await?;
        // The server's first frame is its SETTINGS: acknowledge it.
        let mut header = [0u8; 9];
        reader.read_exact(&mut header).await?;
        if header[3] != 0x4 {
            return Err(format!(
                "the server's first frame is of type {:#x}, not SETTINGS",
                header[3]
            )
            .into());
        }
        let len = u32::from_be_bytes([0, header[0], header[1], header[2]]) as usize;
        let mut payload = vec![0u8; len];
        reader.read_exact(&mut payload).await?;
        let mut ack = Vec::new();
        frame(&mut ack, 0x4, 0x1, 0, &[]);
        writer.write_all(&ack).await?;
        let reading = Arc::new(AtomicBool::new(true));
        let still = Arc::clone(&reading);
        tokio::spawn(async move {
            let mut sink = vec![0u8; 64 * 1024];
            while let Ok(n) = reader.read(&mut sink).await {
                if n == 0 {
                    break;
                }
            }
            still.store(false, Ordering::SeqCst);
        });
        let mut batch = Vec::with_capacity(FRAMES_PER_WRITE * 14);
        for _ in 0..FRAMES_PER_WRITE {
            kind.encode(&mut batch);
        }
        Ok(Flood {
            writer,
            batch,
            reading,
        })
    }

    /// Floods for `duration`; returns how many frames were sent and the
    /// time it took. Fails if the server closes the connection.
    pub async fn run(&mut self, duration: Duration) -> Result<(u64, Duration), BoxError> {
        let started = Instant::now();
        let mut frames = 0u64;
        while started.elapsed() < duration {
            if !self.reading.load(Ordering::SeqCst) {
                return Err("the server closed the connection during the flood".into());
            }
            self.writer.write_all(&self.batch).await?;
            frames += FRAMES_PER_WRITE as u64;
        }
        Ok((frames, started.elapsed()))
    }
}
