//! A combined broker+controller node killed -9 that restarts and becomes the
//! active controller (issue 12): its dead incarnation's registration is
//! still unfenced in the log, and no one else will ever fence it before its
//! session times out, so the new controller does it at its first tick and
//! lets its own new incarnation register at once. Another node's broker
//! killed across a controller change: its new incarnation may replace the
//! registration once a live broker would have been heard from (one heartbeat
//! interval and a half after the activation).

use super::*;

const NODE: BrokerId = 1;

fn fenced(h: &Harness, id: BrokerId) -> bool {
    h.image().broker(id).unwrap().fenced
}

/// Brokers 1..=3 running, an RF=3 topic and an RF=1 one; then node 1's
/// process dies with the controller and restarts as `restarted`, which
/// becomes the active controller over the committed image 3 s later.
/// Returns the RF=3 topic, the RF=1 topic with its partition on node 1, and
/// the activation time.
fn restart_as_controller(h: &mut Harness, local_broker: Option<Uuid>) -> Restarted {
    h.start_brokers([1, 2, 3]);
    let replicated = h.create_topic("replicated", 3, 3).unwrap();
    let solo = h.create_topic("solo", 3, 1).unwrap();
    let on_node = (0..3)
        .find(|p| h.partition(solo, *p).replicas == vec![NODE])
        .unwrap();
    h.tick(100);
    h.heartbeat_all_but(&[]);
    h.now_ms += 3000;
    let mut config = config();
    config.local_broker = local_broker.map(|incarnation| (NODE, incarnation));
    let image = h.image().clone();
    h.controller = Controller::new(config, image, h.now_ms, 2);
    Restarted {
        replicated,
        solo: (solo, on_node),
        activated_ms: h.now_ms,
    }
}

struct Restarted {
    replicated: Uuid,
    solo: (Uuid, i32),
    activated_ms: u64,
}

fn led_by(h: &Harness, topic: Uuid, broker: BrokerId) -> usize {
    (0..3)
        .filter(|p| h.partition(topic, *p).leader == Some(broker))
        .count()
}

#[test]
fn the_controllers_dead_incarnation_is_fenced_at_its_first_tick() {
    let mut h = Harness::new(config());
    let restarted = Uuid::from_u128(77);
    let replicated = restart_as_controller(&mut h, Some(restarted)).replicated;
    assert!(
        led_by(&h, replicated, NODE) > 0,
        "placement leads one on it"
    );
    assert!(!fenced(&h, NODE));
    h.tick(TICK_MS);
    assert!(fenced(&h, NODE), "never heard and not this process");
    assert_eq!(led_by(&h, replicated, NODE), 0, "its leaderships moved");
    for p in 0..3 {
        assert!(h.partition(replicated, p).leader.is_some());
    }
}

#[test]
fn the_controllers_new_incarnation_registers_and_leads_again_at_once() {
    let mut h = Harness::new(config());
    let restarted = Uuid::from_u128(77);
    let restart = restart_as_controller(&mut h, Some(restarted));
    let (solo, on_node) = restart.solo;
    // Its broker asks before the first tick, even.
    let old_epoch = h.image().broker(NODE).unwrap().broker_epoch;
    let epoch = h.register_as(NODE, restarted, -1).unwrap();
    assert!(epoch > old_epoch);
    assert!(!h.heartbeat(NODE).is_fenced);
    h.tick(TICK_MS);
    assert_eq!(h.partition(solo, on_node).leader, Some(NODE));
    let interval_ms = config().broker_heartbeat_interval_ms;
    assert!(h.now_ms < restart.activated_ms + interval_ms);
}

#[test]
fn another_process_cannot_take_the_controllers_node_id() {
    let mut h = Harness::new(config());
    let restarted = Uuid::from_u128(77);
    restart_as_controller(&mut h, Some(restarted));
    h.register_as(NODE, restarted, -1).unwrap();
    h.heartbeat(NODE);
    h.tick(TICK_MS);
    assert!(!fenced(&h, NODE), "this process's own registration stays");
    assert_eq!(
        h.register_as(NODE, Uuid::from_u128(78), -1),
        Err(ResponseError::DuplicateBrokerRegistration)
    );
}

#[test]
fn without_a_local_broker_the_dead_registration_keeps_its_session_for_a_grace() {
    // A controller-only node (or another node's controller) cannot tell a
    // dead process from a live one not heard yet: until a live one would
    // have found it, the session rule holds.
    let mut h = Harness::new(config());
    restart_as_controller(&mut h, None);
    h.tick(TICK_MS);
    assert!(!fenced(&h, NODE));
    assert_eq!(
        h.register_as(NODE, Uuid::from_u128(77), -1),
        Err(ResponseError::DuplicateBrokerRegistration)
    );
}

/// One heartbeat interval and a half: when a live broker has found a new
/// controller.
fn grace_ms() -> u64 {
    let interval_ms = config().broker_heartbeat_interval_ms;
    interval_ms + interval_ms / 2
}

#[test]
fn another_brokers_unheard_registration_is_replaced_once_past_the_grace() {
    // Issue 12: a broker killed across a controller change used to be
    // refused a whole session timeout after the new controller's activation.
    let mut h = Harness::new(config());
    let restart = restart_as_controller(&mut h, None);
    let (solo, on_node) = restart.solo;
    let old_epoch = h.image().broker(NODE).unwrap().broker_epoch;
    let restarted = Uuid::from_u128(77);
    h.tick(restart.activated_ms + grace_ms() - 1 - h.now_ms);
    h.heartbeat_all_but(&[NODE]);
    assert_eq!(
        h.register_as(NODE, restarted, -1),
        Err(ResponseError::DuplicateBrokerRegistration),
        "a live broker may still be on its way"
    );
    h.tick(1);
    let epoch = h.register_as(NODE, restarted, -1).unwrap();
    assert!(epoch > old_epoch);
    assert!(h.now_ms < restart.activated_ms + config().session_timeout_ms);
    assert!(!h.heartbeat(NODE).is_fenced);
    h.tick(TICK_MS);
    assert_eq!(h.partition(solo, on_node).leader, Some(NODE));
}

#[test]
fn a_registration_heard_in_this_term_keeps_its_session() {
    // The broker found the new controller: another process under its id is
    // refused for a whole session timeout, as before.
    let mut h = Harness::new(config());
    let restart = restart_as_controller(&mut h, None);
    h.tick(TICK_MS);
    h.heartbeat_all_but(&[]);
    h.tick(restart.activated_ms + grace_ms() + TICK_MS - h.now_ms);
    assert_eq!(
        h.register_as(NODE, Uuid::from_u128(77), -1),
        Err(ResponseError::DuplicateBrokerRegistration)
    );
    assert!(!fenced(&h, NODE));
}

/// The I/O layer's controller tick.
const TICK_MS: u64 = 250;
