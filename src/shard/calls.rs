//! Typed calls to the services of other shards, for the layers that do not
//! route themselves: the handlers reach a group's coordinator and the
//! controller through these, and the controller publishes a new topic table
//! to every shard through [`controller::publish`].

use crate::local::join_all;
use crate::shard::messages::{ShardRequest, ShardResponse};
use crate::shard::ShardContext;

/// Calls to the group coordinator of a shard.
pub mod group {
    use crate::coordinator::offsets::partitions::OFFSETS_TOPIC;
    use crate::coordinator::{GroupRequest, GroupResponse};
    use crate::protocol::error_code;
    use crate::shard::messages::{ShardRequest, ShardResponse};
    use crate::shard::placement::shard_for_group;
    use crate::shard::ShardContext;
    use std::rc::Rc;

    /// Sends `request` to the shard owning `group_id` and waits for the
    /// answer; `Err` carries the error code for the client.
    pub async fn call_owner(
        ctx: &Rc<ShardContext>,
        group_id: &str,
        request: GroupRequest,
    ) -> Result<GroupResponse, i16> {
        let mut partitions = ctx.config.offsets_topic_num_partitions;
        // In a cluster the leader of the group's offsets partition
        // coordinates it (FindCoordinator's answer); the owning shard then
        // answers COORDINATOR_LOAD_IN_PROGRESS until it has loaded it, and
        // while this broker has not applied `__consumer_offsets` yet.
        if let Some(view) = ctx.cluster_view() {
            partitions = view.offsets_partitions(partitions);
            let topic_known = view.table.get(OFFSETS_TOPIC).is_some();
            let here = view.group_coordinator(group_id, partitions) == Some(ctx.identity.node_id);
            if topic_known && !here {
                return Err(error_code::NOT_COORDINATOR);
            }
        }
        let owner = shard_for_group(group_id, partitions, ctx.nr_shards);
        call_shard(ctx, owner, request).await
    }

    /// Sends `request` to the coordinator of `shard` and waits for the answer.
    pub async fn call_shard(
        ctx: &Rc<ShardContext>,
        shard: usize,
        request: GroupRequest,
    ) -> Result<GroupResponse, i16> {
        match ctx
            .router
            .call(ctx, shard, ShardRequest::Group(request))
            .await
        {
            Ok(ShardResponse::Group(GroupResponse::Refused(code))) => Err(code),
            Ok(ShardResponse::Group(response)) => Ok(response),
            _ => Err(error_code::COORDINATOR_NOT_AVAILABLE),
        }
    }
}

/// Calls to and from the controller.
pub mod controller {
    use crate::metadata::controller::{failed_response, ControllerRequest, ControllerResponse};
    use crate::metadata::topic_table::TopicTable;
    use crate::metadata::CONTROLLER_SHARD;
    use crate::shard::messages::{ShardRequest, ShardResponse};
    use crate::shard::ShardContext;
    use std::rc::Rc;
    use std::sync::Arc;

    /// Asks the controller for a topic change from any shard.
    pub async fn request(ctx: &Rc<ShardContext>, request: ControllerRequest) -> ControllerResponse {
        let answer = ctx
            .router
            .call(
                ctx,
                CONTROLLER_SHARD,
                ShardRequest::Controller(request.clone()),
            )
            .await;
        match answer {
            Ok(ShardResponse::Controller(response)) => response,
            _ => failed_response(ctx.topic_table(), &request),
        }
    }

    /// Makes every shard adopt `next` (the controller's step after
    /// persisting it); the first shard's failure, if any.
    pub async fn publish(ctx: &Rc<ShardContext>, next: Arc<TopicTable>) -> Result<(), String> {
        super::apply_everywhere(ctx, || ShardRequest::ApplyTopics(next.clone())).await
    }
}

/// Calls of a cluster member's shard 0 to every shard, and of any shard to
/// the cluster member on shard 0.
pub mod cluster {
    use crate::cluster::controller::api::{AlterReassignmentsRequest, ElectLeadersRequest};
    use crate::cluster::member::elections::ElectionOutcome;
    use crate::cluster::member::view::ClusterView;
    use crate::cluster::TopicIdPartition;
    use crate::partition::replica::{AlterPartitionProposal, PartitionState};
    use crate::protocol::error_code;
    use crate::shard::messages::{ShardRequest, ShardResponse};
    use crate::shard::ShardContext;
    use std::rc::Rc;
    use std::sync::Arc;

    /// The shard that runs the cluster member.
    const MEMBER_SHARD: usize = 0;

