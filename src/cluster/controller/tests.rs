//! Controller rules, one scenario each, driven through `handle` with the log
//! committing on demand.

mod configs;
mod manual_assignment;
mod partitions;
mod reassignment;
mod restart;
mod sessions;
mod whole_restart;

use super::*;
use crate::cluster::records::Endpoint;
use crate::cluster::{BrokerId, TopicIdPartition};
use uuid::Uuid;

const CLUSTER: &str = "test-cluster";

/// A controller and a log that commits when told.
pub(super) struct Harness {
    pub(super) controller: Controller,
    pub(super) now_ms: u64,
    next_id: RequestId,
    /// Broker id -> (incarnation, epoch) of the brokers started here.
    pub(super) epochs: std::collections::BTreeMap<BrokerId, (Uuid, i64)>,
}

impl Harness {
    pub(super) fn new(config: ControllerConfig) -> Self {
        Harness {
            controller: Controller::new(config, MetadataImage::new(), 0, 1),
            now_ms: 0,
            next_id: 0,
            epochs: Default::default(),
        }
    }

    pub(super) fn image(&self) -> &MetadataImage {
        self.controller.image()
    }

    /// Sends `request` without committing; returns the outputs.
    pub(super) fn send(&mut self, request: Request) -> (RequestId, Vec<Output>) {
        self.next_id += 1;
        let id = self.next_id;
        let input = Input::Request { id, request };
        (id, self.controller.handle(self.now_ms, input))
    }

    /// Commits everything proposed; returns the replies released.
    pub(super) fn commit(&mut self) -> Vec<(RequestId, Reply)> {
        let offset = self.image().offset();
        let outputs = self
            .controller
            .handle(self.now_ms, Input::Committed { offset });
        replies(outputs)
    }

    /// Sends `request`, commits, and returns its reply.
    pub(super) fn call(&mut self, request: Request) -> Reply {
        let (id, outputs) = self.send(request);
        let mut all = replies(outputs);
        all.extend(self.commit());
        let mine: Vec<Reply> = all
            .into_iter()
            .filter(|(r, _)| *r == id)
            .map(|(_, r)| r)
            .collect();
        assert_eq!(mine.len(), 1, "exactly one reply to request {id}");
        mine.into_iter().next().unwrap()
    }

    /// Advances the clock and ticks; commits what the tick proposed.
    pub(super) fn tick(&mut self, advance_ms: u64) {
        self.now_ms += advance_ms;
        let outputs = self.controller.handle(self.now_ms, Input::Tick);
        assert!(
            !outputs.iter().any(|o| matches!(o, Output::Fault(_))),
            "{outputs:?}"
        );
        self.commit();
    }

    pub(super) fn register_as(
        &mut self,
        broker_id: BrokerId,
        incarnation: Uuid,
        previous_epoch: i64,
    ) -> Result<i64, ResponseError> {
        let request = BrokerRegistrationRequest {
            broker_id,
            cluster_id: CLUSTER.into(),
            incarnation_id: incarnation,
            endpoints: vec![endpoint(broker_id)],
            rack: None,
            previous_broker_epoch: previous_epoch,
        };
        match self.call(Request::RegisterBroker(request)) {
            Reply::RegisterBroker(result) => {
                if let Ok(epoch) = result {
                    self.epochs.insert(broker_id, (incarnation, epoch));
                }
                result
            }
            other => panic!("{other:?}"),
        }
    }

    pub(super) fn heartbeat_with(
        &mut self,
        broker_id: BrokerId,
        offset: i64,
        want_fence: bool,
        want_shut_down: bool,
    ) -> Result<BrokerHeartbeatReply, ResponseError> {
        let epoch = self.epochs[&broker_id].1;
        let request = BrokerHeartbeatRequest {
            broker_id,
            broker_epoch: epoch,
            current_metadata_offset: offset,
            want_fence,
            want_shut_down,
        };
        match self.call(Request::BrokerHeartbeat(request)) {
            Reply::BrokerHeartbeat(result) => result,
            other => panic!("{other:?}"),
        }
    }

    /// A caught-up heartbeat.
    pub(super) fn heartbeat(&mut self, broker_id: BrokerId) -> BrokerHeartbeatReply {
        let offset = self.image().offset();
        self.heartbeat_with(broker_id, offset, false, false)
            .unwrap()
    }

    /// Registers and unfences brokers `1..=n`.
    pub(super) fn start_brokers(&mut self, ids: impl IntoIterator<Item = BrokerId>) {
        for id in ids {
            self.register_as(id, Uuid::from_u128(id as u128 + 1000), -1)
                .unwrap();
            assert!(!self.heartbeat(id).is_fenced);
        }
    }

