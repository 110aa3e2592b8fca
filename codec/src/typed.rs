//! The [`Codec`] trait: typed message <-> bytes.
//!
//! A codec turns one application message into the bytes of one gRPC message
//! and back. It knows nothing of the 5-byte length prefix, compression or
//! streams: the framer in [`crate::frame`] wraps what a codec produces.
//!
//! Two implementations ship here: [`BytesCodec`], which passes raw [`Bytes`]
//! through (proxies, benchmarks, hand-rolled formats), and, behind the
//! `prost` feature, [`ProstCodec`] for protobuf messages.

use bytes::{Bytes, BytesMut};

use crate::Status;

/// Serializes messages of one type and deserializes messages of another.
///
/// The two types differ because a call's two directions carry different
/// messages: a client encodes requests and decodes responses, a server the
/// reverse.
///
/// # Contract
/// - [`encode`](Codec::encode) *appends* to `dst` and leaves what is already
///   there alone. The framer relies on this: it writes the 5-byte header in
///   front, lets the codec append the message, then fills in the length, so a
///   message is written into one buffer with one reservation, made by the codec
///   that knows the size.
/// - [`decode`](Codec::decode) receives exactly one whole message. It takes
///   [`Bytes`] so that a codec can keep slices of the input without copying.
/// - A failed decode is the peer's fault and ends the call with the returned
///   [`Status`] (the spec asks for `INTERNAL` on a message that does not parse);
///   a failed encode is ours and also ends the call.
///
/// Methods take `&mut self` so that a codec may keep state between messages
/// (a scratch buffer, a schema cache). There are no `Send` bounds here; the
/// layers that move codecs between threads add them where they need them.
pub trait Codec {
    /// The type this codec serializes.
    type Encode;
    /// The type this codec deserializes.
    type Decode;

    /// Appends the serialized form of `item` to `dst`.
    fn encode(&mut self, item: &Self::Encode, dst: &mut BytesMut) -> Result<(), Status>;

    /// Deserializes one whole message.
    fn decode(&mut self, src: Bytes) -> Result<Self::Decode, Status>;

    /// How many bytes [`encode`](Codec::encode) appends for `item`, when the
    /// codec can tell without encoding (prost can). The framer then reserves
    /// exactly that much: a buffer handed over full needs no shared header
    /// when it becomes [`Bytes`], and a small message does not hold a guessed
    /// larger buffer. `None`, the default, leaves the framer to guess.
    fn encoded_len(&self, item: &Self::Encode) -> Option<usize> {
        let _ = item;
        None
    }
}

/// A [`Codec`] that passes message bytes through unchanged.
///
/// Decoding never copies: the returned [`Bytes`] is the input. Encoding copies
/// `item` into `dst`, since the framer needs header and message in one buffer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BytesCodec;

impl Codec for BytesCodec {
    type Encode = Bytes;
    type Decode = Bytes;

    fn encode(&mut self, item: &Bytes, dst: &mut BytesMut) -> Result<(), Status> {
        dst.extend_from_slice(item);
        Ok(())
    }

    fn decode(&mut self, src: Bytes) -> Result<Bytes, Status> {
        Ok(src)
    }

    fn encoded_len(&self, item: &Bytes) -> Option<usize> {
        Some(item.len())
    }
}

#[cfg(feature = "prost")]
pub use self::prost_codec::ProstCodec;

#[cfg(feature = "prost")]
mod prost_codec {
    use alloc::string::ToString;
    use core::fmt;
    use core::marker::PhantomData;

    use bytes::{Bytes, BytesMut};
    use prost::Message;

    use super::Codec;
    use crate::Status;

    /// A [`Codec`] for [`prost`] messages: encodes `Enc`, decodes `Dec`.
    ///
    /// Stateless; create one per call with [`ProstCodec::new`] or `default()`.
    /// A message that does not parse becomes `INTERNAL` with prost's
    /// explanation as the message, as `doc/statuscodes.md` asks.
    pub struct ProstCodec<Enc, Dec> {
        // fn(Enc) -> Dec: the codec holds no value of either type, so it is
        // Send, Sync, Copy and Default whatever they are.
        marker: PhantomData<fn(Enc) -> Dec>,
    }

    impl<Enc, Dec> ProstCodec<Enc, Dec> {
        /// A codec that encodes `Enc` and decodes `Dec`.
        pub const fn new() -> Self {
            ProstCodec {
                marker: PhantomData,
            }
        }
    }

