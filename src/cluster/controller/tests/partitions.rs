//! Leadership and ISR rules: fencing, controlled shutdown, AlterPartition,
//! ELR, unclean and preferred elections.

use super::*;
use crate::cluster::records::LeaderRecoveryState;

pub(super) fn alter(h: &Harness, tp: TopicIdPartition, isr: &[BrokerId]) -> AlterPartitionRequest {
    let p = h.image().partition(tp).unwrap();
    let leader = p.leader.unwrap();
    AlterPartitionRequest {
        broker_id: leader,
        broker_epoch: h.epochs[&leader].1,
        partitions: vec![AlterPartitionItem {
            tp,
            leader_epoch: p.leader_epoch,
            partition_epoch: p.partition_epoch,
            new_isr: isr.iter().map(|b| (*b, h.epochs[b].1)).collect(),
            leader_recovery_state: p.leader_recovery_state,
        }],
    }
}

pub(super) fn alter_result(
    h: &mut Harness,
    request: AlterPartitionRequest,
) -> Result<PartitionState, ResponseError> {
    match h.call(Request::AlterPartition(request)) {
        Reply::AlterPartition(Ok(mut results)) => results.remove(0).result,
        Reply::AlterPartition(Err(e)) => Err(e),
        other => panic!("{other:?}"),
    }
}

pub(super) fn alter_isr(
    h: &mut Harness,
    tp: TopicIdPartition,
    isr: &[BrokerId],
) -> Result<PartitionState, ResponseError> {
    let request = alter(h, tp, isr);
    alter_result(h, request)
}

#[test]
fn a_silent_broker_is_fenced_after_the_session_timeout_and_its_leaderships_move() {
    let mut h = Harness::new(config());
    h.start_brokers([1, 2, 3]);
    let topic = h.create_topic("t", 6, 3).unwrap();
    let led: Vec<TopicIdPartition> = h.image().leaders_of(1).iter().copied().collect();
    assert_eq!(led.len(), 2);
    let before: Vec<_> = (0..6).map(|p| h.partition(topic, p)).collect();
    h.tick(config().session_timeout_ms - 1);
    h.heartbeat_all_but(&[1]);
    assert!(
        !h.image().broker(1).unwrap().fenced,
        "not yet: the session has time left"
    );
    h.tick(2);
    assert!(h.image().broker(1).unwrap().fenced);
    assert!(h.image().leaders_of(1).is_empty());
    assert!(h.image().isr_partitions_of(1).is_empty());
    for (p, old) in before.iter().enumerate() {
        let new = h.partition(topic, p as i32);
        assert!(!new.isr.contains(&1));
        assert_eq!(new.partition_epoch, old.partition_epoch + 1);
        let moved = old.leader == Some(1);
        assert_eq!(
            new.leader_epoch,
            old.leader_epoch + moved as i32,
            "partition {p}"
        );
        assert!(new.isr.contains(&new.leader.unwrap()));
    }
}

#[test]
fn controlled_shutdown_moves_leadership_before_the_broker_may_exit() {
    let mut h = Harness::new(config());
    h.start_brokers([1, 2, 3]);
    h.create_topic("t", 6, 3).unwrap();
    let offset = h.image().offset();
    let first = h.heartbeat_with(1, offset, false, true).unwrap();
    assert!(!first.should_shut_down && !first.is_fenced);
    assert!(h.image().broker(1).unwrap().in_controlled_shutdown);
    assert!(h.image().leaders_of(1).is_empty(), "leadership moved away");
    assert!(h.image().isr_partitions_of(1).is_empty());
    // The other brokers have not applied the move yet: not yet.
    let offset = h.image().offset();
    let waiting = h.heartbeat_with(1, offset, false, true).unwrap();
    assert!(!waiting.should_shut_down);
    h.heartbeat_all_but(&[1]);
    let done = h.heartbeat_with(1, offset, false, true).unwrap();
    assert!(done.should_shut_down && done.is_fenced);
    assert!(h.image().broker(1).unwrap().fenced);
    // A clean restart keeps its ELR/ISR standing; a broker leading nothing
    // shuts down at once.
    h.heartbeat_all_but(&[1]);
    let incarnation = Uuid::from_u128(77);
    let previous = h.epochs[&1].1;
    h.register_as(1, incarnation, previous).unwrap();
    assert!(!h.heartbeat(1).is_fenced);
    let offset = h.image().offset();
    let immediate = h.heartbeat_with(1, offset, false, true).unwrap();
    assert!(immediate.should_shut_down, "it led nothing");
}

