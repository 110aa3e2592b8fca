//! `bench-server-h2-work`: the ceiling plus the per-message work of building,
//! encoding and framing every streamed response (see the crate docs).

fn main() -> std::process::ExitCode {
    bench_server_h2::main("h2-work", bench_server_h2::Responses::BuiltPerMessage)
}
