//! Storage behaviour under injected disk faults (`io::FaultPlan`): one test
//! per fault, each asserting what the producer is told, what the log's state
//! and counters show, and what survives a restart.

use super::io::{install_fault_plan, Fault, FaultPlan, FaultRule};
use super::tests::{new_storage, open, plain_batch, read_all, run, small_config, TempDir};
use super::*;
use crate::protocol::error_code::KAFKA_STORAGE_ERROR;
use std::rc::Rc;
use std::time::Duration;

/// Longest the disk-full test waits for the flusher's retry (a loaded CI
/// machine can delay the 500 ms timer).
const DISK_FULL_RECOVERY_WAIT_MAX: Duration = Duration::from_secs(10);

/// Only segment data files: index files and other files are left alone.
const SEGMENT_FILES: &str = ".log";

fn rule(fault: Fault) -> FaultRule {
    FaultRule {
        file_contains: SEGMENT_FILES.to_string(),
        fault,
    }
}

/// Installs `plan` for the files this test thread opens from now on.
pub(super) fn with_plan(plan: FaultPlan) -> Rc<FaultPlan> {
    let plan = Rc::new(plan);
    install_fault_plan(Some(plan.clone()));
    plan
}

/// Appends one batch and waits for `durability`; the offsets or the wire
/// error code.
pub(super) async fn produce(
    log: &PartitionLog,
    value_bytes: usize,
    durability: Durability,
) -> Result<AppendResult, i16> {
    let result = log
        .append(vec![plain_batch(1, value_bytes, 1)], 0)
        .await
        .map_err(|e| e.wire_error_code())?;
    log.wait_durable(result.last_offset, durability)
        .await
        .map_err(|e| e.wire_error_code())?;
    Ok(result)
}

/// Checks that the log failed and now refuses appends with
/// KAFKA_STORAGE_ERROR.
pub(super) async fn assert_failed_and_refusing(log: &PartitionLog) {
    assert!(log.is_failed());
    assert_eq!(
        produce(log, 100, Durability::Appended).await,
        Err(KAFKA_STORAGE_ERROR)
    );
}

/// Reopens the partition on real files after a (simulated) crash and
/// returns its log.
pub(super) async fn reopen_after_crash(dir: &TempDir) -> (Rc<ShardStorage>, Rc<PartitionLog>) {
    install_fault_plan(None);
    let storage = new_storage(dir, StorageLimits::default());
    let log = open(&storage, LogConfig::default(), false).await;
    (storage, log)
}

#[test]
fn failed_fsync_fails_the_log_and_acknowledges_nothing() {
    let dir = TempDir::new("fault-fsync");
    run(async move {
        let plan = with_plan(FaultPlan::new(vec![rule(Fault::FailSync { nth: 2 })]));
        let storage = new_storage(&dir, StorageLimits::default());
        let log = open(&storage, LogConfig::default(), true).await;
        let first = produce(&log, 100, Durability::Synced).await.unwrap();
        // acks=all waiting on the failing fdatasync gets the error.
        assert_eq!(
            produce(&log, 100, Durability::Synced).await,
            Err(KAFKA_STORAGE_ERROR)
        );
        assert!(log.is_failed());
        assert_eq!(log.stats().sync_errors, 1);
        assert_eq!(plan.injected_count(), 1);
        assert_eq!(storage.disk_fault_summary().failed_partitions, 1);
        // The failed state refuses appends and every durability wait.
        assert_eq!(
            produce(&log, 100, Durability::Appended).await,
            Err(KAFKA_STORAGE_ERROR)
        );
        assert!(log
            .wait_durable(first.last_offset, Durability::Synced)
            .await
            .is_err());
        assert!(storage.shutdown().await.is_err());
        drop((log, storage));
        // What was acknowledged is there after a restart.
        let (storage, log) = reopen_after_crash(&dir).await;
        assert!(log.log_end_offset() > first.last_offset);
        assert_eq!(read_all(&log, 0).await[0].base_offset, 0);
        storage.shutdown().await.unwrap();
    });
}

