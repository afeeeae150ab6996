//! The join phase of a group: JoinGroup, static member replacement, and the
//! rebalance that ends when every member has rejoined (or its time ran out).

use super::{
    error_code, join_error, sync_error, text, Group, GroupLimits, GroupState, JoinParams, Member,
    Reply,
};
use crate::local::oneshot;
use bytes::Bytes;
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::JoinGroupResponse;
use std::time::{Duration, Instant};

impl Group {
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
    pub(super) fn prepare_rebalance(&mut self, now: Instant, initial_delay: Duration) {
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

    pub(super) fn maybe_complete_join(&mut self, now: Instant) {
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
    pub(super) fn complete_join(&mut self) {
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
    pub(super) fn become_empty(&mut self) {
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
}
