//! LeaveGroup (key 13): members leave at once instead of waiting out their
//! session; v3+ batches members (by member id or static instance id).

use super::{respond, RequestMeta, VersionRange};
use crate::coordinator::group::error_code;
use crate::coordinator::{GroupRequest, GroupResponse};
use crate::protocol::piece::Piece;
use crate::shard::calls::group::call_owner;
use crate::shard::ShardContext;
use kafka_protocol::messages::{LeaveGroupRequest, LeaveGroupResponse};
use std::rc::Rc;

/// Versions served.
pub const VERSIONS: VersionRange = VersionRange { min: 0, max: 5 };

/// Answers a LeaveGroup request.
pub async fn handle(
    ctx: &Rc<ShardContext>,
    meta: RequestMeta,
    request: LeaveGroupRequest,
) -> Option<Vec<Piece>> {
    let group_id = request.group_id.0.to_string();
    let routed = GroupRequest::Leave {
        request,
        version: meta.version,
    };
    let response = match call_owner(ctx, &group_id, routed).await {
        Ok(GroupResponse::Leave(response)) => response,
        Ok(_) => {
            LeaveGroupResponse::default().with_error_code(error_code::COORDINATOR_NOT_AVAILABLE)
        }
        Err(code) => LeaveGroupResponse::default().with_error_code(code),
    };
    respond(meta, &response)
}
