//! A scripted HTTP/2 peer for tests, in the spirit of h2's `h2-support`:
//! it writes exactly the frames a test asks for (well-formed or not) and
//! parses whatever the engine under test writes back. Bytes in, bytes out;
//! no sockets, no clock.
//!
//! ```ignore
//! let mut client = MockPeer::client();
//! client
//!     .handshake()
//!     .grpc_request(1, &GrpcRequest::new("/pkg.Svc/Echo"))
//!     .grpc_message(1, b"hello", true);
//! engine.handle_input(&client.take_output(), now);
//! client.receive(&engine_output);
//! assert!(matches!(client.next_frame(), Some(Frame::Settings { ack: false, .. })));
//! ```

use super::frames::{self, Fields, Frame, FrameReader, Reading};
use super::grpc::{self, GrpcRequest};

/// Which end the mock plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Client,
    Server,
}

/// A scripted HTTP/2 endpoint. Frame methods append to the output and
/// return `&mut Self` for chaining; [`take_output`](Self::take_output)
/// drains it. [`receive`](Self::receive) takes the other side's bytes and
/// [`next_frame`](Self::next_frame) / [`frames`](Self::frames) parse them.
///
/// The HPACK encoder is stateful: every header block built is assumed to
/// reach the peer, in order.
pub struct MockPeer {
    role: Role,
    out: Vec<u8>,
    encoder: loona_hpack::Encoder<'static>,
    reader: FrameReader,
    max_frame_size: usize,
}

impl MockPeer {
    /// A mock client: its output starts with the preface when
    /// [`preface`](Self::preface) or [`handshake`](Self::handshake) says so.
    pub fn client() -> MockPeer {
        MockPeer::new(Role::Client)
    }

    /// A mock server: it reads and checks the client preface.
    pub fn server() -> MockPeer {
        MockPeer::new(Role::Server)
    }

    pub fn new(role: Role) -> MockPeer {
        MockPeer {
            role,
            out: Vec::new(),
            encoder: loona_hpack::Encoder::new(),
            reader: FrameReader::new(match role {
                Role::Client => Reading::FromServer,
                Role::Server => Reading::FromClient,
            }),
            max_frame_size: 16_384,
        }
    }

    pub fn role(&self) -> Role {
        self.role
    }

    /// The peer's SETTINGS_MAX_FRAME_SIZE as far as this mock cares: the
    /// largest header-block fragment per HEADERS/CONTINUATION frame in
    /// [`headers`](Self::headers) and the largest DATA payload in
    /// [`data_in_frames`](Self::data_in_frames) and
    /// [`grpc_message`](Self::grpc_message). 16 384 unless changed; set it
    /// small to force CONTINUATIONs. [`data`](Self::data) ignores it.
    pub fn set_max_frame_size(&mut self, max_frame_size: usize) -> &mut Self {
        assert!(max_frame_size > 0, "max frame size must be positive");
        self.max_frame_size = max_frame_size;
        self
    }

    // ===== output =====

    /// The 24-byte client preface.
    pub fn preface(&mut self) -> &mut Self {
        self.out.extend_from_slice(frames::PREFACE);
        self
    }

    /// The opening of a connection with default settings: preface and an
    /// empty SETTINGS for a client, an empty SETTINGS for a server.
    pub fn handshake(&mut self) -> &mut Self {
        if self.role == Role::Client {
            self.preface();
        }
        self.settings(&[])
    }

    pub fn settings(&mut self, settings: &[(u16, u32)]) -> &mut Self {
        frames::settings(&mut self.out, settings);
        self
    }

    pub fn settings_ack(&mut self) -> &mut Self {
        frames::settings_ack(&mut self.out);
        self
    }

    /// HEADERS (plus CONTINUATIONs past the fragment size) carrying `fields`.
    pub fn headers(&mut self, stream_id: u32, fields: &Fields, end_stream: bool) -> &mut Self {
        let size = self.max_frame_size;
        self.headers_in_fragments(stream_id, fields, end_stream, size)
    }

    /// HEADERS and CONTINUATIONs with at most `fragment_size` block bytes each.
    pub fn headers_in_fragments(
        &mut self,
        stream_id: u32,
        fields: &Fields,
        end_stream: bool,
        fragment_size: usize,
    ) -> &mut Self {
        let block = self.header_block(fields);
        frames::header_block_frames(&mut self.out, stream_id, &block, end_stream, fragment_size);
        self
    }

    /// HPACK-encodes `fields` without writing a frame, for hand-made
    /// malformed HEADERS (send it with [`raw_frame`](Self::raw_frame)).
    pub fn header_block(&mut self, fields: &Fields) -> Vec<u8> {
        self.encoder.encode(
            fields
                .iter()
                .map(|(name, value)| (name.as_bytes(), value.as_bytes())),
        )
    }

