//! Decoder throughput benchmark (filled by the framing change).
fn main() {}
