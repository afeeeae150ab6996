//! The simulated network: each message is lost, delayed (with rare spikes)
//! or duplicated as the seed says; random delays reorder messages. Cuts
//! isolate a node both ways or block one direction; a message is dropped if
//! a cut stands when it is sent or when it would arrive.

use super::events::Node;
use crate::cluster::prng::Prng;
use std::collections::BTreeMap;

/// How unreliable the network is, drawn from the seed.
#[derive(Clone, Debug)]
pub(crate) struct NetworkParams {
    pub(crate) loss_per_million: u32,
    pub(crate) duplicate_per_million: u32,
    pub(crate) delay_min_ms: u64,
    pub(crate) delay_max_ms: u64,
    pub(crate) spike_per_million: u32,
    pub(crate) spike_max_ms: u64,
}

impl NetworkParams {
    pub(crate) fn draw(rng: &mut Prng) -> Self {
        let delay_min_ms = rng.range(1, 5);
        NetworkParams {
            loss_per_million: rng.range(0, 100_000) as u32,
            duplicate_per_million: rng.range(0, 50_000) as u32,
            delay_min_ms,
            delay_max_ms: delay_min_ms + rng.range(0, 60),
            spike_per_million: rng.range(0, 20_000) as u32,
            spike_max_ms: rng.range(100, 3000),
        }
    }
}

/// A cut between nodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cut {
    /// Nothing reaches or leaves the node.
    Isolate(Node),
    /// Nothing goes from `from` to `to`.
    OneWay { from: Node, to: Node },
}

impl Cut {
    fn blocks(&self, from: Node, to: Node) -> bool {
        match *self {
            Cut::Isolate(node) => from == node || to == node,
            Cut::OneWay { from: f, to: t } => from == f && to == t,
        }
    }
}

/// The network.
pub(crate) struct Network {
    params: NetworkParams,
    cuts: BTreeMap<u64, Cut>,
    next_cut: u64,
    /// After the faults stop: no loss, no duplicates, no spikes.
    reliable: bool,
}

impl Network {
    pub(crate) fn new(params: NetworkParams) -> Self {
        Network {
            params,
            cuts: BTreeMap::new(),
            next_cut: 0,
            reliable: false,
        }
    }

    /// Delays after which copies of a message from `from` to `to` arrive
    /// (none: lost).
    pub(crate) fn route(&self, rng: &mut Prng, from: Node, to: Node) -> Vec<u64> {
        if self.is_cut(from, to) {
            return Vec::new();
        }
        if self.reliable {
            return vec![rng.range(self.params.delay_min_ms, self.params.delay_max_ms)];
        }
        if rng.chance(self.params.loss_per_million) {
            return Vec::new();
        }
        let mut delays = vec![self.delay(rng)];
        if rng.chance(self.params.duplicate_per_million) {
            delays.push(self.delay(rng));
        }
        delays
    }

    fn delay(&self, rng: &mut Prng) -> u64 {
        let base = rng.range(self.params.delay_min_ms, self.params.delay_max_ms);
        if rng.chance(self.params.spike_per_million) {
            base + rng.range(0, self.params.spike_max_ms)
        } else {
            base
        }
    }

    /// True when a cut blocks `from` -> `to`.
    pub(crate) fn is_cut(&self, from: Node, to: Node) -> bool {
        from != to && self.cuts.values().any(|c| c.blocks(from, to))
    }

    /// Adds a cut; returns its id for [`Network::heal`].
    pub(crate) fn cut(&mut self, cut: Cut) -> u64 {
        self.next_cut += 1;
        self.cuts.insert(self.next_cut, cut);
        self.next_cut
    }

    pub(crate) fn heal(&mut self, id: u64) {
        self.cuts.remove(&id);
    }

    /// Heals every cut and stops losing, duplicating and delaying spikes.
    pub(crate) fn settle(&mut self) {
        self.cuts.clear();
        self.reliable = true;
    }
}
