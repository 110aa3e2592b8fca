//! The server keeps the benchmark harness contract (ready line, every method answered
//! correctly, allocation-free stats channel, clean exit).

#[test]
fn keeps_the_benchmark_server_contract() {
    let program = std::path::Path::new(env!("CARGO_BIN_EXE_bench-server-h2"));
    if let Err(e) = bench_load::conformance::check_server(program, "h2") {
        panic!("bench-server-h2: {e}");
    }
}

#[test]
fn the_per_message_variant_keeps_the_contract_too() {
    let program = std::path::Path::new(env!("CARGO_BIN_EXE_bench-server-h2-work"));
    if let Err(e) = bench_load::conformance::check_server(program, "h2-work") {
        panic!("bench-server-h2-work: {e}");
    }
}
