//! `bench-server-ferrule-smol`: the benchmark services on ferrule + smol (see bench/README.md).

use std::process::ExitCode;
use std::sync::Arc;

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

async fn serve(
    args: &ServerArgs,
    runtime: &ferrule::smol::ExecutorRuntime,
) -> Result<(), Box<dyn std::error::Error>> {
    let listener = ferrule::smol::TcpListener::bind(args.addr()).await?;
    let addr = ferrule::core::api::Listener::local_addr(&listener).ok_or("no local address")?;
    bench_harness::control::announce_ready("ferrule-smol", addr);
    bench_harness::control::spawn(&ALLOC, args.keep_running);
    let _server = runtime
        .server()
        .serve(listener, bench_server_ferrule::router());
    // The control channel exits the process.
    std::future::pending::<()>().await;
    Ok(())
}

fn run(args: &ServerArgs) -> Result<(), Box<dyn std::error::Error>> {
    let runtime =
        ferrule::smol::SmolRuntime::with_executor(Arc::new(ferrule::smol::Executor::new()));
    // `--threads N` (1 by default): N - 1 threads run the executor besides the main one
    // (detached: the control channel exits the process).
    for _ in 1..args.threads {
        let executor = Arc::clone(runtime.executor());
        std::thread::spawn(move || {
            ferrule::smol::block_on(executor.run(std::future::pending::<()>()))
        });
    }
    // The executor runs inside `block_on`, on the thread that polls the reactor: with
    // one thread, like tokio's current-thread runtime, no wake crosses threads.
    runtime.block_on(serve(args, &runtime))
}
