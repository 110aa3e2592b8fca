//! gRPC-Web (`doc/PROTOCOL-WEB.md`): trailer frames and the base64
//! `grpc-web-text` body.
//!
//! gRPC-Web runs over any HTTP version, so the status cannot travel in HTTP/2
//! trailers. It travels at the end of the response body instead, as one more
//! length-prefixed frame whose flag byte has its most significant bit set
//! ([`FLAG_WEB_TRAILERS`]) and whose payload is an HTTP/1-style header block
//! ([`trailers`]). The `application/grpc-web-text` variant sends the whole body
//! in base64, padded per message or flush ([`text`]).
//!
//! Splitting a body into data and trailer frames is the framer's job
//! ([`MessageDecoder::with_web_trailers`] and [`MessageDecoder::next_frame`]);
//! this module renders and parses what is inside a trailer frame, and converts
//! the text encoding. A `grpc-web-text` body goes through [`WebTextDecoder`]
//! first, then the framer.
//!
//! [`FLAG_WEB_TRAILERS`]: crate::frame::FLAG_WEB_TRAILERS
//! [`MessageDecoder::with_web_trailers`]: crate::frame::MessageDecoder::with_web_trailers
//! [`MessageDecoder::next_frame`]: crate::frame::MessageDecoder::next_frame

pub mod text;
pub mod trailers;

pub use text::{WebTextDecoder, WebTextEncoder, WebTextError};
pub use trailers::{
    DEFAULT_MAX_TRAILER_FIELDS, TrailerEncodeError, TrailerParseError, encode_trailer_frame,
    parse_trailer_block,
};

