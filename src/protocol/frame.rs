//! Request framing and response encoding.
//!
//! Every Kafka message travels as a frame: a big-endian INT32 size, then that
//! many bytes. A request frame starts with the request header (api key, api
//! version, correlation id, client id, tags when flexible); a response frame
//! starts with the response header (correlation id, tags when flexible).

use super::error_code;
use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiKey, ApiVersionsResponse, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use std::fmt;

/// Bytes of the size prefix in front of every frame.
pub const FRAME_SIZE_PREFIX_BYTES: usize = 4;
/// Bytes every request header starts with: api key (2), api version (2),
/// correlation id (4). These sit at fixed positions in every header version.
pub const REQUEST_HEADER_FIXED_BYTES: usize = 8;

/// A request frame with its header decoded and its body left encoded.
#[derive(Clone, Debug)]
pub struct RequestFrame {
    /// Api key (known to the kafka-protocol crate).
    pub api_key: i16,
    /// Api version the client used; not yet checked against what we support.
    pub api_version: i16,
    /// Correlation id, echoed in the response.
    pub correlation_id: i32,
    /// Client id (nullable string in the header).
    pub client_id: Option<StrBytes>,
    /// The request body, still encoded (shares the frame's buffer).
    pub body: Bytes,
}

impl RequestFrame {
    /// The api key as the crate's enum (always valid once decoded).
    pub fn api_key(&self) -> Option<ApiKey> {
        ApiKey::try_from(self.api_key).ok()
    }
}

/// Why a request frame could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FrameError {
    /// Shorter than the fixed header fields.
    TooShort {
        /// Bytes the frame had.
        len: usize,
    },
    /// The size prefix is negative or above the configured maximum.
    BadSize {
        /// The size prefix as sent.
        size: i32,
        /// The configured maximum (`socket.request.max.bytes`).
        max_bytes: u32,
    },
    /// An api key the crate does not know; the connection should be closed.
    UnknownApiKey {
        /// The api key as sent.
        api_key: i16,
        /// The request's correlation id, for the log line.
        correlation_id: i32,
    },
    /// The header could not be decoded (truncated client id, bad tags...).
    BadHeader {
        /// The request's correlation id, for the log line.
        correlation_id: i32,
        /// What the decoder reported.
        reason: String,
    },
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::TooShort { len } => {
                write!(f, "request frame of {len} bytes is shorter than a header")
            }
            FrameError::BadSize { size, max_bytes } => write!(
                f,
                "request frame size {size} is outside 0..={max_bytes} (socket.request.max.bytes)"
            ),
            FrameError::UnknownApiKey {
                api_key,
                correlation_id,
            } => write!(
                f,
                "unknown api key {api_key} (correlation id {correlation_id})"
            ),
            FrameError::BadHeader {
                correlation_id,
                reason,
            } => write!(
                f,
                "bad request header (correlation id {correlation_id}): {reason}"
            ),
        }
    }
}

impl std::error::Error for FrameError {}

/// Why a response could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodeError {
    /// Api key of the response.
    pub api_key: i16,
    /// Version asked for.
    pub version: i16,
    /// What the encoder reported (e.g. a field not available in this version).
    pub reason: String,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot encode response for api key {} v{}: {}",
            self.api_key, self.version, self.reason
        )
    }
}

impl std::error::Error for EncodeError {}

/// Reads a frame's size prefix and checks it against `max_bytes`
/// (`socket.request.max.bytes`) before any buffer is sized from it.
pub fn frame_body_len(
    prefix: [u8; FRAME_SIZE_PREFIX_BYTES],
    max_bytes: u32,
) -> Result<usize, FrameError> {
    let size = i32::from_be_bytes(prefix);
    match u32::try_from(size) {
        Ok(len) if len <= max_bytes => Ok(len as usize),
        _ => Err(FrameError::BadSize { size, max_bytes }),
    }
}

