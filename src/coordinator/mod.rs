//! The consumer group coordinator, thread-per-core: each group is owned by
//! one shard, the owner of the group's offsets partition
//! (`shard::placement::shard_for_group`), which alone holds the group's
//! state and its committed offsets. Handlers on any shard route group
//! requests to the owner as a [`GroupRequest`] (through the shard layer) and
//! get a [`GroupResponse`] back (kafka-protocol structs, encoded at the
//! connection).
//!
//! - [`group`]: the classic-protocol state machine of one group.
//! - [`offsets`]: the durable offsets partitions.
//! - [`ops`]: the owner-side handling of each request.

pub mod group;
pub mod offsets;
pub mod ops;
pub mod subscription;

use crate::config::Config;
use crate::local::notify::LocalEvent;
use crate::metadata::control_plane::TopicView;
use crate::partition::ShardPartitions;
use group::{Group, GroupLimits, JoinParams, Reply};
use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::describe_groups_response::DescribedGroup;
use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::offset_fetch_response::OffsetFetchResponseGroup;
use kafka_protocol::messages::{
    GroupId, HeartbeatRequest, HeartbeatResponse, JoinGroupRequest, JoinGroupResponse,
    LeaveGroupRequest, LeaveGroupResponse, OffsetCommitRequest, OffsetCommitResponse,
    OffsetDeleteRequest, OffsetDeleteResponse, SyncGroupRequest, SyncGroupResponse, TopicName,
};
use offsets::partitions::ShardOffsets;
use offsets::OffsetStoreError;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Members (joined or pending) per group (a config bound: `group.max.size`
/// is refused above it).
pub use crate::config::GROUP_MEMBERS_MAX;
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
        /// The connection's client address, as DescribeGroups shows it.
        client_host: String,
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
    /// OffsetDelete of one group.
    DeleteOffsets(OffsetDeleteRequest),
    /// DeleteTopics of the offsets topic on a single node, whose offsets
    /// partitions are local files: every group of the shard and every
    /// committed offset goes ([`Coordinator::drop_offsets_topic`]).
    DropOffsetsTopic,
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
    /// OffsetDelete.
    DeleteOffsets(OffsetDeleteResponse),
    /// The offsets topic's commits were deleted (how many), or why not.
    OffsetsTopicDropped(Result<usize, String>),
    /// Not served here now: NOT_COORDINATOR (this broker does not lead the
    /// group's offsets partition) or COORDINATOR_LOAD_IN_PROGRESS.
    Refused(i16),
}

impl GroupRequest {
    /// The one group a keyed request is for (`None`: ListGroups).
    pub fn group_id(&self) -> Option<&str> {
        match self {
            GroupRequest::Join { request, .. } => Some(request.group_id.as_str()),
            GroupRequest::Sync(request) => Some(request.group_id.as_str()),
            GroupRequest::Heartbeat(request) => Some(request.group_id.as_str()),
            GroupRequest::Leave { request, .. } => Some(request.group_id.as_str()),
            GroupRequest::Commit(request) => Some(request.group_id.as_str()),
            GroupRequest::FetchOffsets { group_id, .. } => Some(group_id.as_str()),
            GroupRequest::List | GroupRequest::DropOffsetsTopic => None,
            GroupRequest::Describe(ids) | GroupRequest::Delete(ids) => {
                ids.first().map(|id| id.as_str())
            }
            GroupRequest::DeleteOffsets(request) => Some(request.group_id.as_str()),
        }
    }
}

/// One shard's groups and offsets.
pub struct Coordinator {
    shard_id: usize,
    groups: RefCell<HashMap<String, Group>>,
    /// The shard's topic table (commits to unknown partitions are refused).
    topics: TopicView,
    /// Committed offsets of the groups this shard owns (its offsets partitions).
    pub offsets: ShardOffsets,
    limits: GroupLimits,
    /// `offsets.retention.minutes`, in ms.
    offsets_retention_ms: u64,
    /// `offsets.retention.check.interval.ms`.
    offsets_retention_check_interval_ms: u64,
}

