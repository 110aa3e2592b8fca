//! Messages on their way in and out of a call, as values the application
//! can handle outside the engine (and outside any lock held around it):
//! [`FramedMessage`], a message framed for the wire (5-byte prefix,
//! compressed or not) before the engine queues it; [`RawMessage`], a
//! received message still as it travelled, which [`RawMessage::decode`]
//! decompresses; [`ReceivedMessage`], the decoded result.

use std::fmt::Display;

use bytes::{Bytes, BytesMut};

use crate::Status;
use crate::codec::compression::{Encoding, compress, decompress, message_encoding};
use crate::codec::frame::{FrameError, HEADER_LEN, MessageEncoder, encode_header};

use super::error::SendError;

/// How one message is sent by
/// [`send_message_options`](super::Connection::send_message_options).
///
/// The default compresses with the call's encoding, as `send_message` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SendOptions {
    /// Whether to compress this message with the call's encoding (the
    /// `grpc-encoding` its headers announce). `false` sends it uncompressed
    /// (compressed flag 0) even when the call has an encoding, as grpc-java's
    /// `setMessageCompression(false)` does; with the identity encoding every
    /// message is uncompressed whatever this says.
    pub compress: bool,
}

impl Default for SendOptions {
    fn default() -> SendOptions {
        SendOptions { compress: true }
    }
}

impl SendOptions {
    /// Options that send the message uncompressed.
    pub fn uncompressed() -> SendOptions {
        SendOptions { compress: false }
    }

    /// The encoding a message is framed with on a call using `call`.
    pub fn encoding(self, call: Encoding) -> Encoding {
        if self.compress {
            call
        } else {
            Encoding::Identity
        }
    }
}

/// A received message and how it travelled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMessage {
    /// The message, decompressed.
    pub data: Bytes,
    /// Whether the peer sent it compressed (its compressed flag was 1).
    pub compressed: bool,
}

/// A received message as it travelled: compressed when its flag says so.
/// [`decode`](Self::decode) checks the flag against the call's encoding and
/// decompresses within the call's receive limit. Taking a message raw from
/// the engine ([`recv_raw`](super::Connection::recv_raw)) and decoding it
/// afterwards keeps decompression out of whatever lock guards the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawMessage {
    data: Bytes,
    compressed: bool,
    encoding: Encoding,
    max_size: usize,
}

impl RawMessage {
    pub(crate) fn new(data: Bytes, compressed: bool, encoding: Encoding, max_size: usize) -> Self {
        RawMessage {
            data,
            compressed,
            encoding,
            max_size,
        }
    }

    /// Whether the peer sent it compressed (its compressed flag was 1).
    pub fn is_compressed(&self) -> bool {
        self.compressed
    }

    /// The bytes as they arrived (after the 5-byte prefix).
    pub fn payload(&self) -> &Bytes {
        &self.data
    }

    /// The message, decompressed. A compressed flag on a call without an
    /// encoding, a body that does not decompress, or one that decompresses
    /// beyond the max receive size is an error status (`INTERNAL` or
    /// `RESOURCE_EXHAUSTED`); the call must then end with it.
    pub fn decode(self) -> Result<ReceivedMessage, Status> {
        let compressed = self.compressed;
        let data = match message_encoding(self.encoding, compressed)? {
            Encoding::Identity => self.data,
            encoding => {
                let mut out = BytesMut::new();
                decompress(encoding, &self.data, &mut out, self.max_size)?;
                out.freeze()
            }
        };
        Ok(ReceivedMessage { data, compressed })
    }
}

/// Messages at most this long are copied behind their prefix into one buffer
/// (one DATA frame with the messages around them); longer ones are queued as
/// they are, without a copy.
pub(crate) const COPY_THRESHOLD: usize = 16 * 1024;

/// A message framed for the wire: the 5-byte prefix (compressed flag and
/// length) and the message, compressed or not, ready for
/// [`send_framed`](super::Connection::send_framed). Made outside the engine,
/// so encoding and compression happen outside whatever lock guards it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FramedMessage {
    repr: Framed,
    /// The encoding the message was compressed with (`Identity` for flag 0).
    encoding: Encoding,
    /// Small and in a buffer of its own (framed from given bytes): copied
    /// behind the messages waiting, so that they go out together.
    standalone: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Framed {
    /// Prefix and message in one buffer: a piece of the framer's buffer,
    /// which the engine joins to the piece before it without a copy when
    /// they lie side by side.
    Whole(BytesMut),
    /// A large message kept where it was, behind its prefix.
    Split {
        prefix: [u8; HEADER_LEN],
        payload: Bytes,
    },
}

