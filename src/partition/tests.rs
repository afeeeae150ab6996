//! Scenario tests of the partition layer on a real glommio executor, in a
//! temporary directory: the producer state's decisions on appends, and its
//! rebuild from the batches storage hands over when it loads a log.

use super::produce::{Appended, ProduceError};
use super::producer_state::ProducerStateConfig;
use super::{Partition, ShardPartitions};
use crate::local::notify::LocalEvent;
use crate::protocol::error_code;
use crate::storage::tests::{
    new_storage, plain_batch, producer_batch, run, small_config, TempDir, TOPIC,
};
use crate::storage::{AppendBatch, Durability, LogConfig, StorageLimits};
use std::rc::Rc;

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
    partitions.open(TOPIC, 0, config, true).await.unwrap()
}

/// (base offset, last offset, whether it was a retry) of an accepted append.
pub(super) async fn append(partition: &Partition, batch: AppendBatch) -> (i64, i64, bool) {
    match partition.append(vec![batch], 0).await.unwrap() {
        Appended::New(result) => (result.base_offset, result.last_offset, false),
        Appended::Duplicate(result) => (result.base_offset, result.last_offset, true),
    }
}

/// The wire code of a refused append.
pub(super) async fn refused(partition: &Partition, batch: AppendBatch) -> i16 {
    let refused: ProduceError = partition.append(vec![batch], 0).await.unwrap_err();
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
