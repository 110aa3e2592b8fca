#![no_main]
//! The engine's frame walker (the one reader of HTTP/2 frames beside h2)
//! over arbitrary bytes in arbitrary chunks.
//!
//! Invariants checked:
//! - chunked walking reports exactly the frame headers, the counts
//!   (`FramesSeen`) and the last GOAWAY that one-shot walking of the same
//!   bytes reports;
//! - both agree with a from-scratch reference scan written here;
//! - `at_boundary` holds exactly at the ends of whole frames, and
//!   `to_boundary` never goes past the end of the current frame.

use arbitrary::Arbitrary;
use ferrule_core::proto::frame::{
    CLIENT_PREFACE, FRAME_HEADER_LEN, FrameHeader, FrameKind, FrameWalker, FramesSeen,
};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    /// The stream starts with the client preface (what a server receives).
    after_preface: bool,
    /// Chunk lengths, cycled; 0 feeds an empty chunk.
    chunks: Vec<u16>,
    bytes: Vec<u8>,
}

/// What a scan of the whole input should report: the headers, where whole
/// frames end, and the payload of the last whole GOAWAY.
struct Expected {
    headers: Vec<FrameHeader>,
    ends: Vec<usize>,
    goaway: Option<Vec<u8>>,
}

fn reference_scan(input: &[u8], skip: usize) -> Expected {
    let mut out = Expected {
        headers: Vec::new(),
        ends: vec![skip.min(input.len())],
        goaway: None,
    };
    let mut at = skip;
    while input.len() >= at + FRAME_HEADER_LEN {
        let bytes: [u8; FRAME_HEADER_LEN] = input[at..at + FRAME_HEADER_LEN]
            .try_into()
            .expect("9 bytes");
        let header = FrameHeader::parse(bytes);
        out.headers.push(header);
        let end = at + FRAME_HEADER_LEN + header.length as usize;
        if end > input.len() {
            break;
        }
        if header.kind == FrameKind::GOAWAY {
            let payload = &input[at + FRAME_HEADER_LEN..end];
            out.goaway = Some(payload[..payload.len().min(8 + 256)].to_vec());
        }
        out.ends.push(end);
        at = end;
    }
    out
}

fn seen_of(headers: &[FrameHeader]) -> FramesSeen {
    let mut seen = FramesSeen::default();
    for h in headers {
        seen.frames += 1;
        if h.is_ping() {
            seen.pings += 1;
        } else if h.is_headers_or_data() {
            seen.headers_or_data += 1;
        } else if h.is_settings() {
            seen.settings = true;
        }
    }
    seen
}

fuzz_target!(|input: Input| {
    let bytes = if input.after_preface {
        let mut bytes = CLIENT_PREFACE.to_vec();
        bytes.extend_from_slice(&input.bytes);
        bytes
    } else {
        input.bytes.clone()
    };
    let skip = if input.after_preface {
        CLIENT_PREFACE.len()
    } else {
        0
    };
    let new = || {
        if input.after_preface {
            FrameWalker::after_preface()
        } else {
            FrameWalker::new()
        }
    };
    let expected = reference_scan(&bytes, skip);

    // One shot.
    let mut whole = new();
    let mut whole_headers = Vec::new();
    whole.walk(&bytes, |h| whole_headers.push(*h));
    assert_eq!(whole_headers, expected.headers);
    assert_eq!(
        whole.at_boundary(),
        expected.ends.last() == Some(&bytes.len())
    );

    // Chunked.
    let mut walker = new();
    let mut headers = Vec::new();
    let mut offset = 0;
    let mut lengths = input.chunks.iter().map(|&c| usize::from(c)).cycle();
    let mut steps = 0;
    while offset < bytes.len() && steps < 100_000 {
        steps += 1;
        let n = lengths
            .next()
            .unwrap_or(bytes.len())
            .min(bytes.len() - offset);
        let to = walker.to_boundary(&bytes[offset..]);
        let next_end = expected.ends.iter().find(|&&e| e > offset).copied();
        match next_end {
            Some(end) if !walker.at_boundary() => assert_eq!(to, end - offset),
            _ => assert!(to <= bytes.len() - offset),
        }
        walker.walk(&bytes[offset..offset + n], |h| headers.push(*h));
        offset += n;
        assert_eq!(
            walker.at_boundary(),
            expected.ends.contains(&offset),
            "at {offset}"
        );
    }
    if offset < bytes.len() {
        walker.walk(&bytes[offset..], |h| headers.push(*h));
    }
    assert_eq!(headers, expected.headers);
    assert_eq!(walker.take_seen(), seen_of(&expected.headers));
    assert_eq!(whole.take_seen(), seen_of(&expected.headers));
    let goaway = walker.take_goaway();
    match (&expected.goaway, goaway) {
        (Some(payload), Some(got)) => {
            assert!(payload.len() >= 8);
            assert_eq!(&got.debug_data[..], &payload[8..]);
        }
        (Some(payload), None) => assert!(payload.len() < 8, "a whole GOAWAY is captured"),
        (None, got) => assert!(got.is_none()),
    }
});
