//! Scenario tests of the partition layer on a real glommio executor, in a
//! temporary directory: the producer state's decisions on appends, its
//! rebuild when a log is loaded (more in `snapshot_tests.rs`), and the read
//! bound that fetches stop at and wake on.

use super::fetch::{FetchPart, FetchWait, PartitionRead};
use super::leader_epochs::LeaderEpochCache;
use super::list_offsets::{ListOffsetsPart, OffsetQuery, OffsetsReader};
use super::produce::{Appended, ProduceError};
use super::producer_state::ProducerStateConfig;
use super::replica::leader::Registration;
use super::{Partition, ShardPartitions};
use crate::local::notify::LocalEvent;
use crate::protocol::error_code;
use crate::storage::io::{install_fault_plan, Fault, FaultPlan, FaultRule};
use crate::storage::tests::{
    new_storage, plain_batch, producer_batch, read_all, run, small_config, TempDir, TOPIC,
};
use crate::storage::{AppendBatch, Durability, LogConfig, StorageLimits};
use std::os::unix::fs::MetadataExt;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Longest a test waits for the disk-full probe (a loaded machine delays timers).
const DISK_FULL_WAIT_MAX: Duration = Duration::from_secs(10);

/// Producer state limits of these tests: their batches carry 2023
/// timestamps, which must not expire.
pub(super) const NEVER_EXPIRE: ProducerStateConfig = ProducerStateConfig {
    producers_max: 1000,
    expiration_ms: i64::MAX,
};

fn partitions(dir: &TempDir) -> Rc<ShardPartitions> {
    partitions_with(dir, NEVER_EXPIRE)
}

pub(super) fn partitions_with(dir: &TempDir, config: ProducerStateConfig) -> Rc<ShardPartitions> {
    ShardPartitions::new(
        new_storage(dir, StorageLimits::default()),
        config,
        LocalEvent::default(),
    )
}

async fn open(partitions: &ShardPartitions, config: LogConfig) -> Rc<Partition> {
    partitions.open(TOPIC, 0, None, config, true).await.unwrap()
}

/// (base offset, last offset, whether it was a retry) of an accepted append.
pub(super) async fn append(partition: &Partition, batch: AppendBatch) -> (i64, i64, bool) {
    match partition
        .append(vec![batch], 0, Durability::Appended)
        .await
        .unwrap()
        .0
    {
        Appended::New(result) => (result.base_offset, result.last_offset, false),
        Appended::Duplicate(result) => (result.base_offset, result.last_offset, true),
    }
}

/// An acks=all append: (base offset, last offset, whether it was a retry),
/// or the wire code the producer gets.
async fn append_synced(partition: &Partition, batch: AppendBatch) -> Result<(i64, i64, bool), i16> {
    let (appended, wait) = partition
        .append(vec![batch], 0, Durability::Synced)
        .await
        .map_err(|e| e.wire_error_code())?;
    wait.wait().await.map_err(|e| e.wire_error_code())?;
    Ok(match appended {
        Appended::New(result) => (result.base_offset, result.last_offset, false),
        Appended::Duplicate(result) => (result.base_offset, result.last_offset, true),
    })
}

/// The wire code of a refused append.
pub(super) async fn refused(partition: &Partition, batch: AppendBatch) -> i16 {
    let refused: ProduceError = partition
        .append(vec![batch], 0, Durability::Appended)
        .await
        .unwrap_err();
    refused.wire_error_code()
}

