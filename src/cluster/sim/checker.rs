//! The invariants, checked after every step that changes what they look at.
//!
//! Safety, on the committed log (a deposed controller's lost proposals never
//! count): at most one leader per partition per leader epoch; the leader is in
//! the ISR; leader and partition epochs only rise, the partition epoch with
//! every change; a new leader comes from the previous ISR or ELR unless the
//! election was unclean (marked Recovering); ISR and ELR are disjoint and
//! never both empty (some replica may always lead cleanly again); a
//! fenced broker leads nothing and stays in an ISR only as its last member
//! with no leader; a broker id's epoch only rises; producer id blocks never
//! overlap. Reassignment (KIP-455): a replica leaves the replica list only
//! once every remaining replica is in the ISR, or by a cancellation (which
//! drops only the replicas it was adding). Not checked: that every move
//! completes once settled (the simulated leaders stop changing ISRs when
//! the faults stop, so a move in flight then stays in flight). Every broker's image equals the log's image at the same offset;
//! an active controller with nothing pending has exactly the log's image.
//! Every reply reports only what is committed. A registration never replaces
//! the running process's own with another incarnation's (a live process is
//! never superseded: its next heartbeat would fail it as a duplicate).
//!
//! Liveness, at the end, once faults have stopped: see [`Checker::settled`].

use crate::cluster::controller::api::ProducerIdBlock;
use crate::cluster::controller::ControllerConfig;
use crate::cluster::image::MetadataImage;
use crate::cluster::records::{
    LeaderRecoveryState, MetadataRecord, PartitionRegistration, RecordBatch,
};
use crate::cluster::{BrokerId, TopicIdPartition};
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;

/// Something the committed log has said, that a reply may report.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Fact {
    Registered(BrokerId, i64),
    Unfenced(BrokerId, i64),
    Fenced(BrokerId, i64),
    Topic(Uuid),
    TopicRemoved(Uuid),
    ProducerIdsUpTo(i64),
    PartitionEpoch(TopicIdPartition, i32),
}

#[derive(Default)]
pub(crate) struct Checker {
    partitions: BTreeMap<TopicIdPartition, PartitionRegistration>,
    broker_epochs: BTreeMap<BrokerId, i64>,
    /// The incarnation each broker id's last committed registration names.
    registered: BTreeMap<BrokerId, Uuid>,
    /// Image digest at every committed batch end.
    digests: BTreeMap<i64, u64>,
    facts: BTreeSet<Fact>,
    blocks: Vec<ProducerIdBlock>,
    /// Partitions an admin asked an unclean election for.
    unclean_requested: BTreeSet<TopicIdPartition>,
    /// New leaders elected from the ISR, from the ELR, uncleanly.
    pub(crate) elections: [u64; 3],
    /// Reassignments completed, cancelled.
    pub(crate) moves: [u64; 2],
}

type Check = Result<(), String>;

impl Checker {
    /// After `batch` committed and was applied to `image`.
    pub(crate) fn on_commit(
        &mut self,
        batch: &RecordBatch,
        image: &MetadataImage,
        config: &ControllerConfig,
    ) -> Check {
        for record in &batch.records {
            self.learn(record, image);
        }
        self.digests.insert(image.offset(), image.digest());
        self.check_brokers(image)?;
        self.check_partitions(image, config)
    }

    /// Before `batch` is checked: `running` names the incarnation of each
    /// broker id's running process. A registration may replace a dead
    /// process's, never the running one's.
    pub(crate) fn on_registrations(
        &mut self,
        batch: &RecordBatch,
        running: &BTreeMap<BrokerId, Uuid>,
    ) -> Check {
        for record in &batch.records {
            let MetadataRecord::RegisterBroker(r) = record else {
                continue;
            };
            let previous = self.registered.insert(r.broker_id, r.incarnation_id);
            let Some(live) = running.get(&r.broker_id) else {
                continue;
            };
            if previous == Some(*live) && r.incarnation_id != *live {
                return Err(format!(
                    "broker {}: the running process's registration (incarnation {live}) was \
                     replaced by incarnation {} at epoch {}",
                    r.broker_id, r.incarnation_id, r.broker_epoch
                ));
            }
        }
        Ok(())
    }

    fn learn(&mut self, record: &MetadataRecord, image: &MetadataImage) {
        use MetadataRecord as M;
        let fact = match record {
            M::RegisterBroker(r) => Fact::Registered(r.broker_id, r.broker_epoch),
            M::UnfenceBroker(r) => Fact::Unfenced(r.broker_id, r.broker_epoch),
            M::FenceBroker(r) => Fact::Fenced(r.broker_id, r.broker_epoch),
            M::Topic(r) => Fact::Topic(r.topic_id),
            M::RemoveTopic(r) => Fact::TopicRemoved(r.topic_id),
            M::ProducerIds(r) => Fact::ProducerIdsUpTo(r.next_producer_id),
            M::Partition(r) => {
                let tp = TopicIdPartition {
                    topic_id: r.topic_id,
                    partition: r.partition_id,
                };
                Fact::PartitionEpoch(tp, r.registration.partition_epoch)
            }
            M::PartitionChange(r) => {
                let tp = TopicIdPartition {
                    topic_id: r.topic_id,
                    partition: r.partition_id,
                };
                let Some(p) = image.partition(tp) else { return };
                Fact::PartitionEpoch(tp, p.partition_epoch)
            }
            _ => return,
        };
        self.facts.insert(fact);
    }

