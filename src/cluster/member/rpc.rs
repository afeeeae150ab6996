//! What a broker asks the active controller over the CONTROLLER listener
//! (registration, heartbeats, forwarded admin requests, as Kafka's brokers
//! send BrokerRegistration, BrokerHeartbeat and Envelope there), sans-IO:
//! the messages, their encoding, and the conversion from and to the
//! controller's [`Request`] and [`Reply`].

use super::quorum::{QuorumAnswer, QuorumOp};
use crate::cluster::controller::api::{
    AllocateProducerIdsRequest, AlterConfigsRequest, AlterPartitionItem, AlterPartitionRequest,
    AlterPartitionResult, AlterReassignmentsRequest, BrokerHeartbeatReply, BrokerHeartbeatRequest,
    BrokerRegistrationRequest, ConfigWrites, CreatePartitionsRequest, CreateTopicsRequest,
    DeleteTopicsRequest, DeletedTopic, ElectLeadersRequest, ElectionType, NewPartitions, NewTopic,
    PartitionState, Reply, Request, ResponseError, TopicRef,
};
use crate::cluster::records::{Endpoint, LeaderRecoveryState};
use crate::cluster::TopicIdPartition;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A listener of a registration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireEndpoint {
    /// Listener name.
    pub name: String,
    /// Advertised host.
    pub host: String,
    /// Advertised port.
    pub port: u16,
    /// Kafka's security protocol id.
    pub security_protocol: i16,
}

/// One topic of a forwarded CreateTopics.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireNewTopic {
    /// Name.
    pub name: String,
    /// Partitions, or -1.
    pub num_partitions: i32,
    /// Replication factor, or -1.
    pub replication_factor: i16,
    /// Config overrides.
    pub configs: Vec<(String, String)>,
    /// Manual replica assignment: (partition index, replicas); empty when placed.
    #[serde(default)]
    pub assignments: Vec<(i32, Vec<i32>)>,
}

/// A broker's request to the active controller.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RpcRequest {
    /// BrokerRegistration; `raft_addr` is where a broker-only node follows
    /// the metadata log as a learner.
    Register {
        /// `node.id`.
        broker_id: i32,
        /// The broker's cluster id.
        cluster_id: String,
        /// Its incarnation id.
        incarnation_id: u128,
        /// Advertised listeners.
        endpoints: Vec<WireEndpoint>,
        /// `broker.rack`.
        rack: Option<String>,
        /// The epoch it cleanly shut down from, or -1.
        previous_broker_epoch: i64,
        /// The learner's Raft listener, for a broker that is not a voter.
        raft_addr: Option<String>,
    },
    /// BrokerHeartbeat.
    Heartbeat {
        /// `node.id`.
        broker_id: i32,
        /// Its registration's epoch.
        broker_epoch: i64,
        /// The metadata offset it applied.
        current_metadata_offset: i64,
        /// Stay fenced.
        want_fence: bool,
        /// Controlled shutdown.
        want_shut_down: bool,
    },
    /// CreateTopics, forwarded.
    CreateTopics {
        /// The topics.
        topics: Vec<WireNewTopic>,
        /// Check only.
        validate_only: bool,
    },
    /// CreatePartitions, forwarded.
    CreatePartitions {
        /// Topics with their new totals.
        topics: Vec<NewPartitions>,
        /// Check only.
        validate_only: bool,
    },
    /// DeleteTopics by name, forwarded.
    DeleteTopics {
        /// The names.
        names: Vec<String>,
    },
    /// Topic config changes, forwarded (checked by the broker).
    AlterConfigs {
        /// (topic, its keys to write).
        topics: Vec<(String, ConfigWrites)>,
    },
    /// A request about the metadata quorum, for its Raft leader.
    Quorum(QuorumOp),
    /// AlterPartition (key 56): a partition leader's ISR changes, several
    /// partitions per request.
    AlterPartition {
        /// The leader asking.
        broker_id: i32,
        /// Its registration's epoch.
        broker_epoch: i64,
        /// One entry per partition.
        partitions: Vec<WireAlterItem>,
    },
    /// ElectLeaders (key 43), forwarded.
    ElectLeaders {
        /// Unclean (else preferred).
        unclean: bool,
        /// (topic id, partition), or `None` for every partition.
        partitions: Option<Vec<(u128, i32)>>,
    },
    /// AllocateProducerIds (key 67): a block of producer ids.
    AllocateProducerIds {
        /// The broker asking.
        broker_id: i32,
        /// Its registration's epoch.
        broker_epoch: i64,
    },
    /// AlterPartitionReassignments (key 45), forwarded.
    AlterReassignments {
        /// (topic id, partition, target replicas or `None` to cancel).
        partitions: Vec<(u128, i32, Option<Vec<i32>>)>,
    },
    /// DeleteTopics naming topics by id too (the controller resolves
    /// them: a broker's table may lag), forwarded.
    ///
    /// Compatibility: postcard encodes a variant by its index, so this one
    /// is last and [`RpcRequest::DeleteTopics`] keeps its shape. A broker
    /// sends it only for a request with an id; a request of names alone
    /// still goes as `DeleteTopics`. During a rolling upgrade a controller
    /// that predates it cannot decode it and answers `NotController`: the
    /// broker retries (`client.rs`), then the whole request, its names
    /// too, is answered NOT_CONTROLLER, which clients retry until their
    /// timeout or until the controller is upgraded.
    DeleteTopicRefs {
        /// The topics, each by name or by id, in request order.
        topics: Vec<WireTopicRef>,
    },
}

