//! A group's members after the join phase: SyncGroup, Heartbeat, LeaveGroup
//! and the timer that expires sessions.

use super::{error_code, join_error, sync_error, text, Group, GroupState, MemberRef, Reply};
use crate::local::oneshot;
use bytes::Bytes;
use kafka_protocol::messages::SyncGroupResponse;
use std::collections::HashMap;
use std::time::{Duration, Instant};

impl Group {
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
}
