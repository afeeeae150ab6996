//! Broker lifecycle on the controller (KRaft's `ClusterControlManager` and
//! `BrokerHeartbeatManager.calculateNextBrokerState`): registration,
//! heartbeats, session expiry, controlled shutdown; and producer id blocks.

use super::api::*;
use super::config::PRODUCER_ID_BLOCK_LEN;
use super::Controller;
use crate::cluster::records::{
    BrokerControlledShutdownRecord, BrokerRegistration, MetadataRecord, ProducerIdsRecord,
    UnfenceBrokerRecord,
};
use crate::cluster::BrokerId;
use uuid::Uuid;

/// Where a heartbeat moves a broker (KRaft's `BrokerControlState`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BrokerState {
    Fenced,
    Unfenced,
    ControlledShutdown,
    ShutdownNow,
}

impl Controller {
    pub(super) fn register_broker(
        &mut self,
        now_ms: u64,
        request: &BrokerRegistrationRequest,
        out: &mut Vec<Output>,
    ) -> Reply {
        let result = self.check_registration(now_ms, request).map(|existing| {
            let epoch = self.register(now_ms, request, existing.as_ref(), out);
            if existing.as_ref().map(|e| e.broker_epoch) != Some(epoch) {
                self.sessions.reset(request.broker_id, now_ms);
            }
            epoch
        });
        Reply::RegisterBroker(result)
    }

    /// Refuses another cluster's broker and a second live broker with the
    /// same id; returns the current registration, if any.
    fn check_registration(
        &self,
        now_ms: u64,
        request: &BrokerRegistrationRequest,
    ) -> Result<Option<BrokerRegistration>, ResponseError> {
        if request.cluster_id != self.config.cluster_id {
            return Err(ResponseError::InconsistentClusterId);
        }
        if request.broker_id < 0 || request.incarnation_id.is_nil() {
            return Err(ResponseError::InvalidRequest);
        }
        let existing = self.image.broker(request.broker_id).cloned();
        if self.is_local_broker(request.broker_id, request.incarnation_id) {
            // The broker in this controller's own process: whatever else is
            // registered under its id is a process that died.
            return Ok(existing);
        }
        if let Some(e) = &existing {
            // A registration heard from within the session timeout holds its
            // id unless it is fenced and the new process names it as the one
            // it cleanly succeeds (`previous_broker_epoch`, from the
            // clean-shutdown marker). So a registration delayed from a dead
            // process cannot replace a live one still fenced (found by the
            // simulator), and a clean restart need not wait: Kafka 4.4.0,
            // measured, refused a cleanly stopped broker's successor with
            // DUPLICATE_BROKER_REGISTRATION until the old session expired
            // (perf/RESULTS.md, "A cluster node restarted").
            //
            // Looser than KRaft after a controller change: the fresh session
            // every registration gets at activation ends early for one this
            // controller has not heard from while a live broker would have
            // (see `sessions`), so a process restarted across the change
            // need not wait a whole session timeout (issue 12). A live
            // broker cut off that long loses its id only to a process
            // started under it; what is left is a registration delayed that
            // long from a dead process, which the simulator's invariant (a
            // live process is never replaced) looks for.
            let timeout_ms = self.config.session_timeout_ms;
            let interval_ms = self.config.broker_heartbeat_interval_ms;
            let live = self.sessions.is_fresh(e.broker_id, now_ms, timeout_ms)
                && !self
                    .sessions
                    .is_unheard_past_grace(e.broker_id, now_ms, interval_ms);
            #[cfg(test)]
            let live = live && !self.bugs.registration_ignores_sessions;
            let successor = e.fenced && request.previous_broker_epoch == e.broker_epoch;
            if live && !successor && e.incarnation_id != request.incarnation_id {
                return Err(ResponseError::DuplicateBrokerRegistration);
            }
        }
        Ok(existing)
    }

