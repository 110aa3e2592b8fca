//! tokio's sockets as ferrule's [`Network`].

use std::io;
use std::net::SocketAddr;

use ferrule_core::api::Network;
use tokio::net::{TcpListener, TcpStream};

use crate::TokioRuntime;

/// tokio's reactor and its resolver (`lookup_host`, on the blocking pool).
impl Network for TokioRuntime {
    type Listener = TcpListener;
    type Stream = TcpStream;

    async fn bind(&self, addr: SocketAddr) -> io::Result<TcpListener> {
        TcpListener::bind(addr).await
    }

    fn local_addr(&self, listener: &TcpListener) -> io::Result<SocketAddr> {
        listener.local_addr()
    }

    async fn accept(&self, listener: &TcpListener) -> io::Result<(TcpStream, SocketAddr)> {
        let (stream, peer) = listener.accept().await?;
        stream.set_nodelay(true)?;
        Ok((stream, peer))
    }

    async fn connect(&self, addr: SocketAddr) -> io::Result<TcpStream> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }

    async fn resolve(&self, host_port: &str) -> io::Result<Vec<SocketAddr>> {
        Ok(tokio::net::lookup_host(host_port).await?.collect())
    }
}
