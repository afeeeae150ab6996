//! Metadata (key 3): this broker, and the topics asked for (all when the list
//! is null). Unknown topics are created when auto-creation is on and the
//! request allows it. On a single node this broker leads every partition; a
//! cluster's brokers and partitions come from the cluster view.

use super::{error_code, respond, RequestMeta, VersionRange};
use crate::cluster::member::is_cluster;
use crate::cluster::member::view::ClusterView;
use crate::config::ListenerIndex;
use crate::coordinator::offsets::partitions::OFFSETS_TOPIC;
use crate::coordinator::offsets::replicated::offsets_topic;
use crate::metadata::controller::{ControllerRequest, NewTopic};
use crate::metadata::topic_table::{is_internal_topic, validate_topic_name, TopicMeta, TopicTable};
use crate::partition::leader_epochs::SINGLE_NODE_LEADER_EPOCH;
use crate::protocol::authorized_operations::{
    authorized_operations, CLUSTER_AUTHORIZED_OPERATIONS, TOPIC_AUTHORIZED_OPERATIONS,
};
use crate::protocol::piece::Piece;
use crate::shard::calls::controller;
use crate::shard::ShardContext;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use std::rc::Rc;
use std::sync::Arc;

/// Versions served.
pub const VERSIONS: VersionRange = VersionRange { min: 0, max: 13 };

/// Answers a Metadata request.
pub async fn handle(
    ctx: &Rc<ShardContext>,
    meta: RequestMeta,
    request: MetadataRequest,
) -> Option<Vec<Piece>> {
    let mut table = described_table(ctx);
    let topics_asked = request
        .topics
        .as_ref()
        .filter(|topics| !empty_means_all(meta.version, topics));
    let wanted: Option<Vec<String>> = topics_asked.map(|topics| {
        topics
            .iter()
            .filter_map(|t| t.name.as_ref().map(|n| n.0.as_str().to_string()))
            .collect()
    });
    // v0-3 have no flag: they always asked for auto-creation.
    let allow_auto_create = meta.version < 4 || request.allow_auto_topic_creation;
    if let Some(names) = &wanted {
        if allow_auto_create && ctx.config.auto_create_topics_enable {
            table = auto_create(ctx, &table, names).await;
        }
    }
    // v8+: KIP-430's authorized operations, when asked for.
    let topic_operations = authorized_operations(
        meta.version >= 8 && request.include_topic_authorized_operations,
        TOPIC_AUTHORIZED_OPERATIONS,
    );
    let described = |topic: &TopicMeta| {
        describe_topic(ctx, topic).with_topic_authorized_operations(topic_operations)
    };
    let topics = match &wanted {
        None => table.iter().map(|topic| described(topic)).collect(),
        Some(names) => names
            .iter()
            .map(|name| match table.get(name) {
                Some(topic) => described(topic),
                None => missing_topic(name),
            })
            .collect(),
    };
    let (brokers, controller_id) = brokers_and_controller(ctx, meta.listener);
    let response = MetadataResponse::default()
        .with_brokers(brokers)
        .with_cluster_id(Some(StrBytes::from_string(ctx.identity.cluster_id.clone())))
        .with_controller_id(controller_id)
        .with_topics(topics)
        .with_cluster_authorized_operations(authorized_operations(
            // Only v8-10 carry the cluster's (DescribeCluster replaced it).
            (8..=10).contains(&meta.version) && request.include_cluster_authorized_operations,
            CLUSTER_AUTHORIZED_OPERATIONS,
        ));
    respond(meta, &response)
}

/// v0 has no null list: an empty one asked for every topic (Sarama 1.22's
/// ClusterAdmin.ListTopics relies on it).
fn empty_means_all<T>(version: i16, topics: &[T]) -> bool {
    version == 0 && topics.is_empty()
}

/// Creates the valid, missing topics among `names`; returns the newest table.
pub async fn auto_create(
    ctx: &Rc<ShardContext>,
    table: &Arc<TopicTable>,
    names: &[String],
) -> Arc<TopicTable> {
    let missing: Vec<NewTopic> = names
        .iter()
        .filter(|name| table.get(name).is_none() && validate_topic_name(name).is_ok())
        .filter_map(|name| auto_created_topic(ctx, name))
        .collect();
    if missing.is_empty() {
        return table.clone();
    }
    let answer = controller::request(
        ctx,
        ControllerRequest::CreateTopics {
            topics: missing,
            validate_only: false,
            if_missing: true,
        },
    )
    .await;
    for failed in answer
        .outcomes
        .iter()
        .filter(|o| o.error_code != error_code::NONE)
    {
        log::warn!(
            "auto-creation of topic {} failed: {:?}",
            failed.name,
            failed.message
        );
    }
    described_table(ctx)
}

/// The topics Metadata describes: in a cluster those of the adopted view,
/// which places each one's partitions (a shard installs a new topic table
/// before the view that goes with it, while the new partitions open, and a
/// topic described from it had no partitions); else the shard's table.
fn described_table(ctx: &ShardContext) -> Arc<TopicTable> {
    match ctx.cluster_view() {
        Some(view) => view.table.clone(),
        None => ctx.topic_table(),
    }
}

