//! Per-message compression: [`OutboundMessage`] (a message to send and
//! whether to compress it), [`InboundMessage`] (a received message and
//! whether it came compressed) and [`ResponseItem`] (what a server's response
//! stream may yield).
//!
//! gRPC chooses a call's encoding once, in its headers (`grpc-encoding`),
//! but each message carries its own Compressed-Flag, so a sender may send
//! some messages of a compressed call uncompressed (grpc-java's
//! `setMessageCompression(false)`): already-compressed media, say, or
//! messages too small to gain anything.
//!
//! [`MessageFramer`] encodes and frames a call's messages outside the
//! connection's lock, in a buffer it reuses.

use std::fmt;

use bytes::BytesMut;

use crate::Status;
use crate::codec::Codec;
use crate::codec::compression::Encoding;
use crate::proto::{FramedMessage, SendOptions};

/// A message to send, and whether to compress it.
///
/// Streams of plain messages keep working: every `T` converts into an
/// `OutboundMessage<T>` that is compressed with the call's encoding. Wrap a
/// message only to send it uncompressed on a compressed call:
///
/// ```
/// use ferrule_core::api::OutboundMessage;
///
/// let plain: OutboundMessage<&str> = "hello".into();
/// assert!(plain.compress());
/// let raw = OutboundMessage::uncompressed("already gzipped bytes");
/// assert!(!raw.compress());
/// ```
///
/// A request stream (client streaming and bidirectional calls) may yield
/// `T` or `OutboundMessage<T>`; a server's response stream may yield
/// `Result<T, Status>` or `Result<OutboundMessage<T>, Status>` (see
/// [`ResponseItem`]).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct OutboundMessage<T> {
    message: T,
    compress: bool,
}

impl<T> OutboundMessage<T> {
    /// `message`, compressed with the call's encoding (when the call has
    /// one): what a plain `T` becomes.
    pub fn new(message: T) -> OutboundMessage<T> {
        OutboundMessage {
            message,
            compress: true,
        }
    }

    /// `message`, sent uncompressed (Compressed-Flag 0) even on a call
    /// whose encoding is gzip or zstd.
    pub fn uncompressed(message: T) -> OutboundMessage<T> {
        OutboundMessage {
            message,
            compress: false,
        }
    }

    /// The same message, compressed with the call's encoding if `compress`,
    /// uncompressed otherwise.
    #[must_use]
    pub fn with_compression(mut self, compress: bool) -> OutboundMessage<T> {
        self.compress = compress;
        self
    }

    /// Whether the message is compressed with the call's encoding. On a
    /// call without one (identity) no message is compressed, whatever this
    /// says.
    pub fn compress(&self) -> bool {
        self.compress
    }

    /// The message.
    pub fn get_ref(&self) -> &T {
        &self.message
    }

    /// The message, consuming the wrapper.
    pub fn into_inner(self) -> T {
        self.message
    }

    /// The engine's options for this message.
    pub(crate) fn send_options(&self) -> SendOptions {
        SendOptions {
            compress: self.compress,
            ..SendOptions::default()
        }
    }
}

impl<T> From<T> for OutboundMessage<T> {
    fn from(message: T) -> OutboundMessage<T> {
        OutboundMessage::new(message)
    }
}

impl<T: fmt::Debug> fmt::Debug for OutboundMessage<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutboundMessage")
            .field("message", &self.message)
            .field("compress", &self.compress)
            .finish()
    }
}

/// A received message, and whether the peer sent it compressed (its
/// Compressed-Flag was 1). What [`Streaming::message_flagged`] returns.
///
/// [`Streaming::message_flagged`]: super::Streaming::message_flagged
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct InboundMessage<T> {
    /// The message, decompressed and decoded.
    pub message: T,
    /// Whether it travelled compressed.
    pub compressed: bool,
}

/// What a server's response stream may yield: `Result<T, Status>` or
/// `Result<OutboundMessage<T>, Status>` (through the blanket implementation
/// for `Result<M, Status>` where `M: Into<OutboundMessage<T>>`).
///
/// Generated service traits bound their response streams with it
/// (`type ListBooksStream: Stream<Item: ResponseItem<Book>>`), so a stream of
/// `Result<Book, Status>` needs no change. An `Err` ends the call with that
/// status.
pub trait ResponseItem<T> {
    /// The message to send, or the status that ends the call.
    fn into_outbound(self) -> Result<OutboundMessage<T>, Status>;
}

