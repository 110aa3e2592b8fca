//! The `application/grpc-web-text` body: the `application/grpc-web` byte
//! stream in base64 (standard alphabet).
//!
//! The body is not one base64 document. `doc/PROTOCOL-WEB.md` lets a sender
//! encode and pad each message, or whatever it flushes, on its own, so padding
//! may end any 4-character quantum, not only the last. The decoder therefore
//! works one quantum at a time, and both halves accept input cut at any byte.

use bytes::BytesMut;
use core::fmt;

use crate::Status;

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Marks a byte that is not in the alphabet in [`DECODE`].
const INVALID: u8 = 0xFF;
/// Marks `=` in [`DECODE`].
const PAD: u8 = 0xFE;

const DECODE: [u8; 256] = {
    let mut table = [INVALID; 256];
    let mut i = 0;
    while i < ALPHABET.len() {
        table[ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    table[b'=' as usize] = PAD;
    table
};

fn encode_group(group: [u8; 3]) -> [u8; 4] {
    let bits = u32::from(group[0]) << 16 | u32::from(group[1]) << 8 | u32::from(group[2]);
    [
        ALPHABET[(bits >> 18) as usize & 0x3F],
        ALPHABET[(bits >> 12) as usize & 0x3F],
        ALPHABET[(bits >> 6) as usize & 0x3F],
        ALPHABET[bits as usize & 0x3F],
    ]
}

/// Encodes a byte stream as `grpc-web-text`, in pushes of any size.
///
/// Between pushes it holds at most 2 bytes (an incomplete 3-byte group).
/// [`finish`](Self::finish) writes them out padded, which is what a sender
/// does at the end of each message or flush; the encoder may then be used for
/// the next segment.
#[derive(Clone, Debug, Default)]
pub struct WebTextEncoder {
    pending: [u8; 2],
    pending_len: u8,
}

impl WebTextEncoder {
    /// An encoder with nothing buffered.
    pub const fn new() -> Self {
        WebTextEncoder {
            pending: [0; 2],
            pending_len: 0,
        }
    }

    /// How many input bytes are held back until more input or `finish` (0..=2).
    pub fn buffered(&self) -> usize {
        usize::from(self.pending_len)
    }

    /// Appends the base64 of `src` to `dst`, holding back the bytes of an
    /// incomplete last group.
    pub fn push(&mut self, mut src: &[u8], dst: &mut BytesMut) {
        let total = self.buffered().saturating_add(src.len());
        dst.reserve(total / 3 * 4);

        if self.pending_len > 0 {
            let mut group = [0u8; 3];
            let held = self.buffered();
            group[..held].copy_from_slice(&self.pending[..held]);
            let needed = 3 - held;
            if src.len() < needed {
                self.pending[held..held + src.len()].copy_from_slice(src);
                self.pending_len += src.len() as u8;
                return;
            }
            let (head, rest) = src.split_at(needed);
            group[held..].copy_from_slice(head);
            dst.extend_from_slice(&encode_group(group));
            self.pending_len = 0;
            src = rest;
        }

        let mut groups = src.chunks_exact(3);
        for group in &mut groups {
            dst.extend_from_slice(&encode_group([group[0], group[1], group[2]]));
        }
        let tail = groups.remainder();
        self.pending[..tail.len()].copy_from_slice(tail);
        self.pending_len = tail.len() as u8;
    }

    /// Writes the held-back bytes as a final padded quantum (nothing if none
    /// are held), leaving the encoder empty and ready for the next segment.
    pub fn finish(&mut self, dst: &mut BytesMut) {
        let chars = match self.pending_len {
            1 => {
                let mut chars = encode_group([self.pending[0], 0, 0]);
                chars[2] = b'=';
                chars[3] = b'=';
                chars
            }
            2 => {
                let mut chars = encode_group([self.pending[0], self.pending[1], 0]);
                chars[3] = b'=';
                chars
            }
            _ => return,
        };
        dst.extend_from_slice(&chars);
        self.pending_len = 0;
    }
}

/// What is wrong with a `grpc-web-text` body.
///
/// Offsets count characters from the start of the stream the decoder was fed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WebTextError {
    /// A byte that is neither in the base64 alphabet nor `=`.
    InvalidCharacter {
        /// The offending byte.
        byte: u8,
        /// Its position in the stream.
        offset: u64,
    },
    /// `=` where a quantum cannot end (in its first two characters, or a
    /// third-character `=` not followed by a fourth), or a character after
    /// `=` in the same quantum.
    MisplacedPadding {
        /// Position of the character that breaks the rule.
        offset: u64,
    },
    /// The stream ended inside a 4-character quantum.
    Truncated {
        /// How many characters of the incomplete quantum were received (1..=3).
        buffered: usize,
    },
}

impl fmt::Display for WebTextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            WebTextError::InvalidCharacter { byte, offset } => write!(
                f,
                "grpc-web-text body: byte 0x{byte:02x} at offset {offset} is not base64"
            ),
            WebTextError::MisplacedPadding { offset } => write!(
                f,
                "grpc-web-text body: misplaced base64 padding at offset {offset}"
            ),
            WebTextError::Truncated { buffered } => write!(
                f,
                "grpc-web-text body: ends with an incomplete base64 quantum of {buffered} characters"
            ),
        }
    }
}