#[test]
fn idempotent_duplicates_and_sequence_errors() {
    let dir = TempDir::new("idempotent");
    run(async move {
        let partitions = partitions(&dir);
        let partition = open(&partitions, LogConfig::default()).await;
        let p = &partition;
        assert_eq!(append(p, producer_batch(7, 0, 0, 5)).await, (0, 4, false));
        append(p, plain_batch(1, 1, 1)).await;
        // A retry is answered with its original offsets and not appended.
        assert_eq!(append(p, producer_batch(7, 0, 0, 5)).await, (0, 4, true));
        assert_eq!(p.log().log_end_offset(), 6);
        assert_eq!(
            refused(p, producer_batch(7, 0, 9, 1)).await,
            error_code::OUT_OF_ORDER_SEQUENCE_NUMBER
        );
        assert_eq!(append(p, producer_batch(7, 0, 5, 1)).await, (6, 6, false));
        assert_eq!(append(p, producer_batch(7, 1, 0, 1)).await, (7, 7, false));
        assert_eq!(
            refused(p, producer_batch(7, 0, 6, 1)).await,
            error_code::INVALID_PRODUCER_EPOCH
        );
        // Unknown producer: any sequence is accepted.
        append(p, producer_batch(8, 3, 1000, 1)).await;
        assert_eq!(
            refused(p, plain_batch(1, 2_000_000, 1)).await,
            error_code::MESSAGE_TOO_LARGE
        );
        partitions.shutdown().await.unwrap();
    });
}

/// The `log_append_time_ms` of an accepted append, new or a retry.
async fn append_time(partition: &Partition, batch: AppendBatch) -> i64 {
    match partition
        .append(vec![batch], 0, Durability::Appended)
        .await
        .unwrap()
        .0
    {
        Appended::New(result) | Appended::Duplicate(result) => result.log_append_time_ms,
    }
}

/// As Kafka: a retry is answered with the stored batch's max timestamp as
/// its append time: on a LogAppendTime topic the time the original got, on
/// a CreateTime topic the producer's (a new CreateTime append answers -1).
#[test]
fn a_retry_answers_the_stored_batch_timestamp_as_append_time() {
    let dir = TempDir::new("retry-append-time");
    run(async move {
        let partitions = partitions(&dir);
        let stamped = LogConfig {
            log_append_time: true,
            ..LogConfig::default()
        };
        let p = open(&partitions, stamped).await;
        let original = append_time(&p, producer_batch(7, 0, 0, 2)).await;
        assert!(original > 0, "{original}");
        // Later than the original's stamp, were it stamped again.
        glommio::timer::sleep(Duration::from_millis(5)).await;
        assert_eq!(append_time(&p, producer_batch(7, 0, 0, 2)).await, original);
        let create_time = partitions
            .open(TOPIC, 1, None, LogConfig::default(), true)
            .await;
        let c = create_time.unwrap();
        let batch = producer_batch(8, 0, 0, 2);
        let max_timestamp = batch.info.max_timestamp;
        assert_eq!(append_time(&c, batch).await, -1);
        let retry = append_time(&c, producer_batch(8, 0, 0, 2)).await;
        assert_eq!(retry, max_timestamp);
        partitions.shutdown().await.unwrap();
    });
}

#[test]
fn producer_state_is_rebuilt_when_the_log_is_loaded() {
    let dir = TempDir::new("producer-rebuild");
    run(async move {
        let partitions = partitions(&dir);
        let partition = open(&partitions, small_config()).await;
        for sequence in 0..30 {
            let (_, last_offset, _) =
                append(&partition, producer_batch(42, 0, sequence * 2, 2)).await;
            partition
                .log()
                .wait_durable(last_offset, Durability::Synced)
                .await
                .unwrap();
        }
        partitions.shutdown().await.unwrap();

        let partitions = self::partitions(&dir);
        let partition = open(&partitions, small_config()).await;
        assert_eq!(partition.log().log_end_offset(), 60);
        // The last batch is known again: its retry is not appended twice...
        let retry = append(&partition, producer_batch(42, 0, 58, 2)).await;
        assert_eq!(retry, (58, 59, true));
        // ...and the sequence goes on from it.
        assert_eq!(
            refused(&partition, producer_batch(42, 0, 61, 1)).await,
            error_code::OUT_OF_ORDER_SEQUENCE_NUMBER
        );
        let next = append(&partition, producer_batch(42, 0, 60, 1)).await;
        assert_eq!(next, (60, 60, false));
        partitions.shutdown().await.unwrap();
    });
}

