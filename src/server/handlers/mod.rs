//! One file per Kafka API. Each declares the versions it serves
//! (`VERSIONS`); ApiVersions is built from those declarations, and
//! [`dispatch`] refuses anything outside them.

pub mod add_raft_voter;
pub mod alter_configs;
pub mod alter_partition_reassignments;
pub mod api_versions;
pub mod create_partitions;
pub mod create_topics;
pub mod current_leader;
pub mod delete_groups;
pub mod delete_topics;
pub mod describe_cluster;
pub mod describe_configs;
pub mod describe_groups;
pub mod describe_log_dirs;
pub mod describe_quorum;
pub mod elect_leaders;
pub mod fetch;
pub mod find_coordinator;
pub mod heartbeat;
pub mod incremental_alter_configs;
pub mod init_producer_id;
pub mod join_group;
pub mod leave_group;
pub mod legacy_fetch;
pub mod legacy_versions;
pub mod list_groups;
pub mod list_offsets;
pub mod list_partition_reassignments;
pub mod metadata;
pub mod offset_commit;
pub mod offset_delete;
pub mod offset_fetch;
pub mod offset_for_leader_epoch;
pub mod produce;
pub mod produce_policy;
pub mod remove_raft_voter;
pub mod sync_group;

use crate::config::ListenerIndex;
use crate::protocol::frame::{self, FrameError, RequestFrame};
use crate::protocol::piece::Piece;
use crate::shard::ShardContext;
use kafka_protocol::messages::{ApiKey, RequestKind};
use kafka_protocol::protocol::Encodable;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;

/// The answer to one request, in wire form, once ready; `None` sends nothing
/// (Produce with acks=0).
pub type Pending = Pin<Box<dyn Future<Output = Option<Vec<Piece>>>>>;

/// Inclusive range of versions an API is served at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VersionRange {
    /// Lowest version.
    pub min: i16,
    /// Highest version.
    pub max: i16,
}

/// Every API served, with its versions (the source of ApiVersions).
pub const SUPPORTED_APIS: &[(ApiKey, VersionRange)] = &[
    (ApiKey::Produce, produce::VERSIONS),
    (ApiKey::Fetch, fetch::VERSIONS),
    (ApiKey::ListOffsets, list_offsets::VERSIONS),
    (ApiKey::Metadata, metadata::VERSIONS),
    (ApiKey::ApiVersions, api_versions::VERSIONS),
    (ApiKey::CreateTopics, create_topics::VERSIONS),
    (ApiKey::DeleteTopics, delete_topics::VERSIONS),
    (ApiKey::InitProducerId, init_producer_id::VERSIONS),
    (ApiKey::DescribeConfigs, describe_configs::VERSIONS),
    (ApiKey::CreatePartitions, create_partitions::VERSIONS),
    (ApiKey::FindCoordinator, find_coordinator::VERSIONS),
    (ApiKey::JoinGroup, join_group::VERSIONS),
    (ApiKey::SyncGroup, sync_group::VERSIONS),
    (ApiKey::Heartbeat, heartbeat::VERSIONS),
    (ApiKey::LeaveGroup, leave_group::VERSIONS),
    (ApiKey::OffsetCommit, offset_commit::VERSIONS),
    (ApiKey::OffsetFetch, offset_fetch::VERSIONS),
    (ApiKey::ListGroups, list_groups::VERSIONS),
    (ApiKey::DescribeGroups, describe_groups::VERSIONS),
    (ApiKey::DeleteGroups, delete_groups::VERSIONS),
    (ApiKey::OffsetDelete, offset_delete::VERSIONS),
    (
        ApiKey::OffsetForLeaderEpoch,
        offset_for_leader_epoch::VERSIONS,
    ),
    (ApiKey::DescribeLogDirs, describe_log_dirs::VERSIONS),
    (
        ApiKey::IncrementalAlterConfigs,
        incremental_alter_configs::VERSIONS,
    ),
    (ApiKey::AlterConfigs, alter_configs::VERSIONS),
    (ApiKey::DescribeCluster, describe_cluster::VERSIONS),
    (ApiKey::DescribeQuorum, describe_quorum::VERSIONS),
    (ApiKey::AddRaftVoter, add_raft_voter::VERSIONS),
    (ApiKey::RemoveRaftVoter, remove_raft_voter::VERSIONS),
    (ApiKey::ElectLeaders, elect_leaders::VERSIONS),
    (
        ApiKey::AlterPartitionReassignments,
        alter_partition_reassignments::VERSIONS,
    ),
    (
        ApiKey::ListPartitionReassignments,
        list_partition_reassignments::VERSIONS,
    ),
];

