//! Simulated brokers: one lifecycle state machine per process, a metadata
//! follower that fetches the committed log (or a snapshot) from the quorum
//! and applies it, and a small workload: AlterPartition from the partitions a
//! broker leads in its own (possibly stale) image, and producer id blocks.

use super::checker::Fact;
use super::events::{Body, Event, FetchData, Node};
use super::{Route, Sim, CLUSTER_ID};
use crate::cluster::broker::{
    BrokerLifecycle, LifecycleConfig, LifecycleError, LifecycleInput, LifecycleOutput,
    LifecycleState,
};
use crate::cluster::controller::api::*;
use crate::cluster::image::snapshot::decode_snapshot;
use crate::cluster::image::MetadataImage;
use crate::cluster::records::{Endpoint, LeaderRecoveryState, RecordBatch};
use crate::cluster::BrokerId;
use std::collections::BTreeMap;
use uuid::Uuid;

/// A fetch with no answer for this long is sent again.
const FETCH_TIMEOUT_MS: u64 = 1000;

/// Longest log recovery before a started broker is ready to be unfenced.
const RECOVERY_MS_MAX: u64 = 3000;

/// One broker id: the process running it, if any, and what survives it.
pub(crate) struct SimBroker {
    /// Bumped per process start: events of an older process are ignored.
    generation: u32,
    process: Option<Process>,
    /// KIP-966: the epoch of the last clean shutdown, or -1.
    clean_epoch: i64,
    /// The metadata the last process had applied (its local log).
    disk_image: MetadataImage,
    restart_scheduled: bool,
    /// When the last process stopped, while none runs: its connections to
    /// the controllers closed then.
    stopped_at_ms: Option<u64>,
}

struct Process {
    lifecycle: BrokerLifecycle,
    incarnation: Uuid,
    started_ms: u64,
    image: MetadataImage,
    fetch_sent_ms: Option<u64>,
    ready_at_ms: u64,
    ready: bool,
}

impl SimBroker {
    pub(crate) fn new() -> Self {
        SimBroker {
            generation: 0,
            process: None,
            clean_epoch: -1,
            disk_image: MetadataImage::new(),
            restart_scheduled: true,
            stopped_at_ms: None,
        }
    }

    pub(crate) fn is_running(&self) -> bool {
        self.process.is_some()
    }

    /// Running, unfenced, and caught up with the log.
    pub(crate) fn check_settled(
        &self,
        id: BrokerId,
        committed: &MetadataImage,
    ) -> Result<(), String> {
        let Some(p) = &self.process else {
            return Err(format!(
                "broker {id} is not running after the faults stopped"
            ));
        };
        if p.lifecycle.state() != LifecycleState::Running {
            return Err(format!(
                "broker {id} is {:?} after the faults stopped",
                p.lifecycle.state()
            ));
        }
        if p.image != *committed {
            return Err(format!(
                "broker {id} is at offset {} of {}",
                p.image.offset(),
                committed.offset()
            ));
        }
        Ok(())
    }
}

impl Sim {
    /// Starts a new process for `id`: a new incarnation, metadata from disk
    /// or (lost disk) from scratch.
    pub(super) fn restart_broker(&mut self, id: BrokerId) -> Result<(), String> {
        let keep_disk = self.rng.chance(600_000);
        let incarnation = self.rng.uuid();
        let recovery_ms = self.rng.range(0, RECOVERY_MS_MAX);
        let tick_at = self.now_ms + self.rng.range(0, 100);
        let now_ms = self.now_ms;
        let broker = self.brokers.get_mut(&id).ok_or("unknown broker")?;
        broker.restart_scheduled = false;
        if broker.process.is_some() {
            return Ok(());
        }
        broker.stopped_at_ms = None;
        broker.generation += 1;
        let mut config = LifecycleConfig::new(id, CLUSTER_ID, incarnation);
        config.registration.endpoints = vec![endpoint(id)];
        config.registration.previous_broker_epoch = broker.clean_epoch;
        let image = if keep_disk {
            broker.disk_image.clone()
        } else {
            MetadataImage::new()
        };
        let mut lifecycle = BrokerLifecycle::new(config, now_ms);
        lifecycle.handle(
            now_ms,
            LifecycleInput::MetadataApplied {
                offset: image.offset(),
            },
        );
        broker.process = Some(Process {
            lifecycle,
            incarnation,
            started_ms: now_ms,
            image,
            fetch_sent_ms: None,
            ready_at_ms: now_ms + recovery_ms,
            ready: false,
        });
        let generation = broker.generation;
        self.timeline.schedule(
            tick_at,
            Event::TickBroker {
                broker: id,
                generation,
            },
        );
        Ok(())
    }

