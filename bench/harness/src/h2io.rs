//! HTTP/2 plumbing shared by the bare h2 server and the load generator: sending that
//! respects flow control, and reading that gives receive capacity back.

use std::future::poll_fn;

use bytes::Bytes;
use h2::{Reason, RecvStream, SendStream};

/// Sends `data`, waiting for send capacity instead of letting h2 buffer past the peer's
/// window, so a slow reader bounds the sender's memory as in a real gRPC stack.
/// `end_of_stream` goes on the last frame.
pub async fn send_flow_controlled(
    stream: &mut SendStream<Bytes>,
    mut data: Bytes,
    end_of_stream: bool,
) -> Result<(), h2::Error> {
    if data.is_empty() {
        return stream.send_data(data, end_of_stream);
    }
    stream.reserve_capacity(data.len());
    while !data.is_empty() {
        let mut capacity = stream.capacity();
        if capacity == 0 {
            capacity = match poll_fn(|cx| stream.poll_capacity(cx)).await {
                Some(assigned) => assigned?,
                // The stream was reset or the connection closed under us.
                None => return Err(h2::Error::from(Reason::CANCEL)),
            };
        }
        let chunk = data.split_to(capacity.min(data.len()));
        stream.send_data(chunk, end_of_stream && data.is_empty())?;
    }
    Ok(())
}

/// The next DATA chunk of `body`, its flow-control capacity already released.
pub async fn recv_chunk(body: &mut RecvStream) -> Option<Result<Bytes, h2::Error>> {
    let chunk = body.data().await?;
    Some(chunk.and_then(|chunk| {
        body.flow_control().release_capacity(chunk.len())?;
        Ok(chunk)
    }))
}
