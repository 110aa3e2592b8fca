//! [`CompressionError`] and the status code each case maps to.

use alloc::format;
use alloc::string::String;
use core::fmt;

use super::{Encoding, EncodingSet};
use crate::{Code, Status};

/// Which side received a message, which decides the code of an unsupported
/// encoding (grpc/grpc `doc/compression.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Receiver {
    /// A server received a request message: `UNIMPLEMENTED`, and the
    /// response's `grpc-accept-encoding` tells the client what works.
    Server,
    /// A client received a response message: `INTERNAL`.
    Client,
}

/// Why a message could not be compressed or decompressed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CompressionError {
    /// The encoding's feature is not enabled in this build (the caller asked
    /// for something it could have checked with [`Encoding::is_supported`]).
    NotEnabled(Encoding),
    /// The decompressed message would be larger than the limit:
    /// `RESOURCE_EXHAUSTED`.
    LimitExceeded {
        /// The encoding of the message.
        encoding: Encoding,
        /// The limit, in bytes.
        limit: usize,
    },
    /// The compressed bytes are not a valid stream: `INTERNAL`.
    Corrupt {
        /// The encoding of the message.
        encoding: Encoding,
        /// What the decompressor reported.
        reason: String,
    },
    /// Compression failed (it cannot for an in-memory buffer, but the
    /// libraries' signatures allow it): `INTERNAL`.
    CompressFailed {
        /// The encoding asked for.
        encoding: Encoding,
        /// What the compressor reported.
        reason: String,
    },
    /// A message arrived in an encoding we do not accept: `UNIMPLEMENTED` for
    /// a server, `INTERNAL` for a client.
    Unsupported {
        /// The `grpc-encoding` the peer used, escaped and shortened.
        name: String,
        /// What we accept, to tell the peer.
        accepted: EncodingSet,
        /// Who received the message.
        receiver: Receiver,
    },
    /// A message has the compressed flag set but the call's `grpc-encoding`
    /// is absent or `identity`: `INTERNAL`.
    CompressedWithoutEncoding,
}

impl CompressionError {
    /// The status code a call ends with because of this error.
    pub fn code(&self) -> Code {
        match self {
            CompressionError::LimitExceeded { .. } => Code::RESOURCE_EXHAUSTED,
            CompressionError::Unsupported {
                receiver: Receiver::Server,
                ..
            } => Code::UNIMPLEMENTED,
            _ => Code::INTERNAL,
        }
    }
}

impl fmt::Display for CompressionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CompressionError::NotEnabled(e) => write!(
                f,
                "the {e} encoding is not enabled in this build (cargo feature \"{e}\")"
            ),
            CompressionError::LimitExceeded { encoding, limit } => write!(
                f,
                "decompressed {encoding} message is larger than the limit of {limit} bytes"
            ),
            CompressionError::Corrupt { encoding, reason } => {
                write!(f, "failed to decompress {encoding} message: {reason}")
            }
            CompressionError::CompressFailed { encoding, reason } => {
                write!(f, "failed to compress message with {encoding}: {reason}")
            }
            CompressionError::Unsupported { name, accepted, .. } => write!(
                f,
                "message compressed with unsupported grpc-encoding \"{name}\"; supported encodings: {}",
                if accepted.is_empty() {
                    "none"
                } else {
                    accepted.header_value()
                }
            ),
            CompressionError::CompressedWithoutEncoding => f.write_str(
                "message has the compressed flag set but the call has no grpc-encoding other than identity",
            ),
        }
    }
}

impl core::error::Error for CompressionError {}

impl From<CompressionError> for Status {
    fn from(err: CompressionError) -> Status {
        Status::new(err.code(), format!("{err}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn codes_and_messages() {
        let accepted = EncodingSet::only(Encoding::Identity).with(Encoding::Gzip);
        let cases = [
            (
                CompressionError::LimitExceeded {
                    encoding: Encoding::Gzip,
                    limit: 4194304,
                },
                Code::RESOURCE_EXHAUSTED,
                "decompressed gzip message is larger than the limit of 4194304 bytes",
            ),
            (
                CompressionError::Corrupt {
                    encoding: Encoding::Zstd,
                    reason: "truncated stream".into(),
                },
                Code::INTERNAL,
                "failed to decompress zstd message: truncated stream",
            ),
            (
                CompressionError::Unsupported {
                    name: "br".into(),
                    accepted,
                    receiver: Receiver::Server,
                },
                Code::UNIMPLEMENTED,
                "message compressed with unsupported grpc-encoding \"br\"; supported encodings: identity,gzip",
            ),
            (
                CompressionError::Unsupported {
                    name: "br".into(),
                    accepted: EncodingSet::EMPTY,
                    receiver: Receiver::Client,
                },
                Code::INTERNAL,
                "message compressed with unsupported grpc-encoding \"br\"; supported encodings: none",
            ),
            (
                CompressionError::CompressedWithoutEncoding,
                Code::INTERNAL,
                "message has the compressed flag set but the call has no grpc-encoding other than identity",
            ),
            (
                CompressionError::NotEnabled(Encoding::Zstd),
                Code::INTERNAL,
                "the zstd encoding is not enabled in this build (cargo feature \"zstd\")",
            ),
        ];
        for (err, code, text) in cases {
            assert_eq!(err.code(), code, "{err}");
            assert_eq!(err.to_string(), text);
            let status = Status::from(err);
            assert_eq!(status.code(), code);
            assert_eq!(status.message(), text);
        }
    }
}