/// A topic named by name or by id, on the wire.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum WireTopicRef {
    /// By name.
    Name(String),
    /// By id.
    Id(u128),
}

impl WireTopicRef {
    fn from_ref(topic: &TopicRef) -> Self {
        match topic {
            TopicRef::Name(name) => WireTopicRef::Name(name.clone()),
            TopicRef::Id(id) => WireTopicRef::Id(id.as_u128()),
        }
    }

    fn into_ref(self) -> TopicRef {
        match self {
            WireTopicRef::Name(name) => TopicRef::Name(name),
            WireTopicRef::Id(id) => TopicRef::Id(Uuid::from_u128(id)),
        }
    }
}

/// One partition of a forwarded AlterPartition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireAlterItem {
    /// The topic id.
    pub topic_id: u128,
    /// The partition index.
    pub partition: i32,
    /// The leader epoch the leader acts in.
    pub leader_epoch: i32,
    /// The partition epoch the change is based on.
    pub partition_epoch: i32,
    /// The ISR wanted: (broker id, broker epoch or -1).
    pub new_isr: Vec<(i32, i64)>,
    /// KIP-704: the leader has recovered (false: still recovering).
    pub recovered: bool,
}

/// A partition's committed state in an AlterPartition answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WirePartitionState {
    /// The leader, or -1.
    pub leader: i32,
    /// Leader epoch.
    pub leader_epoch: i32,
    /// Partition epoch.
    pub partition_epoch: i32,
    /// Every replica.
    pub replicas: Vec<i32>,
    /// The ISR.
    pub isr: Vec<i32>,
    /// KIP-704: false while an uncleanly elected leader recovers.
    pub recovered: bool,
}

/// One partition's AlterPartition result: (topic id, partition, state or
/// error code).
pub type WireAlterResult = (u128, i32, Result<WirePartitionState, i16>);

/// The active controller's answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RpcResponse {
    /// This node is not the active controller; the leader when known.
    NotController {
        /// The Raft leader's node id.
        leader: Option<u64>,
    },
    /// The controller's reply, committed at metadata offset `offset`.
    Reply {
        /// The reply.
        reply: WireReply,
        /// Every record the reply reports is at or below this offset.
        offset: i64,
    },
    /// The quorum leader's answer to a [`RpcRequest::Quorum`].
    Quorum(QuorumAnswer),
}

/// A controller reply on the wire; errors are Kafka error codes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum WireReply {
    /// The broker epoch, or an error.
    Register(Result<i64, i16>),
    /// (caught up, fenced, may shut down), or an error.
    Heartbeat(Result<(bool, bool, bool), i16>),
    /// Per topic in request order: (name, error code); a topic DeleteTopics
    /// asked by id has the name the controller found, or an empty one. A
    /// DeleteTopics of no topic refused whole has one row, with an empty
    /// name.
    Topics(Vec<(String, i16)>),
    /// AlterPartition: per partition in request order, or a request error.
    AlterPartition(Result<Vec<WireAlterResult>, i16>),
    /// AllocateProducerIds: (first id, length) of the block, or an error.
    ProducerIds(Result<(i64, i32), i16>),
    /// ElectLeaders or AlterPartitionReassignments: (topic id, partition,
    /// error code) per partition, or a request error.
    Elections(Result<Vec<(u128, i32, i16)>, i16>),
}

/// Why a message did not decode.
pub fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, String> {
    postcard::from_bytes(bytes).map_err(|e| format!("malformed broker rpc: {e}"))
}

/// A message's bytes.
pub fn encode<T: Serialize>(message: &T) -> Vec<u8> {
    // postcard fails only on types it cannot represent, none of which are here.
    postcard::to_allocvec(message).unwrap_or_default()
}

