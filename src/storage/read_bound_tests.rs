//! Reads stop at a read bound below the log end offset (the synced end
//! offset on one node): no piece, in memory or a file region, carries a
//! batch at or past it; and the timed sync that makes acks=0/1 data
//! readable (`log.flush.visibility.ms`).

use super::tests::{
    append_until, batches_in, new_storage, open, piece_bytes, plain_batch, run, TempDir,
};
use super::*;
use crate::protocol::piece::Piece;
use std::time::Duration;

/// A config whose timed syncs never come during a test.
fn no_timed_sync() -> LogConfig {
    LogConfig {
        flush_visibility_ms: 3_600_000,
        ..LogConfig::default()
    }
}

fn bounded(max_bytes: usize, end_offset: i64) -> ReadLimits {
    ReadLimits {
        max_bytes,
        min_one_batch: true,
        end_offset,
    }
}

fn last_offset_read(pieces: &[Piece]) -> Option<i64> {
    batches_in(&piece_bytes(pieces))
        .last()
        .map(|batch| batch.last_offset())
}

#[test]
fn reads_stop_at_the_bound_in_memory_and_in_file_regions() {
    let dir = TempDir::new("read-bound");
    run(async move {
        // Recent batches evicted early, so most reads are file regions.
        let limits = StorageLimits {
            recent_bytes_per_partition: 4096,
            ..StorageLimits::default()
        };
        let storage = new_storage(&dir, limits);
        let log = open(&storage, no_timed_sync(), true).await;
        for _ in 0..10 {
            append_until(&log, plain_batch(2, 900, 1), Durability::Synced).await;
        }
        // Ten more, written but never synced: 20..40.
        for _ in 0..10 {
            append_until(&log, plain_batch(2, 900, 1), Durability::Written).await;
        }
        assert_eq!(log.synced_end_offset(), 20);
        assert_eq!(log.log_end_offset(), 40);
        let synced = log.synced_end_offset();
        for from in [0, 7, 18, 19] {
            let read = log.read(from, bounded(1 << 20, synced)).await.unwrap();
            assert!(matches!(read.pieces[..], [Piece::File(_)]), "{from}");
            assert_eq!(last_offset_read(&read.pieces), Some(19), "from {from}");
            assert_eq!(piece_bytes(&read.pieces).len(), read.bytes);
            let whole = batches_in(&piece_bytes(&read.pieces));
            let whole_bytes: usize = whole.iter().map(|batch| batch.len).sum();
            assert_eq!(whole_bytes, read.bytes, "a region ends at a batch");
        }
        // A bound anywhere (say a high watermark) cuts regions the same way.
        let read = log.read(0, bounded(1 << 20, 30)).await.unwrap();
        assert_eq!(last_offset_read(&read.pieces), Some(29));
        // At or past the bound (up to the log end): nothing, and no error.
        for from in [20, 21, 39, 40] {
            assert_eq!(
                log.read(from, bounded(1 << 20, synced))
                    .await
                    .unwrap()
                    .bytes,
                0
            );
        }
        assert!(log.read(41, bounded(1 << 20, synced)).await.is_err());
        // Unwritten batches in memory stop at the bound too.
        let result = log.append(vec![plain_batch(2, 900, 1)], 0).await.unwrap();
        let read = log
            .read(38, bounded(1 << 20, result.base_offset))
            .await
            .unwrap();
        assert!(read.pieces.iter().all(|p| matches!(p, Piece::Mem(_))));
        assert_eq!(last_offset_read(&read.pieces), Some(39));
        // Whatever the bound, nothing past the written end: a batch that
        // ENOSPC refuses is never seen (`readable_end_offset`).
        let unbounded = || log.read(38, bounded(1 << 20, i64::MAX));
        assert_eq!(
            last_offset_read(&unbounded().await.unwrap().pieces),
            Some(39)
        );
        log.wait_durable(result.last_offset, Durability::Written)
            .await
            .unwrap();
        assert_eq!(
            last_offset_read(&unbounded().await.unwrap().pieces),
            Some(41)
        );
        storage.shutdown().await.unwrap();
    });
}

