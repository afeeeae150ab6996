//! What a shard does with a [`ShardRequest`], whether it came over the mesh or
//! from a connection on the same shard. Each arm delegates to the owner-side
//! half of a Kafka API handler in `server::handlers` or to `metadata`.

use super::messages::{ShardRequest, ShardResponse};
use super::ShardContext;
use crate::coordinator;
use crate::metadata::{apply, controller};
use crate::server::handlers::{describe_log_dirs, fetch, list_offsets, produce};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

/// The answer to a request, once its ordered phase is done.
pub type Answer = Pin<Box<dyn Future<Output = ShardResponse>>>;

/// Runs the ordered phase of `request` on this shard and returns its answer.
pub async fn serve(ctx: &Rc<ShardContext>, request: ShardRequest) -> Answer {
    match request {
        ShardRequest::Produce(part) => produce::append_owned(ctx, part).await,
        ShardRequest::Fetch(part) => fetch::start_owned(ctx, part),
        ShardRequest::ListOffsets(part) => {
            let ctx = ctx.clone();
            Box::pin(async move {
                ShardResponse::ListOffsets(list_offsets::resolve_owned(&ctx, part).await)
            })
        }
        ShardRequest::CancelFetchWait { fetch_id } => {
            ctx.fetch_waits.cancel(fetch_id);
            Box::pin(async { ShardResponse::Applied(Ok(())) })
        }
        ShardRequest::ApplyTopics(table) => {
            // Applied in the ordered phase so table versions never race.
            let result = apply::apply_topics(ctx, table).await;
            Box::pin(async move { ShardResponse::Applied(result) })
        }
        ShardRequest::Group(request) => coordinator::ops::serve(ctx, request),
        ShardRequest::LogDirSizes(partitions) => {
            let sizes = describe_log_dirs::sizes_owned(ctx, &partitions);
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