/// The topic Metadata's auto-creation makes for `name`, as Kafka's
/// `AutoTopicCreationManager` does: `__consumer_offsets` as the internal
/// topic, never an ordinary one. A single node keeps its offsets partitions
/// in local files and has no such topic; the other internal topics belong to
/// features millrace lacks (transactions, share groups), so neither is made.
fn auto_created_topic(ctx: &ShardContext, name: &str) -> Option<NewTopic> {
    if name == OFFSETS_TOPIC {
        return is_cluster(&ctx.config).then(|| offsets_topic(&ctx.config));
    }
    if is_internal_topic(name) {
        return None;
    }
    Some(NewTopic {
        name: name.to_string(),
        partitions: -1,
        replication_factor: -1,
        configs: Vec::new(),
        assignments: Vec::new(),
    })
}

/// The brokers clients may use and the controller id to report: this
/// broker alone on a single node; a cluster's live brokers. Addresses are
/// those of the client listener the request came in on.
fn brokers_and_controller(
    ctx: &ShardContext,
    listener: ListenerIndex,
) -> (Vec<MetadataResponseBroker>, BrokerId) {
    let (listener_name, advertised) = ctx.config.client_listener(listener);
    // Until the first brokers are unfenced, a cluster broker names itself
    // (an empty broker list is a broken answer to clients).
    let view = ctx
        .cluster_view()
        .filter(|v| v.live_brokers().next().is_some());
    let Some(view) = view else {
        let broker = MetadataResponseBroker::default()
            .with_node_id(BrokerId(ctx.identity.node_id))
            .with_host(StrBytes::from_string(advertised.host.clone()))
            .with_port(advertised.port as i32);
        return (vec![broker], BrokerId(ctx.identity.node_id));
    };
    let brokers = view
        .live_brokers()
        .map(|b| {
            let (host, port) = b.endpoint_for(listener_name);
            MetadataResponseBroker::default()
                .with_node_id(BrokerId(b.id))
                .with_host(StrBytes::from_string(host.to_string()))
                .with_port(i32::from(port))
                .with_rack(b.rack.clone().map(StrBytes::from_string))
        })
        .collect();
    (brokers, BrokerId(view.controller_for_clients()))
}

/// A cluster's partitions of `topic`, from the view: leader, epoch,
/// replicas, ISR; replicas on fenced brokers are offline.
fn describe_cluster_topic(view: &ClusterView, topic: &TopicMeta) -> Vec<MetadataResponsePartition> {
    let ids = |list: &[i32]| list.iter().map(|id| BrokerId(*id)).collect::<Vec<_>>();
    (0..topic.partitions)
        .filter_map(|index| {
            let p = view.partition(&topic.id, index)?;
            let offline: Vec<i32> = p
                .replicas
                .iter()
                .copied()
                .filter(|id| view.broker(*id).is_none_or(|b| b.fenced))
                .collect();
            let code = if p.leader < 0 {
                error_code::LEADER_NOT_AVAILABLE
            } else {
                error_code::NONE
            };
            Some(
                MetadataResponsePartition::default()
                    .with_error_code(code)
                    .with_partition_index(index)
                    .with_leader_id(BrokerId(p.leader))
                    .with_leader_epoch(p.leader_epoch)
                    .with_replica_nodes(ids(&p.replicas))
                    .with_isr_nodes(ids(&p.isr))
                    .with_offline_replicas(ids(&offline)),
            )
        })
        .collect()
}

fn describe_topic(ctx: &ShardContext, topic: &TopicMeta) -> MetadataResponseTopic {
    let internal = is_internal_topic(&topic.name);
    if let Some(view) = ctx.cluster_view() {
        return MetadataResponseTopic::default()
            .with_name(Some(TopicName(StrBytes::from_string(topic.name.clone()))))
            .with_topic_id(topic.id)
            .with_is_internal(internal)
            .with_partitions(describe_cluster_topic(&view, topic));
    }
    let node = BrokerId(ctx.identity.node_id);
    let partitions = (0..topic.partitions)
        .map(|index| {
            MetadataResponsePartition::default()
                .with_partition_index(index)
                .with_leader_id(node)
                .with_leader_epoch(SINGLE_NODE_LEADER_EPOCH)
                .with_replica_nodes(vec![node])
                .with_isr_nodes(vec![node])
        })
        .collect();
    MetadataResponseTopic::default()
        .with_name(Some(TopicName(StrBytes::from_string(topic.name.clone()))))
        .with_topic_id(topic.id)
        .with_is_internal(internal)
        .with_partitions(partitions)
}

fn missing_topic(name: &str) -> MetadataResponseTopic {
    let code = if validate_topic_name(name).is_ok() {
        error_code::UNKNOWN_TOPIC_OR_PARTITION
    } else {
        error_code::INVALID_TOPIC_EXCEPTION
    };
    MetadataResponseTopic::default()
        .with_error_code(code)
        .with_name(Some(TopicName(StrBytes::from_string(name.to_string()))))
}

#[cfg(test)]
mod tests {
    use super::empty_means_all;

    #[test]
    fn only_v0_reads_an_empty_topic_list_as_all_topics() {
        let none: [u8; 0] = [];
        assert!(empty_means_all(0, &none));
        assert!(!empty_means_all(1, &none));
        assert!(!empty_means_all(0, &[1u8]));
    }
}
