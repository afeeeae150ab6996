//! Unit tests of [`LeaderReplica`](super::LeaderReplica): the high watermark,
//! ISR changes through the controller, and what a follower's fetch records.

use super::*;

const LAG_MS: u64 = 1000;

fn leader(isr: &[ReplicaId], min_isr: usize) -> LeaderReplica {
    leader_lagging_after(isr, min_isr, LAG_MS)
}

/// Leader 1 of replicas [1, 2, 3] with this `replica.lag.time.max.ms`.
fn leader_lagging_after(isr: &[ReplicaId], min_isr: usize, lag_ms: u64) -> LeaderReplica {
    let config = ReplicaConfig {
        min_insync_replicas: min_isr,
        replica_lag_time_max_ms: lag_ms,
    };
    let state = PartitionState {
        leader: 1,
        leader_epoch: 3,
        partition_epoch: 10,
        replicas: vec![1, 2, 3],
        isr: isr.to_vec(),
    };
    LeaderReplica::new(1, config, state, (0, 0, 0), 0)
}

fn epochs() -> LeaderEpochCache {
    let mut cache = LeaderEpochCache::default();
    cache.assign(3, 0);
    cache
}

fn fetch(replica: ReplicaId, offset: i64, durable: i64) -> FollowerFetch {
    FollowerFetch {
        replica,
        current_leader_epoch: 3,
        fetch_offset: offset,
        last_fetched_epoch: if offset > 0 { 3 } else { -1 },
        durable_offset: durable,
        replica_epoch: FIRST_BROKER_EPOCH,
        registration: ACTIVE_AT_FIRST_EPOCH,
    }
}

/// The registration the leader's metadata shows for every follower here:
/// unfenced, at the epoch [`fetch`] names.
const ACTIVE_AT_FIRST_EPOCH: Registration = Registration::Known {
    broker_epoch: FIRST_BROKER_EPOCH,
    active: true,
};

/// The broker epoch [`fetch`] names.
const FIRST_BROKER_EPOCH: i64 = 50;

/// `fetch` from the process of `replica` that names `broker_epoch`, with
/// the metadata registering it active at that epoch (at
/// [`FIRST_BROKER_EPOCH`] when it names -1 or less).
fn fetch_of_process(
    broker_epoch: i64,
    replica: ReplicaId,
    offset: i64,
    durable: i64,
) -> FollowerFetch {
    let registered = broker_epoch.max(FIRST_BROKER_EPOCH);
    FollowerFetch {
        replica_epoch: broker_epoch,
        registration: Registration::Known {
            broker_epoch: registered,
            active: true,
        },
        ..fetch(replica, offset, durable)
    }
}

/// Leader 1 at offset 10, fsynced, with follower 3 having fsynced all of
/// it and then left the ISR (its broker was fenced): ISR [1, 2].
fn leader_after_follower_3_left() -> LeaderReplica {
    let mut l = leader(&[1, 2, 3], 1);
    l.on_append(10);
    l.on_durable(10);
    l.on_fetch(1, fetch(2, 10, 10), &epochs(), 0);
    l.on_fetch(1, fetch(3, 10, 10), &epochs(), 0);
    assert_eq!(l.high_watermark(), 10);
    l.on_metadata(PartitionState {
        partition_epoch: 11,
        isr: vec![1, 2],
        ..l.state().clone()
    });
    l
}

#[test]
fn a_follower_restarted_with_a_lost_log_rejoins_only_once_caught_up_again() {
    let mut l = leader_after_follower_3_left();
    // Its new process (the disk replaced) fetches from 0, before and after
    // it registered: what the previous process fsynced does not count.
    for broker_epoch in [NO_BROKER_EPOCH, FIRST_BROKER_EPOCH + 7] {
        let (answer, proposal) =
            l.on_fetch(2, fetch_of_process(broker_epoch, 3, 0, 0), &epochs(), 0);
        assert_eq!(answer, FetchAnswer::Read { high_watermark: 10 });
        assert_eq!(proposal, None, "epoch {broker_epoch}: it holds nothing");
    }
    let caught_up = fetch_of_process(FIRST_BROKER_EPOCH + 7, 3, 10, 10);
    let (_, proposal) = l.on_fetch(3, caught_up, &epochs(), 0);
    let proposal = proposal.expect("caught up: back in the ISR");
    let members: Vec<_> = proposal.isr_with_epochs().collect();
    assert_eq!(
        members,
        vec![
            (1, NO_BROKER_EPOCH),
            (2, FIRST_BROKER_EPOCH),
            (3, FIRST_BROKER_EPOCH + 7)
        ],
        "each follower with the epoch its fetches named, so the controller can refuse a stale one"
    );
}