    /// AlterPartition from any shard: asks the active controller to commit
    /// this broker's ISR change of `tp` (it leads it) and returns the
    /// committed state or a Kafka error code. Proposals of every shard are
    /// batched on shard 0 into one controller request per round; see
    /// [`Member::alter_partition`](crate::cluster::member::Member::alter_partition)
    /// for the state returned and every error code. `NOT_CONTROLLER` also
    /// when shard 0 could not be asked, or on a single node (no controller).
    pub async fn alter_partition(
        ctx: &Rc<ShardContext>,
        tp: TopicIdPartition,
        proposal: AlterPartitionProposal,
    ) -> Result<PartitionState, i16> {
        let request = ShardRequest::AlterPartition { tp, proposal };
        match ctx.router.call(ctx, MEMBER_SHARD, request).await {
            Ok(ShardResponse::AlterPartition(answer)) => answer,
            _ => Err(error_code::NOT_CONTROLLER),
        }
    }

    /// A block of producer ids from the active controller, asked from any
    /// shard through shard 0: `(first id, length)` or a Kafka error code
    /// (`NOT_CONTROLLER` also when shard 0 could not be asked).
    pub async fn allocate_producer_ids(ctx: &Rc<ShardContext>) -> Result<(i64, i32), i16> {
        let request = ShardRequest::AllocateProducerIds;
        match ctx.router.call(ctx, MEMBER_SHARD, request).await {
            Ok(ShardResponse::ProducerIds(answer)) => answer,
            _ => Err(error_code::NOT_CONTROLLER),
        }
    }

    /// ElectLeaders from any shard, run by the active controller through
    /// shard 0: each partition's error code, or the request's
    /// (`NOT_CONTROLLER` also when shard 0 could not be asked).
    pub async fn elect_leaders(
        ctx: &Rc<ShardContext>,
        request: ElectLeadersRequest,
    ) -> Result<Vec<ElectionOutcome>, i16> {
        let request = ShardRequest::ElectLeaders(request);
        match ctx.router.call(ctx, MEMBER_SHARD, request).await {
            Ok(ShardResponse::Elections(answer)) => answer,
            _ => Err(error_code::NOT_CONTROLLER),
        }
    }

    /// AlterPartitionReassignments from any shard, run by the active
    /// controller through shard 0: each partition's error code, or the
    /// request's (`NOT_CONTROLLER` also when shard 0 could not be asked).
    pub async fn alter_reassignments(
        ctx: &Rc<ShardContext>,
        request: AlterReassignmentsRequest,
    ) -> Result<Vec<ElectionOutcome>, i16> {
        let request = ShardRequest::AlterReassignments(request);
        match ctx.router.call(ctx, MEMBER_SHARD, request).await {
            Ok(ShardResponse::Elections(answer)) => answer,
            _ => Err(error_code::NOT_CONTROLLER),
        }
    }

    /// Makes every shard adopt `view`; the first shard's failure, if any.
    pub async fn publish(ctx: &Rc<ShardContext>, view: Arc<ClusterView>) -> Result<(), String> {
        super::apply_everywhere(ctx, || ShardRequest::ApplyCluster(view.clone())).await
    }
}

/// Requests about the metadata quorum, answered through shard 0's member.
pub mod quorum {
    use crate::cluster::member::quorum::{QuorumAnswer, QuorumOp};
    use crate::metadata::CONTROLLER_SHARD;
    use crate::protocol::error_code;
    use crate::shard::messages::{ShardRequest, ShardResponse};
    use crate::shard::ShardContext;
    use std::rc::Rc;

    /// The quorum leader's answer to `op`, from any shard.
    pub async fn request(ctx: &Rc<ShardContext>, op: QuorumOp) -> QuorumAnswer {
        match ctx
            .router
            .call(ctx, CONTROLLER_SHARD, ShardRequest::Quorum(op))
            .await
        {
            Ok(ShardResponse::Quorum(answer)) => answer,
            _ => QuorumAnswer::Refused {
                code: error_code::UNKNOWN_SERVER_ERROR,
                message: "shard 0 did not answer".into(),
            },
        }
    }
}

/// Sends `request()` to every shard and waits until each applied it; the
/// first shard's failure, if any.
async fn apply_everywhere(
    ctx: &std::rc::Rc<ShardContext>,
    request: impl Fn() -> ShardRequest,
) -> Result<(), String> {
    let applies = (0..ctx.nr_shards).map(|shard| {
        let request = request();
        async move { ctx.router.call(ctx, shard, request).await }
    });
    for (shard, answer) in join_all(applies).await.into_iter().enumerate() {
        match answer {
            Ok(ShardResponse::Applied(Ok(()))) => {}
            Ok(ShardResponse::Applied(Err(e))) => return Err(format!("shard {shard}: {e}")),
            Ok(_) => return Err(format!("shard {shard}: unexpected answer")),
            Err(e) => return Err(format!("shard {shard}: {e:?}")),
        }
    }
    Ok(())
}