    fn check_brokers(&mut self, image: &MetadataImage) -> Check {
        for broker in image.brokers() {
            let last = self
                .broker_epochs
                .entry(broker.broker_id)
                .or_insert(broker.broker_epoch);
            if broker.broker_epoch < *last {
                return Err(format!(
                    "broker {} epoch went back from {last} to {}",
                    broker.broker_id, broker.broker_epoch
                ));
            }
            *last = broker.broker_epoch;
        }
        Ok(())
    }

    fn check_partitions(&mut self, image: &MetadataImage, config: &ControllerConfig) -> Check {
        let mut seen = BTreeMap::new();
        for (tp, p) in image.partitions() {
            check_shape(image, tp, p)?;
            if let Some(old) = self.partitions.get(&tp) {
                let topic = image.topic(tp.topic_id).map_or("", |t| t.name.as_str());
                let unclean_allowed = config.unclean_leader_election(image, topic)
                    || self.unclean_requested.contains(&tp);
                if let Some(kind) = check_transition(tp, old, p, unclean_allowed)? {
                    self.elections[kind as usize] += 1;
                }
                if old.is_reassigning() && !p.is_reassigning() {
                    let cancelled = p.replicas == old.original_replicas();
                    self.moves[cancelled as usize] += 1;
                }
            }
            seen.insert(tp, p.clone());
        }
        self.partitions = seen;
        Ok(())
    }

    /// An admin asked for an unclean election of `tp`.
    pub(crate) fn unclean_requested(&mut self, tp: TopicIdPartition) {
        self.unclean_requested.insert(tp);
    }

    /// A broker applied the log up to `image.offset()`.
    pub(crate) fn broker_image(&self, broker: BrokerId, image: &MetadataImage) -> Check {
        match self.digests.get(&image.offset()) {
            Some(digest) if *digest == image.digest() => Ok(()),
            Some(_) => Err(format!(
                "broker {broker}: image at offset {} differs from the log's",
                image.offset()
            )),
            None => Err(format!(
                "broker {broker}: image at offset {}, not a committed batch end",
                image.offset()
            )),
        }
    }

    /// A reply said `fact`; the log must have said it first.
    pub(crate) fn reported(&self, who: &str, fact: Fact) -> Check {
        if self.facts.contains(&fact) {
            Ok(())
        } else {
            Err(format!(
                "{who} was told {fact:?} before the log committed it"
            ))
        }
    }

    /// A reply said broker `id` (epoch `epoch`) is fenced: the log fenced it,
    /// or registered it (fenced) and never unfenced it.
    pub(crate) fn reported_fenced(&self, who: &str, id: BrokerId, epoch: i64) -> Check {
        let never_unfenced = self.facts.contains(&Fact::Registered(id, epoch))
            && !self.facts.contains(&Fact::Unfenced(id, epoch));
        if never_unfenced {
            return Ok(());
        }
        self.reported(who, Fact::Fenced(id, epoch))
    }

    /// A broker received a producer id block.
    pub(crate) fn producer_block(&mut self, broker: BrokerId, block: ProducerIdBlock) -> Check {
        let end = block.first_producer_id + block.len as i64;
        self.reported(&format!("broker {broker}"), Fact::ProducerIdsUpTo(end))?;
        let overlaps = |b: &ProducerIdBlock| {
            let other_end = b.first_producer_id + b.len as i64;
            block.first_producer_id < other_end && b.first_producer_id < end
        };
        if let Some(other) = self.blocks.iter().find(|b| overlaps(b) && **b != block) {
            return Err(format!("producer id block {block:?} overlaps {other:?}"));
        }
        self.blocks.push(block);
        Ok(())
    }

    /// Liveness once the faults stopped and the cluster had time to settle:
    /// every broker registered and unfenced; every partition that has a live
    /// ISR member (or, with an empty ISR, a live ELR member, or with unclean
    /// election any live replica) has a leader.
    pub(crate) fn settled(
        &self,
        image: &MetadataImage,
        brokers: &[BrokerId],
        config: &ControllerConfig,
    ) -> Check {
        for &id in brokers {
            if !image.is_active(id) {
                return Err(format!(
                    "broker {id} is not registered, unfenced and running after the faults stopped"
                ));
            }
        }
        for (tp, p) in image.partitions() {
            let live = |ids: &[BrokerId]| ids.iter().any(|b| image.is_active(*b));
            let topic = image.topic(tp.topic_id).map_or("", |t| t.name.as_str());
            let electable = live(&p.isr)
                || (p.isr.is_empty() && live(&p.elr))
                || (config.unclean_leader_election(image, topic) && live(&p.replicas));
            if electable && p.leader.is_none() {
                return Err(format!(
                    "partition {tp} has live eligible replicas but no leader: {p:?}"
                ));
            }
        }
        Ok(())
    }
}

