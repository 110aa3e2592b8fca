//! [`decompress`]: bounded, streaming, never trusting sizes a peer claims.

use bytes::BytesMut;

use super::{CompressionError, Encoding};

/// Appends the decompression of `src` to `dst`, failing as soon as the
/// output would exceed `max_size` bytes.
///
/// Output is produced in pieces straight into `dst`, whose length never
/// exceeds its length at entry plus `max_size`; the first piece is sized from
/// `src`, later ones double, and no size announced inside the stream (gzip's
/// ISIZE, zstd's frame content size) is used to allocate. Growing `dst` past
/// half the limit allocates exactly up to the limit rather than letting the
/// buffer double past it, so a compression bomb costs at most about
/// `max_size` bytes of `dst` capacity. zstd's window is also capped (at
/// `max_size` rounded up to a power of two, but at least 2 MiB so frames
/// from default-level streaming encoders decode).
///
/// Errors:
/// - [`CompressionError::LimitExceeded`] (`RESOURCE_EXHAUSTED`) when the
///   output is larger than `max_size`;
/// - [`CompressionError::Corrupt`] (`INTERNAL`) for invalid, truncated or
///   empty input, for bytes after the end of the stream, and for a zstd
///   frame whose window is over the cap above;
/// - [`CompressionError::NotEnabled`] when `encoding`'s feature is off.
///
/// gzip input may hold several members, zstd input several frames (their
/// outputs are concatenated, as grpc-go's gzip reader and zstd do). On
/// error `dst` is truncated back to its length at entry.
pub fn decompress(
    encoding: Encoding,
    src: &[u8],
    dst: &mut BytesMut,
    max_size: usize,
) -> Result<(), CompressionError> {
    let start = dst.len();
    let result = decompress_into(encoding, src, dst, max_size);
    if result.is_err() {
        dst.truncate(start);
    }
    result
}

fn decompress_into(
    encoding: Encoding,
    src: &[u8],
    dst: &mut BytesMut,
    max_size: usize,
) -> Result<(), CompressionError> {
    if encoding == Encoding::Identity {
        if src.len() > max_size {
            return Err(CompressionError::LimitExceeded {
                encoding,
                limit: max_size,
            });
        }
        dst.extend_from_slice(src);
        return Ok(());
    }
    if !encoding.is_supported() {
        return Err(CompressionError::NotEnabled(encoding));
    }
    if src.is_empty() {
        return Err(corrupt(encoding, "empty input"));
    }
    #[cfg(any(feature = "gzip", feature = "deflate", feature = "zstd"))]
    {
        streaming::run(encoding, src, dst, max_size)
    }
    #[cfg(not(any(feature = "gzip", feature = "deflate", feature = "zstd")))]
    {
        // Unreachable: is_supported() is false for every compressing encoding.
        let _ = (dst, max_size);
        Err(CompressionError::NotEnabled(encoding))
    }
}

fn corrupt(encoding: Encoding, reason: &str) -> CompressionError {
    CompressionError::Corrupt {
        encoding,
        reason: reason.into(),
    }
}

/// The growing tail of `dst` that decompressors write into.
#[cfg(any(feature = "gzip", feature = "deflate", feature = "zstd"))]
struct BoundedOutput<'a> {
    dst: &'a mut BytesMut,
    start: usize,
    /// End of the bytes written so far; `dst[written..]` is zeroed room.
    written: usize,
    max_size: usize,
    /// Size of the first piece of room.
    first_piece: usize,
}

/// Bounds of the first piece of output room: small messages stay small,
/// large ones start at a reasonable step.
#[cfg(any(feature = "gzip", feature = "deflate", feature = "zstd"))]
const MIN_FIRST_PIECE: usize = 256;
#[cfg(any(feature = "gzip", feature = "deflate", feature = "zstd"))]
const MAX_FIRST_PIECE: usize = 64 * 1024;