    /// Caught-up heartbeats from every started broker but `except`.
    pub(super) fn heartbeat_all_but(&mut self, except: &[BrokerId]) {
        let ids: Vec<BrokerId> = self.epochs.keys().copied().collect();
        for id in ids.into_iter().filter(|id| !except.contains(id)) {
            self.heartbeat(id);
        }
    }

    /// Lets one session timeout pass with only the brokers not in `silent`
    /// heartbeating: the silent ones get fenced.
    pub(super) fn silence(&mut self, silent: &[BrokerId]) {
        let timeout_ms = self.controller.config().session_timeout_ms;
        self.tick(timeout_ms / 2);
        self.heartbeat_all_but(silent);
        self.tick(timeout_ms / 2 + 1);
    }

    pub(super) fn create_topic(
        &mut self,
        name: &str,
        partitions: i32,
        rf: i16,
    ) -> Result<Uuid, ResponseError> {
        self.create_topic_with(name, partitions, rf, vec![])
    }

    pub(super) fn create_topic_with(
        &mut self,
        name: &str,
        partitions: i32,
        rf: i16,
        configs: Vec<(String, String)>,
    ) -> Result<Uuid, ResponseError> {
        let topic = NewTopic {
            name: name.into(),
            num_partitions: partitions,
            replication_factor: rf,
            configs,
            assignments: vec![],
        };
        let request = CreateTopicsRequest {
            topics: vec![topic],
            validate_only: false,
        };
        match self.call(Request::CreateTopics(request)) {
            Reply::CreateTopics(mut results) => results.remove(0).1.map(|t| t.topic_id),
            other => panic!("{other:?}"),
        }
    }

    pub(super) fn partition(&self, topic_id: Uuid, partition: i32) -> PartitionRegistrationView {
        let tp = TopicIdPartition {
            topic_id,
            partition,
        };
        self.image().partition(tp).unwrap().clone()
    }
}

pub(super) type PartitionRegistrationView = crate::cluster::records::PartitionRegistration;

pub(super) fn endpoint(broker_id: BrokerId) -> Endpoint {
    Endpoint {
        name: "PLAINTEXT".into(),
        host: format!("broker-{broker_id}"),
        port: 9092,
        security_protocol: 0,
    }
}

fn replies(outputs: Vec<Output>) -> Vec<(RequestId, Reply)> {
    outputs
        .into_iter()
        .filter_map(|o| match o {
            Output::Reply { id, reply } => Some((id, reply)),
            Output::Fault(reason) => panic!("controller fault: {reason}"),
            Output::Append(_) => None,
        })
        .collect()
}

/// A CreatePartitions topic placed by the controller.
pub(super) fn grown(name: &str, count: i32) -> NewPartitions {
    NewPartitions {
        name: name.into(),
        count,
        assignments: vec![],
    }
}

fn config() -> ControllerConfig {
    ControllerConfig::new(CLUSTER)
}

#[test]
fn a_broker_starts_fenced_and_is_unfenced_once_caught_up() {
    let mut h = Harness::new(config());
    let epoch = h.register_as(1, Uuid::from_u128(7), -1).unwrap();
    assert_eq!(epoch, 0, "the epoch is the registration record's offset");
    assert!(h.image().broker(1).unwrap().fenced);
    let behind = h.heartbeat_with(1, epoch - 1, false, false).unwrap();
    assert!(behind.is_fenced && !behind.is_caught_up);
    let recovering = h.heartbeat_with(1, epoch, true, false).unwrap();
    assert!(
        recovering.is_fenced && recovering.is_caught_up,
        "it asked to stay fenced"
    );
    let caught_up = h.heartbeat_with(1, epoch, false, false).unwrap();
    assert!(!caught_up.is_fenced);
    assert!(h.image().is_active(1));
}

#[test]
fn a_second_live_broker_with_the_same_id_or_another_cluster_is_refused() {
    let mut h = Harness::new(config());
    h.start_brokers([1]);
    let first_epoch = h.epochs[&1].1;
    let impostor = Uuid::from_u128(99);
    assert_eq!(
        h.register_as(1, impostor, -1),
        Err(ResponseError::DuplicateBrokerRegistration)
    );
    // The same process retrying keeps its epoch.
    let incarnation = h.epochs[&1].0;
    assert_eq!(h.register_as(1, incarnation, -1), Ok(first_epoch));
    let mut other = Harness::new(config());
    other.controller.config.cluster_id = "another".into();
    assert_eq!(
        other.register_as(2, Uuid::from_u128(5), -1),
        Err(ResponseError::InconsistentClusterId)
    );
    // Once the first one's session ran out, a new incarnation takes over.
    h.tick(config().session_timeout_ms + 1);
    assert!(h.image().broker(1).unwrap().fenced);
    let second = h.register_as(1, impostor, -1).unwrap();
    assert!(second > first_epoch);
    let old = BrokerHeartbeatRequest {
        broker_id: 1,
        broker_epoch: first_epoch,
        current_metadata_offset: 0,
        want_fence: false,
        want_shut_down: false,
    };
    let stale = h.call(Request::BrokerHeartbeat(old));
    assert_eq!(
        stale,
        Reply::BrokerHeartbeat(Err(ResponseError::StaleBrokerEpoch))
    );
}