/// Why a request cannot be answered; the connection is closed.
#[derive(Debug)]
pub enum DispatchError {
    /// The frame itself is malformed or names an unknown API.
    Frame(FrameError),
    /// A known API this broker does not serve.
    UnsupportedApi {
        /// The api key.
        api_key: i16,
    },
    /// A served API at a version outside its range.
    UnsupportedVersion {
        /// The api key.
        api_key: i16,
        /// The version asked for.
        version: i16,
    },
    /// The body does not decode at the stated version.
    Malformed {
        /// The api key.
        api_key: i16,
        /// The version.
        version: i16,
        /// The decoder's complaint.
        reason: String,
    },
}

impl std::fmt::Display for DispatchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DispatchError::Frame(e) => write!(f, "{e}"),
            DispatchError::UnsupportedApi { api_key } => {
                write!(f, "api key {api_key} is not served by this broker")
            }
            DispatchError::UnsupportedVersion { api_key, version } => {
                write!(f, "api key {api_key} version {version} is not served")
            }
            DispatchError::Malformed {
                api_key,
                version,
                reason,
            } => write!(f, "api key {api_key} v{version} does not decode: {reason}"),
        }
    }
}

/// The versions of `api_key` this broker serves.
pub fn served_versions(api_key: ApiKey) -> Option<VersionRange> {
    SUPPORTED_APIS
        .iter()
        .find(|(key, _)| *key == api_key)
        .map(|(_, range)| *range)
}

/// Starts answering `request`: its ordered part (e.g. the append of a
/// Produce) is done when this returns; the returned future yields the answer.
/// `peer` is the client's address (shown as a group member's client host),
/// `listener` the client listener it connected to; `buffer_bytes` the allocation the frame slices (kept alive by whatever
/// keeps a slice of it, such as appended batches).
pub async fn dispatch(
    ctx: &Rc<ShardContext>,
    request: RequestFrame,
    (peer, listener): (Option<SocketAddr>, ListenerIndex),
    buffer_bytes: usize,
) -> Result<Pending, DispatchError> {
    let api_key = request
        .api_key()
        .ok_or(DispatchError::Frame(FrameError::UnknownApiKey {
            api_key: request.api_key,
            correlation_id: request.correlation_id,
        }))?;
    crate::alloc_stats::count_request();
    log::trace!(
        "request {:?} v{} correlation id {}",
        api_key,
        request.api_version,
        request.correlation_id
    );
    if api_key == ApiKey::ApiVersions {
        // KIP-511: any version gets an answer.
        return Ok(api_versions::handle(&request));
    }
    let range = served_versions(api_key).ok_or(DispatchError::UnsupportedApi {
        api_key: request.api_key,
    })?;
    let version = request.api_version;
    if version < range.min || version > range.max {
        return Err(DispatchError::UnsupportedVersion {
            api_key: request.api_key,
            version,
        });
    }
    if api_key == ApiKey::Produce && version < produce::CRATE_VERSION_MIN {
        return produce::handle_legacy(ctx, request, listener).await;
    }
    let malformed = |reason: String| DispatchError::Malformed {
        api_key: request.api_key,
        version,
        reason,
    };
    let (body_version, mut body) =
        legacy_versions::upgrade(api_key, version, &request.body).map_err(malformed)?;
    let decoded = RequestKind::decode(api_key, &mut body, body_version)
        .map_err(|e| malformed(e.to_string()))?;
    Ok(route(ctx, &request, decoded, (peer, listener), buffer_bytes).await)
}