    impl<Enc, Dec> Default for ProstCodec<Enc, Dec> {
        fn default() -> Self {
            Self::new()
        }
    }

    impl<Enc, Dec> Clone for ProstCodec<Enc, Dec> {
        fn clone(&self) -> Self {
            *self
        }
    }

    impl<Enc, Dec> Copy for ProstCodec<Enc, Dec> {}

    impl<Enc, Dec> fmt::Debug for ProstCodec<Enc, Dec> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("ProstCodec").finish_non_exhaustive()
        }
    }

    impl<Enc, Dec> Codec for ProstCodec<Enc, Dec>
    where
        Enc: Message,
        Dec: Message + Default,
    {
        type Encode = Enc;
        type Decode = Dec;

        fn encode(&mut self, item: &Enc, dst: &mut BytesMut) -> Result<(), Status> {
            // One reservation up front; prost then writes without growing.
            dst.reserve(item.encoded_len());
            item.encode(dst).map_err(|error| {
                // Cannot happen with a BytesMut, which grows on demand; kept as
                // an error rather than a panic all the same.
                Status::internal(alloc::format!("failed to encode message: {error}"))
            })
        }

        fn decode(&mut self, src: Bytes) -> Result<Dec, Status> {
            Dec::decode(src).map_err(|error| Status::internal(error.to_string()))
        }

        fn encoded_len(&self, item: &Enc) -> Option<usize> {
            Some(item.encoded_len())
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use alloc::vec::Vec;
    use quickcheck_macros::quickcheck;

    #[test]
    fn bytes_codec_appends_without_touching_existing_content() {
        let mut codec = BytesCodec;
        let mut dst = BytesMut::from(&b"\0\0\0\0\x03"[..]);
        codec.encode(&Bytes::from_static(b"abc"), &mut dst).unwrap();
        assert_eq!(&dst[..], b"\0\0\0\0\x03abc");
    }

    #[test]
    fn bytes_codec_decode_does_not_copy() {
        let mut codec = BytesCodec;
        let src = Bytes::from_static(b"payload");
        let decoded = codec.decode(src.clone()).unwrap();
        assert_eq!(decoded.as_ptr(), src.as_ptr());
        assert_eq!(decoded, src);
    }

    #[quickcheck]
    fn bytes_codec_round_trip(prefix: Vec<u8>, message: Vec<u8>) -> bool {
        let mut codec = BytesCodec;
        let mut dst = BytesMut::from(&prefix[..]);
        codec
            .encode(&Bytes::from(message.clone()), &mut dst)
            .unwrap();
        let encoded = dst.freeze().slice(prefix.len()..);
        encoded == message && codec.decode(encoded).unwrap() == message
    }

    #[quickcheck]
    fn bytes_codec_knows_its_encoded_len(message: Vec<u8>) -> bool {
        let mut codec = BytesCodec;
        let message = Bytes::from(message);
        let mut dst = BytesMut::new();
        codec.encode(&message, &mut dst).unwrap();
        codec.encoded_len(&message) == Some(dst.len())
    }

    #[cfg(feature = "prost")]
    mod prost_tests {
        use super::super::*;
        use crate::Code;
        use alloc::string::{String, ToString};
        use alloc::vec::Vec;
        use quickcheck_macros::quickcheck;

        #[derive(Clone, PartialEq, prost::Message)]
        struct Book {
            #[prost(string, tag = "1")]
            title: String,
            #[prost(uint32, tag = "2")]
            pages: u32,
            #[prost(bytes = "bytes", tag = "3")]
            cover: Bytes,
            #[prost(string, repeated, tag = "4")]
            authors: Vec<String>,
        }

        #[derive(Clone, PartialEq, prost::Message)]
        struct Shelf {
            #[prost(message, repeated, tag = "1")]
            books: Vec<Book>,
        }

        fn book() -> Book {
            Book {
                title: "The Rust Programming Language".into(),
                pages: 560,
                cover: Bytes::from_static(b"\x89PNG"),
                authors: alloc::vec!["Klabnik".into(), "Nichols".into()],
            }
        }

        #[test]
        fn encodes_what_prost_encodes_after_existing_content() {
            let mut codec = ProstCodec::<Book, Book>::new();
            let mut dst = BytesMut::from(&b"head"[..]);
            codec.encode(&book(), &mut dst).unwrap();
            assert_eq!(&dst[..4], b"head");
            assert_eq!(&dst[4..], &prost::Message::encode_to_vec(&book())[..]);
        }

        #[test]
        fn encode_reserves_once() {
            let mut codec = ProstCodec::<Shelf, Shelf>::new();
            let shelf = Shelf {
                books: alloc::vec![book(); 50],
            };
            let mut dst = BytesMut::new();
            codec.encode(&shelf, &mut dst).unwrap();
            let len = prost::Message::encoded_len(&shelf);
            assert_eq!(dst.len(), len);
            assert!(dst.capacity() < 2 * len, "capacity grew more than once");
        }

        #[test]
        fn decodes_different_type_than_it_encodes() {
            let mut client = ProstCodec::<Book, Shelf>::new();
            let mut server = ProstCodec::<Shelf, Book>::new();
            let mut request = BytesMut::new();
            client.encode(&book(), &mut request).unwrap();
            assert_eq!(server.decode(request.freeze()).unwrap(), book());
            let shelf = Shelf {
                books: alloc::vec![book(), Book::default()],
            };
            let mut response = BytesMut::new();
            server.encode(&shelf, &mut response).unwrap();
            assert_eq!(client.decode(response.freeze()).unwrap(), shelf);
        }

        #[quickcheck]
        fn encoded_len_is_what_encode_appends(
            title: String,
            pages: u32,
            authors: Vec<String>,
        ) -> bool {
            let mut codec = ProstCodec::<Book, Book>::new();
            let item = Book {
                title,
                pages,
                authors,
                ..book()
            };
            let mut dst = BytesMut::from(&b"prefix"[..]);
            codec.encode(&item, &mut dst).unwrap();
            codec.encoded_len(&item) == Some(dst.len() - 6)
        }

        #[test]
        fn bytes_fields_decode_as_slices_of_the_message() {
            let mut codec = ProstCodec::<Book, Book>::new();
            let cover = Bytes::from(alloc::vec![7u8; 4096]);
            let mut message = BytesMut::new();
            codec
                .encode(
                    &Book {
                        cover: cover.clone(),
                        ..book()
                    },
                    &mut message,
                )
                .unwrap();
            let message = message.freeze();
            let decoded = codec.decode(message.clone()).unwrap();
            assert_eq!(decoded.cover, cover);
            let range = message.as_ptr_range();
            assert!(
                range.contains(&decoded.cover.as_ptr()),
                "the field was copied out of the message"
            );
        }

        #[test]
        fn empty_input_decodes_to_default() {
            let mut codec = ProstCodec::<Book, Book>::new();
            assert_eq!(codec.decode(Bytes::new()).unwrap(), Book::default());
        }

        #[test]
        fn malformed_input_is_internal_with_prost_text() {
            let cases: &[(&str, &[u8])] = &[
                ("truncated varint", b"\x10\xff"),
                ("truncated length-delimited field", b"\x0a\x05ab"),
                ("invalid wire type", b"\x0f"),
                ("field number zero", b"\x00\x01"),
                ("invalid utf-8 in string", b"\x0a\x02\xff\xfe"),
            ];
            for (what, input) in cases {
                let mut codec = ProstCodec::<Book, Book>::new();
                let status = codec.decode(Bytes::from_static(input)).unwrap_err();
                assert_eq!(status.code(), Code::INTERNAL, "{what}");
                let expected = <Book as prost::Message>::decode(*input)
                    .unwrap_err()
                    .to_string();
                assert_eq!(status.message(), expected, "{what}");
                assert!(!status.message().is_empty(), "{what}");
            }
        }

        #[test]
        fn codec_is_send_sync_copy_whatever_the_message() {
            fn assert_traits<T: Send + Sync + Copy + Default + core::fmt::Debug>() {}
            assert_traits::<ProstCodec<Book, Shelf>>();
            // A type parameter that is neither Send nor Sync.
            assert_traits::<ProstCodec<alloc::rc::Rc<u8>, *const u8>>();
        }

        #[quickcheck]
        fn round_trip(
            title: String,
            pages: u32,
            cover: Vec<u8>,
            authors: Vec<String>,
            prefix: Vec<u8>,
        ) -> bool {
            let original = Book {
                title,
                pages,
                cover: Bytes::from(cover),
                authors,
            };
            let mut codec = ProstCodec::<Book, Book>::new();
            let mut dst = BytesMut::from(&prefix[..]);
            codec.encode(&original, &mut dst).unwrap();
            let message = dst.freeze().slice(prefix.len()..);
            codec.decode(message).unwrap() == original
        }
    }
}