#[test]
fn alter_partition_is_a_compare_and_set_on_the_partition_epoch() {
    let mut h = Harness::new(config());
    h.start_brokers([1, 2, 3, 4]);
    let topic = h.create_topic("t", 1, 3).unwrap();
    let tp = TopicIdPartition {
        topic_id: topic,
        partition: 0,
    };
    let p = h.partition(topic, 0);
    let leader = p.leader.unwrap();
    let followers: Vec<BrokerId> = p
        .replicas
        .iter()
        .copied()
        .filter(|r| *r != leader)
        .collect();
    let outsider = (1..=4).find(|b| !p.replicas.contains(b)).unwrap();

    let stale = alter(&h, tp, &[leader, followers[0]]);
    let ok = alter_isr(&mut h, tp, &[leader, followers[0]]).unwrap();
    assert_eq!(ok.isr, [leader, followers[0]]);
    assert_eq!(
        (ok.leader_epoch, ok.partition_epoch),
        (p.leader_epoch, p.partition_epoch + 1)
    );
    assert_eq!(
        alter_result(&mut h, stale),
        Err(ResponseError::InvalidUpdateVersion)
    );

    let mut not_leader = alter(&h, tp, &[leader]);
    not_leader.broker_id = followers[0];
    not_leader.broker_epoch = h.epochs[&followers[0]].1;
    assert_eq!(
        alter_result(&mut h, not_leader),
        Err(ResponseError::InvalidRequest)
    );
    let without_leader = alter(&h, tp, &[followers[0]]);
    assert_eq!(
        alter_result(&mut h, without_leader),
        Err(ResponseError::InvalidRequest)
    );
    let non_replica = alter(&h, tp, &[leader, outsider]);
    assert_eq!(
        alter_result(&mut h, non_replica),
        Err(ResponseError::InvalidRequest)
    );
    let mut future = alter(&h, tp, &[leader]);
    future.partitions[0].partition_epoch += 1;
    assert_eq!(
        alter_result(&mut h, future),
        Err(ResponseError::NotController)
    );
    let mut old_leader_epoch = alter(&h, tp, &[leader]);
    old_leader_epoch.partitions[0].leader_epoch -= 1;
    assert_eq!(
        alter_result(&mut h, old_leader_epoch),
        Err(ResponseError::FencedLeaderEpoch)
    );
    let mut stale_broker = alter(&h, tp, &[leader]);
    stale_broker.broker_epoch += 1000;
    assert_eq!(
        alter_result(&mut h, stale_broker),
        Err(ResponseError::StaleBrokerEpoch)
    );

    // Expanding with a fenced broker, or a stale epoch of a live one, is refused.
    h.silence(&[followers[1]]);
    let leader_now = h.partition(topic, 0).leader.unwrap();
    assert_eq!(leader_now, leader);
    let fenced = alter(&h, tp, &[leader, followers[0], followers[1]]);
    assert_eq!(
        alter_result(&mut h, fenced),
        Err(ResponseError::IneligibleReplica)
    );
    let mut wrong_epoch = alter(&h, tp, &[leader, followers[0]]);
    wrong_epoch.partitions[0].new_isr[1].1 += 1;
    assert_eq!(
        alter_result(&mut h, wrong_epoch),
        Err(ResponseError::IneligibleReplica)
    );
}

#[test]
fn below_min_isr_fenced_replicas_become_eligible_leaders() {
    let mut config = config();
    config.min_insync_replicas = 2;
    let mut h = Harness::new(config.clone());
    h.start_brokers([1, 2, 3]);
    let topic = h.create_topic("t", 1, 3).unwrap();
    let order = h.partition(topic, 0).replicas;
    let mut silent = Vec::new();
    for broker in &order {
        silent.push(*broker);
        h.silence(&silent);
    }
    let p = h.partition(topic, 0);
    assert_eq!(p.leader, None);
    assert!(p.isr.is_empty());
    let mut elr = p.elr.clone();
    elr.sort();
    let mut expected = order[1..].to_vec();
    expected.sort();
    assert_eq!(elr, expected, "the replicas that left an ISR below min ISR");
    assert_eq!(p.last_known_elr, [order[2]], "the last leader");
    // The ELR member back from a clean stop leads again, alone in the ISR.
    let back = order[1];
    h.heartbeat_with(back, h.image().offset(), false, false)
        .unwrap();
    let p = h.partition(topic, 0);
    assert_eq!((p.leader, p.isr.clone()), (Some(back), vec![back]));
    assert!(!p.elr.contains(&back));
    // order[2] crashed: unlike Kafka (KIP-966) it stays eligible, as a
    // millrace replica reported only what it had fsynced.
    h.register_as(order[2], Uuid::from_u128(4242), -1).unwrap();
    assert!(h.partition(topic, 0).elr.contains(&order[2]));
    // order[0] left while the ISR was still at min ISR: never eligible.
    h.heartbeat(order[0]);
    assert_eq!(h.partition(topic, 0).leader, Some(back));
}

