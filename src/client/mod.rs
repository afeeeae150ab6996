//! A small blocking Kafka client for the `millrace` admin commands.
//!
//! It speaks the Kafka protocol over one `std::net::TcpStream` per broker,
//! using the `kafka-protocol` crate for request encoding and response
//! decoding. It is meant for command-line tools, not for the broker's data
//! path: one request in flight, bounded reads, socket timeouts.
//!
//! [`KafkaClient::connect`] sends ApiVersions first and afterwards sends each
//! API at `min(our max, broker max)`, so it works against any Kafka broker
//! that supports the API at all. Typed helpers for the admin APIs live in
//! [`admin`].

pub mod admin;
pub mod cluster_admin;
pub mod fetch;
pub(crate) mod frame;
pub mod producer;
pub mod topics_admin;
mod versions;

pub use versions::{ApiVersionTable, VersionError};

use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};
use kafka_protocol::protocol::{Request, StrBytes};
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Largest response this client accepts; a larger size prefix means a
/// broken or hostile peer, so the connection fails instead of allocating.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;
/// `client.id` sent in every request header.
pub const CLIENT_ID: &str = "millrace-cli";
/// ApiVersions v0 is answered by every broker, whatever it supports.
const API_VERSIONS_BOOTSTRAP_VERSION: i16 = 0;

/// What can go wrong talking to a broker.
#[derive(Debug)]
pub enum ClientError {
    /// Connecting, reading or writing the socket failed (timeouts included).
    Io(std::io::Error),
    /// The bytes did not make sense: bad frame, bad correlation id, an API
    /// the broker does not support, an encoding or decoding failure.
    Protocol(String),
    /// The broker answered with a Kafka error code.
    Broker {
        /// The Kafka error code.
        code: i16,
        /// Its name and any message the broker added.
        message: String,
    },
}

impl ClientError {
    /// A `Broker` error for `code`, named after Kafka's error table.
    pub fn broker(code: i16, detail: Option<&str>) -> Self {
        let name = kafka_protocol::ResponseError::try_from_code(code)
            .map(|e| format!("{e:?}"))
            .unwrap_or_else(|| "NONE".to_string());
        let message = match detail {
            Some(detail) if !detail.is_empty() => format!("{name} ({code}): {detail}"),
            _ => format!("{name} ({code})"),
        };
        ClientError::Broker { code, message }
    }

    /// `Ok(())` for error code 0, else the matching `Broker` error.
    pub fn check(code: i16, detail: Option<&StrBytes>) -> Result<(), Self> {
        if code == crate::protocol::error_code::NONE {
            Ok(())
        } else {
            Err(Self::broker(code, detail.map(|s| s.as_str())))
        }
    }
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::Io(e) => write!(f, "i/o error: {e}"),
            ClientError::Protocol(m) => write!(f, "protocol error: {m}"),
            ClientError::Broker { message, .. } => write!(f, "broker error: {message}"),
        }
    }
}

impl std::error::Error for ClientError {}

impl From<std::io::Error> for ClientError {
    fn from(e: std::io::Error) -> Self {
        ClientError::Io(e)
    }
}

impl From<VersionError> for ClientError {
    fn from(e: VersionError) -> Self {
        ClientError::Protocol(e.to_string())
    }
}

/// One blocking connection to one broker.
#[derive(Debug)]
pub struct KafkaClient {
    stream: TcpStream,
    address: String,
    versions: ApiVersionTable,
    next_correlation_id: i32,
    timeout: Duration,
}

impl KafkaClient {
    /// Connects to `address` (`host:port`), sets `timeout` for connect,
    /// reads and writes, and learns the broker's API versions.
    pub fn connect(address: &str, timeout: Duration) -> Result<Self, ClientError> {
        let stream = connect_stream(address, timeout)?;
        let mut client = KafkaClient {
            stream,
            address: address.to_string(),
            versions: ApiVersionTable::default(),
            next_correlation_id: 1,
            timeout,
        };
        let answer: ApiVersionsResponse = client.send_at(
            API_VERSIONS_BOOTSTRAP_VERSION,
            &ApiVersionsRequest::default(),
        )?;
        ClientError::check(answer.error_code, None)?;
        client.versions = ApiVersionTable::from_response(&answer);
        Ok(client)
    }

    /// The `host:port` this client is connected to.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The socket timeout this client was created with.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The versions the broker advertised.
    pub fn versions(&self) -> &ApiVersionTable {
        &self.versions
    }

    /// The version `send` would use for `Req`: min(our max, broker max).
    pub fn version_for<Req: Request>(&self) -> Result<i16, ClientError> {
        Ok(self.versions.negotiate(Req::KEY, Req::VERSIONS)?)
    }

    /// Sends `request` at the negotiated version and returns the response.
    pub fn send<Req: Request>(&mut self, request: &Req) -> Result<Req::Response, ClientError> {
        let version = self.version_for::<Req>()?;
        self.send_at(version, request)
    }

    /// Sends `request` at exactly `version` (which the caller must know the
    /// broker supports) and returns the response.
    pub fn send_at<Req: Request>(
        &mut self,
        version: i16,
        request: &Req,
    ) -> Result<Req::Response, ClientError> {
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id = self.next_correlation_id.wrapping_add(1);
        let bytes = frame::encode_request(request, version, correlation_id, CLIENT_ID)?;
        self.stream.write_all(&bytes)?;
        let body = self.read_frame()?;
        frame::decode_response::<Req>(body, version, correlation_id)
    }

    fn read_frame(&mut self) -> Result<bytes::Bytes, ClientError> {
        let mut size_prefix = [0u8; 4];
        self.stream.read_exact(&mut size_prefix)?;
        let size = frame::checked_frame_size(size_prefix, MAX_RESPONSE_BYTES)?;
        let mut body = vec![0u8; size];
        self.stream.read_exact(&mut body)?;
        Ok(bytes::Bytes::from(body))
    }
}

fn connect_stream(address: &str, timeout: Duration) -> Result<TcpStream, ClientError> {
    let mut last_error = None;
    for socket_address in address.to_socket_addrs()? {
        match TcpStream::connect_timeout(&socket_address, timeout) {
            Ok(stream) => {
                stream.set_read_timeout(Some(timeout))?;
                stream.set_write_timeout(Some(timeout))?;
                // Requests are small and answered one at a time: send at once.
                stream.set_nodelay(true)?;
                return Ok(stream);
            }
            Err(e) => last_error = Some(e),
        }
    }
    Err(ClientError::Io(last_error.unwrap_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("{address} resolves to no address"),
        )
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_error_names_the_code() {
        let error = ClientError::broker(15, Some("no coordinator"));
        assert_eq!(
            error.to_string(),
            "broker error: CoordinatorNotAvailable (15): no coordinator"
        );
        assert!(ClientError::check(0, None).is_ok());
    }

    #[test]
    fn connect_to_a_closed_port_is_an_io_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        drop(listener);
        let result = KafkaClient::connect(&address, Duration::from_millis(500));
        assert!(matches!(result, Err(ClientError::Io(_))));
    }
}
