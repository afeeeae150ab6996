//! What goes into the controller and what comes out. Requests mirror the Kafka
//! APIs the controller serves (BrokerRegistration 62, BrokerHeartbeat 63,
//! CreateTopics 19, CreatePartitions 37, DeleteTopics 20, AlterPartition 56,
//! ElectLeaders 43, AllocateProducerIds 67, AlterPartitionReassignments 45),
//! reduced to what the decision
//! needs; the I/O layer converts from and to the wire messages.

use crate::cluster::records::{Endpoint, LeaderRecoveryState, RecordBatch};
use crate::cluster::{BrokerId, TopicIdPartition};
pub use crate::metadata::controller::NewPartitions;
pub use kafka_protocol::ResponseError;
use uuid::Uuid;

/// Chosen by the caller to route a reply back to its request.
pub type RequestId = u64;

/// One input to [`super::Controller::handle`].
#[derive(Clone, Debug)]
pub enum Input {
    /// A request from a broker or an admin client.
    Request {
        /// Routes the reply.
        id: RequestId,
        /// The request.
        request: Request,
    },
    /// The log committed every record up to and including `offset`.
    Committed {
        /// Last committed offset.
        offset: i64,
    },
    /// Time passed: check broker sessions and periodic work.
    Tick,
    /// The brokers whose connections to the controllers all closed (or
    /// were reset) and did not come back, each with the time the last one
    /// closed; replaces the previous set. A broker killed -9 shows here at
    /// once, so it is fenced after `broker_heartbeat_interval_ms` instead
    /// of the whole session timeout (see `sessions`).
    ConnectionsLost(Vec<(BrokerId, u64)>),
}

/// One output of [`super::Controller::handle`], to carry out in order.
#[derive(Clone, Debug)]
pub enum Output {
    /// Append this batch to the metadata log (after the previous ones).
    Append(RecordBatch),
    /// Send this reply; whatever it reports is committed.
    Reply {
        /// The request's id.
        id: RequestId,
        /// The reply.
        reply: Reply,
    },
    /// The controller found its own state inconsistent (a bug): it answers
    /// nothing from now on and must resign; a new controller rebuilds from
    /// the committed log.
    Fault(String),
}

/// A request to the controller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// BrokerRegistration.
    RegisterBroker(BrokerRegistrationRequest),
    /// BrokerHeartbeat.
    BrokerHeartbeat(BrokerHeartbeatRequest),
    /// CreateTopics.
    CreateTopics(CreateTopicsRequest),
    /// CreatePartitions.
    CreatePartitions(CreatePartitionsRequest),
    /// DeleteTopics.
    DeleteTopics(DeleteTopicsRequest),
    /// AlterPartition.
    AlterPartition(AlterPartitionRequest),
    /// ElectLeaders.
    ElectLeaders(ElectLeadersRequest),
    /// AllocateProducerIds.
    AllocateProducerIds(AllocateProducerIdsRequest),
    /// IncrementalAlterConfigs / AlterConfigs of topics, as the records to write.
    AlterConfigs(AlterConfigsRequest),
    /// AlterPartitionReassignments (KIP-455).
    AlterReassignments(AlterReassignmentsRequest),
}

impl Request {
    /// The reply that refuses this whole request with `error`.
    pub fn refuse(&self, error: ResponseError) -> Reply {
        match self {
            Request::RegisterBroker(_) => Reply::RegisterBroker(Err(error)),
            Request::BrokerHeartbeat(_) => Reply::BrokerHeartbeat(Err(error)),
            Request::CreateTopics(r) => Reply::CreateTopics(
                r.topics
                    .iter()
                    .map(|t| (t.name.clone(), Err(error)))
                    .collect(),
            ),
            Request::CreatePartitions(r) => Reply::CreatePartitions(
                r.topics
                    .iter()
                    .map(|t| (t.name.clone(), Err(error)))
                    .collect(),
            ),
            Request::DeleteTopics(r) => {
                Reply::DeleteTopics(r.topics.iter().map(|t| (t.clone(), Err(error))).collect())
            }
            Request::AlterPartition(_) => Reply::AlterPartition(Err(error)),
            Request::ElectLeaders(_) => Reply::ElectLeaders(Err(error)),
            Request::AllocateProducerIds(_) => Reply::AllocateProducerIds(Err(error)),
            Request::AlterConfigs(r) => Reply::AlterConfigs(
                r.topics
                    .iter()
                    .map(|(name, _)| (name.clone(), Err(error)))
                    .collect(),
            ),
            Request::AlterReassignments(_) => Reply::AlterReassignments(Err(error)),
        }
    }
}