#[test]
fn the_last_eligible_replica_back_from_a_crash_leads_again() {
    // Issue 13 (Jepsen, seed 7): partitions stayed at leader -1 with an empty
    // ISR. Kafka's KIP-966 rule took a crashed broker out of the ELR, so the
    // crash of the last eligible replica left none.
    let mut config = config();
    config.min_insync_replicas = 2;
    let mut h = Harness::new(config);
    h.start_brokers([1, 2, 3]);
    let topic = h.create_topic("t", 1, 3).unwrap();
    let order = h.partition(topic, 0).replicas;
    let tp = TopicIdPartition {
        topic_id: topic,
        partition: 0,
    };
    // The followers lag: the leader alone is in the ISR, they are eligible.
    alter_isr(&mut h, tp, &[order[0]]).unwrap();
    // Every replica crashes.
    h.silence(&order);
    let p = h.partition(topic, 0);
    assert_eq!((p.leader, p.isr.is_empty()), (None, true), "{p:?}");
    // Each comes back from the crash (a new incarnation, no clean epoch).
    for (i, broker) in order.iter().enumerate() {
        h.register_as(*broker, Uuid::from_u128(5000 + i as u128), -1)
            .unwrap();
        let p = h.partition(topic, 0);
        assert!(
            !(p.isr.is_empty() && p.elr.is_empty()),
            "no eligible replica left: {p:?}"
        );
    }
    h.heartbeat_all_but(&[]);
    let p = h.partition(topic, 0);
    assert!(p.leader.is_some(), "offline for good: {p:?}");
}

#[test]
fn unclean_election_only_where_the_topic_allows_it() {
    for allowed in [false, true] {
        let mut config = config();
        config.eligible_leader_replicas_enable = false;
        let mut h = Harness::new(config.clone());
        h.start_brokers([1, 2]);
        let setting = vec![(
            "unclean.leader.election.enable".to_string(),
            allowed.to_string(),
        )];
        let topic = h.create_topic_with("t", 1, 2, setting).unwrap();
        let tp = TopicIdPartition {
            topic_id: topic,
            partition: 0,
        };
        let leader = h.partition(topic, 0).leader.unwrap();
        alter_isr(&mut h, tp, &[leader]).unwrap();
        h.silence(&[leader]);
        assert!(h.image().broker(leader).unwrap().fenced);
        let p = h.partition(topic, 0);
        if allowed {
            let follower = 3 - leader;
            assert_eq!(
                p.leader,
                Some(follower),
                "an out-of-sync replica is elected"
            );
            assert_eq!(p.isr, [follower]);
            assert_eq!(p.leader_recovery_state, LeaderRecoveryState::Recovering);
        } else {
            assert_eq!(p.leader, None, "the partition waits for its ISR");
            assert_eq!(p.isr, [leader], "without ELR the last ISR member stays");
            h.heartbeat(leader);
            assert_eq!(
                h.partition(topic, 0).leader,
                Some(leader),
                "back when it is"
            );
        }
    }
}

#[test]
fn preferred_leader_election_and_balancing_move_leadership_back() {
    let mut config = config();
    config.leader_imbalance_check_interval_ms = 1000;
    config.auto_leader_rebalance_enable = false;
    let mut h = Harness::new(config.clone());
    h.start_brokers([1, 2, 3]);
    let topic = h.create_topic("t", 3, 3).unwrap();
    let tps: Vec<TopicIdPartition> = (0..3)
        .map(|p| TopicIdPartition {
            topic_id: topic,
            partition: p,
        })
        .collect();
    let request = ElectLeadersRequest {
        election: ElectionType::Preferred,
        partitions: Some(tps.clone()),
    };
    let Reply::ElectLeaders(Ok(results)) = h.call(Request::ElectLeaders(request.clone())) else {
        panic!()
    };
    assert!(results
        .iter()
        .all(|(_, r)| *r == Err(ResponseError::ElectionNotNeeded)));
    // Broker 1 stops cleanly and comes back: it leads nothing until elected.
    let offset = h.image().offset();
    h.heartbeat_with(1, offset, false, true).unwrap();
    h.heartbeat_all_but(&[1]);
    assert!(
        h.heartbeat_with(1, h.image().offset(), false, true)
            .unwrap()
            .should_shut_down
    );
    let previous = h.epochs[&1].1;
    h.register_as(1, Uuid::from_u128(31), previous).unwrap();
    h.heartbeat(1);
    assert!(h.image().leaders_of(1).is_empty());
    let preferred_of_1 = tps
        .iter()
        .filter(|tp| h.image().partition(**tp).unwrap().replicas[0] == 1)
        .count();
    let Reply::ElectLeaders(Ok(results)) = h.call(Request::ElectLeaders(request)) else {
        panic!()
    };
    let elected = results.iter().filter(|(_, r)| r.is_ok()).count();
    // Broker 1 is not in the ISR again until its leader adds it back.
    assert_eq!(elected, 0);
    let errors: Vec<_> = results.iter().filter_map(|(_, r)| r.err()).collect();
    assert!(errors.contains(&ResponseError::PreferredLeaderNotAvailable) || preferred_of_1 == 0);
    for tp in &tps {
        let isr: Vec<BrokerId> = h.image().partition(*tp).unwrap().replicas.clone();
        alter_isr(&mut h, *tp, &isr).unwrap();
    }
    h.controller.config.auto_leader_rebalance_enable = true;
    h.tick(config.leader_imbalance_check_interval_ms);
    assert_eq!(
        h.image().leaders_of(1).len(),
        preferred_of_1,
        "balancing restored preferred leaders"
    );
}