async fn route(
    ctx: &Rc<ShardContext>,
    request: &RequestFrame,
    decoded: RequestKind,
    (peer, listener): (Option<SocketAddr>, ListenerIndex),
    buffer_bytes: usize,
) -> Pending {
    let ctx = ctx.clone();
    let header = RequestMeta::of(request, listener);
    match decoded {
        RequestKind::Produce(body) => produce::handle(&ctx, header, body, buffer_bytes).await,
        RequestKind::Fetch(body) => {
            Box::pin(async move { fetch::handle(&ctx, header, body).await })
        }
        RequestKind::ListOffsets(body) => {
            Box::pin(async move { list_offsets::handle(&ctx, header, body).await })
        }
        RequestKind::Metadata(body) => {
            Box::pin(async move { metadata::handle(&ctx, header, body).await })
        }
        RequestKind::CreateTopics(body) => {
            Box::pin(async move { create_topics::handle(&ctx, header, body).await })
        }
        RequestKind::DeleteTopics(body) => {
            Box::pin(async move { delete_topics::handle(&ctx, header, body).await })
        }
        RequestKind::CreatePartitions(body) => {
            Box::pin(async move { create_partitions::handle(&ctx, header, body).await })
        }
        RequestKind::InitProducerId(body) => {
            Box::pin(async move { init_producer_id::handle(&ctx, header, body).await })
        }
        RequestKind::DescribeConfigs(body) => {
            Box::pin(async move { describe_configs::handle(&ctx, header, body) })
        }
        RequestKind::IncrementalAlterConfigs(body) => {
            Box::pin(async move { incremental_alter_configs::handle(&ctx, header, body).await })
        }
        RequestKind::AlterConfigs(body) => {
            Box::pin(async move { alter_configs::handle(&ctx, header, body).await })
        }
        RequestKind::DescribeCluster(body) => {
            Box::pin(async move { describe_cluster::handle(&ctx, header, body) })
        }
        RequestKind::DescribeQuorum(body) => {
            Box::pin(async move { describe_quorum::handle(&ctx, header, body).await })
        }
        RequestKind::AddRaftVoter(body) => {
            Box::pin(async move { add_raft_voter::handle(&ctx, header, body).await })
        }
        RequestKind::RemoveRaftVoter(body) => {
            Box::pin(async move { remove_raft_voter::handle(&ctx, header, body).await })
        }
        RequestKind::DescribeLogDirs(body) => {
            Box::pin(async move { describe_log_dirs::handle(&ctx, header, body).await })
        }
        RequestKind::FindCoordinator(body) => {
            Box::pin(async move { find_coordinator::handle(&ctx, header, body).await })
        }
        RequestKind::JoinGroup(body) => {
            let client_id = request
                .client_id
                .as_ref()
                .map(|id| id.to_string())
                .unwrap_or_default();
            let client_host = join_group::client_host(peer);
            Box::pin(
                async move { join_group::handle(&ctx, header, client_id, client_host, body).await },
            )
        }
        RequestKind::SyncGroup(body) => {
            Box::pin(async move { sync_group::handle(&ctx, header, body).await })
        }
        RequestKind::Heartbeat(body) => {
            Box::pin(async move { heartbeat::handle(&ctx, header, body).await })
        }
        RequestKind::LeaveGroup(body) => {
            Box::pin(async move { leave_group::handle(&ctx, header, body).await })
        }
        RequestKind::OffsetCommit(body) => {
            Box::pin(async move { offset_commit::handle(&ctx, header, body).await })
        }
        RequestKind::OffsetFetch(body) => {
            Box::pin(async move { offset_fetch::handle(&ctx, header, body).await })
        }
        RequestKind::ListGroups(body) => {
            Box::pin(async move { list_groups::handle(&ctx, header, body).await })
        }
        RequestKind::DescribeGroups(body) => {
            Box::pin(async move { describe_groups::handle(&ctx, header, body).await })
        }
        RequestKind::DeleteGroups(body) => {
            Box::pin(async move { delete_groups::handle(&ctx, header, body).await })
        }
        RequestKind::OffsetDelete(body) => {
            Box::pin(async move { offset_delete::handle(&ctx, header, body).await })
        }
        RequestKind::ElectLeaders(body) => {
            Box::pin(async move { elect_leaders::handle(&ctx, header, body).await })
        }
        RequestKind::AlterPartitionReassignments(body) => {
            Box::pin(async move { alter_partition_reassignments::handle(&ctx, header, body).await })
        }
        RequestKind::ListPartitionReassignments(body) => {
            Box::pin(async move { list_partition_reassignments::handle(&ctx, header, body).await })
        }
        RequestKind::OffsetForLeaderEpoch(body) => {
            Box::pin(async move { offset_for_leader_epoch::handle(&ctx, header, body).await })
        }
        _ => Box::pin(async { None }),
    }
}

/// The header fields a handler needs to answer.
#[derive(Clone, Copy, Debug)]
pub struct RequestMeta {
    /// The API.
    pub api_key: ApiKey,
    /// Its version.
    pub version: i16,
    /// Echoed in the response header.
    pub correlation_id: i32,
    /// The client listener the request came in on: Metadata and the other
    /// answers naming brokers give that listener's addresses.
    pub listener: ListenerIndex,
}

impl RequestMeta {
    fn of(request: &RequestFrame, listener: ListenerIndex) -> Self {
        RequestMeta {
            api_key: request.api_key().unwrap_or(ApiKey::ApiVersions),
            version: request.api_version,
            correlation_id: request.correlation_id,
            listener,
        }
    }
}

/// Encodes a crate response as one memory piece. An encoding failure is a bug
/// (a field set that this version lacks): it is logged and the connection
/// gets no answer for this request rather than a corrupt one.
pub fn respond<R: Encodable>(meta: RequestMeta, body: &R) -> Option<Vec<Piece>> {
    match frame::encode_response(meta.correlation_id, meta.api_key, meta.version, body) {
        Ok(bytes) => Some(vec![Piece::Mem(bytes)]),
        Err(e) => {
            log::error!("{e}");
            None
        }
    }
}

/// The Kafka error codes handlers answer with (the one table).
pub use crate::protocol::error_code;
