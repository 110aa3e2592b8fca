//! `bench-server-h2`: the ceiling (see the crate docs).

fn main() -> std::process::ExitCode {
    bench_server_h2::main("h2", bench_server_h2::Responses::Prebuilt)
}