impl FramedMessage {
    /// Frames the message `encode` writes, compressed with `encoding`
    /// (`Identity`: uncompressed), refusing one longer than `max` bytes on
    /// the wire. `buf` is where it is built: its spare room is used and the
    /// message is split off it, so a buffer kept between messages is reused
    /// once the engine let go of the previous one (a `BytesMut` reclaims its
    /// allocation when it is the only owner). `size_hint`, when known, is
    /// how many bytes `encode` appends: the buffer is sized once.
    ///
    /// # Errors
    /// [`SendError::Encode`] with `encode`'s error or a compression failure;
    /// [`SendError::MessageTooLarge`] over `max`. `buf` keeps its length.
    pub fn encode<E, F>(
        buf: &mut BytesMut,
        encoding: Encoding,
        max: usize,
        size_hint: Option<usize>,
        encode: F,
    ) -> Result<FramedMessage, SendError>
    where
        E: Display,
        F: FnOnce(&mut BytesMut) -> Result<(), E>,
    {
        buf.clear();
        let encoder = MessageEncoder::new().with_max_message_size(max);
        if encoding == Encoding::Identity {
            buf.reserve(HEADER_LEN.saturating_add(size_hint.unwrap_or(0)));
            encoder.encode_with(buf, false, |body| {
                encode(body).map_err(|e| SendError::Encode(e.to_string()))
            })?;
        } else {
            let mut plain = BytesMut::with_capacity(size_hint.unwrap_or(0));
            encode(&mut plain).map_err(|e| SendError::Encode(e.to_string()))?;
            encoder.encode_with(buf, true, |body| {
                compress(encoding, &plain, body).map_err(|e| SendError::Encode(e.to_string()))
            })?;
        }
        // A buffer filled exactly is handed over whole: splitting it would
        // make it shared, which costs an allocation.
        let framed = if buf.len() == buf.capacity() {
            std::mem::take(buf)
        } else {
            buf.split()
        };
        Ok(FramedMessage {
            repr: Framed::Whole(framed),
            encoding,
            standalone: false,
        })
    }

    /// Frames `payload`, compressed with `encoding` (`Identity`:
    /// uncompressed), refusing one longer than `max` bytes on the wire. An
    /// uncompressed payload longer than 16 KiB is not copied.
    pub fn from_bytes(
        payload: Bytes,
        encoding: Encoding,
        max: usize,
    ) -> Result<FramedMessage, SendError> {
        if encoding == Encoding::Identity && payload.len() > COPY_THRESHOLD {
            if payload.len() > max {
                return Err(SendError::MessageTooLarge {
                    len: payload.len(),
                    max,
                });
            }
            let len = u32::try_from(payload.len()).map_err(|_| SendError::MessageTooLarge {
                len: payload.len(),
                max: u32::MAX as usize,
            })?;
            return Ok(FramedMessage {
                repr: Framed::Split {
                    prefix: encode_header(0, len),
                    payload,
                },
                encoding,
                standalone: false,
            });
        }
        let mut buf = BytesMut::new();
        let hint = (encoding == Encoding::Identity).then_some(payload.len());
        let framed =
            FramedMessage::encode(&mut buf, encoding, max, hint, |body: &mut BytesMut| {
                body.extend_from_slice(&payload);
                Ok::<(), SendError>(())
            })?;
        Ok(FramedMessage {
            standalone: true,
            ..framed
        })
    }

    /// The encoding the message was compressed with (`Identity` if not).
    pub fn encoding(&self) -> Encoding {
        self.encoding
    }

    /// Bytes on the wire, prefix included.
    pub fn len(&self) -> usize {
        match &self.repr {
            Framed::Whole(bytes) => bytes.len(),
            Framed::Split { payload, .. } => HEADER_LEN.saturating_add(payload.len()),
        }
    }

    /// Whether it is empty (never: the prefix is always there).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The message's length without the prefix.
    pub(crate) fn message_len(&self) -> usize {
        self.len().saturating_sub(HEADER_LEN)
    }

    /// Whether it is small and in a buffer of its own (to be copied behind
    /// the messages waiting).
    pub(crate) fn is_standalone(&self) -> bool {
        self.standalone
    }

    /// The bytes to queue: the framed bytes (all of them, or the prefix of a
    /// large payload), and a large payload to queue as it is.
    pub(crate) fn into_parts(self) -> (BytesMut, Option<Bytes>) {
        match self.repr {
            Framed::Whole(bytes) => (bytes, None),
            Framed::Split { prefix, payload } => (BytesMut::from(&prefix[..]), Some(payload)),
        }
    }
}

