//! Crash-recovery scenario tests of the storage engine: a corrupt or torn
//! tail and missing indexes after a crash.

use super::*;

/// Appends `count` batches of one record and waits until synced; then the
/// storage is dropped without shutdown (a crash, as far as files go).
async fn append_and_crash(dir: &TempDir, count: usize) {
    let storage = new_storage(dir, StorageLimits::default());
    let log = open(&storage, small_config(), true).await;
    for _ in 0..count {
        let result = log.append(vec![plain_batch(1, 200, 7)], 0).await.unwrap();
        log.wait_durable(result.last_offset, Durability::Synced)
            .await
            .unwrap();
    }
}

#[test]
fn recovery_truncates_corrupt_tail() {
    let dir = TempDir::new("recover-corrupt");
    run(async move {
        append_and_crash(&dir, 100).await;
        let active = segment_files(&dir).pop().unwrap();
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&active)
            .unwrap();
        let mut data = vec![0u8; 64 * 1024];
        let read = file.read_at(&mut data, 0).unwrap();
        let batches = batches_in(&data[..read]);
        assert!(batches.len() > 3);
        let victim = batches[batches.len() - 2];
        file.write_all_at(&[0xAB], (victim.position + victim.len - 3) as u64)
            .unwrap();
        drop(file);

        let storage = new_storage(&dir, StorageLimits::default());
        let log = open(&storage, small_config(), false).await;
        assert_eq!(log.log_end_offset(), victim.base_offset);
        assert_eq!(read_all(&log, log.log_start_offset()).await.len() as i64, {
            victim.base_offset - log.log_start_offset()
        });
        // New appends continue at the truncation point and survive a reopen.
        let result = log.append(vec![plain_batch(2, 10, 9)], 0).await.unwrap();
        assert_eq!(result.base_offset, victim.base_offset);
        storage.shutdown().await.unwrap();
        let storage = new_storage(&dir, StorageLimits::default());
        let log = open(&storage, small_config(), false).await;
        assert_eq!(log.log_end_offset(), victim.base_offset + 2);
        storage.shutdown().await.unwrap();
    });
}

#[test]
fn recovery_handles_torn_tail_and_missing_index() {
    let dir = TempDir::new("recover-torn");
    run(async move {
        append_and_crash(&dir, 200).await;
        let files = segment_files(&dir);
        assert!(files.len() > 2);
        // Tear the last batch of the active segment: zero its second half.
        let active = files.last().unwrap();
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(active)
            .unwrap();
        let mut data = vec![0u8; 64 * 1024];
        let read = file.read_at(&mut data, 0).unwrap();
        let batches = batches_in(&data[..read]);
        let last = *batches.last().unwrap();
        let half = last.len / 2;
        file.write_all_at(&vec![0u8; last.len - half], (last.position + half) as u64)
            .unwrap();
        drop(file);
        // Lose one sealed segment's offset index; damage another's time index.
        std::fs::remove_file(files[0].with_extension("index")).unwrap();
        std::fs::write(files[1].with_extension("timeindex"), [1u8; 13]).unwrap();

        let storage = new_storage(&dir, StorageLimits::default());
        let log = open(&storage, small_config(), false).await;
        assert_eq!(log.log_end_offset(), last.base_offset);
        assert!(files[0].with_extension("index").exists());
        assert_eq!(
            std::fs::metadata(files[1].with_extension("timeindex"))
                .unwrap()
                .len()
                % 12,
            0
        );
        assert_eq!(read_all(&log, 0).await.len() as i64, last.base_offset);
        assert_eq!(batch_at_time(&log, 7).await.unwrap(), Some((0, 7)));
        assert_eq!(batch_at_time(&log, 8).await.unwrap(), None);
        storage.shutdown().await.unwrap();
    });
}
