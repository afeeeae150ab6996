//! Kafka wire error codes (Kafka's `org.apache.kafka.common.protocol.Errors`):
//! the one table every response, module and test takes its codes from. A code
//! the broker answers with is named here once, and nowhere else as a literal.
//!
//! Inside the broker, failures are narrow typed errors; they become one of
//! these codes only where a response is built (one code per partition).

/// An unexpected server-side failure (e.g. the helper threads are gone).
pub const UNKNOWN_SERVER_ERROR: i16 = -1;
/// No error.
pub const NONE: i16 = 0;
/// The requested offset is outside the log (below its start, above its end).
pub const OFFSET_OUT_OF_RANGE: i16 = 1;
/// A record batch failed validation (CRC, lengths, framing).
pub const CORRUPT_MESSAGE: i16 = 2;
/// The topic or partition does not exist.
pub const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
/// The partition has no leader yet (a client-side view: Apache Kafka answers it
/// while a new partition's leadership is being applied).
pub const LEADER_NOT_AVAILABLE: i16 = 5;
/// The partition is not on the broker/shard asked (moved, gone, or the shard
/// is unavailable): the client refreshes metadata and retries.
pub const NOT_LEADER_OR_FOLLOWER: i16 = 6;
/// The request took longer than its timeout.
pub const REQUEST_TIMED_OUT: i16 = 7;
/// A record batch is larger than `max.message.bytes`.
pub const MESSAGE_TOO_LARGE: i16 = 10;
/// OffsetCommit: the metadata string is longer than allowed.
pub const OFFSET_METADATA_TOO_LARGE: i16 = 12;
/// The group coordinator cannot serve the request now (e.g. a failed write).
pub const COORDINATOR_NOT_AVAILABLE: i16 = 15;
/// This broker does not coordinate the group.
pub const NOT_COORDINATOR: i16 = 16;
/// The coordinator is loading the group's offsets partition (a new leader).
pub const COORDINATOR_LOAD_IN_PROGRESS: i16 = 14;
/// The topic name is illegal.
pub const INVALID_TOPIC_EXCEPTION: i16 = 17;
/// Produce: the in-sync replicas are fewer than `min.insync.replicas`; the
/// batch was not appended.
pub const NOT_ENOUGH_REPLICAS: i16 = 19;
/// Produce: the batch was appended, but the in-sync replicas fell below
/// `min.insync.replicas` before it was replicated to enough of them.
pub const NOT_ENOUGH_REPLICAS_AFTER_APPEND: i16 = 20;
/// Produce `acks` other than -1, 0 or 1.
pub const INVALID_REQUIRED_ACKS: i16 = 21;
/// The group generation in the request is not the current one.
pub const ILLEGAL_GENERATION: i16 = 22;
/// The member's protocols share none with the group's.
pub const INCONSISTENT_GROUP_PROTOCOL: i16 = 23;
/// The group id is empty or otherwise invalid.
pub const INVALID_GROUP_ID: i16 = 24;
/// The member id is not known to the group.
pub const UNKNOWN_MEMBER_ID: i16 = 25;
/// The session timeout is outside the broker's allowed range.
pub const INVALID_SESSION_TIMEOUT: i16 = 26;
/// The group is rebalancing: rejoin.
pub const REBALANCE_IN_PROGRESS: i16 = 27;
/// A record timestamp outside the topic's `message.timestamp.*` bounds.
pub const INVALID_TIMESTAMP: i16 = 32;
/// The API version is not supported.
pub const UNSUPPORTED_VERSION: i16 = 35;
/// CreateTopics: the topic exists already.
pub const TOPIC_ALREADY_EXISTS: i16 = 36;
/// The partition count is invalid (or not an increase).
pub const INVALID_PARTITIONS: i16 = 37;
/// The replication factor cannot be met.
pub const INVALID_REPLICATION_FACTOR: i16 = 38;
/// A manual replica assignment is inconsistent or names unknown brokers.
pub const INVALID_REPLICA_ASSIGNMENT: i16 = 39;
/// A config key or value is invalid.
pub const INVALID_CONFIG: i16 = 40;
/// The request needs the active controller, which could not be reached.
pub const NOT_CONTROLLER: i16 = 41;
/// The request is malformed or inconsistent.
pub const INVALID_REQUEST: i16 = 42;
/// The record format (magic) is not supported for this operation.
pub const UNSUPPORTED_FOR_MESSAGE_FORMAT: i16 = 43;
/// The batch's sequence does not follow the producer's last sequence.
pub const OUT_OF_ORDER_SEQUENCE_NUMBER: i16 = 45;
/// The producer epoch is older than the one the partition knows.
pub const INVALID_PRODUCER_EPOCH: i16 = 47;
/// A transactional batch where no transaction is possible (none yet).
pub const INVALID_TXN_STATE: i16 = 48;
/// A transactional id was used; transactions are not supported yet.
pub const TRANSACTIONAL_ID_AUTHORIZATION_FAILED: i16 = 53;
/// The request was not attempted (AlterPartition: the controller says the
/// change was not applied, so the leader may drop it).
pub const OPERATION_NOT_ATTEMPTED: i16 = 55;
/// The log cannot be read or written (I/O error, failed or closed log).
pub const KAFKA_STORAGE_ERROR: i16 = 56;
/// DeleteGroups/OffsetDelete: the group still has members.
pub const NON_EMPTY_GROUP: i16 = 68;
/// The group does not exist.
pub const GROUP_ID_NOT_FOUND: i16 = 69;
/// Fetch: the incremental fetch session named is not (or no longer) cached here.
pub const FETCH_SESSION_ID_NOT_FOUND: i16 = 70;
/// Fetch: the session epoch is not the one the session expects next.
pub const INVALID_FETCH_SESSION_EPOCH: i16 = 71;
/// DeleteTopics v3+ on a broker with `delete.topic.enable=false`.
pub const TOPIC_DELETION_DISABLED: i16 = 73;
/// KIP-320: the request's leader epoch is older than the partition's.
pub const FENCED_LEADER_EPOCH: i16 = 74;
/// KIP-320: the request's leader epoch is newer than the partition's.
pub const UNKNOWN_LEADER_EPOCH: i16 = 75;
/// The leader's high watermark has not reached its epoch's start offset
/// yet: ListOffsets is retried (KIP-207).
pub const OFFSET_NOT_AVAILABLE: i16 = 78;
/// JoinGroup v4+: rejoin with the member id the broker handed out.
pub const MEMBER_ID_REQUIRED: i16 = 79;
/// The group has its maximum number of members.
pub const GROUP_MAX_SIZE_REACHED: i16 = 81;
/// Another member joined with the same `group.instance.id`.
pub const FENCED_INSTANCE_ID: i16 = 82;
/// OffsetDelete: the group is subscribed to the topic.
pub const GROUP_SUBSCRIBED_TO_TOPIC: i16 = 86;
/// A record or batch is invalid (inconsistent fields, control batch from a
/// client...).
pub const INVALID_RECORD: i16 = 87;
/// A quota is exceeded; Produce: a partition's producer state is full of
/// producers that have not expired (`producer.ids.per.partition.max`).
pub const THROTTLING_QUOTA_EXCEEDED: i16 = 89;
/// AlterPartition: the partition epoch the change is based on is stale.
pub const INVALID_UPDATE_VERSION: i16 = 95;
/// Fetch v13+: the topic id is unknown.
pub const UNKNOWN_TOPIC_ID: i16 = 100;
/// AlterPartition: a new ISR member is fenced or shutting down; the change
/// was not applied.
pub const INELIGIBLE_REPLICA: i16 = 107;
/// The AlterPartition committed, and moved leadership away (a reassignment
/// completed that removed the leader).
pub const NEW_LEADER_ELECTED: i16 = 108;
/// Fetch: the session was opened with topic ids and the request uses
/// names, or the other way round.
pub const FETCH_SESSION_TOPIC_ID_ERROR: i16 = 106;