impl Coordinator {
    /// The coordinator of shard `shard_id`, owner of the offsets partitions
    /// `offsets_partitions` (of `config.offsets_topic_num_partitions`),
    /// checking commits against `topics`; [`Coordinator::start`] loads it.
    pub fn new(
        config: &Config,
        shard_id: usize,
        topics: TopicView,
        offsets_partitions: &[i32],
    ) -> Self {
        Coordinator {
            shard_id,
            groups: RefCell::new(HashMap::new()),
            topics,
            offsets: ShardOffsets::new(
                &config.log_dirs,
                config.offsets_topic_num_partitions,
                offsets_partitions,
            ),
            limits: GroupLimits {
                initial_rebalance_delay: Duration::from_millis(
                    config.group_initial_rebalance_delay_ms,
                ),
                min_session_timeout_ms: config.group_min_session_timeout_ms,
                max_session_timeout_ms: config.group_max_session_timeout_ms,
                max_members: config.group_max_size.min(GROUP_MEMBERS_MAX),
                // The offsets record keeps metadata as an i16-length string.
                offset_metadata_max_bytes: config
                    .offset_metadata_max_bytes
                    .min(offsets::record::RECORD_STRING_BYTES_MAX),
            },
            offsets_retention_ms: config.offsets_retention_ms,
            offsets_retention_check_interval_ms: config.offsets_retention_check_interval_ms,
        }
    }

    /// The coordinator of a cluster member's shard: its offsets partitions
    /// are those of the replicated `__consumer_offsets`, served while this
    /// broker leads them ([`Coordinator::adopt_leadership`]).
    pub fn in_cluster(mut self) -> Self {
        self.offsets =
            ShardOffsets::new_replicated(self.offsets.partition_count(), &self.offsets.owned());
        self
    }

    /// Follows the partition count of a cluster's `__consumer_offsets` as
    /// created (`owned`: this shard's partitions of it): when it changes the
    /// count in effect, every store is dropped with its groups, whose members
    /// get NOT_COORDINATOR and find their group's new coordinator.
    pub fn follow_partition_count(&self, partitions: usize, owned: Vec<i32>) {
        let before = self.offsets.partition_count();
        if !self.offsets.follow_partition_count(partitions, owned) {
            return;
        }
        log::info!(
            "shard {}: {} has {partitions} partition(s), not {before}: groups follow it",
            self.shard_id,
            offsets::partitions::OFFSETS_TOPIC
        );
        for (_, mut group) in self.groups.borrow_mut().drain() {
            group.shut_down(group::error_code::NOT_COORDINATOR);
        }
    }

    /// Makes `led` (offsets partition -> leader epoch, of those this shard
    /// owns and this broker leads) the partitions this shard coordinates: a
    /// newly led one (or one led at a new epoch) is loaded from its log in
    /// the background, answering COORDINATOR_LOAD_IN_PROGRESS meanwhile; one
    /// no longer led is dropped with its groups, whose members get
    /// NOT_COORDINATOR and rejoin at the new leader (membership is kept in
    /// memory only; the commits are in the replicated log).
    pub fn adopt_leadership(&self, led: &BTreeMap<i32, i32>, partitions: &Rc<ShardPartitions>) {
        let count = self.offsets.partition_count();
        for index in self.offsets.owned() {
            let moved = match led.get(&index) {
                Some(&leader_epoch) => self.offsets.lead(partitions, index, leader_epoch),
                None => self.offsets.resign(index),
            };
            if !moved {
                continue;
            }
            log::info!(
                "shard {}: offsets partition {index}: {}",
                self.shard_id,
                match led.get(&index) {
                    Some(epoch) => format!("leader at epoch {epoch}, loading"),
                    None => "no longer led here, its groups unloaded".to_string(),
                }
            );
            // A store replaced or dropped: its groups' members rejoin.
            self.groups.borrow_mut().retain(|id, group| {
                if offsets::partitions::partition_for_group(id, count) != index {
                    return true;
                }
                group.shut_down(group::error_code::NOT_COORDINATOR);
                false
            });
        }
    }

