//! One blocking connection to a broker: sends request frames, reads answers and decodes them
//! with kafka-protocol, whatever the API and version.

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Longest wait for one answer: a broker that takes longer has failed the step.
pub const ANSWER_TIMEOUT_MS: u64 = 30_000;
/// Largest answer accepted; bigger ones are reported, not read.
const ANSWER_BYTES_MAX: usize = 64 << 20;
/// The client id every request carries.
pub const CLIENT_ID: &str = "millrace-conformance";

/// What came back for one request.
#[derive(Debug)]
pub enum Outcome {
    /// A decoded answer.
    Answer(Box<ResponseKind>),
    /// No answer is expected (Produce with acks=0).
    NoAnswerExpected,
    /// The broker closed the connection instead of answering.
    Closed,
    /// No answer within `ANSWER_TIMEOUT_MS`.
    Timeout,
    /// Bytes came back that do not decode as the answer to this request.
    Undecodable(String),
}

impl Outcome {
    /// A short name for the kind of outcome, compared between brokers.
    pub fn kind(&self) -> &'static str {
        match self {
            Outcome::Answer(_) => "answer",
            Outcome::NoAnswerExpected => "no answer expected",
            Outcome::Closed => "connection closed",
            Outcome::Timeout => "timeout",
            Outcome::Undecodable(_) => "undecodable answer",
        }
    }
}

/// A request frame ready to send, with what is needed to read its answer.
pub struct Frame {
    /// The encoded header and body (without the size prefix).
    pub bytes: Bytes,
    /// API key as sent (may be unknown to kafka-protocol in raw frames).
    pub api_key: i16,
    /// API version as sent.
    pub api_version: i16,
    /// Correlation id as sent.
    pub correlation_id: i32,
    /// Whether the broker answers at all (Produce acks=0 does not).
    pub expects_answer: bool,
}

impl Frame {
    /// Encodes a typed request at `version`.
    pub fn encode(
        api_key: ApiKey,
        request: &RequestKind,
        version: i16,
        correlation_id: i32,
    ) -> Result<Frame, String> {
        let header = RequestHeader::default()
            .with_request_api_key(api_key as i16)
            .with_request_api_version(version)
            .with_correlation_id(correlation_id)
            .with_client_id(Some(StrBytes::from_static_str(CLIENT_ID)));
        Frame::encode_with_header(&header, request)
    }

    /// Encodes a typed request under `header` (a recorded client's, with its client id and
    /// correlation id), at the header's version.
    pub fn encode_with_header(
        header: &RequestHeader,
        request: &RequestKind,
    ) -> Result<Frame, String> {
        let api_key = ApiKey::try_from(header.request_api_key)
            .map_err(|_| format!("unknown api key {}", header.request_api_key))?;
        let version = header.request_api_version;
        let correlation_id = header.correlation_id;
        let mut buf = BytesMut::new();
        header
            .encode(&mut buf, api_key.request_header_version(version))
            .map_err(|e| format!("encode header: {e}"))?;
        request
            .encode(&mut buf, version)
            .map_err(|e| format!("encode {api_key:?} v{version}: {e}"))?;
        let expects_answer = !matches!(request, RequestKind::Produce(p) if p.acks == 0);
        Ok(Frame {
            bytes: buf.freeze(),
            api_key: api_key as i16,
            api_version: version,
            correlation_id,
            expects_answer,
        })
    }

    /// A frame of raw bytes whose header starts as Kafka's (key, version, correlation id).
    pub fn raw(bytes: Bytes) -> Result<Frame, String> {
        if bytes.len() < 8 {
            return Err(format!("raw frame of {} bytes has no header", bytes.len()));
        }
        let mut header = bytes.clone();
        Ok(Frame {
            api_key: header.get_i16(),
            api_version: header.get_i16(),
            correlation_id: header.get_i32(),
            bytes,
            expects_answer: true,
        })
    }
}

