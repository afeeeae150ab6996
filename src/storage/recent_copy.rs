//! What a batch keeps alive once it is in [`RecentBatches`]: its own bytes,
//! not the whole request buffer it arrived in.
//!
//! A batch body is a `Bytes` slice of the Produce request's buffer, and a
//! slice keeps the whole allocation alive while the recent budget counts only
//! the batch. One request buffer can hold batches of many partitions (Kafka's
//! Java client and kafka-python put every partition of a broker in one
//! request), and small requests share the connection's 64 KiB reads. A
//! partition that keeps a small batch then keeps the whole buffer: a quiet
//! partition's 150-byte batches, each in a ~1 MB request that was mostly
//! another partition's batch, hold hundreds of MB behind a few KB of budget
//! (`tests/test_memory_many_partitions_recent_bytes_bounded.py`: 392 MiB of
//! resident growth under a 16 MiB bound before this copy, 32 MiB after).
//!
//! The connection knows the size of the allocation each frame slices (its
//! read buffer never lets `BytesMut` pick a size: `server/connection.rs`),
//! and a batch that would keep more than [`PINNED_BYTES_PER_BATCH_BYTE_MAX`]
//! times its own size alive is copied once, whole, into an allocation of its
//! own when it enters the recent set: one copy per batch, never per record.
//! A batch that is most of its buffer (a single-partition request, the
//! high-throughput case) keeps the buffer, with no copy. A recent batch then
//! keeps alive at most twice its own size.
//!
//! Charging each batch its whole buffer instead would count the same buffer
//! once per partition, and trimming one partition would not free it, so the
//! shard bound could not be met by eviction; the copy keeps eviction exact.
//!
//! [`RecentBatches`]: super::appender::RecentBatches

use super::appender::HeaderArena;
use bytes::{Bytes, BytesMut};

/// A batch is copied when the buffer it slices is more than this many times
/// the batch's own bytes.
pub const PINNED_BYTES_PER_BATCH_BYTE_MAX: usize = 2;

/// True when a batch of `batch_bytes` slicing a buffer of `pinned_bytes`
/// would keep too much memory alive.
pub fn pins_too_much(pinned_bytes: usize, batch_bytes: usize) -> bool {
    pinned_bytes > batch_bytes.saturating_mul(PINNED_BYTES_PER_BATCH_BYTE_MAX)
}