/// A reply from the controller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// BrokerRegistration: the broker epoch.
    RegisterBroker(Result<i64, ResponseError>),
    /// BrokerHeartbeat.
    BrokerHeartbeat(Result<BrokerHeartbeatReply, ResponseError>),
    /// CreateTopics, per topic in request order.
    CreateTopics(Vec<(String, Result<CreatedTopic, ResponseError>)>),
    /// CreatePartitions, per topic in request order.
    CreatePartitions(Vec<(String, Result<(), ResponseError>)>),
    /// DeleteTopics, per topic in request order (as asked): the removed topic.
    DeleteTopics(Vec<(TopicRef, Result<DeletedTopic, ResponseError>)>),
    /// AlterPartition: a request-level error, or one result per partition.
    AlterPartition(Result<Vec<AlterPartitionResult>, ResponseError>),
    /// ElectLeaders: a request-level error, or one result per partition.
    ElectLeaders(Result<Vec<ElectionResult>, ResponseError>),
    /// AllocateProducerIds.
    AllocateProducerIds(Result<ProducerIdBlock, ResponseError>),
    /// AlterConfigs, per topic in request order.
    AlterConfigs(Vec<(String, Result<(), ResponseError>)>),
    /// AlterPartitionReassignments: a request-level error, or one result
    /// per partition in request order.
    AlterReassignments(Result<Vec<ElectionResult>, ResponseError>),
}

/// AlterPartitionReassignments (KIP-455): per partition, the replicas to
/// move to (preferred first), or `None` to cancel the reassignment in
/// flight.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlterReassignmentsRequest {
    /// (partition, target replicas or `None`).
    pub partitions: Vec<(TopicIdPartition, Option<Vec<BrokerId>>)>,
}

/// Topic config changes, already checked by the broker that received them
/// (Kafka's validation of keys and values): per topic, each key set to a
/// value or removed (`None`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlterConfigsRequest {
    /// (topic name, its keys to write).
    pub topics: Vec<(String, ConfigWrites)>,
}

/// Config keys to write: (key, new value or `None` to remove it).
pub type ConfigWrites = Vec<(String, Option<String>)>;

/// One partition's result of an ElectLeaders or AlterPartitionReassignments
/// request.
pub type ElectionResult = (TopicIdPartition, Result<(), ResponseError>);

/// BrokerRegistration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerRegistrationRequest {
    /// `node.id`.
    pub broker_id: BrokerId,
    /// The cluster id the broker's log dirs belong to.
    pub cluster_id: String,
    /// Fresh per process start.
    pub incarnation_id: Uuid,
    /// Advertised listeners.
    pub endpoints: Vec<Endpoint>,
    /// `broker.rack`.
    pub rack: Option<String>,
    /// The epoch of the registration this process shut down cleanly from
    /// (KIP-966), or -1 after a crash or on first start.
    pub previous_broker_epoch: i64,
}

/// BrokerHeartbeat.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BrokerHeartbeatRequest {
    /// The broker.
    pub broker_id: BrokerId,
    /// Its registration's epoch.
    pub broker_epoch: i64,
    /// The last metadata offset it applied.
    pub current_metadata_offset: i64,
    /// It asks to be (or stay) fenced, e.g. while recovering its logs.
    pub want_fence: bool,
    /// It asks to shut down (controlled shutdown).
    pub want_shut_down: bool,
}

/// BrokerHeartbeat's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BrokerHeartbeatReply {
    /// The broker has applied its own registration record.
    pub is_caught_up: bool,
    /// The broker is fenced.
    pub is_fenced: bool,
    /// Leadership moved away: the broker may exit now.
    pub should_shut_down: bool,
}

