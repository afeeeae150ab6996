//! Reads a recording of a real client (tests/conformance/record.py): per line the connection,
//! the request frame and the answer the recording broker gave, both base64.

use crate::wire::{decode_response, Frame, Outcome};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind, ResponseKind};
use kafka_protocol::protocol::Decodable;

/// The name prefix every topic and group of a recording starts with; a replay swaps it for the
/// run's scope, which must be as long so that no frame changes size.
pub const TOKEN: &[u8] = b"rec00000";
/// Written for a request that got no answer (Produce with acks=0, or cut off at the end).
const NO_ANSWER: &str = "-";

/// One request of a recording.
pub struct Exchange {
    /// The client connection it came on (numbered in the order the proxy accepted them).
    pub connection: u32,
    /// Its header as sent.
    pub header: RequestHeader,
    /// The API it calls.
    pub api: ApiKey,
    /// The request, when kafka-protocol decodes it; else the frame is replayed as it is.
    pub request: Result<RequestKind, String>,
    /// The whole frame as recorded (with the run's scope in place of the token).
    pub frame: Bytes,
    /// What the recording broker answered, decoded.
    pub answer: Option<ResponseKind>,
}

/// Reads the recording at `path`, putting `scope` in place of every `TOKEN`.
pub fn read(path: &str, scope: &str) -> Result<Vec<Exchange>, String> {
    if scope.len() != TOKEN.len() {
        return Err(format!(
            "replay needs a scope of {} bytes (it replaces {} in the recording), not {scope:?}",
            TOKEN.len(),
            String::from_utf8_lossy(TOKEN)
        ));
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.starts_with('#') && !line.trim().is_empty())
        .map(|(number, line)| {
            parse_line(line, scope.as_bytes()).map_err(|e| format!("{path}:{}: {e}", number + 1))
        })
        .collect()
}

fn parse_line(line: &str, scope: &[u8]) -> Result<Exchange, String> {
    let fields: Vec<&str> = line.split(' ').collect();
    let [connection, request, answer] = fields[..] else {
        return Err(format!("want 3 fields, got {}", fields.len()));
    };
    let connection = connection
        .parse()
        .map_err(|e| format!("connection {connection}: {e}"))?;
    let frame = Bytes::from(swap_token(decode64(request)?, scope));
    let mut body = frame.clone();
    let parsed = Frame::raw(frame.clone())?;
    let api = ApiKey::try_from(parsed.api_key)
        .map_err(|_| format!("unknown api key {}", parsed.api_key))?;
    let header = RequestHeader::decode(&mut body, api.request_header_version(parsed.api_version))
        .map_err(|e| format!("request header: {e}"))?;
    let request = RequestKind::decode(api, &mut body, parsed.api_version)
        .map_err(|e| format!("{api:?} v{}: {e}", parsed.api_version));
    let answer = if answer == NO_ANSWER {
        None
    } else {
        match decode_response(&parsed, Bytes::from(swap_token(decode64(answer)?, scope))) {
            Outcome::Answer(answer) => Some(*answer),
            other => return Err(format!("recorded answer: {}", other.kind())),
        }
    };
    Ok(Exchange {
        connection,
        header,
        api,
        request,
        frame,
        answer,
    })
}

fn decode64(text: &str) -> Result<Vec<u8>, String> {
    BASE64.decode(text).map_err(|e| format!("base64: {e}"))
}

/// `bytes` with every `TOKEN` replaced by `scope` (of the same length).
fn swap_token(mut bytes: Vec<u8>, scope: &[u8]) -> Vec<u8> {
    let mut at = 0;
    while let Some(found) = bytes[at..]
        .windows(TOKEN.len())
        .position(|window| window == TOKEN)
    {
        let start = at + found;
        bytes[start..start + TOKEN.len()].copy_from_slice(scope);
        at = start + TOKEN.len();
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_token_is_swapped_in_place() {
        let swapped = swap_token(b"\x07rec00000-t rec00000-g".to_vec(), b"r1234567");
        assert_eq!(swapped, b"\x07r1234567-t r1234567-g".to_vec());
    }
}
