//! OffsetCommit (key 8): routed to the group's shard, acknowledged once the
//! offsets are durable in that shard's offsets log.

use super::{legacy_versions, respond, RequestMeta, VersionRange};
use crate::coordinator::group::error_code;
use crate::coordinator::ops::commit_response;
use crate::coordinator::{GroupRequest, GroupResponse};
use crate::protocol::piece::Piece;
use crate::shard::calls::group::call_owner;
use crate::shard::ShardContext;
use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse};
use std::rc::Rc;

/// Versions served.
/// v1 (Sarama 1.22) is rewritten as v2 by `legacy_versions`.
pub const VERSIONS: VersionRange = VersionRange { min: 1, max: 9 };

/// Every partition of the request with `code`.
fn all_failed(request: &OffsetCommitRequest, code: i16) -> OffsetCommitResponse {
    commit_response(request, |_, _| code)
}

/// Answers an OffsetCommit request.
pub async fn handle(
    ctx: &Rc<ShardContext>,
    meta: RequestMeta,
    request: OffsetCommitRequest,
) -> Option<Vec<Piece>> {
    let meta = legacy_versions::offset_commit_meta(meta);
    let group_id = request.group_id.0.to_string();
    if group_id.is_empty() {
        return respond(meta, &all_failed(&request, error_code::INVALID_GROUP_ID));
    }
    // Kept for an error answer: the request itself travels to the owner.
    let skeleton = OffsetCommitRequest::default().with_topics(request.topics.clone());
    let response = match call_owner(ctx, &group_id, GroupRequest::Commit(request)).await {
        Ok(GroupResponse::Commit(response)) => response,
        Ok(_) => all_failed(&skeleton, error_code::COORDINATOR_NOT_AVAILABLE),
        Err(code) => all_failed(&skeleton, code),
    };
    respond(meta, &response)
}