/// Invariants of one partition in one image.
fn check_shape(image: &MetadataImage, tp: TopicIdPartition, p: &PartitionRegistration) -> Check {
    if let Some(leader) = p.leader {
        if !p.isr.contains(&leader) {
            return Err(format!(
                "partition {tp}: leader {leader} is not in the ISR {:?}",
                p.isr
            ));
        }
        match image.broker(leader) {
            Some(b) if !b.fenced => {}
            _ => {
                return Err(format!(
                    "partition {tp}: leader {leader} is fenced or unregistered"
                ))
            }
        }
    }
    if p.isr.is_empty() && p.elr.is_empty() {
        return Err(format!(
            "partition {tp}: ISR and ELR both empty, no replica may ever lead it cleanly: {p:?}"
        ));
    }
    if let Some(both) = p.isr.iter().find(|b| p.elr.contains(b)) {
        return Err(format!(
            "partition {tp}: broker {both} is in both ISR and ELR"
        ));
    }
    for member in &p.isr {
        let fenced = image.broker(*member).is_none_or(|b| b.fenced);
        if fenced && (p.isr.len() > 1 || p.leader.is_some()) {
            return Err(format!(
                "partition {tp}: fenced broker {member} stays in ISR {:?}",
                p.isr
            ));
        }
    }
    Ok(())
}

/// A replica leaves only as a reassignment completes (every remaining
/// replica in the new ISR, nothing in flight any more) or is cancelled (only
/// the replicas it was adding leave, back to the original list).
fn check_replicas_leave(
    tp: TopicIdPartition,
    old: &PartitionRegistration,
    new: &PartitionRegistration,
) -> Check {
    let left: Vec<BrokerId> = old
        .replicas
        .iter()
        .copied()
        .filter(|r| !new.replicas.contains(r))
        .collect();
    if left.is_empty() {
        return Ok(());
    }
    let cancelled = left.iter().all(|r| old.adding.contains(r))
        && new.replicas == old.original_replicas()
        && !new.is_reassigning();
    let completed = new.replicas.iter().all(|r| new.isr.contains(r)) && !new.is_reassigning();
    if cancelled || completed {
        return Ok(());
    }
    Err(format!(
        "partition {tp}: replicas {left:?} left before the reassignment's targets were in \
         sync: {old:?} -> {new:?}"
    ))
}

/// Where a new leader came from.
#[derive(Clone, Copy)]
enum Elected {
    Isr = 0,
    Elr = 1,
    Unclean = 2,
}

/// Invariants of one partition between two committed images; returns where
/// a new leader came from.
fn check_transition(
    tp: TopicIdPartition,
    old: &PartitionRegistration,
    new: &PartitionRegistration,
    unclean_allowed: bool,
) -> Result<Option<Elected>, String> {
    if new.leader_epoch < old.leader_epoch || new.partition_epoch < old.partition_epoch {
        return Err(format!(
            "partition {tp}: epochs went back: {old:?} -> {new:?}"
        ));
    }
    if new != old && new.partition_epoch == old.partition_epoch {
        return Err(format!(
            "partition {tp}: changed without a new partition epoch: {old:?} -> {new:?}"
        ));
    }
    if new.leader_epoch == old.leader_epoch && new.leader != old.leader {
        return Err(format!(
            "partition {tp}: two leaders in leader epoch {}: {:?} and {:?}",
            new.leader_epoch, old.leader, new.leader
        ));
    }
    check_replicas_leave(tp, old, new)?;
    if let Some(leader) = new.leader {
        // The change completing a reassignment may put a caught-up replica
        // in the ISR (its leader's AlterPartition) and elect it at once.
        let completed_onto =
            old.is_reassigning() && !new.is_reassigning() && new.isr.contains(&leader);
        let was_eligible = old.isr.contains(&leader) || old.elr.contains(&leader) || completed_onto;
        let unclean = new.leader_recovery_state == LeaderRecoveryState::Recovering;
        if new.leader != old.leader && !was_eligible && !unclean {
            return Err(format!(
                "partition {tp}: leader {leader} elected from outside ISR {:?} and ELR {:?}",
                old.isr, old.elr
            ));
        }
        if new.leader != old.leader && !was_eligible && !unclean_allowed {
            return Err(format!(
                "partition {tp}: unclean election of {leader} where none was allowed"
            ));
        }
        if new.leader != old.leader {
            return Ok(Some(if !was_eligible {
                Elected::Unclean
            } else if old.isr.contains(&leader) || completed_onto {
                Elected::Isr
            } else {
                Elected::Elr
            }));
        }
    }
    Ok(None)
}
