//! Incremental fetch sessions (KIP-227), sans-IO: Kafka's `FetchSession`,
//! `FetchSessionCacheShard` and `FetchManager` as a pure state machine.
//!
//! A full fetch (epoch 0) may open a session holding each partition's
//! fetch parameters and the watermark and log start offset last answered;
//! later fetches (epoch 1, 2...) send only what changed (added or updated
//! partitions, forgotten ones) and get back only the partitions with
//! something new. Epoch -1 closes a session.
//!
//! Each shard keeps its own cache ([`FetchSessionCache`]): a session lives on
//! the shard of the connection that opened it, and its id says which shard
//! that is ([`FetchSessionCache::owner_of`]), as Kafka's ids name their cache
//! shard. Nothing here runs per record or keeps a timer: the cost is a few
//! map operations per partition named in a request or answered.
//!
//! The handler asks [`FetchSessionCache::new_context`] what to read, reads,
//! and then, for a full fetch, offers a session
//! ([`FetchSessionCache::create_session`]) or, for an incremental one, asks
//! which partitions to answer ([`FetchSessionCache::complete_incremental`]).
//! A follower's fetch (replica id >= 0) is a privileged session, as in Kafka.

mod cache;
#[cfg(test)]
mod tests;

pub use cache::{FetchSessionCache, SessionLimits};

use crate::protocol::error_code;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use uuid::Uuid;

/// Session id meaning "no session" (Kafka's INVALID_SESSION_ID).
pub const INVALID_SESSION_ID: i32 = 0;
/// Epoch of a full fetch that asks for a session (Kafka's INITIAL_EPOCH).
pub const INITIAL_EPOCH: i32 = 0;
/// Epoch of a full fetch that wants no session, closing any (FINAL_EPOCH).
pub const FINAL_EPOCH: i32 = -1;
/// Default of `max.incremental.fetch.session.cache.slots` (Kafka's).
pub const SESSION_CACHE_SLOTS_DEFAULT: usize = 1000;
/// Kafka's MIN_INCREMENTAL_FETCH_SESSION_EVICTION_MS: a session unused this
/// long may be evicted by any new one; a younger session only by a bigger
/// one, and a follower's only once it is this old.
pub const SESSION_EVICTION_MS: u64 = 120_000;
/// Most partitions one session holds (Kafka has no such bound). A full
/// fetch with more gets no session; an incremental fetch that would pass
/// it closes the session (the client falls back to full fetches).
pub const SESSION_PARTITIONS_MAX: usize = 100_000;

/// The epoch after `epoch`, as Kafka's `FetchMetadata.nextEpoch`.
pub fn next_epoch(epoch: i32) -> i32 {
    if epoch < 0 {
        epoch
    } else if epoch == i32::MAX {
        1
    } else {
        epoch + 1
    }
}

/// How a session names a topic: by id from Fetch v13, by name before.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum TopicKey {
    /// Fetch v13+.
    Id(Uuid),
    /// Fetch v0-12.
    Name(Arc<str>),
}

/// One partition of a session.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PartitionKey {
    /// The topic, as the session's requests name it.
    pub topic: TopicKey,
    /// Partition index.
    pub partition: i32,
}

/// A partition's fetch parameters, as the client last sent them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PartitionParams {
    /// Next offset the client wants.
    pub fetch_offset: i64,
    /// Byte budget of the partition.
    pub partition_max_bytes: i32,
    /// The leader epoch the client knows (-1: none); kept for followers.
    pub current_leader_epoch: i32,
    /// Epoch of the last fetched batch (-1: none); kept for followers.
    pub last_fetched_epoch: i32,
    /// The fetcher's log start offset (-1 from consumers); kept for followers.
    pub log_start_offset: i64,
}

/// What an answer for one partition carried, as far as a session cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AnswerSummary {
    /// The answer carries record bytes.
    pub has_records: bool,
    /// High watermark answered.
    pub high_watermark: i64,
    /// Log start offset answered.
    pub log_start_offset: i64,
    /// Error code answered.
    pub error_code: i16,
    /// The answer names a diverging epoch (the fetcher must truncate).
    pub diverging: bool,
}

/// The session fields of a Fetch request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionRequest {
    /// `session_id` (0: none).
    pub session_id: i32,
    /// `session_epoch`.
    pub epoch: i32,
    /// The request names topics by id (Fetch v13+).
    pub uses_topic_ids: bool,
    /// A follower's fetch (replica id >= 0): Kafka's privileged sessions.
    pub privileged: bool,
}

/// What to do with a Fetch request, decided before any read.
#[derive(Debug, PartialEq, Eq)]
pub enum FetchContext {
    /// Answer this top-level error, session id 0 and no partitions.
    Error(i16),
    /// Read and answer the requested partitions; no session (id 0).
    Sessionless,
    /// Read and answer the requested partitions, then offer a session
    /// ([`FetchSessionCache::create_session`]).
    Full,
    /// Read the session's partitions (all of them, in this order), then ask
    /// [`FetchSessionCache::complete_incremental`] which to answer.
    Incremental {
        /// The session.
        session_id: i32,
        /// The session's epoch after this request (its next expected one).
        epoch: i32,
        /// The session's partitions with their fetch parameters.
        partitions: Vec<(PartitionKey, PartitionParams)>,
    },
}

