//! Zero-ahead (`zero_ahead.rs`): the preallocated blocks past the data are
//! written before the data reaches them, and no zero write ever lands over
//! data or past a cut of the file.

use super::fault_tests::with_plan;
use super::io::{install_fault_plan, Fault, FaultPlan, FaultRule};
use super::segment::align_up;
use super::tests::TempDir;
use super::tests::{file_sizes, new_storage, open, plain_batch, read_all, run, segment_files};
use super::*;
use std::path::Path;
use std::time::{Duration, Instant};

/// How long a slowed zero write waits before it happens: long enough that
/// the rounds, rolls and closes of a test come while it is in flight.
const SLOW_ZERO_WRITE_MS: u64 = 300;
/// `log.zero.ahead.bytes` of the tests that turn it on (it is off by default).
const ZERO_AHEAD_BYTES: u64 = 32 << 20;
/// Longest a test waits for a zero task to end.
const ZERO_TASK_WAIT_MAX: Duration = Duration::from_secs(10);

#[test]
fn the_preallocated_blocks_past_the_data_are_written_ahead_and_not_when_off() {
    for zero_ahead_bytes in [ZERO_AHEAD_BYTES, 0] {
        let dir = TempDir::new("zero-ahead-extents");
        run(async move {
            let limits = StorageLimits {
                zero_ahead_bytes,
                ..StorageLimits::default()
            };
            let storage = new_storage(&dir, limits);
            let log = open(&storage, LogConfig::default(), true).await;
            for _ in 0..20 {
                append_one(&log, Durability::Written).await;
            }
            wait_for_no_zero_task(&log).await;
            let data_end = align_up(log.size_bytes());
            let (allocated, zeroed) = {
                let state = log.state.borrow();
                (state.active.allocated, state.active.zeroed)
            };
            let active = segment_files(&dir).pop().unwrap();
            assert!(allocated > data_end, "preallocated past the data");
            if zero_ahead_bytes == 0 {
                assert_eq!(zeroed, data_end, "nothing zeroed when off");
                assert_eq!(log.stats().zeroed_bytes, 0);
                let unwritten = unwritten_bytes(&active, data_end, allocated);
                assert_eq!(
                    unwritten,
                    allocated - data_end,
                    "all past the data unwritten"
                );
            } else {
                assert!(zeroed > data_end, "zeroed ahead of the data");
                assert!(log.stats().zeroed_bytes >= zeroed - data_end);
                let unwritten = unwritten_bytes(&active, data_end, zeroed);
                assert_eq!(unwritten, 0, "no unwritten block in the zeroed range");
            }
            storage.shutdown().await.unwrap();
        });
    }
}

#[test]
fn writes_reaching_into_a_zero_write_in_flight_wait_for_it_and_nothing_is_lost() {
    let dir = TempDir::new("zero-ahead-overlap");
    let batches = 60;
    run(async move {
        let _plan = with_plan(slow_zero_writes());
        let storage = new_storage(&dir, zero_ahead_on());
        let log = open(&storage, LogConfig::default(), true).await;
        // Each batch is written by its own round, right after the one
        // before: the rounds run into the ranges being zeroed.
        for _ in 0..batches {
            append_one(&log, Durability::Synced).await;
        }
        wait_for_no_zero_task(&log).await;
        assert!(log.stats().zeroed_bytes > 0, "zero writes ran");
        // No clean shutdown: recovery checks every batch in the file.
        drop((log, storage));
        install_fault_plan(None);
        let storage = new_storage(&dir, StorageLimits::default());
        let log = open(&storage, LogConfig::default(), false).await;
        assert_eq!(log.log_end_offset(), batches * 10);
        assert_eq!(read_all(&log, 0).await.len(), batches as usize);
        storage.shutdown().await.unwrap();
    });
}

#[test]
fn a_close_while_a_zero_write_is_in_flight_leaves_the_file_at_its_data_end() {
    let dir = TempDir::new("zero-ahead-close");
    run(async move {
        let _plan = with_plan(slow_zero_writes());
        let storage = new_storage(&dir, zero_ahead_on());
        let log = open(&storage, LogConfig::default(), true).await;
        append_one(&log, Durability::Written).await;
        assert!(log.zero_task_in_flight(), "the round started a zero write");
        storage.shutdown().await.unwrap();
        // Had the close not waited, the zero write would land about now.
        glommio::timer::sleep(Duration::from_millis(2 * SLOW_ZERO_WRITE_MS)).await;
        let active = segment_files(&dir).pop().unwrap();
        assert_eq!(file_sizes(&active).0, log.size_bytes());
        install_fault_plan(None);
    });
}

