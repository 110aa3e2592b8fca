//! [`compress`]: one message, one fresh compression context.

use bytes::BytesMut;

use super::{CompressionError, Encoding};

/// Appends `src` compressed with `encoding` to `dst`.
///
/// gzip and deflate use level 6 (zlib's default, as grpc-go does), zstd its
/// default level 3 with the content size recorded in the frame, so a
/// receiver can size its window to the message. Each call is a complete,
/// independent stream, as the spec requires ("compression contexts are NOT
/// maintained over message boundaries"). On error `dst` is left as it was.
pub fn compress(
    encoding: Encoding,
    src: &[u8],
    dst: &mut BytesMut,
) -> Result<(), CompressionError> {
    let start = dst.len();
    let result = match encoding {
        Encoding::Identity => {
            dst.extend_from_slice(src);
            Ok(())
        }
        #[cfg(feature = "gzip")]
        Encoding::Gzip => flate::gzip(src, dst),
        #[cfg(feature = "deflate")]
        Encoding::Deflate => flate::zlib(src, dst),
        #[cfg(feature = "zstd")]
        Encoding::Zstd => zstd_frame(src, dst),
        #[allow(unreachable_patterns)]
        other => Err(CompressionError::NotEnabled(other)),
    };
    if result.is_err() {
        dst.truncate(start);
    }
    result
}

#[cfg(any(feature = "gzip", feature = "deflate"))]
mod flate {
    use std::io::Write;

    use alloc::string::ToString;
    use bytes::{BufMut, BytesMut};
    use flate2::Compression;

    use super::{CompressionError, Encoding};

    fn failed(encoding: Encoding) -> impl FnOnce(std::io::Error) -> CompressionError {
        move |e| CompressionError::CompressFailed {
            encoding,
            reason: e.to_string(),
        }
    }

    #[cfg(feature = "gzip")]
    pub(super) fn gzip(src: &[u8], dst: &mut BytesMut) -> Result<(), CompressionError> {
        let mut encoder =
            flate2::write::GzEncoder::new(BufMut::writer(dst), Compression::default());
        encoder.write_all(src).map_err(failed(Encoding::Gzip))?;
        encoder.finish().map_err(failed(Encoding::Gzip))?;
        Ok(())
    }

    #[cfg(feature = "deflate")]
    pub(super) fn zlib(src: &[u8], dst: &mut BytesMut) -> Result<(), CompressionError> {
        let mut encoder =
            flate2::write::ZlibEncoder::new(BufMut::writer(dst), Compression::default());
        encoder.write_all(src).map_err(failed(Encoding::Deflate))?;
        encoder.finish().map_err(failed(Encoding::Deflate))?;
        Ok(())
    }
}

#[cfg(feature = "zstd")]
fn zstd_frame(src: &[u8], dst: &mut BytesMut) -> Result<(), CompressionError> {
    use alloc::string::ToString;

    let failed = |e: std::io::Error| CompressionError::CompressFailed {
        encoding: Encoding::Zstd,
        reason: e.to_string(),
    };
    let start = dst.len();
    // The bulk API writes into an initialized slice; compress_bound is the
    // worst case, and the unused tail is cut below.
    dst.resize(start + zstd::zstd_safe::compress_bound(src.len()), 0);
    let out = dst.get_mut(start..).unwrap_or_default();
    let written = zstd::bulk::Compressor::new(zstd::DEFAULT_COMPRESSION_LEVEL)
        .and_then(|mut c| c.compress_to_buffer(src, out))
        .map_err(failed)?;
    dst.truncate(start + written);
    Ok(())
}