#[test]
fn a_new_partition_directory_survives_a_power_loss() {
    let dir = TempDir::new("fault-new-dir");
    run(async move {
        // A rule that never fires: the plan only tracks what a crash loses.
        let plan = with_plan(FaultPlan::new(vec![rule(Fault::LyingSync {
            from_nth: u64::MAX,
        })]));
        let storage = new_storage(&dir, StorageLimits::default());
        let log = open(&storage, LogConfig::default(), true).await;
        let acknowledged = produce(&log, 100, Durability::Synced).await.unwrap();
        plan.crash().unwrap();
        drop((log, storage));
        let (storage, log) = reopen_after_crash(&dir).await;
        assert_eq!(log.log_end_offset(), acknowledged.last_offset + 1);
        storage.shutdown().await.unwrap();
    });
}

#[test]
fn a_partition_with_an_acknowledged_append_keeps_its_topic_id_through_a_power_loss() {
    let dir = TempDir::new("fault-topic-id");
    let topic = super::tests::TOPIC;
    run(async move {
        // A rule that never fires: the plan only tracks what a crash loses
        // (unsynced bytes, directories and renamed files).
        let plan = with_plan(FaultPlan::new(vec![rule(Fault::LyingSync {
            from_nth: u64::MAX,
        })]));
        let storage = new_storage(&dir, StorageLimits::default());
        let ids = [uuid::Uuid::new_v4(), uuid::Uuid::new_v4()];
        // Partition 0 acknowledged with acks=all (synced), 1 with acks=1
        // (written: a crash may keep it too).
        let mut acknowledged = Vec::new();
        for (partition, durability) in [(0, Durability::Synced), (1, Durability::Written)] {
            let log = storage
                .open_partition(
                    topic,
                    partition,
                    Some(ids[partition as usize]),
                    LogConfig::default(),
                    true,
                )
                .await
                .unwrap();
            acknowledged.push(produce(&log, 100, durability).await.unwrap());
        }
        plan.crash().unwrap();
        drop(storage);
        install_fault_plan(None);
        for partition in [0, 1] {
            let partition_dir = dir.0.join(format!("{topic}-{partition}"));
            assert_eq!(
                partition_metadata::read_topic_id(&partition_dir)
                    .await
                    .unwrap(),
                Some(ids[partition]),
                "{}: an acknowledged append, and no durable topic id",
                partition_dir.display()
            );
        }
        let storage = new_storage(&dir, StorageLimits::default());
        let log = storage
            .open_partition(topic, 0, Some(ids[0]), LogConfig::default(), false)
            .await
            .unwrap();
        assert_eq!(log.log_end_offset(), acknowledged[0].last_offset + 1);
        storage.shutdown().await.unwrap();
    });
}

#[test]
fn partition_directories_created_in_one_batch_survive_a_power_loss() {
    let dir = TempDir::new("fault-new-dirs-batch");
    let topic = super::tests::TOPIC;
    run(async move {
        let plan = with_plan(FaultPlan::new(vec![rule(Fault::LyingSync {
            from_nth: u64::MAX,
        })]));
        let storage = new_storage(&dir, StorageLimits::default());
        let partitions: Vec<(&str, i32)> = (0..4).map(|p| (topic, p)).collect();
        storage.create_partition_dirs(&partitions).await.unwrap();
        // Opening finds each directory in place (nothing left unsynced).
        for &(topic, partition) in &partitions {
            storage
                .open_partition(topic, partition, None, LogConfig::default(), true)
                .await
                .unwrap();
        }
        plan.crash().unwrap();
        drop(storage);
        for &(topic, partition) in &partitions {
            let created = dir.0.join(format!("{topic}-{partition}"));
            assert!(created.is_dir(), "{} lost", created.display());
        }
    });
}

