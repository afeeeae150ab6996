//! One connection from a follower shard to a leader broker: a Kafka request
//! written, its answer read, one exchange at a time, every step bounded.

use crate::client::frame::{checked_frame_size, decode_response, encode_request};
use crate::client::ClientError;
use crate::cluster::raft::network::resolve;
use bytes::Bytes;
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::TcpStream;
use kafka_protocol::protocol::Request;
use std::io;
use std::time::Duration;

/// Deadline of a TCP connect to a leader.
const CONNECT_TIMEOUT_MS: u64 = 3_000;
/// Largest answer accepted (a fetch answer is bounded by the request's
/// `max_bytes`; this bounds a broken peer).
pub const RESPONSE_BYTES_MAX: usize = 64 << 20;
/// The client id followers send.
const CLIENT_ID: &str = "millrace-replica-fetcher";

/// A connection to one leader.
pub struct LeaderConnection {
    stream: TcpStream,
    address: String,
    next_correlation_id: i32,
}

impl LeaderConnection {
    /// Connects to `address` (host:port, resolved on a helper thread: a
    /// host name lookup can block).
    pub async fn connect(address: &str) -> Result<Self, ClientError> {
        let resolved = resolve(address).await.map_err(ClientError::Io)?;
        let stream =
            TcpStream::connect_timeout(resolved, Duration::from_millis(CONNECT_TIMEOUT_MS))
                .await
                .map_err(|e| ClientError::Io(io::Error::from(e)))?;
        stream
            .set_nodelay(true)
            .map_err(|e| ClientError::Io(io::Error::from(e)))?;
        Ok(LeaderConnection {
            stream,
            address: address.to_string(),
            next_correlation_id: 0,
        })
    }

    /// The address it was opened to.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Sends `request` at `version` and reads its answer within `timeout`.
    /// Any failure leaves the connection unusable: the caller drops it.
    pub async fn exchange<Req: Request>(
        &mut self,
        request: &Req,
        version: i16,
        timeout: Duration,
    ) -> Result<Req::Response, ClientError> {
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id = self.next_correlation_id.wrapping_add(1);
        let frame = encode_request(request, version, correlation_id, CLIENT_ID)?;
        let exchange = async {
            self.stream
                .write_all(&frame)
                .await
                .map_err(ClientError::Io)?;
            let mut prefix = [0u8; 4];
            self.stream
                .read_exact(&mut prefix)
                .await
                .map_err(ClientError::Io)?;
            let size = checked_frame_size(prefix, RESPONSE_BYTES_MAX)?;
            let mut body = vec![0u8; size];
            self.stream
                .read_exact(&mut body)
                .await
                .map_err(ClientError::Io)?;
            decode_response::<Req>(Bytes::from(body), version, correlation_id)
        };
        let timed_out = async {
            glommio::timer::sleep(timeout).await;
            Err(ClientError::Io(io::Error::new(
                io::ErrorKind::TimedOut,
                "no answer from the leader in time",
            )))
        };
        futures_lite::future::or(exchange, timed_out).await
    }
}
