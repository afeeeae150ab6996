//! The follower side of a partition's replication: what it sends the leader
//! and where it truncates when the leader says its log diverges (Kafka's
//! `AbstractFetcherThread` truncation on `DivergingEpoch`).
//!
//! The driver acts only on the answer to its latest fetch (one fetch in
//! flight per leader connection, answered in order): a truncation computed
//! from an older answer could cut records the log has fetched again since,
//! below the high watermark. The simulator caught exactly that.

use super::leader::{FollowerFetch, Registration};
use super::ReplicaId;
use crate::partition::leader_epochs::{EpochEnd, LeaderEpochCache, NO_EPOCH, NO_OFFSET};

/// The leader's log as its OFFSET_OUT_OF_RANGE answer to a replica fetch
/// names it (a millrace convention: Kafka's follower asks for both with
/// ListOffsets instead).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaderLogBounds {
    /// The leader's log start offset.
    pub start_offset: i64,
    /// The leader's log end offset ([`NO_OFFSET`]: not named).
    pub end_offset: i64,
}

/// What a follower does when the leader answers OFFSET_OUT_OF_RANGE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutOfRange {
    /// Its log ends past the leader's: cut it to the leader's end.
    TruncateTo(i64),
    /// Its log ends below the leader's start: start an empty log there.
    StartAt(i64),
    /// Neither: fetch again from its log end after a back-off.
    Retry,
}

/// A follower of one partition, following `leader` at `leader_epoch`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FollowerReplica {
    id: ReplicaId,
    leader: ReplicaId,
    leader_epoch: i32,
    high_watermark: i64,
}

impl FollowerReplica {
    /// Follows `leader` at `leader_epoch`, knowing the high watermark
    /// `high_watermark`.
    pub fn new(id: ReplicaId, leader: ReplicaId, leader_epoch: i32, high_watermark: i64) -> Self {
        FollowerReplica {
            id,
            leader,
            leader_epoch,
            high_watermark,
        }
    }

    /// The replica it fetches from.
    pub fn leader(&self) -> ReplicaId {
        self.leader
    }

    /// The epoch it follows at.
    pub fn leader_epoch(&self) -> i32 {
        self.leader_epoch
    }

    /// The high watermark it learned (at most its log end offset).
    pub fn high_watermark(&self) -> i64 {
        self.high_watermark
    }

    /// Its next fetch: from its log end, naming its last epoch so the
    /// leader can tell whether the logs diverge, what it has fsynced, and
    /// the broker epoch this process registered with (-1 before).
    pub fn fetch(
        &self,
        log_end_offset: i64,
        durable_offset: i64,
        epochs: &LeaderEpochCache,
        broker_epoch: i64,
    ) -> FollowerFetch {
        FollowerFetch {
            replica: self.id,
            current_leader_epoch: self.leader_epoch,
            fetch_offset: log_end_offset,
            last_fetched_epoch: epochs.latest_epoch().unwrap_or(NO_EPOCH),
            durable_offset,
            replica_epoch: broker_epoch,
            // The leader looks it up in its own metadata.
            registration: Registration::Unknown,
        }
    }

    /// The leader read from its position: the high watermark it knows moves
    /// to the leader's, as far as its own log reaches; never back within a
    /// term.
    pub fn on_read(&mut self, leader_high_watermark: i64, log_end_offset: i64) {
        let known = leader_high_watermark.min(log_end_offset);
        self.high_watermark = self.high_watermark.max(known);
    }

    /// The log start this log takes after a read answer naming the
    /// leader's log start `leader_log_start` (Kafka's follower does
    /// `maybeIncrementLogStartOffset` with the leader's): the leader's
    /// start, as far as the high watermark it knows, when that is past its
    /// own `log_start_offset`. What lies below the leader's start was never
    /// checked against the leader's log (its epoch cache starts there), so
    /// it must not stay readable below the high watermark: call this right
    /// after [`Self::on_read`], with nothing in between.
    pub fn log_start_to_take(&self, leader_log_start: i64, log_start_offset: i64) -> Option<i64> {
        let start = leader_log_start.min(self.high_watermark);
        (start > log_start_offset).then_some(start)
    }

