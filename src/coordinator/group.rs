//! One consumer group of the classic protocol: members, generations and the
//! rebalance state machine (Empty -> PreparingRebalance -> CompletingRebalance
//! -> Stable). Assignment is client-side: the leader gets every member's
//! metadata in its JoinGroup answer and hands the assignments to SyncGroup;
//! the broker passes the bytes through untouched.
//!
//! Delayed answers (JoinGroup until every member rejoined, SyncGroup until the
//! leader assigned) are single-thread oneshot channels held by the member; the
//! owning shard's timer calls [`Group::tick`] to expire sessions and end
//! rebalances whose time ran out.

use crate::local::oneshot;
use bytes::Bytes;
use indexmap::IndexMap;
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::{GroupId, JoinGroupResponse, SyncGroupResponse};
use kafka_protocol::protocol::StrBytes;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The Kafka error codes the group APIs answer with.
pub use crate::protocol::error_code;

/// Where a group is in its rebalance cycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupState {
    /// No members.
    Empty,
    /// Waiting for members to (re)join.
    PreparingRebalance,
    /// Joined; waiting for the leader's assignment.
    CompletingRebalance,
    /// Assigned; members heartbeat.
    Stable,
}

impl GroupState {
    /// Kafka's name for the state (ListGroups, DescribeGroups).
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
        }
    }
}

/// Limits that apply to every group of a shard.
#[derive(Clone, Copy, Debug)]
pub struct GroupLimits {
    /// Wait for more members before the first rebalance of an empty group.
    pub initial_rebalance_delay: Duration,
    /// Smallest session timeout accepted (0 = no bound).
    pub min_session_timeout_ms: u64,
    /// Largest session timeout accepted (0 = no bound).
    pub max_session_timeout_ms: u64,
    /// Members (joined or pending) per group.
    pub max_members: usize,
    /// Longest metadata of a committed offset (`offset.metadata.max.bytes`).
    pub offset_metadata_max_bytes: usize,
}

/// A JoinGroup as the group sees it.
#[derive(Clone, Debug)]
pub struct JoinParams {
    /// "" for a new member.
    pub member_id: String,
    /// Static membership id.
    pub instance_id: Option<String>,
    /// Client id of the connection.
    pub client_id: String,
    /// Client address of the connection ("/127.0.0.1").
    pub client_host: String,
    /// Session timeout asked for.
    pub session_timeout_ms: u64,
    /// How long a rebalance may wait for this member.
    pub rebalance_timeout_ms: u64,
    /// e.g. "consumer".
    pub protocol_type: String,
    /// (assignor name, metadata) in the member's preference order.
    pub protocols: Vec<(String, Bytes)>,
    /// v4+: a new member must first fetch a member id (MEMBER_ID_REQUIRED).
    pub require_known_member_id: bool,
}

/// Who a SyncGroup or Heartbeat comes from: the member id and, for a static
/// member, its `group.instance.id`.
#[derive(Clone, Copy, Debug)]
pub struct MemberRef<'a> {
    /// The member id the request names.
    pub member_id: &'a str,
    /// The instance id the request names (v3+ requests of static members).
    pub instance_id: Option<&'a str>,
}

impl<'a> MemberRef<'a> {
    /// A dynamic member (no instance id).
    pub fn dynamic(member_id: &'a str) -> Self {
        MemberRef {
            member_id,
            instance_id: None,
        }
    }
}

/// An answer now, or a receiver for one later.
pub enum Reply<T> {
    /// Answer at once.
    Now(T),
    /// Answer when the receiver resolves (`None`: the group went away).
    Later(oneshot::Receiver<T>),
}

struct Member {
    instance_id: Option<String>,
    client_id: String,
    client_host: String,
    session_timeout: Duration,
    rebalance_timeout: Duration,
    protocols: Vec<(String, Bytes)>,
    assignment: Bytes,
    last_seen: Instant,
    join_waiter: Option<oneshot::Sender<JoinGroupResponse>>,
    sync_waiter: Option<oneshot::Sender<SyncGroupResponse>>,
}

impl Member {
    fn supports(&self, protocol: &str) -> bool {
        self.protocols.iter().any(|(name, _)| name == protocol)
    }

    fn metadata_for(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|(name, _)| name == protocol)
            .map(|(_, metadata)| metadata.clone())
            .unwrap_or_default()
    }
}

/// One consumer group.
pub struct Group {
    group_id: String,
    state: GroupState,
    generation: i32,
    protocol_type: Option<String>,
    protocol_name: Option<String>,
    leader: Option<String>,
    members: IndexMap<String, Member>,
    /// Member ids handed out with MEMBER_ID_REQUIRED, until they expire.
    pending: HashMap<String, Instant>,
    rebalance_deadline: Option<Instant>,
    initial_delay_until: Option<Instant>,
}

fn text(value: &str) -> StrBytes {
    StrBytes::from_string(value.to_string())
}

fn join_error(code: i16, member_id: &str) -> JoinGroupResponse {
    JoinGroupResponse::default()
        .with_error_code(code)
        .with_generation_id(-1)
        .with_member_id(text(member_id))
}

fn sync_error(code: i16) -> SyncGroupResponse {
    SyncGroupResponse::default().with_error_code(code)
}