impl core::error::Error for WebTextError {}

impl From<WebTextError> for Status {
    fn from(error: WebTextError) -> Status {
        Status::internal(alloc::format!("{error}"))
    }
}

/// Decodes a `grpc-web-text` body, in pushes of any size.
///
/// Works per 4-character quantum and accepts `=` padding at the end of any
/// quantum, since each message or flush may have been encoded and padded on
/// its own. Between pushes it holds at most 3 characters. Bits that padding
/// leaves over in the last character are ignored, as browsers' `atob` does.
///
/// Errors are sticky: after one, every call returns it again.
#[derive(Clone, Debug, Default)]
pub struct WebTextDecoder {
    pending: [u8; 4],
    pending_len: u8,
    /// Stream offset of `pending[0]`, or of the next character when nothing is
    /// pending.
    offset: u64,
    error: Option<WebTextError>,
}

impl WebTextDecoder {
    /// A decoder at the start of a stream.
    pub const fn new() -> Self {
        WebTextDecoder {
            pending: [0; 4],
            pending_len: 0,
            offset: 0,
            error: None,
        }
    }

    /// How many characters of an incomplete quantum are held (0..=3).
    pub fn buffered(&self) -> usize {
        usize::from(self.pending_len)
    }

    /// Decodes the complete quanta that `src` finishes or contains and appends
    /// the bytes to `dst`, holding back an incomplete last quantum.
    ///
    /// On error, `dst` holds the bytes of the quanta before the bad one.
    pub fn push(&mut self, mut src: &[u8], dst: &mut BytesMut) -> Result<(), WebTextError> {
        if let Some(error) = self.error {
            return Err(error);
        }
        let total = self.buffered().saturating_add(src.len());
        dst.reserve(total / 4 * 3);

        if self.pending_len > 0 {
            let held = self.buffered();
            let needed = 4 - held;
            if src.len() < needed {
                self.pending[held..held + src.len()].copy_from_slice(src);
                self.pending_len += src.len() as u8;
                return Ok(());
            }
            let (head, rest) = src.split_at(needed);
            let mut quantum = self.pending;
            quantum[held..].copy_from_slice(head);
            self.pending_len = 0;
            self.decode_quantum(quantum, dst)?;
            src = rest;
        }

        let mut quanta = src.chunks_exact(4);
        for quantum in &mut quanta {
            self.decode_quantum([quantum[0], quantum[1], quantum[2], quantum[3]], dst)?;
        }
        let tail = quanta.remainder();
        self.pending[..tail.len()].copy_from_slice(tail);
        self.pending_len = tail.len() as u8;
        Ok(())
    }

