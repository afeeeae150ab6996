//! The active controller as a pure state machine (KRaft's `QuorumController`
//! and its control managers, reduced to decisions).
//!
//! `handle(now_ms, input)` takes a request, a commit notice or a tick and
//! returns what to do: batches to append to the metadata log and replies to
//! send. Nothing inside does I/O, reads a clock or draws randomness it was
//! not seeded with, so the simulator can drive it and replay it exactly.
//!
//! Like KRaft's controller it decides against the committed image *plus its
//! own pending proposals*: every batch it outputs is applied to its image at
//! once, so the next request sees it. A reply is held until every record the
//! controller had proposed when it answered is committed, so a reply never
//! reports what the log may still lose. When the controller loses leadership
//! it is dropped with its pending proposals and held replies; a newly active
//! controller starts from the committed image only ([`Controller::new`]).
//!
//! Files: [`api`] (inputs, outputs, requests, replies), [`config`],
//! `brokers` (registration, heartbeats, sessions, producer ids), `replication`
//! (fencing, controlled shutdown, AlterPartition, ElectLeaders, balancing),
//! `reassignment` (KIP-455), `election` (one partition's change), `topics`
//! and `placement`.

pub mod api;
mod brokers;
pub mod config;
mod election;
mod placement;
mod reassignment;
mod replication;
mod sessions;
#[cfg(test)]
mod tests;
mod topics;

pub use api::*;
pub use config::ControllerConfig;

use super::image::MetadataImage;
use super::prng::Prng;
use super::records::{MetadataRecord, RecordBatch, BATCH_RECORDS_MAX};
use config::DEFERRED_REPLIES_MAX;
use sessions::BrokerSessions;
use std::collections::VecDeque;

/// Bugs the simulator's self-test plants to show its checker catches them.
#[cfg(test)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct PlantedBugs {
    /// Elections ignore the ISR: any live replica may be elected.
    pub(crate) election_ignores_isr: bool,
    /// Fencing a broker leaves its leaderships in place.
    pub(crate) fence_keeps_leadership: bool,
    /// AlterPartition lets fenced or stale-epoch brokers into the ISR.
    pub(crate) alter_accepts_ineligible: bool,
    /// A broker back from a crash leaves every ELR (Kafka's KIP-966 rule,
    /// millrace's before issue 13's empty-ISR finding).
    pub(crate) crash_leaves_elr: bool,
    /// A reassignment completes without waiting for its new replicas to
    /// be in sync.
    pub(crate) reassignment_skips_sync: bool,
    /// A registration of another incarnation replaces the current one
    /// whatever its session (KRaft's rule for fenced registrations, for all).
    pub(crate) registration_ignores_sessions: bool,
}

/// The active controller.
#[derive(Debug)]
pub struct Controller {
    config: ControllerConfig,
    /// Committed image plus this controller's pending proposals.
    image: MetadataImage,
    committed_offset: i64,
    sessions: BrokerSessions,
    /// Replies waiting for an offset to commit, oldest first.
    deferred: VecDeque<(i64, RequestId, Reply)>,
    rng: Prng,
    next_balance_ms: u64,
    /// The time of the input being handled (elections ask sessions by it).
    now_ms: u64,
    fault: Option<String>,
    #[cfg(test)]
    pub(crate) bugs: PlantedBugs,
}

impl Controller {
    /// A controller becoming active at `now_ms` over the committed image.
    /// Every registered broker gets a fresh session; `seed` feeds topic ids.
    pub fn new(config: ControllerConfig, committed: MetadataImage, now_ms: u64, seed: u64) -> Self {
        let sessions = BrokerSessions::activate(&committed, now_ms);
        Controller {
            next_balance_ms: now_ms + config.leader_imbalance_check_interval_ms,
            config,
            committed_offset: committed.offset(),
            image: committed,
            sessions,
            deferred: VecDeque::new(),
            rng: Prng::new(seed),
            now_ms,
            fault: None,
            #[cfg(test)]
            bugs: PlantedBugs::default(),
        }
    }

    /// The image this controller decides against (committed + pending).
    pub fn image(&self) -> &MetadataImage {
        &self.image
    }

    /// The last offset known committed.
    pub fn committed_offset(&self) -> i64 {
        self.committed_offset
    }

    /// True while proposals or replies wait for the log.
    pub fn has_pending(&self) -> bool {
        self.image.offset() > self.committed_offset || !self.deferred.is_empty()
    }

    /// The settings.
    pub fn config(&self) -> &ControllerConfig {
        &self.config
    }

