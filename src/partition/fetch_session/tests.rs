use super::*;
use crate::protocol::error_code;

fn limits(max_sessions: usize) -> SessionLimits {
    SessionLimits {
        shard_id: 1,
        nr_shards: 2,
        max_sessions,
        partitions_max: 8,
        eviction_ms: SESSION_EVICTION_MS,
    }
}

fn key(partition: i32) -> PartitionKey {
    PartitionKey {
        topic: TopicKey::Name(Arc::from("orders")),
        partition,
    }
}

fn params(fetch_offset: i64) -> PartitionParams {
    PartitionParams {
        fetch_offset,
        partition_max_bytes: 1 << 20,
        current_leader_epoch: -1,
        last_fetched_epoch: -1,
        log_start_offset: -1,
    }
}

fn answer(high_watermark: i64, has_records: bool) -> AnswerSummary {
    AnswerSummary {
        has_records,
        high_watermark,
        log_start_offset: 0,
        error_code: error_code::NONE,
        diverging: false,
    }
}

fn request(session_id: i32, epoch: i32) -> SessionRequest {
    SessionRequest {
        session_id,
        epoch,
        uses_topic_ids: false,
        privileged: false,
    }
}

/// Opens a session over partitions 0..count, each answered with watermark 10.
fn open(cache: &mut FetchSessionCache, now_ms: u64, count: i32) -> i32 {
    let data: Vec<_> = (0..count).map(|p| (key(p), params(0))).collect();
    assert_eq!(
        cache.new_context(now_ms, request(0, INITIAL_EPOCH), &data, &[]),
        FetchContext::Full
    );
    let answered: Vec<_> = data
        .iter()
        .map(|(k, p)| (k.clone(), *p, answer(10, false)))
        .collect();
    cache.create_session(now_ms, request(0, INITIAL_EPOCH), &answered)
}

fn incremental(
    cache: &mut FetchSessionCache,
    id: i32,
    epoch: i32,
    data: &[(PartitionKey, PartitionParams)],
    forgotten: &[PartitionKey],
) -> (i32, Vec<(PartitionKey, PartitionParams)>) {
    match cache.new_context(1, request(id, epoch), data, forgotten) {
        FetchContext::Incremental {
            session_id,
            epoch,
            partitions,
        } => {
            assert_eq!(session_id, id);
            (epoch, partitions)
        }
        other => panic!("expected an incremental context, got {other:?}"),
    }
}

#[test]
fn a_full_fetch_opens_a_session_whose_id_names_its_shard() {
    let mut cache = FetchSessionCache::new(limits(10), 7);
    let id = open(&mut cache, 0, 3);
    assert_ne!(id, INVALID_SESSION_ID);
    assert_eq!(cache.owner_of(id), Some(1));
    assert_eq!(cache.len(), 1);
    assert_eq!(cache.partitions_cached(), 3);
    let other_shard = FetchSessionCache::new(
        SessionLimits {
            shard_id: 0,
            ..limits(10)
        },
        7,
    );
    assert_eq!(other_shard.owner_of(id), Some(1));
    assert_eq!(cache.owner_of(0), None);
    assert_eq!(cache.owner_of(-5), None);
    assert_eq!(cache.owner_of(i32::MAX), None);
}

#[test]
fn an_incremental_fetch_reads_every_partition_and_answers_only_what_changed() {
    let mut cache = FetchSessionCache::new(limits(10), 7);
    let id = open(&mut cache, 0, 3);
    let (epoch, reads) = incremental(&mut cache, id, 1, &[], &[]);
    assert_eq!(epoch, 2);
    assert_eq!(reads.len(), 3);
    let answers = vec![
        (key(0), answer(10, false)), // nothing new
        (key(1), answer(11, false)), // watermark moved
        (key(2), answer(10, true)),  // records
    ];
    assert_eq!(
        cache.complete_incremental(id, epoch, &answers),
        IncrementalAnswer::Partitions(vec![false, true, true])
    );
    // Partition 2 answered records: it now reads last (rotation under max_bytes).
    let (epoch, reads) = incremental(&mut cache, id, epoch, &[], &[]);
    let order: Vec<i32> = reads.iter().map(|(k, _)| k.partition).collect();
    assert_eq!(order, vec![0, 1, 2]);
    let answers = vec![
        (key(0), answer(10, true)),
        (key(1), answer(11, false)),
        (key(2), answer(10, false)),
    ];
    assert_eq!(
        cache.complete_incremental(id, epoch, &answers),
        IncrementalAnswer::Partitions(vec![true, false, false])
    );
    let (_, reads) = incremental(&mut cache, id, epoch, &[], &[]);
    let order: Vec<i32> = reads.iter().map(|(k, _)| k.partition).collect();
    assert_eq!(order, vec![1, 2, 0]);
}