    /// Whether a request for `group` is served here now (see
    /// [`ShardOffsets::availability`]).
    pub fn availability(&self, group: &str) -> Result<(), i16> {
        self.offsets.availability(group)
    }

    /// Replays the offsets log, drops offsets of topics deleted while the
    /// broker was down (or before their deletion records were written), and
    /// starts the session timer and the offsets retention task (both end
    /// when `shutting_down` fires).
    pub async fn start(self: &Rc<Self>, shutting_down: &LocalEvent) -> Result<(), String> {
        let shard_id = self.shard_id;
        self.offsets
            .load()
            .await
            .map_err(|e| format!("shard {shard_id}: offsets partitions: {e}"))?;
        let table = self.topics.current();
        let orphans = self
            .offsets
            .deletions_for_topics(|topic| table.get(topic).is_none());
        self.offsets
            .write(orphans)
            .await
            .map_err(|e| format!("shard {shard_id}: offsets of deleted topics: {e}"))?;
        let (coordinator, shutdown) = (self.clone(), shutting_down.clone());
        glommio::spawn_local(async move {
            let interval = Duration::from_millis(GROUP_TICK_INTERVAL_MS);
            while !shutdown.fired_within(interval).await {
                coordinator.tick(Instant::now());
            }
            coordinator.shut_down();
        })
        .detach();
        let (coordinator, shutdown) = (self.clone(), shutting_down.clone());
        glommio::spawn_local(async move {
            let interval = Duration::from_millis(coordinator.offsets_retention_check_interval_ms);
            while !shutdown.fired_within(interval).await {
                if let Err(e) = coordinator.expire_offsets(offsets::now_ms()).await {
                    log::warn!("shard {shard_id}: offsets retention: {e}");
                }
            }
        })
        .detach();
        Ok(())
    }

    /// Serves a group request on this shard, which owns the group.
    pub async fn serve(&self, request: GroupRequest) -> GroupResponse {
        if let Some(Err(code)) = request.group_id().map(|id| self.availability(id)) {
            return GroupResponse::Refused(code);
        }
        ops::serve(self, request).await
    }

    /// JoinGroup on the owning shard (the group is created if new); `Err`
    /// is the error code for the client.
    ///
    /// The answer goes out only once every offset commit queued before it is
    /// durable and visible. In Kafka a rebalance's records follow the
    /// commits accepted before it in the offsets log, and its JoinGroup
    /// answers wait until they are committed; so a member of the new
    /// generation, or a static member taking over an instance, reads what
    /// the group's previous members committed, and a zombie's last commit
    /// cannot land behind the new owner's back.
    pub async fn join(&self, group_id: &str, params: JoinParams) -> Result<JoinGroupResponse, i16> {
        let reply = {
            let mut groups = self.groups.borrow_mut();
            if !groups.contains_key(group_id) && groups.len() >= GROUPS_PER_SHARD_MAX {
                return Err(group::error_code::COORDINATOR_NOT_AVAILABLE);
            }
            let group = groups
                .entry(group_id.to_string())
                .or_insert_with(|| Group::new(group_id));
            group.join(params, Instant::now(), &self.limits)
        };
        let answer = match reply {
            Reply::Now(answer) => answer,
            Reply::Later(rx) => rx
                .await
                .ok_or(group::error_code::COORDINATOR_NOT_AVAILABLE)?,
        };
        self.offsets.settled(group_id).await;
        Ok(answer)
    }

    /// Durably deletes every committed offset of `topics` (deleted topics).
    pub async fn forget_topics(&self, topics: &[String]) -> Result<(), OffsetStoreError> {
        let deletions = self
            .offsets
            .deletions_for_topics(|topic| topics.iter().any(|t| t == topic));
        if !deletions.is_empty() {
            log::info!(
                "{} committed offset(s) of deleted topic(s) {topics:?} removed",
                deletions.len()
            );
        }
        self.offsets.write(deletions).await
    }