    /// Handles one input at `now_ms`; returns what to carry out, in order.
    pub fn handle(&mut self, now_ms: u64, input: Input) -> Vec<Output> {
        self.now_ms = now_ms;
        let mut out = Vec::new();
        if self.fault.is_some() {
            if let Input::Request { id, request } = input {
                let reply = request.refuse(ResponseError::NotController);
                out.push(Output::Reply { id, reply });
            }
            return out;
        }
        match input {
            Input::Request { id, request } => self.handle_request(now_ms, id, request, &mut out),
            Input::Committed { offset } => self.on_committed(offset, &mut out),
            Input::Tick => self.on_tick(now_ms, &mut out),
            Input::ConnectionsLost(lost) => self.sessions.set_lost(&lost),
        }
        out
    }

    fn handle_request(
        &mut self,
        now_ms: u64,
        id: RequestId,
        request: Request,
        out: &mut Vec<Output>,
    ) {
        if self.deferred.len() >= DEFERRED_REPLIES_MAX {
            let reply = request.refuse(ResponseError::RequestTimedOut);
            out.push(Output::Reply { id, reply });
            return;
        }
        let reply = match request {
            Request::RegisterBroker(r) => self.register_broker(now_ms, &r, out),
            Request::BrokerHeartbeat(r) => self.broker_heartbeat(now_ms, &r, out),
            Request::CreateTopics(r) => self.create_topics(&r, out),
            Request::CreatePartitions(r) => self.create_partitions(&r, out),
            Request::DeleteTopics(r) => self.delete_topics(&r, out),
            Request::AlterPartition(r) => self.alter_partition(&r, out),
            Request::ElectLeaders(r) => self.elect_leaders(&r, out),
            Request::AllocateProducerIds(r) => self.allocate_producer_ids(&r, out),
            Request::AlterConfigs(r) => self.alter_configs(&r, out),
            Request::AlterReassignments(r) => self.alter_reassignments(&r, out),
        };
        self.reply(id, reply, out);
    }

    /// Sends `reply` once everything proposed so far is committed.
    fn reply(&mut self, id: RequestId, reply: Reply, out: &mut Vec<Output>) {
        let ready_offset = self.image.offset();
        if ready_offset <= self.committed_offset {
            out.push(Output::Reply { id, reply });
        } else {
            self.deferred.push_back((ready_offset, id, reply));
        }
    }

    fn on_committed(&mut self, offset: i64, out: &mut Vec<Output>) {
        if offset > self.image.offset() {
            return self.fail(
                format!(
                    "log committed offset {offset} beyond the controller's {}",
                    self.image.offset()
                ),
                out,
            );
        }
        self.committed_offset = self.committed_offset.max(offset);
        while let Some((ready, _, _)) = self.deferred.front() {
            if *ready > self.committed_offset {
                break;
            }
            if let Some((_, id, reply)) = self.deferred.pop_front() {
                out.push(Output::Reply { id, reply });
            }
        }
    }

    fn on_tick(&mut self, now_ms: u64, out: &mut Vec<Output>) {
        self.fence_dead_local_incarnation(out);
        self.fence_stale_brokers(now_ms, out);
        self.elect_unclean_leaders(out);
        if self.config.auto_leader_rebalance_enable && now_ms >= self.next_balance_ms {
            self.next_balance_ms = now_ms + self.config.leader_imbalance_check_interval_ms;
            self.balance_leaders(out);
        }
    }

    /// Applies `records` to the image and outputs them as batches of at most
    /// [`BATCH_RECORDS_MAX`]. A record the image refuses is a controller bug.
    fn propose(&mut self, records: Vec<MetadataRecord>, out: &mut Vec<Output>) {
        if self.fault.is_some() {
            return;
        }
        for chunk in records.chunks(BATCH_RECORDS_MAX) {
            let batch = RecordBatch {
                base_offset: self.image.offset() + 1,
                records: chunk.to_vec(),
            };
            if let Err(e) = self.image.apply_batch(&batch) {
                return self.fail(format!("own proposal does not apply: {e}"), out);
            }
            out.push(Output::Append(batch));
        }
    }

    fn fail(&mut self, reason: String, out: &mut Vec<Output>) {
        self.deferred.clear();
        out.push(Output::Fault(reason.clone()));
        self.fault = Some(reason);
    }

    /// The offset the next proposed record will get.
    fn next_offset(&self) -> i64 {
        self.image.offset() + 1
    }
}