/// Decodes the header of one request frame (size prefix already stripped).
///
/// An unknown api key gives [`FrameError::UnknownApiKey`] with the
/// correlation id, which sits at a fixed position in every header version.
pub fn decode_request_header(frame: Bytes) -> Result<RequestFrame, FrameError> {
    if frame.len() < REQUEST_HEADER_FIXED_BYTES {
        return Err(FrameError::TooShort { len: frame.len() });
    }
    let mut fixed = &frame[..REQUEST_HEADER_FIXED_BYTES];
    let api_key = fixed.get_i16();
    let api_version = fixed.get_i16();
    let correlation_id = fixed.get_i32();
    let Ok(known_key) = ApiKey::try_from(api_key) else {
        return Err(FrameError::UnknownApiKey {
            api_key,
            correlation_id,
        });
    };
    let header_version = known_key.request_header_version(api_version);
    let mut rest = frame;
    let header = RequestHeader::decode(&mut rest, header_version).map_err(|error| {
        FrameError::BadHeader {
            correlation_id,
            reason: error.to_string(),
        }
    })?;
    Ok(RequestFrame {
        api_key,
        api_version,
        correlation_id,
        client_id: header.client_id,
        body: rest,
    })
}

/// Encodes a whole response frame: size prefix, response header (version
/// from [`ApiKey::response_header_version`], which is 0 for ApiVersions at
/// every version, as KIP-511 requires) and body.
pub fn encode_response<R: Encodable>(
    correlation_id: i32,
    api_key: ApiKey,
    version: i16,
    body: &R,
) -> Result<Bytes, EncodeError> {
    let encode_error = |error: &dyn fmt::Display| EncodeError {
        api_key: api_key as i16,
        version,
        reason: error.to_string(),
    };
    let header_version = api_key.response_header_version(version);
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    let header_bytes = header
        .compute_size(header_version)
        .map_err(|e| encode_error(&e))?;
    let body_bytes = body.compute_size(version).map_err(|e| encode_error(&e))?;
    let frame_len = header_bytes + body_bytes;
    let size = i32::try_from(frame_len).map_err(|e| encode_error(&e))?;
    let mut buf = BytesMut::with_capacity(FRAME_SIZE_PREFIX_BYTES + frame_len);
    buf.put_i32(size);
    header
        .encode(&mut buf, header_version)
        .map_err(|e| encode_error(&e))?;
    body.encode(&mut buf, version)
        .map_err(|e| encode_error(&e))?;
    debug_assert_eq!(buf.len(), FRAME_SIZE_PREFIX_BYTES + frame_len);
    Ok(buf.freeze())
}

/// The answer to an ApiVersions request newer than we support (KIP-511): an
/// ApiVersions v0 response with UNSUPPORTED_VERSION and our supported ranges,
/// from which the client picks a version and asks again.
///
/// `api_keys` holds `(api_key, min_version, max_version)`.
pub fn api_versions_fallback(correlation_id: i32, api_keys: &[(i16, i16, i16)]) -> Bytes {
    const API_KEY_ENTRY_BYTES: usize = 6;
    let frame_len = 4 + 2 + 4 + api_keys.len() * API_KEY_ENTRY_BYTES;
    let mut buf = BytesMut::with_capacity(FRAME_SIZE_PREFIX_BYTES + frame_len);
    // The api key table is a few dozen entries: far inside an INT32.
    buf.put_i32(frame_len as i32);
    buf.put_i32(correlation_id); // response header v0
    buf.put_i16(error_code::UNSUPPORTED_VERSION);
    buf.put_i32(api_keys.len() as i32);
    for &(api_key, min_version, max_version) in api_keys {
        buf.put_i16(api_key);
        buf.put_i16(min_version);
        buf.put_i16(max_version);
    }
    buf.freeze()
}

/// ApiVersions versions answered by every listener (Kafka 4.x's range).
pub const API_VERSIONS_VERSIONS: (i16, i16) = (0, 4);

