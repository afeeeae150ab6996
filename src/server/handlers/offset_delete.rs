//! OffsetDelete (key 47): routed to the group's shard, which deletes the
//! committed offsets of the partitions asked for, durably, unless the group
//! is active and still subscribed to the topic (GROUP_SUBSCRIBED_TO_TOPIC).

use super::{respond, RequestMeta, VersionRange};
use crate::coordinator::group::error_code;
use crate::coordinator::{GroupRequest, GroupResponse};
use crate::protocol::piece::Piece;
use crate::shard::calls::group::call_owner;
use crate::shard::ShardContext;
use kafka_protocol::messages::{OffsetDeleteRequest, OffsetDeleteResponse};
use std::rc::Rc;

/// Versions served (Kafka 4.x serves 0 only).
pub const VERSIONS: VersionRange = VersionRange { min: 0, max: 0 };

/// Answers an OffsetDelete request.
pub async fn handle(
    ctx: &Rc<ShardContext>,
    meta: RequestMeta,
    request: OffsetDeleteRequest,
) -> Option<Vec<Piece>> {
    let group_id = request.group_id.0.to_string();
    if group_id.is_empty() {
        let failed = OffsetDeleteResponse::default().with_error_code(error_code::INVALID_GROUP_ID);
        return respond(meta, &failed);
    }
    let response = match call_owner(ctx, &group_id, GroupRequest::DeleteOffsets(request)).await {
        Ok(GroupResponse::DeleteOffsets(response)) => response,
        Ok(_) => {
            OffsetDeleteResponse::default().with_error_code(error_code::COORDINATOR_NOT_AVAILABLE)
        }
        Err(code) => OffsetDeleteResponse::default().with_error_code(code),
    };
    respond(meta, &response)
}
