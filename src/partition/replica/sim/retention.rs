//! Retention and DeleteRecords on the leader: now and then its log start
//! moves up, never past its high watermark (Kafka deletes nothing above
//! it). A follower that was down, cut off or lagging then fetches below
//! the leader's log start, is answered OFFSET_OUT_OF_RANGE, and starts an
//! empty log at the leader's log start (the real follower's decision,
//! [`FollowerReplica::on_out_of_range`](crate::partition::replica::follower::FollowerReplica::on_out_of_range)).
//!
//! Its draws come from a stream of their own, and a pass rarely deletes,
//! so that most seeds run as they did before it existed.

use super::{Event, World};
use crate::cluster::prng::Prng;

/// The leader's retention pass runs this often.
pub(super) const RETENTION_INTERVAL_MS: u64 = 100;
/// Chance, per million, that a pass deletes anything: about one run in
/// three deletes once ([`FAULTS_MS`](super::FAULTS_MS) plus
/// [`SETTLE_MS`](super::SETTLE_MS) make 40 passes).
const DELETE_PER_MILLION: u32 = 10_000;
/// Mixed into the seed for retention's own stream.
const RETENTION_SEED_SALT: u64 = 0x5245_5445_4e54_494f;

/// Retention's stream for the run of `seed`.
pub(super) fn prng(seed: u64) -> Prng {
    Prng::new(seed ^ RETENTION_SEED_SALT)
}

impl World {
    /// A retention pass: the leader the controller names may delete its
    /// records below a point drawn between its log start and its high
    /// watermark (cut down to a batch's start).
    pub(super) fn retention(&mut self) {
        self.schedule(RETENTION_INTERVAL_MS, Event::Retention);
        if !self.retention_prng.chance(DELETE_PER_MILLION) {
            return;
        }
        let leader = self.controller.state().leader;
        // A paused process runs no retention pass.
        if leader < 0 || self.is_paused(leader) {
            return;
        }
        let replica = self.replica(leader);
        let (start, hw) = (replica.log.start(), replica.high_watermark());
        if hw <= start {
            return;
        }
        let wanted = start + 1 + self.retention_prng.below((hw - start) as u64) as i64;
        let Some(new_start) = self.replica(leader).delete_records(wanted) else {
            return;
        };
        self.stats.log_start_advances += 1;
        if let Err(what) = self.checker.records_deleted(leader, new_start) {
            self.checker.fail(what);
        }
    }

    /// At the end (the checker passed): the replicas that started over at
    /// a log start and are in the ISR, so hold the committed history from
    /// there, into the stats.
    pub(super) fn count_restarted_in_sync(&mut self) {
        let isr = &self.controller.state().isr;
        let converged = self
            .replicas
            .iter()
            .filter(|r| r.started_over && r.alive && isr.contains(&r.id))
            .count();
        self.stats.restarted_in_sync_at_end += converged as u64;
    }
}
