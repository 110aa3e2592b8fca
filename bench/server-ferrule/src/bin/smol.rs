//! `bench-server-ferrule-smol`: the benchmark services on ferrule + smol (see bench/README.md).

use std::process::ExitCode;

use bench_harness::alloc::CountingAlloc;
use bench_harness::args::ServerArgs;
use clap::Parser;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc::new();

fn main() -> ExitCode {
    let args = ServerArgs::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-server-ferrule-smol: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: &ServerArgs) -> Result<(), Box<dyn std::error::Error>> {
    let listener = ferrule::smol::TcpListener::bind(args.addr()).await?;
    let addr = ferrule::core::api::Listener::local_addr(&listener).ok_or("no local address")?;
    bench_harness::control::announce_ready("ferrule-smol", addr);
    bench_harness::control::spawn(&ALLOC, args.keep_running);
    let _server = ferrule::smol::server().serve(listener, bench_server_ferrule::router());
    // The control channel exits the process.
    std::future::pending::<()>().await;
    Ok(())
}

fn run(args: &ServerArgs) -> Result<(), Box<dyn std::error::Error>> {
    // Tasks run on smol's global executor: one thread when SMOL_THREADS=1 (the runner
    // sets it; `--threads` is not used here, set SMOL_THREADS instead).
    ferrule::smol::block_on(serve(args))
}
