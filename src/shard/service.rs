//! What a shard does with a [`ShardRequest`], whether it came over the mesh or
//! from a connection on the same shard. Each arm delegates to the service
//! that owns the work: the partitions ([`crate::partition`]), the group
//! coordinator or the topic metadata.

use super::calls;
use super::messages::{ShardRequest, ShardResponse};
use super::placement::offsets_partitions_of;
use super::stray_logs;
use super::ShardContext;
use crate::cluster::member::quorum::QuorumAnswer;
use crate::cluster::member::view::ClusterView;
use crate::cluster::replication::isr::AlterPartitionSender;
use crate::cluster::replication::{broker_replica_config, ShardReplication};
use crate::coordinator::offsets::partitions::OFFSETS_TOPIC;
use crate::metadata::apply::{apply_topics, ApplyTarget};
use crate::metadata::controller;
use crate::metadata::topic_table::TopicTable;
use crate::partition::fetch::FetchWait;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;

/// The answer to a request, once its ordered phase is done.
pub type Answer = Pin<Box<dyn Future<Output = ShardResponse>>>;

/// Runs the ordered phase of `request` on this shard and returns its answer.
pub async fn serve(ctx: &Rc<ShardContext>, request: ShardRequest) -> Answer {
    match request {
        ShardRequest::Produce(part) => {
            let appended = ctx.partitions.append(part).await;
            Box::pin(async move { ShardResponse::Produce(appended.until_durable().await) })
        }
        ShardRequest::Fetch(part) => {
            let report = progress_reporter(ctx, part.wait);
            let read = ctx.partitions.start_fetch(part, report);
            Box::pin(async move { ShardResponse::Fetch(read.await) })
        }
        ShardRequest::FetchProgress {
            fetch_id,
            shard,
            bytes,
        } => {
            ctx.partitions
                .fetch_waits()
                .progress(fetch_id, shard, bytes);
            Box::pin(async { ShardResponse::Applied(Ok(())) })
        }
        ShardRequest::ListOffsets(part) => {
            let partitions = ctx.partitions.clone();
            Box::pin(
                async move { ShardResponse::ListOffsets(partitions.resolve_offsets(part).await) },
            )
        }
        ShardRequest::EpochEnds(part) => {
            let ends = ctx.partitions.epoch_ends(part);
            Box::pin(async move { ShardResponse::EpochEnds(ends) })
        }
        ShardRequest::CancelFetchWait { fetch_id } => {
            ctx.partitions.fetch_waits().cancel(fetch_id);
            Box::pin(async { ShardResponse::Applied(Ok(())) })
        }
        ShardRequest::CloseFetchSession { session_id } => {
            ctx.fetch_sessions.borrow_mut().remove(session_id);
            Box::pin(async { ShardResponse::Applied(Ok(())) })
        }
        ShardRequest::ApplyTopics(table) => {
            // Applied in the ordered phase so table versions never race.
            let result = adopt_topics(ctx, table).await;
            Box::pin(async move { ShardResponse::Applied(result) })
        }
        ShardRequest::Group(request) => {
            let coordinator = ctx.coordinator.clone();
            Box::pin(async move { ShardResponse::Group(coordinator.serve(request).await) })
        }
        ShardRequest::LogDirSizes(partitions) => {
            let sizes = ctx.partitions.sizes(&partitions);
            Box::pin(async move { ShardResponse::LogDirSizes(sizes) })
        }
        ShardRequest::ApplyCluster(view) => {
            let result = adopt_cluster(ctx, view).await;
            Box::pin(async move { ShardResponse::Applied(result) })
        }
        ShardRequest::Quorum(op) => {
            let member = ctx.cluster.member.borrow().clone();
            Box::pin(async move {
                ShardResponse::Quorum(match member {
                    Some(member) => member.quorum(op).await,
                    None => QuorumAnswer::Refused {
                        code: crate::protocol::error_code::INVALID_REQUEST,
                        message: "this broker is not a member of a cluster".into(),
                    },
                })
            })
        }
        ShardRequest::AlterPartition { tp, proposal } => {
            let member = ctx.cluster.member.borrow().clone();
            Box::pin(async move {
                let answer = match member {
                    Some(member) => member.alter_partition(tp, &proposal).await,
                    // One node has no controller to ask (nor followers).
                    None => Err(crate::protocol::error_code::NOT_CONTROLLER),
                };
                ShardResponse::AlterPartition(answer)
            })
        }
        ShardRequest::ElectLeaders(request) => {
            let member = ctx.cluster.member.borrow().clone();
            Box::pin(async move {
                let answer = match member {
                    Some(member) => member.elect_leaders(request).await,
                    None => Err(crate::protocol::error_code::NOT_CONTROLLER),
                };
                ShardResponse::Elections(answer)
            })
        }
        ShardRequest::AlterReassignments(request) => {
            let member = ctx.cluster.member.borrow().clone();
            Box::pin(async move {
                let answer = match member {
                    Some(member) => member.alter_reassignments(request).await,
                    None => Err(crate::protocol::error_code::NOT_CONTROLLER),
                };
                ShardResponse::Elections(answer)
            })
        }
        ShardRequest::AllocateProducerIds => {
            let member = ctx.cluster.member.borrow().clone();
            Box::pin(async move {
                let answer = match member {
                    Some(member) => member.allocate_producer_ids().await,
                    None => Err(crate::protocol::error_code::NOT_CONTROLLER),
                };
                ShardResponse::ProducerIds(answer)
            })
        }
        ShardRequest::Controller(request) => {
            let ctx = ctx.clone();
            let member = ctx.cluster.member.borrow().clone();
            if let Some(member) = member {
                return Box::pin(async move {
                    ShardResponse::Controller(member.topic_change(request).await)
                });
            }
            Box::pin(async move {
                let publish = |table| calls::controller::publish(&ctx, table);
                let answer = controller::handle(&ctx.control, &ctx.config, request, publish);
                ShardResponse::Controller(answer.await)
            })
        }
    }
}

