//! ListGroups (key 16): every shard lists the groups it owns; the answers
//! are merged. v4+ filters by state, v5+ by type.

use super::{error_code, respond, RequestMeta, VersionRange};
use crate::coordinator::{GroupRequest, GroupResponse};
use crate::protocol::piece::Piece;
use crate::shard::calls::group::call_shard;
use crate::shard::ShardContext;
use kafka_protocol::messages::{ListGroupsRequest, ListGroupsResponse};
use std::rc::Rc;

/// Versions served.
pub const VERSIONS: VersionRange = VersionRange { min: 0, max: 5 };

/// Answers a ListGroups request.
pub async fn handle(
    ctx: &Rc<ShardContext>,
    meta: RequestMeta,
    request: ListGroupsRequest,
) -> Option<Vec<Piece>> {
    let mut groups = Vec::new();
    let mut error = error_code::NONE;
    for shard in 0..ctx.nr_shards {
        match call_shard(ctx, shard, GroupRequest::List).await {
            Ok(GroupResponse::List(listed)) => groups.extend(listed),
            Ok(_) => {}
            Err(code) => error = code,
        }
    }
    let wanted = |value: &str, filter: &[kafka_protocol::protocol::StrBytes]| {
        filter.is_empty() || filter.iter().any(|f| f.eq_ignore_ascii_case(value))
    };
    groups.retain(|g| {
        wanted(g.group_state.as_str(), &request.states_filter)
            && wanted(g.group_type.as_str(), &request.types_filter)
    });
    groups.sort_by(|a, b| a.group_id.0.as_str().cmp(b.group_id.0.as_str()));
    respond(
        meta,
        &ListGroupsResponse::default()
            .with_error_code(error)
            .with_groups(groups),
    )
}