#[test]
fn a_batch_refused_for_lack_of_space_is_not_kept_and_its_retry_goes_in_once() {
    let dir = TempDir::new("partition-enospc");
    run(async move {
        // The second and fourth writes of segment data fail with ENOSPC.
        let rules = [2, 4].map(|nth| FaultRule {
            file_contains: ".log".to_string(),
            fault: Fault::NoSpaceWrite { nth },
        });
        install_fault_plan(Some(Rc::new(FaultPlan::new(rules.to_vec()))));
        let partitions = partitions(&dir);
        let partition = open(&partitions, LogConfig::default()).await;
        let p = &partition;
        assert_eq!(
            append_synced(p, producer_batch(7, 0, 0, 1)).await,
            Ok((0, 0, false))
        );
        // Refused: the producer is told, and nothing of it is kept.
        let refused = append_synced(p, producer_batch(7, 0, 1, 1)).await;
        assert_eq!(refused, Err(error_code::KAFKA_STORAGE_ERROR));
        wait_for_space(p).await;
        // Its retry is a new batch at the next dense offset, not a
        // "duplicate" of a batch that was refused.
        assert_eq!(
            append_synced(p, producer_batch(7, 0, 1, 1)).await,
            Ok((1, 1, false))
        );
        // A non-idempotent producer's retry is not a second copy either.
        let refused = append_synced(p, plain_batch(1, 10, 1)).await;
        assert_eq!(refused, Err(error_code::KAFKA_STORAGE_ERROR));
        wait_for_space(p).await;
        assert_eq!(
            append_synced(p, plain_batch(1, 10, 1)).await,
            Ok((2, 2, false))
        );
        let offsets: Vec<i64> = read_all(p.log(), 0)
            .await
            .iter()
            .map(|batch| batch.base_offset)
            .collect();
        assert_eq!(offsets, [0, 1, 2]);
        partitions.storage().shutdown().await.unwrap();
        install_fault_plan(None);
    });
}

/// Waits (bounded) until the log left the disk-full state.
async fn wait_for_space(partition: &Partition) {
    let deadline = Instant::now() + DISK_FULL_WAIT_MAX;
    while partition.log().is_disk_full() {
        assert!(Instant::now() < deadline, "the disk-full state never ended");
        glommio::timer::sleep(Duration::from_millis(20)).await;
    }
}

/// Appends producer 42's batches `numbers` (two records each), synced.
async fn append_producer_batches(partition: &Partition, numbers: std::ops::Range<i32>) {
    for number in numbers {
        let batch = producer_batch(42, 0, number * 2, 2);
        append_synced(partition, batch).await.unwrap();
    }
}

#[test]
fn producer_state_survives_a_crash_past_a_recovery_point() {
    let dir = TempDir::new("producer-recovery-point");
    run(async move {
        let partitions = partitions(&dir);
        let partition = open(&partitions, LogConfig::default()).await;
        append_producer_batches(&partition, 0..30).await;
        // A recovery point at offset 60.
        assert_eq!(partitions.advance_recovery_points(0).await, 1);
        assert_eq!(partitions.storage().recovery_point(TOPIC, 0), Some(60));
        append_producer_batches(&partition, 30..33).await;
        // A crash: no shutdown.
        drop((partition, partitions));
        let partitions = self::partitions(&dir);
        let partition = open(&partitions, LogConfig::default()).await;
        assert_eq!(partition.log().log_end_offset(), 66);
        // Retries of batches below the recovery point (not checked by
        // recovery) and above it (checked) are recognised...
        let below = append(&partition, producer_batch(42, 0, 56, 2)).await;
        assert_eq!(below, (56, 57, true));
        let above = append(&partition, producer_batch(42, 0, 62, 2)).await;
        assert_eq!(above, (62, 63, true));
        // ...and the sequence goes on.
        let next = append(&partition, producer_batch(42, 0, 66, 1)).await;
        assert_eq!(next, (66, 66, false));
        partitions.shutdown().await.unwrap();
    });
}

