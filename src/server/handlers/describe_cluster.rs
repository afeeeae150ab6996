//! DescribeCluster (key 60, KIP-700): the brokers (this one, or a
//! cluster's live ones), the cluster
//! id, the controller and, when asked, the cluster's authorized operations.
//! Java's `AdminClient.describeCluster` uses it; librdkafka asks Metadata.

use super::{error_code, respond, RequestMeta, VersionRange};
use crate::config::ListenerIndex;
use crate::protocol::authorized_operations::{
    authorized_operations, CLUSTER_AUTHORIZED_OPERATIONS,
};
use crate::protocol::piece::Piece;
use crate::shard::ShardContext;
use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};
use kafka_protocol::protocol::StrBytes;
use std::rc::Rc;

/// Versions served (Kafka 4.x serves 0-2).
pub const VERSIONS: VersionRange = VersionRange { min: 0, max: 2 };
/// `endpointType` of a broker listener (KIP-919); 2 is a controller's.
const ENDPOINT_TYPE_BROKER: i8 = 1;
const ENDPOINT_TYPE_CONTROLLER: i8 = 2;
/// The request asked a broker for controllers.
const MISMATCHED_ENDPOINT_TYPE: i16 = 114;
/// The request named an endpoint type Kafka does not know.
const UNSUPPORTED_ENDPOINT_TYPE: i16 = 115;

/// Answers a DescribeCluster request.
pub fn handle(
    ctx: &Rc<ShardContext>,
    meta: RequestMeta,
    request: DescribeClusterRequest,
) -> Option<Vec<Piece>> {
    let response = match endpoint_type_error(meta.version, request.endpoint_type) {
        Some((code, message)) => DescribeClusterResponse::default()
            .with_error_code(code)
            .with_error_message(Some(StrBytes::from_string(message))),
        None => describe(ctx, &request, meta.listener),
    };
    respond(meta, &response)
}

/// This broker alone on a single node; a cluster's live brokers, and its
/// fenced ones too when `include_fenced` (v2's IncludeFencedBrokers,
/// KIP-1073: `kafka-cluster`-style tools show them with IsFenced); at the
/// addresses of the client listener the request came in on.
fn brokers_and_controller(
    ctx: &ShardContext,
    listener: ListenerIndex,
    include_fenced: bool,
) -> (Vec<DescribeClusterBroker>, BrokerId) {
    let (listener_name, advertised) = ctx.config.client_listener(listener);
    // Until the first brokers are unfenced, a cluster broker names itself
    // (an empty broker list is a broken answer to clients).
    let view = ctx
        .cluster_view()
        .filter(|v| v.live_brokers().next().is_some());
    let Some(view) = view else {
        let node = BrokerId(ctx.identity.node_id);
        let broker = DescribeClusterBroker::default()
            .with_broker_id(node)
            .with_host(StrBytes::from_string(advertised.host.clone()))
            .with_port(advertised.port as i32);
        return (vec![broker], node);
    };
    let brokers = view
        .brokers
        .iter()
        .filter(|b| include_fenced || !b.fenced)
        .map(|b| {
            let (host, port) = b.endpoint_for(listener_name);
            DescribeClusterBroker::default()
                .with_broker_id(BrokerId(b.id))
                .with_host(StrBytes::from_string(host.to_string()))
                .with_port(i32::from(port))
                .with_rack(b.rack.clone().map(StrBytes::from_string))
                .with_is_fenced(b.fenced)
        })
        .collect();
    (brokers, BrokerId(view.controller_for_clients()))
}

fn describe(
    ctx: &ShardContext,
    request: &DescribeClusterRequest,
    listener: ListenerIndex,
) -> DescribeClusterResponse {
    // Only v2+ has the flag (false when decoded from older versions), and
    // only it can carry IsFenced: an older answer lists live brokers alone.
    let (brokers, controller) =
        brokers_and_controller(ctx, listener, request.include_fenced_brokers);
    DescribeClusterResponse::default()
        .with_cluster_id(StrBytes::from_string(ctx.identity.cluster_id.clone()))
        .with_controller_id(controller)
        .with_brokers(brokers)
        .with_cluster_authorized_operations(authorized_operations(
            request.include_cluster_authorized_operations,
            CLUSTER_AUTHORIZED_OPERATIONS,
        ))
}

/// Kafka's endpoint-type check: v0 answers INVALID_REQUEST for any
/// mismatch, v1+ says which.
fn endpoint_type_error(version: i16, endpoint_type: i8) -> Option<(i16, String)> {
    let code = match endpoint_type {
        ENDPOINT_TYPE_BROKER => return None,
        _ if version == 0 => error_code::INVALID_REQUEST,
        ENDPOINT_TYPE_CONTROLLER => MISMATCHED_ENDPOINT_TYPE,
        _ => UNSUPPORTED_ENDPOINT_TYPE,
    };
    let message = match endpoint_type {
        ENDPOINT_TYPE_CONTROLLER => {
            "The request was sent to an endpoint of type BROKER, but we wanted an endpoint of \
             type CONTROLLER"
                .to_string()
        }
        other => format!("Unsupported endpoint type {other}"),
    };
    Some((code, message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_broker_endpoints_are_described() {
        assert_eq!(endpoint_type_error(1, ENDPOINT_TYPE_BROKER), None);
        let code = |version, kind| endpoint_type_error(version, kind).map(|(code, _)| code);
        assert_eq!(
            code(1, ENDPOINT_TYPE_CONTROLLER),
            Some(MISMATCHED_ENDPOINT_TYPE)
        );
        assert_eq!(code(2, 7), Some(UNSUPPORTED_ENDPOINT_TYPE));
        assert_eq!(code(0, 7), Some(error_code::INVALID_REQUEST));
    }
}
