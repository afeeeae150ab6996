//! Request framing and response unframing, free of sockets so they can be
//! tested alone.

use super::ClientError;
use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::messages::{RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{
    encode_request_header_into_buffer, Decodable, HeaderVersion, Request, StrBytes,
};

/// Size of the big-endian length prefix on every Kafka frame.
const SIZE_PREFIX_BYTES: usize = 4;

/// One complete request frame: size prefix, header, body.
pub(crate) fn encode_request<Req: Request>(
    request: &Req,
    version: i16,
    correlation_id: i32,
    client_id: &str,
) -> Result<BytesMut, ClientError> {
    let header = RequestHeader::default()
        .with_request_api_key(Req::KEY)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_string(client_id.to_string())));
    let mut buf = BytesMut::new();
    buf.extend_from_slice(&[0u8; SIZE_PREFIX_BYTES]);
    encode_request_header_into_buffer(&mut buf, &header).map_err(encode_error)?;
    request.encode(&mut buf, version).map_err(encode_error)?;
    let body_len = i32::try_from(buf.len() - SIZE_PREFIX_BYTES)
        .map_err(|_| ClientError::Protocol("request larger than 2 GiB".to_string()))?;
    buf[..SIZE_PREFIX_BYTES].copy_from_slice(&body_len.to_be_bytes());
    Ok(buf)
}

fn encode_error(e: impl std::fmt::Display) -> ClientError {
    ClientError::Protocol(format!("encode: {e}"))
}

/// The body length from a size prefix, refused when negative or above `limit`.
pub(crate) fn checked_frame_size(prefix: [u8; 4], limit: usize) -> Result<usize, ClientError> {
    let size = i32::from_be_bytes(prefix);
    match usize::try_from(size) {
        Ok(size) if size <= limit => Ok(size),
        _ => Err(ClientError::Protocol(format!(
            "response size {size} outside 0..={limit}"
        ))),
    }
}

/// Decodes the response header and body of a frame (without its size prefix).
pub(crate) fn decode_response<Req: Request>(
    mut body: Bytes,
    version: i16,
    expected_correlation_id: i32,
) -> Result<Req::Response, ClientError> {
    let header_version = <Req::Response as HeaderVersion>::header_version(version);
    let header = ResponseHeader::decode(&mut body, header_version).map_err(decode_error)?;
    if header.correlation_id != expected_correlation_id {
        return Err(ClientError::Protocol(format!(
            "correlation id {} in answer to request {expected_correlation_id}",
            header.correlation_id
        )));
    }
    let response = Req::Response::decode(&mut body, version).map_err(decode_error)?;
    if body.has_remaining() {
        log::debug!(
            "{} bytes after response api_key={}",
            body.remaining(),
            Req::KEY
        );
    }
    Ok(response)
}

fn decode_error(e: impl std::fmt::Display) -> ClientError {
    ClientError::Protocol(format!("decode: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::error_code;
    use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse, ListGroupsRequest};
    use kafka_protocol::protocol::{decode_request_header_from_buffer, Encodable};

    #[test]
    fn request_frame_has_size_prefix_and_decodable_header() {
        let frame = encode_request(&ListGroupsRequest::default(), 3, 42, "cli").unwrap();
        let mut bytes = frame.freeze();
        let size = bytes.get_i32() as usize;
        assert_eq!(size, bytes.len());
        let header = decode_request_header_from_buffer(&mut bytes).unwrap();
        assert_eq!(header.request_api_key, 16);
        assert_eq!(header.request_api_version, 3);
        assert_eq!(header.correlation_id, 42);
        let request = ListGroupsRequest::decode(&mut bytes, 3).unwrap();
        assert_eq!(request, ListGroupsRequest::default());
    }

    #[test]
    fn response_round_trips_and_wrong_correlation_is_refused() {
        let response =
            ApiVersionsResponse::default().with_error_code(error_code::UNSUPPORTED_VERSION);
        let mut buf = BytesMut::new();
        ResponseHeader::default()
            .with_correlation_id(7)
            .encode(&mut buf, 0)
            .unwrap();
        response.encode(&mut buf, 0).unwrap();
        let body = buf.freeze();
        let decoded = decode_response::<ApiVersionsRequest>(body.clone(), 0, 7).unwrap();
        assert_eq!(decoded.error_code, error_code::UNSUPPORTED_VERSION);
        let wrong = decode_response::<ApiVersionsRequest>(body, 0, 8);
        assert!(matches!(wrong, Err(ClientError::Protocol(_))));
    }

    #[test]
    fn frame_size_is_bounded() {
        assert_eq!(checked_frame_size(10i32.to_be_bytes(), 100).unwrap(), 10);
        assert!(checked_frame_size(101i32.to_be_bytes(), 100).is_err());
        assert!(checked_frame_size((-1i32).to_be_bytes(), 100).is_err());
    }
}
