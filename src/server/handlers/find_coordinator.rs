//! FindCoordinator (key 10): on a single node every group is coordinated by
//! this broker (a shard of it owns the group; the connection's shard routes
//! there). In a cluster a group's coordinator is the leader of its partition
//! of the replicated `__consumer_offsets` (`ClusterView::group_coordinator`),
//! as in Kafka; the others answer group requests with NOT_COORDINATOR. The
//! first FindCoordinator creates the topic through the controller (Kafka's
//! `AutoTopicCreationManager`); until it exists with a live leader for the
//! partition (too few live brokers for `offsets.topic.replication.factor`,
//! an election under way) the answer is COORDINATOR_NOT_AVAILABLE. v4+
//! batches keys.

use super::{respond, RequestMeta, VersionRange};
use crate::coordinator::group::error_code;
use crate::coordinator::offsets::partitions::OFFSETS_TOPIC;
use crate::coordinator::offsets::replicated::offsets_topic_request;
use crate::protocol::piece::Piece;
use crate::shard::calls;
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

/// Creates `__consumer_offsets` through the controller when a cluster lacks
/// it and a group coordinator is asked for; the answer follows the view
/// after it (the controller's reply waits until this broker applied it).
async fn ensure_offsets_topic(ctx: &Rc<ShardContext>, request: &FindCoordinatorRequest) {
    let asks_group = request.key_type == KEY_TYPE_GROUP;
    let missing = ctx
        .cluster_view()
        .is_some_and(|view| view.table.get(OFFSETS_TOPIC).is_none());
    if !(asks_group && missing) {
        return;
    }
    let answer = calls::controller::request(ctx, offsets_topic_request(&ctx.config)).await;
    for failed in answer.outcomes.iter().filter(|o| o.error_code != 0) {
        // INVALID_REPLICATION_FACTOR while fewer brokers are alive than
        // offsets.topic.replication.factor: retried at the next request.
        log::warn!(
            "creating {OFFSETS_TOPIC} failed (error code {}): {:?}",
            failed.error_code,
            failed.message
        );
    }
}

/// Answers a FindCoordinator request.
pub async fn handle(
    ctx: &Rc<ShardContext>,
    meta: RequestMeta,
    request: FindCoordinatorRequest,
) -> Option<Vec<Piece>> {
    ensure_offsets_topic(ctx, &request).await;
    let (listener_name, advertised) = ctx.config.client_listener(meta.listener);
    let view = ctx.cluster_view();
    let offsets_partitions = ctx.config.offsets_topic_num_partitions;
    let code = error_for_key_type(request.key_type);
    let found = |key: StrBytes| {
        let coordinator = Coordinator::default()
            .with_key(key.clone())
            .with_error_code(code);
        // A cluster's group is coordinated by its offsets partition's leader.
        let owner = match &view {
            None if ctx.cluster.enabled => None,
            None => Some((
                ctx.identity.node_id,
                advertised.host.clone(),
                advertised.port,
            )),
            Some(view) => view
                .group_coordinator(key.as_str(), offsets_partitions)
                .and_then(|id| view.broker(id))
                .map(|b| {
                    let (host, port) = b.endpoint_for(listener_name);
                    (b.id, host.to_string(), port)
                }),
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
