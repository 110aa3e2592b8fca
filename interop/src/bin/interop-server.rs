//! The grpc.testing interop server on ferrule.
//!
//! ```text
//! interop-server --port=PORT [--use_tls=false] [--runtime=smol|tokio] [--host=127.0.0.1]
//! ```
//!
//! Plaintext only (`--use_tls=true` is refused). Listens until killed.

use std::process::ExitCode;
use std::sync::Arc;

use ferrule::{Router, ServerConfig};
use ferrule_interop::flags::Flags;
use ferrule_interop::rt::RuntimeKind;
use ferrule_interop::server::{TestService, TestServiceRoutes};

const FLAGS: &[&str] = &["port", "use_tls", "runtime", "host"];

struct Options {
    port: u16,
    host: String,
    runtime: RuntimeKind,
}

fn options() -> Result<Options, String> {
    let flags = Flags::parse(std::env::args().skip(1), FLAGS)?;
    if flags.boolean("use_tls", false)? {
        return Err("this server speaks plaintext only; pass --use_tls=false".to_owned());
    }
    let port = flags
        .get("port")
        .ok_or("--port is required")?
        .parse::<u16>()
        .map_err(|e| format!("--port: {e}"))?;
    Ok(Options {
        port,
        host: flags.get_or("host", "127.0.0.1").to_owned(),
        runtime: RuntimeKind::from_flag(flags.get_or("runtime", "smol"))?,
    })
}

fn main() -> ExitCode {
    let options = match options() {
        Ok(options) => options,
        Err(problem) => {
            eprintln!("interop-server: {problem}");
            return ExitCode::from(2);
        }
    };
    let kind = options.runtime;
    kind.block_on(async move {
        let service = TestService::new(kind.runtime());
        let router = Router::new().add_service(TestServiceRoutes(Arc::new(service)));
        let addr = format!("{}:{}", options.host, options.port);
        match kind.serve(&addr, router, ServerConfig::default()).await {
            Ok(server) => {
                let bound = server
                    .local_addr()
                    .map_or_else(|| addr.clone(), |a| a.to_string());
                println!(
                    "ferrule interop server ({}) listening on {bound}",
                    kind.name()
                );
                std::future::pending::<()>().await;
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("interop-server: cannot listen on {addr}: {error}");
                ExitCode::FAILURE
            }
        }
    })
}
