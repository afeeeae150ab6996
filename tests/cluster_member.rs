//! Cluster members on real loopback TCP and real files (what shard 0 of each
//! broker runs: the metadata log, the active controller, the broker
//! lifecycle), driven through their public API: AlterPartition from a
//! partition leader commits through the controller and the Raft log.

#[path = "cluster_member/harness.rs"]
mod harness;

use harness::{wait_until, Cluster};
use millrace::cluster::member::view::PartitionView;
use millrace::cluster::TopicIdPartition;
use millrace::local::join_all;
use millrace::metadata::controller::{ControllerRequest, NewTopic};
use millrace::partition::replica::{AlterPartitionProposal, PartitionState};
use millrace::protocol::error_code;
use uuid::Uuid;

const BROKERS: i32 = 3;

/// Creates `name` (RF 3) through member 1 and waits until every member
/// sees it; returns its id.
fn create_topic(cluster: &Cluster, name: &str, partitions: i32) -> Uuid {
    let request = ControllerRequest::CreateTopics {
        topics: vec![NewTopic {
            name: name.into(),
            partitions,
            replication_factor: 3,
            configs: Vec::new(),
            assignments: Vec::new(),
        }],
        validate_only: false,
        if_missing: false,
    };
    let codes: Vec<i16> = cluster.member(1).run(move |member| async move {
        let response = member.topic_change(request).await;
        response.outcomes.iter().map(|o| o.error_code).collect()
    });
    assert_eq!(codes, vec![error_code::NONE], "CreateTopics {name}");
    let mut topic_id = None;
    wait_until("every member sees the topic", || {
        let ids: Vec<Option<Uuid>> = cluster
            .members
            .values()
            .map(|m| m.view().and_then(|v| v.table.get(name).map(|t| t.id)))
            .collect();
        topic_id = ids[0];
        ids.iter().all(|id| id.is_some() && *id == ids[0])
    });
    topic_id.expect("topic id")
}

fn partition(cluster: &Cluster, on: i32, tp: TopicIdPartition) -> PartitionView {
    let view = cluster.member(on).view().expect("a view");
    view.partition(&tp.topic_id, tp.partition)
        .expect("partition in the view")
        .clone()
}

fn alter(
    cluster: &Cluster,
    on: i32,
    tp: TopicIdPartition,
    proposal: AlterPartitionProposal,
) -> Result<PartitionState, i16> {
    cluster
        .member(on)
        .run(move |member| async move { member.alter_partition(tp, &proposal).await })
}

fn shrink_proposal(p: &PartitionView) -> AlterPartitionProposal {
    AlterPartitionProposal {
        leader_epoch: p.leader_epoch,
        partition_epoch: p.partition_epoch,
        new_isr: p
            .isr
            .iter()
            .copied()
            .filter(|r| *r == p.leader || Some(r) == p.isr.iter().find(|r| **r != p.leader))
            .collect(),
        broker_epochs: Vec::new(),
    }
}

/// `proposal` naming `epoch` as `member`'s broker epoch, -1 (unknown) for
/// the others.
fn naming_epoch(
    proposal: &AlterPartitionProposal,
    member: i32,
    epoch: i64,
) -> AlterPartitionProposal {
    let broker_epochs = proposal
        .new_isr
        .iter()
        .map(|r| if *r == member { epoch } else { -1 })
        .collect();
    AlterPartitionProposal {
        broker_epochs,
        ..proposal.clone()
    }
}

