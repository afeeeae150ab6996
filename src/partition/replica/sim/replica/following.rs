//! A follower's side of one simulated replica: what it does with its
//! leader's fetch answers (append, take the leader's log start, truncate,
//! start over), as the fetch session does with the real partition
//! (`LeaderSession::apply_partition`), and what a leader's retention does
//! to its own log.

use super::Role;
use super::{answer_fields, batch_info, producers_of, Cut, FetchOutcome, FetchReply, SimReplica};
use crate::partition::replica::follower::OutOfRange;
use crate::partition::replica::leader::FetchAnswer;
use crate::partition::replica::sim::Entry;
use crate::protocol::error_code;

impl SimReplica {
    /// A leader's answer: append, truncate, start over, or nothing; what
    /// it did tells when to fetch again. A truncation reloads the producer
    /// state from the log that remains when `reload`, else drops the cut
    /// batches from it.
    pub(in crate::partition::replica::sim) fn on_fetch_reply(
        &mut self,
        reply: FetchReply,
        entries: &[Entry],
        reload: bool,
    ) -> FetchOutcome {
        let log_end = self.log_end();
        let Role::Follower(follower) = &mut self.role else {
            return FetchOutcome::Empty;
        };
        // An answer to an older position or an older leader is stale.
        if reply.leader_epoch != follower.leader_epoch() || reply.fetch_offset != log_end {
            return FetchOutcome::Empty;
        }
        match (reply.answer, reply.leader_log) {
            (FetchAnswer::Read { high_watermark }, _) => {
                self.append_fetched(high_watermark, reply.leader_log_start, entries)
            }
            (FetchAnswer::Diverging(end), _) => {
                let to = follower.truncation_offset(end, log_end, &self.epochs);
                FetchOutcome::Truncated(self.truncate(to, reload))
            }
            (FetchAnswer::Refused(error_code::OFFSET_OUT_OF_RANGE), Some(leader_log)) => {
                let decision = follower.on_out_of_range(leader_log, log_end);
                let cut = self.act_on_out_of_range(decision, reload);
                FetchOutcome::OutOfRange(decision, cut)
            }
            (FetchAnswer::Refused(_), _) => FetchOutcome::Refused,
        }
    }

    /// Appends what a fetch read, learns the leader's high watermark, then
    /// takes the leader's log start (as `LeaderSession::apply_partition`).
    fn append_fetched(
        &mut self,
        high_watermark: i64,
        leader_log_start: i64,
        entries: &[Entry],
    ) -> FetchOutcome {
        let log_end = self.log_end();
        for (i, entry) in entries.iter().enumerate() {
            // Followers keep the leader's epochs (they would persist
            // the checkpoint before appending a new one).
            let offset = log_end + i as i64;
            self.epochs.assign(entry.epoch, offset);
            self.log.push(*entry);
            // As `append_as_follower`: a retry reaching this replica
            // once it leads is then de-duplicated. A fetch answer
            // carries whole batches: recorded at their last record.
            if !self.skip_replicated_producers && entry.ends_batch() {
                let info = batch_info(entry, offset);
                self.producers.record(&info, info.base_offset);
            }
        }
        let log_end = self.log_end();
        if let Role::Follower(follower) = &mut self.role {
            follower.on_read(high_watermark, log_end);
            let taken = follower.log_start_to_take(leader_log_start, self.log.start());
            if let Some(start) = taken.filter(|_| !self.keep_log_start) {
                self.log.advance_start(start);
                self.epochs.truncate_from_start(self.log.start());
            }
        }
        if entries.is_empty() {
            return FetchOutcome::Empty;
        }
        // The planted bug reports unsynced entries as durable: a
        // fetcher that fetches again before its fsync does.
        self.fetch_awaits_flush = !self.lie_about_durability;
        FetchOutcome::Appended
    }

    /// Cuts the log at `to` (a follower's truncation, as
    /// `truncate_as_follower`), the epochs and the producer state with it.
    fn truncate(&mut self, to: i64, reload: bool) -> Cut {
        let log_end = self.log_end();
        self.log.truncate(to);
        self.epochs.truncate_from_end(to);
        self.durable = self.durable.min(to);
        match to < log_end {
            true => self.cut_producers(to, reload),
            false => Cut::Nothing,
        }
    }

    /// Does what the follower decided on OFFSET_OUT_OF_RANGE, as the fetch
    /// session does (`LeaderSession::out_of_range`).
    fn act_on_out_of_range(&mut self, decision: OutOfRange, reload: bool) -> Cut {
        match decision {
            OutOfRange::StartAt(start) => {
                self.restart_log_at(start);
                Cut::Nothing
            }
            OutOfRange::TruncateTo(end) => self.truncate(end, reload),
            OutOfRange::Retry => Cut::Nothing,
        }
    }

    /// `restart_as_follower_at`: an empty log at the leader's log start,
    /// no epochs, no producer state (every snapshot was of the log
    /// deleted). The empty log is durable: nothing of it is unsynced.
    fn restart_log_at(&mut self, start: i64) {
        self.log.restart_at(start);
        self.started_over = true;
        self.epochs.truncate_from_end(i64::MIN);
        self.durable = start;
        self.producers = producers_of(&self.log);
    }

    /// Retention or DeleteRecords on a leader: its log start moves up to
    /// `wanted`, never past its high watermark (Kafka deletes nothing a
    /// follower may still need to become leader). Returns the new log
    /// start when it moved.
    pub(in crate::partition::replica::sim) fn delete_records(
        &mut self,
        wanted: i64,
    ) -> Option<i64> {
        let Role::Leader(leader) = &self.role else {
            return None;
        };
        let start = self.log.batch_start(wanted.min(leader.high_watermark()));
        if !self.alive || !self.log.advance_start(start) {
            return None;
        }
        // Retention moves the epochs' start with the log's (as
        // `Partition::divergence` does before it answers).
        self.epochs.truncate_from_start(self.log.start());
        Some(self.log.start())
    }

    /// The producer state after the log was cut at `to`: reloaded from
    /// the log that remains when `reload`, else the cut batches dropped
    /// from it (compared with a reload, so a run can tell whether the
    /// fallback ever leaves another state).
    fn cut_producers(&mut self, to: i64, reload: bool) -> Cut {
        let reloaded = producers_of(&self.log);
        if reload {
            self.producers = reloaded;
            return Cut::Reloaded;
        }
        self.producers.truncate_from(to);
        let differs = answer_fields(&self.producers) != answer_fields(&reloaded);
        Cut::Fallback { differs }
    }
}