#[test]
fn a_late_fetch_of_a_replaced_process_is_refused_and_records_nothing() {
    let mut l = leader_after_follower_3_left();
    l.on_fetch(
        2,
        fetch_of_process(FIRST_BROKER_EPOCH + 7, 3, 0, 0),
        &epochs(),
        0,
    );
    let late = fetch_of_process(FIRST_BROKER_EPOCH, 3, 10, 10);
    let (answer, proposal) = l.on_fetch(3, late, &epochs(), 0);
    assert_eq!(
        answer,
        FetchAnswer::Refused(error_code::NOT_LEADER_OR_FOLLOWER)
    );
    assert_eq!(proposal, None);
    let (replica, records, _) = l.follower_lags(3)[1];
    assert_eq!(
        (replica, records),
        (3, 10),
        "still at 0 as of its new process"
    );
}

#[test]
fn a_fetch_of_the_same_process_keeps_what_it_reported_fsynced() {
    let mut l = leader_after_follower_3_left();
    // Overtaken by the one that reported 10: an earlier fetch of the same
    // process, which still holds what it fsynced.
    let (_, proposal) = l.on_fetch(2, fetch(3, 10, 4), &epochs(), 0);
    assert_eq!(proposal.map(|p| p.new_isr), Some(vec![1, 2, 3]));
}

#[test]
fn the_high_watermark_is_the_least_durable_offset_over_the_isr() {
    let mut l = leader(&[1, 2, 3], 2);
    l.on_append(10);
    l.on_durable(10);
    assert_eq!(l.high_watermark(), 0, "followers not heard from");
    l.on_fetch(1, fetch(2, 10, 4), &epochs(), 0);
    assert_eq!(l.high_watermark(), 0, "follower 3 not heard from");
    let (answer, _) = l.on_fetch(2, fetch(3, 8, 6), &epochs(), 0);
    assert_eq!(answer, FetchAnswer::Read { high_watermark: 4 });
    assert_eq!(l.ack_state(3), AckState::Ready);
    assert_eq!(l.ack_state(4), AckState::Pending);
}

#[test]
fn the_isr_changes_only_through_the_controller() {
    let mut l = leader(&[1, 2, 3], 2);
    l.on_append(10);
    l.on_durable(10);
    l.on_fetch(100, fetch(2, 10, 10), &epochs(), 0);
    let shrink = l.tick(100 + LAG_MS).expect("follower 3 lags");
    assert_eq!(shrink.new_isr, vec![1, 2]);
    assert_eq!(l.state().isr, vec![1, 2, 3], "not applied alone");
    assert_eq!(l.tick(5000), None, "one proposal at a time");
    let older = AlterPartitionProposal {
        new_isr: vec![1],
        ..shrink.clone()
    };
    l.on_alter_partition(&older, Err(error_code::INELIGIBLE_REPLICA));
    assert!(l.pending().is_some(), "an answer to another proposal");
    // A lost answer: the same change goes out again, once.
    l.on_alter_partition(&shrink, Err(error_code::NOT_CONTROLLER));
    assert_eq!(l.tick(5000), Some(shrink.clone()), "sent again");
    assert_eq!(l.tick(5000), None, "once per answer");
    // The retry is refused as stale: the first attempt may have
    // committed, so it stays pending until the metadata says.
    l.on_alter_partition(&shrink, Err(error_code::INVALID_UPDATE_VERSION));
    assert_eq!(l.pending(), Some(&shrink));
    assert_eq!(l.tick(5000), None, "waits for the metadata");
    let committed = PartitionState {
        isr: vec![1, 2],
        partition_epoch: 11,
        ..l.state().clone()
    };
    l.on_metadata(committed);
    assert_eq!(l.pending(), None);
    assert_eq!(l.state().isr, vec![1, 2]);
    assert_eq!(l.high_watermark(), 10);
    // Follower 3 comes back: it joins once it has fsynced the watermark.
    let (_, none) = l.on_fetch(6000, fetch(3, 10, 9), &epochs(), 0);
    assert_eq!(none, None);
    let (_, expand) = l.on_fetch(6001, fetch(3, 10, 10), &epochs(), 0);
    assert_eq!(expand.expect("caught up").new_isr, vec![1, 2, 3]);
}

