//! Arbitrary bytes through the record batch checks: `validate_batches` (a
//! Produce request's `records`) and `peek_batch` / `peek_batch_header` (the
//! segment scan of recovery and offset lookup). Nothing may panic; accepted
//! input must be described exactly by what the functions return.
#![no_main]

use libfuzzer_sys::fuzz_target;
use millrace::protocol::record_batch::{
    peek_batch, peek_batch_header, validate_batches, BatchInfo, LOG_OVERHEAD_BYTES,
    RECORD_BATCH_HEADER_BYTES,
};

/// The batch size limit given to `validate_batches` (1 MiB).
const MAX_BATCH_BYTES: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    check_validate_batches(data);
    check_peeks(data);
});

/// Accepted input is tiled exactly by the returned batches, each of which a
/// scan at its position finds the same.
fn check_validate_batches(data: &[u8]) {
    let mut batches: Vec<BatchInfo> = Vec::new();
    if validate_batches(data, MAX_BATCH_BYTES, &mut batches).is_err() {
        return;
    }
    assert!(!batches.is_empty(), "accepted input without a batch");
    let mut expected_position = 0;
    for batch in &batches {
        assert_eq!(batch.position, expected_position, "gap or overlap");
        assert!(
            batch.len >= RECORD_BATCH_HEADER_BYTES,
            "batch shorter than its header"
        );
        assert!(batch.len <= MAX_BATCH_BYTES, "batch over the limit");
        assert!(batch.record_count >= 0 && batch.last_offset_delta >= 0);
        let rest = &data[batch.position..];
        let peeked = peek_batch(&rest[..batch.len], true);
        assert_eq!(
            peeked,
            Ok(Some(BatchInfo {
                position: 0,
                ..*batch
            }))
        );
        // The accessors the produce path uses on client batches.
        let _ = (
            batch.last_sequence(),
            batch.offset_count(),
            batch.compression_codec(),
        );
        expected_position += batch.len;
    }
    assert_eq!(
        expected_position,
        data.len(),
        "batches do not reach the end"
    );
}

/// `peek_batch` with and without CRC and `peek_batch_header` agree, and a
/// batch they report lies inside the buffer.
fn check_peeks(data: &[u8]) {
    let verified = peek_batch(data, true);
    let unverified = peek_batch(data, false);
    let header = peek_batch_header(data);
    if let Ok(Some(info)) = verified {
        assert_eq!(unverified, Ok(Some(info)));
    }
    if let Ok(Some(info)) = unverified {
        assert_eq!(info.position, 0);
        assert!(info.len >= RECORD_BATCH_HEADER_BYTES && info.len <= data.len());
        assert_eq!(
            header,
            Ok(Some(info)),
            "header peek disagrees with batch peek"
        );
    }
    if let Ok(Some(info)) = header {
        assert!(data.len() >= RECORD_BATCH_HEADER_BYTES);
        assert!(info.len >= RECORD_BATCH_HEADER_BYTES);
        if info.len <= data.len() {
            assert_eq!(
                unverified,
                Ok(Some(info)),
                "whole batch present but not peeked"
            );
        } else {
            assert_eq!(unverified, Ok(None), "batch past the buffer reported");
        }
    }
    if data.len() < LOG_OVERHEAD_BYTES {
        assert_eq!(unverified, Ok(None));
        assert_eq!(header, Ok(None));
    }
}
