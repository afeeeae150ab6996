//! Fetch v0-3 answers: the old layout (no last stable offset, no aborted
//! transactions) around message sets of magic 0 (v0-1) or 1 (v2-3),
//! converted from the stored v2 batches. Only Sarama at its default Version
//! and kafka-go 0.2 ask for these; the records are read into memory and
//! copied, where v4+ answers send them untouched. [`encode`] reads files with
//! blocking calls: the fetch handler runs it on a helper thread.

use super::{error_code, RequestMeta};
use crate::protocol::fetch_response::FetchResponseOut;
use crate::protocol::frame::FRAME_SIZE_PREFIX_BYTES;
use crate::protocol::legacy_message_set::down_convert;
use crate::protocol::piece::Piece;
use bytes::{BufMut, BytesMut};
use std::os::unix::fs::FileExt;

/// First Fetch version whose message sets are magic 1 (timestamps).
const MAGIC_1_FROM_VERSION: i16 = 2;
/// First Fetch version with `throttle_time_ms`.
const THROTTLE_FROM_VERSION: i16 = 1;

/// The bytes of `pieces`: memory copied, file regions read (page cache).
fn gather(pieces: &[Piece]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(pieces.iter().map(Piece::len).sum());
    for piece in pieces {
        match piece {
            Piece::Mem(bytes) => out.extend_from_slice(bytes),
            Piece::File(region) => {
                let start = out.len();
                out.resize(start + region.len as usize, 0);
                region
                    .file
                    .read_exact_at(&mut out[start..], region.position)?;
            }
        }
    }
    Ok(out)
}

/// Encodes a Fetch v0-3 answer.
pub fn encode(meta: RequestMeta, response: FetchResponseOut) -> Option<Vec<Piece>> {
    let magic = if meta.version >= MAGIC_1_FROM_VERSION {
        1
    } else {
        0
    };
    let mut out = BytesMut::new();
    out.put_i32(0); // size, patched below
    out.put_i32(meta.correlation_id);
    if meta.version >= THROTTLE_FROM_VERSION {
        out.put_i32(response.throttle_time_ms);
    }
    out.put_i32(response.topics.len() as i32);
    let mut messages = BytesMut::new();
    for topic in &response.topics {
        let name = topic.name.0.as_bytes();
        out.put_i16(name.len() as i16);
        out.put_slice(name);
        out.put_i32(topic.partitions.len() as i32);
        for partition in &topic.partitions {
            messages.clear();
            let converted = gather(&partition.records)
                .map_err(|e| e.to_string())
                .and_then(|batches| {
                    down_convert(&batches, magic, &mut messages).map_err(|e| e.to_string())
                });
            let code = match converted {
                Ok(()) => partition.error_code,
                Err(e) => {
                    log::warn!(
                        "fetch v{} of {}-{}: {e}",
                        meta.version,
                        topic.name.0.as_str(),
                        partition.partition_index
                    );
                    messages.clear();
                    error_code::CORRUPT_MESSAGE
                }
            };
            out.put_i32(partition.partition_index);
            out.put_i16(code);
            out.put_i64(partition.high_watermark);
            out.put_i32(messages.len() as i32);
            out.put_slice(&messages);
        }
    }
    let size = (out.len() - FRAME_SIZE_PREFIX_BYTES) as i32;
    out[..FRAME_SIZE_PREFIX_BYTES].copy_from_slice(&size.to_be_bytes());
    Some(vec![Piece::Mem(out.freeze())])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::fetch_response::{AbortedTransactions, FetchPartitionOut, FetchTopicOut};
    use crate::protocol::record_batch::{build_test_batch, TestBatch};
    use bytes::Bytes;
    use kafka_protocol::messages::{ApiKey, TopicName};
    use kafka_protocol::protocol::StrBytes;

    fn response(records: Vec<Piece>) -> FetchResponseOut {
        FetchResponseOut {
            throttle_time_ms: 0,
            error_code: error_code::NONE,
            session_id: 0,
            topics: vec![FetchTopicOut {
                name: TopicName(StrBytes::from_static_str("t")),
                topic_id: uuid::Uuid::nil(),
                partitions: vec![FetchPartitionOut {
                    partition_index: 0,
                    error_code: error_code::NONE,
                    high_watermark: 2,
                    last_stable_offset: 2,
                    log_start_offset: 0,
                    aborted_transactions: AbortedTransactions::Null,
                    diverging_epoch: None,
                    current_leader: None,
                    records,
                }],
            }],
            node_endpoints: Vec::new(),
        }
    }

    fn encoded(version: i16, records: Vec<Piece>) -> Bytes {
        let meta = RequestMeta {
            api_key: ApiKey::Fetch,
            version,
            correlation_id: 9,
            listener: crate::config::MAIN_LISTENER,
        };
        match encode(meta, response(records)).as_deref() {
            Some([Piece::Mem(bytes)]) => bytes.clone(),
            _ => panic!("one memory piece expected"),
        }
    }

    #[test]
    fn v2_answers_magic_1_messages_after_the_old_partition_fields() {
        let batch = build_test_batch(&TestBatch {
            record_count: 2,
            value_bytes: 3,
            ..TestBatch::default()
        });
        let bytes = encoded(2, vec![Piece::Mem(Bytes::from(batch))]);
        let size = i32::from_be_bytes(bytes[0..4].try_into().unwrap()) as usize;
        assert_eq!(size, bytes.len() - FRAME_SIZE_PREFIX_BYTES);
        // size, correlation id, throttle, 1 topic, "t", 1 partition, index, error, hw
        let partition_at = 4 + 4 + 4 + 4 + 3 + 4;
        assert_eq!(&bytes[partition_at..partition_at + 6], &[0, 0, 0, 0, 0, 0]);
        let records_len_at = partition_at + 4 + 2 + 8;
        let records_len = i32::from_be_bytes(
            bytes[records_len_at..records_len_at + 4]
                .try_into()
                .unwrap(),
        );
        assert_eq!(records_len as usize, bytes.len() - records_len_at - 4);
        assert_eq!(bytes[records_len_at + 4 + 16], 1, "magic 1");
    }

    #[test]
    fn v0_has_no_throttle_and_a_corrupt_batch_is_an_error_code() {
        let garbage = Bytes::from(vec![0u8; 70]);
        let bytes = encoded(0, vec![Piece::Mem(garbage)]);
        // size, correlation id, 1 topic, "t", 1 partition, index, then the error code
        let error_at = 4 + 4 + 4 + 3 + 4 + 4;
        assert_eq!(
            i16::from_be_bytes([bytes[error_at], bytes[error_at + 1]]),
            error_code::CORRUPT_MESSAGE
        );
    }
}
