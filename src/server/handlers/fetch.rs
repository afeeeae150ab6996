//! Fetch (key 1). On the connection's shard: decide the fetch session
//! (KIP-227, [`crate::partition::fetch_session`]: a full fetch reads what it
//! names and may open a session, an incremental one reads the session's
//! partitions and answers only those with something new), resolve topics
//! (by name, or by id from v13), send each owning shard one read, gather,
//! cut the answers to the request's `max_bytes` in request order, and
//! encode the answer around the record pieces without copying them. On the owning shard the partition
//! layer reads and long-polls ([`crate::partition::fetch`]); once one
//! shard's part comes back with data, or the shards together report
//! `min_bytes`, the others are cancelled.

use super::{current_leader, error_code, RequestMeta, VersionRange};
use crate::local::notify::LocalEvent;
use crate::partition::fetch::{FetchBudget, FetchPart, FetchWait, FetchedPartition, PartitionRead};
use crate::partition::fetch_session::{
    AnswerSummary, FetchContext, IncrementalAnswer, PartitionKey, PartitionParams, SessionRequest,
    TopicKey, FINAL_EPOCH, INITIAL_EPOCH, INVALID_SESSION_ID,
};
use crate::partition::replica::leader::Registration;
use crate::protocol::fetch_response::{
    encode_fetch_response, AbortedTransactions, CurrentLeader, FetchPartitionOut, FetchResponseOut,
    FetchTopicOut, FIRST_NODE_ENDPOINTS_VERSION, FIRST_SESSION_VERSION, FIRST_TOPIC_ID_VERSION,
};
use crate::protocol::piece::Piece;
use crate::shard::messages::{ShardRequest, ShardResponse};
use crate::shard::router::{Completion, RouteError};
use crate::shard::ShardContext;
use kafka_protocol::messages::{FetchRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use std::rc::Rc;
use std::sync::{Arc, OnceLock};
use std::task::Poll;
use std::time::{Duration, Instant};

/// Versions served.
/// v0-3 (old message formats) are decoded as v4 and answered by `legacy_fetch`.
pub const VERSIONS: VersionRange = VersionRange { min: 0, max: 16 };
/// Longest long poll honoured, whatever the client asks.
pub const FETCH_WAIT_MS_MAX: u64 = 30_000;
/// `isolation_level` of a read_committed consumer.
const ISOLATION_READ_COMMITTED: i8 = 1;

enum Slot {
    Done(i16),
    Routed { shard: usize, index: usize },
}

struct TopicSkeleton {
    name: StrBytes,
    id: uuid::Uuid,
    partitions: Vec<(i32, Slot)>,
}

/// Answers a Fetch request.
pub async fn handle(
    ctx: &Rc<ShardContext>,
    meta: RequestMeta,
    request: FetchRequest,
) -> Option<Vec<Piece>> {
    let session = session_request(meta.version, &request);
    close_elsewhere(ctx, session).await;
    let requested = requested_partitions(meta.version, &request);
    let mut context = {
        let forgotten = forgotten_partitions(meta.version, &request);
        let mut sessions = ctx.fetch_sessions.borrow_mut();
        sessions.new_context(now_ms(), session, &requested, &forgotten)
    };
    // The session's partitions move out: `context` keeps its id and epoch.
    let (wanted, session_id) = match &mut context {
        FetchContext::Error(code) => {
            let response = session_error(*code, INVALID_SESSION_ID);
            return Some(encode_fetch_response(
                meta.correlation_id,
                meta.version,
                response,
            ));
        }
        FetchContext::Sessionless | FetchContext::Full => (requested, INVALID_SESSION_ID),
        FetchContext::Incremental {
            session_id,
            partitions,
            ..
        } => {
            crate::metrics::count_incremental_fetch();
            (std::mem::take(partitions), *session_id)
        }
    };
    let fetcher = fetcher_of(ctx, meta.version, &request);
    let mut response = read_and_assemble(ctx, &request, &wanted, fetcher).await;
    response.session_id = session_id;
    let mut response = context_after_reads(ctx, session, &context, &wanted, response);
    if meta.version >= FIRST_NODE_ENDPOINTS_VERSION {
        current_leader::name_in_fetch(ctx, &mut response, meta.listener);
    }
    if meta.version < super::legacy_versions::FETCH_FLOOR {
        // Down-conversion reads file regions into memory: on a helper
        // thread, so a cold read never blocks this core.
        let encoded = crate::local::helper_pool::run_job(
            crate::local::helper_pool::Helpers::Client,
            move || super::legacy_fetch::encode(meta, response),
        );
        return encoded.await.unwrap_or_else(|e| {
            log::warn!("legacy fetch answer not encoded: {e}");
            None
        });
    }
    Some(encode_fetch_response(
        meta.correlation_id,
        meta.version,
        response,
    ))
}

/// Reads `wanted` on the owning shards (long-polling as the request asks)
/// and builds the answer in `wanted`'s order, cut to `max_bytes`.
async fn read_and_assemble(
    ctx: &Rc<ShardContext>,
    request: &FetchRequest,
    wanted: &[(PartitionKey, PartitionParams)],
    fetcher: Fetcher,
) -> FetchResponseOut {
    let (skeleton, parts) = plan(ctx, wanted, fetcher);
    let shards_read = parts.iter().filter(|part| part.is_some()).count();
    let wait = (request.max_wait_ms > 0 && request.min_bytes > 0).then(|| FetchWait {
        min_bytes: request.min_bytes as usize,
        deadline: Instant::now()
            + Duration::from_millis((request.max_wait_ms as u64).min(FETCH_WAIT_MS_MAX)),
        fetch_id: ctx.partitions.fetch_waits().next_fetch_id(ctx.shard_id),
        origin_shard: ctx.shard_id,
        report_progress: shards_read > 1,
    });
    // Tracked before any part starts: a report may come back at once.
    let enough = wait.filter(|wait| wait.report_progress).map(|wait| {
        ctx.partitions
            .fetch_waits()
            .track(wait.fetch_id, wait.min_bytes)
    });
    // Each shard reads up to the whole budget; `assemble` cuts in request order.
    let max_bytes = (request.max_bytes.max(0) as usize).min(ctx.config.fetch_max_bytes as usize);
    let mut completions = Vec::new();
    for (shard, partitions) in parts.into_iter().enumerate() {
        if let Some(partitions) = partitions {
            let part = FetchPart {
                partitions,
                max_bytes,
                min_one_batch: true,
                wait,
            };
            completions.push((
                shard,
                ctx.router
                    .start(ctx, shard, ShardRequest::Fetch(part))
                    .await,
            ));
        }
    }
    let answers = gather(ctx, completions, wait.map(|w| w.fetch_id), enough).await;
    if let Some(wait) = wait {
        ctx.partitions.fetch_waits().untrack(wait.fetch_id);
    }
    let read_committed = request.isolation_level == ISOLATION_READ_COMMITTED;
    assemble(
        skeleton,
        answers,
        FetchBudget::new(max_bytes),
        read_committed,
    )
}

/// A full fetch closes the session it names; when another shard holds it
/// (the client reconnected and landed here), that shard is told. An
/// incremental fetch for a session held elsewhere is answered
/// FETCH_SESSION_ID_NOT_FOUND here, and the client's next full fetch names
/// it.
async fn close_elsewhere(ctx: &Rc<ShardContext>, session: SessionRequest) {
    let full = session.epoch == INITIAL_EPOCH || session.epoch == FINAL_EPOCH;
    let owner = ctx.fetch_sessions.borrow().owner_of(session.session_id);
    if let (true, Some(owner)) = (full, owner) {
        if owner != ctx.shard_id {
            let close = ShardRequest::CloseFetchSession {
                session_id: session.session_id,
            };
            ctx.router.notify(owner, close).await;
        }
    }
}

/// Who fetches: a follower names its broker id and epoch, a consumer -1.
#[derive(Clone, Copy, Debug)]
struct Fetcher {
    replica_id: i32,
    replica_epoch: i64,
    /// A follower's broker as this node's cluster view registers it.
    registration: Registration,
}

/// The fetcher of `request`: ReplicaState from v15 (the epoch too: KIP-903),
/// the ReplicaId field before (no epoch); a follower's registration from
/// the shard's cluster view.
fn fetcher_of(ctx: &ShardContext, version: i16, request: &FetchRequest) -> Fetcher {
    let replica_id = replica_id_of(version, request);
    let replica_epoch = match version >= 15 && replica_id >= 0 {
        true => request.replica_state.replica_epoch.max(-1),
        false => -1,
    };
    let view = (replica_id >= 0).then(|| ctx.cluster_view()).flatten();
    let registered = view.as_ref().and_then(|v| v.broker(replica_id));
    let registration = registered.map_or(Registration::Unknown, |broker| Registration::Known {
        broker_epoch: broker.epoch,
        active: !broker.fenced,
    });
    Fetcher {
        replica_id,
        replica_epoch,
        registration,
    }
}

/// The fetching replica's broker id (v15+: ReplicaState), -1 for a consumer.
fn replica_id_of(version: i16, request: &FetchRequest) -> i32 {
    let replica_id = if version >= 15 {
        request.replica_state.replica_id.0
    } else {
        request.replica_id.0
    };
    replica_id.max(-1)
}

/// The session fields of `request`; before v7 there are none (sessionless).
fn session_request(version: i16, request: &FetchRequest) -> SessionRequest {
    let replica_id = replica_id_of(version, request);
    let (session_id, epoch) = if version >= FIRST_SESSION_VERSION {
        (request.session_id, request.session_epoch)
    } else {
        (INVALID_SESSION_ID, FINAL_EPOCH)
    };
    SessionRequest {
        session_id,
        epoch,
        uses_topic_ids: version >= FIRST_TOPIC_ID_VERSION,
        privileged: replica_id >= 0,
    }
}

/// The partitions a request names, in its order.
fn requested_partitions(
    version: i16,
    request: &FetchRequest,
) -> Vec<(PartitionKey, PartitionParams)> {
    let mut requested = Vec::new();
    for topic in &request.topics {
        let key = topic_key(version, &topic.topic, topic.topic_id);
        for partition in &topic.partitions {
            let params = PartitionParams {
                fetch_offset: partition.fetch_offset,
                partition_max_bytes: partition.partition_max_bytes,
                current_leader_epoch: partition.current_leader_epoch,
                last_fetched_epoch: partition.last_fetched_epoch,
                log_start_offset: partition.log_start_offset,
            };
            let partition = partition.partition;
            requested.push((
                PartitionKey {
                    topic: key.clone(),
                    partition,
                },
                params,
            ));
        }
    }
    requested
}

/// The partitions a request drops from its session (v7+).
fn forgotten_partitions(version: i16, request: &FetchRequest) -> Vec<PartitionKey> {
    let mut forgotten = Vec::new();
    for topic in &request.forgotten_topics_data {
        let key = topic_key(version, &topic.topic, topic.topic_id);
        for &partition in &topic.partitions {
            forgotten.push(PartitionKey {
                topic: key.clone(),
                partition,
            });
        }
    }
    forgotten
}

fn topic_key(version: i16, name: &TopicName, id: uuid::Uuid) -> TopicKey {
    if version >= FIRST_TOPIC_ID_VERSION {
        TopicKey::Id(id)
    } else {
        TopicKey::Name(Arc::from(name.0.as_str()))
    }
}

/// After the reads: a full fetch may open a session, an incremental one
/// answers only the partitions with something new, or only an error if
/// the session's epoch moved meanwhile (a duplicate request).
fn context_after_reads(
    ctx: &ShardContext,
    session: SessionRequest,
    context: &FetchContext,
    wanted: &[(PartitionKey, PartitionParams)],
    mut response: FetchResponseOut,
) -> FetchResponseOut {
    let mut sessions = ctx.fetch_sessions.borrow_mut();
    match context {
        FetchContext::Full => {
            let answered: Vec<_> = wanted
                .iter()
                .zip(answered_partitions(&response))
                .map(|((key, params), answer)| (key.clone(), *params, answer))
                .collect();
            response.session_id = sessions.create_session(now_ms(), session, &answered);
            response
        }
        FetchContext::Incremental {
            session_id, epoch, ..
        } => {
            let answered: Vec<_> = wanted
                .iter()
                .zip(answered_partitions(&response))
                .map(|((key, _), answer)| (key.clone(), answer))
                .collect();
            match sessions.complete_incremental(*session_id, *epoch, &answered) {
                IncrementalAnswer::Partitions(keep) => {
                    retain_partitions(&mut response, &keep);
                    response
                }
                IncrementalAnswer::EpochMoved => {
                    session_error(error_code::INVALID_FETCH_SESSION_EPOCH, *session_id)
                }
            }
        }
        FetchContext::Sessionless | FetchContext::Error(_) => response,
    }
}

/// What each partition of `response` answers, in order.
fn answered_partitions(response: &FetchResponseOut) -> impl Iterator<Item = AnswerSummary> + '_ {
    let partitions = response.topics.iter().flat_map(|topic| &topic.partitions);
    partitions.map(|partition| AnswerSummary {
        has_records: !partition.records.is_empty(),
        high_watermark: partition.high_watermark,
        log_start_offset: partition.log_start_offset,
        error_code: partition.error_code,
        diverging: partition.diverging_epoch.is_some(),
    })
}