/// Kafka's `Replica.isCaughtUp` with the configured lag: a follower of
/// the ISR leaves once it has not had everything the leader has for
/// longer than `replica.lag.time.max.ms`, not sooner.
#[test]
fn a_follower_behind_leaves_the_isr_after_the_configured_lag() {
    const LAG_3S_MS: u64 = 3_000;
    let mut l = leader_lagging_after(&[1, 2, 3], 1, LAG_3S_MS);
    l.on_append(10);
    l.on_durable(10);
    l.on_fetch(100, fetch(2, 10, 10), &epochs(), 0);
    l.on_fetch(100, fetch(3, 10, 10), &epochs(), 0);
    // The log grows; follower 2 keeps up, follower 3 stops fetching.
    l.on_append(11);
    l.on_durable(11);
    l.on_fetch(2_000, fetch(2, 11, 11), &epochs(), 0);
    assert_eq!(l.tick(100 + LAG_3S_MS), None, "behind for exactly the lag");
    let shrink = l
        .tick(101 + LAG_3S_MS)
        .expect("follower 3 is behind past the lag");
    assert_eq!(shrink.new_isr, vec![1, 2]);
}

/// As in Kafka, a follower with everything the leader has stays in the
/// ISR however long it is silent (an idle partition's ISR does not
/// churn; a stopped broker leaves when fenced). Millrace counts what it
/// has fsynced: one whose fsync it never reported holds the high
/// watermark back, so it leaves after the lag.
#[test]
fn a_silent_follower_with_everything_fsynced_stays_in_the_isr() {
    let mut l = leader(&[1, 2, 3], 1);
    l.on_append(10);
    l.on_durable(10);
    l.on_fetch(100, fetch(2, 10, 10), &epochs(), 0);
    l.on_fetch(100, fetch(3, 10, 9), &epochs(), 0);
    assert_eq!(l.high_watermark(), 9);
    let shrink = l.tick(100 + 10 * LAG_MS).expect("3 has not fsynced it all");
    assert_eq!(shrink.new_isr, vec![1, 2], "2 has everything fsynced");
}

#[test]
fn min_insync_replicas_guards_appends_acks_and_the_watermark() {
    let mut l = leader(&[1], 2);
    assert_eq!(l.check_append(true), Err(error_code::NOT_ENOUGH_REPLICAS));
    assert_eq!(l.check_append(false), Ok(()));
    l.on_append(5);
    l.on_durable(5);
    assert_eq!(l.high_watermark(), 0, "never advances under min ISR");
    let mut l = leader(&[1, 2], 2);
    l.on_append(5);
    l.on_durable(5);
    l.on_fetch(1, fetch(2, 5, 5), &epochs(), 0);
    assert_eq!(l.high_watermark(), 5);
    let shrunk = PartitionState {
        isr: vec![1],
        partition_epoch: 11,
        ..l.state().clone()
    };
    l.on_metadata(shrunk);
    assert_eq!(l.ack_state(4), AckState::NotEnoughReplicasAfterAppend);
}

