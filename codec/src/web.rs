//! gRPC-Web (`doc/PROTOCOL-WEB.md`): trailer frames and the base64
//! `grpc-web-text` body.
//!
//! gRPC-Web runs over any HTTP version, so the status cannot travel in HTTP/2
//! trailers. It travels at the end of the response body instead, as one more
//! length-prefixed frame whose flag byte has its most significant bit set
//! ([`TRAILER_FLAG`]) and whose payload is an HTTP/1-style header block
//! ([`trailers`]). The `application/grpc-web-text` variant sends the whole body
//! in base64, padded per message or flush ([`text`]).
//!
//! Splitting a body into data and trailer frames is the framer's job
//! ([`crate::frame::MessageDecoder`]); this module renders and parses what is
//! inside a trailer frame, and converts the text encoding.

pub mod text;
pub mod trailers;

pub use text::{WebTextDecoder, WebTextEncoder, WebTextError};
pub use trailers::{
    DEFAULT_MAX_TRAILER_FIELDS, TRAILER_FLAG, TrailerEncodeError, TrailerParseError,
    encode_trailer_frame, parse_trailer_block,
};