/// Keeps the partitions `keep` marks (in flattened order) and the topics
/// left with any.
fn retain_partitions(response: &mut FetchResponseOut, keep: &[bool]) {
    let mut marks = keep.iter();
    for topic in &mut response.topics {
        topic
            .partitions
            .retain(|_| marks.next().copied().unwrap_or(true));
    }
    response.topics.retain(|topic| !topic.partitions.is_empty());
}

/// A session error: the code, `session_id`, no partitions.
fn session_error(code: i16, session_id: i32) -> FetchResponseOut {
    FetchResponseOut {
        throttle_time_ms: 0,
        error_code: code,
        session_id,
        topics: Vec::new(),
        node_endpoints: Vec::new(),
    }
}

/// Milliseconds on a monotonic clock, for session ages.
fn now_ms() -> u64 {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    ORIGIN.get_or_init(Instant::now).elapsed().as_millis() as u64
}

/// Resolves `wanted`'s topics (by id or name, as the request or session
/// names them) and splits the reads by owning shard. Consecutive partitions
/// of one topic share a topic in the answer, as in Kafka's.
fn plan(
    ctx: &ShardContext,
    wanted: &[(PartitionKey, PartitionParams)],
    fetcher: Fetcher,
) -> (Vec<TopicSkeleton>, Vec<Option<Vec<PartitionRead>>>) {
    let table = ctx.topic_table();
    let mut parts: Vec<Option<Vec<PartitionRead>>> = (0..ctx.nr_shards).map(|_| None).collect();
    let mut skeleton: Vec<TopicSkeleton> = Vec::new();
    let mut current: Option<&TopicKey> = None;
    let mut found = None;
    let mut topic_name: Option<Arc<str>> = None;
    for (key, params) in wanted {
        if current != Some(&key.topic) {
            current = Some(&key.topic);
            found = match &key.topic {
                TopicKey::Id(id) => table.get_by_id(id),
                TopicKey::Name(name) => table.get(name),
            };
            topic_name = found.map(|t| Arc::from(t.name.as_str()));
            let (name, id) = match (&key.topic, found) {
                (_, Some(t)) => (StrBytes::from_string(t.name.clone()), t.id),
                (TopicKey::Id(id), None) => (StrBytes::default(), *id),
                (TopicKey::Name(name), None) => {
                    (StrBytes::from_string(name.to_string()), uuid::Uuid::nil())
                }
            };
            skeleton.push(TopicSkeleton {
                name,
                id,
                partitions: Vec::new(),
            });
        }
        let missing_code = match key.topic {
            TopicKey::Id(_) => error_code::UNKNOWN_TOPIC_ID,
            TopicKey::Name(_) => error_code::UNKNOWN_TOPIC_OR_PARTITION,
        };
        let index = key.partition;
        let slot = match (found, &topic_name) {
            (None, _) | (_, None) => Slot::Done(missing_code),
            (Some(t), Some(_))
                if index >= 0 && index < t.partitions && !ctx.leads(&t.id, index) =>
            {
                Slot::Done(error_code::NOT_LEADER_OR_FOLLOWER)
            }
            (Some(t), Some(name)) if index >= 0 && index < t.partitions => {
                let shard = ctx.owner_of(name, index);
                let reads = parts[shard].get_or_insert_with(Vec::new);
                reads.push(PartitionRead {
                    topic: name.clone(),
                    partition: index,
                    fetch_offset: params.fetch_offset,
                    partition_max_bytes: params.partition_max_bytes.max(0) as usize,
                    current_leader_epoch: params.current_leader_epoch,
                    last_fetched_epoch: params.last_fetched_epoch,
                    replica_id: fetcher.replica_id,
                    replica_epoch: fetcher.replica_epoch,
                    replica_registration: fetcher.registration,
                });
                Slot::Routed {
                    shard,
                    index: reads.len() - 1,
                }
            }
            _ => Slot::Done(error_code::UNKNOWN_TOPIC_OR_PARTITION),
        };
        if let Some(topic) = skeleton.last_mut() {
            topic.partitions.push((index, slot));
        }
    }
    (skeleton, parts)
}