/// How a long poll served here tells the shard that owns its connection how
/// many bytes it has (only asked for fetches spanning several shards).
fn progress_reporter(ctx: &Rc<ShardContext>, wait: Option<FetchWait>) -> impl Fn(usize) {
    let ctx = ctx.clone();
    move |bytes| {
        let Some(wait) = wait else {
            return;
        };
        if wait.origin_shard == ctx.shard_id {
            let waits = ctx.partitions.fetch_waits();
            waits.progress(wait.fetch_id, ctx.shard_id, bytes);
            return;
        }
        let report = ShardRequest::FetchProgress {
            fetch_id: wait.fetch_id,
            shard: ctx.shard_id,
            bytes,
        };
        let ctx = ctx.clone();
        glommio::spawn_local(async move { ctx.router.notify(wait.origin_shard, report).await })
            .detach();
    }
}

/// Makes `table` this shard's: its partitions opened or deleted to match,
/// then the committed offsets of removed topics deleted, durably.
async fn adopt_topics(ctx: &Rc<ShardContext>, table: Arc<TopicTable>) -> Result<(), String> {
    let owns = |topic: &str, partition| ctx.owner_of(topic, partition) == ctx.shard_id;
    let target = ApplyTarget {
        config: &ctx.config,
        control: &ctx.control,
        partitions: &ctx.partitions,
        shard_id: ctx.shard_id,
        owns: &owns,
        clean_open: true,
    };
    let removed = apply_topics(&target, table).await?;
    forget_offsets(ctx, removed).await
}

/// Makes `view` this shard's: its topic table adopted with the partitions
/// this node holds a replica of opened (the others are not kept here),
/// then the view itself, so a request that finds a partition led here finds
/// it open.
async fn adopt_cluster(ctx: &Rc<ShardContext>, view: Arc<ClusterView>) -> Result<(), String> {
    let owns = |topic: &str, partition| {
        if ctx.owner_of(topic, partition) != ctx.shard_id {
            return false;
        }
        let replica = view
            .table
            .get(topic)
            .is_some_and(|t| view.is_local_replica(&t.id, partition));
        replica || ctx.partitions.get(topic, partition).is_some()
    };
    let target = ApplyTarget {
        config: &ctx.config,
        control: &ctx.control,
        partitions: &ctx.partitions,
        shard_id: ctx.shard_id,
        owns: &owns,
        clean_open: ctx.lifecycle.clean_start,
    };
    let removed = apply_topics(&target, view.table.clone()).await;
    adopt_roles(ctx, &view).await;
    adopt_offsets_leadership(ctx, &view);
    let previous = ctx.cluster.view.borrow_mut().replace(view.clone());
    if view.registered {
        ctx.cluster.caught_up.fire();
    }
    delete_moved_replicas(ctx, previous.as_deref(), &view).await?;
    if stray_logs::first_registered_view(previous.as_deref(), &view) {
        // Left for the next start if it fails: the view is adopted anyway.
        if let Err(e) = stray_logs::delete_stray_logs(ctx, &view).await {
            log::error!("shard {}: {e}", ctx.shard_id);
        }
    }
    forget_offsets(ctx, removed?).await
}