#[test]
fn failed_write_fails_the_log() {
    let dir = TempDir::new("fault-write");
    run(async move {
        with_plan(FaultPlan::new(vec![rule(Fault::FailWrite { nth: 2 })]));
        let storage = new_storage(&dir, StorageLimits::default());
        let log = open(&storage, LogConfig::default(), true).await;
        produce(&log, 100, Durability::Written).await.unwrap();
        assert_eq!(
            produce(&log, 100, Durability::Written).await,
            Err(KAFKA_STORAGE_ERROR)
        );
        assert_failed_and_refusing(&log).await;
        assert!(!log.is_disk_full());
        assert_eq!(log.stats().write_errors, 1);
        assert_eq!(storage.disk_fault_summary().write_errors, 1);
        install_fault_plan(None);
    });
}

#[test]
fn short_write_fails_the_log() {
    let dir = TempDir::new("fault-short");
    run(async move {
        with_plan(FaultPlan::new(vec![rule(Fault::ShortWrite {
            nth: 2,
            bytes: 512,
        })]));
        let storage = new_storage(&dir, StorageLimits::default());
        let log = open(&storage, LogConfig::default(), true).await;
        produce(&log, 100, Durability::Synced).await.unwrap();
        assert_eq!(
            produce(&log, 3000, Durability::Synced).await,
            Err(KAFKA_STORAGE_ERROR)
        );
        assert!(log.is_failed());
        assert_eq!(log.stats().write_errors, 1);
        assert_eq!(log.stats().fdatasyncs, 1, "no sync after a short write");
        install_fault_plan(None);
    });
}

/// Small preallocation steps so a test reaches them with little data.
fn small_step_limits() -> StorageLimits {
    StorageLimits {
        write_chunk_bytes: 4096,
        preallocate_step_bytes_min: 16 << 10,
        preallocate_step_bytes_max: 16 << 10,
        ..StorageLimits::default()
    }
}

/// Waits (bounded) until `done` holds, polling.
async fn wait_until(what: &str, done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + DISK_FULL_RECOVERY_WAIT_MAX;
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "waited too long for {what}"
        );
        glommio::timer::sleep(Duration::from_millis(DISK_FULL_RETRY_MS / 10)).await;
    }
}

/// Base offsets of every readable batch.
async fn offsets(log: &PartitionLog) -> Vec<i64> {
    read_all(log, 0)
        .await
        .iter()
        .map(|batch| batch.base_offset)
        .collect()
}

#[test]
fn no_space_refuses_appends_rolls_them_back_and_recovers() {
    let dir = TempDir::new("fault-enospc");
    run(async move {
        // The first 16 KiB step fits; the next one is refused.
        let plan = with_plan(FaultPlan::new(Vec::new()).with_space_bytes(32 << 10));
        let storage = new_storage(&dir, small_step_limits());
        let log = open(&storage, LogConfig::default(), true).await;
        let mut acknowledged = Vec::new();
        let refused = loop {
            match produce(&log, 1000, Durability::Synced).await {
                Ok(result) => acknowledged.push(result.base_offset),
                Err(code) => break code,
            }
            assert!(acknowledged.len() < 100, "ENOSPC never came");
        };
        assert_eq!(refused, KAFKA_STORAGE_ERROR);
        assert!(acknowledged.len() >= 10, "{}", acknowledged.len());
        assert!(log.is_disk_full());
        assert!(!log.is_failed());
        assert!(log.stats().no_space_errors >= 1);
        assert_eq!(storage.disk_fault_summary().disk_full_partitions, 1);
        // New appends are refused while the disk is full.
        assert_eq!(
            produce(&log, 1000, Durability::Appended).await,
            Err(KAFKA_STORAGE_ERROR)
        );
        // The refused batch was never readable and is rolled back: the log
        // ends at the acknowledged batches.
        let acknowledged_end = acknowledged.len() as i64;
        assert_eq!(log.readable_end_offset(), acknowledged_end);
        wait_until("the rollback", || log.log_end_offset() == acknowledged_end).await;
        assert_eq!(offsets(&log).await, acknowledged);
        // Space is freed: the probe ends the disk-full state, and the next
        // batch gets the refused one's offset (dense, nothing kept).
        plan.set_space_left(None);
        wait_until("the space probe", || !log.is_disk_full()).await;
        let after = produce(&log, 1000, Durability::Synced).await.unwrap();
        assert_eq!(after.base_offset, acknowledged_end);
        assert_eq!(
            offsets(&log).await,
            (0..=acknowledged_end).collect::<Vec<_>>()
        );
        storage.shutdown().await.unwrap();
        drop((log, storage));
        // Nothing refused comes back after a restart either.
        let (storage, log) = reopen_after_crash(&dir).await;
        assert_eq!(
            offsets(&log).await,
            (0..=acknowledged_end).collect::<Vec<_>>()
        );
        storage.shutdown().await.unwrap();
    });
}