/// Awaits every shard's part. Once one part comes back with data while
/// others still wait, or `enough` fires (the waiting shards together have
/// `min_bytes`), the waits are cancelled so the answer goes out now.
async fn gather(
    ctx: &Rc<ShardContext>,
    completions: Vec<(usize, Completion)>,
    fetch_id: Option<u64>,
    enough: Option<LocalEvent>,
) -> Vec<Option<Vec<FetchedPartition>>> {
    let mut answers: Vec<Option<Vec<FetchedPartition>>> =
        (0..ctx.nr_shards).map(|_| None).collect();
    let mut pending: Vec<(usize, Option<Completion>)> =
        completions.into_iter().map(|(s, c)| (s, Some(c))).collect();
    let mut cancelled = false;
    let mut remaining = pending.len();
    while remaining > 0 {
        let enough_now = enough.as_ref().filter(|_| !cancelled);
        let Some((shard, answer)) = next_ready_or(&mut pending, enough_now).await else {
            if let Some(fetch_id) = fetch_id {
                cancelled = true;
                cancel_pending(ctx, &pending, fetch_id).await;
            }
            continue;
        };
        remaining -= 1;
        let fetched = match answer {
            Ok(ShardResponse::Fetch(fetched)) => fetched,
            Ok(_) | Err(RouteError::ShardUnavailable(_)) => Vec::new(),
        };
        let has_data = fetched
            .iter()
            .any(|p| !p.records.is_empty() || p.error_code != error_code::NONE);
        answers[shard] = Some(fetched);
        if let (Some(fetch_id), true, false, true) = (fetch_id, has_data, cancelled, remaining > 0)
        {
            cancelled = true;
            cancel_pending(ctx, &pending, fetch_id).await;
        }
    }
    answers
}

