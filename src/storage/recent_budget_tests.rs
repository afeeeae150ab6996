//! The shard's recent-batch bound (`recent_budget.rs`) with many partitions
//! that each hold less than a block: every batch overlaps its active
//! segment's partial last block, so the bound is met only if those batches
//! are evicted too, and then reads must get them whole from the file, also
//! while and after the next write rounds rewrite that block, and after a
//! reopen.

use crate::protocol::piece::Piece;
use crate::protocol::record_batch::stamp_header;
use crate::storage::segment::WRITE_ALIGNMENT_BYTES;
use crate::storage::tests::{
    batches_in, new_storage, piece_bytes, plain_batch, run, up_to_log_end, TempDir, TOPIC,
};
use crate::storage::{Durability, LogConfig, PartitionLog, ShardStorage, StorageLimits};
use std::cell::{Cell, RefCell};
use std::rc::Rc;

const PARTITIONS: i32 = 64;
const SHARD_MAX_BYTES: usize = 32 << 10;
/// One record of this many value bytes: a batch of ~1 KiB, so a
/// partition's first three batches lie in its first block, less than a
/// block each, and the fourth crosses into the second.
const VALUE_BYTES: usize = 1000;
/// Appends per partition before the reopen.
const ROUNDS: usize = 4;
/// Reads at least this large return everything a partition holds here.
const READ_ALL_BYTES: usize = 1 << 20;

/// The bytes each partition's batches must read back as: per partition,
/// per batch, the batch as the log stamped it.
type Expected = Rc<RefCell<Vec<Vec<Vec<u8>>>>>;

fn limits() -> StorageLimits {
    StorageLimits {
        recent_bytes_per_partition: 64 << 10,
        recent_bytes_per_partition_min: 16 << 10,
        recent_bytes_per_shard_max: SHARD_MAX_BYTES,
        ..StorageLimits::default()
    }
}

async fn open_all(storage: &ShardStorage) -> Vec<Rc<PartitionLog>> {
    let mut logs = Vec::new();
    for partition in 0..PARTITIONS {
        let log = storage.open_partition(TOPIC, partition, None, LogConfig::default(), true);
        logs.push(log.await.unwrap());
    }
    logs
}

/// Appends one batch to every log, each waited for until written, and
/// records how it must read back.
async fn append_round(logs: &[Rc<PartitionLog>], expected: &Expected, round: usize) {
    for (partition, log) in logs.iter().enumerate() {
        let batch = plain_batch(1, VALUE_BYTES, round as i64);
        let mut header = batch.header;
        let body = batch.body.clone();
        let result = log.append(vec![batch], 0).await.unwrap();
        // Before any await: the batch is not readable until written.
        stamp_header(&mut header, result.base_offset, 0);
        expected.borrow_mut()[partition].push([&header[..], &body[..]].concat());
        log.wait_durable(result.last_offset, Durability::Written)
            .await
            .unwrap();
    }
}

/// The whole batches readable from `offset` on, fetch after fetch, and
/// whether every fetch was answered from the file only.
async fn read_from(log: &PartitionLog, mut offset: i64) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let mut from_file = true;
    while offset < log.readable_end_offset() {
        let result = log
            .read(offset, up_to_log_end(READ_ALL_BYTES, true))
            .await
            .unwrap();
        from_file &= result.pieces.iter().all(|p| matches!(p, Piece::File(_)));
        let bytes = piece_bytes(&result.pieces);
        let found = batches_in(&bytes);
        assert!(!found.is_empty(), "{}: no progress at {offset}", log.name());
        for batch in found {
            if batch.last_offset() >= offset {
                out.extend_from_slice(&bytes[batch.position..batch.position + batch.len]);
                offset = batch.last_offset() + 1;
            }
        }
    }
    (out, from_file)
}

