//! [`Streaming`]: the incoming messages of a call, as a `Stream`.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_core::Stream;

use crate::Status;
use crate::codec::Codec;
use crate::codec::metadata::MetadataMap;

use super::client::call::ClientCall;
use super::message::InboundMessage;
use super::server::call::CallHandle;

type Decoder<T> = Box<dyn FnMut(Bytes) -> Result<T, Status> + Send + Sync>;

/// The stream of messages a call receives: request messages on the server
/// (client and bidirectional streaming), response messages on the client
/// (server and bidirectional streaming).
///
/// Yields `Ok(message)` for each message, then ends (`None`) after the peer
/// finished successfully; a failure (the server's error status, a cancelled
/// call, a message that does not decode, a lost connection) is yielded once as
/// `Err(status)`, then the stream ends.
///
/// Reading applies backpressure: flow-control credit is returned to the peer
/// only as messages are taken, so a slow reader slows its writer.
///
/// On the client, dropping the stream before it ended cancels the call
/// (RST_STREAM CANCEL); [`headers`](Self::headers) waits for the server's
/// response headers (initial metadata), and [`trailers`](Self::trailers)
/// holds the server's trailing metadata once the stream ended.
///
/// [`message_flagged`](Self::message_flagged) also tells whether each message
/// arrived compressed, and [`last_compressed`](Self::last_compressed) does
/// for the message the `Stream` gave last.
pub struct Streaming<T> {
    source: Source,
    decode: Decoder<T>,
    headers: Option<MetadataMap>,
    trailers: Option<MetadataMap>,
    done: bool,
    last_compressed: Option<bool>,
}

enum Source {
    Server(CallHandle),
    Client(ClientCall),
}

impl<T> Streaming<T> {
    fn with_source<C>(source: Source, mut codec: C) -> Streaming<T>
    where
        C: Codec<Decode = T> + Send + Sync + 'static,
    {
        Streaming {
            source,
            decode: Box::new(move |bytes| codec.decode(bytes)),
            headers: None,
            trailers: None,
            done: false,
            last_compressed: None,
        }
    }

    pub(crate) fn server<C>(call: CallHandle, codec: C) -> Streaming<T>
    where
        C: Codec<Decode = T> + Send + Sync + 'static,
    {
        Streaming::with_source(Source::Server(call), codec)
    }

    pub(crate) fn client<C>(call: ClientCall, codec: C) -> Streaming<T>
    where
        C: Codec<Decode = T> + Send + Sync + 'static,
    {
        Streaming::with_source(Source::Client(call), codec)
    }

    /// The next message: `Ok(Some(message))`, `Ok(None)` at the end, or the
    /// call's error status.
    pub async fn message(&mut self) -> Result<Option<T>, Status> {
        match std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await {
            Some(Ok(message)) => Ok(Some(message)),
            Some(Err(status)) => Err(status),
            None => Ok(None),
        }
    }

    /// The next message and whether it arrived compressed (its
    /// Compressed-Flag was 1): `Ok(Some(..))`, `Ok(None)` at the end, or the
    /// call's error status.
    pub async fn message_flagged(&mut self) -> Result<Option<InboundMessage<T>>, Status> {
        let message = self.message().await?;
        Ok(message.map(|message| InboundMessage {
            message,
            compressed: self.last_compressed.unwrap_or(false),
        }))
    }

    /// Whether the message the stream gave last arrived compressed; `None`
    /// before the first message.
    pub fn last_compressed(&self) -> Option<bool> {
        self.last_compressed
    }

    /// Client: the server's response headers (initial metadata), waiting for
    /// them if they have not arrived. A call that failed before any (a
    /// Trailers-Only error) gives its status; one that succeeded without
    /// messages gives empty headers. On the server: empty (the client's
    /// metadata is the request's).
    pub async fn headers(&mut self) -> Result<&MetadataMap, Status> {
        if self.headers.is_none() {
            let headers = match &self.source {
                Source::Client(call) => std::future::poll_fn(|cx| call.poll_headers(cx)).await?,
                Source::Server(_) => MetadataMap::new(),
            };
            self.headers = Some(headers);
        }
        Ok(self.headers.get_or_insert_default())
    }

    /// Client: the server's trailing metadata, once the stream ended.
    pub fn trailers(&self) -> Option<&MetadataMap> {
        self.trailers.as_ref()
    }
}

impl<T> Stream for Streaming<T> {
    type Item = Result<T, Status>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        let next = match &this.source {
            Source::Server(call) => std::task::ready!(call.poll_recv(cx)),
            Source::Client(call) => match std::task::ready!(call.poll_recv(cx)) {
                Ok(Some(message)) => Ok(Some(message)),
                Ok(None) => {
                    // The call is over; its status decides how the stream ends.
                    let (status, trailers) = std::task::ready!(call.poll_finished(cx));
                    this.trailers = Some(trailers);
                    if status.is_ok() {
                        Ok(None)
                    } else {
                        Err(status)
                    }
                }
                Err(status) => Err(status),
            },
        };
        match next {
            Ok(Some(received)) => match (this.decode)(received.data) {
                Ok(message) => {
                    this.last_compressed = Some(received.compressed);
                    Poll::Ready(Some(Ok(message)))
                }
                Err(status) => {
                    this.done = true;
                    this.fail(&status);
                    Poll::Ready(Some(Err(status)))
                }
            },
            Ok(None) => {
                this.done = true;
                Poll::Ready(None)
            }
            Err(status) => {
                this.done = true;
                Poll::Ready(Some(Err(status)))
            }
        }
    }
}

impl<T> Streaming<T> {
    /// A message that does not decode ends the call (the spec asks for
    /// `INTERNAL`): the client cancels it; the server handler sees the error
    /// and answers with it.
    fn fail(&self, status: &Status) {
        if let Source::Client(call) = &self.source {
            call.cancel_with(status.clone());
        }
    }
}

impl<T> fmt::Debug for Streaming<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Streaming")
            .field(
                "side",
                &match self.source {
                    Source::Server(_) => "server",
                    Source::Client(_) => "client",
                },
            )
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}