async fn cancel_pending(
    ctx: &Rc<ShardContext>,
    pending: &[(usize, Option<Completion>)],
    fetch_id: u64,
) {
    for (shard, completion) in pending {
        if completion.is_some() {
            cancel_wait(ctx, *shard, fetch_id).await;
        }
    }
}

/// The next completion, or `None` once `event` (if any) has fired.
async fn next_ready_or(
    pending: &mut [(usize, Option<Completion>)],
    event: Option<&LocalEvent>,
) -> Option<(usize, Result<ShardResponse, RouteError>)> {
    match event {
        None => Some(next_ready(pending).await),
        Some(event) => {
            let fired = async {
                event.wait().await;
                None
            };
            futures_lite::future::or(async { Some(next_ready(pending).await) }, fired).await
        }
    }
}

async fn cancel_wait(ctx: &Rc<ShardContext>, shard: usize, fetch_id: u64) {
    if shard == ctx.shard_id {
        ctx.partitions.fetch_waits().cancel(fetch_id);
    } else {
        ctx.router
            .notify(shard, ShardRequest::CancelFetchWait { fetch_id })
            .await;
    }
}

/// The first completion to resolve, with its shard; it is removed from `pending`.
async fn next_ready(
    pending: &mut [(usize, Option<Completion>)],
) -> (usize, Result<ShardResponse, RouteError>) {
    futures_lite::future::poll_fn(|cx| {
        for (shard, slot) in pending.iter_mut() {
            if let Some(completion) = slot {
                if let Poll::Ready(answer) = completion.as_mut().poll(cx) {
                    *slot = None;
                    return Poll::Ready((*shard, answer));
                }
            }
        }
        Poll::Pending
    })
    .await
}