fn error_of(code: i16) -> ResponseError {
    ResponseError::try_from_code(code).unwrap_or(ResponseError::UnknownServerError)
}

impl RpcRequest {
    /// The wire form of a request to the controller (every kind is
    /// forwarded; `Option` is kept for callers that may refuse some).
    pub fn from_request(request: &Request, raft_addr: Option<&str>) -> Option<Self> {
        Some(match request {
            Request::RegisterBroker(r) => RpcRequest::Register {
                broker_id: r.broker_id,
                cluster_id: r.cluster_id.clone(),
                incarnation_id: r.incarnation_id.as_u128(),
                endpoints: r
                    .endpoints
                    .iter()
                    .map(|e| WireEndpoint {
                        name: e.name.clone(),
                        host: e.host.clone(),
                        port: e.port,
                        security_protocol: e.security_protocol,
                    })
                    .collect(),
                rack: r.rack.clone(),
                previous_broker_epoch: r.previous_broker_epoch,
                raft_addr: raft_addr.map(str::to_string),
            },
            Request::BrokerHeartbeat(r) => RpcRequest::Heartbeat {
                broker_id: r.broker_id,
                broker_epoch: r.broker_epoch,
                current_metadata_offset: r.current_metadata_offset,
                want_fence: r.want_fence,
                want_shut_down: r.want_shut_down,
            },
            Request::CreateTopics(r) => RpcRequest::CreateTopics {
                topics: r
                    .topics
                    .iter()
                    .map(|t| WireNewTopic {
                        name: t.name.clone(),
                        num_partitions: t.num_partitions,
                        replication_factor: t.replication_factor,
                        configs: t.configs.clone(),
                        assignments: t.assignments.clone(),
                    })
                    .collect(),
                validate_only: r.validate_only,
            },
            Request::CreatePartitions(r) => RpcRequest::CreatePartitions {
                topics: r.topics.clone(),
                validate_only: r.validate_only,
            },
            Request::DeleteTopics(r) => delete_topics_rpc(&r.topics),
            Request::AlterConfigs(r) => RpcRequest::AlterConfigs {
                topics: r.topics.clone(),
            },
            Request::AlterPartition(r) => RpcRequest::AlterPartition {
                broker_id: r.broker_id,
                broker_epoch: r.broker_epoch,
                partitions: r.partitions.iter().map(WireAlterItem::from_item).collect(),
            },
            Request::ElectLeaders(r) => RpcRequest::ElectLeaders {
                unclean: r.election == ElectionType::Unclean,
                partitions: r.partitions.as_ref().map(|list| {
                    list.iter()
                        .map(|tp| (tp.topic_id.as_u128(), tp.partition))
                        .collect()
                }),
            },
            Request::AllocateProducerIds(r) => RpcRequest::AllocateProducerIds {
                broker_id: r.broker_id,
                broker_epoch: r.broker_epoch,
            },
            Request::AlterReassignments(r) => RpcRequest::AlterReassignments {
                partitions: r
                    .partitions
                    .iter()
                    .map(|(tp, target)| (tp.topic_id.as_u128(), tp.partition, target.clone()))
                    .collect(),
            },
        })
    }

