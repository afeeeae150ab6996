//! Arbitrary bytes through the broker's request path, the way
//! `server::connection` and `server::handlers::dispatch` take them: size
//! prefix check, request header, then the body decoder of a served API at a
//! served version; for Produce, the record batch validation of every
//! partition's records too. Nothing here may panic or allocate unboundedly
//! from a length field (libFuzzer's `-malloc_limit_mb` catches the latter).
#![no_main]

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, ProduceRequest, RequestKind};
use kafka_protocol::protocol::Decodable;
use libfuzzer_sys::fuzz_target;
use millrace::config::Config;
use millrace::protocol::frame::{decode_request_header, frame_body_len, FRAME_SIZE_PREFIX_BYTES};
use millrace::protocol::record_batch::{validate_batches, BatchInfo};
use millrace::server::handlers::{produce, served_versions};
use std::sync::OnceLock;

/// The limits the broker runs with by default (`socket.request.max.bytes`,
/// `message.max.bytes`), taken from the config table so they stay in step.
fn default_limits() -> &'static (u32, usize) {
    static LIMITS: OnceLock<(u32, usize)> = OnceLock::new();
    LIMITS.get_or_init(|| {
        let config = Config::default();
        (
            config.socket_request_max_bytes,
            config.message_max_bytes as usize,
        )
    })
}

fuzz_target!(|data: &[u8]| {
    let &(socket_request_max_bytes, message_max_bytes) = default_limits();
    let Some((prefix, rest)) = data.split_first_chunk::<FRAME_SIZE_PREFIX_BYTES>() else {
        return;
    };
    let Ok(body_len) = frame_body_len(*prefix, socket_request_max_bytes) else {
        return;
    };
    assert!(body_len <= socket_request_max_bytes as usize);
    // The connection reads exactly `body_len` bytes. When the input is
    // shorter, what is there stands for a frame whose prefix said its true
    // length (every byte string is some valid frame), so the fuzzer need not
    // guess lengths to reach the decoders.
    let frame = Bytes::copy_from_slice(&rest[..body_len.min(rest.len())]);
    let Ok(request) = decode_request_header(frame) else {
        return;
    };
    let Some(api_key) = request.api_key() else {
        panic!(
            "decode_request_header accepted unknown api key {}",
            request.api_key
        );
    };
    // dispatch answers ApiVersions without decoding its body (KIP-511).
    if api_key == ApiKey::ApiVersions {
        return;
    }
    let Some(range) = served_versions(api_key) else {
        return;
    };
    let version = request.api_version;
    if version < range.min || version > range.max {
        return;
    }
    let decoded = if api_key == ApiKey::Produce && version < produce::CRATE_VERSION_MIN {
        decode_legacy_produce(&request.body).map(RequestKind::Produce)
    } else {
        RequestKind::decode(api_key, &mut request.body.clone(), version).ok()
    };
    if let Some(RequestKind::Produce(produce)) = decoded {
        validate_produce_records(&produce, message_max_bytes);
    }
});

/// `produce::handle_legacy`: a v0-2 body is v3's behind a null transactional id.
fn decode_legacy_produce(body: &Bytes) -> Option<ProduceRequest> {
    let mut padded = BytesMut::with_capacity(body.len() + 2);
    padded.put_i16(-1);
    padded.put_slice(body);
    ProduceRequest::decode(&mut padded.freeze(), produce::CRATE_VERSION_MIN).ok()
}

/// What `produce::prepare_batches` does with each partition's `records`.
fn validate_produce_records(request: &ProduceRequest, max_batch_bytes: usize) {
    let mut infos: Vec<BatchInfo> = Vec::new();
    for topic in &request.topic_data {
        for partition in &topic.partition_data {
            let Some(records) = partition.records.as_ref().filter(|r| !r.is_empty()) else {
                continue;
            };
            if validate_batches(records, max_batch_bytes, &mut infos).is_err() {
                continue;
            }
            for info in &infos {
                // The handler slices the header and body out of `records`.
                let end = info.position + info.len;
                assert!(info.len <= max_batch_bytes);
                assert!(end <= records.len());
                let _ = records.slice(info.position..end);
                let _ = (info.last_sequence(), info.offset_count(), info.is_control());
            }
        }
    }
}
