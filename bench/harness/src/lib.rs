//! Shared pieces of the ferrule benchmark harness.
//!
//! A benchmark server is a binary named `bench-server-<implementation>` that takes
//! [`args::ServerArgs`], installs [`alloc::CountingAlloc`] as its global allocator,
//! serves `helloworld.Greeter/SayHello` and `echo.Echo/{ServerStream,BidiStream}`
//! (see `bench/proto/`), and speaks the [`control`] protocol on stdin/stdout.
//! [`serve_prelude`] does the common part in one call.

pub mod alloc;
pub mod args;
pub mod control;
pub mod h2io;
pub mod report;
pub mod wire;

/// Listens on `args.addr()`, starts the control channel, and announces readiness.
///
/// Returns the bound listener (non-blocking, ready to hand to any runtime). Call it
/// before starting the runtime; the ready line is printed once the socket is bound, so
/// the first connection cannot be refused.
pub fn serve_prelude(
    implementation: &str,
    args: &args::ServerArgs,
    alloc: &'static alloc::CountingAlloc,
) -> std::io::Result<std::net::TcpListener> {
    let listener = std::net::TcpListener::bind(args.addr())?;
    listener.set_nonblocking(true)?;
    control::announce_ready(implementation, listener.local_addr()?);
    control::spawn(alloc, args.keep_running);
    Ok(listener)
}

/// The tokio runtime of every tokio-based server: current-thread for `threads <= 1`,
/// multi-threaded with `threads` workers otherwise.
#[cfg(feature = "tokio")]
pub fn tokio_runtime(threads: usize) -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(threads);
        builder
    };
    builder.enable_all().build()
}
