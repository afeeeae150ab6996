//! The consumer group coordinator, thread-per-core: each group is owned by
//! one shard ([`crate::shard::placement::shard_for_group`]), which alone
//! holds the group's state and its committed offsets. Handlers on any shard
//! route group requests to the owner as a [`GroupRequest`] and get a
//! [`GroupResponse`] back (kafka-protocol structs, encoded at the connection).
//!
//! - [`group`]: the classic-protocol state machine of one group.
//! - [`offsets`]: the per-shard durable offsets log.
//! - [`ops`]: the owner-side handling of each request.

pub mod group;
pub mod offsets;
pub mod ops;

use crate::config::Config;
use crate::shard::messages::{ShardRequest, ShardResponse};
use crate::shard::placement::shard_for_group;
use crate::shard::ShardContext;
use group::{Group, GroupLimits};
use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::describe_groups_response::DescribedGroup;
use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::offset_fetch_response::OffsetFetchResponseGroup;
use kafka_protocol::messages::{
    GroupId, HeartbeatRequest, HeartbeatResponse, JoinGroupRequest, JoinGroupResponse,
    LeaveGroupRequest, LeaveGroupResponse, OffsetCommitRequest, OffsetCommitResponse,
    SyncGroupRequest, SyncGroupResponse, TopicName,
};
use offsets::OffsetStore;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Members (joined or pending) per group.
pub const GROUP_MEMBERS_MAX: usize = 1000;
/// Groups with live members per shard.
pub const GROUPS_PER_SHARD_MAX: usize = 10_000;
/// How often a shard expires sessions and ends timed-out rebalances.
pub const GROUP_TICK_INTERVAL_MS: u64 = 100;

/// A group request routed to the owning shard.
pub enum GroupRequest {
    /// JoinGroup, with the client id of the connection.
    Join {
        /// The request.
        request: JoinGroupRequest,
        /// Its version.
        version: i16,
        /// Client id from the request header.
        client_id: String,
    },
    /// SyncGroup.
    Sync(SyncGroupRequest),
    /// Heartbeat.
    Heartbeat(HeartbeatRequest),
    /// LeaveGroup.
    Leave {
        /// The request.
        request: LeaveGroupRequest,
        /// Its version.
        version: i16,
    },
    /// OffsetCommit (topics already checked against the topic table).
    Commit(OffsetCommitRequest),
    /// OffsetFetch of one group: `None` topics = all committed.
    FetchOffsets {
        /// Group id.
        group_id: GroupId,
        /// Topics and partitions asked for.
        topics: Option<Vec<(TopicName, Vec<i32>)>>,
    },
    /// ListGroups: every group of the shard.
    List,
    /// DescribeGroups of groups this shard owns.
    Describe(Vec<GroupId>),
    /// DeleteGroups of groups this shard owns.
    Delete(Vec<GroupId>),
}

/// The owner's answer to a [`GroupRequest`].
pub enum GroupResponse {
    /// JoinGroup.
    Join(JoinGroupResponse),
    /// SyncGroup.
    Sync(SyncGroupResponse),
    /// Heartbeat.
    Heartbeat(HeartbeatResponse),
    /// LeaveGroup.
    Leave(LeaveGroupResponse),
    /// OffsetCommit.
    Commit(OffsetCommitResponse),
    /// OffsetFetch, in the v8+ per-group form.
    FetchOffsets(OffsetFetchResponseGroup),
    /// ListGroups entries.
    List(Vec<ListedGroup>),
    /// DescribeGroups entries.
    Describe(Vec<DescribedGroup>),
    /// DeleteGroups entries.
    Delete(Vec<DeletableGroupResult>),
}

/// One shard's groups and offsets.
pub struct Coordinator {
    groups: RefCell<HashMap<String, Group>>,
    /// Committed offsets of the groups this shard owns.
    pub offsets: Rc<OffsetStore>,
    limits: GroupLimits,
}

impl Coordinator {
    /// The coordinator of shard `shard_id`; [`Coordinator::start`] loads it.
    pub fn new(config: &Config, shard_id: usize) -> Self {
        Coordinator {
            groups: RefCell::new(HashMap::new()),
            offsets: OffsetStore::new(&config.log_dirs, shard_id),
            limits: GroupLimits {
                initial_rebalance_delay: Duration::from_millis(
                    config.group_initial_rebalance_delay_ms,
                ),
                min_session_timeout_ms: config.group_min_session_timeout_ms,
                max_session_timeout_ms: config.group_max_session_timeout_ms,
                max_members: GROUP_MEMBERS_MAX,
            },
        }
    }

    /// Replays the offsets log and starts the session timer.
    pub async fn start(ctx: &Rc<ShardContext>) -> Result<(), String> {
        ctx.coordinator
            .offsets
            .load()
            .await
            .map_err(|e| format!("shard {}: offsets log: {e}", ctx.shard_id))?;
        let ctx = ctx.clone();
        glommio::spawn_local(async move {
            let interval = Duration::from_millis(GROUP_TICK_INTERVAL_MS);
            loop {
                let stop = futures_lite::future::or(
                    async {
                        glommio::timer::sleep(interval).await;
                        false
                    },
                    async {
                        ctx.shutting_down.wait().await;
                        true
                    },
                )
                .await;
                if stop {
                    break;
                }
                ctx.coordinator.tick(Instant::now());
            }
            ctx.coordinator.shut_down();
        })
        .detach();
        Ok(())
    }

    fn tick(&self, now: Instant) {
        let mut groups = self.groups.borrow_mut();
        for group in groups.values_mut() {
            group.tick(now);
        }
        // Empty groups are forgotten; their offsets stay in the store.
        groups.retain(|_, group| !group.is_empty() || group.state() != group::GroupState::Empty);
    }

    fn shut_down(&self) {
        for group in self.groups.borrow_mut().values_mut() {
            group.shut_down(group::error_code::COORDINATOR_NOT_AVAILABLE);
        }
    }
}

/// Sends `request` to the shard owning `group_id` and waits for the answer;
/// `Err` carries the error code for the client.
pub async fn call_owner(
    ctx: &Rc<ShardContext>,
    group_id: &str,
    request: GroupRequest,
) -> Result<GroupResponse, i16> {
    let owner = shard_for_group(group_id, ctx.nr_shards);
    call_shard(ctx, owner, request).await
}

/// Sends `request` to `shard` and waits for the answer.
pub async fn call_shard(
    ctx: &Rc<ShardContext>,
    shard: usize,
    request: GroupRequest,
) -> Result<GroupResponse, i16> {
    match ctx
        .router
        .call(ctx, shard, ShardRequest::Group(request))
        .await
    {
        Ok(ShardResponse::Group(response)) => Ok(response),
        _ => Err(group::error_code::COORDINATOR_NOT_AVAILABLE),
    }
}