    /// What Kafka loses with its deleted `__consumer_offsets`, on this
    /// shard: every group is unloaded (its members get NOT_COORDINATOR and
    /// join again, as a new group), then every committed offset is durably
    /// deleted, those of commits accepted before included. Returns how many
    /// offsets went.
    pub async fn drop_offsets_topic(&self) -> Result<usize, OffsetStoreError> {
        for (_, mut group) in self.groups.borrow_mut().drain() {
            group.shut_down(group::error_code::NOT_COORDINATOR);
        }
        self.offsets.settled_all().await;
        let deletions = self.offsets.deletions_for_topics(|_| true);
        let count = deletions.len();
        self.offsets.write(deletions).await?;
        Ok(count)
    }

    /// Durably deletes the offsets of groups without members whose last
    /// commit is older than `offsets.retention.minutes`; returns how many.
    pub async fn expire_offsets(&self, now_ms: i64) -> Result<usize, OffsetStoreError> {
        let retention_ms = i64::try_from(self.offsets_retention_ms).unwrap_or(i64::MAX);
        let deletions = {
            let groups = self.groups.borrow();
            self.offsets.expired_deletions(now_ms, retention_ms, |id| {
                groups.get(id).is_some_and(is_active)
            })
        };
        let count = deletions.len();
        if count > 0 {
            log::info!("{count} committed offset(s) of empty groups expired");
        }
        self.offsets.write(deletions).await?;
        self.forget_empty_groups_without_offsets();
        Ok(count)
    }

    /// Kafka's offsets cleanup: a group with neither members nor committed offsets is deleted.
    /// Until then an emptied group stays Empty (described so, deletable by DeleteGroups, and
    /// its generation goes on), as in Kafka; a group with offsets stays until they expire.
    fn forget_empty_groups_without_offsets(&self) {
        self.groups
            .borrow_mut()
            .retain(|id, group| is_active(group) || self.offsets.has_group(id));
    }

    fn tick(&self, now: Instant) {
        for group in self.groups.borrow_mut().values_mut() {
            group.tick(now);
        }
    }

    fn shut_down(&self) {
        for group in self.groups.borrow_mut().values_mut() {
            group.shut_down(group::error_code::COORDINATOR_NOT_AVAILABLE);
        }
    }
}

/// Whether `group` has members or is mid-rebalance (not Empty).
pub(crate) fn is_active(group: &Group) -> bool {
    !group.is_empty() || group.state() != group::GroupState::Empty
}

#[cfg(test)]
mod tests {
    use super::offsets::{CommittedOffset, OffsetChange};
    use super::*;
    use crate::metadata::topic_table::TopicTable;

    const RETENTION_MS: u64 = 60_000;
    const NOW_MS: i64 = 10_000_000;

    fn commit(group: &str, topic: &str, commit_time_ms: i64) -> OffsetChange {
        OffsetChange {
            group: group.into(),
            topic: topic.into(),
            partition: 0,
            committed: Some(CommittedOffset {
                offset: 7,
                leader_epoch: -1,
                metadata: String::new(),
                commit_time_ms,
            }),
        }
    }

    fn coordinator(log_dir: &std::path::Path) -> Coordinator {
        let config = Config {
            log_dirs: log_dir.to_path_buf(),
            offsets_retention_ms: RETENTION_MS,
            ..Config::default()
        };
        let topics = TopicView::new(std::sync::Arc::new(TopicTable::default()));
        Coordinator::new(&config, 0, topics, &every_partition(&config))
    }

    /// The offsets partitions of `config`, all owned by the one test shard.
    fn every_partition(config: &Config) -> Vec<i32> {
        (0..config.offsets_topic_num_partitions.max(1) as i32).collect()
    }

