//! The admin client: random topic creations, partition additions, deletions,
//! leader elections and reassignments (new targets, cancellations, invalid
//! targets) while the faults go on. Its replies are checked to
//! report only committed changes.

use super::checker::Fact;
use super::events::{Body, Event};
use super::{Route, Sim};
use crate::cluster::controller::api::*;
use crate::cluster::TopicIdPartition;

/// Topic names drawn from, so creations collide with existing topics and
/// deletions hit them.
const TOPIC_NAMES: [&str; 6] = ["t0", "t1", "t2", "t3", "t4", "t5"];

/// A broker id no simulated broker has: a target naming it is refused.
const UNREGISTERED_BROKER: crate::cluster::BrokerId = 99;

impl Sim {
    pub(super) fn tick_admin(&mut self) -> Result<(), String> {
        if self.faults_over {
            return Ok(());
        }
        let request = self.admin_request();
        self.send_request(Route::Admin, request);
        let (low, high) = self.params.admin_gap_ms;
        let next = self.now_ms + self.rng.range(low, high);
        self.timeline.schedule(next, Event::TickAdmin);
        Ok(())
    }

    fn admin_request(&mut self) -> Request {
        let name = self
            .rng
            .pick(&TOPIC_NAMES)
            .copied()
            .unwrap_or("t0")
            .to_string();
        match self.rng.below(100) {
            0..45 => Request::CreateTopics(CreateTopicsRequest {
                topics: vec![self.new_topic(name)],
                validate_only: self.rng.chance(50_000),
            }),
            45..60 => {
                let current = self
                    .quorum
                    .committed
                    .topic_by_name(&name)
                    .map_or(1, |t| t.partitions.len());
                let count = current as i32 + self.rng.range(0, 2) as i32;
                Request::CreatePartitions(CreatePartitionsRequest {
                    topics: vec![NewPartitions {
                        name,
                        count,
                        assignments: Vec::new(),
                    }],
                    validate_only: false,
                })
            }
            60..75 => Request::DeleteTopics(DeleteTopicsRequest {
                topics: vec![TopicRef::Name(name)],
            }),
            75..86 => Request::ElectLeaders(ElectLeadersRequest {
                election: ElectionType::Preferred,
                partitions: self.some_partitions(),
            }),
            86..95 => self.reassignment_request(),
            _ => {
                let partitions = self.some_partitions();
                for tp in partitions.iter().flatten() {
                    self.checker.unclean_requested(*tp);
                }
                Request::ElectLeaders(ElectLeadersRequest {
                    election: ElectionType::Unclean,
                    partitions: partitions.or(Some(Vec::new())),
                })
            }
        }
    }

    /// Moves of a few partitions: to 1 to 3 distinct brokers (sometimes one
    /// that never registers: refused), or a cancellation.
    fn reassignment_request(&mut self) -> Request {
        let partitions = self.some_partitions().unwrap_or_default();
        let brokers = self.params.brokers.clone();
        let mut moves = Vec::with_capacity(partitions.len());
        for tp in partitions {
            if self.rng.chance(200_000) {
                moves.push((tp, None));
                continue;
            }
            let mut target = Vec::new();
            for _ in 0..self.rng.range(1, 4) {
                let Some(&b) = self.rng.pick(&brokers) else {
                    break;
                };
                if !target.contains(&b) {
                    target.push(b);
                }
            }
            if self.rng.chance(30_000) {
                target.push(UNREGISTERED_BROKER);
            }
            moves.push((tp, Some(target)));
        }
        Request::AlterReassignments(AlterReassignmentsRequest { partitions: moves })
    }

    fn new_topic(&mut self, name: String) -> NewTopic {
        let mut configs = Vec::new();
        if self.rng.chance(300_000) {
            let min_isr = self.rng.range(1, 3).to_string();
            configs.push(("min.insync.replicas".to_string(), min_isr));
        }
        if self.rng.chance(100_000) {
            configs.push((
                "unclean.leader.election.enable".to_string(),
                "true".to_string(),
            ));
        }
        NewTopic {
            name,
            num_partitions: self.rng.range(0, 4) as i32 - (self.rng.chance(100_000) as i32),
            replication_factor: self.rng.range(1, 3) as i16,
            configs,
            assignments: Vec::new(),
        }
    }

    /// A few partitions of the committed image, or (sometimes) all.
    fn some_partitions(&mut self) -> Option<Vec<TopicIdPartition>> {
        if self.rng.chance(200_000) {
            return None;
        }
        let all: Vec<TopicIdPartition> = self
            .quorum
            .committed
            .partitions()
            .map(|(tp, _)| tp)
            .collect();
        let count = self.rng.range(1, 3);
        Some(
            (0..count)
                .filter_map(|_| self.rng.pick(&all).copied())
                .collect(),
        )
    }

    pub(super) fn at_admin(&mut self, body: Body) -> Result<(), String> {
        let Body::Reply { reply, .. } = body else {
            return Ok(());
        };
        match reply {
            Reply::CreateTopics(results) => {
                for (_, result) in results {
                    match result {
                        Ok(topic) if !topic.topic_id.is_nil() => self
                            .checker
                            .reported("admin", Fact::Topic(topic.topic_id))?,
                        _ => {}
                    }
                }
                Ok(())
            }
            Reply::DeleteTopics(results) => {
                for (_, result) in results {
                    if let Ok(deleted) = result {
                        self.checker
                            .reported("admin", Fact::TopicRemoved(deleted.topic_id))?;
                    }
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}
