//! Framing outgoing messages (5-byte prefix, optional compression) into the
//! buffers a call's [`Outbound`](super::stream::Outbound) queues.

use std::fmt::Display;

use bytes::{Bytes, BytesMut};

use crate::codec::compression::{Encoding, compress};
use crate::codec::frame::{FrameError, HEADER_LEN, MessageEncoder, encode_header};

use super::error::SendError;

/// How one message is sent.
///
/// The default compresses with the call's encoding, as
/// `send_message` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    pub(crate) fn encoding(self, call: Encoding) -> Encoding {
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

/// Messages at most this long are copied behind their prefix into one buffer
/// (one DATA frame); longer ones are queued as prefix + the caller's buffer,
/// without a copy.
const COPY_THRESHOLD: usize = 16 * 1024;

fn frame_error(err: FrameError) -> SendError {
    match err {
        FrameError::SentMessageTooLarge { len, max } => SendError::MessageTooLarge { len, max },
        FrameError::MessageTooLongForFrame { len } => SendError::MessageTooLarge {
            len,
            max: u32::MAX as usize,
        },
        other => SendError::Encode(other.to_string()),
    }
}

/// Frames `payload`: one or two buffers to queue, in order.
pub(crate) fn frame_bytes(
    payload: Bytes,
    encoding: Encoding,
    max: usize,
) -> Result<(Bytes, Option<Bytes>), SendError> {
    let encoder = MessageEncoder::new().with_max_message_size(max);
    if encoding != Encoding::Identity {
        let mut buf = BytesMut::new();
        encoder.encode_with(&mut buf, true, |body| {
            compress(encoding, &payload, body).map_err(|e| SendError::Encode(e.to_string()))
        })?;
        return Ok((buf.freeze(), None));
    }
    if payload.len() <= COPY_THRESHOLD {
        let mut buf = BytesMut::with_capacity(HEADER_LEN + payload.len());
        encoder
            .encode(&mut buf, false, &payload)
            .map_err(frame_error)?;
        return Ok((buf.freeze(), None));
    }
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
    let header = Bytes::copy_from_slice(&encode_header(0, len));
    Ok((header, Some(payload)))
}

/// Frames a message written in place by `encode`.
pub(crate) fn frame_with<E, F>(
    encoding: Encoding,
    max: usize,
    encode: F,
) -> Result<Bytes, SendError>
where
    E: Display,
    F: FnOnce(&mut BytesMut) -> Result<(), E>,
{
    let encoder = MessageEncoder::new().with_max_message_size(max);
    let mut buf = BytesMut::new();
    if encoding == Encoding::Identity {
        encoder.encode_with(&mut buf, false, |body| {
            encode(body).map_err(|e| SendError::Encode(e.to_string()))
        })?;
        return Ok(buf.freeze());
    }
    let mut plain = BytesMut::new();
    encode(&mut plain).map_err(|e| SendError::Encode(e.to_string()))?;
    encoder.encode_with(&mut buf, true, |body| {
        compress(encoding, &plain, body).map_err(|e| SendError::Encode(e.to_string()))
    })?;
    Ok(buf.freeze())
}

impl From<FrameError> for SendError {
    fn from(err: FrameError) -> SendError {
        frame_error(err)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

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
        let (a, _) = frame_bytes(
            Bytes::from_static(b"hi"),
            SendOptions::uncompressed().encoding(Encoding::Gzip),
            100,
        )
        .unwrap();
        assert_eq!(&a[..], b"\x00\x00\x00\x00\x02hi");
    }

    #[test]
    fn small_messages_are_one_buffer() {
        let (a, b) = frame_bytes(Bytes::from_static(b"hi"), Encoding::Identity, 100).unwrap();
        assert_eq!(&a[..], b"\x00\x00\x00\x00\x02hi");
        assert!(b.is_none());
        let (a, b) = frame_bytes(Bytes::new(), Encoding::Identity, 100).unwrap();
        assert_eq!(&a[..], b"\x00\x00\x00\x00\x00");
        assert!(b.is_none());
    }

    #[test]
    fn large_messages_are_not_copied() {
        let payload = Bytes::from(vec![7u8; COPY_THRESHOLD + 1]);
        let (a, b) = frame_bytes(payload.clone(), Encoding::Identity, usize::MAX).unwrap();
        assert_eq!(a.len(), HEADER_LEN);
        assert_eq!(b.unwrap().as_ptr(), payload.as_ptr());
    }

    #[test]
    fn limits_apply_on_every_path() {
        assert_eq!(
            frame_bytes(Bytes::from_static(b"abc"), Encoding::Identity, 2).unwrap_err(),
            SendError::MessageTooLarge { len: 3, max: 2 }
        );
        let big = Bytes::from(vec![0u8; COPY_THRESHOLD + 10]);
        assert!(matches!(
            frame_bytes(big, Encoding::Identity, COPY_THRESHOLD),
            Err(SendError::MessageTooLarge { .. })
        ));
        let err = frame_with(Encoding::Identity, 2, |b: &mut BytesMut| {
            b.extend_from_slice(b"abc");
            Ok::<(), String>(())
        })
        .unwrap_err();
        assert_eq!(err, SendError::MessageTooLarge { len: 3, max: 2 });
    }

    #[test]
    fn encoder_errors_are_reported() {
        let err = frame_with(Encoding::Identity, 10, |_: &mut BytesMut| Err("boom")).unwrap_err();
        assert_eq!(err, SendError::Encode("boom".into()));
        let ok = frame_with(Encoding::Identity, 10, |b: &mut BytesMut| {
            b.extend_from_slice(b"x");
            Ok::<(), &str>(())
        })
        .unwrap();
        assert_eq!(&ok[..], b"\x00\x00\x00\x00\x01x");
    }
}
