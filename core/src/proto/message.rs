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
    /// How many bytes the message's encoding appends, when the caller knows
    /// ([`Codec::encoded_len`](crate::codec::codec::Codec::encoded_len)): the
    /// call's first message then gets a buffer of exactly its size, which
    /// becomes [`Bytes`] without a shared header to allocate. `None` lets the
    /// engine guess. A wrong hint costs a reallocation, nothing worse.
    pub encoded_len: Option<usize>,
}

impl Default for SendOptions {
    fn default() -> SendOptions {
        SendOptions {
            compress: true,
            encoded_len: None,
        }
    }
}

impl SendOptions {
    /// Options that send the message uncompressed.
    pub fn uncompressed() -> SendOptions {
        SendOptions {
            compress: false,
            encoded_len: None,
        }
    }

    /// These options with the message's encoded length, if known.
    pub fn with_encoded_len(self, encoded_len: Option<usize>) -> SendOptions {
        SendOptions {
            encoded_len,
            ..self
        }
    }

    /// The bytes framing the message appends when it is framed with
    /// `encoding`, if known: prefix and message uncompressed; unknown when
    /// compressed (0).
    pub(crate) fn framed_len_hint(self, encoding: Encoding) -> usize {
        match (encoding, self.encoded_len) {
            (Encoding::Identity, Some(len)) => HEADER_LEN.saturating_add(len),
            _ => 0,
        }
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

/// How many bytes [`frame_bytes`] appends for a payload of `len` bytes, when
/// that is known in advance (0 when compressed).
pub(crate) fn framed_len(len: usize, encoding: Encoding) -> usize {
    match encoding {
        Encoding::Identity if len <= COPY_THRESHOLD => HEADER_LEN.saturating_add(len),
        Encoding::Identity => HEADER_LEN,
        _ => 0,
    }
}

/// Frames `payload`, appending it to `dst` (a call's buffer of messages
/// waiting to be sent). A message too large to copy has only its prefix
/// appended; it is returned, to be queued right after `dst`'s bytes. On an
/// error `dst` is left as it was.
pub(crate) fn frame_bytes(
    payload: Bytes,
    encoding: Encoding,
    max: usize,
    dst: &mut BytesMut,
) -> Result<Option<Bytes>, SendError> {
    let encoder = MessageEncoder::new().with_max_message_size(max);
    if encoding != Encoding::Identity {
        encoder.encode_with(dst, true, |body| {
            compress(encoding, &payload, body).map_err(|e| SendError::Encode(e.to_string()))
        })?;
        return Ok(None);
    }
    if payload.len() <= COPY_THRESHOLD {
        encoder.encode(dst, false, &payload).map_err(frame_error)?;
        return Ok(None);
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
    dst.extend_from_slice(&encode_header(0, len));
    Ok(Some(payload))
}

/// Frames a message written in place by `encode`, appending it to `dst`. On
/// an error `dst` is left as it was.
pub(crate) fn frame_with<E, F>(
    encoding: Encoding,
    max: usize,
    dst: &mut BytesMut,
    encode: F,
) -> Result<(), SendError>
where
    E: Display,
    F: FnOnce(&mut BytesMut) -> Result<(), E>,
{
    let encoder = MessageEncoder::new().with_max_message_size(max);
    if encoding == Encoding::Identity {
        encoder.encode_with(dst, false, |body| {
            encode(body).map_err(|e| SendError::Encode(e.to_string()))
        })?;
        return Ok(());
    }
    let mut plain = BytesMut::new();
    encode(&mut plain).map_err(|e| SendError::Encode(e.to_string()))?;
    encoder.encode_with(dst, true, |body| {
        compress(encoding, &plain, body).map_err(|e| SendError::Encode(e.to_string()))
    })?;
    Ok(())
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
    fn a_known_encoded_len_is_a_hint_only_for_uncompressed_messages() {
        let known = SendOptions::default().with_encoded_len(Some(10));
        assert_eq!(known.framed_len_hint(Encoding::Identity), HEADER_LEN + 10);
        assert_eq!(known.framed_len_hint(Encoding::Gzip), 0);
        assert_eq!(
            SendOptions::default().framed_len_hint(Encoding::Identity),
            0
        );
        assert!(
            !SendOptions::uncompressed()
                .with_encoded_len(Some(3))
                .compress,
            "with_encoded_len keeps the other options"
        );
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
        let mut dst = BytesMut::new();
        let big = frame_bytes(
            Bytes::from_static(b"hi"),
            SendOptions::uncompressed().encoding(Encoding::Gzip),
            100,
            &mut dst,
        )
        .unwrap();
        assert!(big.is_none());
        assert_eq!(&dst[..], b"\x00\x00\x00\x00\x02hi");
    }

    #[test]
    fn small_messages_are_appended_behind_what_is_buffered() {
        let mut dst = BytesMut::from(&b"queued"[..]);
        let big =
            frame_bytes(Bytes::from_static(b"hi"), Encoding::Identity, 100, &mut dst).unwrap();
        assert!(big.is_none());
        let big = frame_bytes(Bytes::new(), Encoding::Identity, 100, &mut dst).unwrap();
        assert!(big.is_none());
        frame_with(Encoding::Identity, 100, &mut dst, |b: &mut BytesMut| {
            b.extend_from_slice(b"xy");
            Ok::<(), String>(())
        })
        .unwrap();
        assert_eq!(
            &dst[..],
            b"queued\x00\x00\x00\x00\x02hi\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02xy"
        );
    }

    #[test]
    fn large_messages_are_not_copied() {
        let payload = Bytes::from(vec![7u8; COPY_THRESHOLD + 1]);
        let mut dst = BytesMut::new();
        let big = frame_bytes(payload.clone(), Encoding::Identity, usize::MAX, &mut dst).unwrap();
        assert_eq!(dst.len(), HEADER_LEN);
        assert_eq!(big.unwrap().as_ptr(), payload.as_ptr());
    }

    #[test]
    fn limits_apply_on_every_path_and_leave_the_buffer_alone() {
        let mut dst = BytesMut::from(&b"queued"[..]);
        assert_eq!(
            frame_bytes(Bytes::from_static(b"abc"), Encoding::Identity, 2, &mut dst).unwrap_err(),
            SendError::MessageTooLarge { len: 3, max: 2 }
        );
        let big = Bytes::from(vec![0u8; COPY_THRESHOLD + 10]);
        assert!(matches!(
            frame_bytes(big, Encoding::Identity, COPY_THRESHOLD, &mut dst),
            Err(SendError::MessageTooLarge { .. })
        ));
        let err = frame_with(Encoding::Identity, 2, &mut dst, |b: &mut BytesMut| {
            b.extend_from_slice(b"abc");
            Ok::<(), String>(())
        })
        .unwrap_err();
        assert_eq!(err, SendError::MessageTooLarge { len: 3, max: 2 });
        assert_eq!(&dst[..], b"queued");
    }

    /// `framed_len` is exactly what `frame_bytes` appends, when it says.
    #[quickcheck_macros::quickcheck]
    fn framed_len_predicts_the_bytes_appended(len: u16, large: bool, gzip: bool) -> bool {
        let len = usize::from(len) + if large { COPY_THRESHOLD } else { 0 };
        let encoding = if gzip {
            Encoding::Gzip
        } else {
            Encoding::Identity
        };
        let mut dst = BytesMut::from(&b"queued"[..]);
        let hint = framed_len(len, encoding);
        match frame_bytes(Bytes::from(vec![1u8; len]), encoding, usize::MAX, &mut dst) {
            Ok(_) => hint == 0 || dst.len() - 6 == hint,
            // Without the gzip feature, compression is refused.
            Err(_) => gzip && hint == 0,
        }
    }

    #[test]
    fn encoder_errors_are_reported() {
        let mut dst = BytesMut::new();
        let err = frame_with(Encoding::Identity, 10, &mut dst, |b: &mut BytesMut| {
            b.extend_from_slice(b"partial");
            Err("boom")
        })
        .unwrap_err();
        assert_eq!(err, SendError::Encode("boom".into()));
        assert!(dst.is_empty(), "a failed encoding leaves nothing behind");
        frame_with(Encoding::Identity, 10, &mut dst, |b: &mut BytesMut| {
            b.extend_from_slice(b"x");
            Ok::<(), &str>(())
        })
        .unwrap();
        assert_eq!(&dst[..], b"\x00\x00\x00\x00\x01x");
    }
}
