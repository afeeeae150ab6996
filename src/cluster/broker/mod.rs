//! The broker's side of the KRaft lifecycle (KRaft's
//! `BrokerLifecycleManager`) as a pure state machine: register with a fresh
//! incarnation id, heartbeat every `broker.heartbeat.interval.ms`, stay fenced
//! until caught up and ready, ask for a controlled shutdown on SIGTERM and
//! exit once the controller allows it.
//!
//! One request at a time is in flight; a reply that does not match it (late,
//! duplicated, from a deposed controller) is ignored, and a request with no
//! reply within `request_timeout_ms` is sent again.

#[cfg(test)]
mod tests;

use super::controller::api::{
    BrokerHeartbeatRequest, BrokerRegistrationRequest, Reply, Request, RequestId, ResponseError,
};
use super::BrokerId;
use uuid::Uuid;

/// The broker's settings for the lifecycle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LifecycleConfig {
    /// Who the broker is (`node.id`, cluster id, this process's incarnation,
    /// `advertised.listeners`, `broker.rack`, the last clean epoch): sent
    /// as is in each registration.
    pub registration: BrokerRegistrationRequest,
    /// `broker.heartbeat.interval.ms`.
    pub heartbeat_interval_ms: u64,
    /// How long to wait for a controller reply before sending again.
    pub request_timeout_ms: u64,
    /// Pause before retrying a refused registration.
    pub retry_backoff_ms: u64,
    /// `initial.broker.registration.timeout.ms`: give up starting after this.
    pub initial_registration_timeout_ms: u64,
    /// Give up waiting for a controlled shutdown after this, and exit anyway.
    pub controlled_shutdown_timeout_ms: u64,
}

impl LifecycleConfig {
    /// Kafka's defaults for one broker process.
    pub fn new(broker_id: BrokerId, cluster_id: &str, incarnation_id: Uuid) -> Self {
        LifecycleConfig {
            registration: BrokerRegistrationRequest {
                broker_id,
                cluster_id: cluster_id.to_string(),
                incarnation_id,
                endpoints: Vec::new(),
                rack: None,
                previous_broker_epoch: -1,
            },
            heartbeat_interval_ms: 2000,
            request_timeout_ms: 3000,
            retry_backoff_ms: 500,
            initial_registration_timeout_ms: 60_000,
            controlled_shutdown_timeout_ms: 60_000,
        }
    }
}

/// Where the broker is (KRaft's `BrokerState`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LifecycleState {
    /// Registering.
    Starting,
    /// Registered and fenced: catching up, recovering logs.
    Recovery,
    /// Unfenced: may lead partitions.
    Running,
    /// Asked for a controlled shutdown; leadership is moving away.
    PendingControlledShutdown,
    /// May exit.
    ShuttingDown,
    /// Cannot run: see the error.
    Failed(LifecycleError),
}

/// Why a broker cannot run; each names what to fix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LifecycleError {
    /// The controller belongs to another cluster (check `log.dirs` and the
    /// controller quorum keys).
    InconsistentClusterId,
    /// Another live broker has this `node.id`.
    DuplicateBrokerId,
    /// No registration within `initial.broker.registration.timeout.ms`.
    RegistrationTimedOut,
}

/// An input to [`BrokerLifecycle::handle`].
#[derive(Clone, Debug)]
pub enum LifecycleInput {
    /// Time passed.
    Tick,
    /// A controller reply to one of this broker's requests.
    Reply {
        /// The id the request went out with.
        id: RequestId,
        /// The reply.
        reply: Reply,
    },
    /// No controller answered the request `id` (every address tried): send
    /// again after the backoff instead of waiting out the request timeout,
    /// so a new active controller hears from this broker soon.
    CallFailed {
        /// The id the request went out with.
        id: RequestId,
    },
    /// The broker applied the metadata log up to `offset`.
    MetadataApplied {
        /// Last applied offset.
        offset: i64,
    },
    /// Logs are recovered: the broker may be unfenced.
    ReadyToUnfence,
    /// SIGTERM: shut down, controlled.
    BeginShutdown,
}

/// An output of [`BrokerLifecycle::handle`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LifecycleOutput {
    /// Send this request to the active controller.
    Send {
        /// Its id, for the reply.
        id: RequestId,
        /// The request.
        request: Request,
    },
    /// The state changed.
    StateChanged(LifecycleState),
    /// The process may exit now.
    Exit,
}

