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
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
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

    /// Handles a JoinGroup.
    pub fn join(
        &mut self,
        params: JoinParams,
        now: Instant,
        limits: &GroupLimits,
    ) -> Reply<JoinGroupResponse> {
        let session = params.session_timeout_ms;
        if (limits.min_session_timeout_ms > 0 && session < limits.min_session_timeout_ms)
            || (limits.max_session_timeout_ms > 0 && session > limits.max_session_timeout_ms)
        {
            return Reply::Now(join_error(
                error_code::INVALID_SESSION_TIMEOUT,
                &params.member_id,
            ));
        }
        if !self.accepts_protocols(&params) {
            return Reply::Now(join_error(
                error_code::INCONSISTENT_GROUP_PROTOCOL,
                &params.member_id,
            ));
        }
        if params.member_id.is_empty() {
            return self.join_new_member(params, now, limits);
        }
        let member_id = params.member_id.clone();
        // A pending member (never static) is accepted; any other must be
        // the member its instance id names.
        if self.pending.remove(&member_id).is_none() {
            let instance = params.instance_id.as_deref();
            if let Err(code) = self.validate_member(&member_id, instance, "join-group") {
                return Reply::Now(join_error(code, &member_id));
            }
        }
        if let Some(answer) = self.rejoin_without_rebalance(&params, now) {
            return Reply::Now(answer);
        }
        self.add_and_wait(member_id, params, now, limits)
    }

    fn accepts_protocols(&self, params: &JoinParams) -> bool {
        if params.protocols.is_empty() || params.protocol_type.is_empty() {
            return false;
        }
        if self.members.is_empty() {
            return true;
        }
        if self.protocol_type.as_deref() != Some(params.protocol_type.as_str()) {
            return false;
        }
        params.protocols.iter().any(|(name, _)| {
            self.members
                .iter()
                .filter(|(id, _)| **id != params.member_id)
                .all(|(_, member)| member.supports(name))
        })
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

    fn join_new_member(
        &mut self,
        params: JoinParams,
        now: Instant,
        limits: &GroupLimits,
    ) -> Reply<JoinGroupResponse> {
        let replaced = params
            .instance_id
            .as_deref()
            .and_then(|instance| self.member_of_instance(instance));
        if replaced.is_none() && self.members.len() + self.pending.len() >= limits.max_members {
            return Reply::Now(join_error(error_code::GROUP_MAX_SIZE_REACHED, ""));
        }
        let member_id = format!("{}-{}", params.client_id, uuid::Uuid::new_v4());
        if let Some(old) = replaced {
            if let Some(answer) = self.replace_static_member(&old, &member_id, &params, now) {
                return Reply::Now(answer);
            }
            // Static membership: the new instance fences the old one.
            self.fence_member(&old);
        } else if params.require_known_member_id && params.instance_id.is_none() {
            self.pending.insert(
                member_id.clone(),
                now + Duration::from_millis(params.session_timeout_ms),
            );
            return Reply::Now(join_error(error_code::MEMBER_ID_REQUIRED, &member_id));
        }
        self.add_and_wait(member_id, params, now, limits)
    }

    /// KIP-345, as Kafka: a static member restarting (new member id, same
    /// instance id) into a Stable group whose protocol it still supports
    /// takes over its old id's assignment without a rebalance. The answer
    /// names the leader as it was, so the rejoiner never assigns; it syncs
    /// and gets its assignment back. `None`: a rebalance is needed.
    fn replace_static_member(
        &mut self,
        old_id: &str,
        new_id: &str,
        params: &JoinParams,
        now: Instant,
    ) -> Option<JoinGroupResponse> {
        let protocol = self.protocol_name.as_deref()?;
        let keeps_protocol = params.protocols.iter().any(|(name, _)| name == protocol);
        if self.state != GroupState::Stable || !keeps_protocol {
            return None;
        }
        let mut member = self.members.shift_remove(old_id)?;
        member.client_id = params.client_id.clone();
        member.client_host = params.client_host.clone();
        member.session_timeout = Duration::from_millis(params.session_timeout_ms);
        member.rebalance_timeout = Duration::from_millis(params.rebalance_timeout_ms);
        member.protocols = params.protocols.clone();
        member.last_seen = now;
        self.members.insert(new_id.to_string(), member);
        let leader_before = self.leader.clone().unwrap_or_default();
        if leader_before == old_id {
            self.leader = Some(new_id.to_string());
        }
        Some(
            self.join_answer(new_id)
                .with_leader(text(&leader_before))
                .with_members(Vec::new()),
        )
    }

    fn fence_member(&mut self, member_id: &str) {
        if let Some(mut old) = self.members.shift_remove(member_id) {
            if let Some(waiter) = old.join_waiter.take() {
                waiter.send(join_error(error_code::FENCED_INSTANCE_ID, member_id));
            }
            if let Some(waiter) = old.sync_waiter.take() {
                waiter.send(sync_error(error_code::FENCED_INSTANCE_ID));
            }
            if self.leader.as_deref() == Some(member_id) {
                self.leader = None;
            }
        }
    }

    /// A known member rejoining with unchanged protocols while the group is
    /// settled gets the current generation back; anything else rebalances.
    fn rejoin_without_rebalance(
        &mut self,
        params: &JoinParams,
        now: Instant,
    ) -> Option<JoinGroupResponse> {
        let member = self.members.get_mut(&params.member_id)?;
        let settled = matches!(
            self.state,
            GroupState::Stable | GroupState::CompletingRebalance
        );
        let is_leader = self.leader.as_deref() == Some(params.member_id.as_str());
        if !settled
            || member.protocols != params.protocols
            || (is_leader && self.state == GroupState::Stable)
        {
            return None;
        }
        member.last_seen = now;
        Some(self.join_answer(&params.member_id))
    }

    fn add_and_wait(
        &mut self,
        member_id: String,
        params: JoinParams,
        now: Instant,
        limits: &GroupLimits,
    ) -> Reply<JoinGroupResponse> {
        let (tx, rx) = oneshot::channel();
        let member = self
            .members
            .entry(member_id.clone())
            .or_insert_with(|| Member {
                instance_id: None,
                client_id: String::new(),
                client_host: String::new(),
                session_timeout: Duration::ZERO,
                rebalance_timeout: Duration::ZERO,
                protocols: Vec::new(),
                assignment: Bytes::new(),
                last_seen: now,
                join_waiter: None,
                sync_waiter: None,
            });
        member.instance_id = params.instance_id;
        member.client_id = params.client_id;
        member.client_host = params.client_host;
        member.session_timeout = Duration::from_millis(params.session_timeout_ms);
        member.rebalance_timeout = Duration::from_millis(params.rebalance_timeout_ms);
        member.protocols = params.protocols;
        member.last_seen = now;
        if let Some(previous) = member.join_waiter.replace(tx) {
            previous.send(join_error(error_code::REBALANCE_IN_PROGRESS, &member_id));
        }
        // As Kafka: the first member of an empty group sets the protocol type.
        if self.members.len() == 1 || self.protocol_type.is_none() {
            self.protocol_type = Some(params.protocol_type);
        }
        if self.state != GroupState::PreparingRebalance {
            let delay = if self.state == GroupState::Empty {
                limits.initial_rebalance_delay
            } else {
                Duration::ZERO
            };
            self.prepare_rebalance(now, delay);
        }
        self.maybe_complete_join(now);
        Reply::Later(rx)
    }

    /// Starts a rebalance: members must rejoin. `initial_delay` (for a group
    /// forming from empty) waits for more members before answering.
    fn prepare_rebalance(&mut self, now: Instant, initial_delay: Duration) {
        for member in self.members.values_mut() {
            if let Some(waiter) = member.sync_waiter.take() {
                waiter.send(sync_error(error_code::REBALANCE_IN_PROGRESS));
            }
        }
        let longest = self
            .members
            .values()
            .map(|member| member.rebalance_timeout)
            .max()
            .unwrap_or(Duration::ZERO);
        self.initial_delay_until = (!initial_delay.is_zero()).then(|| now + initial_delay);
        self.rebalance_deadline = Some(now + longest.max(initial_delay));
        self.state = GroupState::PreparingRebalance;
    }

    fn all_joined(&self) -> bool {
        self.pending.is_empty()
            && self
                .members
                .values()
                .all(|member| member.join_waiter.is_some())
    }

    fn maybe_complete_join(&mut self, now: Instant) {
        if self.state != GroupState::PreparingRebalance || !self.all_joined() {
            return;
        }
        if self.initial_delay_until.is_some_and(|until| now < until) {
            return;
        }
        self.complete_join();
    }

    /// Ends the join phase: members that did not rejoin leave, a protocol is
    /// chosen, the generation advances and every waiting member is answered.
    fn complete_join(&mut self) {
        self.members
            .retain(|_, member| member.join_waiter.is_some());
        self.rebalance_deadline = None;
        self.initial_delay_until = None;
        self.generation += 1;
        if self.members.is_empty() {
            self.become_empty();
            return;
        }
        let leader = match &self.leader {
            Some(leader) if self.members.contains_key(leader) => leader.clone(),
            _ => self.members.keys().next().cloned().unwrap_or_default(),
        };
        self.leader = Some(leader.clone());
        self.protocol_name = self.select_protocol(&leader);
        self.state = GroupState::CompletingRebalance;
        let ids: Vec<String> = self.members.keys().cloned().collect();
        for id in ids {
            let answer = self.join_answer(&id);
            if let Some(waiter) = self.members.get_mut(&id).and_then(|m| m.join_waiter.take()) {
                waiter.send(answer);
            }
        }
    }

    /// The protocol type stays, as in Kafka: ListGroups and DescribeGroups
    /// still show an emptied consumer group as "consumer".
    fn become_empty(&mut self) {
        self.state = GroupState::Empty;
        self.leader = None;
        self.protocol_name = None;
    }

    /// The leader's first protocol that every member supports.
    fn select_protocol(&self, leader: &str) -> Option<String> {
        let leader = self.members.get(leader)?;
        leader
            .protocols
            .iter()
            .map(|(name, _)| name)
            .find(|name| self.members.values().all(|member| member.supports(name)))
            .cloned()
    }

    fn join_answer(&self, member_id: &str) -> JoinGroupResponse {
        let protocol = self.protocol_name.clone().unwrap_or_default();
        let leader = self.leader.clone().unwrap_or_default();
        let members = if leader == member_id {
            self.members
                .iter()
                .map(|(id, member)| {
                    JoinGroupResponseMember::default()
                        .with_member_id(text(id))
                        .with_group_instance_id(member.instance_id.as_deref().map(text))
                        .with_metadata(member.metadata_for(&protocol))
                })
                .collect()
        } else {
            Vec::new()
        };
        JoinGroupResponse::default()
            .with_generation_id(self.generation)
            .with_protocol_type(self.protocol_type.as_deref().map(text))
            .with_protocol_name(Some(text(&protocol)))
            .with_leader(text(&leader))
            .with_member_id(text(member_id))
            .with_members(members)
    }

    /// Handles a SyncGroup; the leader's call carries the assignments.
    pub fn sync(
        &mut self,
        member: MemberRef<'_>,
        generation: i32,
        assignments: Vec<(String, Bytes)>,
        now: Instant,
    ) -> Reply<SyncGroupResponse> {
        let member_id = member.member_id;
        if let Err(code) = self.validate_member(member_id, member.instance_id, "sync-group") {
            return Reply::Now(sync_error(code));
        }
        let Some(member) = self.members.get_mut(member_id) else {
            return Reply::Now(sync_error(error_code::UNKNOWN_MEMBER_ID));
        };
        member.last_seen = now;
        if generation != self.generation {
            return Reply::Now(sync_error(error_code::ILLEGAL_GENERATION));
        }
        match self.state {
            GroupState::Empty => Reply::Now(sync_error(error_code::UNKNOWN_MEMBER_ID)),
            GroupState::PreparingRebalance => {
                Reply::Now(sync_error(error_code::REBALANCE_IN_PROGRESS))
            }
            GroupState::Stable => Reply::Now(self.sync_answer(member_id)),
            GroupState::CompletingRebalance => {
                let (tx, rx) = oneshot::channel();
                member.sync_waiter = Some(tx);
                if self.leader.as_deref() == Some(member_id) {
                    self.apply_assignments(assignments);
                }
                Reply::Later(rx)
            }
        }
    }

    fn apply_assignments(&mut self, assignments: Vec<(String, Bytes)>) {
        let mut by_member: HashMap<String, Bytes> = assignments.into_iter().collect();
        for (id, member) in self.members.iter_mut() {
            member.assignment = by_member.remove(id).unwrap_or_default();
        }
        self.state = GroupState::Stable;
        let ids: Vec<String> = self.members.keys().cloned().collect();
        for id in ids {
            let answer = self.sync_answer(&id);
            if let Some(waiter) = self.members.get_mut(&id).and_then(|m| m.sync_waiter.take()) {
                waiter.send(answer);
            }
        }
    }

    fn sync_answer(&self, member_id: &str) -> SyncGroupResponse {
        let assignment = self
            .members
            .get(member_id)
            .map(|member| member.assignment.clone())
            .unwrap_or_default();
        SyncGroupResponse::default()
            .with_protocol_type(self.protocol_type.as_deref().map(text))
            .with_protocol_name(self.protocol_name.as_deref().map(text))
            .with_assignment(assignment)
    }

    /// Handles a Heartbeat; returns the error code. As in Kafka, only a
    /// heartbeat of the current member and generation extends the session.
    pub fn heartbeat(&mut self, member: MemberRef<'_>, generation: i32, now: Instant) -> i16 {
        let member_id = member.member_id;
        if let Err(code) = self.validate_member(member_id, member.instance_id, "heartbeat") {
            return code;
        }
        if generation != self.generation {
            return error_code::ILLEGAL_GENERATION;
        }
        if let Some(member) = self.members.get_mut(member_id) {
            member.last_seen = now;
        }
        match self.state {
            GroupState::Empty => error_code::UNKNOWN_MEMBER_ID,
            GroupState::PreparingRebalance => error_code::REBALANCE_IN_PROGRESS,
            GroupState::CompletingRebalance | GroupState::Stable => error_code::NONE,
        }
    }

    /// Handles one member of a LeaveGroup, as Kafka: an empty member id
    /// with an instance id removes that static member (an admin's removal);
    /// a pending member just goes; any other must pass the member check
    /// (a fenced static member gets FENCED_INSTANCE_ID). Returns the error code.
    pub fn leave(&mut self, member_id: &str, instance_id: Option<&str>, now: Instant) -> i16 {
        if member_id.is_empty() {
            return match instance_id.and_then(|instance| self.member_of_instance(instance)) {
                Some(owner) => {
                    self.remove_member(&owner, now);
                    error_code::NONE
                }
                None => error_code::UNKNOWN_MEMBER_ID,
            };
        }
        if self.pending.remove(member_id).is_some() {
            self.maybe_complete_join(now);
            return error_code::NONE;
        }
        if let Err(code) = self.validate_member(member_id, instance_id, "leave-group") {
            return code;
        }
        self.remove_member(member_id, now);
        error_code::NONE
    }

    fn remove_member(&mut self, member_id: &str, now: Instant) {
        let Some(mut member) = self.members.shift_remove(member_id) else {
            return;
        };
        if let Some(waiter) = member.join_waiter.take() {
            waiter.send(join_error(error_code::UNKNOWN_MEMBER_ID, member_id));
        }
        if let Some(waiter) = member.sync_waiter.take() {
            waiter.send(sync_error(error_code::UNKNOWN_MEMBER_ID));
        }
        if self.leader.as_deref() == Some(member_id) {
            self.leader = None;
        }
        match self.state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                if self.members.is_empty() {
                    self.generation += 1;
                    self.become_empty();
                } else {
                    self.prepare_rebalance(now, Duration::ZERO);
                    self.maybe_complete_join(now);
                }
            }
            GroupState::PreparingRebalance => self.maybe_complete_join(now),
            GroupState::Empty => {}
        }
    }

    /// Expires sessions and pending member ids, and ends a join phase whose
    /// time ran out. Called by the shard's timer.
    pub fn tick(&mut self, now: Instant) {
        self.pending.retain(|_, expiry| *expiry > now);
        let expired: Vec<String> = self
            .members
            .iter()
            .filter(|(_, member)| {
                member.join_waiter.is_none()
                    && member.sync_waiter.is_none()
                    && now.duration_since(member.last_seen) > member.session_timeout
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired {
            log::info!("group {}: member {id} session expired", self.group_id);
            self.remove_member(&id, now);
        }
        if self.state == GroupState::PreparingRebalance {
            if self
                .rebalance_deadline
                .is_some_and(|deadline| now >= deadline)
            {
                self.complete_join();
            } else {
                self.maybe_complete_join(now);
            }
        }
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

#[cfg(test)]
mod tests;
