//! Scenario tests of a partition's replica side on a real glommio executor,
//! in a temporary directory: what a restart keeps (the leader epochs, the
//! high watermark checkpoint), who answers a client's read, and what a
//! timed-out acks=all produce answers.

use super::fetch::{FetchPart, PartitionRead, ReadPass};
use super::leader_epochs::{EpochEntry, EpochMismatch};
use super::list_offsets::{ListOffsetsPart, OffsetQuery, OffsetsReader};
use super::produce::{Acks, PartitionAppend, ProducePart, Refused};
use super::replica::leader::{FollowerFetch, Registration};
use super::replica::{PartitionState, ReplicaConfig};
use super::replication::{LeaderHint, ReadRefusal};
use super::tests::{partitions_with, NEVER_EXPIRE};
use super::{Partition, ShardPartitions};
use crate::protocol::error_code;
use crate::storage::tests::{plain_batch, run, small_config, TempDir, TOPIC};
use crate::storage::Durability;
use std::rc::Rc;
use std::sync::Arc;

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

/// Opens partition 0 of TOPIC.
async fn open_partition(partitions: &ShardPartitions) -> Rc<Partition> {
    partitions
        .open(TOPIC, 0, None, small_config(), true)
        .await
        .unwrap()
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
        let partition = open_partition(&partitions).await;
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
        let partition = open_partition(&partitions).await;
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
        let partition = open_partition(&partitions).await;
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
        let partition = open_partition(&partitions).await;
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

fn three_replicas(leader_epoch: i32) -> PartitionState {
    PartitionState {
        replicas: vec![SELF_ID, 2, 3],
        isr: vec![SELF_ID, 2, 3],
        ..led_by_self(leader_epoch)
    }
}

/// ListOffsets of partition `index` of TOPIC at `timestamp`, from a client.
async fn list_offset(partitions: &ShardPartitions, index: i32, timestamp: i64) -> Result<i64, i16> {
    list_offset_as(partitions, index, timestamp, -1, OffsetsReader::Consumer).await
}

/// ListOffsets of partition `index` of TOPIC at `timestamp` and
/// `current_leader_epoch`, from `reader`.
async fn list_offset_as(
    partitions: &ShardPartitions,
    index: i32,
    timestamp: i64,
    current_leader_epoch: i32,
    reader: OffsetsReader,
) -> Result<i64, i16> {
    let query = OffsetQuery {
        topic: Arc::from(TOPIC),
        partition: index,
        timestamp,
        current_leader_epoch,
        reader,
    };
    let part = ListOffsetsPart {
        partitions: vec![query],
    };
    let mut answers = partitions.resolve_offsets(part).await;
    answers.remove(0).map(|found| found.offset)
}

/// A client's Fetch of partition `index` of TOPIC from offset 0: (error
/// code, the leader it names).
async fn client_fetch(partitions: &Rc<ShardPartitions>, index: i32) -> (i16, Option<LeaderHint>) {
    let read = PartitionRead {
        topic: Arc::from(TOPIC),
        partition: index,
        fetch_offset: 0,
        partition_max_bytes: 1 << 20,
        current_leader_epoch: -1,
        last_fetched_epoch: -1,
        replica_id: -1,
        replica_epoch: -1,
        replica_registration: Registration::Unknown,
    };
    let part = FetchPart {
        partitions: vec![read],
        max_bytes: 1 << 20,
        min_one_batch: true,
        wait: None,
    };
    let fetched = partitions.start_fetch(part, |_| {}).await.remove(0);
    (fetched.error_code, fetched.current_leader)
}

/// Only the leader answers a client's Fetch, ListOffsets and
/// OffsetForLeaderEpoch (Kafka's `getLocalLog` with `requireLeader`): a
/// cluster member's partition refuses them with no role yet (a restarted
/// broker before the cluster view names one: it served its checkpointed
/// high watermark, 0, as an empty partition) and as a follower, naming the
/// leader it knows; the request's epoch is checked first.
#[test]
fn only_the_leader_answers_a_clients_read() {
    let dir = TempDir::new("replica-client-reads");
    run(async move {
        let partitions = partitions_with(&dir, NEVER_EXPIRE);
        partitions.join_cluster();
        let partition = open_partition(&partitions).await;
        let unknown = ReadRefusal::NotLeader(LeaderHint::UNKNOWN);
        assert_eq!(partition.check_client_read(-1), Err(unknown));
        assert_eq!(
            client_fetch(&partitions, 0).await,
            (
                error_code::NOT_LEADER_OR_FOLLOWER,
                Some(LeaderHint::UNKNOWN)
            )
        );
        assert_eq!(
            partition.check_produce(false),
            Err(error_code::NOT_LEADER_OR_FOLLOWER)
        );

        partition.become_follower(SELF_ID, 2, 4).await;
        let leader_2 = LeaderHint {
            leader_id: 2,
            leader_epoch: 4,
        };
        assert_eq!(
            client_fetch(&partitions, 0).await,
            (error_code::NOT_LEADER_OR_FOLLOWER, Some(leader_2))
        );
        let latest = list_offset(&partitions, 0, -1).await;
        assert_eq!(latest, Err(error_code::NOT_LEADER_OR_FOLLOWER));
        // A debugging tool's ListOffsets (replica id -2) is answered from
        // the follower's log; its epoch is still checked.
        let debugging = OffsetsReader::Debugging;
        assert_eq!(
            list_offset_as(&partitions, 0, -1, 4, debugging).await,
            Ok(0)
        );
        assert_eq!(
            list_offset_as(&partitions, 0, -2, -1, debugging).await,
            Ok(0)
        );
        assert_eq!(
            list_offset_as(&partitions, 0, -1, 3, debugging).await,
            Err(error_code::FENCED_LEADER_EPOCH)
        );
        let not_leader = Err(error_code::NOT_LEADER_OR_FOLLOWER);
        assert_eq!(partition.epoch_end(-1, 4), not_leader);
        assert_eq!(
            partition.check_client_read(3),
            Err(ReadRefusal::Epoch(EpochMismatch::Fenced))
        );

        partition
            .become_leader(SELF_ID, ReplicaConfig::default(), three_replicas(5))
            .await;
        assert_eq!(partition.check_client_read(5), Ok(()));
        assert_eq!(client_fetch(&partitions, 0).await, (error_code::NONE, None));
        assert_eq!(list_offset(&partitions, 0, -1).await, Ok(0));
        partitions.shutdown().await.unwrap();
    });
}

/// A new leader whose high watermark has not reached the offset its epoch
/// started at answers ListOffsets latest OFFSET_NOT_AVAILABLE (KIP-207),
/// not an end below records earlier leaders committed; earliest is
/// answered; once the followers' fetches bring the watermark up, latest is.
#[test]
fn a_lagging_new_leader_answers_latest_offset_not_available() {
    let dir = TempDir::new("replica-offset-not-available");
    run(async move {
        let partitions = partitions_with(&dir, NEVER_EXPIRE);
        let partition = open_partition(&partitions).await;
        append_synced_records(&partition, 10).await;
        let config = ReplicaConfig {
            min_insync_replicas: 2,
            ..ReplicaConfig::default()
        };
        partition
            .become_leader(SELF_ID, config, three_replicas(2))
            .await;
        assert!(partition.high_watermark_lags_epoch_start());
        let latest = list_offset(&partitions, 0, -1).await;
        assert_eq!(latest, Err(error_code::OFFSET_NOT_AVAILABLE));
        assert_eq!(list_offset(&partitions, 0, -2).await, Ok(0));
        for follower in [2, 3] {
            let fetch = FollowerFetch {
                replica: follower,
                current_leader_epoch: 2,
                fetch_offset: 10,
                last_fetched_epoch: 0,
                durable_offset: 10,
                replica_epoch: -1,
                registration: Registration::Known {
                    broker_epoch: 1,
                    active: true,
                },
            };
            partition.on_replica_fetch(fetch, ReadPass::First);
        }
        assert!(!partition.high_watermark_lags_epoch_start());
        assert_eq!(list_offset(&partitions, 0, -1).await, Ok(10));
        partitions.shutdown().await.unwrap();
    });
}

/// Leader (epoch 1) of partition 0 with replicas 1, 2, 3, holding 10
/// records synced here.
async fn leader_of_ten_records(dir: &TempDir) -> (Rc<ShardPartitions>, Rc<Partition>) {
    let partitions = partitions_with(dir, NEVER_EXPIRE);
    let partition = open_partition(&partitions).await;
    partition
        .become_leader(SELF_ID, ReplicaConfig::default(), three_replicas(1))
        .await;
    append_synced_records(&partition, 10).await;
    (partitions, partition)
}

/// An acks=all Produce of one 3-record batch to partition 0, waiting at
/// most `timeout_ms` for its acks.
fn three_records_acks_all(timeout_ms: u64) -> ProducePart {
    ProducePart {
        acks: Acks::All,
        timeout_ms,
        partitions: vec![PartitionAppend {
            topic: Arc::from(TOPIC),
            partition: 0,
            batches: vec![plain_batch(3, 10, 1_700_000_000_000)],
            refused: None,
        }],
    }
}

/// An acks=all produce whose followers never fetch is answered
/// REQUEST_TIMED_OUT at its timeout with the offset its batch was appended
/// at, as Kafka's DelayedProduce answers (Apache Kafka 4.4.0 too): the batch
/// is in the log, only the wait timed out. It was -1 before.
#[test]
fn a_timed_out_acks_all_produce_names_its_appended_base_offset() {
    let dir = TempDir::new("replica-timed-out-base-offset");
    run(async move {
        let (partitions, _leader) = leader_of_ten_records(&dir).await;
        let part = three_records_acks_all(50);
        let answers = partitions.append(part).await.until_durable().await;
        let expected = Refused {
            code: error_code::REQUEST_TIMED_OUT,
            log_start_offset: 0,
            base_offset: 10,
            log_append_time_ms: -1,
        };
        assert_eq!(answers, vec![Err(expected)]);
        partitions.shutdown().await.unwrap();
    });
}

/// As Kafka's DelayedProduce, an error of the replication wait (here:
/// leadership moved, NOT_LEADER_OR_FOLLOWER) keeps the append's base offset
/// and log start offset: the batches are in the log.
#[test]
fn a_replication_wait_error_names_the_appended_base_offset() {
    let dir = TempDir::new("replica-wait-error-base-offset");
    run(async move {
        let (partitions, partition) = leader_of_ten_records(&dir).await;
        let waiting = partitions
            .append(three_records_acks_all(10_000))
            .await
            .until_durable();
        let moved = async {
            glommio::timer::sleep(std::time::Duration::from_millis(20)).await;
            partition.become_follower(SELF_ID, 2, 2).await;
        };
        let (answers, ()) = futures_lite::future::zip(waiting, moved).await;
        let expected = Refused {
            code: error_code::NOT_LEADER_OR_FOLLOWER,
            log_start_offset: 0,
            base_offset: 10,
            log_append_time_ms: -1,
        };
        assert_eq!(answers, vec![Err(expected)]);
        partitions.shutdown().await.unwrap();
    });
}

/// The leader epoch checkpoint's inode and change time: the file is written
/// by a rename, so a rewrite is a new inode (which may reuse a freed number)
/// with a new change time.
fn checkpoint_inode(partition: &Partition) -> (u64, i64, i64) {
    use std::os::unix::fs::MetadataExt;
    let path = partition.log.leader_epoch_checkpoint_path();
    let metadata = std::fs::metadata(path).unwrap();
    (metadata.ino(), metadata.ctime(), metadata.ctime_nsec())
}

/// Opens partition 0 of TOPIC as a cluster member's, runs `then` on it and
/// shuts down: the checkpoint's [`checkpoint_inode`] after.
async fn reopen_in_cluster<F, Fut>(dir: &TempDir, then: F) -> (u64, i64, i64)
where
    F: FnOnce(Rc<Partition>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let partitions = partitions_with(dir, NEVER_EXPIRE);
    partitions.join_cluster();
    let partition = open_partition(&partitions).await;
    then(partition.clone()).await;
    partitions.shutdown().await.unwrap();
    checkpoint_inode(&partition)
}

/// A cluster node's empty replica names its epoch at its log end, which
/// every open cuts: the open used to write the cut file, and a leadership
/// at the same epoch wrote it back (two writes of two fsyncs each per
/// empty replica at every restart). Now only a change of epoch writes it.
#[test]
fn a_restarted_empty_replica_rewrites_its_epoch_checkpoint_only_for_a_new_epoch() {
    let dir = TempDir::new("replica-epochs-not-rewritten");
    run(async move {
        let lead_at = |epoch: i32| {
            move |p: Rc<Partition>| async move {
                p.become_leader(SELF_ID, ReplicaConfig::default(), led_by_self(epoch))
                    .await
            }
        };
        let first = reopen_in_cluster(&dir, lead_at(5)).await;
        let opened_only = reopen_in_cluster(&dir, |_| async {}).await;
        let same_epoch = reopen_in_cluster(&dir, lead_at(5)).await;
        let follower = reopen_in_cluster(&dir, |p: Rc<Partition>| async move {
            p.become_follower(SELF_ID, 2, 6).await
        })
        .await;
        assert_eq!(
            [opened_only, same_epoch, follower],
            [first; 3],
            "rewritten: at the open, at the same leadership, as a follower"
        );
        let new_epoch = reopen_in_cluster(&dir, lead_at(7)).await;
        assert_ne!(new_epoch, first, "a new epoch must be written");
        let reopened = reopen_in_cluster(&dir, |p: Rc<Partition>| async move {
            let path = p.log.leader_epoch_checkpoint_path();
            assert_eq!(std::fs::read_to_string(path).unwrap(), "0\n1\n7 0\n");
        })
        .await;
        assert_eq!(reopened, new_epoch);
    });
}

/// The file an open left as it was (an epoch starting at the empty log's
/// end) is written whole before a follower appends batches of an older
/// epoch: else the next open would keep that epoch over them.
#[test]
fn a_replica_checkpoint_left_by_an_open_is_written_before_an_older_epochs_batches() {
    let dir = TempDir::new("replica-epochs-written-before-append");
    run(async move {
        let lead_at_5 = |p: Rc<Partition>| async move {
            p.become_leader(SELF_ID, ReplicaConfig::default(), led_by_self(5))
                .await
        };
        reopen_in_cluster(&dir, lead_at_5).await;
        // The new leader's log holds a batch of epoch 0 this replica lacks.
        reopen_in_cluster(&dir, |p: Rc<Partition>| async move {
            p.become_follower(SELF_ID, 2, 6).await;
            let batch = plain_batch(3, 10, 1_700_000_000_000);
            let wait = p.append_as_follower(2, 6, vec![batch]).await.unwrap();
            wait.wait().await.unwrap();
        })
        .await;
        reopen_in_cluster(&dir, |p: Rc<Partition>| async move {
            assert_eq!(p.log.log_end_offset(), 3);
            assert_eq!(
                p.epochs().cache().entries(),
                [EpochEntry {
                    epoch: 0,
                    start_offset: 0
                }]
            );
        })
        .await;
    });
}
