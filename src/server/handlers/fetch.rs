//! Fetch (key 1). On the connection's shard: resolve topics (by name, or by
//! id from v13), send each owning shard one read, gather, cut the answers to
//! the request's `max_bytes` in request order, and encode the answer around
//! the record pieces without copying them. On the owning shard the partition
//! layer reads and long-polls ([`crate::partition::fetch`]); once one
//! shard's part comes back with data, or the shards together report
//! `min_bytes`, the others are cancelled.

use super::{error_code, RequestMeta, VersionRange};
use crate::local::notify::LocalEvent;
use crate::partition::fetch::{FetchBudget, FetchPart, FetchWait, FetchedPartition, PartitionRead};
use crate::protocol::fetch_response::{
    encode_fetch_response, FetchPartitionOut, FetchResponseOut, FetchTopicOut,
};
use crate::protocol::piece::Piece;
use crate::shard::messages::{ShardRequest, ShardResponse};
use crate::shard::router::{Completion, RouteError};
use crate::shard::ShardContext;
use kafka_protocol::messages::{FetchRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use std::rc::Rc;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

/// Versions served.
/// v0-3 (old message formats) are decoded as v4 and answered by `legacy_fetch`.
pub const VERSIONS: VersionRange = VersionRange { min: 0, max: 16 };
/// Longest long poll honoured, whatever the client asks.
pub const FETCH_WAIT_MS_MAX: u64 = 30_000;

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
    let (skeleton, parts) = plan(ctx, meta.version, &request);
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
    let response = assemble(skeleton, answers, FetchBudget::new(max_bytes));
    if meta.version < super::legacy_versions::FETCH_FLOOR {
        // Down-conversion reads file regions into memory: on a helper
        // thread, so a cold read never blocks this core.
        let encoded = crate::local::helper_pool::run_client_job(move || {
            super::legacy_fetch::encode(meta, response)
        });
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

fn plan(
    ctx: &ShardContext,
    version: i16,
    request: &FetchRequest,
) -> (Vec<TopicSkeleton>, Vec<Option<Vec<PartitionRead>>>) {
    let table = ctx.topic_table();
    let mut parts: Vec<Option<Vec<PartitionRead>>> = (0..ctx.nr_shards).map(|_| None).collect();
    let mut skeleton = Vec::with_capacity(request.topics.len());
    for topic in &request.topics {
        let found = if version >= 13 {
            table.get_by_id(&topic.topic_id)
        } else {
            table.get(topic.topic.0.as_str())
        };
        let missing_code = if version >= 13 {
            error_code::UNKNOWN_TOPIC_ID
        } else {
            error_code::UNKNOWN_TOPIC_OR_PARTITION
        };
        let topic_name: Option<Arc<str>> = found.map(|t| Arc::from(t.name.as_str()));
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for partition in &topic.partitions {
            let index = partition.partition;
            let slot = match (found, &topic_name) {
                (None, _) | (_, None) => Slot::Done(missing_code),
                (Some(t), Some(name)) if index >= 0 && index < t.partitions => {
                    let shard = ctx.owner_of(name, index);
                    let reads = parts[shard].get_or_insert_with(Vec::new);
                    reads.push(PartitionRead {
                        topic: name.clone(),
                        partition: index,
                        fetch_offset: partition.fetch_offset,
                        partition_max_bytes: partition.partition_max_bytes.max(0) as usize,
                    });
                    Slot::Routed {
                        shard,
                        index: reads.len() - 1,
                    }
                }
                _ => Slot::Done(error_code::UNKNOWN_TOPIC_OR_PARTITION),
            };
            partitions.push((index, slot));
        }
        skeleton.push(TopicSkeleton {
            name: found.map_or_else(
                || topic.topic.0.clone(),
                |t| StrBytes::from_string(t.name.clone()),
            ),
            id: found.map_or(topic.topic_id, |t| t.id),
            partitions,
        });
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
    }
}
