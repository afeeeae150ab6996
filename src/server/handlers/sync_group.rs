//! SyncGroup (key 14): the leader hands over the assignments; followers wait
//! on the owning shard until the leader's arrive.

use super::{respond, RequestMeta, VersionRange};
use crate::coordinator::group::error_code;
use crate::coordinator::{GroupRequest, GroupResponse};
use crate::protocol::piece::Piece;
use crate::shard::calls::group::call_owner;
use crate::shard::ShardContext;
use kafka_protocol::messages::{SyncGroupRequest, SyncGroupResponse};
use std::rc::Rc;

/// Versions served.
pub const VERSIONS: VersionRange = VersionRange { min: 0, max: 5 };

/// Answers a SyncGroup request.
pub async fn handle(
    ctx: &Rc<ShardContext>,
    meta: RequestMeta,
    request: SyncGroupRequest,
) -> Option<Vec<Piece>> {
    let group_id = request.group_id.0.to_string();
    let response = match call_owner(ctx, &group_id, GroupRequest::Sync(request)).await {
        Ok(GroupResponse::Sync(response)) => response,
        Ok(_) => {
            SyncGroupResponse::default().with_error_code(error_code::COORDINATOR_NOT_AVAILABLE)
        }
        Err(code) => SyncGroupResponse::default().with_error_code(code),
    };
    respond(meta, &response)
}