    /// Proposes a registration; returns the broker epoch it gets. Each step
    /// is decided against the image the previous one left.
    fn register(
        &mut self,
        now_ms: u64,
        request: &BrokerRegistrationRequest,
        existing: Option<&BrokerRegistration>,
        out: &mut Vec<Output>,
    ) -> i64 {
        let broker_id = request.broker_id;
        let mut registration = BrokerRegistration {
            broker_id,
            incarnation_id: request.incarnation_id,
            broker_epoch: -1,
            endpoints: request.endpoints.clone(),
            rack: request.rack.clone(),
            fenced: true,
            in_controlled_shutdown: false,
        };
        match existing {
            Some(e) if e.incarnation_id == request.incarnation_id => {
                // A retry of the same process: amend, keeping epoch and state.
                registration.broker_epoch = e.broker_epoch;
                registration.fenced = e.fenced;
                registration.in_controlled_shutdown = e.in_controlled_shutdown;
                if registration != *e {
                    self.propose(vec![MetadataRecord::RegisterBroker(registration)], out);
                }
                return e.broker_epoch;
            }
            Some(e) => {
                if !e.fenced {
                    // Its session ran out but the tick has not fenced it yet:
                    // the old incarnation gives up its leaderships first.
                    self.fence_silent_registrations(broker_id, now_ms, out);
                    let records = self.fence_records(broker_id);
                    self.propose(records, out);
                }
                if request.previous_broker_epoch != e.broker_epoch {
                    let records = self.unclean_shutdown_records(broker_id);
                    self.propose(records, out);
                }
            }
            None => {}
        }
        let epoch = self.next_offset();
        registration.broker_epoch = epoch;
        self.propose(vec![MetadataRecord::RegisterBroker(registration)], out);
        epoch
    }

    /// Before the old registration of `replaced` leaves every ISR, fences
    /// each other registration this controller has not heard from past the
    /// grace after its activation (a whole-cluster restart's nodes that did
    /// not come back). Each fence takes the broker out of the ISRs, and the
    /// last member of an ISR stays its eligible leader: done the other way
    /// round, the live node, whose new incarnation is registering, left
    /// every ISR first, and a partition kept only the dead node, leaderless
    /// until it returned (the default min.insync.replicas=1 puts no one in
    /// the ELR before that). Fencing a broker only moves its leaderships and
    /// ISR seats; one that was alive after all is unfenced by its next
    /// heartbeat and rejoins the ISRs once caught up.
    fn fence_silent_registrations(
        &mut self,
        replaced: BrokerId,
        now_ms: u64,
        out: &mut Vec<Output>,
    ) {
        let interval_ms = self.config.broker_heartbeat_interval_ms;
        let silent: Vec<BrokerId> = self
            .image
            .brokers()
            .filter(|b| !b.fenced && b.broker_id != replaced)
            .map(|b| b.broker_id)
            .filter(|&id| self.sessions.is_unheard_past_grace(id, now_ms, interval_ms))
            .collect();
        for broker_id in silent {
            let records = self.fence_records(broker_id);
            self.propose(records, out);
        }
    }

    pub(super) fn broker_heartbeat(
        &mut self,
        now_ms: u64,
        request: &BrokerHeartbeatRequest,
        out: &mut Vec<Output>,
    ) -> Reply {
        let registration = match self.registered(request.broker_id, request.broker_epoch) {
            Ok(r) => r.clone(),
            Err(e) => return Reply::BrokerHeartbeat(Err(e)),
        };
        let broker_id = request.broker_id;
        let current = if registration.fenced {
            BrokerState::Fenced
        } else if registration.in_controlled_shutdown {
            BrokerState::ControlledShutdown
        } else {
            BrokerState::Unfenced
        };
        let next = self.next_broker_state(now_ms, current, request, &registration);
        if next != current {
            let records = self.transition_records(broker_id, current, next);
            self.propose(records, out);
        }
        let first_heard = !self.sessions.was_heard(broker_id);
        if first_heard && current == BrokerState::Unfenced && next == current {
            // Passed over by elections while unheard past the grace (see
            // `is_electable`): it leads where no one could.
            let records = self.leaderless_election_records(broker_id);
            self.propose(records, out);
        }
        if next == BrokerState::ControlledShutdown {
            let offset = self.image.offset();
            let session = self.sessions.get_mut(broker_id, now_ms);
            session.controlled_shutdown_offset.get_or_insert(offset);
        }
        let offset = request.current_metadata_offset;
        self.sessions.touch(broker_id, now_ms, offset);
        Reply::BrokerHeartbeat(Ok(BrokerHeartbeatReply {
            is_caught_up: offset >= registration.broker_epoch,
            is_fenced: matches!(next, BrokerState::Fenced | BrokerState::ShutdownNow),
            should_shut_down: next == BrokerState::ShutdownNow,
        }))
    }

