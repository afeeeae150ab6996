//! DeleteGroups (key 42): each group is deleted by its owning shard, which
//! refuses groups with members (NON_EMPTY_GROUP) and removes the group's
//! committed offsets durably.

use super::{respond, RequestMeta, VersionRange};
use crate::coordinator::{GroupRequest, GroupResponse};
use crate::protocol::piece::Piece;
use crate::shard::calls::group::call_owner;
use crate::shard::ShardContext;
use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse};
use std::rc::Rc;

/// Versions served.
pub const VERSIONS: VersionRange = VersionRange { min: 0, max: 2 };

/// Answers a DeleteGroups request.
pub async fn handle(
    ctx: &Rc<ShardContext>,
    meta: RequestMeta,
    request: DeleteGroupsRequest,
) -> Option<Vec<Piece>> {
    let mut results = Vec::with_capacity(request.groups_names.len());
    for group_id in request.groups_names {
        let name = group_id.0.to_string();
        let routed = GroupRequest::Delete(vec![group_id.clone()]);
        let result = match call_owner(ctx, &name, routed).await {
            Ok(GroupResponse::Delete(mut found)) if !found.is_empty() => found.remove(0),
            Ok(_) | Err(_) => DeletableGroupResult::default()
                .with_group_id(group_id)
                .with_error_code(crate::coordinator::group::error_code::COORDINATOR_NOT_AVAILABLE),
        };
        results.push(result);
    }
    respond(meta, &DeleteGroupsResponse::default().with_results(results))
}