/// How an incremental fetch is answered once its reads are done.
#[derive(Debug, PartialEq, Eq)]
pub enum IncrementalAnswer {
    /// Answer these partitions (`keep[i]` for the i-th one read).
    Partitions(Vec<bool>),
    /// Another request moved the session's epoch meanwhile (a duplicate):
    /// answer INVALID_FETCH_SESSION_EPOCH with the session id, no partitions.
    EpochMoved,
}

/// The state one partition of a session keeps (Kafka's `CachedPartition`).
#[derive(Clone, Copy, Debug)]
struct CachedPartition {
    params: PartitionParams,
    /// The high watermark last answered (-1 after an error, so the
    /// partition is answered again once the error is gone).
    high_watermark: i64,
    /// The log start offset last answered.
    log_start_offset: i64,
    /// Position in the session's order.
    order: u64,
}

impl CachedPartition {
    /// Whether `answer` must be sent (Kafka's `maybeUpdateResponseData`);
    /// remembers what it answers.
    fn must_answer(&mut self, answer: &AnswerSummary) -> bool {
        // A diverging epoch is always sent: it is what makes the fetcher truncate.
        let mut must = answer.has_records || answer.diverging;
        if self.high_watermark != answer.high_watermark {
            must = true;
            self.high_watermark = answer.high_watermark;
        }
        if self.log_start_offset != answer.log_start_offset {
            must = true;
            self.log_start_offset = answer.log_start_offset;
        }
        if answer.error_code != error_code::NONE {
            self.high_watermark = -1;
            must = true;
        }
        must
    }
}

/// One incremental fetch session (Kafka's `FetchSession`).
#[derive(Debug)]
struct FetchSession {
    privileged: bool,
    uses_topic_ids: bool,
    creation_ms: u64,
    last_used_ms: u64,
    /// The epoch the next request must carry.
    epoch: i32,
    /// Partition count when last indexed by the cache (`None`: not yet).
    cached_size: Option<usize>,
    partitions: HashMap<PartitionKey, CachedPartition>,
    /// The session's order: partitions answered with records move to the
    /// end, so a `max_bytes` cut rotates over them (Kafka's linked order).
    order: BTreeMap<u64, PartitionKey>,
    next_order: u64,
}

impl FetchSession {
    fn new(request: &SessionRequest, now_ms: u64) -> Self {
        FetchSession {
            privileged: request.privileged,
            uses_topic_ids: request.uses_topic_ids,
            creation_ms: now_ms,
            last_used_ms: now_ms,
            epoch: next_epoch(INITIAL_EPOCH),
            cached_size: None,
            partitions: HashMap::new(),
            order: BTreeMap::new(),
            next_order: 0,
        }
    }

    fn len(&self) -> usize {
        self.partitions.len()
    }

    /// Appends a partition; one already held (named twice in a request)
    /// keeps its place and takes the new state.
    fn push(&mut self, key: PartitionKey, cached: CachedPartition) {
        if let Some(held) = self.partitions.get_mut(&key) {
            *held = CachedPartition {
                order: held.order,
                ..cached
            };
            return;
        }
        let order = self.take_order();
        self.order.insert(order, key.clone());
        self.partitions
            .insert(key, CachedPartition { order, ..cached });
    }

    fn take_order(&mut self) -> u64 {
        let order = self.next_order;
        self.next_order += 1;
        order
    }

    /// Adds or updates the partitions sent, drops the forgotten ones
    /// (Kafka's `FetchSession.update`).
    fn update(
        &mut self,
        fetch_data: &[(PartitionKey, PartitionParams)],
        forgotten: &[PartitionKey],
    ) {
        for (key, params) in fetch_data {
            match self.partitions.get_mut(key) {
                Some(cached) => cached.params = *params,
                None => self.push(
                    key.clone(),
                    CachedPartition {
                        params: *params,
                        high_watermark: -1,
                        log_start_offset: -1,
                        order: 0,
                    },
                ),
            }
        }
        for key in forgotten {
            if let Some(cached) = self.partitions.remove(key) {
                self.order.remove(&cached.order);
            }
        }
    }

    /// The partitions in session order, with their parameters.
    fn reads(&self) -> Vec<(PartitionKey, PartitionParams)> {
        self.order
            .values()
            .filter_map(|key| Some((key.clone(), self.partitions.get(key)?.params)))
            .collect()
    }

    /// Which of `answers` to send; records move their partition to the end.
    fn select(&mut self, answers: &[(PartitionKey, AnswerSummary)]) -> Vec<bool> {
        let mut keep = Vec::with_capacity(answers.len());
        for (key, answer) in answers {
            let next_order = self.next_order;
            let Some(cached) = self.partitions.get_mut(key) else {
                // Not in the session (cannot happen at the right epoch):
                // answering it is harmless, hiding it could lose an error.
                keep.push(true);
                continue;
            };
            let must = cached.must_answer(answer);
            if must && answer.has_records {
                let old_order = std::mem::replace(&mut cached.order, next_order);
                self.next_order += 1;
                self.order.remove(&old_order);
                self.order.insert(next_order, key.clone());
            }
            keep.push(must);
        }
        keep
    }
}
