//! The load generator's pieces, as a library: calls over raw h2 with full response
//! checks ([`calls`]), their tally ([`tally`]), control-frame floods ([`flood`]), and
//! [`conformance`], which checks that a benchmark server binary keeps the harness
//! contract (used by each server's tests).

pub mod calls;
pub mod conformance;
pub mod flood;
pub mod tally;

use std::net::SocketAddr;

use bytes::Bytes;
use h2::client::SendRequest;

/// Errors crossing task boundaries.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Opens one HTTP/2 connection with the windows of tonic's client (hyper's defaults),
/// and starts the task that drives it.
pub async fn connect(
    addr: SocketAddr,
) -> Result<(SendRequest<Bytes>, Option<h2::PingPong>), BoxError> {
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let (sender, mut connection) = h2::client::Builder::new()
        .initial_window_size(2 << 20)
        .initial_connection_window_size(5 << 20)
        .max_send_buffer_size(1 << 20)
        .max_header_list_size(16 << 10)
        .handshake::<_, Bytes>(tcp)
        .await?;
    let ping_pong = connection.ping_pong();
    tokio::spawn(async move {
        if let Err(e) = connection.await
            && !e.is_go_away()
        {
            eprintln!("bench-load: connection ended: {e}");
        }
    });
    Ok((sender, ping_pong))
}