#[test]
fn alter_partition_commits_isr_changes_and_refuses_stale_ones_as_kafka_does() {
    let cluster = Cluster::start("alter", BROKERS);
    cluster.wait_all_unfenced();
    let topic_id = create_topic(&cluster, "isr-changes", 3);
    let tp = TopicIdPartition {
        topic_id,
        partition: 0,
    };
    let before = partition(&cluster, 1, tp);
    assert_eq!(before.isr.len(), 3, "{before:?}");
    let leader = before.leader;

    // The leader shrinks the ISR to itself and one follower: committed, and
    // this member's view holds it by the time the answer comes.
    let shrink = shrink_proposal(&before);
    assert_eq!(shrink.new_isr.len(), 2);
    let state = alter(&cluster, leader, tp, shrink.clone()).expect("shrink committed");
    assert_eq!(state.leader, leader);
    assert_eq!(state.leader_epoch, before.leader_epoch);
    assert_eq!(state.partition_epoch, before.partition_epoch + 1);
    assert_eq!(state.isr, shrink.new_isr);
    assert_eq!(state.replicas, before.replicas);
    let seen = partition(&cluster, leader, tp);
    assert_eq!(
        (seen.isr.clone(), seen.partition_epoch),
        (state.isr.clone(), state.partition_epoch),
        "the leader's view adopted the committed change before the answer"
    );
    for id in 1..=BROKERS {
        wait_until("every member sees the shrunk ISR", || {
            partition(&cluster, id, tp).isr == state.isr
        });
    }

    // The same proposal again is based on a stale partition epoch.
    assert_eq!(
        alter(&cluster, leader, tp, shrink.clone()),
        Err(error_code::INVALID_UPDATE_VERSION)
    );
    // A stale leader epoch is fenced.
    let fenced = AlterPartitionProposal {
        leader_epoch: state.leader_epoch - 1,
        partition_epoch: state.partition_epoch,
        new_isr: before.isr.clone(),
        broker_epochs: Vec::new(),
    };
    assert_eq!(
        alter(&cluster, leader, tp, fenced),
        Err(error_code::FENCED_LEADER_EPOCH)
    );
    // A broker that does not lead the partition may not change it.
    let expand = AlterPartitionProposal {
        leader_epoch: state.leader_epoch,
        partition_epoch: state.partition_epoch,
        new_isr: before.isr.clone(),
        broker_epochs: Vec::new(),
    };
    let other = (1..=BROKERS).find(|id| *id != leader).expect("a follower");
    assert_eq!(
        alter(&cluster, other, tp, expand.clone()),
        Err(error_code::INVALID_REQUEST)
    );
    // A topic the controller does not know.
    let unknown_topic = TopicIdPartition {
        topic_id: Uuid::new_v4(),
        partition: 0,
    };
    assert_eq!(
        alter(&cluster, leader, unknown_topic, expand.clone()),
        Err(error_code::UNKNOWN_TOPIC_ID)
    );
    // KIP-903: the member it adds back is named with the broker epoch its
    // fetches carried; a process registered since (a newer epoch) is not
    // the one that caught up, and the controller refuses it.
    let added = *before
        .isr
        .iter()
        .find(|r| !state.isr.contains(r))
        .expect("a member to add back");
    let view = cluster.member(leader).view().expect("a view");
    let registered = view.broker(added).expect("registered").epoch;
    let replaced = naming_epoch(&expand, added, registered - 1);
    assert_eq!(
        alter(&cluster, leader, tp, replaced),
        Err(error_code::INELIGIBLE_REPLICA)
    );
    // The leader expands it back, naming the member's current epoch.
    let current = naming_epoch(&expand, added, registered);
    let state = alter(&cluster, leader, tp, current).expect("expansion committed");
    assert_eq!(state.isr, before.isr);
    assert_eq!(state.partition_epoch, before.partition_epoch + 2);
}

#[test]
fn alter_partition_proposals_of_many_partitions_go_in_one_request() {
    let cluster = Cluster::start("batch", BROKERS);
    cluster.wait_all_unfenced();
    let partitions = 9;
    let topic_id = create_topic(&cluster, "isr-batch", partitions);
    let led: Vec<(TopicIdPartition, PartitionView)> = (0..partitions)
        .map(|partition| TopicIdPartition {
            topic_id,
            partition,
        })
        .map(|tp| (tp, partition(&cluster, 1, tp)))
        .filter(|(_, p)| p.leader == 1)
        .collect();
    assert!(led.len() >= 2, "member 1 leads {} partitions", led.len());
    let proposals: Vec<(TopicIdPartition, AlterPartitionProposal)> = led
        .iter()
        .map(|(tp, p)| (*tp, shrink_proposal(p)))
        .collect();
    let expected = proposals.clone();
    let (sent, answers) = cluster.member(1).run(move |member| async move {
        let before = member.alter_partition_requests_sent();
        let calls = proposals
            .iter()
            .map(|(tp, proposal)| member.alter_partition(*tp, proposal));
        let answers = join_all(calls).await;
        (member.alter_partition_requests_sent() - before, answers)
    });
    assert_eq!(
        sent,
        1,
        "one AlterPartition request for {} partitions",
        expected.len()
    );
    for ((tp, proposal), answer) in expected.iter().zip(answers) {
        let state = answer.unwrap_or_else(|e| panic!("{tp}: error {e}"));
        assert_eq!(state.isr, proposal.new_isr, "{tp}");
        assert_eq!(state.partition_epoch, proposal.partition_epoch + 1, "{tp}");
    }
}