#[test]
fn no_space_in_the_middle_of_a_round_leaves_no_refused_block_on_disk() {
    let dir = TempDir::new("fault-enospc-partial");
    run(async move {
        // Write chunks of one block; the third write (the second block of
        // the second round) is refused after the first block landed.
        with_plan(FaultPlan::new(vec![rule(Fault::NoSpaceWrite { nth: 3 })]));
        let limits = StorageLimits {
            write_chunk_bytes: 4096,
            ..StorageLimits::default()
        };
        let storage = new_storage(&dir, limits);
        let log = open(&storage, LogConfig::default(), true).await;
        let first = produce(&log, 100, Durability::Synced).await.unwrap();
        // One round: a whole batch in the landed block, one spanning both.
        let two = vec![plain_batch(1, 1000, 1), plain_batch(1, 6000, 1)];
        let refused = log.append(two, 0).await.unwrap();
        let waited = log
            .wait_durable(refused.last_offset, Durability::Synced)
            .await;
        assert_eq!(waited.unwrap_err().wire_error_code(), KAFKA_STORAGE_ERROR);
        let acknowledged_end = first.last_offset + 1;
        wait_until("the rollback", || log.log_end_offset() == acknowledged_end).await;
        // A crash now (no shutdown): recovery must not find the whole
        // refused batch of the landed block.
        drop((log, storage));
        let (storage, log) = reopen_after_crash(&dir).await;
        assert_eq!(log.log_end_offset(), acknowledged_end);
        storage.shutdown().await.unwrap();
    });
}

#[test]
fn no_space_during_a_roll_recovers() {
    let dir = TempDir::new("fault-enospc-roll");
    run(async move {
        let plan = with_plan(FaultPlan::new(Vec::new()));
        let storage = new_storage(&dir, small_step_limits());
        let log = open(&storage, small_config(), true).await;
        let mut next = 0;
        // Fill the first 16 KiB segment with room to spare, then starve.
        while log.size_bytes() < 12 << 10 {
            next = produce(&log, 1000, Durability::Synced)
                .await
                .unwrap()
                .last_offset
                + 1;
        }
        plan.set_space_left(Some(0));
        let mut attempts = 0;
        let refused = loop {
            match produce(&log, 1000, Durability::Synced).await {
                Ok(result) => next = result.last_offset + 1,
                Err(code) => break code,
            }
            attempts += 1;
            assert!(attempts < 100, "ENOSPC never came");
        };
        assert_eq!(refused, KAFKA_STORAGE_ERROR);
        assert!(!log.is_failed());
        assert!(log.stats().no_space_errors >= 1);
        plan.set_space_left(None);
        wait_until("the space probe", || !log.is_disk_full()).await;
        let after = produce(&log, 1000, Durability::Synced).await.unwrap();
        assert_eq!(after.base_offset, next);
        let batches = read_all(&log, 0).await;
        assert_eq!(
            batches.last().map(|b| b.base_offset),
            Some(after.base_offset)
        );
        storage.shutdown().await.unwrap();
        install_fault_plan(None);
    });
}