impl<T, M: Into<OutboundMessage<T>>> ResponseItem<T> for Result<M, Status> {
    fn into_outbound(self) -> Result<OutboundMessage<T>, Status> {
        self.map(Into::into)
    }
}

/// Encodes, compresses and frames the messages one task sends on one call,
/// before the connection's lock is taken: the engine only queues the bytes.
/// The buffer is reused from message to message once the engine let go of
/// the previous one.
#[derive(Debug)]
pub(crate) struct MessageFramer {
    encoding: Encoding,
    buf: BytesMut,
    /// The least room the buffer is grown by for the next message: none
    /// for a call's first message unless it is known to stream (most calls
    /// send one, and get a buffer of its size), a stream's worth after.
    room: usize,
}

/// The room a framer keeps for the messages of a stream: they are framed
/// side by side, so the engine joins them into DATA frames' worth without
/// copying. Two frames' worth, so that most frames are full ones.
const STREAM_ROOM: usize = 32 * 1024;

impl MessageFramer {
    /// A framer for a call whose messages are compressed with `encoding`.
    pub(crate) fn new(encoding: Encoding) -> MessageFramer {
        MessageFramer {
            encoding,
            buf: BytesMut::new(),
            room: 0,
        }
    }

    /// A framer for the messages of a stream: they share a stream's worth
    /// of room from the first one, so the first ones go out in one write.
    pub(crate) fn for_stream(encoding: Encoding) -> MessageFramer {
        MessageFramer {
            room: STREAM_ROOM,
            ..MessageFramer::new(encoding)
        }
    }

    /// Frames `item`, compressed if `options` say so and the call has an
    /// encoding. The codec's own error status is kept as it is.
    pub(crate) fn frame<C: Codec>(
        &mut self,
        codec: &mut C,
        item: &C::Encode,
        options: SendOptions,
    ) -> Result<FramedMessage, Status> {
        let encoding = options.encoding(self.encoding);
        let size_hint = codec.encoded_len(item);
        if self.room > 0 {
            let needed = size_hint.unwrap_or(0).saturating_add(5);
            if self.buf.capacity() < needed {
                self.buf.reserve(needed.max(self.room));
            }
        }
        self.room = STREAM_ROOM;
        let mut codec_error = None;
        // The engine applies the max send size to the framed message.
        let framed = FramedMessage::encode(
            &mut self.buf,
            encoding,
            usize::MAX,
            size_hint,
            |buf: &mut BytesMut| {
                codec.encode(item, buf).map_err(|status| {
                    let text = status.message().to_owned();
                    codec_error = Some(status);
                    text
                })
            },
        );
        framed.map_err(|err| match (codec_error, err) {
            (Some(status), _) => status,
            (None, err) => Status::from(err),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item<I: ResponseItem<u8>>(i: I) -> Result<OutboundMessage<u8>, Status> {
        i.into_outbound()
    }

    #[test]
    fn plain_messages_are_compressed_and_wrappers_keep_their_choice() {
        let table = [
            (item(Ok::<u8, Status>(1)), true),
            (item(Ok::<_, Status>(OutboundMessage::new(2u8))), true),
            (
                item(Ok::<_, Status>(OutboundMessage::uncompressed(3u8))),
                false,
            ),
            (
                item(Ok::<_, Status>(
                    OutboundMessage::uncompressed(4u8).with_compression(true),
                )),
                true,
            ),
            (
                item(Ok::<_, Status>(
                    OutboundMessage::new(5u8).with_compression(false),
                )),
                false,
            ),
        ];
        for (n, (result, compress)) in table.into_iter().enumerate() {
            let outbound = result.expect("a message");
            assert_eq!(outbound.compress(), compress, "row {n}");
            assert_eq!(outbound.send_options().compress, compress, "row {n}");
            assert_eq!(usize::from(*outbound.get_ref()), n + 1);
        }
    }

    #[test]
    fn errors_pass_through() {
        let status = item(Err::<u8, Status>(Status::not_found("gone"))).expect_err("an error");
        assert_eq!(status.message(), "gone");
        let status =
            item(Err::<OutboundMessage<u8>, Status>(Status::aborted("x"))).expect_err("an error");
        assert_eq!(status.code(), crate::Code::ABORTED);
    }

    #[test]
    fn into_inner_gives_the_message_back() {
        let m: OutboundMessage<String> = String::from("x").into();
        assert_eq!(m.into_inner(), "x");
        assert_eq!(
            format!("{:?}", OutboundMessage::uncompressed(1u8)),
            "OutboundMessage { message: 1, compress: false }"
        );
    }
}