    fn next_broker_state(
        &mut self,
        now_ms: u64,
        current: BrokerState,
        request: &BrokerHeartbeatRequest,
        registration: &BrokerRegistration,
    ) -> BrokerState {
        use BrokerState::*;
        let leads = !self.image.leaders_of(request.broker_id).is_empty();
        match current {
            Fenced if request.want_shut_down => ShutdownNow,
            Fenced if request.want_fence => Fenced,
            Fenced if request.current_metadata_offset >= registration.broker_epoch => Unfenced,
            Fenced => Fenced,
            Unfenced if request.want_fence && request.want_shut_down => ShutdownNow,
            Unfenced if request.want_fence => Fenced,
            Unfenced if request.want_shut_down && leads => ControlledShutdown,
            Unfenced if request.want_shut_down => ShutdownNow,
            Unfenced => Unfenced,
            ControlledShutdown if leads => ControlledShutdown,
            ControlledShutdown | ShutdownNow => {
                let broker_id = request.broker_id;
                let session = self.sessions.get_mut(broker_id, now_ms);
                let target = *session
                    .controlled_shutdown_offset
                    .get_or_insert(self.image.offset());
                // Every active broker has seen leadership move away.
                if target <= self.sessions.lowest_active_offset(&self.image) {
                    ShutdownNow
                } else {
                    ControlledShutdown
                }
            }
        }
    }

    fn transition_records(
        &self,
        broker_id: BrokerId,
        current: BrokerState,
        next: BrokerState,
    ) -> Vec<MetadataRecord> {
        match next {
            BrokerState::Fenced | BrokerState::ShutdownNow if current != BrokerState::Fenced => {
                self.fence_records(broker_id)
            }
            BrokerState::Unfenced => self.unfence_records(broker_id),
            BrokerState::ControlledShutdown => self.controlled_shutdown_records(broker_id),
            _ => Vec::new(),
        }
    }

    /// Unfence, then elect it where a leaderless partition can have it.
    fn unfence_records(&self, broker_id: BrokerId) -> Vec<MetadataRecord> {
        let Some(registration) = self.image.broker(broker_id) else {
            return Vec::new();
        };
        let mut records = vec![MetadataRecord::UnfenceBroker(UnfenceBrokerRecord {
            broker_id,
            broker_epoch: registration.broker_epoch,
        })];
        records.extend(self.leaderless_election_records(broker_id));
        records
    }

    /// Mark the controlled shutdown, then move leadership and ISR away.
    fn controlled_shutdown_records(&self, broker_id: BrokerId) -> Vec<MetadataRecord> {
        let Some(registration) = self.image.broker(broker_id) else {
            return Vec::new();
        };
        let mut records = Vec::new();
        if !registration.in_controlled_shutdown {
            let change = BrokerControlledShutdownRecord {
                broker_id,
                broker_epoch: registration.broker_epoch,
            };
            records.push(MetadataRecord::BrokerControlledShutdown(change));
        }
        records.extend(self.leave_isr_records(broker_id));
        records
    }

    /// Fences every unfenced broker whose session expired, or whose
    /// connections were lost and not restored (see `sessions`).
    pub(super) fn fence_stale_brokers(&mut self, now_ms: u64, out: &mut Vec<Output>) {
        let timeout_ms = self.config.session_timeout_ms;
        let grace_ms = self.config.broker_heartbeat_interval_ms;
        let stale: Vec<(BrokerId, bool)> = self
            .image
            .brokers()
            .filter(|b| !b.fenced)
            .filter_map(|b| {
                let id = b.broker_id;
                let lost = self.sessions.is_lost(id, now_ms, grace_ms, timeout_ms);
                let expired = !self.sessions.is_fresh(id, now_ms, timeout_ms);
                (lost || expired).then_some((id, lost && !expired))
            })
            .collect();
        for (broker_id, for_loss) in stale {
            if for_loss {
                self.sessions.fenced_for_loss(broker_id, now_ms);
            }
            let records = self.fence_records(broker_id);
            self.propose(records, out);
        }
    }

