//! Partition reassignment (KIP-455): the three stages, immediate
//! completion, cancellation, refusals.

use super::partitions::alter_isr;
use super::*;

fn tp(topic_id: Uuid, partition: i32) -> TopicIdPartition {
    TopicIdPartition {
        topic_id,
        partition,
    }
}

fn reassign(
    h: &mut Harness,
    partitions: Vec<(TopicIdPartition, Option<Vec<BrokerId>>)>,
) -> Vec<Result<(), ResponseError>> {
    let request = AlterReassignmentsRequest { partitions };
    match h.call(Request::AlterReassignments(request)) {
        Reply::AlterReassignments(Ok(results)) => results.into_iter().map(|(_, r)| r).collect(),
        other => panic!("{other:?}"),
    }
}

/// Registers 4 brokers and creates a one-partition topic of `rf` replicas.
fn cluster(rf: i16) -> (Harness, TopicIdPartition) {
    let mut h = Harness::new(config());
    h.start_brokers([1, 2, 3, 4]);
    let topic = h.create_topic("t", 1, rf).unwrap();
    (h, tp(topic, 0))
}

#[test]
fn an_rf1_partition_moves_once_the_new_replica_is_in_sync() {
    let (mut h, tp) = cluster(1);
    let before = h.image().partition(tp).unwrap().clone();
    let old = before.replicas[0];
    let new = if old == 4 { 1 } else { 4 };
    assert_eq!(reassign(&mut h, vec![(tp, Some(vec![new]))]), vec![Ok(())]);
    let moving = h.image().partition(tp).unwrap().clone();
    assert_eq!(
        moving.replicas,
        vec![new, old],
        "target first, then removed"
    );
    assert_eq!(
        (moving.adding.clone(), moving.removing.clone()),
        (vec![new], vec![old])
    );
    assert_eq!(
        moving.isr,
        vec![old],
        "nothing leaves before the new replica is in sync"
    );
    assert_eq!(
        (moving.leader, moving.leader_epoch),
        (Some(old), before.leader_epoch)
    );
    // The leader proposes the caught-up replica into the ISR: that change
    // completes the move, and leadership goes with it.
    let answer = alter_isr(&mut h, tp, &[old.min(new), old.max(new)]);
    assert_eq!(answer, Err(ResponseError::NewLeaderElected));
    let done = h.image().partition(tp).unwrap().clone();
    assert_eq!(done.replicas, vec![new]);
    assert_eq!(done.isr, vec![new]);
    assert_eq!(done.leader, Some(new));
    assert!(done.leader_epoch > moving.leader_epoch);
    assert!(!done.is_reassigning());
}

#[test]
fn an_rf3_partition_keeps_its_leader_when_the_leader_stays() {
    let (mut h, tp) = cluster(3);
    let before = h.image().partition(tp).unwrap().clone();
    let leader = before.leader.unwrap();
    let outsider = 10 - before.replicas.iter().sum::<i32>();
    let dropped = *before.replicas.iter().find(|r| **r != leader).unwrap();
    let target: Vec<BrokerId> = before
        .replicas
        .iter()
        .map(|r| if *r == dropped { outsider } else { *r })
        .collect();
    assert_eq!(
        reassign(&mut h, vec![(tp, Some(target.clone()))]),
        vec![Ok(())]
    );
    let moving = h.image().partition(tp).unwrap().clone();
    assert_eq!(moving.replicas.len(), 4);
    assert_eq!(
        (moving.adding.clone(), moving.removing.clone()),
        (vec![outsider], vec![dropped])
    );
    // A tick, even a fencing of another broker, completes nothing early.
    h.tick(1);
    assert!(h.image().partition(tp).unwrap().is_reassigning());
    let mut isr = before.isr.clone();
    isr.push(outsider);
    isr.sort_unstable();
    let committed = alter_isr(&mut h, tp, &isr).unwrap();
    assert_eq!(committed.replicas, target);
    assert_eq!(committed.leader, Some(leader));
    assert!(!committed.isr.contains(&dropped));
    assert_eq!(
        committed.leader_epoch,
        moving.leader_epoch + 1,
        "a replica left: new leader epoch"
    );
}

#[test]
fn a_reassignment_within_the_isr_completes_at_once_and_moves_a_removed_leader() {
    let (mut h, tp) = cluster(3);
    let before = h.image().partition(tp).unwrap().clone();
    let leader = before.leader.unwrap();
    let target: Vec<BrokerId> = before
        .replicas
        .iter()
        .copied()
        .filter(|r| *r != leader)
        .collect();
    assert_eq!(
        reassign(&mut h, vec![(tp, Some(target.clone()))]),
        vec![Ok(())]
    );
    let after = h.image().partition(tp).unwrap().clone();
    assert_eq!(after.replicas, target);
    assert!(!after.is_reassigning());
    assert_eq!(after.leader, Some(target[0]));
    assert!(!after.isr.contains(&leader));
}

#[test]
fn cancelling_reverts_to_the_original_replicas() {
    let (mut h, tp) = cluster(3);
    let before = h.image().partition(tp).unwrap().clone();
    let outsider = 10 - before.replicas.iter().sum::<i32>();
    let target = vec![outsider, before.replicas[1], before.replicas[2]];
    assert_eq!(reassign(&mut h, vec![(tp, Some(target))]), vec![Ok(())]);
    assert!(h.image().partition(tp).unwrap().is_reassigning());
    assert_eq!(reassign(&mut h, vec![(tp, None)]), vec![Ok(())]);
    let after = h.image().partition(tp).unwrap().clone();
    // KRaft's revert: the moving list without the added replica (target
    // order, then the ones it was removing).
    let reverted = vec![before.replicas[1], before.replicas[2], before.replicas[0]];
    assert_eq!(after.replicas, reverted);
    assert!(!after.is_reassigning());
    assert_eq!(after.leader, before.leader);
    assert_eq!(
        reassign(&mut h, vec![(tp, None)]),
        vec![Err(ResponseError::NoReassignmentInProgress)]
    );
}

#[test]
fn invalid_targets_are_refused_per_partition() {
    let (mut h, tp) = cluster(1);
    let unknown = TopicIdPartition {
        topic_id: tp.topic_id,
        partition: 7,
    };
    let results = reassign(&mut h, vec![(tp, Some(vec![])), (unknown, Some(vec![1]))]);
    assert_eq!(
        results,
        vec![
            Err(ResponseError::InvalidReplicaAssignment),
            Err(ResponseError::UnknownTopicOrPartition)
        ]
    );
    for target in [vec![1, 1], vec![1, 9]] {
        assert_eq!(
            reassign(&mut h, vec![(tp, Some(target))]),
            vec![Err(ResponseError::InvalidReplicaAssignment)]
        );
    }
    let twice = reassign(&mut h, vec![(tp, Some(vec![2])), (tp, Some(vec![3]))]);
    assert_eq!(twice[1], Err(ResponseError::InvalidRequest));
}