/// One broker process's lifecycle.
#[derive(Clone, Debug)]
pub struct BrokerLifecycle {
    config: LifecycleConfig,
    state: LifecycleState,
    broker_epoch: Option<i64>,
    metadata_offset: i64,
    ready_to_unfence: bool,
    started_ms: u64,
    shutdown_started_ms: Option<u64>,
    /// The request in flight and when it left.
    in_flight: Option<(RequestId, u64)>,
    next_send_ms: u64,
    next_id: RequestId,
    clean_exit: bool,
    /// The last refusal of a registration, to name the cause on timeout.
    last_refusal: Option<ResponseError>,
    /// The last heartbeat sent asked to be unfenced from a metadata offset
    /// the controller unfences from (at least its registration's).
    asked_unfence: bool,
}

impl BrokerLifecycle {
    /// A broker process starting at `now_ms`.
    pub fn new(config: LifecycleConfig, now_ms: u64) -> Self {
        BrokerLifecycle {
            config,
            state: LifecycleState::Starting,
            broker_epoch: None,
            metadata_offset: -1,
            ready_to_unfence: false,
            started_ms: now_ms,
            shutdown_started_ms: None,
            in_flight: None,
            next_send_ms: now_ms,
            next_id: 0,
            clean_exit: false,
            last_refusal: None,
            asked_unfence: false,
        }
    }

    /// The current state.
    pub fn state(&self) -> LifecycleState {
        self.state
    }

    /// The broker epoch, once registered.
    pub fn broker_epoch(&self) -> Option<i64> {
        self.broker_epoch
    }

    /// The epoch to report as `previous_broker_epoch` on the next start: set
    /// only when the controller allowed the exit (a clean shutdown).
    pub fn clean_shutdown_epoch(&self) -> Option<i64> {
        self.broker_epoch.filter(|_| self.clean_exit)
    }

    /// Handles one input at `now_ms`.
    pub fn handle(&mut self, now_ms: u64, input: LifecycleInput) -> Vec<LifecycleOutput> {
        let mut out = Vec::new();
        if matches!(
            self.state,
            LifecycleState::Failed(_) | LifecycleState::ShuttingDown
        ) {
            return out;
        }
        match input {
            LifecycleInput::Tick => self.on_tick(now_ms, &mut out),
            LifecycleInput::Reply { id, reply } => self.on_reply(now_ms, id, reply, &mut out),
            LifecycleInput::CallFailed { id } => self.on_call_failed(now_ms, id),
            LifecycleInput::MetadataApplied { offset } => {
                self.metadata_offset = self.metadata_offset.max(offset);
                self.hurry_unfence(now_ms);
            }
            LifecycleInput::ReadyToUnfence => {
                self.ready_to_unfence = true;
                self.hurry_unfence(now_ms);
            }
            LifecycleInput::BeginShutdown => self.begin_shutdown(now_ms, &mut out),
        }
        out
    }

    fn on_tick(&mut self, now_ms: u64, out: &mut Vec<LifecycleOutput>) {
        if let Some(started) = self.shutdown_started_ms {
            if now_ms >= started + self.config.controlled_shutdown_timeout_ms {
                return self.exit(false, out);
            }
        }
        if self.state == LifecycleState::Starting
            && now_ms >= self.started_ms + self.config.initial_registration_timeout_ms
        {
            let error = match self.last_refusal {
                Some(ResponseError::DuplicateBrokerRegistration) => {
                    LifecycleError::DuplicateBrokerId
                }
                _ => LifecycleError::RegistrationTimedOut,
            };
            return self.fail(error, out);
        }
        if let Some((_, sent_ms)) = self.in_flight {
            if now_ms < sent_ms + self.config.request_timeout_ms {
                return;
            }
            // No reply in time: consider it lost.
            self.in_flight = None;
            self.next_send_ms = now_ms;
        }
        if now_ms >= self.next_send_ms {
            self.send(now_ms, out);
        }
    }

    fn send(&mut self, now_ms: u64, out: &mut Vec<LifecycleOutput>) {
        self.next_id += 1;
        let id = self.next_id;
        self.asked_unfence = self.may_be_unfenced();
        let request = match self.broker_epoch {
            None => Request::RegisterBroker(self.config.registration.clone()),
            Some(broker_epoch) => Request::BrokerHeartbeat(BrokerHeartbeatRequest {
                broker_id: self.config.registration.broker_id,
                broker_epoch,
                current_metadata_offset: self.metadata_offset,
                want_fence: !self.ready_to_unfence,
                want_shut_down: self.shutdown_started_ms.is_some(),
            }),
        };
        self.in_flight = Some((id, now_ms));
        out.push(LifecycleOutput::Send { id, request });
    }

