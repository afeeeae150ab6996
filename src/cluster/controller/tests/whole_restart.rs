//! A whole cluster killed -9 and two of its three nodes started again (the
//! black-box `test_after_a_whole_cluster_restart_consumers_read_what_was_committed`):
//! the new controller has heard from none of the old registrations. When a
//! new incarnation replaces one of them past the grace, the leaderships it
//! gives up must not go to another registration this controller has not
//! heard from either: that broker is as likely dead (here it is) and would
//! lead until its session runs out, unreachable to clients.

use super::*;

/// The node whose controller becomes active, with its broker restarted.
const CONTROLLER_NODE: BrokerId = 1;
/// The other restarted node: its new incarnation registers past the grace.
const RESTARTED: BrokerId = 2;
/// The node that stays down (or, in the liveness case, was only slow).
const SILENT: BrokerId = 3;
/// The I/O layer's controller tick.
const TICK_MS: u64 = 250;
const PARTITIONS: i32 = 3;

/// Brokers 1..=3, an RF=3 topic with min.insync.replicas=3 (every replica
/// stays an eligible leader); then every process dies and node 1 becomes the
/// active controller over the committed image 3 s later, its own broker
/// registered again. Returns the topic and the activation time.
fn restart_the_whole_cluster(h: &mut Harness) -> (Uuid, u64) {
    restart_the_whole_cluster_with(h, "3")
}

/// [`restart_the_whole_cluster`] with the topic's `min.insync.replicas`.
fn restart_the_whole_cluster_with(h: &mut Harness, min_insync_replicas: &str) -> (Uuid, u64) {
    h.start_brokers([1, 2, 3]);
    let configs = vec![(
        "min.insync.replicas".to_string(),
        min_insync_replicas.to_string(),
    )];
    let topic = h
        .create_topic_with("committed", PARTITIONS, 3, configs)
        .unwrap();
    h.tick(100);
    h.heartbeat_all_but(&[]);
    h.now_ms += 3000;
    let local = Uuid::from_u128(77);
    let mut config = config();
    config.local_broker = Some((CONTROLLER_NODE, local));
    let image = h.image().clone();
    h.controller = Controller::new(config, image, h.now_ms, 2);
    let activated_ms = h.now_ms;
    h.tick(TICK_MS);
    h.register_as(CONTROLLER_NODE, local, -1).unwrap();
    assert!(!h.heartbeat(CONTROLLER_NODE).is_fenced);
    (topic, activated_ms)
}

/// Node 2's new incarnation registers at the first moment the grace allows
/// (one heartbeat interval and a half after the activation), with node 1
/// heartbeating meanwhile.
fn replace_past_the_grace(h: &mut Harness, activated_ms: u64) {
    let interval_ms = config().broker_heartbeat_interval_ms;
    let grace_ms = interval_ms + interval_ms / 2;
    let restarted = Uuid::from_u128(78);
    while h.now_ms + TICK_MS < activated_ms + grace_ms {
        h.tick(TICK_MS);
        h.heartbeat(CONTROLLER_NODE);
    }
    h.tick(activated_ms + grace_ms - h.now_ms);
    h.register_as(RESTARTED, restarted, -1).unwrap();
    assert!(!h.heartbeat(RESTARTED).is_fenced);
}

fn leaders(h: &Harness, topic: Uuid) -> Vec<Option<BrokerId>> {
    (0..PARTITIONS)
        .map(|p| h.partition(topic, p).leader)
        .collect()
}

#[test]
fn a_replaced_registration_hands_no_leadership_to_a_broker_unheard_past_the_grace() {
    let mut h = Harness::new(config());
    let (topic, activated_ms) = restart_the_whole_cluster(&mut h);
    let led_before = leaders(&h, topic);
    replace_past_the_grace(&mut h, activated_ms);
    // A partition it led before keeps it until its session runs out (a
    // leader is not demoted for being unheard); no other may get it.
    let after = leaders(&h, topic);
    for (before, now) in led_before.iter().zip(&after) {
        assert!(
            *now != Some(SILENT) || *before == Some(SILENT),
            "broker {SILENT} was never heard by this controller: {led_before:?} -> {after:?}"
        );
    }
    // It is fenced before the replaced registration leaves the ISRs, so the
    // nodes that came back lead at once, not after its session.
    assert!(h.image().broker(SILENT).unwrap().fenced);
    assert!(!after.contains(&None), "{led_before:?} -> {after:?}");
    // Its session runs out: the eligible leaders that came back still lead.
    let session_ms = config().session_timeout_ms;
    while h.now_ms <= activated_ms + session_ms + TICK_MS {
        h.tick(TICK_MS);
        h.heartbeat_all_but(&[SILENT]);
    }
    assert!(h.image().broker(SILENT).unwrap().fenced);
    for leader in leaders(&h, topic) {
        assert!(
            matches!(leader, Some(CONTROLLER_NODE | RESTARTED)),
            "{:?}",
            leaders(&h, topic)
        );
    }
}

#[test]
fn a_broker_only_slow_to_find_the_controller_leads_where_it_was_passed_over() {
    // The rule above fenced it; if it was alive after all, its first
    // heartbeat unfences it and no partition is left without a leader.
    let mut h = Harness::new(config());
    let (topic, activated_ms) = restart_the_whole_cluster(&mut h);
    replace_past_the_grace(&mut h, activated_ms);
    h.tick(TICK_MS);
    assert!(!h.heartbeat(SILENT).is_fenced);
    assert!(
        leaders(&h, topic).iter().all(Option::is_some),
        "{:?}",
        leaders(&h, topic)
    );
}

#[test]
fn at_min_insync_one_the_nodes_that_came_back_lead_before_the_silent_ones_session_ends() {
    // With min.insync.replicas=1 nobody joins the ELR while an ISR keeps a
    // member, and the last member of an ISR is its eligible leader. The
    // node that did not come back must leave the ISRs before the replaced
    // registration does, or every partition keeps only it, leaderless.
    let mut h = Harness::new(config());
    let (topic, activated_ms) = restart_the_whole_cluster_with(&mut h, "1");
    replace_past_the_grace(&mut h, activated_ms);
    h.tick(TICK_MS);
    h.heartbeat_all_but(&[SILENT]);
    assert!(
        h.now_ms < activated_ms + config().session_timeout_ms,
        "within the silent registration's session"
    );
    for leader in leaders(&h, topic) {
        assert!(
            matches!(leader, Some(CONTROLLER_NODE | RESTARTED)),
            "{:?}",
            leaders(&h, topic)
        );
    }
    assert!(h.image().broker(SILENT).unwrap().fenced);
}