/// The whole ApiVersions answer frame to `request`, listing `api_keys` as
/// (key, min version, max version). Any version gets an answer (KIP-511): one
/// outside [`API_VERSIONS_VERSIONS`] gets the v0 fallback with
/// UNSUPPORTED_VERSION and the table, from which the client picks.
pub fn api_versions_answer(request: &RequestFrame, api_keys: &[(i16, i16, i16)]) -> Bytes {
    let (min, max) = API_VERSIONS_VERSIONS;
    if request.api_version < min || request.api_version > max {
        return api_versions_fallback(request.correlation_id, api_keys);
    }
    let keys = api_keys
        .iter()
        .map(|&(api_key, min_version, max_version)| {
            ApiVersion::default()
                .with_api_key(api_key)
                .with_min_version(min_version)
                .with_max_version(max_version)
        })
        .collect();
    let response = ApiVersionsResponse::default().with_api_keys(keys);
    let version = request.api_version;
    match encode_response(
        request.correlation_id,
        ApiKey::ApiVersions,
        version,
        &response,
    ) {
        Ok(bytes) => bytes,
        Err(e) => {
            // Cannot happen for a version in range; the fallback still
            // lets the client go on.
            log::error!("{e}");
            api_versions_fallback(request.correlation_id, api_keys)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::{
        ApiVersionsRequest, ApiVersionsResponse, FetchRequest, MetadataResponse, ProduceRequest,
    };
    use kafka_protocol::protocol::{encode_request_header_into_buffer, HeaderVersion};

    fn request_frame<R: Encodable + HeaderVersion>(
        api_key: ApiKey,
        version: i16,
        client_id: Option<&'static str>,
        body: &R,
    ) -> (Bytes, Bytes) {
        let header = RequestHeader::default()
            .with_request_api_key(api_key as i16)
            .with_request_api_version(version)
            .with_correlation_id(0x0102_0304)
            .with_client_id(client_id.map(StrBytes::from_static_str));
        let mut frame = BytesMut::new();
        encode_request_header_into_buffer(&mut frame, &header).unwrap();
        let mut body_bytes = BytesMut::new();
        body.encode(&mut body_bytes, version).unwrap();
        frame.extend_from_slice(&body_bytes);
        (frame.freeze(), body_bytes.freeze())
    }

    #[test]
    fn decodes_headers_encoded_by_the_crate() {
        let produce = ProduceRequest::default().with_acks(-1);
        let fetch = FetchRequest::default().with_max_wait_ms(500);
        let cases = [
            request_frame(ApiKey::Produce, 3, Some("rdkafka"), &produce),
            request_frame(ApiKey::Produce, 9, Some("rdkafka"), &produce),
            request_frame(ApiKey::Produce, 9, None, &produce),
            request_frame(ApiKey::Fetch, 4, Some("java"), &fetch),
            request_frame(ApiKey::Fetch, 16, Some(""), &fetch),
        ];
        for (frame, body) in cases {
            let decoded = decode_request_header(frame).unwrap();
            assert_eq!(decoded.correlation_id, 0x0102_0304);
            assert_eq!(decoded.body, body);
        }
        let (frame, body) = request_frame(ApiKey::Fetch, 12, Some("kcat"), &fetch);
        let decoded = decode_request_header(frame).unwrap();
        assert_eq!(decoded.api_key, ApiKey::Fetch as i16);
        assert_eq!(decoded.api_key(), Some(ApiKey::Fetch));
        assert_eq!(decoded.api_version, 12);
        assert_eq!(decoded.client_id.as_deref(), Some("kcat"));
        let decoded_body = FetchRequest::decode(&mut decoded.body.clone(), 12).unwrap();
        assert_eq!(decoded_body, fetch);
        assert_eq!(decoded.body, body);
    }

    #[test]
    fn api_versions_v4_request_header_is_flexible() {
        let request = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("librdkafka"))
            .with_client_software_version(StrBytes::from_static_str("2.15.0"));
        let (frame, body) = request_frame(ApiKey::ApiVersions, 4, Some("rdk"), &request);
        let decoded = decode_request_header(frame).unwrap();
        assert_eq!(decoded.body, body);
        assert_eq!(decoded.client_id.as_deref(), Some("rdk"));
    }

    #[test]
    fn unknown_api_key_reports_the_correlation_id() {
        let frame = Bytes::from_static(&[0x7f, 0x00, 0, 1, 0, 0, 0x30, 0x39, 0xff, 0xff]);
        let error = decode_request_header(frame).unwrap_err();
        assert_eq!(
            error,
            FrameError::UnknownApiKey {
                api_key: 0x7f00,
                correlation_id: 12345
            }
        );
    }

    #[test]
    fn short_and_truncated_frames_are_errors() {
        let short = decode_request_header(Bytes::from_static(&[0, 1, 0, 4, 0, 0]));
        assert_eq!(short.unwrap_err(), FrameError::TooShort { len: 6 });
        // Fetch v4 header with a client id claiming 10 bytes but carrying 2.
        let truncated = Bytes::from_static(&[0, 1, 0, 4, 0, 0, 0, 9, 0, 10, b'a', b'b']);
        match decode_request_header(truncated).unwrap_err() {
            FrameError::BadHeader { correlation_id, .. } => assert_eq!(correlation_id, 9),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn frame_size_is_bounded() {
        assert_eq!(frame_body_len(100i32.to_be_bytes(), 100), Ok(100));
        assert!(frame_body_len(101i32.to_be_bytes(), 100).is_err());
        assert!(frame_body_len((-1i32).to_be_bytes(), 100).is_err());
    }

    fn strip_prefix(frame: &Bytes) -> Bytes {
        let mut frame = frame.clone();
        let size = frame.get_i32();
        assert_eq!(size as usize, frame.len());
        frame
    }

    #[test]
    fn encodes_responses_the_crate_can_decode() {
        let metadata = MetadataResponse::default().with_throttle_time_ms(3);
        for version in [3i16, 8, 9, 12] {
            let frame = encode_response(77, ApiKey::Metadata, version, &metadata).unwrap();
            let mut rest = strip_prefix(&frame);
            let header_version = ApiKey::Metadata.response_header_version(version);
            let header = ResponseHeader::decode(&mut rest, header_version).unwrap();
            assert_eq!(header.correlation_id, 77);
            let decoded = MetadataResponse::decode(&mut rest, version).unwrap();
            assert_eq!(decoded, metadata);
            assert!(rest.is_empty());
        }
    }

    #[test]
    fn api_versions_response_header_is_v0_even_when_flexible() {
        let response = ApiVersionsResponse::default();
        let frame = encode_response(5, ApiKey::ApiVersions, 3, &response).unwrap();
        let mut rest = strip_prefix(&frame);
        assert_eq!(rest.get_i32(), 5);
        // No header tag section: the body (error code first) follows directly.
        let decoded = ApiVersionsResponse::decode(&mut rest, 3).unwrap();
        assert_eq!(decoded, response);
    }

    #[test]
    fn encode_errors_are_reported() {
        // The crate knows Metadata versions 0..=13 only.
        let metadata = MetadataResponse::default();
        let error = encode_response(1, ApiKey::Metadata, 14, &metadata).unwrap_err();
        assert_eq!((error.api_key, error.version), (3, 14));
    }

    #[test]
    fn api_versions_fallback_is_a_valid_v0_response() {
        let table = [(0i16, 0i16, 9i16), (1, 4, 16), (18, 0, 4)];
        let frame = api_versions_fallback(42, &table);
        let mut rest = strip_prefix(&frame);
        assert_eq!(rest.get_i32(), 42);
        let decoded = ApiVersionsResponse::decode(&mut rest, 0).unwrap();
        assert!(rest.is_empty());
        assert_eq!(decoded.error_code, error_code::UNSUPPORTED_VERSION);
        let keys: Vec<(i16, i16, i16)> = decoded
            .api_keys
            .iter()
            .map(|k| (k.api_key, k.min_version, k.max_version))
            .collect();
        assert_eq!(keys, table);
    }
}