#[test]
fn a_replica_a_reassignment_adds_fetches_and_joins_once_caught_up() {
    let mut l = leader(&[1, 2, 3], 2);
    l.on_append(10);
    l.on_durable(10);
    l.on_fetch(1, fetch(2, 10, 10), &epochs(), 0);
    l.on_fetch(1, fetch(3, 10, 10), &epochs(), 0);
    let (refused, _) = l.on_fetch(2, fetch(4, 0, 0), &epochs(), 0);
    assert_eq!(
        refused,
        FetchAnswer::Refused(error_code::NOT_LEADER_OR_FOLLOWER)
    );
    let adding = PartitionState {
        replicas: vec![1, 2, 4, 3],
        partition_epoch: 11,
        ..l.state().clone()
    };
    l.on_metadata(adding);
    let (read, none) = l.on_fetch(3, fetch(4, 0, 0), &epochs(), 0);
    assert!(matches!(read, FetchAnswer::Read { .. }), "{read:?}");
    assert_eq!(none, None, "not caught up yet");
    assert_eq!(
        l.high_watermark(),
        10,
        "an added replica holds nothing back"
    );
    let (_, expand) = l.on_fetch(4, fetch(4, 10, 10), &epochs(), 0);
    assert_eq!(expand.expect("caught up").new_isr, vec![1, 2, 3, 4]);
}

#[test]
fn a_completed_move_that_takes_leadership_keeps_counting_the_new_replica() {
    let mut l = leader(&[1], 1);
    let moving = PartitionState {
        replicas: vec![4, 1],
        partition_epoch: 11,
        ..l.state().clone()
    };
    l.on_metadata(moving);
    l.on_append(10);
    l.on_durable(10);
    let (_, expand) = l.on_fetch(1, fetch(4, 6, 6), &epochs(), 0);
    assert_eq!(expand, None, "below the high watermark");
    l.on_append(20);
    l.on_durable(20);
    assert_eq!(l.high_watermark(), 20, "replica 4 is not in the ISR yet");
    let (_, expand) = l.on_fetch(3, fetch(4, 20, 20), &epochs(), 0);
    let proposal = expand.expect("caught up");
    l.on_append(30);
    l.on_durable(30);
    l.on_alter_partition(&proposal, Err(error_code::NEW_LEADER_ELECTED));
    assert_eq!(l.pending(), Some(&proposal));
    assert_eq!(
        l.high_watermark(),
        20,
        "never past what the new leader has: it may never get the rest"
    );
}

/// Leader 1 of ISR [1, 2] at offset 20 (durable), follower 3 caught up
/// to 10 and proposed into the ISR, the proposal not answered yet.
fn leader_expanding_to_3() -> (LeaderReplica, AlterPartitionProposal) {
    let mut l = leader(&[1, 2], 1);
    l.on_append(10);
    l.on_durable(10);
    l.on_fetch(1, fetch(2, 10, 10), &epochs(), 0);
    let (_, expand) = l.on_fetch(2, fetch(3, 10, 10), &epochs(), 0);
    let proposal = expand.expect("follower 3 caught up");
    l.on_append(20);
    l.on_durable(20);
    l.on_fetch(3, fetch(2, 20, 20), &epochs(), 0);
    (l, proposal)
}

/// An expansion whose answer never came (the broker's controller call
/// gave up: NOT_CONTROLLER) may have committed all the same: until
/// the metadata says, the high watermark must keep counting the member
/// it adds, or a leader cut off from the controller acknowledges
/// records that member lacks, and the controller may elect it. Kafka
/// resets to the committed ISR only on INELIGIBLE_REPLICA and
/// OPERATION_NOT_ATTEMPTED (`Partition.handleAlterPartitionError`).
/// The replication simulator found it: seed 942 with
/// `cut_controller_both_ways` (`sim::tests`).
#[test]
fn an_unanswered_expansion_keeps_counting_the_member_it_adds() {
    let (mut l, proposal) = leader_expanding_to_3();
    assert_eq!(l.high_watermark(), 10, "the pending expansion counts 3");
    // The controller committed ISR [1, 2, 3]; its answer was lost.
    l.on_alter_partition(&proposal, Err(error_code::NOT_CONTROLLER));
    l.on_fetch(4, fetch(2, 20, 20), &epochs(), 0);
    assert_eq!(
        l.high_watermark(),
        10,
        "3 may be in the ISR: never past what it has fsynced"
    );
    assert_eq!(l.tick(5), Some(proposal.clone()), "sent again");
    // The retry finds the first attempt committed; the metadata brings it.
    l.on_alter_partition(&proposal, Err(error_code::INVALID_UPDATE_VERSION));
    assert_eq!(l.high_watermark(), 10);
    let expanded = PartitionState {
        isr: vec![1, 2, 3],
        partition_epoch: 11,
        ..l.state().clone()
    };
    l.on_metadata(expanded);
    assert_eq!(l.pending(), None);
    l.on_fetch(6, fetch(3, 20, 20), &epochs(), 0);
    assert_eq!(l.high_watermark(), 20);
}