#[test]
fn synced_listener_fires_on_fdatasync_not_on_append() {
    let dir = TempDir::new("synced-listener");
    run(async move {
        let storage = new_storage(&dir, StorageLimits::default());
        let log = open(&storage, no_timed_sync(), true).await;
        let synced = log.synced_listener();
        let result = append_until(&log, plain_batch(1, 10, 1), Durability::Written).await;
        assert!(
            !fired_within(synced, 200).await,
            "woken by an append or a write"
        );
        let synced = log.synced_listener();
        log.wait_durable(result.last_offset, Durability::Synced)
            .await
            .unwrap();
        synced.await;
        assert_eq!(log.synced_end_offset(), 1);
        storage.shutdown().await.unwrap();
    });
}

#[test]
fn written_data_is_synced_within_the_visibility_interval() {
    let dir = TempDir::new("visibility-sync");
    run(async move {
        let storage = new_storage(&dir, StorageLimits::default());
        let visible_soon = LogConfig {
            flush_visibility_ms: 20,
            ..LogConfig::default()
        };
        let log = open(&storage, visible_soon, true).await;
        for _ in 0..3 {
            let listener = log.synced_listener();
            let result = log.append(vec![plain_batch(1, 10, 1)], 0).await.unwrap();
            // acks=1: only the write is awaited; the sync follows by itself.
            log.wait_durable(result.last_offset, Durability::Written)
                .await
                .unwrap();
            listener.await;
            assert_eq!(log.synced_end_offset(), result.last_offset + 1);
        }
        // With unflushed reads on, nothing syncs by time (flush.ms never).
        log.set_config(LogConfig {
            unflushed_read_enable: true,
            ..LogConfig::default()
        });
        let syncs = log.stats().fdatasyncs;
        let result = append_until(&log, plain_batch(1, 10, 1), Durability::Written).await;
        glommio::timer::sleep(Duration::from_millis(100)).await;
        assert_eq!(log.stats().fdatasyncs, syncs);
        assert_eq!(log.synced_end_offset(), result.last_offset);
        storage.shutdown().await.unwrap();
    });
}

/// Whether `listener` fires within `wait_ms`.
async fn fired_within(listener: AppendListener, wait_ms: u64) -> bool {
    futures_lite::future::or(
        async {
            listener.await;
            true
        },
        async {
            glommio::timer::sleep(Duration::from_millis(wait_ms)).await;
            false
        },
    )
    .await
}

/// Whether `listener` fires before the test gives up on a sync.
async fn fired_soon(listener: AppendListener) -> bool {
    const SYNC_WAIT_MS_MAX: u64 = 5_000;
    fired_within(listener, SYNC_WAIT_MS_MAX).await
}

#[test]
fn a_parked_reader_has_written_data_synced_at_once() {
    let dir = TempDir::new("parked-reader");
    run(async move {
        let storage = new_storage(&dir, StorageLimits::default());
        // The visibility timer is an hour away: only a parked reader syncs.
        let log = open(&storage, no_timed_sync(), true).await;
        let first = append_until(&log, plain_batch(1, 10, 1), Durability::Written).await;
        glommio::timer::sleep(Duration::from_millis(100)).await;
        assert_eq!(log.synced_end_offset(), first.base_offset, "nobody waits");
        // A consumer parks: what is already written is synced.
        let synced = log.synced_listener();
        let parked = log.park_reader();
        assert!(fired_soon(synced).await, "no sync for the parked reader");
        assert_eq!(log.synced_end_offset(), first.last_offset + 1);
        // While it stays parked, each new write is synced as it lands.
        for _ in 0..3 {
            let synced = log.synced_listener();
            let result = append_until(&log, plain_batch(1, 10, 1), Durability::Written).await;
            assert!(fired_soon(synced).await, "no sync while parked");
            assert_eq!(log.synced_end_offset(), result.last_offset + 1);
        }
        // Gone: writes wait for the timer again.
        drop(parked);
        let unseen = append_until(&log, plain_batch(1, 10, 1), Durability::Written).await;
        glommio::timer::sleep(Duration::from_millis(100)).await;
        assert_eq!(log.synced_end_offset(), unseen.base_offset);
        // With unflushed reads on, a parked reader needs no sync.
        log.set_config(LogConfig {
            unflushed_read_enable: true,
            ..no_timed_sync()
        });
        let _parked = log.park_reader();
        let syncs = log.stats().fdatasyncs;
        append_until(&log, plain_batch(1, 10, 1), Durability::Written).await;
        glommio::timer::sleep(Duration::from_millis(100)).await;
        assert_eq!(log.stats().fdatasyncs, syncs);
        storage.shutdown().await.unwrap();
    });
}