    /// The process of `id` stops (crash or exit); a restart is scheduled.
    pub(super) fn stop_broker(&mut self, id: BrokerId, restart_after_ms: u64) {
        let Some(broker) = self.brokers.get_mut(&id) else {
            return;
        };
        if let Some(process) = broker.process.take() {
            broker.clean_epoch = process.lifecycle.clean_shutdown_epoch().unwrap_or(-1);
            broker.disk_image = process.image;
            broker.stopped_at_ms = Some(self.now_ms);
        }
        if !broker.restart_scheduled {
            broker.restart_scheduled = true;
            let at = self.now_ms + restart_after_ms;
            self.timeline.schedule(at, Event::Restart { broker: id });
        }
    }

    pub(super) fn tick_broker(&mut self, id: BrokerId, generation: u32) -> Result<(), String> {
        let Some(broker) = self.brokers.get(&id) else {
            return Ok(());
        };
        if broker.generation != generation || broker.process.is_none() {
            return Ok(());
        }
        let outputs = self.lifecycle(id, LifecycleInput::Tick);
        self.on_lifecycle(id, outputs)?;
        self.broker_background(id)?;
        let (low, high) = self.params.broker_tick_ms;
        let next = self.now_ms + self.rng.range(low, high);
        self.timeline.schedule(
            next,
            Event::TickBroker {
                broker: id,
                generation,
            },
        );
        Ok(())
    }

    /// Readiness, metadata fetching and the workload of a running process.
    fn broker_background(&mut self, id: BrokerId) -> Result<(), String> {
        let now_ms = self.now_ms;
        let Some(process) = self.process_mut(id) else {
            return Ok(());
        };
        let became_ready = !process.ready && now_ms >= process.ready_at_ms;
        process.ready |= became_ready;
        let fetch_due = process
            .fetch_sent_ms
            .is_none_or(|t| now_ms >= t + FETCH_TIMEOUT_MS);
        let from_offset = process.image.offset() + 1;
        if fetch_due {
            process.fetch_sent_ms = Some(now_ms);
        }
        let running = process.lifecycle.state() == LifecycleState::Running && !self.faults_over;
        if became_ready {
            let outputs = self.lifecycle(id, LifecycleInput::ReadyToUnfence);
            self.on_lifecycle(id, outputs)?;
        }
        if fetch_due {
            self.send(Node::Broker(id), Node::Quorum, Body::Fetch { from_offset });
        }
        if running && self.rng.chance(self.params.alter_per_million) {
            self.send_alter_partition(id);
        }
        if running && self.rng.chance(self.params.producer_ids_per_million) {
            self.send_allocate_producer_ids(id);
        }
        Ok(())
    }

    fn process_mut(&mut self, id: BrokerId) -> Option<&mut Process> {
        self.brokers.get_mut(&id)?.process.as_mut()
    }

    fn process(&self, id: BrokerId) -> Option<&Process> {
        self.brokers.get(&id)?.process.as_ref()
    }

    fn lifecycle(&mut self, id: BrokerId, input: LifecycleInput) -> Vec<LifecycleOutput> {
        let now_ms = self.now_ms;
        match self.process_mut(id) {
            Some(p) => p.lifecycle.handle(now_ms, input),
            None => Vec::new(),
        }
    }

    fn on_lifecycle(&mut self, id: BrokerId, outputs: Vec<LifecycleOutput>) -> Result<(), String> {
        let generation = self.brokers.get(&id).map_or(0, |b| b.generation);
        for output in outputs {
            match output {
                LifecycleOutput::Send { id: local, request } => {
                    let route = Route::Lifecycle {
                        broker: id,
                        generation,
                        local,
                    };
                    self.send_request(route, request);
                }
                LifecycleOutput::StateChanged(LifecycleState::Failed(
                    LifecycleError::RegistrationTimedOut,
                )) => {
                    // As a supervisor would: start it again.
                    self.stop_broker(id, 1000);
                }
                LifecycleOutput::StateChanged(LifecycleState::Failed(error)) => {
                    return Err(format!("broker {id} failed to start: {error:?}"));
                }
                LifecycleOutput::StateChanged(_) => {}
                LifecycleOutput::Exit => {
                    let clean = self
                        .process(id)
                        .and_then(|p| p.lifecycle.clean_shutdown_epoch());
                    self.stats.clean_exits += clean.is_some() as u64;
                    let delay = self.rng.range(500, 10_000);
                    self.stop_broker(id, delay);
                }
            }
        }
        Ok(())
    }

    pub(super) fn at_broker(&mut self, id: BrokerId, body: Body) -> Result<(), String> {
        if self.process(id).is_none() {
            return Ok(());
        }
        match body {
            Body::Reply { id: global, reply } => self.broker_reply(id, global, reply),
            Body::FetchReply(data) => self.apply_fetched(id, data),
            _ => Ok(()),
        }
    }

