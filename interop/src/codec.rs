//! [`CaptureCodec`]: prost encoding and decoding, plus the [`Digest`] of each
//! decoded message's bytes, so a case can ask the wire tap how that message
//! travelled (see [`crate::tap`]).

use std::fmt;
use std::marker::PhantomData;

use bytes::{Bytes, BytesMut};
use ferrule::Status;
use ferrule::codegen::{Codec, ProstCodec};

use crate::tap::Digest;

/// A decoded message and the digest of the bytes it was decoded from.
#[derive(Debug, Clone, PartialEq)]
pub struct Captured<T> {
    /// The message.
    pub message: T,
    /// The digest of its bytes (after decompression).
    pub digest: Digest,
}

/// [`ProstCodec`] that also digests what it decodes: encodes `Enc`, decodes
/// [`Captured<Dec>`].
pub struct CaptureCodec<Enc, Dec> {
    marker: PhantomData<fn(Enc) -> Dec>,
}

impl<Enc, Dec> CaptureCodec<Enc, Dec> {
    /// A codec that encodes `Enc` and decodes `Dec`.
    pub const fn new() -> Self {
        CaptureCodec {
            marker: PhantomData,
        }
    }
}

impl<Enc, Dec> Default for CaptureCodec<Enc, Dec> {
    fn default() -> Self {
        Self::new()
    }
}

impl<Enc, Dec> Clone for CaptureCodec<Enc, Dec> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<Enc, Dec> Copy for CaptureCodec<Enc, Dec> {}

impl<Enc, Dec> fmt::Debug for CaptureCodec<Enc, Dec> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaptureCodec").finish_non_exhaustive()
    }
}

impl<Enc, Dec> Codec for CaptureCodec<Enc, Dec>
where
    Enc: prost::Message,
    Dec: prost::Message + Default,
{
    type Encode = Enc;
    type Decode = Captured<Dec>;

    fn encode(&mut self, item: &Enc, dst: &mut BytesMut) -> Result<(), Status> {
        ProstCodec::<Enc, Dec>::new().encode(item, dst)
    }

    fn decode(&mut self, src: Bytes) -> Result<Captured<Dec>, Status> {
        let digest = Digest::of(&src);
        let message = ProstCodec::<Enc, Dec>::new().decode(src)?;
        Ok(Captured { message, digest })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::pb::{Payload, SimpleRequest};

    #[test]
    fn decoding_digests_the_bytes_and_encoding_is_prost() {
        let request = SimpleRequest {
            response_size: 3,
            payload: Some(Payload {
                r#type: 0,
                body: vec![0; 5],
            }),
            ..SimpleRequest::default()
        };
        let mut codec = CaptureCodec::<SimpleRequest, SimpleRequest>::new();
        let mut buf = BytesMut::new();
        codec.encode(&request, &mut buf).unwrap();
        assert_eq!(&buf[..], &prost::Message::encode_to_vec(&request)[..]);
        let bytes = buf.freeze();
        let captured = codec.decode(bytes.clone()).unwrap();
        assert_eq!(captured.message, request);
        assert_eq!(captured.digest, Digest::of(&bytes));
        let bad = codec.decode(Bytes::from_static(&[0xff, 0xff])).unwrap_err();
        assert_eq!(bad.code(), ferrule::Code::INTERNAL);
    }
}