/// Kafka's StopReplica with delete: the partitions open here that the
/// `previous` view listed this broker a replica of and `view` no longer
/// does (a reassignment completed) stop serving, then their logs and
/// directories are deleted. After the view is adopted, so a request for one
/// is told to ask the new leader. Only such a change counts: a view older
/// than the log (while a restarted broker replays metadata) never makes a
/// replica delete data the current metadata may still count on.
async fn delete_moved_replicas(
    ctx: &Rc<ShardContext>,
    previous: Option<&ClusterView>,
    view: &ClusterView,
) -> Result<(), String> {
    let Some(previous) = previous else {
        return Ok(());
    };
    for (topic, index, partition) in ctx.partitions.open_partitions() {
        let Some(meta) = view.table.get(&topic) else {
            continue;
        };
        let Some(placement) = view.partition(&meta.id, index) else {
            continue;
        };
        let was_replica = previous
            .table
            .get(&topic)
            .is_some_and(|old| old.id == meta.id && previous.is_local_replica(&old.id, index));
        if placement.replicas.contains(&view.node_id) || !was_replica {
            continue;
        }
        drop(partition);
        stray_logs::stop_serving_and_delete(ctx, view, &topic, index, Some(placement.leader_epoch))
            .await
            .map_err(|e| format!("cannot delete {topic}-{index} (moved away): {e}"))?;
        log::info!(
            "shard {}: deleted {topic}-{index}: broker {} is no longer a replica",
            ctx.shard_id,
            view.node_id
        );
    }
    Ok(())
}

/// Gives this shard's partitions their roles in `view` (leader or follower
/// at its epoch) and points the fetchers at the leaders, before the view is
/// adopted: a request routed by it finds the partition in its role.
async fn adopt_roles(ctx: &Rc<ShardContext>, view: &ClusterView) {
    let replication = ctx
        .cluster
        .replication
        .borrow_mut()
        .get_or_insert_with(|| {
            let replication = Rc::new(ShardReplication::new(
                view.node_id,
                broker_replica_config(&ctx.config),
            ));
            replication.isr().set_sender(alter_partition_sender(ctx));
            replication
        })
        .clone();
    replication
        .apply(view, ctx.partitions.open_partitions())
        .await;
}

/// Tells the coordinator which of this shard's offsets partitions this
/// broker leads in `view` (and at which leader epoch), once their roles are
/// set: it loads the newly led ones and drops the others (Kafka's
/// coordinator follows the leadership of `__consumer_offsets`).
fn adopt_offsets_leadership(ctx: &Rc<ShardContext>, view: &ClusterView) {
    let count = view.offsets_partitions(ctx.config.offsets_topic_num_partitions);
    let owned = offsets_partitions_of(ctx.shard_id, count, ctx.nr_shards);
    ctx.coordinator.follow_partition_count(count, owned);
    let led_in_view: BTreeMap<i32, i32> = ctx
        .coordinator
        .offsets
        .owned()
        .into_iter()
        .filter_map(|index| {
            let (leader, epoch) = view.offsets_leader(index)?;
            (leader == view.node_id).then_some((index, epoch))
        })
        .collect();
    let topic_known = view.table.get(OFFSETS_TOPIC).is_some();
    ctx.coordinator
        .offsets
        .follow_view(topic_known.then(|| led_in_view.keys().copied().collect()));
    let led: BTreeMap<i32, i32> = led_in_view
        .into_iter()
        .filter(|(index, _)| ctx.partitions.get(OFFSETS_TOPIC, *index).is_some())
        .collect();
    ctx.coordinator.adopt_leadership(&led, &ctx.partitions);
}

/// Where this shard's partition leaders send their ISR changes: shard 0's
/// cluster member, which batches them to the active controller
/// (AlterPartition). Weak, so the ticker does not keep the shard alive.
fn alter_partition_sender(ctx: &Rc<ShardContext>) -> AlterPartitionSender {
    let weak = Rc::downgrade(ctx);
    Rc::new(move |tp, proposal| {
        let weak = weak.clone();
        Box::pin(async move {
            match weak.upgrade() {
                Some(ctx) => calls::cluster::alter_partition(&ctx, tp, proposal).await,
                None => Err(crate::protocol::error_code::NOT_CONTROLLER),
            }
        })
    })
}

/// Deletes the committed offsets of `removed` topics, durably.
async fn forget_offsets(ctx: &Rc<ShardContext>, removed: Vec<String>) -> Result<(), String> {
    if removed.is_empty() {
        return Ok(());
    }
    ctx.coordinator
        .forget_topics(&removed)
        .await
        .map_err(|e| format!("cannot delete committed offsets of {removed:?}: {e}"))
}
