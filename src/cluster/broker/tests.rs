//! The lifecycle against a real controller, requests and replies passed by
//! hand so each test can lose, delay or repeat them.

use super::*;
use crate::cluster::controller::{Controller, ControllerConfig, Input, Output};
use crate::cluster::image::MetadataImage;

const CLUSTER: &str = "lifecycle-test";

struct Pair {
    controller: Controller,
    broker: BrokerLifecycle,
    now_ms: u64,
}

impl Pair {
    fn new(broker_id: BrokerId, incarnation: u128) -> Self {
        let controller =
            Controller::new(ControllerConfig::new(CLUSTER), MetadataImage::new(), 0, 9);
        Pair {
            controller,
            broker: BrokerLifecycle::new(config(broker_id, incarnation), 0),
            now_ms: 0,
        }
    }

    /// Ticks the broker; returns the request it sent, if any.
    fn tick(&mut self, advance_ms: u64) -> Option<(RequestId, Request)> {
        self.now_ms += advance_ms;
        sent(self.broker.handle(self.now_ms, LifecycleInput::Tick))
    }

    /// The controller's committed reply to `request`.
    fn answer(&mut self, request: Request) -> Reply {
        let input = Input::Request { id: 1, request };
        let mut outputs = self.controller.handle(self.now_ms, input);
        let offset = self.controller.image().offset();
        outputs.extend(
            self.controller
                .handle(self.now_ms, Input::Committed { offset }),
        );
        outputs
            .into_iter()
            .find_map(|o| match o {
                Output::Reply { reply, .. } => Some(reply),
                _ => None,
            })
            .expect("a reply")
    }

    fn deliver(&mut self, id: RequestId, reply: Reply) -> Vec<LifecycleOutput> {
        self.broker
            .handle(self.now_ms, LifecycleInput::Reply { id, reply })
    }

    /// One request-reply round trip started by a tick.
    fn round(&mut self, advance_ms: u64) -> Vec<LifecycleOutput> {
        match self.tick(advance_ms) {
            Some((id, request)) => {
                let reply = self.answer(request);
                self.deliver(id, reply)
            }
            None => Vec::new(),
        }
    }

    fn caught_up(&mut self) {
        let offset = self.controller.image().offset();
        self.broker
            .handle(self.now_ms, LifecycleInput::MetadataApplied { offset });
    }
}

fn config(broker_id: BrokerId, incarnation: u128) -> LifecycleConfig {
    LifecycleConfig::new(broker_id, CLUSTER, Uuid::from_u128(incarnation))
}

fn sent(outputs: Vec<LifecycleOutput>) -> Option<(RequestId, Request)> {
    outputs.into_iter().find_map(|o| match o {
        LifecycleOutput::Send { id, request } => Some((id, request)),
        _ => None,
    })
}

#[test]
fn registers_stays_fenced_until_ready_and_caught_up_then_runs() {
    let mut p = Pair::new(1, 1);
    p.round(0);
    assert_eq!(p.broker.state(), LifecycleState::Recovery);
    assert_eq!(p.broker.broker_epoch(), Some(0));
    p.caught_up();
    p.round(0);
    assert_eq!(
        p.broker.state(),
        LifecycleState::Recovery,
        "logs not recovered yet"
    );
    // Ready and caught up: it asks at once (Kafka's
    // `setReadyToUnfence` schedules the next heartbeat immediately).
    p.broker.handle(p.now_ms, LifecycleInput::ReadyToUnfence);
    let outputs = p.round(1);
    assert_eq!(
        outputs,
        [LifecycleOutput::StateChanged(LifecycleState::Running)]
    );
    assert!(p.tick(1).is_none(), "then heartbeats at the interval");
}

#[test]
fn a_ready_broker_asks_to_be_unfenced_once_it_applied_its_registration() {
    let mut p = Pair::new(1, 1);
    // As a process starts: logs recovered first, then registered.
    p.broker.handle(p.now_ms, LifecycleInput::ReadyToUnfence);
    p.round(0);
    let epoch = p.broker.broker_epoch().unwrap();
    // The first heartbeat, before its registration record is applied here:
    // the controller keeps it fenced.
    p.round(10);
    assert_eq!(p.broker.state(), LifecycleState::Recovery);
    assert!(
        p.tick(10).is_none(),
        "not caught up: waits for the interval"
    );
    p.broker
        .handle(p.now_ms, LifecycleInput::MetadataApplied { offset: epoch });
    let outputs = p.round(10);
    assert_eq!(
        outputs,
        [LifecycleOutput::StateChanged(LifecycleState::Running)],
        "asked as soon as caught up, not a heartbeat interval later"
    );
}