impl From<FrameError> for SendError {
    fn from(err: FrameError) -> SendError {
        match err {
            FrameError::SentMessageTooLarge { len, max } => SendError::MessageTooLarge { len, max },
            FrameError::MessageTooLongForFrame { len } => SendError::MessageTooLarge {
                len,
                max: u32::MAX as usize,
            },
            other => SendError::Encode(other.to_string()),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn whole(framed: FramedMessage) -> Vec<u8> {
        let (head, tail) = framed.into_parts();
        let mut out = head.to_vec();
        if let Some(tail) = tail {
            out.extend_from_slice(&tail);
        }
        out
    }

    #[test]
    fn uncompressed_options_frame_with_flag_zero() {
        let table = [
            (
                SendOptions::default(),
                Encoding::Identity,
                Encoding::Identity,
            ),
            (
                SendOptions::uncompressed(),
                Encoding::Identity,
                Encoding::Identity,
            ),
            (SendOptions::default(), Encoding::Gzip, Encoding::Gzip),
            (
                SendOptions::uncompressed(),
                Encoding::Gzip,
                Encoding::Identity,
            ),
        ];
        for (options, call, want) in table {
            assert_eq!(options.encoding(call), want, "{options:?} on {call}");
        }
        let framed =
            FramedMessage::from_bytes(Bytes::from_static(b"hi"), Encoding::Identity, 100).unwrap();
        assert_eq!(framed.len(), 7);
        assert_eq!(whole(framed), b"\x00\x00\x00\x00\x02hi");
    }

    #[test]
    fn large_messages_are_not_copied() {
        let payload = Bytes::from(vec![7u8; COPY_THRESHOLD + 1]);
        let framed =
            FramedMessage::from_bytes(payload.clone(), Encoding::Identity, usize::MAX).unwrap();
        assert_eq!(framed.message_len(), payload.len());
        let (head, tail) = framed.into_parts();
        assert_eq!(&head[..], &encode_header(0, payload.len() as u32));
        assert_eq!(tail.unwrap().as_ptr(), payload.as_ptr());
    }

    #[test]
    fn limits_apply_on_every_path_and_leave_the_buffer_alone() {
        assert_eq!(
            FramedMessage::from_bytes(Bytes::from_static(b"abc"), Encoding::Identity, 2)
                .unwrap_err(),
            SendError::MessageTooLarge { len: 3, max: 2 }
        );
        let big = Bytes::from(vec![0u8; COPY_THRESHOLD + 10]);
        assert!(matches!(
            FramedMessage::from_bytes(big, Encoding::Identity, COPY_THRESHOLD),
            Err(SendError::MessageTooLarge { .. })
        ));
        let mut buf = BytesMut::new();
        let err =
            FramedMessage::encode(&mut buf, Encoding::Identity, 2, None, |b: &mut BytesMut| {
                b.extend_from_slice(b"abc");
                Ok::<(), String>(())
            })
            .unwrap_err();
        assert_eq!(err, SendError::MessageTooLarge { len: 3, max: 2 });
        assert!(buf.is_empty());
    }

    #[test]
    fn encoder_errors_are_reported() {
        let mut buf = BytesMut::new();
        let err = FramedMessage::encode(
            &mut buf,
            Encoding::Identity,
            10,
            None,
            |b: &mut BytesMut| {
                b.extend_from_slice(b"partial");
                Err("boom")
            },
        )
        .unwrap_err();
        assert_eq!(err, SendError::Encode("boom".into()));
        assert!(buf.is_empty(), "a failed encoding leaves nothing behind");
    }

    /// A buffer kept between messages is reused once the framed message
    /// before is dropped: no allocation per message.
    #[test]
    fn a_kept_buffer_is_reused() {
        let mut buf = BytesMut::with_capacity(64);
        let first = FramedMessage::encode(
            &mut buf,
            Encoding::Identity,
            100,
            Some(3),
            |b: &mut BytesMut| {
                b.extend_from_slice(b"one");
                Ok::<(), String>(())
            },
        )
        .unwrap();
        let (head, _) = first.into_parts();
        let at = head.as_ptr();
        drop(head);
        let second = FramedMessage::encode(
            &mut buf,
            Encoding::Identity,
            100,
            Some(3),
            |b: &mut BytesMut| {
                b.extend_from_slice(b"two");
                Ok::<(), String>(())
            },
        )
        .unwrap();
        let (head, _) = second.into_parts();
        assert_eq!(&head[..], b"\x00\x00\x00\x00\x03two");
        let offset = (head.as_ptr() as usize).wrapping_sub(at as usize);
        assert!(offset < 64, "the same allocation ({offset} bytes on)");
    }

    /// Compressed messages decode back; raw messages say how they came.
    #[cfg(feature = "gzip")]
    #[quickcheck_macros::quickcheck]
    fn framed_messages_decode_back(payload: Vec<u8>, gzip: bool) -> bool {
        let encoding = if gzip {
            Encoding::Gzip
        } else {
            Encoding::Identity
        };
        let framed =
            FramedMessage::from_bytes(Bytes::from(payload.clone()), encoding, usize::MAX).unwrap();
        let bytes = whole(framed);
        let compressed = bytes[0] == 1;
        let raw = RawMessage::new(
            Bytes::copy_from_slice(&bytes[5..]),
            compressed,
            encoding,
            usize::MAX,
        );
        let decoded = raw.decode().unwrap();
        decoded.data == payload && decoded.compressed == gzip
    }

    #[test]
    fn a_compressed_flag_without_an_encoding_is_refused() {
        let raw = RawMessage::new(Bytes::from_static(b"x"), true, Encoding::Identity, 10);
        assert_eq!(raw.decode().unwrap_err().code(), crate::Code::INTERNAL);
    }
}