    /// True when `broker_id` may be elected leader: active (unfenced, not
    /// shutting down) and not a registration this controller has gone
    /// without hearing from past the grace after its activation
    /// ([`BrokerSessions::is_unheard_past_grace`](super::sessions::BrokerSessions::is_unheard_past_grace)).
    /// Such a registration may be replaced by a new incarnation; after a
    /// whole-cluster restart the others not heard from are as likely dead
    /// (they usually are), and electing one left the partition led by a
    /// dead broker, unreachable to clients, until its session ran out.
    /// Passed over, the partition is led by another in-sync replica, or is
    /// leaderless until the broker is heard (its first heartbeat elects it)
    /// or fenced when its session runs out (then the ELR may lead).
    pub(super) fn is_electable(&self, broker_id: BrokerId) -> bool {
        let interval_ms = self.config.broker_heartbeat_interval_ms;
        self.image.is_active(broker_id)
            && !self
                .sessions
                .is_unheard_past_grace(broker_id, self.now_ms, interval_ms)
    }

    /// True when `broker_id` may lead a partition now led by `current`: the
    /// current leader stays while active (a leader unheard from is not
    /// demoted for it, as that could force an unclean election), another
    /// broker must be [electable](Self::is_electable).
    pub(super) fn may_lead(&self, broker_id: BrokerId, current: Option<BrokerId>) -> bool {
        if current == Some(broker_id) {
            self.image.is_active(broker_id)
        } else {
            self.is_electable(broker_id)
        }
    }

    /// True when `incarnation_id` of `broker_id` is the broker process this
    /// controller runs in.
    fn is_local_broker(&self, broker_id: BrokerId, incarnation_id: Uuid) -> bool {
        self.config.local_broker == Some((broker_id, incarnation_id))
    }

    /// Fences the registration of this controller's own node id when it is
    /// another incarnation than this process's, unfenced and never heard
    /// from by this controller: that process died (killed with the
    /// controller it ran), so its leaderships move now instead of after a
    /// session timeout (issue 12).
    pub(super) fn fence_dead_local_incarnation(&mut self, out: &mut Vec<Output>) {
        let Some((broker_id, incarnation_id)) = self.config.local_broker else {
            return;
        };
        let heard = self.sessions.was_heard(broker_id);
        let dead = self
            .image
            .broker(broker_id)
            .is_some_and(|b| !b.fenced && !heard && b.incarnation_id != incarnation_id);
        if dead {
            let records = self.fence_records(broker_id);
            self.propose(records, out);
        }
    }

    /// The registration of `broker_id` if `broker_epoch` is its epoch.
    fn registered(
        &self,
        broker_id: BrokerId,
        broker_epoch: i64,
    ) -> Result<&BrokerRegistration, ResponseError> {
        match self.image.broker(broker_id) {
            Some(r) if r.broker_epoch == broker_epoch => Ok(r),
            _ => Err(ResponseError::StaleBrokerEpoch),
        }
    }

    /// Checks a broker request's epoch (KRaft's `checkBrokerEpoch`).
    pub(super) fn check_broker_epoch(
        &self,
        broker_id: BrokerId,
        broker_epoch: i64,
    ) -> Result<(), ResponseError> {
        self.registered(broker_id, broker_epoch).map(|_| ())
    }

    pub(super) fn allocate_producer_ids(
        &mut self,
        request: &AllocateProducerIdsRequest,
        out: &mut Vec<Output>,
    ) -> Reply {
        if let Err(e) = self.check_broker_epoch(request.broker_id, request.broker_epoch) {
            return Reply::AllocateProducerIds(Err(e));
        }
        let first = self.image.next_producer_id();
        let Some(next) = first.checked_add(PRODUCER_ID_BLOCK_LEN as i64) else {
            return Reply::AllocateProducerIds(Err(ResponseError::UnknownServerError));
        };
        let record = ProducerIdsRecord {
            broker_id: request.broker_id,
            broker_epoch: request.broker_epoch,
            next_producer_id: next,
        };
        self.propose(vec![MetadataRecord::ProducerIds(record)], out);
        Reply::AllocateProducerIds(Ok(ProducerIdBlock {
            first_producer_id: first,
            len: PRODUCER_ID_BLOCK_LEN,
        }))
    }
}