/// Only a refusal that says the change was not applied ends it at once
/// (Kafka's INELIGIBLE_REPLICA, OPERATION_NOT_ATTEMPTED): the high
/// watermark counts the committed ISR again.
#[test]
fn a_refused_expansion_stops_counting_the_member() {
    for code in [
        error_code::INELIGIBLE_REPLICA,
        error_code::OPERATION_NOT_ATTEMPTED,
    ] {
        let (mut l, proposal) = leader_expanding_to_3();
        assert_eq!(l.high_watermark(), 10);
        l.on_alter_partition(&proposal, Err(code));
        assert_eq!(l.pending(), None, "{code}");
        assert_eq!(l.high_watermark(), 20, "{code}");
        assert_eq!(l.tick(4), None, "{code}: not sent again");
    }
}

#[test]
fn fenced_unknown_and_diverging_fetches_record_nothing() {
    let mut l = leader(&[1, 2, 3], 1);
    l.on_append(10);
    l.on_durable(10);
    let stale = FollowerFetch {
        current_leader_epoch: 2,
        ..fetch(2, 10, 10)
    };
    let (answer, _) = l.on_fetch(1, stale, &epochs(), 0);
    assert_eq!(
        answer,
        FetchAnswer::Refused(error_code::FENCED_LEADER_EPOCH)
    );
    let diverging = FollowerFetch {
        last_fetched_epoch: 2,
        ..fetch(2, 12, 12)
    };
    let (answer, _) = l.on_fetch(1, diverging, &epochs(), 0);
    assert!(matches!(answer, FetchAnswer::Diverging(_)), "{answer:?}");
    assert_eq!(l.high_watermark(), 0);
}

#[test]
fn a_fetch_read_again_after_a_wait_records_nothing() {
    let mut l = leader_after_follower_3_left();
    // The new process fetches from 0; a fetch of the process it replaced,
    // parked earlier, is read again: answered, not counted.
    l.on_fetch(2, fetch_of_process(NO_BROKER_EPOCH, 3, 0, 0), &epochs(), 0);
    let parked = fetch(3, 10, 10);
    let answer = l.on_fetch_again(parked, &epochs(), 0);
    assert_eq!(answer, FetchAnswer::Read { high_watermark: 10 });
    let (_, records, _) = l.follower_lags(3)[1];
    assert_eq!(records, 10, "still counted at 0");
    let (_, proposal) = l.on_fetch(3, fetch_of_process(NO_BROKER_EPOCH, 3, 0, 0), &epochs(), 0);
    assert_eq!(proposal, None, "not let back in on the old process's word");
}

#[test]
fn an_in_sync_follower_naming_its_epoch_once_registered_stays_in_sync() {
    let mut l = leader(&[1, 2, 3], 2);
    l.on_append(10);
    l.on_durable(10);
    l.on_fetch(
        1,
        fetch_of_process(NO_BROKER_EPOCH, 2, 10, 10),
        &epochs(),
        0,
    );
    l.on_fetch(
        1,
        fetch_of_process(NO_BROKER_EPOCH, 3, 10, 10),
        &epochs(),
        0,
    );
    assert_eq!(l.high_watermark(), 10);
    l.on_append(20);
    l.on_durable(20);
    for replica in [2, 3] {
        let registered = fetch_of_process(FIRST_BROKER_EPOCH, replica, 20, 20);
        let (answer, proposal) = l.on_fetch(2, registered, &epochs(), 0);
        assert_eq!(proposal, None, "already in the ISR");
        assert!(matches!(answer, FetchAnswer::Read { .. }), "{answer:?}");
    }
    assert_eq!(l.high_watermark(), 20);
    assert_eq!(l.tick(2 + LAG_MS + 1), None, "nobody lags");
}