    fn broker_reply(&mut self, id: BrokerId, global: u64, reply: Reply) -> Result<(), String> {
        let generation = self.brokers.get(&id).map_or(0, |b| b.generation);
        match self.routes.get(&global).copied() {
            Some(Route::Lifecycle {
                broker,
                generation: g,
                local,
            }) if broker == id && g == generation => {
                self.check_lifecycle_reply(id, &reply)?;
                let refused =
                    Reply::RegisterBroker(Err(ResponseError::DuplicateBrokerRegistration));
                self.stats.duplicate_refusals += (reply == refused) as u64;
                let was_registered = self.is_registered(id);
                let outputs = self.lifecycle(id, LifecycleInput::Reply { id: local, reply });
                if !was_registered && self.is_registered(id) {
                    self.count_registration(id);
                }
                self.on_lifecycle(id, outputs)
            }
            Some(Route::Workload {
                broker,
                generation: g,
            }) if broker == id && g == generation => self.check_workload_reply(id, reply),
            // A reply meant for an earlier process of this broker.
            _ => Ok(()),
        }
    }

    fn is_registered(&self, id: BrokerId) -> bool {
        self.process(id)
            .is_some_and(|p| p.lifecycle.broker_epoch().is_some())
    }

    /// The process of `id` just registered: how long it waited.
    fn count_registration(&mut self, id: BrokerId) {
        let Some(started_ms) = self.process(id).map(|p| p.started_ms) else {
            return;
        };
        let wait_ms = self.now_ms - started_ms;
        self.stats.registrations += 1;
        self.stats.registration_wait_ms += wait_ms;
        let longest = &mut self.stats.registration_wait_ms_max;
        *longest = (*longest).max(wait_ms);
    }

    /// Replies must report only what the log committed.
    fn check_lifecycle_reply(&self, id: BrokerId, reply: &Reply) -> Result<(), String> {
        let who = format!("broker {id}");
        let epoch = self.process(id).and_then(|p| p.lifecycle.broker_epoch());
        match reply {
            Reply::RegisterBroker(Ok(epoch)) => {
                self.checker.reported(&who, Fact::Registered(id, *epoch))
            }
            Reply::BrokerHeartbeat(Ok(beat)) => match epoch {
                Some(e) if !beat.is_fenced => self.checker.reported(&who, Fact::Unfenced(id, e)),
                Some(e) if beat.should_shut_down => self.checker.reported_fenced(&who, id, e),
                _ => Ok(()),
            },
            _ => Ok(()),
        }
    }

