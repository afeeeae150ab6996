//! Scenario tests of a partition's replica side on a real glommio executor,
//! in a temporary directory: what a restart keeps (the leader epochs, the
//! high watermark checkpoint).

use super::replica::{PartitionState, ReplicaConfig};
use super::tests::{partitions_with, NEVER_EXPIRE};
use super::Partition;
use crate::storage::tests::{plain_batch, run, small_config, TempDir, TOPIC};
use crate::storage::Durability;
use std::rc::Rc;

/// This broker's id in these tests.
const SELF_ID: i32 = 1;

fn led_by_self(leader_epoch: i32) -> PartitionState {
    PartitionState {
        leader: SELF_ID,
        leader_epoch,
        partition_epoch: leader_epoch,
        replicas: vec![SELF_ID],
        isr: vec![SELF_ID],
    }
}

/// Appends `records` at the partition's leader epoch, fsynced.
async fn append_synced_records(partition: &Rc<Partition>, records: i32) {
    let batch = plain_batch(records, 10, 1_700_000_000_000);
    let epoch = partition.leader_epoch();
    let (_, wait) = partition
        .append(vec![batch], epoch, Durability::Synced)
        .await
        .unwrap();
    wait.wait().await.unwrap();
}

#[test]
fn a_reopened_replica_keeps_its_cluster_epochs() {
    let dir = TempDir::new("replica-epochs-kept");
    run(async move {
        let partitions = partitions_with(&dir, NEVER_EXPIRE);
        let partition = partitions
            .open(TOPIC, 0, small_config(), true)
            .await
            .unwrap();
        append_synced_records(&partition, 10).await;
        partition
            .become_leader(SELF_ID, ReplicaConfig::default(), led_by_self(3))
            .await;
        append_synced_records(&partition, 5).await;
        let before = partition.epochs().cache();
        assert_eq!(before.latest_epoch(), Some(3));
        partitions.shutdown().await.unwrap();
        drop((partition, partitions));

        let partitions = partitions_with(&dir, NEVER_EXPIRE);
        let partition = partitions
            .open(TOPIC, 0, small_config(), true)
            .await
            .unwrap();
        // Before the fix the open replaced every entry with (0, 15): the
        // follower's first fetch then named epoch 0 and was cut back to where
        // the leader's epoch 0 ended.
        assert_eq!(partition.epochs().cache().entries(), before.entries());
        partitions.shutdown().await.unwrap();
    });
}

#[test]
fn a_reopened_leader_starts_from_the_checkpointed_high_watermark() {
    let dir = TempDir::new("replica-hw-checkpoint");
    run(async move {
        let partitions = partitions_with(&dir, NEVER_EXPIRE);
        let partition = partitions
            .open(TOPIC, 0, small_config(), true)
            .await
            .unwrap();
        partition
            .become_leader(SELF_ID, ReplicaConfig::default(), led_by_self(1))
            .await;
        append_synced_records(&partition, 10).await;
        // The only replica: the high watermark is its fsynced end.
        assert_eq!(partition.replicated_bound(), Some(10));
        partitions.shutdown().await.unwrap();
        let file = partitions
            .storage()
            .data_dir()
            .join("replication-offset-checkpoint");
        drop((partition, partitions));
        let text = std::fs::read_to_string(file).unwrap();
        assert_eq!(text, format!("0\n1\n{TOPIC} 0 10\n"));

        let partitions = partitions_with(&dir, NEVER_EXPIRE);
        let partition = partitions
            .open(TOPIC, 0, small_config(), true)
            .await
            .unwrap();
        // Two more replicas that have not fetched yet, two of three needed:
        // the watermark cannot move, so it is what the checkpoint said (0
        // before the checkpoint existed).
        let three = PartitionState {
            replicas: vec![SELF_ID, 2, 3],
            isr: vec![SELF_ID, 2, 3],
            ..led_by_self(2)
        };
        let config = ReplicaConfig {
            min_insync_replicas: 2,
            ..ReplicaConfig::default()
        };
        partition.become_leader(SELF_ID, config, three).await;
        assert_eq!(partition.replicated_bound(), Some(10));
        partitions.shutdown().await.unwrap();
    });
}