fn assemble(
    skeleton: Vec<TopicSkeleton>,
    mut answers: Vec<Option<Vec<FetchedPartition>>>,
    mut budget: FetchBudget,
    read_committed: bool,
) -> FetchResponseOut {
    let topics = skeleton
        .into_iter()
        .map(|topic| FetchTopicOut {
            name: TopicName(topic.name),
            topic_id: topic.id,
            partitions: topic
                .partitions
                .into_iter()
                .map(|(index, slot)| {
                    // Kafka answers partitions it refuses before reading
                    // (unknown topic or partition) with an empty aborted
                    // transactions list, failed reads with none, and reads
                    // with a (here always empty) list when read_committed.
                    let refused = matches!(slot, Slot::Done(_));
                    let mut fetched = match slot {
                        Slot::Done(code) => FetchedPartition::error(code),
                        Slot::Routed { shard, index } => answers
                            .get_mut(shard)
                            .and_then(|a| a.as_mut())
                            .and_then(|a| a.get_mut(index))
                            .map(std::mem::take)
                            .unwrap_or_else(|| {
                                FetchedPartition::error(error_code::NOT_LEADER_OR_FOLLOWER)
                            }),
                    };
                    budget.charge(&mut fetched.records);
                    crate::metrics::count_fetched(fetched.error_code, &fetched.records);
                    FetchPartitionOut {
                        partition_index: index,
                        error_code: fetched.error_code,
                        high_watermark: fetched.high_watermark,
                        last_stable_offset: fetched.last_stable_offset,
                        log_start_offset: fetched.log_start_offset,
                        aborted_transactions: if refused
                            || (read_committed && fetched.error_code == error_code::NONE)
                        {
                            AbortedTransactions::Empty
                        } else {
                            AbortedTransactions::Null
                        },
                        diverging_epoch: fetched.diverging_epoch,
                        current_leader: fetched.current_leader.map(|hint| CurrentLeader {
                            leader_id: hint.leader_id,
                            leader_epoch: hint.leader_epoch,
                        }),
                        records: fetched.records,
                    }
                })
                .collect(),
        })
        .collect();
    FetchResponseOut {
        throttle_time_ms: 0,
        error_code: error_code::NONE,
        session_id: 0,
        topics,
        node_endpoints: Vec::new(),
    }
}
