#![no_main]
//! `MessageDecoder` fed fuzzer-chosen bytes, cut into fuzzer-chosen chunks,
//! under a fuzzer-chosen limit. Checked against a one-shot reference parser
//! of the whole input, plus the decoder's own invariants:
//! - no frame longer than the limit is ever returned;
//! - the frames returned, re-encoded, are exactly the bytes consumed, and
//!   consumed + `buffered_len()` is everything pushed;
//! - drained after each push, `buffered_len()` stays within limit + header;
//! - an error is sticky (every later call returns it, nothing is buffered);
//! - `finish()` reports truncation iff bytes remain after draining.

use arbitrary::Arbitrary;
use bytes::Bytes;
use ferrule_codec::frame::{
    DecodedFrame, FLAG_WEB_TRAILERS, FrameError, HEADER_LEN, MessageDecoder, encode_header,
};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Limit {
    Small(u8),
    Medium(u16),
    Any(u32),
}

#[derive(Arbitrary, Debug)]
struct Input {
    limit: Limit,
    web_trailers: bool,
    /// Drain with `next_frame` rather than `next_message`.
    use_next_frame: bool,
    /// Chunk lengths, used in turn; 0 pushes an empty chunk.
    chunk_lens: Vec<u16>,
    data: Vec<u8>,
}

/// A frame as (flag byte, body).
type Frame = (u8, Vec<u8>);

/// The whole input parsed in one go: the frames, then how the stream ends.
fn reference(
    data: &[u8],
    max: usize,
    allow_trailers: bool,
) -> (Vec<Frame>, Result<(), FrameError>) {
    let mut frames = Vec::new();
    let mut rest = data;
    loop {
        if rest.is_empty() {
            return (frames, Ok(()));
        }
        let Some((header, body)) = rest.split_first_chunk::<HEADER_LEN>() else {
            return (
                frames,
                Err(FrameError::TruncatedHeader {
                    received: rest.len(),
                }),
            );
        };
        let flags = header[0];
        let valid = matches!(flags, 0 | 1) || (allow_trailers && matches!(flags, 0x80 | 0x81));
        if !valid {
            return (frames, Err(FrameError::InvalidFlags { flags }));
        }
        let len32 = u32::from_be_bytes([header[1], header[2], header[3], header[4]]);
        let len = len32 as usize;
        if len > max {
            return (
                frames,
                Err(FrameError::ReceivedMessageTooLarge { len: len32, max }),
            );
        }
        if body.len() < len {
            let err = FrameError::TruncatedMessage {
                expected: len,
                received: body.len(),
            };
            return (frames, Err(err));
        }
        let (msg, after) = body.split_at(len);
        frames.push((flags, msg.to_vec()));
        rest = after;
    }
}

fn next(decoder: &mut MessageDecoder, use_next_frame: bool) -> Result<Option<Frame>, FrameError> {
    if use_next_frame {
        Ok(decoder.next_frame()?.map(|frame| match frame {
            DecodedFrame::Message(msg) => (u8::from(msg.compressed), msg.data.to_vec()),
            DecodedFrame::Trailers { compressed, data } => {
                (FLAG_WEB_TRAILERS | u8::from(compressed), data.to_vec())
            }
        }))
    } else {
        Ok(decoder
            .next_message()?
            .map(|msg| (u8::from(msg.compressed), msg.data.to_vec())))
    }
}

fn assert_sticky(decoder: &mut MessageDecoder, err: &FrameError) {
    decoder.push(Bytes::from_static(b"\x00\x00\x00\x00\x00"));
    assert_eq!(decoder.buffered_len(), 0);
    assert_eq!(decoder.next_message().as_ref(), Err(err));
    assert_eq!(decoder.next_frame().as_ref(), Err(err));
    assert_eq!(decoder.finish().as_ref(), Err(err));
    assert_eq!(decoder.error(), Some(err));
}

fuzz_target!(|input: Input| {
    let max = match input.limit {
        Limit::Small(n) => usize::from(n),
        Limit::Medium(n) => usize::from(n),
        Limit::Any(n) => n as usize,
    };
    let mut decoder = MessageDecoder::new().with_max_message_size(max);
    if input.web_trailers {
        decoder = decoder.with_web_trailers();
    }
    // `next_message` never yields trailers, whatever the decoder accepts.
    let allow_trailers = input.web_trailers && input.use_next_frame;
    let (expected_frames, expected_end) = reference(&input.data, max, allow_trailers);

    let data = Bytes::from(input.data);
    let mut frames: Vec<Frame> = Vec::new();
    let mut reencoded: Vec<u8> = Vec::new();
    let mut pushed = 0;
    let mut outcome = None;
    let mut lens = input.chunk_lens.iter().copied().cycle();
    while pushed < data.len() && outcome.is_none() {
        let len = match lens.next() {
            None => data.len() - pushed,
            Some(0) => {
                decoder.push(Bytes::new());
                1
            }
            Some(n) => usize::from(n),
        };
        let end = data.len().min(pushed + len);
        decoder.push(data.slice(pushed..end));
        pushed = end;
        loop {
            match next(&mut decoder, input.use_next_frame) {
                Ok(Some((flags, body))) => {
                    assert!(
                        body.len() <= max,
                        "{} bytes returned, limit {max}",
                        body.len()
                    );
                    let len32 = u32::try_from(body.len()).expect("within a u32 limit");
                    reencoded.extend_from_slice(&encode_header(flags, len32));
                    reencoded.extend_from_slice(&body);
                    frames.push((flags, body));
                }
                Ok(None) => break,
                Err(err) => {
                    outcome = Some(Err(err));
                    break;
                }
            }
        }
        if outcome.is_none() {
            assert_eq!(
                &reencoded[..],
                &data[..reencoded.len()],
                "re-encoding differs"
            );
            assert_eq!(reencoded.len() + decoder.buffered_len(), pushed);
            assert!(decoder.buffered_len() <= max.saturating_add(HEADER_LEN));
        }
    }
    let outcome = match outcome {
        Some(err) => err,
        None => {
            // Drained: what remains can only be the start of a frame.
            let remaining = decoder.buffered_len();
            let end = decoder.finish();
            let truncated = matches!(
                end,
                Err(FrameError::TruncatedHeader { .. } | FrameError::TruncatedMessage { .. })
            );
            assert_eq!(
                truncated,
                remaining > 0,
                "finish() = {end:?} with {remaining} bytes left"
            );
            assert_eq!(end.is_ok(), remaining == 0);
            end
        }
    };
    if let Err(err) = &outcome {
        assert_sticky(&mut decoder, err);
    }
    assert_eq!(frames, expected_frames);
    assert_eq!(outcome, expected_end);
});
