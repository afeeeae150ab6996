//! A partition directory's `partition.metadata` checked at open: kept for
//! its own topic id, a stray (deleted, the partition made fresh) for another
//! one, written for a directory of an older build that has none.

use super::partition_metadata::{read_topic_id, PARTITION_METADATA_FILE_NAME};
use super::tests::{
    append_until, new_storage, partition_dir, plain_batch, run, small_config, TempDir, TOPIC,
};
use super::*;
use uuid::Uuid;

const RECORDS_PER_BATCH: i32 = 3;
const BATCHES: i64 = 4;

async fn open_with(storage: &ShardStorage, topic_id: Uuid) -> std::rc::Rc<PartitionLog> {
    storage
        .open_partition(TOPIC, 0, Some(topic_id), small_config(), false)
        .await
        .unwrap()
}

/// Opens the partition on a new storage (a restart) with `topic_id`; returns
/// its log end offset.
async fn reopened_log_end(dir: &TempDir, topic_id: Uuid) -> i64 {
    let storage = new_storage(dir, StorageLimits::default());
    let log = open_with(&storage, topic_id).await;
    let end = log.log_end_offset();
    storage.shutdown().await.unwrap();
    end
}

async fn write_log(dir: &TempDir, topic_id: Option<Uuid>) {
    let storage = new_storage(dir, StorageLimits::default());
    let log = storage
        .open_partition(TOPIC, 0, topic_id, small_config(), true)
        .await
        .unwrap();
    for i in 0..BATCHES {
        append_until(
            &log,
            plain_batch(RECORDS_PER_BATCH, 100, i),
            Durability::Written,
        )
        .await;
    }
    storage.shutdown().await.unwrap();
}

#[test]
fn a_directory_of_another_topic_id_is_replaced_by_an_empty_partition() {
    let dir = TempDir::new("topic-id-stray");
    run(async move {
        let (old, new) = (Uuid::new_v4(), Uuid::new_v4());
        write_log(&dir, Some(old)).await;
        let written = BATCHES * RECORDS_PER_BATCH as i64;
        assert_eq!(
            read_topic_id(&partition_dir(&dir)).await.unwrap(),
            Some(old)
        );
        assert_eq!(reopened_log_end(&dir, old).await, written);
        assert_eq!(reopened_log_end(&dir, new).await, 0);
        assert_eq!(
            read_topic_id(&partition_dir(&dir)).await.unwrap(),
            Some(new)
        );
    });
}

#[test]
fn a_directory_without_the_file_keeps_its_log_and_gets_the_id() {
    let dir = TempDir::new("topic-id-missing");
    run(async move {
        write_log(&dir, None).await;
        let file = partition_dir(&dir).join(PARTITION_METADATA_FILE_NAME);
        assert!(!file.exists());
        let id = Uuid::new_v4();
        let written = BATCHES * RECORDS_PER_BATCH as i64;
        assert_eq!(reopened_log_end(&dir, id).await, written);
        assert_eq!(read_topic_id(&partition_dir(&dir)).await.unwrap(), Some(id));
    });
}
