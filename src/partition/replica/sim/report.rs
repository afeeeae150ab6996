//! What a run is given ([`Options`]: planted bugs and fault modes) and what
//! it reports ([`Stats`], or the [`Failure`] that stopped it).

use super::AckLatency;

/// What a run may plant to show the checker catches it.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// The controller elects any live replica, in the ISR or not (unclean).
    pub unclean_election: bool,
    /// Leaders count followers' fetched offsets, not their fsynced ones.
    pub count_unsynced: bool,
    /// Followers do not record the entries they replicate in their producer
    /// state (only a restart's rebuild from the log does), so a new leader
    /// appends a retry of a record it already has.
    pub followers_skip_producer_state: bool,
    /// A leader appends a batch of an epoch older than its producer's
    /// (instead of INVALID_PRODUCER_EPOCH), so an old epoch's request still
    /// in flight when its producer bumped is committed after the new epoch.
    pub skip_epoch_fence: bool,
    /// Followers do not take their leader's log start from its read
    /// answers, so records below it that never were checked against the
    /// leader's log stay readable (the gap seed 13411 found with the
    /// controller cut both ways).
    pub followers_keep_log_start: bool,
    /// A replica does not check a produce's leader epoch (KIP-320,
    /// modelled), so a request sent under a stale or future epoch is
    /// appended under another.
    pub skip_produce_epoch_check: bool,
    /// Not a planted bug, a fault mode: no pauses ([`pause`](super::pause)),
    /// so that a seed found before pauses existed runs as it was found.
    pub no_pauses: bool,
    /// Not a planted bug, a fault mode: a replica cut from the controller
    /// hears nothing from it either (by default only its own messages to
    /// the controller are cut).
    pub cut_controller_both_ways: bool,
    /// Not a planted bug, a fault mode: half the follower truncations fail
    /// to reload the producer state from the log and drop the cut batches
    /// from it instead (`truncate_as_follower`'s fallback: `truncate_from`).
    pub truncation_fallback: bool,
}

/// Why a run failed, with what replays it.
#[derive(Debug)]
pub struct Failure {
    /// The seed.
    pub seed: u64,
    /// Simulated time of the failure.
    pub at_ms: u64,
    /// The broken invariant.
    pub what: String,
}

/// What a run did (to show the runs are not vacuous).
#[derive(Clone, Copy, Debug, Default)]
pub struct Stats {
    /// Records acknowledged.
    pub acked: u64,
    /// Leader elections.
    pub elections: u64,
    /// Truncations on DivergingEpoch (by leader epoch: the only way a
    /// follower truncates here), including those that cut nothing.
    pub truncations: u64,
    /// Truncations that cut entries, the producer state then reloaded from
    /// the log that remains.
    pub truncations_reloaded: u64,
    /// Truncations that cut entries, the cut batches then dropped from the
    /// producer state (the partition layer's fallback; only with
    /// [`Options::truncation_fallback`]).
    pub truncations_fallback: u64,
    /// Fallbacks that left another producer state than a reload would
    /// (fewer batches remembered below the cut, so far: see
    /// `tests::the_truncation_fallback_mode_takes_the_fallback_and_stays_safe`).
    pub fallbacks_differing: u64,
    /// Partition states the controller committed (elections, ISR changes,
    /// re-registrations).
    pub partition_changes: u64,
    /// Events processed.
    pub events: u64,
    /// Retried batches a leader answered from its producer state, not
    /// appended.
    pub duplicates: u64,
    /// Batches refused with OUT_OF_ORDER_SEQUENCE_NUMBER.
    pub out_of_order: u64,
    /// Producer epoch bumps.
    pub epoch_bumps: u64,
    /// Batches refused with INVALID_PRODUCER_EPOCH (an old epoch fenced).
    pub fenced: u64,
    /// Times a leader's log start moved (retention or DeleteRecords).
    pub log_start_advances: u64,
    /// Fetches a leader answered OFFSET_OUT_OF_RANGE.
    pub out_of_range_answers: u64,
    /// Followers that started an empty log at their leader's log start on
    /// OFFSET_OUT_OF_RANGE (Kafka's `truncateFullyAndStartAt`).
    pub full_truncations: u64,
    /// Followers that cut their log to their leader's end on
    /// OFFSET_OUT_OF_RANGE.
    pub out_of_range_truncations: u64,
    /// Followers that took their leader's log start from a read answer.
    pub log_starts_taken: u64,
    /// Followers that fetched again after a back-off on OFFSET_OUT_OF_RANGE
    /// (their log end inside the leader's log).
    pub out_of_range_retries: u64,
    /// Replicas at the end that once started over at a log start, are in
    /// the ISR and hold the committed history from their log start (they
    /// converged).
    pub restarted_in_sync_at_end: u64,
    /// Pauses ([`pause`](super::pause)), and those of a leader.
    pub pauses: u64,
    pub leader_pauses: u64,
    /// Runs (1 for one run) that paused a leader, and that woke a zombie.
    pub runs_with_leader_pause: u64,
    pub runs_with_zombie: u64,
    /// Paused leaders that woke after a new leader was elected (zombies).
    pub zombie_leaders: u64,
    /// Replicas that took leadership from a state older than the
    /// controller's (a metadata held by a pause).
    pub stale_leaderships: u64,
    /// Zombies that then truncated as followers of the new leader.
    pub zombie_truncations: u64,
    /// Acks a leader gave at an epoch older than the controller's, each
    /// checked to be in the new leader's log at its offset.
    pub stale_acks: u64,
    /// Times a stale leader's high watermark rose, each checked against
    /// the current ISR's logs.
    pub stale_hw_advances: u64,
    /// Produce requests refused FENCED_LEADER_EPOCH (stale) and
    /// UNKNOWN_LEADER_EPOCH (future).
    pub epoch_fenced_requests: u64,
    pub epoch_unknown_requests: u64,
    /// Followers' fetches a leader refused for their leader epoch.
    pub fetches_epoch_refused: u64,
    /// How long healthy acks=all answers took ([`latency`]).
    pub ack_latency: AckLatency,
}
