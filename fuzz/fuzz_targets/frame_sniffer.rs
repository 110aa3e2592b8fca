#![no_main]
//! The keepalive frame sniffer over arbitrary bytes in arbitrary chunks.
//!
//! Invariants checked:
//! - it never holds more than a 9-byte partial frame header;
//! - chunked feeding reports exactly the frame headers, totals, preface
//!   verdict and error that one-shot feeding of the same bytes reports;
//! - both agree with a from-scratch reference scan written here;
//! - an error is sticky: later input is ignored and reports nothing.

use arbitrary::Arbitrary;
use ferrule_core::proto::keepalive::{
    CLIENT_PREFACE, DEFAULT_MAX_FRAME_SIZE, FRAME_HEADER_LEN, FrameHeader, FrameKind,
    InboundFrameSniffer, MAX_FRAME_SIZE_LIMIT, PrefaceStatus, SniffError, SniffSide,
};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    server: bool,
    /// Put a valid preface in front, so the fuzzer reaches the frames.
    with_preface: bool,
    max_frame_size: u32,
    /// Chunk lengths, cycled; 0 feeds an empty chunk, then one byte.
    chunks: Vec<u16>,
    bytes: Vec<u8>,
}

/// What a scan of the whole input should report.
#[derive(Debug, PartialEq)]
struct Expected {
    headers: Vec<FrameHeader>,
    failed: bool,
    /// The partial header left at the end, when not failed.
    buffered: usize,
    pending_preface: bool,
    /// The bytes are not a prefix of the preface: HTTP/1.x, garbage, or
    /// still undecided between the two.
    preface_mismatch: bool,
}

fn reference_scan(side: SniffSide, max: u32, input: &[u8]) -> Expected {
    let max = max.clamp(DEFAULT_MAX_FRAME_SIZE, MAX_FRAME_SIZE_LIMIT);
    let mut rest = input;
    let mut out = Expected {
        headers: Vec::new(),
        failed: false,
        buffered: 0,
        pending_preface: false,
        preface_mismatch: false,
    };
    if side == SniffSide::Server {
        let n = rest.len().min(CLIENT_PREFACE.len());
        if rest[..n] != CLIENT_PREFACE[..n] {
            out.preface_mismatch = true;
            return out;
        }
        if n < CLIENT_PREFACE.len() {
            out.pending_preface = true;
            return out;
        }
        rest = &rest[n..];
    }
    while rest.len() >= FRAME_HEADER_LEN {
        let header = FrameHeader::parse(rest[..FRAME_HEADER_LEN].try_into().expect("9 bytes"));
        rest = &rest[FRAME_HEADER_LEN..];
        if out.headers.is_empty() && header.kind != FrameKind::SETTINGS {
            out.failed = true;
            return out;
        }
        if header.length > max {
            out.failed = true;
            return out;
        }
        out.headers.push(header);
        let skip = rest.len().min(header.length as usize);
        if skip < header.length as usize {
            // Inside the last payload: nothing buffered.
            return out;
        }
        rest = &rest[skip..];
    }
    out.buffered = rest.len();
    out
}

fuzz_target!(|input: Input| {
    let side = if input.server {
        SniffSide::Server
    } else {
        SniffSide::Client
    };
    let mut bytes = Vec::new();
    if input.with_preface && input.server {
        bytes.extend_from_slice(CLIENT_PREFACE);
    }
    bytes.extend_from_slice(&input.bytes);

    let mut one_shot = InboundFrameSniffer::new(side, input.max_frame_size);
    let mut one_shot_headers = Vec::new();
    let one_shot_result = one_shot.feed(&bytes, |h| one_shot_headers.push(*h));
    assert!(one_shot.buffered_len() <= FRAME_HEADER_LEN);

    let mut chunked = InboundFrameSniffer::new(side, input.max_frame_size);
    let mut chunked_headers = Vec::new();
    let mut chunked_error: Option<SniffError> = None;
    let mut rest = &bytes[..];
    let mut sizes = input.chunks.iter().copied().cycle();
    loop {
        let size = if input.chunks.is_empty() {
            rest.len()
        } else {
            usize::from(sizes.next().unwrap_or(0))
        };
        if size == 0 {
            let before = chunked_headers.len();
            let result = chunked.feed(&[], |h| chunked_headers.push(*h));
            assert_eq!(
                result.err(),
                chunked_error,
                "an empty chunk changes nothing"
            );
            assert_eq!(chunked_headers.len(), before);
        }
        let (chunk, tail) = rest.split_at(size.clamp(1, rest.len().max(1)).min(rest.len()));
        let before = chunked_headers.len();
        match chunked.feed(chunk, |h| chunked_headers.push(*h)) {
            Ok(()) => assert!(chunked_error.is_none(), "an error must be sticky"),
            Err(e) => {
                if let Some(earlier) = chunked_error {
                    assert_eq!(e, earlier, "a sticky error must not change");
                    assert_eq!(chunked_headers.len(), before, "nothing after an error");
                }
                chunked_error = Some(e);
            }
        }
        assert!(chunked.buffered_len() <= FRAME_HEADER_LEN);
        rest = tail;
        if rest.is_empty() {
            break;
        }
    }

    assert_eq!(chunked_headers, one_shot_headers);
    assert_eq!(chunked_error, one_shot_result.err());
    assert_eq!(chunked.error(), one_shot.error());
    assert_eq!(chunked.totals(), one_shot.totals());
    assert_eq!(chunked.totals().frames, chunked_headers.len() as u64);
    assert_eq!(chunked.preface_status(), one_shot.preface_status());
    assert_eq!(chunked.buffered_len(), one_shot.buffered_len());

    let expected = reference_scan(side, input.max_frame_size, &bytes);
    assert_eq!(one_shot_headers, expected.headers);
    if expected.preface_mismatch {
        assert!(matches!(
            one_shot.preface_status(),
            PrefaceStatus::Pending | PrefaceStatus::Http1 | PrefaceStatus::Invalid
        ));
        assert!(matches!(
            one_shot.error(),
            None | Some(SniffError::Http1Request | SniffError::InvalidPreface)
        ));
    } else {
        assert_eq!(one_shot.error().is_some(), expected.failed);
    }
    if !expected.failed && !expected.preface_mismatch {
        assert_eq!(one_shot.buffered_len(), expected.buffered);
        assert_eq!(
            one_shot.preface_status() == PrefaceStatus::Pending,
            expected.pending_preface
        );
    }
    // A server verdict on the preface comes within the first 24 bytes.
    if side == SniffSide::Server && bytes.len() >= CLIENT_PREFACE.len() {
        assert_ne!(one_shot.preface_status(), PrefaceStatus::Pending);
    }

    // After an error, more input changes nothing.
    if let Some(error) = one_shot.error() {
        let totals = *one_shot.totals();
        assert_eq!(
            one_shot.feed(&bytes, |_| panic!("reported after an error")),
            Err(error)
        );
        assert_eq!(*one_shot.totals(), totals);
    }
});
