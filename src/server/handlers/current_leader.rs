//! KIP-951: a partition a Fetch (v16+) refuses with NOT_LEADER_OR_FOLLOWER
//! or FENCED_LEADER_EPOCH, or a Produce (v10+) refuses with
//! NOT_LEADER_OR_FOLLOWER, names its current leader and leader epoch, and
//! the response names those leaders' client endpoints (NodeEndpoints): a
//! client (the Java client from 3.7) moves to the new leader without a
//! Metadata round trip first. As Kafka's `KafkaApis.getCurrentLeader`: the
//! leader the partition's replica here knows (its refusal's hint), else
//! the cluster view's; a broker refusing as no leader never names itself
//! (its view may still name its crashed incarnation until the controller
//! registers it), and only a live broker's endpoint is named.

use crate::cluster::member::view::ClusterView;
use crate::config::ListenerIndex;
use crate::protocol::error_code;
use crate::protocol::fetch_response::{CurrentLeader, FetchResponseOut, NodeEndpoint};
use crate::shard::ShardContext;
use kafka_protocol::messages::produce_response::{
    LeaderIdAndEpoch, NodeEndpoint as ProduceNodeEndpoint,
};
use kafka_protocol::messages::ProduceResponse;
use kafka_protocol::protocol::StrBytes;

/// No leader known (the field's default: the client refreshes metadata).
const UNKNOWN: CurrentLeader = CurrentLeader {
    leader_id: -1,
    leader_epoch: -1,
};

/// The leader the view names for `partition` of `topic_id`, for a refusal
/// with `code` (never this broker for NOT_LEADER_OR_FOLLOWER).
fn from_view(
    view: &ClusterView,
    topic_id: &uuid::Uuid,
    partition: i32,
    code: i16,
) -> CurrentLeader {
    let Some(placement) = view.partition(topic_id, partition) else {
        return UNKNOWN;
    };
    if code == error_code::NOT_LEADER_OR_FOLLOWER && placement.leader == view.node_id {
        return UNKNOWN;
    }
    CurrentLeader {
        leader_id: placement.leader,
        leader_epoch: placement.leader_epoch,
    }
}

/// The endpoints of listener `listener_name` of the live brokers among
/// `leaders`, once each, in the order first named.
fn endpoints(
    view: &ClusterView,
    leaders: impl Iterator<Item = i32>,
    listener_name: &str,
) -> Vec<NodeEndpoint> {
    let mut found: Vec<NodeEndpoint> = Vec::new();
    for leader in leaders {
        if leader < 0 || found.iter().any(|node| node.node_id == leader) {
            continue;
        }
        if let Some(broker) = view.live_brokers().find(|b| b.id == leader) {
            let (host, port) = broker.endpoint_for(listener_name);
            found.push(NodeEndpoint {
                node_id: broker.id,
                host: host.to_string(),
                port: i32::from(port),
                rack: broker.rack.clone(),
            });
        }
    }
    found
}

/// Names the current leader of each partition `response` refuses with
/// NOT_LEADER_OR_FOLLOWER or FENCED_LEADER_EPOCH (the replica's own hint
/// kept, the view's otherwise) and the endpoints of those leaders. Nothing
/// on a single node (no view: it refuses nothing for leadership).
/// The endpoints are those of client listener `listener` (the request's).
pub fn name_in_fetch(ctx: &ShardContext, response: &mut FetchResponseOut, listener: ListenerIndex) {
    let Some(view) = ctx.cluster_view() else {
        return;
    };
    let refused = |code| {
        code == error_code::NOT_LEADER_OR_FOLLOWER || code == error_code::FENCED_LEADER_EPOCH
    };
    for topic in &mut response.topics {
        for partition in &mut topic.partitions {
            if !refused(partition.error_code) {
                partition.current_leader = None;
                continue;
            }
            let (index, code) = (partition.partition_index, partition.error_code);
            partition.current_leader = Some(
                partition
                    .current_leader
                    .unwrap_or_else(|| from_view(&view, &topic.topic_id, index, code)),
            );
        }
    }
    let leaders = response
        .topics
        .iter()
        .flat_map(|topic| &topic.partitions)
        .filter_map(|partition| partition.current_leader)
        .map(|leader| leader.leader_id);
    let listener_name = ctx.config.client_listener_name(listener);
    response.node_endpoints = endpoints(&view, leaders, listener_name);
}

/// Names the current leader (the view's) of each partition `response`
/// refuses with NOT_LEADER_OR_FOLLOWER, and those leaders' endpoints.
/// The endpoints are those of client listener `listener` (the request's).
pub fn name_in_produce(
    ctx: &ShardContext,
    response: &mut ProduceResponse,
    listener: ListenerIndex,
) {
    let Some(view) = ctx.cluster_view() else {
        return;
    };
    let table = ctx.topic_table();
    let mut leaders = Vec::new();
    for topic in &mut response.responses {
        let Some(meta) = table.get(topic.name.0.as_str()) else {
            continue;
        };
        for partition in &mut topic.partition_responses {
            if partition.error_code != error_code::NOT_LEADER_OR_FOLLOWER {
                continue;
            }
            let code = partition.error_code;
            let leader = from_view(&view, &meta.id, partition.index, code);
            partition.current_leader = LeaderIdAndEpoch::default()
                .with_leader_id(leader.leader_id.into())
                .with_leader_epoch(leader.leader_epoch);
            leaders.push(leader.leader_id);
        }
    }
    let listener_name = ctx.config.client_listener_name(listener);
    response.node_endpoints = endpoints(&view, leaders.into_iter(), listener_name)
        .into_iter()
        .map(|node| {
            ProduceNodeEndpoint::default()
                .with_node_id(node.node_id.into())
                .with_host(StrBytes::from_string(node.host))
                .with_port(node.port)
                .with_rack(node.rack.map(StrBytes::from_string))
        })
        .collect();
}
