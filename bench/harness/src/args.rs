//! The command line every benchmark server accepts.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// `bench-server-<implementation> [--host H] [--port P] [--threads N] [--keep-running]`.
#[derive(Clone, Debug, clap::Parser)]
pub struct ServerArgs {
    /// Address to listen on.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    pub host: IpAddr,
    /// Port to listen on; 0 picks a free one (the ready line says which).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Runtime worker threads: 1 is a single-threaded runtime (the default for every
    /// implementation, so each is pinned to one core with nothing to steal from);
    /// more is the runtime's multi-threaded flavour with that many workers.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Keep serving when stdin closes (for starting a server by hand in the background).
    #[arg(long)]
    pub keep_running: bool,
}

impl ServerArgs {
    /// The address to bind.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(self.host, self.port)
    }
}