/// The header and body a recent batch holds: the body as it arrived with the
/// stamped header cut from the log's arena, or, when the body slices a buffer
/// much larger than the batch (`pinned_bytes`), header and body copied into
/// one allocation of the batch's size. The copy leaves the arena alone: a
/// partition whose batches are all copied holds no arena block (64 KiB that
/// no budget counts).
pub fn recent_parts(
    header: &[u8],
    body: Bytes,
    pinned_bytes: usize,
    arena: &mut HeaderArena,
) -> (Bytes, Bytes) {
    let batch_bytes = header.len() + body.len();
    if !pins_too_much(pinned_bytes, batch_bytes) {
        return (arena.copy(header), body);
    }
    let mut own = BytesMut::with_capacity(batch_bytes);
    own.extend_from_slice(header);
    own.extend_from_slice(&body);
    let body = own.split_off(header.len());
    (own.freeze(), body.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::tests::{new_storage, plain_batch, read_all, run, TempDir, TOPIC};
    use crate::storage::{AppendBatch, Durability, LogConfig, StorageLimits};

    const HEADER: [u8; 61] = [7u8; 61];

    fn arena() -> HeaderArena {
        HeaderArena::new(64 * 1024)
    }

    #[test]
    fn batches_of_a_many_partition_request_do_not_keep_the_request_alive() {
        let partitions = 100;
        let batch_body_bytes = 10_000;
        let request = Bytes::from(vec![3u8; partitions * batch_body_bytes]);
        let mut arena = arena();
        let kept: Vec<(Bytes, Bytes)> = (0..partitions)
            .map(|i| {
                let body = request.slice(i * batch_body_bytes..(i + 1) * batch_body_bytes);
                recent_parts(&HEADER, body, request.len(), &mut arena)
            })
            .collect();
        // Every body was copied: the request buffer has no other owner.
        assert!(request.is_unique());
        for (i, (header, body)) in kept.iter().enumerate() {
            assert_eq!(&header[..], &HEADER[..]);
            // Header and body in one allocation of the batch's size.
            assert_eq!(header.as_ptr().wrapping_add(header.len()), body.as_ptr());
            assert_eq!(body.len(), batch_body_bytes);
            let start = request.as_ptr() as usize;
            let end = start + request.len();
            let at = body.as_ptr() as usize;
            assert!(
                at < start || at >= end,
                "batch {i} still slices the request"
            );
        }
        // Dropping the request frees its buffer; the copies stay readable.
        drop(request);
        assert!(kept.iter().all(|(_, body)| body.iter().all(|&b| b == 3)));
    }

    #[test]
    fn the_batch_of_a_single_partition_request_is_not_copied() {
        let request = Bytes::from(vec![5u8; 1 << 20]);
        let body = request.slice(100..);
        let body_ptr = body.as_ptr();
        let (_, kept) = recent_parts(&HEADER, body, request.len(), &mut arena());
        assert_eq!(kept.as_ptr(), body_ptr);
        assert!(!request.is_unique());
    }

    /// `partitions` batches like `template`, their bodies side by side in one
    /// request buffer.
    fn request_with(template: &AppendBatch, partitions: usize) -> (Bytes, Vec<AppendBatch>) {
        let body_bytes = template.body.len();
        let mut buffer = Vec::with_capacity(partitions * body_bytes);
        for _ in 0..partitions {
            buffer.extend_from_slice(&template.body);
        }
        let request = Bytes::from(buffer);
        let batches = (0..partitions)
            .map(|i| AppendBatch {
                body: request.slice(i * body_bytes..(i + 1) * body_bytes),
                pinned_bytes: request.len(),
                ..template.clone()
            })
            .collect();
        (request, batches)
    }

    #[test]
    fn appended_batches_keep_only_their_own_bytes() {
        let dir = TempDir::new("recent-copy");
        run(async move {
            let storage = new_storage(&dir, StorageLimits::default());
            let mut logs = Vec::new();
            for partition in 0..4 {
                let config = LogConfig::default();
                logs.push(
                    storage
                        .open_partition(TOPIC, partition, None, config, true)
                        .await
                        .unwrap(),
                );
            }
            let template = plain_batch(1, 10_000, 1);
            let (request, batches) = request_with(&template, logs.len());
            for (log, batch) in logs.iter().zip(batches) {
                let appended = log.append(vec![batch], 0).await.unwrap();
                log.wait_durable(appended.last_offset, Durability::Written)
                    .await
                    .unwrap();
            }
            // Four partitions' batches in one buffer: each was copied, and
            // the logs hold nothing of the request.
            assert!(request.is_unique());
            for log in &logs {
                assert_eq!(read_all(log, 0).await.len(), 1);
            }
            // One partition's batch that is the whole buffer is kept as is.
            let (request, batches) = request_with(&template, 1);
            let body_ptr = batches[0].body.as_ptr();
            logs[0].append(batches, 0).await.unwrap();
            assert!(!request.is_unique());
            let kept = {
                let state = logs[0].state.borrow();
                let body_ptr = state.recent.iter_from(1).next().map(|b| b.body.as_ptr());
                body_ptr
            };
            assert_eq!(kept, Some(body_ptr));
            storage.shutdown().await.unwrap();
        });
    }

    #[test]
    fn the_ratio_is_a_strict_bound() {
        assert!(!pins_too_much(2000, 1000));
        assert!(pins_too_much(2001, 1000));
        assert!(!pins_too_much(1000, 1000));
        assert!(!pins_too_much(usize::MAX, usize::MAX / 2 + 1));
    }
}
