//! Fault injection: crashes, controlled shutdowns, controller failovers,
//! network cuts; and the end of faults, after which the cluster must settle.

use super::events::{Event, Node};
use super::network::Cut;
use super::Sim;

/// Longest a cut stands.
const CUT_MS_MAX: u64 = 12_000;

/// Longest a crashed broker stays down.
const DOWN_MS_MAX: u64 = 15_000;

/// Longest the quorum goes without an active controller after a failover.
const ELECTION_MS_MAX: u64 = 3_000;

impl Sim {
    pub(super) fn inject_fault(&mut self) -> Result<(), String> {
        if self.faults_over {
            return Ok(());
        }
        match self.rng.below(100) {
            0..25 => self.crash_broker(),
            25..40 => self.shutdown_broker()?,
            40..55 => self.fail_over()?,
            55..75 => self.isolate(),
            75..85 => self.cut_one_way(),
            _ => {}
        }
        let (low, high) = self.params.fault_gap_ms;
        let next = self.now_ms + self.rng.range(low, high);
        self.timeline.schedule(next, Event::Fault);
        Ok(())
    }

    fn crash_broker(&mut self) {
        let running = self.running_brokers();
        if let Some(&id) = self.rng.pick(&running) {
            let down_ms = self.rng.range(0, DOWN_MS_MAX);
            self.stop_broker(id, down_ms);
            self.stats.crashes += 1;
        }
    }

    fn shutdown_broker(&mut self) -> Result<(), String> {
        let running = self.running_brokers();
        if let Some(&id) = self.rng.pick(&running) {
            self.stats.shutdowns += 1;
            self.begin_shutdown(id)?;
        }
        Ok(())
    }

    /// The active controller is deposed; a prefix of its pending batches commits.
    fn fail_over(&mut self) -> Result<(), String> {
        if self.quorum.active.is_none() {
            return Ok(());
        }
        // Each surviving batch is checked as it commits, so the checker knows
        // every batch end (a snapshot may be taken at any of them).
        for _ in 0..self.quorum.surviving_batches(&mut self.rng) {
            if let Some(batch) = self.quorum.commit_next()? {
                self.committed(&batch)?;
            }
        }
        self.quorum.depose();
        self.stats.failovers += 1;
        let at = self.now_ms + self.rng.range(10, ELECTION_MS_MAX);
        let term = self.quorum.term;
        self.timeline.schedule(at, Event::ElectController { term });
        Ok(())
    }

    fn random_node(&mut self) -> Node {
        let mut nodes = vec![Node::Quorum, Node::Admin];
        nodes.extend(self.params.brokers.iter().map(|id| Node::Broker(*id)));
        *self.rng.pick(&nodes).unwrap_or(&Node::Quorum)
    }

    fn isolate(&mut self) {
        let node = self.random_node();
        self.add_cut(Cut::Isolate(node));
    }

    fn cut_one_way(&mut self) {
        let from = self.random_node();
        let to = self.random_node();
        self.add_cut(Cut::OneWay { from, to });
    }

    fn add_cut(&mut self, cut: Cut) {
        let partition = self.network.cut(cut);
        let heal_at = self.now_ms + self.rng.range(100, CUT_MS_MAX);
        self.timeline.schedule(heal_at, Event::Heal { partition });
        self.stats.cuts += 1;
    }

    /// Faults stop: the network heals, a controller gets elected, every
    /// stopped broker starts again.
    pub(super) fn end_faults(&mut self) -> Result<(), String> {
        self.faults_over = true;
        self.network.settle();
        if self.quorum.active.is_none() {
            let term = self.quorum.term;
            self.timeline
                .schedule(self.now_ms + 100, Event::ElectController { term });
        }
        self.restart_stopped();
        Ok(())
    }
}