/// A log that syncs only when asked: what is appended stays past the read
/// bound until a test waits for `Durability::Synced`.
fn no_timed_sync() -> LogConfig {
    LogConfig {
        flush_visibility_ms: 3_600_000,
        ..LogConfig::default()
    }
}

fn fetch_part(wait: Option<FetchWait>) -> FetchPart {
    FetchPart {
        partitions: vec![PartitionRead {
            topic: Arc::from(TOPIC),
            partition: 0,
            fetch_offset: 0,
            partition_max_bytes: 1 << 20,
            current_leader_epoch: -1,
            last_fetched_epoch: -1,
            replica_id: -1,
            replica_epoch: -1,
            replica_registration: Registration::Unknown,
        }],
        max_bytes: 1 << 20,
        min_one_batch: true,
        wait,
    }
}

fn long_poll(seconds: u64) -> Option<FetchWait> {
    Some(FetchWait {
        min_bytes: 1,
        deadline: Instant::now() + Duration::from_secs(seconds),
        fetch_id: 1,
        origin_shard: 0,
        report_progress: false,
    })
}

#[test]
fn consumers_see_only_synced_records_and_long_polls_wake_on_the_sync() {
    let dir = TempDir::new("durable-reads");
    run(async move {
        let partitions = partitions(&dir);
        let partition = open(&partitions, no_timed_sync()).await;
        let (_, last_offset, _) = append(&partition, plain_batch(3, 10, 1)).await;
        let log = partition.log();
        log.wait_durable(last_offset, Durability::Written)
            .await
            .unwrap();
        assert_eq!(partition.read_bound(), 0);
        let [fetched] =
            <[_; 1]>::try_from(partitions.start_fetch(fetch_part(None), |_| {}).await).unwrap();
        assert_eq!((fetched.high_watermark, fetched.records.len()), (0, 0));

        let parked =
            glommio::spawn_local(partitions.start_fetch(fetch_part(long_poll(30)), |_| {}));
        glommio::timer::sleep(Duration::from_millis(50)).await;
        let started = Instant::now();
        log.wait_durable(last_offset, Durability::Synced)
            .await
            .unwrap();
        let [fetched] = <[_; 1]>::try_from(parked.await).unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "not woken by the sync"
        );
        assert_eq!(fetched.high_watermark, 3);
        assert!(!fetched.records.is_empty());
        partitions.storage().shutdown().await.unwrap();
    });
}

#[test]
fn a_clean_shutdown_leaves_nothing_to_check() {
    let dir = TempDir::new("producer-shutdown");
    run(async move {
        let partitions = partitions(&dir);
        let partition = open(&partitions, LogConfig::default()).await;
        append_producer_batches(&partition, 0..30).await;
        partitions.shutdown().await.unwrap();
        drop((partition, partitions));
        let partitions = self::partitions(&dir);
        let partition = open(&partitions, LogConfig::default()).await;
        assert_eq!(partitions.storage().recovery_point(TOPIC, 0), Some(60));
        assert!(partitions.storage().checked_bytes() < 8192);
        let retry = append(&partition, producer_batch(42, 0, 58, 2)).await;
        assert_eq!(retry, (58, 59, true));
        let first = append(&partition, producer_batch(42, 0, 50, 2)).await;
        assert_eq!(first, (50, 51, true));
        partitions.shutdown().await.unwrap();
    });
}

