//! Choosing the encoding to send, and checking the one a peer used.

use super::{CompressionError, Encoding, EncodingSet, Receiver};
use crate::metadata::{key_text, trim_whitespace};

/// The encoding to compress outgoing messages with.
///
/// `preferred` is used when this build supports it, it is in `ours` (what
/// the application allows), and the peer accepts it. `peer_accepts` is the
/// last `grpc-accept-encoding` the peer sent, or `None` if it sent none yet
/// (a client before the first response): then the peer is assumed to accept
/// `preferred`, as grpc-go's client does. Otherwise the message goes out
/// uncompressed, which the spec requires when the peer is known not to
/// support the encoding.
pub fn select(
    ours: EncodingSet,
    peer_accepts: Option<EncodingSet>,
    preferred: Encoding,
) -> Encoding {
    let peer_ok = peer_accepts.is_none_or(|set| set.contains(preferred));
    if preferred.is_supported() && ours.contains(preferred) && peer_ok {
        preferred
    } else {
        Encoding::Identity
    }
}

/// The encoding of a call's incoming messages, from its `grpc-encoding`
/// header (`None` if absent).
///
/// `accepted` is what we are willing to decode; only encodings this build
/// supports count. An absent or empty header, or `identity`, means no
/// compression. An unknown or unaccepted name is
/// [`CompressionError::Unsupported`], carrying the set to advertise in the
/// response's `grpc-accept-encoding` (which never includes the rejected
/// name). Its code is `UNIMPLEMENTED` when `receiver` is the server and
/// `INTERNAL` when it is the client, as grpc/grpc `doc/compression.md` asks.
///
/// An engine may call this when the headers arrive (as grpc-go does) or
/// defer the error to the first compressed message.
pub fn incoming_encoding(
    grpc_encoding: Option<&[u8]>,
    accepted: EncodingSet,
    receiver: Receiver,
) -> Result<Encoding, CompressionError> {
    let accepted = accepted & EncodingSet::supported();
    let Some(value) = grpc_encoding.map(trim_whitespace) else {
        return Ok(Encoding::Identity);
    };
    if value.is_empty() {
        return Ok(Encoding::Identity);
    }
    match Encoding::from_name(value) {
        Some(Encoding::Identity) => Ok(Encoding::Identity),
        Some(e) if accepted.contains(e) => Ok(e),
        _ => Err(CompressionError::Unsupported {
            name: key_text(value),
            accepted,
            receiver,
        }),
    }
}

/// The encoding of one message: `call` (from [`incoming_encoding`]) if its
/// Compressed-Flag is set, else identity. A set flag on a call without a
/// real encoding is [`CompressionError::CompressedWithoutEncoding`]
/// (`INTERNAL`, per the spec's test cases).
pub fn message_encoding(
    call: Encoding,
    compressed_flag: bool,
) -> Result<Encoding, CompressionError> {
    match (compressed_flag, call) {
        (false, _) => Ok(Encoding::Identity),
        (true, Encoding::Identity) => Err(CompressionError::CompressedWithoutEncoding),
        (true, e) => Ok(e),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::Code;

    const ALL_KNOWN: EncodingSet = EncodingSet::only(Encoding::Identity)
        .with(Encoding::Gzip)
        .with(Encoding::Deflate)
        .with(Encoding::Zstd);

    #[test]
    fn select_falls_back_to_identity() {
        let gzip = Encoding::Gzip;
        let ours = ALL_KNOWN;
        let expect_gzip = if gzip.is_supported() {
            gzip
        } else {
            Encoding::Identity
        };
        assert_eq!(select(ours, None, gzip), expect_gzip);
        assert_eq!(
            select(ours, Some(EncodingSet::parse(b"gzip")), gzip),
            expect_gzip
        );
        assert_eq!(
            select(ours, Some(EncodingSet::parse(b"identity,deflate")), gzip),
            Encoding::Identity
        );
        assert_eq!(
            select(ours, Some(EncodingSet::EMPTY), gzip),
            Encoding::Identity
        );
        assert_eq!(select(ours.without(gzip), None, gzip), Encoding::Identity);
        assert_eq!(select(ours, None, Encoding::Identity), Encoding::Identity);
    }

    #[test]
    fn incoming_encoding_accepts_identity_and_supported() {
        for header in [None, Some(&b""[..]), Some(b"identity"), Some(b" Identity ")] {
            assert_eq!(
                incoming_encoding(header, EncodingSet::EMPTY, Receiver::Server),
                Ok(Encoding::Identity)
            );
        }
        for e in Encoding::ALL {
            let result =
                incoming_encoding(Some(e.as_str().as_bytes()), ALL_KNOWN, Receiver::Server);
            if e.is_supported() {
                assert_eq!(result, Ok(e));
            } else {
                assert_eq!(result.unwrap_err().code(), Code::UNIMPLEMENTED);
            }
        }
    }

    #[test]
    fn unsupported_encoding_codes_and_accepted_list() {
        let accepted = EncodingSet::supported();
        let err = incoming_encoding(Some(b"snappy"), accepted, Receiver::Server).unwrap_err();
        assert_eq!(err.code(), Code::UNIMPLEMENTED);
        assert_eq!(
            err,
            CompressionError::Unsupported {
                name: "snappy".into(),
                accepted,
                receiver: Receiver::Server
            }
        );
        let err = incoming_encoding(Some(b"snappy"), accepted, Receiver::Client).unwrap_err();
        assert_eq!(err.code(), Code::INTERNAL);

        // Known and built in, but not accepted by the application.
        let only_identity = EncodingSet::only(Encoding::Identity);
        let err = incoming_encoding(Some(b"zstd"), only_identity, Receiver::Server).unwrap_err();
        let CompressionError::Unsupported { accepted, .. } = err else {
            panic!("{err:?}");
        };
        assert!(!accepted.contains(Encoding::Zstd));

        // A hostile name is escaped and cut in the message.
        let long = [0xffu8; 500];
        let err = incoming_encoding(Some(&long), accepted, Receiver::Server).unwrap_err();
        let CompressionError::Unsupported { name, .. } = err else {
            panic!("{err:?}");
        };
        assert!(name.len() < 300 && name.starts_with("\\xff"));
    }

    #[test]
    fn compressed_flag_needs_an_encoding() {
        let cases = [
            (Encoding::Identity, false, Ok(Encoding::Identity)),
            (Encoding::Gzip, false, Ok(Encoding::Identity)),
            (Encoding::Gzip, true, Ok(Encoding::Gzip)),
            (
                Encoding::Identity,
                true,
                Err(CompressionError::CompressedWithoutEncoding),
            ),
        ];
        for (call, flag, expected) in cases {
            assert_eq!(message_encoding(call, flag), expected, "{call} {flag}");
        }
    }
}