    /// Checks that the stream ended on a quantum boundary.
    pub fn finish(&mut self) -> Result<(), WebTextError> {
        if let Some(error) = self.error {
            return Err(error);
        }
        match self.buffered() {
            0 => Ok(()),
            buffered => Err(self.fail(WebTextError::Truncated { buffered })),
        }
    }

    fn fail(&mut self, error: WebTextError) -> WebTextError {
        self.error = Some(error);
        error
    }

    fn decode_quantum(&mut self, chars: [u8; 4], dst: &mut BytesMut) -> Result<(), WebTextError> {
        let mut values = [0u8; 4];
        // Number of data characters: 4, or 3 / 2 before `=` / `==`.
        let mut data_len = 4;
        for (i, &c) in chars.iter().enumerate() {
            let value = DECODE[usize::from(c)];
            let offset = self.offset.saturating_add(i as u64);
            if data_len < 4 {
                // After a `=`, only `=` may follow.
                if value != PAD {
                    return Err(self.fail(WebTextError::MisplacedPadding { offset }));
                }
            } else if value == PAD {
                if i < 2 {
                    return Err(self.fail(WebTextError::MisplacedPadding { offset }));
                }
                data_len = i;
            } else if value == INVALID {
                return Err(self.fail(WebTextError::InvalidCharacter { byte: c, offset }));
            } else {
                values[i] = value;
            }
        }
        let bits = u32::from(values[0]) << 18
            | u32::from(values[1]) << 12
            | u32::from(values[2]) << 6
            | u32::from(values[3]);
        let bytes = [(bits >> 16) as u8, (bits >> 8) as u8, bits as u8];
        dst.extend_from_slice(&bytes[..data_len - 1]);
        self.offset = self.offset.saturating_add(4);
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use alloc::vec::Vec;
    use quickcheck::TestResult;
    use quickcheck_macros::quickcheck;

    fn encode_all(input: &[u8]) -> Vec<u8> {
        let mut encoder = WebTextEncoder::new();
        let mut dst = BytesMut::new();
        encoder.push(input, &mut dst);
        encoder.finish(&mut dst);
        dst.to_vec()
    }

    fn decode_all(input: &[u8]) -> Result<Vec<u8>, WebTextError> {
        let mut decoder = WebTextDecoder::new();
        let mut dst = BytesMut::new();
        decoder.push(input, &mut dst)?;
        decoder.finish()?;
        Ok(dst.to_vec())
    }

    /// Decodes `input` fed one byte at a time.
    fn decode_bytewise(input: &[u8]) -> Result<Vec<u8>, WebTextError> {
        let mut decoder = WebTextDecoder::new();
        let mut dst = BytesMut::new();
        for byte in input {
            decoder.push(core::slice::from_ref(byte), &mut dst)?;
            assert!(decoder.buffered() <= 3);
        }
        decoder.finish()?;
        Ok(dst.to_vec())
    }

    /// Splits `input` at the given cut points (taken modulo its length).
    fn chunks<'a>(input: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
        let mut points: Vec<usize> = cuts.iter().map(|cut| cut % (input.len() + 1)).collect();
        points.push(0);
        points.push(input.len());
        points.sort_unstable();
        points.windows(2).map(|w| &input[w[0]..w[1]]).collect()
    }

