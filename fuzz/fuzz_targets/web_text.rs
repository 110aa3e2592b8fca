#![no_main]
//! `grpc-web-text`: the base64 encoder and decoder under arbitrary input and
//! arbitrary chunking.
//!
//! Invariants:
//! - decoding is independent of how the input is chunked (same bytes, same
//!   error), and the decoder never holds more than 3 characters;
//! - a successful decode yields exactly 3 bytes per quantum minus one per `=`,
//!   and, when there is no padding, re-encodes to the input;
//! - encoding under any chunking holds at most 2 bytes, writes 4 characters
//!   per started group, and decodes back to the input, also when the input is
//!   cut into separately padded segments.

use arbitrary::Arbitrary;
use bytes::BytesMut;
use ferrule_codec::web::{WebTextDecoder, WebTextEncoder, WebTextError};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    data: Vec<u8>,
    /// Chunk lengths for pushing `data` (cycled; 0 means an empty push).
    chunk_lens: Vec<u8>,
    /// Segment lengths for separately padded encoding (cycled).
    segment_lens: Vec<u8>,
}

/// Splits `data` into chunks of the given lengths, cycled; a 0 length yields
/// an empty chunk and then a 1-byte one so the split always progresses.
fn chunks<'a>(data: &'a [u8], lens: &[u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    let mut i = 0;
    while !rest.is_empty() {
        let len = lens.get(i % lens.len().max(1)).copied().unwrap_or(u8::MAX);
        i += 1;
        let len = usize::from(len);
        if len == 0 {
            out.push(&rest[..0]);
        }
        let (head, tail) = rest.split_at(len.clamp(1, rest.len()));
        out.push(head);
        rest = tail;
    }
    out
}

fn decode_chunked(text: &[u8], lens: &[u8]) -> Result<Vec<u8>, WebTextError> {
    let mut decoder = WebTextDecoder::new();
    let mut out = BytesMut::new();
    for chunk in chunks(text, lens) {
        let result = decoder.push(chunk, &mut out);
        assert!(
            decoder.buffered() <= 3,
            "decoder holds {}",
            decoder.buffered()
        );
        result?;
    }
    decoder.finish()?;
    Ok(out.to_vec())
}

fn encode_chunked(data: &[u8], lens: &[u8]) -> Vec<u8> {
    let mut encoder = WebTextEncoder::new();
    let mut out = BytesMut::new();
    for chunk in chunks(data, lens) {
        encoder.push(chunk, &mut out);
        assert!(
            encoder.buffered() <= 2,
            "encoder holds {}",
            encoder.buffered()
        );
        assert_eq!(out.len() % 4, 0, "encoder wrote a partial quantum");
    }
    encoder.finish(&mut out);
    assert_eq!(encoder.buffered(), 0);
    out.to_vec()
}

fuzz_target!(|input: Input| {
    let Input {
        data,
        chunk_lens,
        segment_lens,
    } = input;

    // The data as a grpc-web-text body.
    let whole = decode_chunked(&data, &[]);
    let chunked = decode_chunked(&data, &chunk_lens);
    assert_eq!(whole, chunked, "chunking changed the decode");
    if let Ok(decoded) = &whole {
        assert_eq!(data.len() % 4, 0);
        let pads = data.iter().filter(|&&b| b == b'=').count();
        assert_eq!(decoded.len(), data.len() / 4 * 3 - pads);
        if pads == 0 {
            assert_eq!(encode_chunked(decoded, &[]), data, "re-encoding differs");
        }
    }

    // The data as plaintext, in one padded segment.
    let text = encode_chunked(&data, &chunk_lens);
    assert_eq!(text.len(), data.len().div_ceil(3) * 4);
    assert_eq!(
        encode_chunked(&data, &[]),
        text,
        "chunking changed the encode"
    );
    assert_eq!(
        decode_chunked(&text, &segment_lens).as_deref(),
        Ok(&data[..])
    );

    // The data as plaintext, cut into separately padded segments.
    let mut segmented = Vec::new();
    for segment in chunks(&data, &segment_lens) {
        segmented.extend_from_slice(&encode_chunked(segment, &chunk_lens));
    }
    assert_eq!(
        decode_chunked(&segmented, &chunk_lens).as_deref(),
        Ok(&data[..])
    );
});
