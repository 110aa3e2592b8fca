//! The server keeps the benchmark harness contract (ready line, every method answered
//! correctly, allocation-free stats channel, clean exit).

#[test]
fn keeps_the_benchmark_server_contract() {
    let program = std::path::Path::new(env!("CARGO_BIN_EXE_bench-server-ferrule-smol"));
    if let Err(e) = bench_load::conformance::check_server(program, "ferrule-smol") {
        panic!("bench-server-ferrule-smol: {e}");
    }
}