/// A whole gRPC-Web response body through the framer, the codec and this
/// module, in both the binary and the text encoding.
#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::frame::{DecodedFrame, MessageDecoder, MessageEncoder};
    use crate::{BytesCodec, Codec};
    use crate::{Code, Status};
    use alloc::string::String;
    use alloc::vec::Vec;
    use bytes::{Bytes, BytesMut};
    use quickcheck_macros::quickcheck;

    /// What a client takes from a response body.
    #[derive(Debug, PartialEq)]
    struct Response {
        messages: Vec<Bytes>,
        status: Status,
        metadata: Vec<(Bytes, Bytes)>,
    }

    /// Frames `messages`, then a trailer frame, each frame padded separately
    /// in base64 when `text` is set, as a server flushing per message does.
    fn response_body(
        messages: &[Bytes],
        status: &Status,
        metadata: &[(&str, &str)],
        text: bool,
    ) -> Bytes {
        let framer = MessageEncoder::new();
        let mut codec = BytesCodec;
        let mut frames = Vec::new();
        for message in messages {
            let mut frame = BytesMut::new();
            framer
                .encode_with(&mut frame, false, |dst| codec.encode(message, dst))
                .unwrap();
            frames.push(frame);
        }
        let mut frame = BytesMut::new();
        encode_trailer_frame(status, metadata.iter().copied(), &mut frame).unwrap();
        frames.push(frame);

        let mut body = BytesMut::new();
        let mut encoder = WebTextEncoder::new();
        for frame in frames {
            if text {
                encoder.push(&frame, &mut body);
                encoder.finish(&mut body);
            } else {
                body.extend_from_slice(&frame);
            }
        }
        body.freeze()
    }

    /// Reads a response body fed in `chunks`, enforcing that the trailers
    /// come last, as the spec asks of the caller of the framer.
    fn read_response<'a>(
        chunks: impl IntoIterator<Item = &'a [u8]>,
        text: bool,
    ) -> Result<Response, Status> {
        let mut text_decoder = WebTextDecoder::new();
        let mut framer = MessageDecoder::new().with_web_trailers();
        let mut codec = BytesCodec;
        let mut messages = Vec::new();
        let mut trailers = None;
        for chunk in chunks {
            let chunk = if text {
                let mut decoded = BytesMut::new();
                text_decoder.push(chunk, &mut decoded)?;
                decoded.freeze()
            } else {
                Bytes::copy_from_slice(chunk)
            };
            framer.push(chunk);
            while let Some(frame) = framer.next_frame()? {
                if trailers.is_some() {
                    return Err(Status::internal("grpc-web: a frame after the trailers"));
                }
                match frame {
                    DecodedFrame::Message(message) => messages.push(codec.decode(message.data)?),
                    DecodedFrame::Trailers {
                        compressed: false,
                        data,
                    } => trailers = Some(parse_trailer_block(&data, DEFAULT_MAX_TRAILER_FIELDS)?),
                    DecodedFrame::Trailers {
                        compressed: true, ..
                    } => return Err(Status::internal("no grpc-encoding negotiated")),
                }
            }
        }
        text_decoder.finish()?;
        framer.finish()?;
        let fields = trailers.ok_or_else(|| Status::internal("grpc-web: no trailers"))?;
        let find = |name: &str| fields.iter().find(|(n, _)| n == name).map(|(_, v)| v);
        let status = Status::from_header_values(
            find("grpc-status").ok_or_else(|| Status::internal("no grpc-status"))?,
            find("grpc-message").map(|v| &v[..]),
            None,
        );
        let metadata = fields
            .iter()
            .filter(|(n, _)| !n.starts_with(b"grpc-"))
            .cloned()
            .collect();
        Ok(Response {
            messages,
            status,
            metadata,
        })
    }

    fn split_at_cuts<'a>(body: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
        let mut points: Vec<usize> = cuts.iter().map(|c| c % (body.len() + 1)).collect();
        points.extend([0, body.len()]);
        points.sort_unstable();
        points.windows(2).map(|w| &body[w[0]..w[1]]).collect()
    }

    #[test]
    fn binary_body_whole_and_bytewise() {
        let messages = [
            Bytes::from_static(b"first"),
            Bytes::new(),
            Bytes::from_static(b"3"),
        ];
        let status = Status::not_found("no such book: caf\u{e9}");
        let body = response_body(&messages, &status, &[("x-trace", "abc")], false);
        assert_eq!(&body[..10], b"\x00\x00\x00\x00\x05first");
        let expected = Response {
            messages: messages.to_vec(),
            status: status.clone(),
            metadata: alloc::vec![(Bytes::from_static(b"x-trace"), Bytes::from_static(b"abc"))],
        };
        assert_eq!(read_response([&body[..]], false).unwrap(), expected);
        assert_eq!(read_response(body.chunks(1), false).unwrap(), expected);
    }

    #[test]
    fn text_body_padded_per_frame() {
        let messages = [Bytes::from_static(b"ab")];
        let body = response_body(&messages, &Status::ok(), &[], true);
        // Each frame is its own base64 segment: "==" ends the first one.
        assert_eq!(&body[..], b"AAAAAAJhYg==gAAAABBncnBjLXN0YXR1czogMA0K");
        let response = read_response(body.chunks(3), true).unwrap();
        assert_eq!(response.messages, messages);
        assert!(response.status.is_ok());
    }

    #[test]
    fn text_body_from_another_implementation() {
        // One message "a", then trailers written without a space after the
        // colon, each frame padded on its own.
        let body = b"AAAAAAFhgAAAAA9ncnBjLXN0YXR1czowDQo=";
        for chunk_len in 1..=body.len() {
            let response = read_response(body.chunks(chunk_len), true).unwrap();
            assert_eq!(response.messages, [Bytes::from_static(b"a")]);
            assert!(response.status.is_ok());
        }
    }

    #[test]
    fn malformed_bodies() {
        let good = response_body(&[Bytes::from_static(b"m")], &Status::ok(), &[], false);
        let cases: &[(&str, Vec<u8>, Code)] = &[
            (
                "cut inside the trailer frame",
                good[..good.len() - 3].to_vec(),
                Code::INTERNAL,
            ),
            (
                "a message after the trailers",
                [&good[..], &good[..6]].concat(),
                Code::INTERNAL,
            ),
            (
                "malformed trailer block",
                b"\x80\x00\x00\x00\x0bgrpc-status".to_vec(),
                Code::INTERNAL,
            ),
            ("no trailers at all", good[..6].to_vec(), Code::INTERNAL),
            (
                "trailer frame over the size limit",
                b"\x80\xff\xff\xff\xff".to_vec(),
                Code::RESOURCE_EXHAUSTED,
            ),
        ];
        for (what, body, code) in cases {
            let error = read_response([&body[..]], false).unwrap_err();
            assert_eq!(error.code(), *code, "{what}: {error}");
        }
        let error = read_response([&b"AAAAAAFh!AAA"[..]], true).unwrap_err();
        assert_eq!(
            error.message(),
            "grpc-web-text body: byte 0x21 at offset 8 is not base64"
        );
    }

    #[quickcheck]
    fn any_response_survives_any_chunking(
        messages: Vec<Vec<u8>>,
        code: u8,
        message: String,
        text: bool,
        cuts: Vec<usize>,
    ) -> bool {
        let messages: Vec<Bytes> = messages.into_iter().map(Bytes::from).collect();
        let status = Status::new(Code::from_i32(i32::from(code % 17)), message);
        let body = response_body(&messages, &status, &[("x-n", "1")], text);
        let response = read_response(split_at_cuts(&body, &cuts), text).unwrap();
        response.messages == messages
            && response.status == status
            && response.metadata == [(Bytes::from_static(b"x-n"), Bytes::from_static(b"1"))]
    }
}