#[test]
fn a_registration_delayed_from_a_dead_process_does_not_replace_a_live_fenced_one() {
    // Found by the simulator (seed 1209): a registration sent by a process
    // that has since died arrived after its successor registered but before
    // it was unfenced; KRaft's rule (only unfenced brokers hold their id)
    // let it take the registration, and the live process was superseded.
    let mut h = Harness::new(config());
    let epoch = h.register_as(1, Uuid::from_u128(10), -1).unwrap();
    let recovering = h.heartbeat_with(1, epoch, true, false).unwrap();
    assert!(recovering.is_fenced);
    let late = h.register_as(1, Uuid::from_u128(9), -1);
    assert_eq!(late, Err(ResponseError::DuplicateBrokerRegistration));
    assert_eq!(
        h.image().broker(1).unwrap().incarnation_id,
        Uuid::from_u128(10)
    );
    // Silent for a whole session: a new process may take the id.
    h.now_ms += config().session_timeout_ms + 1;
    assert!(h.register_as(1, Uuid::from_u128(11), -1).unwrap() > epoch);
}

#[test]
fn replies_wait_for_commit_and_decisions_see_pending_proposals() {
    let mut h = Harness::new(config());
    h.start_brokers([1, 2, 3]);
    let topic = h.create_topic("t", 1, 3).unwrap();
    let p = h.partition(topic, 0);
    let leader = p.leader.unwrap();
    let broker_epoch = h.epochs[&leader].1;
    let shrink = |isr: Vec<BrokerId>| {
        let epochs = isr.iter().map(|b| (*b, -1)).collect();
        Request::AlterPartition(AlterPartitionRequest {
            broker_id: leader,
            broker_epoch,
            partitions: vec![AlterPartitionItem {
                tp: TopicIdPartition {
                    topic_id: topic,
                    partition: 0,
                },
                leader_epoch: p.leader_epoch,
                partition_epoch: p.partition_epoch,
                new_isr: epochs,
                leader_recovery_state: Default::default(),
            }],
        })
    };
    let followers: Vec<BrokerId> = p
        .replicas
        .iter()
        .copied()
        .filter(|r| *r != leader)
        .collect();
    let (first, outputs) = h.send(shrink(vec![leader, followers[0]]));
    assert!(
        outputs.iter().all(|o| matches!(o, Output::Append(_))),
        "no reply before commit"
    );
    // The same compare-and-set version again loses against the pending change.
    let (second, outputs) = h.send(shrink(vec![leader, followers[1]]));
    assert!(
        outputs.is_empty(),
        "held until the first commits: {outputs:?}"
    );
    let released = h.commit();
    assert_eq!(
        released.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
        [first, second]
    );
    let Reply::AlterPartition(Ok(results)) = &released[1].1 else {
        panic!()
    };
    assert_eq!(results[0].result, Err(ResponseError::InvalidUpdateVersion));
    let Reply::AlterPartition(Ok(results)) = &released[0].1 else {
        panic!()
    };
    let state = results[0].result.as_ref().unwrap();
    assert_eq!(
        (state.leader_epoch, state.partition_epoch),
        (p.leader_epoch, p.partition_epoch + 1)
    );
}

#[test]
fn a_new_controller_starts_from_the_committed_log_only() {
    let mut h = Harness::new(config());
    h.start_brokers([1, 2]);
    let committed = h.image().clone();
    let (_, outputs) = h.send(Request::CreateTopics(CreateTopicsRequest {
        topics: vec![NewTopic {
            name: "lost".into(),
            num_partitions: 1,
            replication_factor: 1,
            configs: vec![],
            assignments: vec![],
        }],
        validate_only: false,
    }));
    assert!(matches!(outputs[0], Output::Append(_)));
    assert!(
        h.image().topic_by_name("lost").is_some(),
        "the old controller sees its proposal"
    );
    // Deposed before the commit: the successor never sees it.
    let mut successor = Controller::new(config(), committed, h.now_ms, 2);
    assert!(successor.image().topic_by_name("lost").is_none());
    let out = successor.handle(h.now_ms + config().session_timeout_ms, Input::Tick);
    assert!(
        out.is_empty(),
        "brokers get a fresh session on failover: {out:?}"
    );
}

