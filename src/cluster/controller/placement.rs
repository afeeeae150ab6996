//! Replica placement for new partitions: the preferred leader is the active
//! broker leading the fewest partitions, followers are the active brokers
//! holding the fewest replicas, preferring racks the partition does not use
//! yet. Counting existing load means a broker that joins a running cluster
//! receives new partitions first. Ties go to the lowest broker id, so
//! placement is deterministic.

use crate::cluster::image::MetadataImage;
use crate::cluster::BrokerId;

#[derive(Clone, Debug)]
struct Load {
    broker_id: BrokerId,
    rack: Option<String>,
    /// Partitions it is the preferred leader of.
    leaders: u64,
    /// Replicas it holds.
    replicas: u64,
}

/// Places replicas over the active brokers of an image.
#[derive(Clone, Debug)]
pub(crate) struct Placer {
    brokers: Vec<Load>,
}

impl Placer {
    /// A placer seeing the active brokers of `image` and their current load.
    pub(crate) fn new(image: &MetadataImage) -> Self {
        let mut brokers: Vec<Load> = image
            .active_brokers()
            .map(|b| Load {
                broker_id: b.broker_id,
                rack: b.rack.clone(),
                leaders: 0,
                replicas: 0,
            })
            .collect();
        for (_, partition) in image.partitions() {
            for (i, replica) in partition.replicas.iter().enumerate() {
                if let Some(load) = brokers.iter_mut().find(|l| l.broker_id == *replica) {
                    load.replicas += 1;
                    load.leaders += (i == 0) as u64;
                }
            }
        }
        Placer { brokers }
    }

    /// How many brokers can take replicas.
    pub(crate) fn live_count(&self) -> usize {
        self.brokers.len()
    }

    /// Replicas for one new partition, preferred leader first;
    /// `replication_factor` must be at most [`Placer::live_count`].
    pub(crate) fn place(&mut self, replication_factor: usize) -> Vec<BrokerId> {
        let mut chosen: Vec<usize> = Vec::with_capacity(replication_factor);
        let leader = (0..self.brokers.len()).min_by_key(|&i| {
            let l = &self.brokers[i];
            (l.leaders, l.replicas, l.broker_id)
        });
        chosen.extend(leader);
        while chosen.len() < replication_factor.min(self.brokers.len()) {
            let next = (0..self.brokers.len())
                .filter(|i| !chosen.contains(i))
                .min_by_key(|&i| {
                    let l = &self.brokers[i];
                    let rack_used = chosen.iter().any(|&c| self.brokers[c].rack == l.rack);
                    (rack_used, l.replicas, l.broker_id)
                });
            chosen.extend(next);
        }
        for (n, &i) in chosen.iter().enumerate() {
            self.brokers[i].replicas += 1;
            self.brokers[i].leaders += (n == 0) as u64;
        }
        chosen.iter().map(|&i| self.brokers[i].broker_id).collect()
    }
}
