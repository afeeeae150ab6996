//! Deleting a partition whose log still holds unwritten batches (a leader
//! moved away under acks=all load): the shard must keep running.

use super::tests::{new_storage, open, plain_batch, run, TempDir, TOPIC};
use super::*;
use std::sync::mpsc;
use std::time::Duration;

/// Longest the test waits for the shard to finish; a flusher spinning on the
/// closed log never yields, so the executor thread never reports back.
const SHARD_FINISH_WAIT_MAX: Duration = Duration::from_secs(20);

/// Appends whose batches stay unwritten when the delete closes the log.
const UNWRITTEN_APPENDS: usize = 8;

/// Timer the shard must still see fire after the delete.
const TIMER_AFTER_DELETE_MS: u64 = 50;

#[test]
fn deleting_a_log_with_unwritten_batches_leaves_the_shard_running() {
    let dir = TempDir::new("delete-unwritten");
    let (done_tx, done_rx) = mpsc::channel();
    // The executor runs on its own thread so a spinning shard fails the
    // test by timeout instead of hanging the test binary.
    std::thread::spawn(move || {
        run(async move {
            let storage = new_storage(&dir, StorageLimits::default());
            let log = open(&storage, LogConfig::default(), true).await;
            // No await yields between the appends and the delete, so the
            // flusher has not written them when the log closes; `log` stays
            // alive, as a Partition and requests in flight keep it.
            for _ in 0..UNWRITTEN_APPENDS {
                log.append(vec![plain_batch(1, 100, 1)], 0).await.unwrap();
            }
            storage.delete_partition(TOPIC, 0).await.unwrap();
            glommio::timer::sleep(Duration::from_millis(TIMER_AFTER_DELETE_MS)).await;
            assert!(log.append(vec![plain_batch(1, 100, 1)], 0).await.is_err());
            drop(log);
            let _ = done_tx.send(());
        });
    });
    assert!(
        done_rx.recv_timeout(SHARD_FINISH_WAIT_MAX).is_ok(),
        "the shard stopped making progress after deleting a log with unwritten batches"
    );
}