#[test]
fn a_roll_while_a_zero_write_is_in_flight_seals_the_old_file_at_its_data_end() {
    let dir = TempDir::new("zero-ahead-roll");
    run(async move {
        let _plan = with_plan(slow_zero_writes());
        let storage = new_storage(&dir, zero_ahead_on());
        let config = LogConfig {
            segment_bytes: 256 << 10,
            ..LogConfig::default()
        };
        let log = open(&storage, config, true).await;
        let mut rolled_with_zero_in_flight = false;
        while segment_files(&dir).len() < 3 {
            let in_flight = log.zero_task_in_flight();
            let segments = segment_files(&dir).len();
            append_one(&log, Durability::Written).await;
            rolled_with_zero_in_flight |= in_flight && segment_files(&dir).len() > segments;
        }
        assert!(
            rolled_with_zero_in_flight,
            "a roll came while a zero write ran"
        );
        let end = log.log_end_offset() - 1;
        log.wait_durable(end, Durability::Synced).await.unwrap();
        glommio::timer::sleep(Duration::from_millis(2 * SLOW_ZERO_WRITE_MS)).await;
        let files = segment_files(&dir);
        for sealed in &files[..files.len() - 1] {
            let data_end = log
                .state
                .borrow()
                .sealed
                .values()
                .find(|segment| *segment.log_path == **sealed)
                .map(|segment| segment.size)
                .unwrap();
            assert_eq!(file_sizes(sealed).0, data_end, "{sealed:?}");
        }
        storage.shutdown().await.unwrap();
        install_fault_plan(None);
    });
}

/// Appends one batch (10 records of 10 KB) and waits for `durability`.
async fn append_one(log: &PartitionLog, durability: Durability) {
    let result = log
        .append(vec![plain_batch(10, 10_000, 1)], 0)
        .await
        .unwrap();
    log.wait_durable(result.last_offset, durability)
        .await
        .unwrap();
}

fn zero_ahead_on() -> StorageLimits {
    StorageLimits {
        zero_ahead_bytes: ZERO_AHEAD_BYTES,
        ..StorageLimits::default()
    }
}

fn slow_zero_writes() -> FaultPlan {
    FaultPlan::new(vec![FaultRule {
        file_contains: ".log".to_string(),
        fault: Fault::SlowZeroWrite {
            ms: SLOW_ZERO_WRITE_MS,
        },
    }])
}

async fn wait_for_no_zero_task(log: &PartitionLog) {
    let started = Instant::now();
    while log.zero_task_in_flight() {
        assert!(
            started.elapsed() < ZERO_TASK_WAIT_MAX,
            "zero task never ended"
        );
        glommio::timer::sleep(Duration::from_millis(10)).await;
    }
}

/// `FS_IOC_FIEMAP`.
const FS_IOC_FIEMAP: libc::c_ulong = 0xC020_660B;
const FIEMAP_FLAG_SYNC: u32 = 1;
const FIEMAP_EXTENT_UNWRITTEN: u32 = 0x800;
const FIEMAP_EXTENTS_MAX: usize = 256;

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct FiemapExtent {
    logical: u64,
    physical: u64,
    length: u64,
    reserved64: [u64; 2],
    flags: u32,
    reserved: [u32; 3],
}

#[repr(C)]
struct Fiemap {
    start: u64,
    length: u64,
    flags: u32,
    mapped_extents: u32,
    extent_count: u32,
    reserved: u32,
    extents: [FiemapExtent; FIEMAP_EXTENTS_MAX],
}

/// Bytes of `[from, to)` in `path` that are unwritten extents (ext4's
/// preallocated, never written blocks), from FIEMAP.
fn unwritten_bytes(path: &Path, from: u64, to: u64) -> u64 {
    use std::os::fd::AsRawFd;
    let file = std::fs::File::open(path).unwrap();
    let mut map = Fiemap {
        start: from,
        length: to - from,
        flags: FIEMAP_FLAG_SYNC,
        mapped_extents: 0,
        extent_count: FIEMAP_EXTENTS_MAX as u32,
        reserved: 0,
        extents: [FiemapExtent::default(); FIEMAP_EXTENTS_MAX],
    };
    // SAFETY: FIEMAP fills `map`, sized for `extent_count` extents.
    let rc = unsafe { libc::ioctl(file.as_raw_fd(), FS_IOC_FIEMAP, &mut map) };
    assert_eq!(rc, 0, "FIEMAP: {}", std::io::Error::last_os_error());
    assert!((map.mapped_extents as usize) < FIEMAP_EXTENTS_MAX);
    map.extents[..map.mapped_extents as usize]
        .iter()
        .filter(|extent| extent.flags & FIEMAP_EXTENT_UNWRITTEN != 0)
        .map(|extent| {
            let start = extent.logical.max(from);
            let end = (extent.logical + extent.length).min(to);
            end.saturating_sub(start)
        })
        .sum()
}