#[cfg(any(feature = "gzip", feature = "deflate", feature = "zstd"))]
impl<'a> BoundedOutput<'a> {
    fn new(dst: &'a mut BytesMut, max_size: usize, src_len: usize) -> BoundedOutput<'a> {
        let start = dst.len();
        BoundedOutput {
            dst,
            start,
            written: start,
            max_size,
            // Typical gRPC payloads compress 2-5x.
            first_piece: src_len
                .saturating_mul(4)
                .clamp(MIN_FIRST_PIECE, MAX_FIRST_PIECE),
        }
    }

    /// Zeroed room for more output, or `None` once `max_size` bytes are written.
    fn room(&mut self) -> Option<&mut [u8]> {
        let produced = self.written - self.start;
        let remaining = self.max_size - produced;
        if remaining == 0 {
            return None;
        }
        if self.written == self.dst.len() {
            let piece = produced.max(self.first_piece).min(remaining);
            self.grow(self.written + piece);
        }
        self.dst.get_mut(self.written..)
    }

    /// Resizes `dst` to `new_len` (at most `start + max_size`) without its
    /// capacity overshooting `start + max_size`.
    fn grow(&mut self, new_len: usize) {
        let capacity = self.dst.capacity();
        let hard_cap = self.start.saturating_add(self.max_size);
        if new_len > capacity && capacity.saturating_mul(2) > hard_cap {
            // The buffer's amortized doubling would allocate past the limit:
            // move to a buffer of exactly the limit instead (one copy).
            let mut exact = BytesMut::with_capacity(hard_cap);
            exact.extend_from_slice(&self.dst[..self.written]);
            *self.dst = exact;
        }
        self.dst.resize(new_len, 0);
    }

    fn advance(&mut self, n: usize) {
        self.written += n;
    }

    fn finish(self) {
        self.dst.truncate(self.written);
    }
}

#[cfg(any(feature = "gzip", feature = "deflate", feature = "zstd"))]
mod streaming {
    use alloc::string::ToString;
    #[cfg(any(feature = "gzip", feature = "zstd"))]
    use std::io::{self, Read};

    use bytes::BytesMut;

    use super::{BoundedOutput, CompressionError, Encoding};

    /// A decompressor that writes into caller-provided room.
    trait Inflate {
        /// Writes output into `out` (never empty); returns how much, or 0
        /// once the stream has ended and the input is fully used.
        fn inflate(&mut self, out: &mut [u8]) -> Result<usize, CompressionError>;
    }

    pub(super) fn run(
        encoding: Encoding,
        src: &[u8],
        dst: &mut BytesMut,
        max_size: usize,
    ) -> Result<(), CompressionError> {
        let out = BoundedOutput::new(dst, max_size, src.len());
        match encoding {
            #[cfg(feature = "gzip")]
            Encoding::Gzip => drive(
                ReadInflate {
                    reader: flate2::bufread::MultiGzDecoder::new(src),
                    encoding,
                },
                encoding,
                out,
            ),
            #[cfg(feature = "deflate")]
            Encoding::Deflate => drive(ZlibInflate::new(src), encoding, out),
            #[cfg(feature = "zstd")]
            Encoding::Zstd => drive(zstd_reader(src, max_size)?, encoding, out),
            #[allow(unreachable_patterns)]
            other => Err(CompressionError::NotEnabled(other)),
        }
    }

    fn drive(
        mut inflater: impl Inflate,
        encoding: Encoding,
        mut out: BoundedOutput<'_>,
    ) -> Result<(), CompressionError> {
        loop {
            let Some(room) = out.room() else {
                // At the limit: fine only if the stream ends right here.
                let mut probe = [0u8; 1];
                return match inflater.inflate(&mut probe)? {
                    0 => {
                        out.finish();
                        Ok(())
                    }
                    _ => Err(CompressionError::LimitExceeded {
                        encoding,
                        limit: out.max_size,
                    }),
                };
            };
            let room_len = room.len();
            match inflater.inflate(room)? {
                0 => {
                    out.finish();
                    return Ok(());
                }
                n => out.advance(n.min(room_len)),
            }
        }
    }

    /// A decompressor with a `Read` interface over the whole input.
    #[cfg(any(feature = "gzip", feature = "zstd"))]
    struct ReadInflate<R> {
        reader: R,
        encoding: Encoding,
    }