#[test]
fn partitions_sent_again_update_their_offsets_new_ones_join_forgotten_ones_leave() {
    let mut cache = FetchSessionCache::new(limits(10), 7);
    let id = open(&mut cache, 0, 2);
    let (_, reads) = incremental(
        &mut cache,
        id,
        1,
        &[(key(1), params(42)), (key(5), params(7))],
        &[key(0)],
    );
    assert_eq!(reads, vec![(key(1), params(42)), (key(5), params(7))]);
    assert_eq!(cache.partitions_cached(), 2);
}

#[test]
fn a_partition_in_error_is_answered_every_time_and_again_once_the_error_is_gone() {
    let mut cache = FetchSessionCache::new(limits(10), 7);
    let id = open(&mut cache, 0, 1);
    let failed = AnswerSummary {
        error_code: error_code::OFFSET_OUT_OF_RANGE,
        ..answer(-1, false)
    };
    let mut epoch = 1;
    for _ in 0..2 {
        let (next, _) = incremental(&mut cache, id, epoch, &[], &[]);
        epoch = next;
        assert_eq!(
            cache.complete_incremental(id, epoch, &[(key(0), failed)]),
            IncrementalAnswer::Partitions(vec![true])
        );
    }
    // Healed at the watermark cached before the error: still answered.
    let (epoch, _) = incremental(&mut cache, id, epoch, &[], &[]);
    assert_eq!(
        cache.complete_incremental(id, epoch, &[(key(0), answer(10, false))]),
        IncrementalAnswer::Partitions(vec![true])
    );
}

#[test]
fn a_diverging_epoch_is_answered_though_nothing_else_changed() {
    let mut cache = FetchSessionCache::new(limits(10), 7);
    let id = open(&mut cache, 0, 1);
    let (epoch, _) = incremental(&mut cache, id, 1, &[], &[]);
    let diverging = AnswerSummary {
        diverging: true,
        ..answer(10, false)
    };
    assert_eq!(
        cache.complete_incremental(id, epoch, &[(key(0), diverging)]),
        IncrementalAnswer::Partitions(vec![true])
    );
}

#[test]
fn a_partition_named_twice_is_held_once() {
    let mut cache = FetchSessionCache::new(limits(10), 7);
    let twice = [
        (key(0), params(0), answer(10, false)),
        (key(1), params(0), answer(10, false)),
        (key(0), params(5), answer(10, false)),
    ];
    let id = cache.create_session(0, request(0, INITIAL_EPOCH), &twice);
    let (_, reads) = incremental(&mut cache, id, 1, &[], &[]);
    assert_eq!(reads, vec![(key(0), params(5)), (key(1), params(0))]);
    assert_eq!(
        cache.new_context(1, request(id, 2), &[], &[key(0), key(1)]),
        FetchContext::Sessionless
    );
    assert_eq!(cache.partitions_cached(), 0);
}

#[test]
fn wrong_epochs_unknown_ids_and_a_change_of_naming_are_refused() {
    let mut cache = FetchSessionCache::new(limits(10), 7);
    let id = open(&mut cache, 0, 1);
    let refused = |cache: &mut FetchSessionCache, request: SessionRequest| {
        cache.new_context(1, request, &[], &[])
    };
    assert_eq!(
        refused(&mut cache, request(id, 2)),
        FetchContext::Error(error_code::INVALID_FETCH_SESSION_EPOCH)
    );
    assert_eq!(
        refused(&mut cache, request(id + 1, 1)),
        FetchContext::Error(error_code::FETCH_SESSION_ID_NOT_FOUND)
    );
    let by_id = SessionRequest {
        uses_topic_ids: true,
        ..request(id, 1)
    };
    assert_eq!(
        refused(&mut cache, by_id),
        FetchContext::Error(error_code::FETCH_SESSION_TOPIC_ID_ERROR)
    );
    // Refusals leave the session as it was.
    let (epoch, _) = incremental(&mut cache, id, 1, &[], &[]);
    assert_eq!(epoch, 2);
}

#[test]
fn a_duplicate_that_moved_the_epoch_during_the_reads_is_answered_epoch_error() {
    let mut cache = FetchSessionCache::new(limits(10), 7);
    let id = open(&mut cache, 0, 1);
    let (first, _) = incremental(&mut cache, id, 1, &[], &[]);
    let (_, _) = incremental(&mut cache, id, first, &[], &[]);
    assert_eq!(
        cache.complete_incremental(id, first, &[(key(0), answer(10, false))]),
        IncrementalAnswer::EpochMoved
    );
}