    /// Where to truncate when the leader answers `diverging` (Kafka's
    /// `getOffsetTruncationState`): to the end of the diverging epoch in
    /// both logs when this log has that epoch; to the end of its own
    /// largest earlier epoch when not (the next fetch, naming that epoch,
    /// narrows it further); never past its own end. The high watermark it
    /// knows is cut with the log.
    pub fn truncation_offset(
        &mut self,
        diverging: EpochEnd,
        log_end_offset: i64,
        epochs: &LeaderEpochCache,
    ) -> i64 {
        let own = epochs.end_offset_for(diverging.epoch, log_end_offset);
        let to = if own.epoch == NO_EPOCH || own.end_offset == NO_OFFSET {
            diverging.end_offset
        } else if own.epoch != diverging.epoch {
            own.end_offset
        } else {
            own.end_offset.min(diverging.end_offset)
        };
        let to = to.min(log_end_offset).max(0);
        self.high_watermark = self.high_watermark.min(to);
        to
    }

    /// Where the follower goes when the leader answers OFFSET_OUT_OF_RANGE
    /// to its fetch from `log_end_offset` (Kafka's `fetchOffsetAndTruncate`):
    /// past the leader's end (an unclean election left a shorter leader),
    /// it cuts its log there, and the high watermark it knows with it;
    /// below the leader's start, it starts over there; else it retries.
    pub fn on_out_of_range(&mut self, leader: LeaderLogBounds, log_end_offset: i64) -> OutOfRange {
        if leader.end_offset >= 0 && leader.end_offset < log_end_offset {
            self.high_watermark = self.high_watermark.min(leader.end_offset);
            return OutOfRange::TruncateTo(leader.end_offset);
        }
        if leader.start_offset > log_end_offset {
            return OutOfRange::StartAt(leader.start_offset);
        }
        OutOfRange::Retry
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn epochs(entries: &[(i32, i64)]) -> LeaderEpochCache {
        let mut cache = LeaderEpochCache::default();
        for &(epoch, start) in entries {
            cache.assign(epoch, start);
        }
        cache
    }

    #[test]
    fn a_fetch_names_the_log_end_the_last_epoch_and_the_durable_offset() {
        let f = FollowerReplica::new(2, 1, 4, 0);
        let fetch = f.fetch(12, 9, &epochs(&[(1, 0), (3, 8)]), 7);
        assert_eq!(
            (
                fetch.fetch_offset,
                fetch.last_fetched_epoch,
                fetch.durable_offset
            ),
            (12, 3, 9)
        );
        assert_eq!(
            fetch.replica_epoch, 7,
            "the broker epoch it registered with"
        );
        assert_eq!(
            f.fetch(0, 0, &LeaderEpochCache::default(), -1)
                .last_fetched_epoch,
            -1
        );
    }

    #[test]
    fn truncation_goes_to_the_end_of_the_last_common_epoch() {
        let mut f = FollowerReplica::new(2, 1, 5, 11);
        let own = epochs(&[(1, 0), (3, 8)]);
        // The leader has epoch 3 up to 10; this log has it up to 12.
        let to = f.truncation_offset(
            EpochEnd {
                epoch: 3,
                end_offset: 10,
            },
            12,
            &own,
        );
        assert_eq!(to, 10);
        assert_eq!(f.high_watermark(), 10);
        // The leader never had epoch 3: its largest earlier one is 2, which
        // this log lacks; it cuts to its own epoch 1's end and asks again.
        let to = f.truncation_offset(
            EpochEnd {
                epoch: 2,
                end_offset: 9,
            },
            12,
            &own,
        );
        assert_eq!(to, 8);
        let to = f.truncation_offset(
            EpochEnd {
                epoch: 1,
                end_offset: 20,
            },
            12,
            &own,
        );
        assert_eq!(to, 8, "never past the end of its own epoch");
    }

    /// Kafka's `AbstractFetcherThread.fetchOffsetAndTruncate`: a log past
    /// the leader's end is cut to it (an unclean election left the leader
    /// shorter), a log below the leader's start starts over there, and a
    /// log inside the leader's fetches again.
    #[test]
    fn out_of_range_cuts_to_the_leaders_end_or_starts_at_its_start() {
        let mut f = FollowerReplica::new(2, 1, 5, 30);
        let bounds = |start_offset, end_offset| LeaderLogBounds {
            start_offset,
            end_offset,
        };
        assert_eq!(
            f.on_out_of_range(bounds(100, 200), 40),
            OutOfRange::StartAt(100)
        );
        assert_eq!(
            f.on_out_of_range(bounds(0, 25), 40),
            OutOfRange::TruncateTo(25)
        );
        assert_eq!(
            f.high_watermark(),
            25,
            "the known high watermark is cut with it"
        );
        assert_eq!(f.on_out_of_range(bounds(10, 50), 40), OutOfRange::Retry);
        assert_eq!(
            f.on_out_of_range(bounds(0, NO_OFFSET), 40),
            OutOfRange::Retry,
            "a leader that names no end"
        );
    }

    /// A gap the replication simulator found (seed 13411 with
    /// `MILLRACE_REPLICA_SIM_CUT_CONTROLLER_BOTH_WAYS=1`), in small: the
    /// leader's epoch 1 starts at 130 and retention moved its log start to
    /// 137, so its epoch cache, cut from the start, says epoch 0 ends at 137
    /// (as Kafka's `endOffsetFor` does for an epoch older than every one it
    /// knows). A follower whose log has epoch 0 up to 152 truncates to 137
    /// and its next fetch no longer diverges, yet its 130..137 are epoch 0's
    /// records that the leader replaced in epoch 1. Kafka's follower drops
    /// them by taking the leader's log start from the read answer
    /// (`maybeIncrementLogStartOffset`); before [`FollowerReplica::log_start_to_take`]
    /// millrace's kept them below its high watermark.
    #[test]
    fn a_follower_keeps_no_diverging_record_below_the_leaders_log_start() {
        use crate::partition::leader_epochs::divergence;
        let mut leader = epochs(&[(0, 0), (1, 130)]);
        let (leader_start, leader_end) = (137, 228);
        leader.truncate_from_start(leader_start);
        let own = epochs(&[(0, 0)]);
        let mut f = FollowerReplica::new(1, 2, 1, 134);
        let diverging = divergence(&leader, leader_start, leader_end, 0, 152)
            .expect("placeable")
            .expect("diverges");
        let to = f.truncation_offset(diverging, 152, &own);
        let next = divergence(&leader, leader_start, leader_end, 0, to).expect("placeable");
        assert_eq!((to, next), (137, None), "the leader's answers, as Kafka's");
        // The read answer: the high watermark moves, then the log start.
        f.on_read(leader_end, to);
        let start = f.log_start_to_take(leader_start, 0);
        assert_eq!(start, Some(137), "epoch 0's 130..137 leave the log");
        assert!(
            start.unwrap_or(0) >= leader_start.min(f.high_watermark()),
            "nothing below the high watermark was left unchecked"
        );
    }

    /// The log start taken is the leader's, never past the high watermark
    /// this follower knows (Kafka refuses a start past it), and never back.
    #[test]
    fn the_log_start_taken_is_the_leaders_up_to_the_high_watermark() {
        let f = FollowerReplica::new(2, 1, 3, 40);
        assert_eq!(f.log_start_to_take(30, 10), Some(30));
        assert_eq!(
            f.log_start_to_take(55, 10),
            Some(40),
            "bounded by the watermark"
        );
        assert_eq!(f.log_start_to_take(30, 30), None, "already there");
        assert_eq!(f.log_start_to_take(20, 30), None, "never back");
    }
}
