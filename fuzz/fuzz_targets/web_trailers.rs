#![no_main]
//! gRPC-Web trailer blocks: parsing arbitrary bytes, and encoding arbitrary
//! statuses and metadata.
//!
//! Invariants:
//! - parsing never panics, never returns more than `max_fields` fields, and
//!   every field it returns is well formed (non-empty lowercase token name,
//!   value without control characters or surrounding whitespace);
//! - parse is a fixed point: the fields parsed from any block, encoded into a
//!   trailer frame, parse back to `grpc-status` followed by the same fields;
//! - a frame encoded from any status parses back to that status's header
//!   values, then the metadata verbatim; a refused encode leaves the buffer
//!   as it was.

use arbitrary::Arbitrary;
use bytes::{Bytes, BytesMut};
use ferrule_codec::frame::FLAG_WEB_TRAILERS;
use ferrule_codec::status::decode_grpc_message;
use ferrule_codec::web::{encode_trailer_frame, parse_trailer_block};
use ferrule_codec::{Code, Status};
use libfuzzer_sys::fuzz_target;

const RESERVED: [&[u8]; 3] = [b"grpc-status", b"grpc-message", b"grpc-status-details-bin"];

#[derive(Arbitrary, Debug)]
struct Input {
    block: Vec<u8>,
    max_fields: u8,
    code: i32,
    message: String,
    details: Vec<u8>,
    metadata: Vec<(Vec<u8>, Vec<u8>)>,
}

fn is_value_byte(byte: u8) -> bool {
    byte == b'\t' || (byte >= 0x20 && byte != 0x7F)
}

/// Parses the block of an encoded frame after checking its header.
fn parse_frame(frame: &[u8]) -> Vec<(Bytes, Bytes)> {
    assert_eq!(frame[0], FLAG_WEB_TRAILERS);
    let len = u32::from_be_bytes([frame[1], frame[2], frame[3], frame[4]]) as usize;
    assert_eq!(len, frame.len() - 5, "length prefix");
    let block = Bytes::copy_from_slice(&frame[5..]);
    parse_trailer_block(&block, usize::MAX).expect("an encoded block parses")
}

fuzz_target!(|input: Input| {
    // Arbitrary bytes as a block.
    let max = usize::from(input.max_fields);
    let block = Bytes::from(input.block);
    if let Ok(fields) = parse_trailer_block(&block, max) {
        assert!(fields.len() <= max);
        for (name, value) in &fields {
            assert!(!name.is_empty());
            assert!(
                name.iter()
                    .all(|&b| b.is_ascii_graphic() && !b.is_ascii_uppercase())
            );
            assert!(!name.contains(&b':'));
            assert!(value.iter().all(|&b| is_value_byte(b)));
            assert!(value.first().is_none_or(|&b| b != b' ' && b != b'\t'));
            assert!(value.last().is_none_or(|&b| b != b' ' && b != b'\t'));
        }

        let kept: Vec<(Bytes, Bytes)> = fields
            .into_iter()
            .filter(|(name, _)| !RESERVED.contains(&&name[..]))
            .collect();
        let mut frame = BytesMut::new();
        encode_trailer_frame(&Status::ok(), kept.iter().map(|(n, v)| (n, v)), &mut frame)
            .expect("parsed fields re-encode");
        let reparsed = parse_frame(&frame);
        assert_eq!(reparsed[0].0, "grpc-status");
        assert_eq!(reparsed[0].1, "0");
        assert_eq!(reparsed[1..], kept[..], "parse -> encode -> parse");
    }

    // An arbitrary status and metadata as a frame.
    let status = Status::new(Code::from_i32(input.code), input.message.clone())
        .with_details(Bytes::from(input.details));
    let mut dst = BytesMut::from(&b"prefix"[..]);
    let metadata = input.metadata.iter().map(|(n, v)| (n, v));
    match encode_trailer_frame(&status, metadata, &mut dst) {
        Err(_) => assert_eq!(&dst[..], b"prefix", "a refused encode wrote bytes"),
        Ok(()) => {
            assert_eq!(&dst[..6], b"prefix");
            let fields = parse_frame(&dst[6..]);
            let mut fields = fields.into_iter();
            let expected = status.to_header_values();
            let (name, value) = fields.next().expect("grpc-status");
            assert_eq!(name, "grpc-status");
            assert_eq!(value, expected.grpc_status);
            if !input.message.is_empty() {
                let (name, value) = fields.next().expect("grpc-message");
                assert_eq!(name, "grpc-message");
                assert_eq!(decode_grpc_message(&value), input.message);
            }
            if expected.grpc_status_details.is_some() {
                let (name, _) = fields.next().expect("grpc-status-details-bin");
                assert_eq!(name, "grpc-status-details-bin");
            }
            let rest: Vec<(Bytes, Bytes)> = fields.collect();
            assert_eq!(rest.len(), input.metadata.len());
            for ((name, value), (sent_name, sent_value)) in rest.iter().zip(&input.metadata) {
                assert_eq!(name, sent_name);
                assert_eq!(value, sent_value);
            }
        }
    }
});