#[test]
fn producer_id_blocks_are_disjoint_and_need_a_current_epoch() {
    let mut h = Harness::new(config());
    h.start_brokers([1, 2]);
    let mut blocks = Vec::new();
    for broker_id in [1, 2, 1] {
        let request = AllocateProducerIdsRequest {
            broker_id,
            broker_epoch: h.epochs[&broker_id].1,
        };
        match h.call(Request::AllocateProducerIds(request)) {
            Reply::AllocateProducerIds(Ok(block)) => blocks.push(block),
            other => panic!("{other:?}"),
        }
    }
    let firsts: Vec<i64> = blocks.iter().map(|b| b.first_producer_id).collect();
    assert_eq!(firsts, [0, 1000, 2000]);
    let stale = AllocateProducerIdsRequest {
        broker_id: 1,
        broker_epoch: 12345,
    };
    assert_eq!(
        h.call(Request::AllocateProducerIds(stale)),
        Reply::AllocateProducerIds(Err(ResponseError::StaleBrokerEpoch))
    );
}

#[test]
fn new_topic_ids_are_ones_kafka_could_make() {
    // One plain random id in 64 starts with '-' in base64url: 1,000 topics
    // would all but surely show one (the chance of none is about 1.5e-7).
    let mut h = Harness::new(config());
    h.start_brokers([1]);
    for n in 0..1_000 {
        let id = h.create_topic(&format!("t{n}"), 1, 1).unwrap();
        assert!(
            crate::metadata::kafka_uuid::is_kafka_random_uuid(&id),
            "{id}"
        );
    }
}

#[test]
fn topics_are_validated_and_placed_evenly_and_new_brokers_get_new_partitions() {
    let mut h = Harness::new(config());
    h.start_brokers([1, 2, 3]);
    assert_eq!(
        h.create_topic("too-wide", 1, 4),
        Err(ResponseError::InvalidReplicationFactor)
    );
    assert_eq!(
        h.create_topic("none", 0, 1),
        Err(ResponseError::InvalidPartitions)
    );
    assert_eq!(
        h.create_topic("bad/name", 1, 1),
        Err(ResponseError::InvalidTopicException)
    );
    let bad_config = vec![("min.insync.replicas".to_string(), "many".to_string())];
    assert_eq!(
        h.create_topic_with("cfg", 1, 1, bad_config),
        Err(ResponseError::InvalidConfig)
    );
    let topic = h.create_topic("t", 6, 2).unwrap();
    assert_eq!(
        h.create_topic("t", 1, 1),
        Err(ResponseError::TopicAlreadyExists)
    );
    for broker in 1..=3 {
        assert_eq!(h.image().leaders_of(broker).len(), 2, "leaders of {broker}");
        assert_eq!(
            h.image().isr_partitions_of(broker).len(),
            4,
            "replicas of {broker}"
        );
    }
    h.start_brokers([4]);
    let next = h.create_topic("u", 2, 1).unwrap();
    for partition in 0..2 {
        assert_eq!(
            h.partition(next, partition).replicas,
            [4],
            "the new broker is least loaded"
        );
    }
    let grow = CreatePartitionsRequest {
        topics: vec![grown("t", 8), grown("t-missing", 2), grown("u", 1)],
        validate_only: false,
    };
    let expected = vec![
        ("t".to_string(), Ok(())),
        (
            "t-missing".to_string(),
            Err(ResponseError::UnknownTopicOrPartition),
        ),
        ("u".to_string(), Err(ResponseError::InvalidPartitions)),
    ];
    assert_eq!(
        h.call(Request::CreatePartitions(grow)),
        Reply::CreatePartitions(expected)
    );
    assert_eq!(h.image().topic(topic).unwrap().partitions.len(), 8);
    let delete = DeleteTopicsRequest {
        topics: vec![TopicRef::Name("u".into()), TopicRef::Id(Uuid::from_u128(1))],
    };
    let Reply::DeleteTopics(results) = h.call(Request::DeleteTopics(delete)) else {
        panic!()
    };
    let deleted = DeletedTopic {
        topic_id: next,
        name: "u".into(),
    };
    assert_eq!(results[0].1, Ok(deleted));
    assert_eq!(results[1].1, Err(ResponseError::UnknownTopicId));
    assert!(h.image().topic_by_name("u").is_none());
}