    fn on_reply(
        &mut self,
        now_ms: u64,
        id: RequestId,
        reply: Reply,
        out: &mut Vec<LifecycleOutput>,
    ) {
        if self.in_flight.map(|(expected, _)| expected) != Some(id) {
            return;
        }
        self.in_flight = None;
        self.next_send_ms = now_ms + self.config.retry_backoff_ms;
        match reply {
            Reply::RegisterBroker(Ok(epoch)) => {
                self.broker_epoch = Some(epoch);
                self.next_send_ms = now_ms;
                self.set_state(LifecycleState::Recovery, out);
            }
            Reply::RegisterBroker(Err(ResponseError::InconsistentClusterId)) => {
                self.fail(LifecycleError::InconsistentClusterId, out)
            }
            Reply::BrokerHeartbeat(Ok(beat)) => {
                self.next_send_ms = now_ms + self.config.heartbeat_interval_ms;
                if beat.should_shut_down && self.shutdown_started_ms.is_some() {
                    return self.exit(true, out);
                }
                self.on_fencing(beat.is_fenced, out);
                self.hurry_unfence(now_ms);
            }
            Reply::BrokerHeartbeat(Err(ResponseError::StaleBrokerEpoch)) => {
                // A newer incarnation registered this node.id.
                self.fail(LifecycleError::DuplicateBrokerId, out)
            }
            Reply::RegisterBroker(Err(error)) => {
                // Refused for now (the id's old session still lives, no
                // controller, overload): try again after the backoff.
                self.last_refusal = Some(error);
            }
            // A heartbeat refused for now: the next one goes after the backoff.
            _ => {}
        }
    }

    fn on_call_failed(&mut self, now_ms: u64, id: RequestId) {
        if self.in_flight.map(|(expected, _)| expected) == Some(id) {
            self.in_flight = None;
            self.next_send_ms = now_ms + self.config.retry_backoff_ms;
        }
    }

    /// True when the controller would unfence this broker on its next
    /// heartbeat: it is registered, ready, not shutting down, and has
    /// applied its own registration record (at the broker epoch's offset,
    /// from which the controller unfences).
    fn may_be_unfenced(&self) -> bool {
        let caught_up = self.broker_epoch.is_some_and(|e| self.metadata_offset >= e);
        caught_up && self.ready_to_unfence && self.shutdown_started_ms.is_none()
    }

    /// A fenced broker that became able to be unfenced since its last
    /// heartbeat sends the next one now, not a heartbeat interval later:
    /// Kafka's broker heartbeats 10 ms apart until caught up and at once
    /// when ready to unfence, so a restarted broker serves its partitions
    /// again within moments. Once per change: a heartbeat that asked and
    /// was still refused waits for the interval.
    fn hurry_unfence(&mut self, now_ms: u64) {
        let fenced = self.state == LifecycleState::Recovery;
        if fenced && !self.asked_unfence && self.in_flight.is_none() && self.may_be_unfenced() {
            self.next_send_ms = self.next_send_ms.min(now_ms);
        }
    }

    fn on_fencing(&mut self, fenced: bool, out: &mut Vec<LifecycleOutput>) {
        match self.state {
            LifecycleState::Recovery if !fenced => self.set_state(LifecycleState::Running, out),
            LifecycleState::Running if fenced => self.set_state(LifecycleState::Recovery, out),
            _ => {}
        }
    }

    fn begin_shutdown(&mut self, now_ms: u64, out: &mut Vec<LifecycleOutput>) {
        if self.shutdown_started_ms.is_some() {
            return;
        }
        if self.broker_epoch.is_none() {
            // Never registered: nothing to hand over.
            return self.exit(false, out);
        }
        self.shutdown_started_ms = Some(now_ms);
        if self.state == LifecycleState::Running {
            self.set_state(LifecycleState::PendingControlledShutdown, out);
        }
        if self.in_flight.is_none() {
            self.next_send_ms = now_ms;
        }
    }

    fn exit(&mut self, clean: bool, out: &mut Vec<LifecycleOutput>) {
        self.clean_exit = clean;
        self.set_state(LifecycleState::ShuttingDown, out);
        out.push(LifecycleOutput::Exit);
    }

    fn fail(&mut self, error: LifecycleError, out: &mut Vec<LifecycleOutput>) {
        self.set_state(LifecycleState::Failed(error), out);
    }

    fn set_state(&mut self, state: LifecycleState, out: &mut Vec<LifecycleOutput>) {
        if self.state != state {
            self.state = state;
            out.push(LifecycleOutput::StateChanged(state));
        }
    }
}
