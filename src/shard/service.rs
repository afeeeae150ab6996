//! What a shard does with a [`ShardRequest`], whether it came over the mesh or
//! from a connection on the same shard. Each arm delegates to the service
//! that owns the work: the partitions ([`crate::partition`]), the group
//! coordinator or the topic metadata.

use super::messages::{ShardRequest, ShardResponse};
use super::ShardContext;
use crate::coordinator;
use crate::metadata::{apply, controller};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

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
            let read = ctx.partitions.start_fetch(part);
            Box::pin(async move { ShardResponse::Fetch(read.await) })
        }
        ShardRequest::ListOffsets(part) => {
            let partitions = ctx.partitions.clone();
            Box::pin(
                async move { ShardResponse::ListOffsets(partitions.resolve_offsets(part).await) },
            )
        }
        ShardRequest::CancelFetchWait { fetch_id } => {
            ctx.partitions.fetch_waits().cancel(fetch_id);
            Box::pin(async { ShardResponse::Applied(Ok(())) })
        }
        ShardRequest::ApplyTopics(table) => {
            // Applied in the ordered phase so table versions never race.
            let result = apply::apply_topics(ctx, table).await;
            Box::pin(async move { ShardResponse::Applied(result) })
        }
        ShardRequest::Group(request) => coordinator::ops::serve(ctx, request),
        ShardRequest::LogDirSizes(partitions) => {
            let sizes = ctx.partitions.sizes(&partitions);
            Box::pin(async move { ShardResponse::LogDirSizes(sizes) })
        }
        ShardRequest::Controller(request) => {
            let ctx = ctx.clone();
            Box::pin(
                async move { ShardResponse::Controller(controller::handle(&ctx, request).await) },
            )
        }
    }
}