#[test]
fn reopening_an_unchanged_log_rewrites_no_leader_epoch_checkpoint() {
    let dir = TempDir::new("epochs-unchanged");
    run(async move {
        // Opened 4 times: empty, empty, then appended to, then unchanged.
        // The file is written by a rename, so a rewrite is a new inode.
        let mut inodes = Vec::new();
        for open_number in 0..4 {
            let partitions = partitions(&dir);
            let partition = open(&partitions, LogConfig::default()).await;
            if open_number == 0 {
                // Its first checkpoint is written by a task of its own, which
                // a shutdown before it runs would cancel: written here.
                partition.write_missing_epochs().await;
            }
            if open_number == 2 {
                append_producer_batches(&partition, 0..2).await;
            }
            partitions.shutdown().await.unwrap();
            let path = partition.log.leader_epoch_checkpoint_path();
            inodes.push(std::fs::metadata(&path).map(|m| m.ino()).ok());
        }
        assert!(inodes[0].is_some(), "the first open writes the checkpoint");
        assert_eq!(inodes, vec![inodes[0]; 4], "rewritten at a reopen");
    });
}

#[test]
fn an_epoch_the_checkpoint_lacks_is_written_once_replayed_batches_find_it() {
    let dir = TempDir::new("epochs-completed");
    run(async move {
        let partitions = partitions(&dir);
        let partition = open(&partitions, LogConfig::default()).await;
        partition.write_missing_epochs().await;
        append_producer_batches(&partition, 0..2).await;
        partitions.shutdown().await.unwrap();
        let path = partition.log.leader_epoch_checkpoint_path();
        drop((partition, partitions));
        // A checkpoint write that failed: the file lacks epoch 0, whose
        // batches are on disk; no producer snapshot, so they are replayed.
        std::fs::write(&path, LeaderEpochCache::default().encode()).unwrap();
        let partition_dir = path.parent().unwrap().to_path_buf();
        for entry in std::fs::read_dir(&partition_dir).unwrap() {
            let file = entry.unwrap().path();
            if file.extension().is_some_and(|e| e == "snapshot") {
                std::fs::remove_file(file).unwrap();
            }
        }
        let partitions = self::partitions(&dir);
        let partition = open(&partitions, LogConfig::default()).await;
        partitions.shutdown().await.unwrap();
        drop(partition);
        let written = LeaderEpochCache::decode(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(written.latest_epoch(), Some(0), "{written:?}");
    });
}

#[test]
fn unflushed_reads_see_the_log_end_at_once() {
    let dir = TempDir::new("unflushed-reads");
    run(async move {
        let partitions = partitions(&dir);
        let unflushed = LogConfig {
            unflushed_read_enable: true,
            ..LogConfig::default()
        };
        let partition = open(&partitions, unflushed).await;
        let parked =
            glommio::spawn_local(partitions.start_fetch(fetch_part(long_poll(30)), |_| {}));
        glommio::timer::sleep(Duration::from_millis(50)).await;
        append(&partition, plain_batch(2, 10, 1)).await;
        let [fetched] = <[_; 1]>::try_from(parked.await).unwrap();
        assert_eq!(fetched.high_watermark, 2);
        assert!(!fetched.records.is_empty());
        assert!(partition.log().synced_end_offset() <= 2);
        // Back to durable reads: the bound drops to what is synced, and the
        // timed sync follows by itself.
        partition.set_config(LogConfig {
            flush_visibility_ms: 1,
            ..LogConfig::default()
        });
        let listener = partition.read_bound_listener();
        if partition.read_bound() < 2 {
            listener.await;
        }
        assert_eq!(partition.read_bound(), 2);
        partitions.storage().shutdown().await.unwrap();
    });
}

/// A zstd batch of `records` records with timestamps `base_timestamp + i`.
fn zstd_batch(records: i32, base_timestamp: i64) -> AppendBatch {
    use crate::protocol::record_batch::{build_test_batch, TestBatch, RECORD_BATCH_HEADER_BYTES};
    let plain = build_test_batch(&TestBatch {
        record_count: records,
        value_bytes: 100,
        base_timestamp,
        ..TestBatch::default()
    });
    let compressed = zstd::encode_all(&plain[RECORD_BATCH_HEADER_BYTES..], 3).unwrap();
    let mut bytes = plain[..RECORD_BATCH_HEADER_BYTES].to_vec();
    bytes.extend_from_slice(&compressed);
    let length = (bytes.len() - 12) as i32;
    bytes[8..12].copy_from_slice(&length.to_be_bytes());
    bytes[22] |= 4; // attributes (low byte): zstd
    let crc = crc32c::crc32c(&bytes[21..]);
    bytes[17..21].copy_from_slice(&crc.to_be_bytes());
    let info = crate::protocol::record_batch::peek_batch(&bytes, true)
        .unwrap()
        .unwrap();
    let mut header = [0u8; RECORD_BATCH_HEADER_BYTES];
    header.copy_from_slice(&bytes[..RECORD_BATCH_HEADER_BYTES]);
    AppendBatch {
        header,
        body: bytes::Bytes::copy_from_slice(&bytes[RECORD_BATCH_HEADER_BYTES..]),
        pinned_bytes: bytes.len(),
        info,
    }
}

#[test]
fn offsets_for_times_answer_the_record_in_plain_and_compressed_batches() {
    let dir = TempDir::new("offsets-for-times");
    run(async move {
        let partitions = partitions(&dir);
        let partition = open(&partitions, no_timed_sync()).await;
        append(&partition, plain_batch(5, 10, 1000)).await; // 0..=4 at 1000..=1004
        let (_, last, _) = append(&partition, zstd_batch(5, 2000)).await; // 5..=9 at 2000..=2004
        let log = partition.log();
        log.wait_durable(last, Durability::Synced).await.unwrap();
        // A batch at 3000 appended but not synced: past the read bound.
        append(&partition, plain_batch(1, 10, 3000)).await;
        let queries = [1002, 1500, 2000, 2003, 2004, 2005, 3000, -3, -1, -2];
        let part = ListOffsetsPart {
            partitions: queries
                .iter()
                .map(|&timestamp| OffsetQuery {
                    topic: Arc::from(TOPIC),
                    partition: 0,
                    timestamp,
                    current_leader_epoch: -1,
                    reader: OffsetsReader::Consumer,
                })
                .collect(),
        };
        let answers = partitions.resolve_offsets(part).await;
        let expected = [
            (2, 1002),
            (5, 2000),
            (5, 2000),
            (8, 2003),
            (9, 2004),
            (-1, -1),
            (-1, -1),
            (-1, -1), // the max timestamp (3000) is past the read bound
            (10, -1),
            (0, -1),
        ];
        let answers: Vec<_> = answers
            .into_iter()
            .map(Result::unwrap)
            .map(|found| (found.offset, found.timestamp))
            .collect();
        assert_eq!(answers, expected);
        partitions.storage().shutdown().await.unwrap();
    });
}

/// A follower's cut reloads the producer state from the log that remains
/// (Kafka's `truncateAndReload`): a producer whose last 5 batches were all
/// cut is still known by its earlier ones, so a retry of one of them is
/// answered with its offsets and a gap is refused; a snapshot taken past
/// the cut is removed (a restart would load a state the log no longer has).
#[test]
fn a_cut_reloads_the_producer_state_from_the_log_that_remains() {
    let dir = TempDir::new("cut-reload");
    run(async move {
        let partitions = partitions(&dir);
        let partition = open(&partitions, LogConfig::default()).await;
        let p = &partition;
        for offset in 0..10 {
            let batch = producer_batch(7, 0, offset as i32, 1);
            assert_eq!(append(p, batch).await, (offset, offset, false));
        }
        p.snapshot_producers(10);
        p.truncate_as_follower(5).await.unwrap();
        assert_eq!(p.log().log_end_offset(), 5);
        assert_eq!(p.log().snapshot_offsets().await.unwrap(), Vec::<i64>::new());
        assert_eq!(append(p, producer_batch(7, 0, 4, 1)).await, (4, 4, true));
        assert_eq!(
            refused(p, producer_batch(7, 0, 7, 1)).await,
            error_code::OUT_OF_ORDER_SEQUENCE_NUMBER
        );
        assert_eq!(append(p, producer_batch(7, 0, 5, 1)).await, (5, 5, false));
    });
}
