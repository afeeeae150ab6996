//! FindCoordinator (key 10): on a single node every group is coordinated by
//! this broker (a shard of it owns the group; the connection's shard routes
//! there). In a cluster each group has one coordinating broker: of the
//! registered brokers in id order, the one at Java's `hashCode(group)` mod
//! their count, else the next unfenced one (`ClusterView::group_coordinator`;
//! offsets are not replicated yet, so a stable owner keeps them in one
//! place). The others answer group requests with NOT_COORDINATOR. v4+
//! batches keys.

use super::{respond, RequestMeta, VersionRange};
use crate::coordinator::group::error_code;
use crate::protocol::piece::Piece;
use crate::shard::ShardContext;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;
use std::rc::Rc;

/// Versions served.
pub const VERSIONS: VersionRange = VersionRange { min: 0, max: 6 };
/// Key type of a consumer group.
const KEY_TYPE_GROUP: i8 = 0;
/// Key type of a transactional id.
const KEY_TYPE_TRANSACTION: i8 = 1;

/// The error for a coordinator of `key_type`. Transactional ids get the same
/// fatal error as at InitProducerId, so a transactional producer stops at
/// once with a clear error; COORDINATOR_NOT_AVAILABLE is retriable and kept
/// clients (aiokafka, librdkafka) retrying until their own timeout.
fn error_for_key_type(key_type: i8) -> i16 {
    match key_type {
        KEY_TYPE_GROUP => error_code::NONE,
        KEY_TYPE_TRANSACTION => super::error_code::TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
        // Share groups have no coordinator here yet.
        _ => error_code::COORDINATOR_NOT_AVAILABLE,
    }
}

/// Answers a FindCoordinator request.
pub fn handle(
    ctx: &Rc<ShardContext>,
    meta: RequestMeta,
    request: FindCoordinatorRequest,
) -> Option<Vec<Piece>> {
    let advertised = ctx.config.advertised_listener();
    let view = ctx.cluster_view();
    let code = error_for_key_type(request.key_type);
    let found = |key: StrBytes| {
        let coordinator = Coordinator::default()
            .with_key(key.clone())
            .with_error_code(code);
        // A cluster's group lives on one broker: the view's choice.
        let owner = match &view {
            None => Some((
                ctx.identity.node_id,
                advertised.host.clone(),
                advertised.port,
            )),
            Some(view) => view
                .group_coordinator(key.as_str())
                .and_then(|id| view.broker(id))
                .map(|b| (b.id, b.host.clone(), b.port)),
        };
        if code != error_code::NONE {
            coordinator.with_node_id(BrokerId(-1)).with_port(-1)
        } else if let Some((id, host, port)) = owner {
            coordinator
                .with_node_id(BrokerId(id))
                .with_host(StrBytes::from_string(host))
                .with_port(port as i32)
        } else {
            coordinator
                .with_error_code(error_code::COORDINATOR_NOT_AVAILABLE)
                .with_node_id(BrokerId(-1))
                .with_port(-1)
        }
    };
    let response = if meta.version >= 4 {
        let coordinators = request
            .coordinator_keys
            .iter()
            .cloned()
            .map(found)
            .collect();
        FindCoordinatorResponse::default().with_coordinators(coordinators)
    } else {
        let one = found(request.key.clone());
        FindCoordinatorResponse::default()
            .with_error_code(one.error_code)
            .with_node_id(one.node_id)
            .with_host(one.host)
            .with_port(one.port)
    };
    respond(meta, &response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_groups_have_a_coordinator_and_transactions_fail_fatally() {
        assert_eq!(error_for_key_type(KEY_TYPE_GROUP), error_code::NONE);
        assert_eq!(
            error_for_key_type(KEY_TYPE_TRANSACTION),
            super::super::error_code::TRANSACTIONAL_ID_AUTHORIZATION_FAILED
        );
        assert_eq!(error_for_key_type(2), error_code::COORDINATOR_NOT_AVAILABLE);
    }
}
