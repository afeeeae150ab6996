//! Replication's fetch loop, as millrace's fetcher and leader run it
//! (`cluster::replication::session`, `partition::fetch`): a follower keeps
//! one fetch in flight and sends the next as soon as it has an answer
//! (once the entries it appended are fsynced: its fetch offset is then
//! durable), or after a backoff when refused, or again when unanswered
//! for [`FETCH_TIMEOUT_MS`]. A leader answers a fetch that has nothing to
//! read only when its log end moves or [`FETCH_WAIT_MAX_MS`] passes (the
//! long poll), counting the follower's progress when the fetch arrives
//! and again when it is answered, as `read_until_ready` reads again on
//! each wake.
//!
//! It replaced a fixed 10 ms fetch timer. Healthy acks=all answers take
//! about as long as they did (50 ms mean under the simulated load, where a
//! leader nearly always has new records; [`latency`](super::latency)).

use super::replica::{Cut, FetchOutcome, FetchReply, ParkedFetch};
use super::{Body, Entry, Event, Node, World};
use super::{FETCH_BACKOFF_MS, FETCH_TIMEOUT_MS, FETCH_WAIT_MAX_MS};
use crate::partition::replica::follower::OutOfRange;
use crate::partition::replica::leader::{FetchAnswer, FollowerFetch};
use crate::partition::replica::ReplicaId;
use crate::protocol::error_code;

impl World {
    /// Follower `id` sends its next fetch, if it may (it follows, has none
    /// in flight, waits for no fsync).
    pub(super) fn follower_fetch(&mut self, id: ReplicaId) {
        if let Some((leader, fetch, seq)) = self.replica(id).next_fetch() {
            let body = Body::Fetch(fetch, seq);
            self.send(Node::Replica(id), Node::Replica(leader), body);
            self.schedule(FETCH_TIMEOUT_MS, Event::FetchTimeout(id, seq));
        }
    }

    /// Leader `id` takes a follower's fetch: answered now, or held when it
    /// has nothing to read and `may_park`.
    pub(super) fn answer_fetch(
        &mut self,
        id: ReplicaId,
        from: Node,
        fetch: FollowerFetch,
        seq: u64,
        may_park: bool,
    ) {
        let now = self.now_ms;
        // The leader's metadata, as the controller has it now (the model's
        // metadata reaches the leader at once).
        let fetch = FollowerFetch {
            registration: self.controller.registration(fetch.replica),
            ..fetch
        };
        let Some((reply, proposal)) = self.replica(id).on_fetch(now, fetch, seq) else {
            return;
        };
        if let Some(proposal) = proposal {
            self.propose(id, proposal);
        }
        let Body::FetchReply {
            reply: answered,
            entries,
            ..
        } = &reply
        else {
            return;
        };
        let out_of_range = answered.answer == FetchAnswer::Refused(error_code::OFFSET_OUT_OF_RANGE);
        self.stats.out_of_range_answers += u64::from(out_of_range);
        let epoch_refused = [
            error_code::FENCED_LEADER_EPOCH,
            error_code::UNKNOWN_LEADER_EPOCH,
        ]
        .map(FetchAnswer::Refused)
        .contains(&answered.answer);
        self.stats.fetches_epoch_refused += u64::from(epoch_refused);
        let read = matches!(answered.answer, FetchAnswer::Read { .. });
        let nothing_to_read = read && entries.is_empty();
        if may_park && nothing_to_read {
            self.fetches_parked += 1;
            let number = self.fetches_parked;
            let parked = ParkedFetch {
                from,
                fetch,
                seq,
                number,
            };
            self.replica(id).park(parked);
            self.schedule(FETCH_WAIT_MAX_MS, Event::FetchWaitOver(id, number));
        } else {
            self.send(Node::Replica(id), from, reply);
        }
        self.after_leader_step(id, None);
    }

    /// Leader `id`'s log end moved: every fetch it holds has something to
    /// read.
    pub(super) fn wake_parked(&mut self, id: ReplicaId) {
        for parked in self.replica(id).take_parked() {
            self.answer_fetch(id, parked.from, parked.fetch, parked.seq, false);
        }
    }

    /// The wait of leader `id`'s held fetch `number` is over: answered
    /// (empty) if still held.
    pub(super) fn fetch_wait_over(&mut self, id: ReplicaId, number: u64) {
        if let Some(parked) = self.replica(id).take_parked_number(number) {
            self.answer_fetch(id, parked.from, parked.fetch, parked.seq, false);
        }
    }

    /// Follower `id` gets the answer to its fetch `seq` and the entries
    /// read.
    pub(super) fn on_fetch_reply(
        &mut self,
        id: ReplicaId,
        seq: u64,
        reply: FetchReply,
        entries: &[Entry],
    ) {
        // A truncation reloads the producer state from the log that
        // remains; in the fault mode where that reload fails, half the time
        // it takes the partition layer's fallback (drop the cut batches).
        // Drawn either way, so seeds do not depend on the mode.
        let fallback = self.prng.below(2) == 1;
        let reload = !(fallback && self.truncation_fallback);
        let replica = self.replica(id);
        if !replica.is_latest_fetch(seq) {
            return;
        }
        let start_before = replica.log_start();
        let outcome = replica.on_fetch_reply(reply, entries, reload);
        let read = matches!(outcome, FetchOutcome::Appended | FetchOutcome::Empty);
        self.stats.log_starts_taken += u64::from(read && replica.log_start() > start_before);
        if matches!(outcome, FetchOutcome::Truncated(_)) && self.zombies.remove(&id) {
            self.stats.zombie_truncations += 1;
        }
        match outcome {
            FetchOutcome::Truncated(cut) => self.count_truncation(cut),
            FetchOutcome::OutOfRange(decision, _) => self.count_out_of_range(decision),
            _ => {}
        }
        match outcome {
            FetchOutcome::Refused | FetchOutcome::OutOfRange(OutOfRange::Retry, _) => {
                self.schedule(FETCH_BACKOFF_MS, Event::Fetch(id))
            }
            // Appended: `follower_fetch` waits for the flush.
            _ => self.follower_fetch(id),
        }
    }

    /// What a follower did on OFFSET_OUT_OF_RANGE, into the stats.
    fn count_out_of_range(&mut self, decision: OutOfRange) {
        match decision {
            OutOfRange::StartAt(_) => self.stats.full_truncations += 1,
            // Its cut is not counted with the truncations on
            // DivergingEpoch: the fallback mode's test counts those alike
            // in both modes.
            OutOfRange::TruncateTo(_) => self.stats.out_of_range_truncations += 1,
            OutOfRange::Retry => self.stats.out_of_range_retries += 1,
        }
    }

    /// A follower's truncation, into the stats: which way its producer
    /// state followed the cut.
    fn count_truncation(&mut self, cut: Cut) {
        let stats = &mut self.stats;
        stats.truncations += 1;
        match cut {
            Cut::Nothing => {}
            Cut::Reloaded => stats.truncations_reloaded += 1,
            Cut::Fallback { differs } => {
                stats.truncations_fallback += 1;
                stats.fallbacks_differing += u64::from(differs);
            }
        }
    }
}