/// One topic of a CreateTopics request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewTopic {
    /// Name.
    pub name: String,
    /// Partition count, or -1 for `num.partitions`.
    pub num_partitions: i32,
    /// Replication factor, or -1 for `default.replication.factor`.
    pub replication_factor: i16,
    /// Topic config overrides.
    pub configs: Vec<(String, String)>,
    /// A manual replica assignment, (partition index, replicas) as the client
    /// sent it; empty when the controller places the replicas.
    pub assignments: Vec<(i32, Vec<i32>)>,
}

/// CreateTopics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreateTopicsRequest {
    /// Topics to create.
    pub topics: Vec<NewTopic>,
    /// Check only; write nothing.
    pub validate_only: bool,
}

/// A created (or, with `validate_only`, creatable) topic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CreatedTopic {
    /// Its id (nil when only validated).
    pub topic_id: Uuid,
    /// Partitions.
    pub num_partitions: i32,
    /// Replication factor.
    pub replication_factor: i16,
}

/// A topic DeleteTopics removed: its id and name, whichever the request
/// gave (a broker asked by an id it had not applied yet answers the name).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeletedTopic {
    /// Its id.
    pub topic_id: Uuid,
    /// Its name.
    pub name: String,
}

/// CreatePartitions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreatePartitionsRequest {
    /// Topics with their new total partition counts.
    pub topics: Vec<NewPartitions>,
    /// Check only; write nothing.
    pub validate_only: bool,
}

/// A topic named by name or by id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TopicRef {
    /// By name.
    Name(String),
    /// By id.
    Id(Uuid),
}

/// DeleteTopics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeleteTopicsRequest {
    /// Topics to delete.
    pub topics: Vec<TopicRef>,
}

/// AlterPartition: a partition leader's ISR change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlterPartitionRequest {
    /// The leader asking.
    pub broker_id: BrokerId,
    /// Its epoch.
    pub broker_epoch: i64,
    /// The changes.
    pub partitions: Vec<AlterPartitionItem>,
}

/// One partition of an AlterPartition request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlterPartitionItem {
    /// The partition.
    pub tp: TopicIdPartition,
    /// The leader epoch the leader acts in.
    pub leader_epoch: i32,
    /// The partition epoch it saw: the compare-and-set version.
    pub partition_epoch: i32,
    /// The ISR it wants, each member with its broker epoch (KIP-903), or -1
    /// to skip that check.
    pub new_isr: Vec<(BrokerId, i64)>,
    /// KIP-704: `Recovered` once an uncleanly elected leader has recovered.
    pub leader_recovery_state: LeaderRecoveryState,
}

/// The state of a partition after an AlterPartition, or why it was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlterPartitionResult {
    /// The partition.
    pub tp: TopicIdPartition,
    /// Its state, or the error.
    pub result: Result<PartitionState, ResponseError>,
}

/// What an AlterPartition answer reports of a partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionState {
    /// Leader.
    pub leader: Option<BrokerId>,
    /// Leader epoch.
    pub leader_epoch: i32,
    /// Partition epoch.
    pub partition_epoch: i32,
    /// Every replica, preferred first.
    pub replicas: Vec<BrokerId>,
    /// ISR.
    pub isr: Vec<BrokerId>,
    /// Leader recovery state.
    pub leader_recovery_state: LeaderRecoveryState,
}

/// Which election ElectLeaders asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElectionType {
    /// Move leadership to the preferred (first) replica.
    Preferred,
    /// Elect any live replica of a leaderless partition, even out of sync.
    Unclean,
}

/// ElectLeaders.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElectLeadersRequest {
    /// The kind of election.
    pub election: ElectionType,
    /// The partitions, or `None` for all.
    pub partitions: Option<Vec<TopicIdPartition>>,
}

/// AllocateProducerIds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AllocateProducerIdsRequest {
    /// The broker asking.
    pub broker_id: BrokerId,
    /// Its epoch.
    pub broker_epoch: i64,
}

/// A block of producer ids, unique cluster-wide.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProducerIdBlock {
    /// The first id.
    pub first_producer_id: i64,
    /// How many ids from the first.
    pub len: i32,
}
