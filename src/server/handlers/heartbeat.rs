//! Heartbeat (key 12): keeps a member's session alive and tells it when a
//! rebalance started (REBALANCE_IN_PROGRESS).

use super::{respond, RequestMeta, VersionRange};
use crate::coordinator::group::error_code;
use crate::coordinator::{GroupRequest, GroupResponse};
use crate::protocol::piece::Piece;
use crate::shard::calls::group::call_owner;
use crate::shard::ShardContext;
use kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse};
use std::rc::Rc;

/// Versions served.
pub const VERSIONS: VersionRange = VersionRange { min: 0, max: 4 };

/// Answers a Heartbeat request.
pub async fn handle(
    ctx: &Rc<ShardContext>,
    meta: RequestMeta,
    request: HeartbeatRequest,
) -> Option<Vec<Piece>> {
    let group_id = request.group_id.0.to_string();
    let response = match call_owner(ctx, &group_id, GroupRequest::Heartbeat(request)).await {
        Ok(GroupResponse::Heartbeat(response)) => response,
        Ok(_) => {
            HeartbeatResponse::default().with_error_code(error_code::COORDINATOR_NOT_AVAILABLE)
        }
        Err(code) => HeartbeatResponse::default().with_error_code(code),
    };
    respond(meta, &response)
}