    /// The controller request this carries (`None` for a quorum request,
    /// which the Raft leader answers itself).
    pub fn into_request(self) -> Option<Request> {
        Some(match self {
            RpcRequest::Register {
                broker_id,
                cluster_id,
                incarnation_id,
                endpoints,
                rack,
                previous_broker_epoch,
                raft_addr: _,
            } => Request::RegisterBroker(BrokerRegistrationRequest {
                broker_id,
                cluster_id,
                incarnation_id: Uuid::from_u128(incarnation_id),
                endpoints: endpoints
                    .into_iter()
                    .map(|e| Endpoint {
                        name: e.name,
                        host: e.host,
                        port: e.port,
                        security_protocol: e.security_protocol,
                    })
                    .collect(),
                rack,
                previous_broker_epoch,
            }),
            RpcRequest::Heartbeat {
                broker_id,
                broker_epoch,
                current_metadata_offset,
                want_fence,
                want_shut_down,
            } => Request::BrokerHeartbeat(BrokerHeartbeatRequest {
                broker_id,
                broker_epoch,
                current_metadata_offset,
                want_fence,
                want_shut_down,
            }),
            RpcRequest::CreateTopics {
                topics,
                validate_only,
            } => Request::CreateTopics(CreateTopicsRequest {
                topics: topics
                    .into_iter()
                    .map(|t| NewTopic {
                        name: t.name,
                        num_partitions: t.num_partitions,
                        replication_factor: t.replication_factor,
                        configs: t.configs,
                        assignments: t.assignments,
                    })
                    .collect(),
                validate_only,
            }),
            RpcRequest::CreatePartitions {
                topics,
                validate_only,
            } => Request::CreatePartitions(CreatePartitionsRequest {
                topics,
                validate_only,
            }),
            RpcRequest::DeleteTopics { names } => Request::DeleteTopics(DeleteTopicsRequest {
                topics: names.into_iter().map(TopicRef::Name).collect(),
            }),
            RpcRequest::DeleteTopicRefs { topics } => Request::DeleteTopics(DeleteTopicsRequest {
                topics: topics.into_iter().map(WireTopicRef::into_ref).collect(),
            }),
            RpcRequest::AlterConfigs { topics } => {
                Request::AlterConfigs(AlterConfigsRequest { topics })
            }
            RpcRequest::AlterPartition {
                broker_id,
                broker_epoch,
                partitions,
            } => Request::AlterPartition(AlterPartitionRequest {
                broker_id,
                broker_epoch,
                partitions: partitions
                    .into_iter()
                    .map(WireAlterItem::into_item)
                    .collect(),
            }),
            RpcRequest::ElectLeaders {
                unclean,
                partitions,
            } => Request::ElectLeaders(ElectLeadersRequest {
                election: if unclean {
                    ElectionType::Unclean
                } else {
                    ElectionType::Preferred
                },
                partitions: partitions.map(|list| {
                    list.into_iter()
                        .map(|(topic_id, partition)| TopicIdPartition {
                            topic_id: Uuid::from_u128(topic_id),
                            partition,
                        })
                        .collect()
                }),
            }),
            RpcRequest::AllocateProducerIds {
                broker_id,
                broker_epoch,
            } => Request::AllocateProducerIds(AllocateProducerIdsRequest {
                broker_id,
                broker_epoch,
            }),
            RpcRequest::AlterReassignments { partitions } => {
                Request::AlterReassignments(AlterReassignmentsRequest {
                    partitions: partitions
                        .into_iter()
                        .map(|(topic_id, partition, target)| {
                            let topic_id = Uuid::from_u128(topic_id);
                            let tp = TopicIdPartition {
                                topic_id,
                                partition,
                            };
                            (tp, target)
                        })
                        .collect(),
                })
            }
            RpcRequest::Quorum(_) => return None,
        })
    }
}

/// A forwarded DeleteTopics: by names alone as every controller version
/// reads it, with ids as [`RpcRequest::DeleteTopicRefs`].
fn delete_topics_rpc(topics: &[TopicRef]) -> RpcRequest {
    let names: Option<Vec<String>> = topics
        .iter()
        .map(|t| match t {
            TopicRef::Name(name) => Some(name.clone()),
            TopicRef::Id(_) => None,
        })
        .collect();
    match names {
        Some(names) => RpcRequest::DeleteTopics { names },
        None => RpcRequest::DeleteTopicRefs {
            topics: topics.iter().map(WireTopicRef::from_ref).collect(),
        },
    }
}

fn recovery_state(recovered: bool) -> LeaderRecoveryState {
    if recovered {
        LeaderRecoveryState::Recovered
    } else {
        LeaderRecoveryState::Recovering
    }
}

impl WireAlterItem {
    fn from_item(item: &AlterPartitionItem) -> Self {
        WireAlterItem {
            topic_id: item.tp.topic_id.as_u128(),
            partition: item.tp.partition,
            leader_epoch: item.leader_epoch,
            partition_epoch: item.partition_epoch,
            new_isr: item.new_isr.clone(),
            recovered: item.leader_recovery_state == LeaderRecoveryState::Recovered,
        }
    }

    fn into_item(self) -> AlterPartitionItem {
        AlterPartitionItem {
            tp: TopicIdPartition {
                topic_id: Uuid::from_u128(self.topic_id),
                partition: self.partition,
            },
            leader_epoch: self.leader_epoch,
            partition_epoch: self.partition_epoch,
            new_isr: self.new_isr,
            leader_recovery_state: recovery_state(self.recovered),
        }
    }
}

impl WirePartitionState {
    fn from_state(state: &PartitionState) -> Self {
        WirePartitionState {
            leader: state.leader.unwrap_or(-1),
            leader_epoch: state.leader_epoch,
            partition_epoch: state.partition_epoch,
            replicas: state.replicas.clone(),
            isr: state.isr.clone(),
            recovered: state.leader_recovery_state == LeaderRecoveryState::Recovered,
        }
    }

