//! The GOAWAY frame gRPC servers send to ping abusers.
//!
//! h2 can send GOAWAY (`abrupt_shutdown`) but not with debug data, and
//! gRPC clients look for the debug data `too_many_pings` to double their
//! keepalive interval (grpc-go, grpc-core and grpc-java all do). So the
//! engine writes this frame itself.

use super::sniffer::{DEFAULT_MAX_FRAME_SIZE, FrameHeader, FrameKind};

/// The HTTP/2 error code ENHANCE_YOUR_CALM (0xb).
pub const ENHANCE_YOUR_CALM: u32 = 0xb;

/// The GOAWAY debug data gRPC sends with ENHANCE_YOUR_CALM for ping abuse.
pub const TOO_MANY_PINGS: &[u8] = b"too_many_pings";

/// Debug data beyond this is cut, so that the frame fits the smallest
/// maximum frame size every peer accepts.
pub const MAX_GOAWAY_DEBUG_DATA: usize = DEFAULT_MAX_FRAME_SIZE as usize - 8;

/// Appends a complete GOAWAY frame to `out`: `last_stream_id` (the highest
/// client stream the server processed, or may still process), the error
/// code, and the debug data (cut to [`MAX_GOAWAY_DEBUG_DATA`]).
///
/// For ping abuse: `encode_goaway(last_id, ENHANCE_YOUR_CALM, TOO_MANY_PINGS, out)`.
/// Write it at a frame boundary of the outgoing bytes (after everything h2
/// has already produced), then stop sending and close.
pub fn encode_goaway(last_stream_id: u32, error_code: u32, debug_data: &[u8], out: &mut Vec<u8>) {
    let debug_data = debug_data
        .get(..MAX_GOAWAY_DEBUG_DATA)
        .unwrap_or(debug_data);
    let header = FrameHeader {
        // At most 16 384, far below the 24-bit limit.
        length: (8 + debug_data.len()) as u32,
        kind: FrameKind::GOAWAY,
        flags: 0,
        stream_id: 0,
    };
    out.reserve(9 + 8 + debug_data.len());
    out.extend_from_slice(&header.encode());
    out.extend_from_slice(&(last_stream_id & 0x7fff_ffff).to_be_bytes());
    out.extend_from_slice(&error_code.to_be_bytes());
    out.extend_from_slice(debug_data);
}

#[cfg(test)]
mod tests {
    use super::*;
    use quickcheck_macros::quickcheck;

    #[test]
    fn too_many_pings_frame_bytes() {
        let mut out = vec![0xee];
        encode_goaway(5, ENHANCE_YOUR_CALM, TOO_MANY_PINGS, &mut out);
        let mut expected = vec![0xee, 0, 0, 22, 7, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0x0b];
        expected.extend_from_slice(b"too_many_pings");
        assert_eq!(out, expected);
    }

    #[test]
    fn long_debug_data_is_cut() {
        let mut out = Vec::new();
        encode_goaway(u32::MAX, 0, &vec![b'x'; 100_000], &mut out);
        assert_eq!(out.len(), 9 + DEFAULT_MAX_FRAME_SIZE as usize);
        let header = FrameHeader::parse(out[..9].try_into().expect("9 bytes"));
        assert_eq!(header.length, DEFAULT_MAX_FRAME_SIZE);
        assert_eq!(
            &out[9..13],
            &[0x7f, 0xff, 0xff, 0xff],
            "reserved bit cleared"
        );
    }

    #[quickcheck]
    fn goaway_decodes_back(last_stream_id: u32, error_code: u32, debug: Vec<u8>) -> bool {
        let mut out = Vec::new();
        encode_goaway(last_stream_id, error_code, &debug, &mut out);
        let header = FrameHeader::parse(out[..9].try_into().expect("9 bytes"));
        let payload = &out[9..];
        header.kind == FrameKind::GOAWAY
            && header.stream_id == 0
            && header.length as usize == payload.len()
            && payload[..4] == (last_stream_id & 0x7fff_ffff).to_be_bytes()
            && payload[4..8] == error_code.to_be_bytes()
            && payload[8..] == debug[..]
    }
}