/// Every batch of every log reads back byte for byte, as one read from the
/// start and as a read starting at each batch; with `from_file`, every
/// answer comes from the file.
async fn assert_read_back(logs: &[Rc<PartitionLog>], expected: &Expected, from_file: bool) {
    for (partition, log) in logs.iter().enumerate() {
        let batches = expected.borrow()[partition].clone();
        let (all, all_from_file) = read_from(log, 0).await;
        assert!(all == batches.concat(), "{}: differs from 0", log.name());
        assert!(
            all_from_file || !from_file,
            "{}: not from the file",
            log.name()
        );
        for (offset, batch) in batches.iter().enumerate() {
            let result = log
                .read(offset as i64, up_to_log_end(1, true))
                .await
                .unwrap();
            let bytes = piece_bytes(&result.pieces);
            let first = batches_in(&bytes).first().map(|first| &bytes[..first.len]);
            assert!(
                first == Some(&batch[..]),
                "{}: batch {offset} differs",
                log.name()
            );
        }
    }
}

/// Reads every log again and again until `stop`, checking that whatever is
/// readable is a prefix of what was appended (runs between the write
/// rounds' awaits, so also while a round rewrites a partial block).
fn spawn_checking_reader(
    logs: Vec<Rc<PartitionLog>>,
    expected: Expected,
    stop: Rc<Cell<bool>>,
) -> glommio::task::JoinHandle<usize> {
    glommio::spawn_local(async move {
        let mut reads = 0;
        while !stop.get() {
            for (partition, log) in logs.iter().enumerate() {
                let (read, _) = read_from(log, 0).await;
                let wanted = expected.borrow()[partition].concat();
                assert!(wanted.starts_with(&read), "{}: read differs", log.name());
                reads += 1;
                futures_lite::future::yield_now().await;
            }
        }
        reads
    })
    .detach()
}

/// Evicts every log as the hand does a cold one: nothing written stays.
fn evict_all_cold(storage: &ShardStorage, logs: &[Rc<PartitionLog>]) {
    for log in logs {
        log.evict_cold_recent();
    }
    assert_eq!(storage.recent_bytes(), 0, "written batches left in memory");
}

#[test]
fn partitions_holding_less_than_a_block_meet_the_shard_bound_and_read_back_from_the_file() {
    let dir = TempDir::new("recent-partial-block");
    run(async move {
        let batch_bytes = plain_batch(1, VALUE_BYTES, 0).len();
        assert!(3 * batch_bytes < WRITE_ALIGNMENT_BYTES as usize);
        assert!(4 * batch_bytes > WRITE_ALIGNMENT_BYTES as usize);
        assert!(PARTITIONS as usize * batch_bytes > 2 * SHARD_MAX_BYTES);
        let storage = new_storage(&dir, limits());
        let logs = open_all(&storage).await;
        let expected: Expected = Rc::new(RefCell::new(vec![Vec::new(); PARTITIONS as usize]));
        for round in 0..ROUNDS {
            let stop = Rc::new(Cell::new(false));
            let reader = spawn_checking_reader(logs.clone(), expected.clone(), stop.clone());
            append_round(&logs, &expected, round).await;
            stop.set(true);
            assert!(reader.await.is_some_and(|reads| reads > 0));
            // Every batch is written: the bound holds, though every one of
            // them overlaps its partition's partial last block.
            let held = storage.recent_bytes();
            assert!(held <= SHARD_MAX_BYTES, "round {round}: {held} bytes held");
            assert_read_back(&logs, &expected, false).await;
            evict_all_cold(&storage, &logs);
            assert_read_back(&logs, &expected, true).await;
        }
        storage.shutdown().await.unwrap();
        drop(logs);
        // A reopen reads the partial blocks' batches into memory while the
        // shard is within its bound; they read back from memory and, evicted,
        // from the file, and so do later appends.
        let storage = new_storage(&dir, limits());
        let logs = open_all(&storage).await;
        // Logs opened while the shard is over its bound keep none of them:
        // the bound holds from the start, give or take the tail of the log
        // that crossed it.
        let held = storage.recent_bytes();
        let crossing_tail_bytes = 2 * batch_bytes;
        assert!(
            held <= SHARD_MAX_BYTES + crossing_tail_bytes,
            "after the reopen: {held} bytes held"
        );
        assert_read_back(&logs, &expected, false).await;
        evict_all_cold(&storage, &logs);
        assert_read_back(&logs, &expected, true).await;
        append_round(&logs, &expected, ROUNDS).await;
        assert!(storage.recent_bytes() <= SHARD_MAX_BYTES);
        evict_all_cold(&storage, &logs);
        assert_read_back(&logs, &expected, true).await;
        storage.shutdown().await.unwrap();
    });
}