#[test]
fn lying_fsync_then_crash_loses_only_what_the_lie_covered() {
    let dir = TempDir::new("fault-lying");
    run(async move {
        let plan = with_plan(FaultPlan::new(vec![rule(Fault::LyingSync { from_nth: 3 })]));
        let storage = new_storage(&dir, StorageLimits::default());
        let log = open(&storage, LogConfig::default(), true).await;
        let mut synced_end = 0;
        for _ in 0..2 {
            synced_end = produce(&log, 700, Durability::Synced)
                .await
                .unwrap()
                .last_offset
                + 1;
        }
        // These "succeed": the device lies.
        for _ in 0..3 {
            produce(&log, 700, Durability::Synced).await.unwrap();
        }
        assert_eq!(plan.injected_count(), 3);
        plan.crash().unwrap();
        assert!(
            storage.shutdown().await.is_err(),
            "the crashed disk refuses"
        );
        drop((log, storage));
        let (storage, log) = reopen_after_crash(&dir).await;
        // Honestly synced batches survive; the lie's are gone, cleanly.
        assert_eq!(log.log_end_offset(), synced_end);
        let offsets: Vec<i64> = read_all(&log, 0)
            .await
            .iter()
            .map(|b| b.base_offset)
            .collect();
        assert_eq!(offsets, (0..synced_end).collect::<Vec<_>>());
        let next = produce(&log, 700, Durability::Synced).await.unwrap();
        assert_eq!(next.base_offset, synced_end);
        storage.shutdown().await.unwrap();
    });
}

/// Appends three batches (two acknowledged with acks=all), tears the third
/// round's write after `tear_at` bytes of its buffer and crashes; returns
/// the log end offset after recovery and the acknowledged end.
fn torn_write_case(name: &str, tear_at: impl Fn(&[usize]) -> usize + 'static) -> (i64, i64) {
    let dir = TempDir::new(name);
    let outcome = Rc::new(std::cell::Cell::new((0, 0)));
    let seen = outcome.clone();
    run(async move {
        let sizes: Vec<usize> = [300, 900, 1500]
            .iter()
            .map(|value| plain_batch(1, *value, 1).len())
            .collect();
        let plan = with_plan(FaultPlan::new(vec![rule(Fault::TornWriteThenCrash {
            nth: 3,
            bytes: tear_at(&sizes),
        })]));
        let storage = new_storage(&dir, StorageLimits::default());
        let log = open(&storage, LogConfig::default(), true).await;
        let acknowledged_end = produce(&log, 300, Durability::Synced)
            .await
            .unwrap()
            .last_offset;
        let acknowledged_end = produce(&log, 900, Durability::Synced)
            .await
            .map_or(acknowledged_end, |r| r.last_offset)
            + 1;
        // The torn write is not acknowledged.
        assert_eq!(
            produce(&log, 1500, Durability::Synced).await,
            Err(KAFKA_STORAGE_ERROR)
        );
        assert!(plan.is_crashed());
        drop((log, storage));
        let (storage, log) = reopen_after_crash(&dir).await;
        let offsets: Vec<i64> = read_all(&log, 0)
            .await
            .iter()
            .map(|b| b.base_offset)
            .collect();
        assert_eq!(offsets, (0..log.log_end_offset()).collect::<Vec<_>>());
        seen.set((log.log_end_offset(), acknowledged_end));
        let next = produce(&log, 10, Durability::Synced).await.unwrap();
        assert_eq!(next.base_offset, log.log_end_offset() - 1);
        storage.shutdown().await.unwrap();
    });
    outcome.get()
}

/// Where to tear, given the three batches' sizes.
type TearAt = fn(&[usize]) -> usize;