    /// The offsets of the test coordinator's data dir, loaded afresh.
    fn coordinator_offsets(log_dir: &std::path::Path) -> ShardOffsets {
        let config = Config::default();
        ShardOffsets::new(
            log_dir,
            config.offsets_topic_num_partitions,
            &every_partition(&config),
        )
    }

    fn run(future: impl std::future::Future<Output = ()> + 'static) {
        glommio::LocalExecutorBuilder::default()
            .io_memory(1 << 20)
            .make()
            .unwrap()
            .run(future);
    }

    fn join(coordinator: &Coordinator, group_id: &str) {
        let mut group = Group::new(group_id);
        let params = dynamic_member("");
        let limits = GroupLimits {
            initial_rebalance_delay: Duration::ZERO,
            ..coordinator.limits
        };
        let _ = group.join(params, Instant::now(), &limits);
        assert!(is_active(&group));
        coordinator
            .groups
            .borrow_mut()
            .insert(group_id.to_string(), group);
    }

    #[test]
    fn empty_groups_past_retention_lose_their_offsets_durably() {
        let dir = std::env::temp_dir().join(format!("millrace-coord-{}", uuid::Uuid::new_v4()));
        let log_dir = dir.clone();
        run(async move {
            let coordinator = coordinator(&log_dir);
            coordinator.offsets.load().await.unwrap();
            let stale = NOW_MS - RETENTION_MS as i64;
            let changes = vec![
                commit("idle", "t", stale),
                commit("busy", "t", stale),
                commit("fresh", "t", NOW_MS - 1),
            ];
            coordinator.offsets.write(changes).await.unwrap();
            join(&coordinator, "busy");
            assert_eq!(coordinator.expire_offsets(NOW_MS).await.unwrap(), 1);
            let reloaded = coordinator_offsets(&log_dir);
            reloaded.load().await.unwrap();
            let mut groups = reloaded.groups();
            groups.sort();
            assert_eq!(groups, vec!["busy".to_string(), "fresh".to_string()]);
        });
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn group_limits_follow_the_broker_keys_within_the_coordinators_bounds() {
        let limits = |group_max_size, offset_metadata_max_bytes| {
            let config = Config {
                log_dirs: std::env::temp_dir().join("millrace-coord-limits-unused"),
                group_max_size,
                offset_metadata_max_bytes,
                ..Config::default()
            };
            let topics = TopicView::new(std::sync::Arc::new(TopicTable::default()));
            let coordinator = Coordinator::new(&config, 0, topics, &[]);
            let limits = coordinator.limits;
            (limits.max_members, limits.offset_metadata_max_bytes)
        };
        assert_eq!(limits(5, 10), (5, 10));
        let defaults = Config::default();
        assert_eq!(
            limits(defaults.group_max_size, defaults.offset_metadata_max_bytes),
            (GROUP_MEMBERS_MAX, offsets::METADATA_BYTES_MAX)
        );
        let record_max = offsets::record::RECORD_STRING_BYTES_MAX;
        assert_eq!(
            limits(usize::MAX, usize::MAX),
            (GROUP_MEMBERS_MAX, record_max)
        );
    }

    fn dynamic_member(member_id: &str) -> group::JoinParams {
        group::JoinParams {
            member_id: member_id.into(),
            instance_id: None,
            client_id: "c".into(),
            client_host: "/127.0.0.1".into(),
            session_timeout_ms: 10_000,
            rebalance_timeout_ms: 10_000,
            protocol_type: "consumer".into(),
            protocols: vec![("range".into(), bytes::Bytes::new())],
            require_known_member_id: false,
        }
    }

    /// A commit the group accepted before a rebalance is durable and visible
    /// when a member of the new generation gets its JoinGroup answer, as in
    /// Kafka; before, the answer could overtake the commit's write, and the
    /// new member read the old offset while the zombie's commit landed later.
    #[test]
    fn a_rebalance_is_answered_after_the_commits_accepted_before_it() {
        let dir = std::env::temp_dir().join(format!("millrace-coord-{}", uuid::Uuid::new_v4()));
        let log_dir = dir.clone();
        run(async move {
            let config = Config {
                log_dirs: log_dir.clone(),
                group_initial_rebalance_delay_ms: 0,
                ..Config::default()
            };
            let topics = TopicView::new(std::sync::Arc::new(TopicTable::default()));
            let coordinator = Coordinator::new(&config, 0, topics, &every_partition(&config));
            coordinator.offsets.load().await.unwrap();
            let old = coordinator.join("g", dynamic_member("")).await.unwrap();
            let old_id = old.member_id.to_string();
            let now = Instant::now();
            let sync = coordinator.groups.borrow_mut().get_mut("g").unwrap().sync(
                group::MemberRef::dynamic(&old_id),
                old.generation_id,
                vec![],
                now,
            );
            let synced = match sync {
                Reply::Now(answer) => answer,
                Reply::Later(rx) => rx.await.unwrap(),
            };
            assert_eq!(synced.error_code, 0);

            // The old member commits: checked, then queued (what ops::commit does).
            let verdict = coordinator.groups.borrow()["g"].offset_commit_error(&old_id, None, 1);
            assert_eq!(verdict, 0);
            let mut write = Box::pin(coordinator.offsets.write(vec![commit("g", "t", NOW_MS)]));
            assert!(futures_lite::future::poll_once(&mut write).await.is_none());

            // Before the write completes it leaves and a new member joins.
            let left = coordinator
                .groups
                .borrow_mut()
                .get_mut("g")
                .unwrap()
                .leave(&old_id, None, now);
            assert_eq!(left, 0);
            let new = coordinator.join("g", dynamic_member("")).await.unwrap();
            assert_eq!(new.generation_id, 3);
            assert!(
                coordinator.offsets.get("g", "t", 0).is_some(),
                "the new generation was answered before the old member's accepted commit landed"
            );
            write.await.unwrap();
        });
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn emptied_groups_stay_until_the_offsets_cleanup_finds_them_without_offsets() {
        let dir = std::env::temp_dir().join(format!("millrace-coord-{}", uuid::Uuid::new_v4()));
        let log_dir = dir.clone();
        run(async move {
            let coordinator = coordinator(&log_dir);
            coordinator.offsets.load().await.unwrap();
            for empty in ["bare", "committed"] {
                coordinator
                    .groups
                    .borrow_mut()
                    .insert(empty.to_string(), Group::new(empty));
            }
            join(&coordinator, "busy");
            let changes = vec![commit("committed", "t", NOW_MS)];
            coordinator.offsets.write(changes).await.unwrap();
            let known = |c: &Coordinator| {
                let mut ids: Vec<String> = c.groups.borrow().keys().cloned().collect();
                ids.sort();
                ids
            };
            coordinator.tick(Instant::now());
            assert_eq!(known(&coordinator), ["bare", "busy", "committed"]);
            coordinator.expire_offsets(NOW_MS).await.unwrap();
            assert_eq!(known(&coordinator), ["busy", "committed"]);
        });
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn offsets_of_deleted_topics_are_removed_durably() {
        let dir = std::env::temp_dir().join(format!("millrace-coord-{}", uuid::Uuid::new_v4()));
        let log_dir = dir.clone();
        run(async move {
            let coordinator = coordinator(&log_dir);
            coordinator.offsets.load().await.unwrap();
            let changes = vec![
                commit("g1", "gone", NOW_MS),
                commit("g2", "gone", NOW_MS),
                commit("g2", "kept", NOW_MS),
            ];
            coordinator.offsets.write(changes).await.unwrap();
            coordinator.forget_topics(&["gone".into()]).await.unwrap();
            let reloaded = coordinator_offsets(&log_dir);
            reloaded.load().await.unwrap();
            assert_eq!(reloaded.groups(), vec!["g2".to_string()]);
            assert!(reloaded.get("g2", "kept", 0).is_some());
            assert!(reloaded.get("g2", "gone", 0).is_none());
        });
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
