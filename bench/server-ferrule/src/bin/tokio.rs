//! `bench-server-ferrule-tokio`: the benchmark services on ferrule + tokio (see bench/README.md).

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
            eprintln!("bench-server-ferrule-tokio: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: &ServerArgs) -> Result<(), Box<dyn std::error::Error>> {
    let listener = ferrule::tokio::TcpListener::bind(args.addr()).await?;
    let addr = ferrule::core::api::Listener::local_addr(&listener).ok_or("no local address")?;
    bench_harness::control::announce_ready("ferrule-tokio", addr);
    bench_harness::control::spawn(&ALLOC, args.keep_running);
    let _server = ferrule::tokio::server().serve(listener, bench_server_ferrule::router());
    // The control channel exits the process.
    std::future::pending::<()>().await;
    Ok(())
}

fn run(args: &ServerArgs) -> Result<(), Box<dyn std::error::Error>> {
    // current-thread by default, like the other servers (not ferrule::tokio::block_on).
    bench_harness::tokio_runtime(args.threads)?.block_on(serve(args))
}