    #[cfg(any(feature = "gzip", feature = "zstd"))]
    impl<R: Read> Inflate for ReadInflate<R> {
        fn inflate(&mut self, out: &mut [u8]) -> Result<usize, CompressionError> {
            loop {
                match self.reader.read(out) {
                    Ok(n) => return Ok(n),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(io_corrupt(self.encoding, &e)),
                }
            }
        }
    }

    #[cfg(any(feature = "gzip", feature = "zstd"))]
    fn io_corrupt(encoding: Encoding, e: &io::Error) -> CompressionError {
        let reason = if e.kind() == io::ErrorKind::UnexpectedEof {
            "truncated stream".to_string()
        } else {
            e.to_string()
        };
        CompressionError::Corrupt { encoding, reason }
    }

    /// zlib through flate2's low-level API, which reports the end of the
    /// stream: its `Read` adapter treats truncated input as a clean end.
    #[cfg(feature = "deflate")]
    struct ZlibInflate<'s> {
        state: flate2::Decompress,
        input: &'s [u8],
        ended: bool,
    }

    #[cfg(feature = "deflate")]
    impl<'s> ZlibInflate<'s> {
        fn new(input: &'s [u8]) -> ZlibInflate<'s> {
            ZlibInflate {
                state: flate2::Decompress::new(true),
                input,
                ended: false,
            }
        }
    }

    #[cfg(feature = "deflate")]
    impl Inflate for ZlibInflate<'_> {
        fn inflate(&mut self, out: &mut [u8]) -> Result<usize, CompressionError> {
            use super::corrupt;
            const ENCODING: Encoding = Encoding::Deflate;
            if self.ended {
                return Ok(0);
            }
            loop {
                let (in_before, out_before) = (self.state.total_in(), self.state.total_out());
                let status = self
                    .state
                    .decompress(self.input, out, flate2::FlushDecompress::None)
                    .map_err(|e| CompressionError::Corrupt {
                        encoding: ENCODING,
                        reason: e.to_string(),
                    })?;
                let consumed =
                    usize::try_from(self.state.total_in() - in_before).unwrap_or(usize::MAX);
                let produced =
                    usize::try_from(self.state.total_out() - out_before).unwrap_or(usize::MAX);
                self.input = self.input.get(consumed..).unwrap_or_default();
                if status == flate2::Status::StreamEnd {
                    self.ended = true;
                    if !self.input.is_empty() {
                        return Err(corrupt(
                            ENCODING,
                            "trailing data after the end of the stream",
                        ));
                    }
                    return Ok(produced);
                }
                if produced > 0 {
                    return Ok(produced);
                }
                if consumed == 0 {
                    // No progress with room to write: the input ran out early.
                    return Err(corrupt(ENCODING, "truncated stream"));
                }
            }
        }
    }

    /// The largest zstd window accepted when it is not implied by the limit.
    #[cfg(feature = "zstd")]
    const MIN_ZSTD_WINDOW_LOG: u32 = 21;
    /// zstd's own ceiling on 32-bit targets, and plenty on 64-bit ones.
    #[cfg(feature = "zstd")]
    const MAX_ZSTD_WINDOW_LOG: u32 = 30;

    #[cfg(feature = "zstd")]
    fn zstd_reader(
        src: &[u8],
        max_size: usize,
    ) -> Result<ReadInflate<zstd::stream::read::Decoder<'static, &[u8]>>, CompressionError> {
        let failed = |e: io::Error| io_corrupt(Encoding::Zstd, &e);
        let mut reader = zstd::stream::read::Decoder::with_buffer(src).map_err(failed)?;
        // A frame may ask for a window (and so an allocation) of up to 2 GiB;
        // no valid message needs one larger than itself.
        let window_log = usize::BITS - max_size.saturating_sub(1).leading_zeros();
        reader
            .window_log_max(window_log.clamp(MIN_ZSTD_WINDOW_LOG, MAX_ZSTD_WINDOW_LOG))
            .map_err(failed)?;
        Ok(ReadInflate {
            reader,
            encoding: Encoding::Zstd,
        })
    }
}
