use super::*;
use crate::protocol::codec::{GZIP_MAGIC, LZ4_MAGIC, ZSTD_FRAME_MAGIC};
use crate::protocol::record_batch::{
    build_test_batch, validate_batches, RecordBatchHeader, TestBatch, LOG_OVERHEAD_BYTES,
    NO_SEQUENCE,
};
use std::mem::offset_of;

const MAX: usize = 1 << 20;
const BASE_OFFSET_AT: usize = offset_of!(RecordBatchHeader, base_offset);
const BATCH_LENGTH_AT: usize = offset_of!(RecordBatchHeader, batch_length);
const CRC_AT: usize = offset_of!(RecordBatchHeader, crc);
const ATTRIBUTES_AT: usize = offset_of!(RecordBatchHeader, attributes);
const LAST_OFFSET_DELTA_AT: usize = offset_of!(RecordBatchHeader, last_offset_delta);
const PRODUCER_ID_AT: usize = offset_of!(RecordBatchHeader, producer_id);
const PRODUCER_EPOCH_AT: usize = offset_of!(RecordBatchHeader, producer_epoch);
const BASE_SEQUENCE_AT: usize = offset_of!(RecordBatchHeader, base_sequence);
const RECORDS_COUNT_AT: usize = offset_of!(RecordBatchHeader, records_count);

fn batch(record_count: i32) -> Vec<u8> {
    build_test_batch(&TestBatch {
        record_count,
        ..TestBatch::default()
    })
}

/// Writes `value` at `at` and makes length and CRC valid again.
fn set(mut batch: Vec<u8>, at: usize, value: &[u8]) -> Vec<u8> {
    batch[at..at + value.len()].copy_from_slice(value);
    reseal(batch)
}

/// Replaces the records after the header, then fixes length and CRC.
fn with_records(mut batch: Vec<u8>, records: &[u8]) -> Vec<u8> {
    batch.truncate(RECORD_BATCH_HEADER_BYTES);
    batch.extend_from_slice(records);
    reseal(batch)
}

