//! Decoder throughput: `MessageDecoder` over streams of 100 B, 1 KiB, 64 KiB
//! and 1 MiB messages, fed as one chunk and as 16 KiB chunks, next to a plain
//! memcpy of the same bytes as the ceiling.
//!
//! Run with `cargo bench -p ferrule-codec --bench decoder`.
#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ferrule_codec::frame::{MessageDecoder, encode_message};

/// Every stream is about this long, so each case moves the same bytes.
const STREAM_LEN: usize = 4 * 1024 * 1024;
const CHUNK_LEN: usize = 16 * 1024;

fn stream_of(message_len: usize) -> Bytes {
    let count = (STREAM_LEN / message_len).max(1);
    let payload: Vec<u8> = (0..message_len).map(|i| i as u8).collect();
    let mut buf = BytesMut::with_capacity(count * (message_len + 5));
    for _ in 0..count {
        encode_message(&mut buf, false, &payload).unwrap();
    }
    buf.freeze()
}

fn chunks_of(stream: &Bytes, chunk_len: usize) -> Vec<Bytes> {
    (0..stream.len())
        .step_by(chunk_len)
        .map(|at| stream.slice(at..stream.len().min(at + chunk_len)))
        .collect()
}

/// Pushes the chunks, draining after each; returns the bytes decoded.
fn decode(chunks: &[Bytes], max: usize) -> usize {
    let mut decoder = MessageDecoder::new().with_max_message_size(max);
    let mut total = 0;
    for chunk in chunks {
        decoder.push(chunk.clone());
        while let Some(msg) = decoder.next_message().unwrap() {
            total += msg.data.len();
            black_box(msg);
        }
    }
    decoder.finish().unwrap();
    total
}

fn decoder_throughput(c: &mut Criterion) {
    let mut group = c.benchmark_group("decoder");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for (label, message_len) in [
        ("100B", 100),
        ("1KiB", 1024),
        ("64KiB", 64 * 1024),
        ("1MiB", 1024 * 1024),
    ] {
        let stream = stream_of(message_len);
        let max = message_len.max(4 * 1024 * 1024);
        group.throughput(Throughput::Bytes(stream.len() as u64));

        let one = vec![stream.clone()];
        group.bench_with_input(BenchmarkId::new("one_chunk", label), &one, |b, chunks| {
            b.iter(|| decode(black_box(chunks), max))
        });

        let split = chunks_of(&stream, CHUNK_LEN);
        group.bench_with_input(
            BenchmarkId::new("16KiB_chunks", label),
            &split,
            |b, chunks| b.iter(|| decode(black_box(chunks), max)),
        );

        let mut dst = vec![0u8; stream.len()];
        group.bench_with_input(BenchmarkId::new("memcpy", label), &stream, |b, src| {
            b.iter(|| {
                dst.copy_from_slice(black_box(src));
                black_box(&dst);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, decoder_throughput);
criterion_main!(benches);