/// `fetch` of follower 3, caught up at 10, naming `fetch_epoch`, with the
/// leader's metadata showing `registration`.
fn caught_up_fetch_of_3(fetch_epoch: i64, registration: Registration) -> FollowerFetch {
    FollowerFetch {
        registration,
        ..fetch_of_process(fetch_epoch, 3, 10, 10)
    }
}

#[test]
fn a_caught_up_follower_rejoins_only_while_its_broker_is_active() {
    let mut l = leader_after_follower_3_left();
    let fenced = Registration::Known {
        broker_epoch: FIRST_BROKER_EPOCH,
        active: false,
    };
    let (answer, proposal) = l.on_fetch(
        2,
        caught_up_fetch_of_3(FIRST_BROKER_EPOCH, fenced),
        &epochs(),
        0,
    );
    assert_eq!(answer, FetchAnswer::Read { high_watermark: 10 });
    assert_eq!(
        proposal, None,
        "fenced or shutting down: the controller would refuse it"
    );
    let unknown = caught_up_fetch_of_3(FIRST_BROKER_EPOCH, Registration::Unknown);
    let (answer, proposal) = l.on_fetch(3, unknown, &epochs(), 0);
    assert_eq!(answer, FetchAnswer::Read { high_watermark: 10 });
    assert_eq!(proposal, None, "not registered as far as this leader knows");
    let active = caught_up_fetch_of_3(FIRST_BROKER_EPOCH, ACTIVE_AT_FIRST_EPOCH);
    let (_, proposal) = l.on_fetch(4, active, &epochs(), 0);
    assert!(proposal.is_some(), "unfenced again: back in the ISR");
}

#[test]
fn a_follower_rejoins_only_as_the_process_its_broker_registered() {
    let mut l = leader_after_follower_3_left();
    // The metadata has not shown the new process's registration yet.
    let newer = FIRST_BROKER_EPOCH + 7;
    let ahead = caught_up_fetch_of_3(newer, ACTIVE_AT_FIRST_EPOCH);
    let (answer, proposal) = l.on_fetch(2, ahead, &epochs(), 0);
    assert_eq!(answer, FetchAnswer::Read { high_watermark: 10 });
    assert_eq!(proposal, None, "registered as another process");
    let registered = Registration::Known {
        broker_epoch: newer,
        active: true,
    };
    let (_, proposal) = l.on_fetch(3, caught_up_fetch_of_3(newer, registered), &epochs(), 0);
    assert!(
        proposal.is_some(),
        "its own registration shown: back in the ISR"
    );
}

#[test]
fn a_fetch_naming_no_epoch_rejoins_an_active_broker() {
    let mut l = leader_after_follower_3_left();
    let unnamed = caught_up_fetch_of_3(NO_BROKER_EPOCH, ACTIVE_AT_FIRST_EPOCH);
    let (_, proposal) = l.on_fetch(2, unnamed, &epochs(), 0);
    assert!(
        proposal.is_some(),
        "-1 is not checked (Kafka's isBrokerEpochIsrEligible)"
    );
}

#[test]
fn a_fetch_of_a_process_older_than_the_registered_one_is_refused_at_once() {
    // Follower 3 has not fetched from this leader yet.
    let mut l = leader(&[1, 2], 1);
    l.on_append(10);
    l.on_durable(10);
    let registered = Registration::Known {
        broker_epoch: FIRST_BROKER_EPOCH + 7,
        active: true,
    };
    let stale = caught_up_fetch_of_3(FIRST_BROKER_EPOCH, registered);
    let (answer, proposal) = l.on_fetch(2, stale, &epochs(), 0);
    assert_eq!(
        answer,
        FetchAnswer::Refused(error_code::NOT_LEADER_OR_FOLLOWER)
    );
    assert_eq!(proposal, None);
    let (replica, records, _) = l.follower_lags(2)[1];
    assert_eq!((replica, records), (3, 10), "nothing recorded");
}
