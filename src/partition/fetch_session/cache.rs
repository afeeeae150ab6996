//! One shard's fetch sessions and Kafka's eviction rules
//! (`FetchSessionCacheShard`, `FetchManager.newContext`).

use super::{
    next_epoch, AnswerSummary, CachedPartition, FetchContext, FetchSession, IncrementalAnswer,
    PartitionKey, PartitionParams, SessionRequest, FINAL_EPOCH, INITIAL_EPOCH, INVALID_SESSION_ID,
    SESSION_EVICTION_MS, SESSION_PARTITIONS_MAX,
};
use crate::protocol::error_code;
use std::collections::{BTreeSet, HashMap};

/// What bounds one shard's cache.
#[derive(Clone, Copy, Debug)]
pub struct SessionLimits {
    /// This shard's index.
    pub shard_id: usize,
    /// Number of shards (splits the session id space).
    pub nr_shards: usize,
    /// Sessions this shard holds: `max.incremental.fetch.session.cache.slots`
    /// divided among the shards, as Kafka divides it among its cache shards.
    pub max_sessions: usize,
    /// Most partitions one session holds.
    pub partitions_max: usize,
    /// See [`SESSION_EVICTION_MS`].
    pub eviction_ms: u64,
}

impl SessionLimits {
    /// This shard's share of `cache_slots` broker-wide sessions.
    pub fn for_shard(shard_id: usize, nr_shards: usize, cache_slots: usize) -> Self {
        SessionLimits {
            shard_id,
            nr_shards,
            max_sessions: cache_slots / nr_shards.max(1),
            partitions_max: SESSION_PARTITIONS_MAX,
            eviction_ms: SESSION_EVICTION_MS,
        }
    }

    /// Ids each shard draws from: shard `s` owns `[s * range, (s + 1) * range)`.
    fn id_range(&self) -> i32 {
        i32::MAX / self.nr_shards.max(1) as i32
    }
}

/// Kafka's `EvictableKey`: ordered by (privileged, size, id), so the first
/// is the least valuable session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct EvictableKey {
    privileged: bool,
    size: usize,
    id: i32,
}

/// The fetch sessions of one shard.
pub struct FetchSessionCache {
    limits: SessionLimits,
    sessions: HashMap<i32, FetchSession>,
    /// (last used ms, id), oldest first.
    last_used: BTreeSet<(u64, i32)>,
    /// Sessions older than the eviction time: any new session may evict them.
    evictable_by_all: BTreeSet<EvictableKey>,
    /// Consumer sessions, and follower sessions older than the eviction
    /// time: a new follower session may evict them.
    evictable_by_privileged: BTreeSet<EvictableKey>,
    partitions_cached: usize,
    evictions: u64,
    /// xorshift state for session ids.
    random: u64,
}

impl FetchSessionCache {
    /// An empty cache; `seed` drives the session ids.
    pub fn new(limits: SessionLimits, seed: u64) -> Self {
        FetchSessionCache {
            limits,
            sessions: HashMap::new(),
            last_used: BTreeSet::new(),
            evictable_by_all: BTreeSet::new(),
            evictable_by_privileged: BTreeSet::new(),
            partitions_cached: 0,
            evictions: 0,
            random: seed | 1,
        }
    }

    /// Sessions held.
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    /// Whether no session is held.
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// Partitions held over all sessions.
    pub fn partitions_cached(&self) -> usize {
        self.partitions_cached
    }

    /// Sessions evicted so far.
    pub fn evictions(&self) -> u64 {
        self.evictions
    }

    /// The shard whose cache holds session `session_id`, if it is an id a
    /// shard hands out.
    pub fn owner_of(&self, session_id: i32) -> Option<usize> {
        if session_id <= INVALID_SESSION_ID {
            return None;
        }
        let shard = (session_id / self.limits.id_range()) as usize;
        (shard < self.limits.nr_shards).then_some(shard)
    }

    /// What to do with a request (Kafka's `FetchManager.newContext`):
    /// `fetch_data` are the partitions it names, `forgotten` the ones it
    /// drops from its session.
    pub fn new_context(
        &mut self,
        now_ms: u64,
        request: SessionRequest,
        fetch_data: &[(PartitionKey, PartitionParams)],
        forgotten: &[PartitionKey],
    ) -> FetchContext {
        if request.epoch == INITIAL_EPOCH || request.epoch == FINAL_EPOCH {
            // A full fetch closes the session it names.
            self.remove(request.session_id);
            return if request.epoch == FINAL_EPOCH {
                FetchContext::Sessionless
            } else {
                FetchContext::Full
            };
        }
        let limits = self.limits;
        let Some(session) = self.sessions.get_mut(&request.session_id) else {
            return FetchContext::Error(error_code::FETCH_SESSION_ID_NOT_FOUND);
        };
        if session.epoch != request.epoch {
            return FetchContext::Error(error_code::INVALID_FETCH_SESSION_EPOCH);
        }
        if session.uses_topic_ids != request.uses_topic_ids {
            return FetchContext::Error(error_code::FETCH_SESSION_TOPIC_ID_ERROR);
        }
        session.update(fetch_data, forgotten);
        if session.len() == 0 || session.len() > limits.partitions_max {
            self.remove(request.session_id);
            return FetchContext::Sessionless;
        }
        session.epoch = next_epoch(session.epoch);
        let (epoch, partitions) = (session.epoch, session.reads());
        self.touch(request.session_id, now_ms);
        FetchContext::Incremental {
            session_id: request.session_id,
            epoch,
            partitions,
        }
    }

