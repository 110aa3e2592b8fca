//! Message compression (grpc/grpc `doc/compression.md`).
//!
//! gRPC compresses each message on its own: the Compressed-Flag of a
//! Length-Prefixed-Message says whether it is compressed, with the call's
//! `grpc-encoding`. Peers list what they can decode in
//! `grpc-accept-encoding`.
//!
//! - [`Encoding`]: `identity`, `gzip`, `deflate` (zlib format), `zstd`. All
//!   names parse; [`Encoding::is_supported`] says which this build can run
//!   (cargo features `gzip`, `deflate`, `zstd`, each needing `std`).
//! - [`EncodingSet`]: a `grpc-accept-encoding` list, parsed leniently
//!   (unknown names skipped) and formatted without allocation.
//! - [`compress`] and [`decompress`]: one message at a time, into a
//!   caller-owned `BytesMut`. Decompression is bounded by a `max_size`
//!   (`RESOURCE_EXHAUSTED` past it), so a compression bomb cannot allocate
//!   past the limit.
//! - [`select`], [`incoming_encoding`], [`message_encoding`]: what to send
//!   with, and whether what arrived can be read (`UNIMPLEMENTED` on a
//!   server, `INTERNAL` on a client, per the spec).
//!
//! ```
//! # #[cfg(feature = "gzip")] {
//! use bytes::BytesMut;
//! use ferrule_codec::compression::{compress, decompress, Encoding};
//!
//! let mut wire = BytesMut::new();
//! compress(Encoding::Gzip, &[0u8; 1000], &mut wire)?;
//! let mut message = BytesMut::new();
//! decompress(Encoding::Gzip, &wire, &mut message, 4 << 20)?;
//! assert_eq!(&message[..], &[0u8; 1000][..]);
//!
//! let err = decompress(Encoding::Gzip, &wire, &mut BytesMut::new(), 999).unwrap_err();
//! assert_eq!(err.code(), ferrule_codec::Code::RESOURCE_EXHAUSTED);
//! # }
//! # Ok::<(), ferrule_codec::compression::CompressionError>(())
//! ```

mod compress;
mod decompress;
mod encoding;
mod error;
mod negotiate;

pub use compress::compress;
pub use decompress::decompress;
pub use encoding::{Encoding, EncodingSet};
pub use error::{CompressionError, Receiver};
pub use negotiate::{incoming_encoding, message_encoding, select};

#[cfg(test)]
mod tests;
