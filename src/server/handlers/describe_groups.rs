//! DescribeGroups (key 15): each group is described by its owning shard.

use super::{respond, RequestMeta, VersionRange};
use crate::coordinator::group::error_code;
use crate::coordinator::{GroupRequest, GroupResponse};
use crate::protocol::authorized_operations::{authorized_operations, GROUP_AUTHORIZED_OPERATIONS};
use crate::protocol::piece::Piece;
use crate::shard::calls::group::call_owner;
use crate::shard::ShardContext;
use kafka_protocol::messages::describe_groups_response::DescribedGroup;
use kafka_protocol::messages::{DescribeGroupsRequest, DescribeGroupsResponse};
use std::rc::Rc;

/// Versions served.
pub const VERSIONS: VersionRange = VersionRange { min: 0, max: 6 };
/// From this version a group that does not exist is GROUP_ID_NOT_FOUND (KIP-1043); before, it
/// is only described as Dead.
const NOT_FOUND_VERSION: i16 = 6;
/// The state of a group that does not exist.
const DEAD_STATE: &str = "Dead";

/// Answers a DescribeGroups request.
pub async fn handle(
    ctx: &Rc<ShardContext>,
    meta: RequestMeta,
    request: DescribeGroupsRequest,
) -> Option<Vec<Piece>> {
    let mut described = Vec::with_capacity(request.groups.len());
    let operations = authorized_operations(
        request.include_authorized_operations,
        GROUP_AUTHORIZED_OPERATIONS,
    );
    for group_id in request.groups {
        let name = group_id.0.to_string();
        let routed = GroupRequest::Describe(vec![group_id.clone()]);
        let group = match call_owner(ctx, &name, routed).await {
            Ok(GroupResponse::Describe(mut groups)) if !groups.is_empty() => groups.remove(0),
            Ok(_) => DescribedGroup::default()
                .with_group_id(group_id)
                .with_error_code(error_code::COORDINATOR_NOT_AVAILABLE),
            Err(code) => DescribedGroup::default()
                .with_group_id(group_id)
                .with_error_code(code),
        };
        let missing =
            group.error_code == error_code::NONE && group.group_state.as_str() == DEAD_STATE;
        let group = if missing && meta.version >= NOT_FOUND_VERSION {
            group.with_error_code(error_code::GROUP_ID_NOT_FOUND)
        } else {
            group
        };
        described.push(group.with_authorized_operations(operations));
    }
    respond(
        meta,
        &DescribeGroupsResponse::default().with_groups(described),
    )
}