#[test]
fn a_fenced_broker_refused_after_asking_waits_for_the_interval() {
    let mut p = Pair::new(1, 1);
    p.broker.handle(p.now_ms, LifecycleInput::ReadyToUnfence);
    p.round(0);
    p.caught_up();
    let (id, _) = p.tick(10).expect("asks at once");
    // Refused for now (say, a controller change): no hurry any more.
    p.deliver(
        id,
        Reply::BrokerHeartbeat(Err(ResponseError::NotController)),
    );
    p.caught_up();
    assert!(
        p.tick(10).is_none(),
        "waits for the backoff, no resend loop"
    );
    assert!(p.tick(500).is_some(), "then tries again");
}

#[test]
fn a_lost_reply_is_sent_again_and_a_late_one_ignored() {
    let mut p = Pair::new(1, 1);
    let (first_id, request) = p.tick(0).unwrap();
    let late = p.answer(request);
    assert!(p.tick(2999).is_none(), "waits for the request timeout");
    let (second_id, request) = p.tick(1).expect("sent again");
    assert_ne!(first_id, second_id);
    assert!(
        p.deliver(first_id, late).is_empty(),
        "the late reply is ignored"
    );
    let reply = p.answer(request);
    p.deliver(second_id, reply.clone());
    assert_eq!(
        p.broker.broker_epoch(),
        Some(0),
        "the retry amended, same epoch"
    );
    assert!(
        p.deliver(second_id, reply).is_empty(),
        "a duplicate is ignored"
    );
}

#[test]
fn controlled_shutdown_exits_cleanly_once_allowed() {
    let mut p = Pair::new(1, 1);
    p.round(0);
    p.caught_up();
    p.broker.handle(p.now_ms, LifecycleInput::ReadyToUnfence);
    p.round(0);
    assert_eq!(p.broker.state(), LifecycleState::Running);
    let outputs = p.broker.handle(p.now_ms, LifecycleInput::BeginShutdown);
    assert_eq!(
        outputs,
        [LifecycleOutput::StateChanged(
            LifecycleState::PendingControlledShutdown
        )]
    );
    p.caught_up();
    let outputs = p.round(500);
    assert!(outputs.contains(&LifecycleOutput::Exit), "{outputs:?}");
    assert_eq!(p.broker.clean_shutdown_epoch(), Some(0));
}

#[test]
fn a_duplicate_node_id_or_another_cluster_fails_start_up_naming_the_cause() {
    let mut p = Pair::new(1, 1);
    p.round(0);
    p.caught_up();
    p.broker.handle(p.now_ms, LifecycleInput::ReadyToUnfence);
    p.round(0);
    // A second process with node.id 1, while the first keeps heartbeating.
    let mut second = BrokerLifecycle::new(config(1, 2), p.now_ms);
    let mut t = p.now_ms;
    while !matches!(second.state(), LifecycleState::Failed(_)) {
        t += 500;
        p.now_ms = t;
        p.round(0);
        if let Some((id, request)) = sent(second.handle(t, LifecycleInput::Tick)) {
            let reply = p.answer(request);
            second.handle(t, LifecycleInput::Reply { id, reply });
        }
        assert!(t < 120_000, "never gave up");
    }
    assert_eq!(
        second.state(),
        LifecycleState::Failed(LifecycleError::DuplicateBrokerId)
    );
    assert_eq!(
        p.broker.state(),
        LifecycleState::Running,
        "the first one is untouched"
    );

    let mut other =
        BrokerLifecycle::new(LifecycleConfig::new(2, "elsewhere", Uuid::from_u128(3)), 0);
    let (id, request) = sent(other.handle(0, LifecycleInput::Tick)).unwrap();
    let reply = p.answer(request);
    other.handle(0, LifecycleInput::Reply { id, reply });
    assert_eq!(
        other.state(),
        LifecycleState::Failed(LifecycleError::InconsistentClusterId)
    );
}