    fn into_state(self) -> PartitionState {
        PartitionState {
            leader: (self.leader >= 0).then_some(self.leader),
            leader_epoch: self.leader_epoch,
            partition_epoch: self.partition_epoch,
            replicas: self.replicas,
            isr: self.isr,
            leader_recovery_state: recovery_state(self.recovered),
        }
    }
}

/// The name a DeleteTopics reply gives a topic: as asked, or for an id the
/// name the controller found (empty when it found none: no topic has an
/// empty name). Brokers before [`RpcRequest::DeleteTopicRefs`] never asked
/// by id, so no broker reads an id's entry another way.
fn deleted_name(topic: &TopicRef, result: &Result<DeletedTopic, ResponseError>) -> String {
    match (topic, result) {
        (TopicRef::Name(name), _) => name.clone(),
        (TopicRef::Id(_), Ok(deleted)) => deleted.name.clone(),
        (TopicRef::Id(_), Err(_)) => String::new(),
    }
}

fn code_of<T>(result: &Result<T, ResponseError>) -> i16 {
    result.as_ref().err().map_or(0, ResponseError::code)
}

impl WireReply {
    /// The wire form of `reply`.
    pub fn from_reply(reply: &Reply) -> Self {
        match reply {
            Reply::RegisterBroker(r) => WireReply::Register(r.map_err(|e| e.code())),
            Reply::BrokerHeartbeat(r) => WireReply::Heartbeat(
                r.map(|b| (b.is_caught_up, b.is_fenced, b.should_shut_down))
                    .map_err(|e| e.code()),
            ),
            Reply::CreateTopics(topics) => WireReply::Topics(
                topics
                    .iter()
                    .map(|(name, r)| (name.clone(), code_of(r)))
                    .collect(),
            ),
            Reply::CreatePartitions(topics) => WireReply::Topics(
                topics
                    .iter()
                    .map(|(name, r)| (name.clone(), code_of(r)))
                    .collect(),
            ),
            Reply::DeleteTopics(topics) => WireReply::Topics(
                topics
                    .iter()
                    .map(|(topic, r)| (deleted_name(topic, r), code_of(r)))
                    .collect(),
            ),
            Reply::AlterConfigs(topics) => WireReply::Topics(
                topics
                    .iter()
                    .map(|(name, r)| (name.clone(), code_of(r)))
                    .collect(),
            ),
            Reply::AlterPartition(r) => WireReply::AlterPartition(
                r.as_ref()
                    .map(|results| {
                        results
                            .iter()
                            .map(|result| {
                                let state = result.result.as_ref();
                                (
                                    result.tp.topic_id.as_u128(),
                                    result.tp.partition,
                                    state
                                        .map(WirePartitionState::from_state)
                                        .map_err(|e| e.code()),
                                )
                            })
                            .collect()
                    })
                    .map_err(|e| e.code()),
            ),
            Reply::AllocateProducerIds(r) => WireReply::ProducerIds(
                r.map(|b| (b.first_producer_id, b.len))
                    .map_err(|e| e.code()),
            ),
            Reply::ElectLeaders(r) | Reply::AlterReassignments(r) => WireReply::Elections(
                r.as_ref()
                    .map(|results| {
                        results
                            .iter()
                            .map(|(tp, r)| (tp.topic_id.as_u128(), tp.partition, code_of(r)))
                            .collect()
                    })
                    .map_err(|e| e.code()),
            ),
        }
    }

    /// The AlterPartition reply this carries (`None` for other replies).
    pub fn into_alter_partition_reply(self) -> Option<Reply> {
        let WireReply::AlterPartition(results) = self else {
            return None;
        };
        let results = results.map_err(error_of).map(|results| {
            results
                .into_iter()
                .map(|(topic_id, partition, result)| AlterPartitionResult {
                    tp: TopicIdPartition {
                        topic_id: Uuid::from_u128(topic_id),
                        partition,
                    },
                    result: result.map(WirePartitionState::into_state).map_err(error_of),
                })
                .collect()
        });
        Some(Reply::AlterPartition(results))
    }

    /// The lifecycle reply this carries (`None` for topic replies).
    pub fn into_lifecycle_reply(self) -> Option<Reply> {
        match self {
            WireReply::Register(r) => Some(Reply::RegisterBroker(r.map_err(error_of))),
            WireReply::Heartbeat(r) => Some(Reply::BrokerHeartbeat(
                r.map(
                    |(is_caught_up, is_fenced, should_shut_down)| BrokerHeartbeatReply {
                        is_caught_up,
                        is_fenced,
                        should_shut_down,
                    },
                )
                .map_err(error_of),
            )),
            _ => None,
        }
    }
}

#[cfg(test)]
#[path = "rpc_tests.rs"]
mod tests;