    #[test]
    fn rfc4648_vectors() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"", b""),
            (b"f", b"Zg=="),
            (b"fo", b"Zm8="),
            (b"foo", b"Zm9v"),
            (b"foob", b"Zm9vYg=="),
            (b"fooba", b"Zm9vYmE="),
            (b"foobar", b"Zm9vYmFy"),
            (b"\x00\x00\x00\x00\x00\x05", b"AAAAAAAF"),
            (b"\xff\xfe\xfd", b"//79"),
            (b"\xfb\xef\xbe", b"++++"),
        ];
        for (plain, text) in cases {
            assert_eq!(encode_all(plain), *text, "encode {plain:?}");
            assert_eq!(decode_all(text).unwrap(), *plain, "decode {text:?}");
            assert_eq!(decode_bytewise(text).unwrap(), *plain, "bytewise {text:?}");
        }
    }

    #[test]
    fn padding_mid_stream() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"Zg==Zg==", b"ff"),
            (b"Zm8=Zm9v", b"fofoo"),
            (b"Zm9vZg==Zm8=Zm9vYmFy", b"fooffofoobar"),
            // A grpc-web frame and a trailer frame, each padded on its own.
            (
                b"AAAAAAFh gAAAAA9ncnBjLXN0YXR1czowDQo=",
                b"\x00\x00\x00\x00\x01a\x80\x00\x00\x00\x0fgrpc-status:0\r\n",
            ),
        ];
        for (text, plain) in cases {
            let text: Vec<u8> = text.iter().copied().filter(|&b| b != b' ').collect();
            assert_eq!(decode_all(&text).unwrap(), *plain, "{text:?}");
            assert_eq!(decode_bytewise(&text).unwrap(), *plain, "{text:?}");
        }
    }

    #[test]
    fn trailing_bits_are_ignored() {
        // "Zh==" and "Zm9=" carry non-zero bits past the last byte.
        assert_eq!(decode_all(b"Zh==").unwrap(), b"f");
        assert_eq!(decode_all(b"Zm9=").unwrap(), b"fo");
    }

    #[test]
    fn malformed_streams() {
        use WebTextError::*;
        let cases: &[(&[u8], WebTextError)] = &[
            (b"Zg=", Truncated { buffered: 3 }),
            (b"Z", Truncated { buffered: 1 }),
            (b"Zm9vZm", Truncated { buffered: 2 }),
            (b"====", MisplacedPadding { offset: 0 }),
            (b"Z===", MisplacedPadding { offset: 1 }),
            (b"Zm9vZ===", MisplacedPadding { offset: 5 }),
            (b"Zg=A", MisplacedPadding { offset: 3 }),
            (b"Zg=AZm9v", MisplacedPadding { offset: 3 }),
            (b"Zm9v=", Truncated { buffered: 1 }),
            (b"Zm9v====", MisplacedPadding { offset: 4 }),
            (
                b"Zm 9",
                InvalidCharacter {
                    byte: b' ',
                    offset: 2,
                },
            ),
            (
                b"Zm9v\r\nAA",
                InvalidCharacter {
                    byte: b'\r',
                    offset: 4,
                },
            ),
            (
                b"Zm9-",
                InvalidCharacter {
                    byte: b'-',
                    offset: 3,
                },
            ),
            (
                b"Zm9_",
                InvalidCharacter {
                    byte: b'_',
                    offset: 3,
                },
            ),
            (
                b"Zm9vYmF\xff",
                InvalidCharacter {
                    byte: 0xff,
                    offset: 7,
                },
            ),
            (b"\0AAA", InvalidCharacter { byte: 0, offset: 0 }),
        ];
        for (text, expected) in cases {
            assert_eq!(decode_all(text), Err(*expected), "{text:?}");
            assert_eq!(decode_bytewise(text), Err(*expected), "bytewise {text:?}");
        }
    }

    #[test]
    fn errors_are_sticky_and_keep_earlier_output() {
        let mut decoder = WebTextDecoder::new();
        let mut dst = BytesMut::new();
        let error = decoder.push(b"Zm9v!!!!Zm9v", &mut dst).unwrap_err();
        assert_eq!(
            error,
            WebTextError::InvalidCharacter {
                byte: b'!',
                offset: 4
            }
        );
        assert_eq!(&dst[..], b"foo");
        assert_eq!(decoder.push(b"Zm9v", &mut dst), Err(error));
        assert_eq!(decoder.finish(), Err(error));
        assert_eq!(&dst[..], b"foo");
    }

    #[test]
    fn error_messages_say_what_and_where() {
        let error = decode_all(b"Zm9v*AAA").unwrap_err();
        assert_eq!(
            alloc::format!("{error}"),
            "grpc-web-text body: byte 0x2a at offset 4 is not base64"
        );
        let status = Status::from(decode_all(b"Zm9").unwrap_err());
        assert_eq!(status.code(), crate::Code::INTERNAL);
        assert_eq!(
            status.message(),
            "grpc-web-text body: ends with an incomplete base64 quantum of 3 characters"
        );
    }

    #[test]
    fn encoder_holds_at_most_two_bytes() {
        let mut encoder = WebTextEncoder::new();
        let mut dst = BytesMut::new();
        let steps: &[(&[u8], usize, &[u8])] = &[
            (b"f", 1, b""),
            (b"", 1, b""),
            (b"o", 2, b""),
            (b"o", 0, b"Zm9v"),
            (b"bar!", 1, b"Zm9vYmFy"),
        ];
        for (input, buffered, output) in steps {
            encoder.push(input, &mut dst);
            assert_eq!(encoder.buffered(), *buffered);
            assert_eq!(&dst[..], *output);
        }
        encoder.finish(&mut dst);
        assert_eq!(&dst[..], b"Zm9vYmFyIQ==");
        assert_eq!(encoder.buffered(), 0);
        // Finishing again writes nothing; the encoder starts a new segment.
        encoder.finish(&mut dst);
        encoder.push(b"fo", &mut dst);
        encoder.finish(&mut dst);
        assert_eq!(&dst[..], b"Zm9vYmFyIQ==Zm8=");
    }

    #[quickcheck]
    fn matches_the_base64_crate(input: Vec<u8>) -> bool {
        use base64::Engine as _;
        let expected = base64::engine::general_purpose::STANDARD.encode(&input);
        encode_all(&input) == expected.as_bytes()
    }

    #[quickcheck]
    fn round_trip_under_independent_chunkings(
        input: Vec<u8>,
        encode_cuts: Vec<usize>,
        decode_cuts: Vec<usize>,
    ) -> bool {
        let mut encoder = WebTextEncoder::new();
        let mut text = BytesMut::new();
        for chunk in chunks(&input, &encode_cuts) {
            encoder.push(chunk, &mut text);
            assert!(encoder.buffered() <= 2);
        }
        encoder.finish(&mut text);

        let mut decoder = WebTextDecoder::new();
        let mut output = BytesMut::new();
        for chunk in chunks(&text, &decode_cuts) {
            decoder.push(chunk, &mut output).unwrap();
            assert!(decoder.buffered() <= 3);
        }
        decoder.finish().unwrap();
        output[..] == input[..]
    }

    #[quickcheck]
    fn separately_padded_segments_decode_to_their_concatenation(
        segments: Vec<Vec<u8>>,
        decode_cuts: Vec<usize>,
    ) -> bool {
        use base64::Engine as _;
        let mut text = Vec::new();
        for segment in &segments {
            let encoded = base64::engine::general_purpose::STANDARD.encode(segment);
            text.extend_from_slice(encoded.as_bytes());
        }
        let mut decoder = WebTextDecoder::new();
        let mut output = BytesMut::new();
        for chunk in chunks(&text, &decode_cuts) {
            decoder.push(chunk, &mut output).unwrap();
        }
        decoder.finish().unwrap();
        output[..] == segments.concat()[..]
    }

    #[quickcheck]
    fn arbitrary_input_never_panics_and_chunking_does_not_matter(
        input: Vec<u8>,
        cuts: Vec<usize>,
    ) -> TestResult {
        let whole = decode_all(&input);
        let mut decoder = WebTextDecoder::new();
        let mut output = BytesMut::new();
        let mut chunked = Ok(());
        for chunk in chunks(&input, &cuts) {
            chunked = decoder.push(chunk, &mut output);
            if chunked.is_err() {
                break;
            }
        }
        let chunked = chunked
            .and_then(|()| decoder.finish())
            .map(|()| output.to_vec());
        TestResult::from_bool(whole == chunked)
    }
}