/// A connection to one broker.
pub struct Connection {
    stream: TcpStream,
}

impl Connection {
    /// Connects to `address` (host:port).
    pub fn open(address: &str) -> Result<Connection, String> {
        let stream = TcpStream::connect(address).map_err(|e| format!("connect {address}: {e}"))?;
        stream
            .set_read_timeout(Some(Duration::from_millis(ANSWER_TIMEOUT_MS)))
            .map_err(|e| format!("socket: {e}"))?;
        stream
            .set_nodelay(true)
            .map_err(|e| format!("socket: {e}"))?;
        Ok(Connection { stream })
    }

    /// Sends `frame` and reads and decodes its answer.
    pub fn exchange(&mut self, frame: &Frame) -> Outcome {
        let size = (frame.bytes.len() as i32).to_be_bytes();
        if self.stream.write_all(&size).is_err() || self.stream.write_all(&frame.bytes).is_err() {
            return Outcome::Closed;
        }
        if !frame.expects_answer {
            return Outcome::NoAnswerExpected;
        }
        match self.read_frame() {
            Ok(body) => decode_response(frame, body),
            Err(outcome) => outcome,
        }
    }

    fn read_frame(&mut self) -> Result<Bytes, Outcome> {
        let mut size = [0u8; 4];
        self.read_exact(&mut size)?;
        let size = i32::from_be_bytes(size);
        let size = usize::try_from(size)
            .ok()
            .filter(|s| *s <= ANSWER_BYTES_MAX)
            .ok_or_else(|| Outcome::Undecodable(format!("answer size {size}")))?;
        let mut body = vec![0u8; size];
        self.read_exact(&mut body)?;
        Ok(Bytes::from(body))
    }

    fn read_exact(&mut self, buf: &mut [u8]) -> Result<(), Outcome> {
        self.stream.read_exact(buf).map_err(|e| match e.kind() {
            ErrorKind::WouldBlock | ErrorKind::TimedOut => Outcome::Timeout,
            _ => Outcome::Closed,
        })
    }
}

/// Decodes an answer frame for `frame`. An unsupported ApiVersions request is answered in
/// version 0 (KIP-511), so that version is tried when the one asked for does not decode.
pub fn decode_response(frame: &Frame, body: Bytes) -> Outcome {
    let Ok(api_key) = ApiKey::try_from(frame.api_key) else {
        return Outcome::Undecodable(format!("answer to unknown api key {}", frame.api_key));
    };
    let mut versions = vec![frame.api_version];
    if api_key == ApiKey::ApiVersions && frame.api_version != 0 {
        versions.push(0);
    }
    let mut last_error = String::new();
    for version in versions {
        match decode_at(api_key, version, frame.correlation_id, body.clone()) {
            Ok(answer) => return Outcome::Answer(Box::new(answer)),
            Err(e) => last_error = e,
        }
    }
    Outcome::Undecodable(last_error)
}

fn decode_at(
    api_key: ApiKey,
    version: i16,
    correlation_id: i32,
    mut body: Bytes,
) -> Result<ResponseKind, String> {
    let in_range = api_key.valid_versions();
    if version < in_range.min || version > in_range.max {
        return Err(format!(
            "{api_key:?} v{version} is outside kafka-protocol's range"
        ));
    }
    let header = ResponseHeader::decode(&mut body, api_key.response_header_version(version))
        .map_err(|e| format!("response header: {e}"))?;
    if header.correlation_id != correlation_id {
        return Err(format!(
            "correlation id {} for {correlation_id}",
            header.correlation_id
        ));
    }
    let answer = ResponseKind::decode(api_key, &mut body, version)
        .map_err(|e| format!("{api_key:?} v{version}: {e}"))?;
    if body.has_remaining() {
        return Err(format!(
            "{api_key:?} v{version}: {} bytes left over",
            body.remaining()
        ));
    }
    Ok(answer)
}