#[test]
fn torn_write_then_crash_is_cut_by_recovery_at_any_byte() {
    // The third round rewrites the block holding batches 0 and 1 and adds
    // batch 2: tears inside old bytes, at batch boundaries and inside the
    // new batch all recover to exactly the acknowledged batches.
    let cases: [(&str, TearAt); 5] = [
        ("torn-1", |_| 1),
        ("torn-old", |s| s[0] + 17),
        ("torn-boundary", |s| s[0] + s[1]),
        ("torn-new", |s| s[0] + s[1] + s[2] / 2),
        // Not `- 1`: a batch's last byte is its record's zero header count,
        // which the zeroed file already holds, so that tear changes nothing.
        ("torn-last-value-byte", |s| s[0] + s[1] + s[2] - 2),
    ];
    for (name, tear_at) in cases {
        let (end, acknowledged_end) = torn_write_case(name, tear_at);
        assert_eq!(end, acknowledged_end, "{name}");
    }
}

/// A slow fdatasync under one partition delays no other partition's
/// acks=all: the flusher runs one round per log instead of waiting for
/// every log's round.
#[test]
fn a_slow_fsync_of_one_partition_delays_no_other() {
    let dir = TempDir::new("fault-slow-sync");
    run(async move {
        let slow_ms = 10_000;
        with_plan(FaultPlan::new(vec![FaultRule {
            file_contains: "slow-0/".to_string(),
            fault: Fault::SlowSync {
                from_nth: 1,
                ms: slow_ms,
            },
        }]));
        let storage = new_storage(&dir, StorageLimits::default());
        let open_topic = |topic: &'static str| {
            let storage = storage.clone();
            async move {
                storage
                    .open_partition(topic, 0, None, LogConfig::default(), true)
                    .await
                    .unwrap()
            }
        };
        let slow = open_topic("slow").await;
        let healthy = open_topic("healthy").await;
        let stuck = glommio::spawn_local(async move {
            produce(&slow, 100, Durability::Synced).await.unwrap();
        })
        .detach();
        glommio::timer::sleep(Duration::from_millis(100)).await;
        let started = std::time::Instant::now();
        for _ in 0..3 {
            produce(&healthy, 100, Durability::Synced).await.unwrap();
        }
        assert!(
            started.elapsed() < Duration::from_millis(slow_ms / 2),
            "acks=all of another partition waited {:?}",
            started.elapsed()
        );
        drop(stuck);
    });
}

/// Appends wait while the shard's unwritten bytes are over
/// `unwritten_bytes_per_shard_max`, whichever partitions hold them, and go
/// on once the flusher wrote them.
#[test]
fn unwritten_bytes_are_bounded_per_shard() {
    let dir = TempDir::new("fault-unwritten");
    run(async move {
        with_plan(FaultPlan::new(vec![rule(Fault::SlowWrite {
            from_nth: 1,
            ms: 300,
        })]));
        let limits = StorageLimits {
            unwritten_bytes_per_shard_max: 64 << 10,
            ..StorageLimits::default()
        };
        let storage = new_storage(&dir, limits);
        let mut logs = Vec::new();
        for topic in ["a", "b", "c", "d"] {
            let log = storage
                .open_partition(topic, 0, None, LogConfig::default(), true)
                .await
                .unwrap();
            logs.push(log);
        }
        let mut peak = 0;
        for round in 0..8 {
            let log = &logs[round % logs.len()];
            log.append(vec![plain_batch(1, 30 << 10, 1)], 0)
                .await
                .unwrap();
            peak = peak.max(storage.unwritten_bytes());
        }
        // One append may take the sum past the bound; never two.
        assert!(peak <= (64 + 31) << 10, "{peak} bytes unwritten");
        for log in &logs {
            let end = log.log_end_offset() - 1;
            log.wait_durable(end, Durability::Written).await.unwrap();
        }
        assert_eq!(storage.unwritten_bytes(), 0);
    });
}
