//! Custom metadata: the application's headers and trailers.
//!
//! gRPC metadata (grpc/grpc `doc/PROTOCOL-HTTP2.md`, *Custom-Metadata*) is an
//! ordered list of key/value pairs where a key may repeat. Keys follow the
//! spec's *Header-Name* grammar, `1*( 0-9 / a-z / "_" / "-" / "." )`. A key
//! ending in `-bin` holds binary values, carried base64-encoded on the wire;
//! any other key holds ASCII values of printable characters (`0x20..=0x7E`).
//!
//! [`MetadataMap`] is the container. It has two doors:
//!
//! - the **user API** ([`MetadataMap::insert`], [`MetadataMap::append`] and
//!   their `_bin` twins) validates what the application supplies and refuses
//!   reserved names with [`MetadataError::Reserved`];
//! - the **wire API** ([`MetadataMap::from_wire_headers`],
//!   [`MetadataMap::push_wire_header`], [`MetadataMap::wire_headers`]) is for
//!   the engine: it silently skips the reserved headers it reads itself,
//!   decodes and encodes base64, and turns malformed peer input into an error
//!   that maps to `INTERNAL`.
//!
//! # Decisions
//!
//! - **Uppercase keys from the user are lowercased**, as grpc-go's
//!   `metadata.Pairs` and tonic (through `http::HeaderName`) do; lookups ignore
//!   ASCII case. On the wire, HTTP/2 forbids uppercase names, so a peer's
//!   uppercase key is an [`MetadataError::InvalidKey`].
//! - **Reserved names** ([`is_reserved`]): pseudo-headers (`:` prefix), every
//!   `grpc-` name (the spec reserves the prefix; the engine owns
//!   `grpc-timeout`, `grpc-encoding`, `grpc-status`, ...), `content-type`,
//!   `te`, `user-agent` (grpc-go also refuses it as user metadata; the engine
//!   sets it from the channel's configuration and exposes the peer's value
//!   itself), `host` and `content-length` (the engine and h2 own them), and
//!   the HTTP/2 connection-specific headers `connection`, `keep-alive`,
//!   `proxy-connection`, `transfer-encoding` and `upgrade`. The same names are
//!   skipped when reading from the wire, so whatever a peer sends can be
//!   echoed back through the user API.
//! - **ASCII values** from the user must be printable ASCII without leading or
//!   trailing whitespace (RFC 9113 §8.2.1 forbids it in field values). From the
//!   wire, surrounding whitespace is stripped (the spec allows it) and a value
//!   that is valid HTTP but not a gRPC ASCII-Value (a tab, bytes >= 0x80) is
//!   dropped, since the spec says such values must not cause an error. Values
//!   may be empty.
//! - **Binary values** are written in the standard base64 alphabet without
//!   padding and read padded, unpadded or partially padded (grpc C accepts
//!   all three), with non-zero trailing bits tolerated (grpc-go and grpc C
//!   ignore them). A `-bin` header field carrying several values joined by
//!   `,` (optionally with spaces, as an HTTP proxy may join them) yields one
//!   value per piece.

mod base64;
mod error;
mod key;
mod map;

/// Strips HTTP's optional whitespace (also used by `compression`).
pub(crate) use self::base64::trim_whitespace;
pub use base64::{InvalidBase64, decode_binary_value, encode_binary_value};
pub use error::{MetadataError, ValueProblem};
/// Escapes peer-supplied names for error messages (also used by `compression`).
pub(crate) use key::key_text;
pub use key::{is_binary_key, is_reserved, is_valid_key};
pub use map::{GetAll, GetAllBin, Iter, Keys, MetadataMap, MetadataValue, WireHeaders};

#[cfg(test)]
mod tests;
