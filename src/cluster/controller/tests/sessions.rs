//! Fencing a broker whose connections to the controllers closed (a process
//! killed -9) sooner than its session timeout, without fencing live ones.

use super::*;

fn connections_lost(h: &mut Harness, lost: Vec<(BrokerId, u64)>) {
    let outputs = h.controller.handle(h.now_ms, Input::ConnectionsLost(lost));
    assert!(outputs.is_empty(), "{outputs:?}");
}

/// `broker`'s connections closed just now.
fn lost_now(h: &mut Harness, broker: BrokerId) {
    let now_ms = h.now_ms;
    connections_lost(h, vec![(broker, now_ms)]);
}

fn fenced(h: &Harness, id: BrokerId) -> bool {
    h.image().broker(id).unwrap().fenced
}

/// Three running brokers and an RF=3 topic; returns its partition 0's leader.
fn cluster(h: &mut Harness) -> (Uuid, BrokerId) {
    h.start_brokers([1, 2, 3]);
    let topic = h.create_topic("t", 1, 3).unwrap();
    (topic, h.partition(topic, 0).leader.unwrap())
}

#[test]
fn a_broker_whose_connections_closed_is_fenced_once_its_next_heartbeat_is_overdue() {
    let mut h = Harness::new(config());
    let (topic, leader) = cluster(&mut h);
    let interval_ms = config().broker_heartbeat_interval_ms;
    h.tick(500);
    h.heartbeat_all_but(&[]);
    let heard_ms = h.now_ms;
    h.tick(500);
    lost_now(&mut h, leader);
    // Its next heartbeat was due one interval after the last, plus half an
    // interval for a reconnect.
    let due_ms = heard_ms + interval_ms + interval_ms / 2;
    h.tick(due_ms - 1 - h.now_ms);
    h.heartbeat_all_but(&[leader]);
    assert!(!fenced(&h, leader), "within the grace");
    h.tick(1);
    assert!(fenced(&h, leader), "its heartbeat is overdue");
    assert!(h.now_ms < heard_ms + config().session_timeout_ms);
    let p = h.partition(topic, 0);
    assert!(p.leader.is_some_and(|l| l != leader), "{p:?}");
    assert!(!p.isr.contains(&leader), "{p:?}");
}

#[test]
fn a_broker_heard_from_after_its_connections_closed_is_not_fenced_for_it() {
    let mut h = Harness::new(config());
    let (_, leader) = cluster(&mut h);
    let interval_ms = config().broker_heartbeat_interval_ms;
    h.tick(100);
    lost_now(&mut h, leader);
    // It reconnected elsewhere and heartbeats, while a stale report of the
    // closed connection still names it.
    h.tick(interval_ms / 2);
    h.heartbeat_all_but(&[]);
    for _ in 0..4 {
        h.tick(interval_ms);
        assert!(!fenced(&h, leader));
        h.heartbeat_all_but(&[]);
    }
    // A report that no longer names it clears the mark altogether.
    connections_lost(&mut h, vec![]);
    h.tick(interval_ms);
    assert!(!fenced(&h, leader));
}

#[test]
fn a_new_controller_gives_a_lost_broker_one_interval_from_its_activation() {
    let mut h = Harness::new(config());
    let (_, leader) = cluster(&mut h);
    let interval_ms = config().broker_heartbeat_interval_ms;
    h.tick(100);
    h.heartbeat_all_but(&[]);
    let closed_ms = h.now_ms;
    // The old controller's node died; a new one activates over the
    // committed image some time later.
    h.now_ms += 1500;
    let activated_ms = h.now_ms;
    let image = h.image().clone();
    h.controller = Controller::new(config(), image, activated_ms, 2);
    connections_lost(&mut h, vec![(leader, closed_ms)]);
    let due_ms = activated_ms + interval_ms + interval_ms / 2;
    h.tick(due_ms - 1 - h.now_ms);
    h.heartbeat_all_but(&[leader]);
    assert!(
        !fenced(&h, leader),
        "live brokers get an interval to find it"
    );
    h.tick(1);
    assert!(fenced(&h, leader));
}

#[test]
fn fencing_for_lost_connections_happens_once_per_session_timeout() {
    let mut h = Harness::new(config());
    let (_, leader) = cluster(&mut h);
    let interval_ms = config().broker_heartbeat_interval_ms;
    lost_now(&mut h, leader);
    h.tick(interval_ms + interval_ms / 2);
    assert!(fenced(&h, leader));
    // A live broker wrongly fenced comes back at once...
    h.tick(100);
    assert!(!h.heartbeat(leader).is_fenced);
    assert!(!fenced(&h, leader));
    // ...and its connections flap again: no second early fence, only the
    // session timeout may fence it now.
    lost_now(&mut h, leader);
    let mut waited_ms = 0;
    while waited_ms + interval_ms < config().session_timeout_ms - interval_ms {
        h.tick(interval_ms);
        waited_ms += interval_ms;
        h.heartbeat_all_but(&[leader]);
        assert!(!fenced(&h, leader), "fenced again after {waited_ms} ms");
    }
    h.tick(config().session_timeout_ms);
    assert!(fenced(&h, leader), "silent for a whole session");
}