    /// One DATA frame with all of `data`, however large (a frame over the
    /// peer's maximum frame size is a way to misbehave).
    pub fn data(&mut self, stream_id: u32, data: &[u8], end_stream: bool) -> &mut Self {
        frames::data(&mut self.out, stream_id, data, end_stream);
        self
    }

    /// `data` in as many DATA frames as the max frame size needs, with
    /// END_STREAM on the last one if asked.
    pub fn data_in_frames(&mut self, stream_id: u32, data: &[u8], end_stream: bool) -> &mut Self {
        if data.is_empty() {
            return self.data(stream_id, data, end_stream);
        }
        let count = data.len().div_ceil(self.max_frame_size);
        for (i, chunk) in data.chunks(self.max_frame_size).enumerate() {
            frames::data(
                &mut self.out,
                stream_id,
                chunk,
                end_stream && i + 1 == count,
            );
        }
        self
    }

    pub fn data_padded(
        &mut self,
        stream_id: u32,
        data: &[u8],
        pad_len: u8,
        end_stream: bool,
    ) -> &mut Self {
        frames::data_padded(&mut self.out, stream_id, data, pad_len, end_stream);
        self
    }

    pub fn rst_stream(&mut self, stream_id: u32, error_code: u32) -> &mut Self {
        frames::rst_stream(&mut self.out, stream_id, error_code);
        self
    }

    pub fn ping(&mut self, payload: [u8; 8]) -> &mut Self {
        frames::ping(&mut self.out, payload, false);
        self
    }

    pub fn ping_ack(&mut self, payload: [u8; 8]) -> &mut Self {
        frames::ping(&mut self.out, payload, true);
        self
    }

    /// `count` PINGs in a row, payloads numbered from 0.
    pub fn ping_flood(&mut self, count: u64) -> &mut Self {
        for i in 0..count {
            self.ping(i.to_be_bytes());
        }
        self
    }

    pub fn goaway(&mut self, last_stream_id: u32, error_code: u32, debug_data: &[u8]) -> &mut Self {
        frames::goaway(&mut self.out, last_stream_id, error_code, debug_data);
        self
    }

    pub fn window_update(&mut self, stream_id: u32, increment: u32) -> &mut Self {
        frames::window_update(&mut self.out, stream_id, increment);
        self
    }

    pub fn priority(
        &mut self,
        stream_id: u32,
        dependency: u32,
        exclusive: bool,
        weight: u8,
    ) -> &mut Self {
        frames::priority(&mut self.out, stream_id, dependency, exclusive, weight);
        self
    }

    /// Any frame, with the length field matching `payload`.
    pub fn raw_frame(&mut self, kind: u8, flags: u8, stream_id: u32, payload: &[u8]) -> &mut Self {
        frames::raw_frame(&mut self.out, kind, flags, stream_id, payload);
        self
    }

    /// Arbitrary bytes, verbatim.
    pub fn raw(&mut self, bytes: &[u8]) -> &mut Self {
        self.out.extend_from_slice(bytes);
        self
    }

    /// A gRPC request's HEADERS (no END_STREAM).
    pub fn grpc_request(&mut self, stream_id: u32, request: &GrpcRequest) -> &mut Self {
        self.headers(stream_id, &request.fields(), false)
    }

    /// One uncompressed gRPC message, in DATA frames of at most the max
    /// frame size.
    pub fn grpc_message(&mut self, stream_id: u32, payload: &[u8], end_stream: bool) -> &mut Self {
        self.data_in_frames(stream_id, &grpc::message(payload), end_stream)
    }

    /// A whole unary response: headers, one message, trailers.
    pub fn grpc_unary_response(
        &mut self,
        stream_id: u32,
        payload: &[u8],
        code: u32,
        message: &str,
    ) -> &mut Self {
        self.headers(stream_id, &grpc::response_headers(), false)
            .grpc_message(stream_id, payload, false)
            .headers(stream_id, &grpc::trailers(code, message), true)
    }

    /// Bytes written so far and not yet taken.
    pub fn pending_output(&self) -> &[u8] {
        &self.out
    }

    /// Drains the bytes written so far.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    // ===== input =====

    /// Bytes from the other side, in order.
    pub fn receive(&mut self, bytes: &[u8]) -> &mut Self {
        self.reader.push(bytes);
        self
    }

    /// The next complete frame received, or `None` if none is complete.
    pub fn next_frame(&mut self) -> Option<Frame> {
        self.reader.next_frame()
    }

    /// Every complete frame received and not yet returned.
    pub fn frames(&mut self) -> Vec<Frame> {
        self.reader.frames()
    }

    /// Received bytes of an incomplete frame.
    pub fn buffered_input(&self) -> usize {
        self.reader.buffered()
    }
}