    fn check_workload_reply(&mut self, id: BrokerId, reply: Reply) -> Result<(), String> {
        let who = format!("broker {id}");
        match reply {
            Reply::AllocateProducerIds(Ok(block)) => self.checker.producer_block(id, block),
            Reply::AlterPartition(Ok(results)) => {
                for result in results {
                    self.stats.alter_ok += result.result.is_ok() as u64;
                    self.stats.alter_refused += result.result.is_err() as u64;
                    if let Ok(state) = result.result {
                        let fact = Fact::PartitionEpoch(result.tp, state.partition_epoch);
                        self.checker.reported(&who, fact)?;
                    }
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Applies fetched batches that continue the image, or a snapshot ahead
    /// of it; anything else is a late or repeated answer.
    fn apply_fetched(&mut self, id: BrokerId, data: FetchData) -> Result<(), String> {
        let Some(process) = self.brokers.get_mut(&id).and_then(|b| b.process.as_mut()) else {
            return Ok(());
        };
        process.fetch_sent_ms = None;
        let before = process.image.offset();
        match data {
            FetchData::Batches(batches) => apply_batches(&mut process.image, &batches)?,
            FetchData::Snapshot(bytes) => {
                let image = decode_snapshot(&bytes).map_err(|e| format!("broker {id}: {e}"))?;
                if image.offset() > process.image.offset() {
                    process.image = image;
                    self.stats.snapshot_loads += 1;
                }
            }
        }
        let offset = process.image.offset();
        if offset == before {
            return Ok(());
        }
        if let Some(process) = self.brokers.get(&id).and_then(|b| b.process.as_ref()) {
            self.checker.broker_image(id, &process.image)?;
        }
        let outputs = self.lifecycle(id, LifecycleInput::MetadataApplied { offset });
        self.on_lifecycle(id, outputs)
    }

    fn send_alter_partition(&mut self, id: BrokerId) {
        let Some(request) = self.alter_request(id) else {
            return;
        };
        let generation = self.brokers.get(&id).map_or(0, |b| b.generation);
        let route = Route::Workload {
            broker: id,
            generation,
        };
        self.send_request(route, Request::AlterPartition(request));
    }

    /// An ISR shrink or expand of a partition this broker leads, built from
    /// its own image (which may be stale: the controller must refuse that).
    fn alter_request(&mut self, id: BrokerId) -> Option<AlterPartitionRequest> {
        let process = self.brokers.get(&id)?.process.as_ref()?;
        let rng = &mut self.rng;
        let broker_epoch = process.lifecycle.broker_epoch()?;
        let image = &process.image;
        let led: Vec<_> = image.leaders_of(id).iter().copied().collect();
        let tp = *rng.pick(&led)?;
        let p = image.partition(tp)?;
        let mut isr = p.isr.clone();
        let outside: Vec<BrokerId> = p
            .replicas
            .iter()
            .copied()
            .filter(|r| !isr.contains(r))
            .collect();
        let mut recovery = p.leader_recovery_state;
        if recovery == LeaderRecoveryState::Recovering && rng.chance(500_000) {
            recovery = LeaderRecoveryState::Recovered;
        } else if !outside.is_empty() && (isr.len() == 1 || rng.chance(500_000)) {
            isr.push(*rng.pick(&outside)?);
        } else if isr.len() > 1 {
            let followers: Vec<BrokerId> = isr.iter().copied().filter(|r| *r != id).collect();
            let gone = *rng.pick(&followers)?;
            isr.retain(|r| *r != gone);
        }
        let epoch_of = |b: BrokerId| image.broker(b).map_or(-1, |r| r.broker_epoch);
        Some(AlterPartitionRequest {
            broker_id: id,
            broker_epoch,
            partitions: vec![AlterPartitionItem {
                tp,
                leader_epoch: p.leader_epoch,
                partition_epoch: p.partition_epoch,
                new_isr: isr.iter().map(|b| (*b, epoch_of(*b))).collect(),
                leader_recovery_state: recovery,
            }],
        })
    }

    fn send_allocate_producer_ids(&mut self, id: BrokerId) {
        let Some(broker_epoch) = self.process(id).and_then(|p| p.lifecycle.broker_epoch()) else {
            return;
        };
        let generation = self.brokers.get(&id).map_or(0, |b| b.generation);
        let route = Route::Workload {
            broker: id,
            generation,
        };
        let request = AllocateProducerIdsRequest {
            broker_id: id,
            broker_epoch,
        };
        self.send_request(route, Request::AllocateProducerIds(request));
    }

    /// Brokers whose process stopped and did not restart, with when: what
    /// the controllers' listeners see as connections closed for good.
    pub(super) fn stopped_brokers(&self) -> Vec<(BrokerId, u64)> {
        self.brokers
            .iter()
            .filter_map(|(id, b)| b.stopped_at_ms.map(|at| (*id, at)))
            .collect()
    }

    /// The incarnation of each running process, by broker id.
    pub(super) fn running_incarnations(&self) -> BTreeMap<BrokerId, Uuid> {
        self.brokers
            .iter()
            .filter_map(|(id, b)| b.process.as_ref().map(|p| (*id, p.incarnation)))
            .collect()
    }

    /// Brokers currently running a process, by id.
    pub(super) fn running_brokers(&self) -> Vec<BrokerId> {
        self.brokers
            .iter()
            .filter(|(_, b)| b.is_running())
            .map(|(id, _)| *id)
            .collect()
    }

    /// Starts a controlled shutdown of `id`.
    pub(super) fn begin_shutdown(&mut self, id: BrokerId) -> Result<(), String> {
        let outputs = self.lifecycle(id, LifecycleInput::BeginShutdown);
        self.on_lifecycle(id, outputs)
    }

    /// Restarts every stopped broker that has no restart coming.
    pub(super) fn restart_stopped(&mut self) {
        let stopped: Vec<BrokerId> = self
            .brokers
            .iter()
            .filter(|(_, b)| b.process.is_none() && !b.restart_scheduled)
            .map(|(id, _)| *id)
            .collect();
        for id in stopped {
            self.stop_broker(id, 0);
        }
    }
}

fn endpoint(id: BrokerId) -> Endpoint {
    Endpoint {
        name: "PLAINTEXT".into(),
        host: format!("broker-{id}.sim"),
        port: 9092,
        security_protocol: 0,
    }
}

fn apply_batches(image: &mut MetadataImage, batches: &[RecordBatch]) -> Result<(), String> {
    for batch in batches {
        if batch.base_offset == image.offset() + 1 {
            image
                .apply_batch(batch)
                .map_err(|e| format!("committed batch does not apply at a broker: {e}"))?;
        }
    }
    Ok(())
}