#[test]
fn final_epoch_and_full_fetches_close_the_session_they_name() {
    let mut cache = FetchSessionCache::new(limits(10), 7);
    let id = open(&mut cache, 0, 1);
    assert_eq!(
        cache.new_context(1, request(id, FINAL_EPOCH), &[], &[]),
        FetchContext::Sessionless
    );
    assert!(cache.is_empty());
    assert_eq!(cache.partitions_cached(), 0);
    let id = open(&mut cache, 0, 1);
    assert_eq!(
        cache.new_context(1, request(id, INITIAL_EPOCH), &[], &[]),
        FetchContext::Full
    );
    assert!(cache.is_empty());
}

#[test]
fn forgetting_every_partition_closes_the_session() {
    let mut cache = FetchSessionCache::new(limits(10), 7);
    let id = open(&mut cache, 0, 1);
    assert_eq!(
        cache.new_context(1, request(id, 1), &[], &[key(0)]),
        FetchContext::Sessionless
    );
    assert!(cache.is_empty());
}

#[test]
fn sessions_past_the_partition_bound_are_not_opened_or_are_closed() {
    let mut cache = FetchSessionCache::new(limits(10), 7);
    assert_eq!(open(&mut cache, 0, 9), INVALID_SESSION_ID);
    let id = open(&mut cache, 0, 8);
    assert_ne!(id, INVALID_SESSION_ID);
    assert_eq!(
        cache.new_context(1, request(id, 1), &[(key(8), params(0))], &[]),
        FetchContext::Sessionless
    );
    assert!(cache.is_empty());
}

#[test]
fn a_full_cache_evicts_a_stale_session_first() {
    let mut cache = FetchSessionCache::new(limits(2), 7);
    let stale = open(&mut cache, 0, 5);
    let recent = open(&mut cache, 100_000, 5);
    // Nothing is stale at 110 s, and no session is old enough to be evicted.
    assert_eq!(open(&mut cache, 110_000, 1), INVALID_SESSION_ID);
    // At 130 s the first is unused for longer than the eviction time.
    let new = open(&mut cache, 130_000, 1);
    assert_ne!(new, INVALID_SESSION_ID);
    assert_eq!(cache.evictions(), 1);
    assert_eq!(
        cache.new_context(130_000, request(stale, 1), &[], &[]),
        FetchContext::Error(error_code::FETCH_SESSION_ID_NOT_FOUND)
    );
    assert!(matches!(
        cache.new_context(130_000, request(recent, 1), &[], &[]),
        FetchContext::Incremental { .. }
    ));
}

#[test]
fn an_old_but_busy_session_is_evicted_only_by_a_bigger_one() {
    let mut cache = FetchSessionCache::new(limits(1), 7);
    let old = open(&mut cache, 0, 3);
    // Used at 200 s: not stale, but older than the eviction time.
    incremental_at(&mut cache, 200_000, old, 1);
    assert_eq!(open(&mut cache, 200_001, 3), INVALID_SESSION_ID);
    assert_eq!(open(&mut cache, 200_001, 2), INVALID_SESSION_ID);
    assert_ne!(open(&mut cache, 200_001, 4), INVALID_SESSION_ID);
    assert_eq!(cache.evictions(), 1);
}

#[test]
fn a_follower_session_evicts_young_consumer_sessions_but_not_the_reverse() {
    let mut cache = FetchSessionCache::new(limits(1), 7);
    let consumer = open(&mut cache, 0, 3);
    let follower = SessionRequest {
        privileged: true,
        ..request(0, INITIAL_EPOCH)
    };
    let data = [(key(0), params(0), answer(10, false))];
    let follower_id = cache.create_session(1_000, follower, &data);
    assert_ne!(follower_id, INVALID_SESSION_ID);
    assert_eq!(
        cache.new_context(1_000, request(consumer, 1), &[], &[]),
        FetchContext::Error(error_code::FETCH_SESSION_ID_NOT_FOUND)
    );
    // A consumer, even a bigger one, cannot evict a young follower session.
    assert_eq!(open(&mut cache, 2_000, 8), INVALID_SESSION_ID);
}

#[test]
fn no_slots_no_sessions() {
    let mut cache = FetchSessionCache::new(limits(0), 7);
    assert_eq!(open(&mut cache, 0, 1), INVALID_SESSION_ID);
    assert_eq!(SessionLimits::for_shard(0, 2, 1000).max_sessions, 500);
}

#[test]
fn epochs_wrap_past_the_largest_to_one() {
    assert_eq!(next_epoch(INITIAL_EPOCH), 1);
    assert_eq!(next_epoch(i32::MAX), 1);
    assert_eq!(next_epoch(FINAL_EPOCH), FINAL_EPOCH);
}

fn incremental_at(cache: &mut FetchSessionCache, now_ms: u64, id: i32, epoch: i32) {
    assert!(matches!(
        cache.new_context(now_ms, request(id, epoch), &[], &[]),
        FetchContext::Incremental { .. }
    ));
}