fn reseal(mut batch: Vec<u8>) -> Vec<u8> {
    let length = (batch.len() - LOG_OVERHEAD_BYTES) as i32;
    batch[BATCH_LENGTH_AT..BATCH_LENGTH_AT + 4].copy_from_slice(&length.to_be_bytes());
    let crc = crc32c::crc32c(&batch[ATTRIBUTES_AT..]);
    batch[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
    batch
}

fn validate(records: &[u8]) -> Result<(), BatchError> {
    validate_batches(records, MAX, &mut Vec::new())
}

fn refused_as_invalid_record(records: &[u8]) -> BatchError {
    let err = validate(records).unwrap_err();
    assert_eq!(err.wire_error_code(), 87, "{err}");
    err
}

#[test]
fn the_reviewers_batches_are_refused() {
    // One record, lastOffsetDelta 2^31-1: it was charged 2^31 offsets.
    let err = refused_as_invalid_record(&set(
        batch(1),
        LAST_OFFSET_DELTA_AT,
        &i32::MAX.to_be_bytes(),
    ));
    assert_eq!(
        err,
        BatchError::InconsistentOffsetRange {
            last_offset_delta: i32::MAX,
            record_count: 1
        }
    );
    assert!(err
        .to_string()
        .starts_with("Inconsistent batch offset range [0, 2147483647]"));
    // recordsCount 5 (and lastOffsetDelta 4) over one record.
    let lying = set(
        set(batch(1), RECORDS_COUNT_AT, &5i32.to_be_bytes()),
        LAST_OFFSET_DELTA_AT,
        &4i32.to_be_bytes(),
    );
    assert_eq!(
        refused_as_invalid_record(&lying),
        BatchError::RecordsEndEarly { index: 1 }
    );
}

#[test]
fn count_must_be_positive_and_match_the_offset_range() {
    let empty = with_records(set(batch(1), RECORDS_COUNT_AT, &0i32.to_be_bytes()), &[]);
    assert_eq!(
        refused_as_invalid_record(&empty),
        BatchError::InvalidRecordCount(0)
    );
    let short_range = set(batch(3), LAST_OFFSET_DELTA_AT, &1i32.to_be_bytes());
    assert_eq!(
        refused_as_invalid_record(&short_range),
        BatchError::InconsistentOffsetRange {
            last_offset_delta: 1,
            record_count: 3
        }
    );
    assert_eq!(validate(&batch(3)), Ok(()));
}

#[test]
fn records_must_end_exactly_at_the_batch_end() {
    let two = batch(2);
    let one_record_len = (two.len() - RECORD_BATCH_HEADER_BYTES) / 2;
    // Two records under a count of 1.
    let extra = set(
        set(two.clone(), RECORDS_COUNT_AT, &1i32.to_be_bytes()),
        LAST_OFFSET_DELTA_AT,
        &0i32.to_be_bytes(),
    );
    assert_eq!(
        refused_as_invalid_record(&extra),
        BatchError::RecordsRemaining {
            bytes: one_record_len
        }
    );
    // A stray byte after the last record.
    let mut stray = two.clone();
    stray.push(0);
    assert_eq!(
        refused_as_invalid_record(&reseal(stray)),
        BatchError::RecordsRemaining { bytes: 1 }
    );
    // The second record cut short.
    let cut = with_records(two.clone(), &two[RECORD_BATCH_HEADER_BYTES..two.len() - 1]);
    assert_eq!(
        refused_as_invalid_record(&cut),
        BatchError::InvalidRecordSize {
            index: 1,
            length: Some(one_record_len as i32 - 1)
        }
    );
}

#[test]
fn record_lengths_must_be_varints_of_a_whole_record() {
    let body = [0u8; 6]; // attributes, deltas, null key as length 0, ...: 6 bytes
    for (prefix, length) in [
        (&[0x02u8][..], Some(1)), // 1: shorter than any record
        (&[0x0d][..], Some(-7)),  // negative
        (&[0x0e][..], Some(7)),   // one byte more than there is
        (&[0x80, 0x80, 0x80, 0x80, 0x80, 0x00][..], None), // 6-byte varint
        (&[0x80][..], None),      // the batch ends inside the varint
    ] {
        let mut records = prefix.to_vec();
        if prefix.len() > 1 || prefix[0] != 0x80 {
            records.extend_from_slice(&body);
        }
        let err = refused_as_invalid_record(&with_records(batch(1), &records));
        assert_eq!(
            err,
            BatchError::InvalidRecordSize { index: 0, length },
            "prefix {prefix:x?}"
        );
        assert!(err.to_string().starts_with("Invalid record size"));
    }
    // The smallest record: length 6, every field one byte.
    assert_eq!(
        validate(&with_records(batch(1), &[0x0c, 0, 0, 0, 1, 1, 0])),
        Ok(())
    );
}

#[test]
fn the_base_offset_from_a_client_is_zero() {
    let err = refused_as_invalid_record(&set(batch(2), BASE_OFFSET_AT, &7i64.to_be_bytes()));
    assert_eq!(err, BatchError::NonZeroBaseOffset(7));
    assert!(err.to_string().contains("baseOffset"));
}

fn with_producer(producer_id: i64, producer_epoch: i16, base_sequence: i32) -> Vec<u8> {
    build_test_batch(&TestBatch {
        record_count: 3,
        producer_id,
        producer_epoch,
        base_sequence,
        ..TestBatch::default()
    })
}

#[test]
fn producer_fields_follow_kafka() {
    // No producer id: epoch and sequence are not looked at (Sarama, kafkajs send 0, 0).
    assert_eq!(validate(&with_producer(-1, -1, NO_SEQUENCE)), Ok(()));
    assert_eq!(validate(&with_producer(-1, 0, 0)), Ok(()));
    // An idempotent batch whose sequence wraps past i32::MAX.
    assert_eq!(validate(&with_producer(5, 0, i32::MAX - 1)), Ok(()));
    assert_eq!(
        refused_as_invalid_record(&with_producer(5, 0, NO_SEQUENCE)),
        BatchError::InvalidSequence {
            producer_id: 5,
            base_sequence: -1
        }
    );
    assert_eq!(
        refused_as_invalid_record(&with_producer(5, -1, 0)),
        BatchError::InvalidProducerEpoch {
            producer_id: 5,
            producer_epoch: -1
        }
    );
    assert_eq!(
        refused_as_invalid_record(&with_producer(-2, 0, 0)),
        BatchError::InvalidProducerId(-2)
    );
    // The fields sit where the header says.
    let set_fields = set(
        set(
            set(batch(1), PRODUCER_ID_AT, &9i64.to_be_bytes()),
            PRODUCER_EPOCH_AT,
            &3i16.to_be_bytes(),
        ),
        BASE_SEQUENCE_AT,
        &(-4i32).to_be_bytes(),
    );
    assert!(matches!(
        validate(&set_fields),
        Err(BatchError::InvalidSequence {
            producer_id: 9,
            base_sequence: -4
        })
    ));
}

fn compressed(codec: i16, payload: &[u8], record_count: i32) -> Vec<u8> {
    let batch = set(batch(1), ATTRIBUTES_AT, &codec.to_be_bytes());
    let batch = set(batch, RECORDS_COUNT_AT, &record_count.to_be_bytes());
    let batch = set(
        batch,
        LAST_OFFSET_DELTA_AT,
        &(record_count - 1).to_be_bytes(),
    );
    with_records(batch, payload)
}

#[test]
fn compressed_batches_are_checked_without_decompressing() {
    let payload_of = |magic: &[u8]| [magic, &[0u8; 20][..]].concat();
    let gzip = payload_of(&GZIP_MAGIC);
    let lz4 = payload_of(&LZ4_MAGIC.to_le_bytes());
    let zstd = payload_of(&ZSTD_FRAME_MAGIC);
    let zstd_skippable = payload_of(&[0x5a, 0x2a, 0x4d, 0x18]);
    for (codec, payload) in [
        (1, &gzip),
        (2, &gzip),
        (3, &lz4),
        (4, &zstd),
        (4, &zstd_skippable),
    ] {
        assert_eq!(
            validate(&compressed(codec, payload, 3)),
            Ok(()),
            "codec {codec}"
        );
    }
    for (codec, payload) in [(1, &lz4), (3, &gzip), (4, &gzip)] {
        let err = validate(&compressed(codec, payload, 3)).unwrap_err();
        assert_eq!(err, BatchError::CompressedFrameMismatch(codec as u8));
        assert_eq!(err.wire_error_code(), 2);
    }
    assert_eq!(
        validate(&compressed(2, &[], 1)),
        Err(BatchError::CompressedFrameMismatch(2))
    );
    for codec in 5..=7 {
        assert_eq!(
            refused_as_invalid_record(&compressed(codec, &gzip, 3)),
            BatchError::UnknownCompression(codec as u8)
        );
    }
    // The header checks apply as to any batch.
    let inconsistent = set(
        compressed(1, &gzip, 3),
        LAST_OFFSET_DELTA_AT,
        &9i32.to_be_bytes(),
    );
    assert!(matches!(
        refused_as_invalid_record(&inconsistent),
        BatchError::InconsistentOffsetRange { .. }
    ));
}

#[test]
fn a_compressed_count_needs_room_at_the_highest_ratio() {
    let zstd = [&ZSTD_FRAME_MAGIC[..], &[0u8; 8]].concat();
    let room = (zstd.len() as u64 * COMPRESSION_RATIO_MAX / RECORD_MIN_BYTES) as i32;
    assert_eq!(validate(&compressed(4, &zstd, room)), Ok(()));
    assert_eq!(
        refused_as_invalid_record(&compressed(4, &zstd, room + 1)),
        BatchError::CompressedCountTooLarge {
            record_count: room + 1,
            payload_bytes: zstd.len()
        }
    );
    assert!(matches!(
        refused_as_invalid_record(&compressed(4, &zstd, i32::MAX)),
        BatchError::CompressedCountTooLarge { .. }
    ));
}

#[test]
fn one_batch_per_partition() {
    let two = [batch(1), batch(2)].concat();
    assert_eq!(refused_as_invalid_record(&two), BatchError::MultipleBatches);
    // Trailing bytes that are no whole batch are a truncated one.
    let tail = [batch(1), batch(2)[..30].to_vec()].concat();
    assert_eq!(validate(&tail), Err(BatchError::Truncated));
}

#[test]
fn varints_read_like_kafka() {
    assert_eq!(read_varint_i32(&[0x00]), Some((0, 1)));
    assert_eq!(read_varint_i32(&[0x01]), Some((-1, 1)));
    assert_eq!(read_varint_i32(&[0xac, 0x02]), Some((150, 2)));
    assert_eq!(
        read_varint_i32(&[0xfe, 0xff, 0xff, 0xff, 0x0f]),
        Some((i32::MAX, 5))
    );
    assert_eq!(
        read_varint_i32(&[0xff, 0xff, 0xff, 0xff, 0x0f]),
        Some((i32::MIN, 5))
    );
    assert_eq!(read_varint_i32(&[0x80, 0x80, 0x80, 0x80, 0x80]), None);
    assert_eq!(read_varint_i32(&[0x80]), None);
}

#[test]
fn records_with_multi_byte_length_prefixes_walk_too() {
    for value_bytes in [57, 58, 200, 9000] {
        let records = build_test_batch(&TestBatch {
            record_count: 4,
            value_bytes,
            ..TestBatch::default()
        });
        assert_eq!(validate(&records), Ok(()), "{value_bytes}-byte values");
        let mut stray = records.clone();
        stray.push(0);
        assert_eq!(
            validate(&reseal(stray)),
            Err(BatchError::RecordsRemaining { bytes: 1 })
        );
    }
}