impl Group {
    /// A new, empty group.
    pub fn new(group_id: &str) -> Self {
        Group {
            group_id: group_id.to_string(),
            state: GroupState::Empty,
            generation: 0,
            protocol_type: None,
            protocol_name: None,
            leader: None,
            members: IndexMap::new(),
            pending: HashMap::new(),
            rebalance_deadline: None,
            initial_delay_until: None,
        }
    }

    /// The current state.
    pub fn state(&self) -> GroupState {
        self.state
    }

    /// The current generation.
    pub fn generation(&self) -> i32 {
        self.generation
    }

    /// Whether `member_id` is a member.
    pub fn has_member(&self, member_id: &str) -> bool {
        self.members.contains_key(member_id)
    }

    /// Whether the group has no members (joined or pending).
    pub fn is_empty(&self) -> bool {
        self.members.is_empty() && self.pending.is_empty()
    }

    /// Whether a member of this consumer group subscribes to `topic` (any of
    /// its protocols' metadata names it: the assignor may not be chosen yet).
    pub fn is_subscribed_to(&self, topic: &str) -> bool {
        self.protocol_type() == super::subscription::CONSUMER_PROTOCOL_TYPE
            && self.members.values().any(|member| {
                member
                    .protocols
                    .iter()
                    .any(|(_, metadata)| super::subscription::names_topic(metadata, topic))
            })
    }

    /// The protocol type ("consumer"), once a member joined.
    pub fn protocol_type(&self) -> &str {
        self.protocol_type.as_deref().unwrap_or("")
    }

    fn member_of_instance(&self, instance: &str) -> Option<String> {
        self.members
            .iter()
            .find(|(_, member)| member.instance_id.as_deref() == Some(instance))
            .map(|(id, _)| id.clone())
    }

    /// Kafka's `ClassicGroup.validateMember`: a request naming an instance id
    /// must come from the member that holds it now (UNKNOWN_MEMBER_ID if none
    /// does, FENCED_INSTANCE_ID if another member took it over), and the
    /// member must be in the group.
    fn validate_member(
        &self,
        member_id: &str,
        instance_id: Option<&str>,
        operation: &str,
    ) -> Result<(), i16> {
        if let Some(instance) = instance_id {
            match self.member_of_instance(instance) {
                None => return Err(error_code::UNKNOWN_MEMBER_ID),
                Some(owner) if owner != member_id => {
                    log::info!(
                        "group {}: {operation} from member {member_id} with instance id \
                         {instance} is fenced by member {owner}",
                        self.group_id
                    );
                    return Err(error_code::FENCED_INSTANCE_ID);
                }
                Some(_) => {}
            }
        }
        if self.members.contains_key(member_id) {
            Ok(())
        } else {
            Err(error_code::UNKNOWN_MEMBER_ID)
        }
    }

    /// Kafka's `ClassicGroup.validateOffsetCommit`, as the wire error code:
    /// a commit without generation (-1) is allowed into an empty group
    /// (assign() consumers, admin tools); otherwise the member (and its
    /// instance id) must be current and the generation the group's; commits
    /// wait out the sync phase.
    pub fn offset_commit_error(
        &self,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
    ) -> i16 {
        if generation < 0 && self.state == GroupState::Empty {
            return error_code::NONE;
        }
        if generation >= 0 || !member_id.is_empty() || instance_id.is_some() {
            if let Err(code) = self.validate_member(member_id, instance_id, "offset-commit") {
                return code;
            }
            if generation != self.generation {
                return error_code::ILLEGAL_GENERATION;
            }
        } else if self.state != GroupState::Empty {
            return error_code::UNKNOWN_MEMBER_ID;
        }
        if self.state == GroupState::CompletingRebalance {
            return error_code::REBALANCE_IN_PROGRESS;
        }
        error_code::NONE
    }

    /// Answers every waiting member with `code` and forgets all members
    /// (the group is being deleted or the shard stops).
    pub fn shut_down(&mut self, code: i16) {
        for (id, member) in self.members.iter_mut() {
            if let Some(waiter) = member.join_waiter.take() {
                waiter.send(join_error(code, id));
            }
            if let Some(waiter) = member.sync_waiter.take() {
                waiter.send(sync_error(code));
            }
        }
        self.members.clear();
        self.pending.clear();
        self.become_empty();
    }

    /// The DescribeGroups view of the group.
    pub fn describe(&self) -> DescribedGroup {
        let stable = self.state == GroupState::Stable;
        let protocol = self.protocol_name.clone().unwrap_or_default();
        let members = self
            .members
            .iter()
            .map(|(id, member)| {
                DescribedGroupMember::default()
                    .with_member_id(text(id))
                    .with_group_instance_id(member.instance_id.as_deref().map(text))
                    .with_client_id(text(&member.client_id))
                    .with_client_host(text(&member.client_host))
                    .with_member_metadata(member.metadata_for(&protocol))
                    .with_member_assignment(if stable {
                        member.assignment.clone()
                    } else {
                        Bytes::new()
                    })
            })
            .collect();
        DescribedGroup::default()
            .with_group_id(GroupId(text(&self.group_id)))
            .with_group_state(text(self.state.name()))
            .with_protocol_type(text(self.protocol_type()))
            .with_protocol_data(text(&protocol))
            .with_members(members)
    }
}

mod join;
mod members;
#[cfg(test)]
mod tests;