    /// After a full fetch: opens a session over its partitions and what
    /// was answered for them, if a slot is free or can be freed (Kafka's
    /// `maybeCreateSession`). Returns the id to answer (0: none).
    pub fn create_session(
        &mut self,
        now_ms: u64,
        request: SessionRequest,
        partitions: &[(PartitionKey, PartitionParams, AnswerSummary)],
    ) -> i32 {
        let size = partitions.len();
        if size > self.limits.partitions_max {
            return INVALID_SESSION_ID;
        }
        let proposed = EvictableKey {
            privileged: request.privileged,
            size,
            id: 0,
        };
        if self.sessions.len() >= self.limits.max_sessions
            && !self.try_evict(request.privileged, proposed, now_ms)
        {
            return INVALID_SESSION_ID;
        }
        let id = self.new_session_id();
        let mut session = FetchSession::new(&request, now_ms);
        for (key, params, answer) in partitions {
            let cached = CachedPartition {
                params: *params,
                high_watermark: answer.high_watermark,
                log_start_offset: answer.log_start_offset,
                order: 0,
            };
            session.push(key.clone(), cached);
        }
        self.sessions.insert(id, session);
        self.touch(id, now_ms);
        id
    }

    /// After an incremental fetch's reads: which partitions to answer
    /// (Kafka's `IncrementalFetchContext.updateAndGenerateResponseData`).
    /// `epoch` is the one [`FetchContext::Incremental`] carried.
    pub fn complete_incremental(
        &mut self,
        session_id: i32,
        epoch: i32,
        answers: &[(PartitionKey, AnswerSummary)],
    ) -> IncrementalAnswer {
        let Some(session) = self.sessions.get_mut(&session_id) else {
            // Evicted or closed while reading: answer everything read; the
            // next request learns the session is gone.
            return IncrementalAnswer::Partitions(vec![true; answers.len()]);
        };
        if session.epoch != epoch {
            return IncrementalAnswer::EpochMoved;
        }
        IncrementalAnswer::Partitions(session.select(answers))
    }

    /// Closes session `session_id` if this shard holds it.
    pub fn remove(&mut self, session_id: i32) -> bool {
        let Some(session) = self.sessions.remove(&session_id) else {
            return false;
        };
        self.last_used.remove(&(session.last_used_ms, session_id));
        if let Some(size) = session.cached_size {
            let key = EvictableKey {
                privileged: session.privileged,
                size,
                id: session_id,
            };
            self.evictable_by_all.remove(&key);
            self.evictable_by_privileged.remove(&key);
            self.partitions_cached -= size;
        }
        true
    }

    /// Frees a slot for a new session described by `proposed`, if Kafka's
    /// rules allow: the least recently used session if it is stale, else
    /// the least valuable evictable one if it is worth less than `proposed`.
    fn try_evict(&mut self, privileged: bool, proposed: EvictableKey, now_ms: u64) -> bool {
        let Some(&(last_used_ms, oldest)) = self.last_used.first() else {
            return false;
        };
        let victim = if now_ms.saturating_sub(last_used_ms) > self.limits.eviction_ms {
            oldest
        } else {
            let evictable = if privileged {
                &self.evictable_by_privileged
            } else {
                &self.evictable_by_all
            };
            match evictable.first() {
                Some(first) if proposed >= *first => first.id,
                _ => return false,
            }
        };
        self.remove(victim);
        self.evictions += 1;
        true
    }

    /// Marks a session used now and re-indexes it (Kafka's `touch`).
    fn touch(&mut self, session_id: i32, now_ms: u64) {
        let eviction_ms = self.limits.eviction_ms;
        let Some(session) = self.sessions.get_mut(&session_id) else {
            return;
        };
        self.last_used.remove(&(session.last_used_ms, session_id));
        session.last_used_ms = now_ms;
        self.last_used.insert((now_ms, session_id));
        if let Some(old_size) = session.cached_size {
            let old = EvictableKey {
                privileged: session.privileged,
                size: old_size,
                id: session_id,
            };
            self.evictable_by_all.remove(&old);
            self.evictable_by_privileged.remove(&old);
            self.partitions_cached -= old_size;
        }
        let size = session.len();
        session.cached_size = Some(size);
        let key = EvictableKey {
            privileged: session.privileged,
            size,
            id: session_id,
        };
        let old_enough = now_ms.saturating_sub(session.creation_ms) > eviction_ms;
        if !session.privileged || old_enough {
            self.evictable_by_privileged.insert(key);
        }
        if old_enough {
            self.evictable_by_all.insert(key);
        }
        self.partitions_cached += size;
    }

    /// A free id in this shard's range, never 0.
    fn new_session_id(&mut self) -> i32 {
        let range = self.limits.id_range() as u64;
        let low = (self.limits.shard_id as u64 * range).max(1);
        let high = (self.limits.shard_id as u64 + 1) * range;
        loop {
            let id = (low + self.next_random() % (high - low)) as i32;
            if !self.sessions.contains_key(&id) {
                return id;
            }
        }
    }

    fn next_random(&mut self) -> u64 {
        let mut x = self.random;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.random = x;
        x
    }
}
