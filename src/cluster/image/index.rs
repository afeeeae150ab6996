//! Broker -> partitions indexes (KRaft's `BrokersToIsrs`/`BrokersToElrs`), so
//! fencing a broker or answering "what does broker N lead" touches only that
//! broker's partitions, not all of them. Derived from the partitions alone.

use super::PartitionRegistration;
use crate::cluster::{BrokerId, TopicIdPartition};
use std::collections::{BTreeMap, BTreeSet};

/// The indexes; kept in step by [`ReplicaIndex::update`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ReplicaIndex {
    isr: BTreeMap<BrokerId, BTreeSet<TopicIdPartition>>,
    elr: BTreeMap<BrokerId, BTreeSet<TopicIdPartition>>,
    leaders: BTreeMap<BrokerId, BTreeSet<TopicIdPartition>>,
    leaderless: BTreeSet<TopicIdPartition>,
}

static EMPTY: BTreeSet<TopicIdPartition> = BTreeSet::new();

impl ReplicaIndex {
    /// Moves `tp` from what `old` said to what `new` says (`None`: absent).
    pub(crate) fn update(
        &mut self,
        tp: TopicIdPartition,
        old: Option<&PartitionRegistration>,
        new: Option<&PartitionRegistration>,
    ) {
        if let Some(old) = old {
            remove_all(&mut self.isr, &old.isr, tp);
            remove_all(&mut self.elr, &old.elr, tp);
            match old.leader {
                Some(leader) => remove_all(&mut self.leaders, &[leader], tp),
                None => {
                    self.leaderless.remove(&tp);
                }
            }
        }
        if let Some(new) = new {
            insert_all(&mut self.isr, &new.isr, tp);
            insert_all(&mut self.elr, &new.elr, tp);
            match new.leader {
                Some(leader) => insert_all(&mut self.leaders, &[leader], tp),
                None => {
                    self.leaderless.insert(tp);
                }
            }
        }
    }

    /// Partitions whose ISR holds `broker`.
    pub(crate) fn isr_of(&self, broker: BrokerId) -> &BTreeSet<TopicIdPartition> {
        self.isr.get(&broker).unwrap_or(&EMPTY)
    }

    /// Partitions whose ELR holds `broker`.
    pub(crate) fn elr_of(&self, broker: BrokerId) -> &BTreeSet<TopicIdPartition> {
        self.elr.get(&broker).unwrap_or(&EMPTY)
    }

    /// Partitions `broker` leads.
    pub(crate) fn leaders_of(&self, broker: BrokerId) -> &BTreeSet<TopicIdPartition> {
        self.leaders.get(&broker).unwrap_or(&EMPTY)
    }

    /// Partitions without a leader.
    pub(crate) fn leaderless(&self) -> &BTreeSet<TopicIdPartition> {
        &self.leaderless
    }
}

fn remove_all(
    map: &mut BTreeMap<BrokerId, BTreeSet<TopicIdPartition>>,
    brokers: &[BrokerId],
    tp: TopicIdPartition,
) {
    for broker in brokers {
        if let Some(set) = map.get_mut(broker) {
            set.remove(&tp);
            if set.is_empty() {
                map.remove(broker);
            }
        }
    }
}

fn insert_all(
    map: &mut BTreeMap<BrokerId, BTreeSet<TopicIdPartition>>,
    brokers: &[BrokerId],
    tp: TopicIdPartition,
) {
    for broker in brokers {
        map.entry(*broker).or_default().insert(tp);
    }
}