#[test]
fn placement_spreads_replicas_across_racks() {
    let mut h = Harness::new(config());
    for (id, rack) in [(1, "a"), (2, "a"), (3, "b"), (4, "b")] {
        let request = BrokerRegistrationRequest {
            broker_id: id,
            cluster_id: CLUSTER.into(),
            incarnation_id: Uuid::from_u128(id as u128 + 50),
            endpoints: vec![endpoint(id)],
            rack: Some(rack.into()),
            previous_broker_epoch: -1,
        };
        let Reply::RegisterBroker(Ok(epoch)) = h.call(Request::RegisterBroker(request)) else {
            panic!()
        };
        h.epochs
            .insert(id, (Uuid::from_u128(id as u128 + 50), epoch));
        h.heartbeat(id);
    }
    let topic = h.create_topic("racks", 8, 2).unwrap();
    for partition in 0..8 {
        let replicas = h.partition(topic, partition).replicas;
        let racks: Vec<_> = replicas
            .iter()
            .map(|r| h.image().broker(*r).unwrap().rack.clone())
            .collect();
        assert_ne!(racks[0], racks[1], "partition {partition}: {replicas:?}");
    }
}

#[test]
fn too_many_records_in_one_request_is_a_policy_violation() {
    let mut h = Harness::new(config());
    h.start_brokers([1]);
    let limit = config::USER_OP_RECORDS_MAX as i32;
    assert_eq!(
        h.create_topic("big", limit, 1),
        Err(ResponseError::PolicyViolation)
    );
    assert!(h.create_topic("fits", limit - 1, 1).is_ok());
}

#[test]
fn delete_topic_enable_false_refuses_every_topic_and_keeps_them() {
    let mut h = Harness::new(ControllerConfig {
        delete_topic_enable: false,
        ..config()
    });
    h.start_brokers([1]);
    let topic = h.create_topic("kept", 1, 1).unwrap();
    let delete = DeleteTopicsRequest {
        topics: vec![TopicRef::Name("kept".into()), TopicRef::Id(topic)],
    };
    let Reply::DeleteTopics(results) = h.call(Request::DeleteTopics(delete)) else {
        panic!()
    };
    assert!(results
        .iter()
        .all(|(_, r)| *r == Err(ResponseError::TopicDeletionDisabled)));
    assert_eq!(results.len(), 2);
    assert!(h.image().topic_by_name("kept").is_some());
}

#[test]
fn delete_topic_enable_false_refuses_a_request_of_no_topic_with_one_unnamed_row() {
    let mut h = Harness::new(ControllerConfig {
        delete_topic_enable: false,
        ..config()
    });
    h.start_brokers([1]);
    let delete = DeleteTopicsRequest { topics: vec![] };
    let Reply::DeleteTopics(results) = h.call(Request::DeleteTopics(delete)) else {
        panic!()
    };
    let unnamed = TopicRef::Name(String::new());
    assert_eq!(
        results,
        vec![(unnamed, Err(ResponseError::TopicDeletionDisabled))]
    );
}

#[test]
fn delete_topics_of_no_topic_answers_no_row_when_deletion_is_enabled() {
    let mut h = Harness::new(config());
    h.start_brokers([1]);
    let delete = DeleteTopicsRequest { topics: vec![] };
    let Reply::DeleteTopics(results) = h.call(Request::DeleteTopics(delete)) else {
        panic!()
    };
    assert!(results.is_empty());
}

#[test]
fn delete_topics_refuses_repeats_and_a_topic_by_name_and_id_and_deletes_the_rest() {
    let mut h = Harness::new(config());
    h.start_brokers([1]);
    let kept = h.create_topic("kept", 1, 1).unwrap();
    let gone = h.create_topic("gone", 1, 1).unwrap();
    let twice = h.create_topic("twice", 1, 1).unwrap();
    let delete = DeleteTopicsRequest {
        topics: vec![
            TopicRef::Id(kept),
            TopicRef::Name("kept".into()),
            TopicRef::Name("twice".into()),
            TopicRef::Id(gone),
            TopicRef::Name("twice".into()),
        ],
    };
    let Reply::DeleteTopics(results) = h.call(Request::DeleteTopics(delete)) else {
        panic!()
    };
    let codes: Vec<_> = results.iter().map(|(_, r)| r.as_ref().err()).collect();
    let invalid = Some(&ResponseError::InvalidRequest);
    assert_eq!(codes, [invalid, invalid, invalid, None, invalid]);
    assert!(h.image().topic(kept).is_some());
    assert!(h.image().topic(twice).is_some());
    assert!(h.image().topic(gone).is_none());
}
