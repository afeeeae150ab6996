//! A seeded deterministic simulator of the control plane, in the style of
//! TigerBeetle's VOPR: one seed fixes every decision of a run, so a failing
//! seed replays bit for bit.
//!
//! A run has a controller quorum ([`quorum`]: a committed log, the active
//! controller, failovers that lose uncommitted proposals), 3 to 8 brokers
//! ([`broker`]: each a [`crate::cluster::broker::BrokerLifecycle`] plus a
//! metadata follower and a small workload of AlterPartition and
//! AllocateProducerIds), an admin client ([`admin`]), and a lossy network
//! ([`network`]). Faults ([`faults`]) crash and restart brokers (new
//! incarnation, metadata kept or lost), stop them with a controlled shutdown,
//! depose the controller, cut nodes off (both ways or one way); then they
//! stop, the network heals, and the cluster must settle. [`checker`] lists
//! the invariants; they are checked after every step.
//!
//! Later layers (partition replication: leader and follower logs, high
//! watermark, truncation) plug in as more state per broker and more message
//! kinds on the same timeline, network and checker.

mod admin;
mod broker;
mod checker;
mod events;
mod faults;
mod network;
mod paper;
mod quorum;
mod tests;

use crate::cluster::controller::api::{Input, Output, Request};
use crate::cluster::controller::{ControllerConfig, PlantedBugs};
use crate::cluster::prng::Prng;
use crate::cluster::BrokerId;
use broker::SimBroker;
use checker::Checker;
use events::{Body, Envelope, Event, Node, Timeline};
use network::{Network, NetworkParams};
use quorum::Quorum;
use std::collections::BTreeMap;

/// Most events one run may process; a run that needs more is a bug (a loop
/// that never settles).
const RUN_EVENTS_MAX: u64 = 2_000_000;

/// How long the cluster gets to settle after the faults stop.
const SETTLE_MS: u64 = 45_000;

/// After [`SETTLE_MS`], the liveness checks may fail this many more times,
/// [`SETTLE_RETRY_MS`] apart, before the run fails (the last commit may
/// still be on its way to the brokers).
const SETTLE_RETRIES_MAX: u32 = 40;

/// Pause between two tries of the liveness checks.
const SETTLE_RETRY_MS: u64 = 250;

/// The cluster id every node uses.
const CLUSTER_ID: &str = "sim-cluster";

/// What a run may be asked to do besides its seed.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Options {
    /// Bugs planted in every controller.
    pub(crate) bugs: PlantedBugs,
    /// Print every event (for replaying one seed).
    pub(crate) trace: bool,
}

/// Counts of one run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Stats {
    pub(crate) events: u64,
    pub(crate) commits: u64,
    pub(crate) records: u64,
    pub(crate) failovers: u64,
    pub(crate) crashes: u64,
    pub(crate) shutdowns: u64,
    pub(crate) cuts: u64,
    pub(crate) sim_ms: u64,
    /// New leaders elected from the ISR, from the ELR, uncleanly.
    pub(crate) elections_isr: u64,
    pub(crate) elections_elr: u64,
    pub(crate) elections_unclean: u64,
    /// Snapshots brokers loaded instead of log batches.
    pub(crate) snapshot_loads: u64,
    /// Controlled shutdowns that ended with the controller's permission.
    pub(crate) clean_exits: u64,
    /// AlterPartition results accepted and refused.
    pub(crate) alter_ok: u64,
    pub(crate) alter_refused: u64,
    /// Registrations refused while an older process's session lived.
    pub(crate) duplicate_refusals: u64,
    /// Processes that registered, and their waits from start to the
    /// accepted registration: total and longest.
    pub(crate) registrations: u64,
    pub(crate) registration_wait_ms: u64,
    pub(crate) registration_wait_ms_max: u64,
    /// Reassignments completed and cancelled (KIP-455).
    pub(crate) moves_completed: u64,
    pub(crate) moves_cancelled: u64,
    /// Digest of the final committed image (same seed, same digest).
    pub(crate) digest: u64,
}

/// Why a run failed.
#[derive(Clone, Debug)]
pub(crate) struct Failure {
    pub(crate) seed: u64,
    pub(crate) at_ms: u64,
    pub(crate) event: u64,
    pub(crate) what: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "cluster simulation seed {} failed at {} ms (event {}): {}\n  replay: MILLRACE_SIM_SEED={} cargo test --release --lib cluster::sim::tests::replay_one_seed -- --nocapture",
            self.seed, self.at_ms, self.event, self.what, self.seed
        )
    }
}

/// What the seed fixed about a run.
#[derive(Clone, Debug)]
pub(crate) struct Params {
    pub(crate) brokers: Vec<BrokerId>,
    pub(crate) controller: ControllerConfig,
    pub(crate) network: NetworkParams,
    pub(crate) faults_ms: u64,
    pub(crate) fault_gap_ms: (u64, u64),
    pub(crate) snapshot_every_records: usize,
    pub(crate) commit_delay_ms: (u64, u64),
    pub(crate) broker_tick_ms: (u64, u64),
    pub(crate) admin_gap_ms: (u64, u64),
    /// Per million broker ticks: an AlterPartition, a producer id block.
    pub(crate) alter_per_million: u32,
    pub(crate) producer_ids_per_million: u32,
}

impl Params {
    fn draw(rng: &mut Prng) -> Self {
        let broker_count = rng.range(3, 8) as i32;
        let mut controller = ControllerConfig::new(CLUSTER_ID);
        controller.min_insync_replicas = rng.range(1, 2) as i32;
        controller.eligible_leader_replicas_enable = rng.chance(750_000);
        controller.unclean_leader_election_enable = rng.chance(100_000);
        controller.leader_imbalance_check_interval_ms = rng.range(5_000, 30_000);
        Params {
            brokers: (1..=broker_count).collect(),
            controller,
            network: NetworkParams::draw(rng),
            faults_ms: rng.range(20_000, 60_000),
            fault_gap_ms: (rng.range(200, 1000), rng.range(1000, 5000)),
            snapshot_every_records: rng.range(5, 200) as usize,
            commit_delay_ms: (1, rng.range(2, 40)),
            broker_tick_ms: (50, rng.range(100, 300)),
            admin_gap_ms: (rng.range(100, 500), rng.range(500, 3000)),
            alter_per_million: rng.range(0, 100_000) as u32,
            producer_ids_per_million: rng.range(0, 20_000) as u32,
        }
    }
}

/// Where a controller reply goes, by simulation-wide request id.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Route {
    /// A broker lifecycle request, by its local id.
    Lifecycle {
        broker: BrokerId,
        generation: u32,
        local: u64,
    },
    /// A broker workload request.
    Workload { broker: BrokerId, generation: u32 },
    /// An admin request.
    Admin,
}

impl Route {
    /// The node that sent the request and gets the reply.
    fn node(&self) -> Node {
        match *self {
            Route::Admin => Node::Admin,
            Route::Lifecycle { broker, .. } | Route::Workload { broker, .. } => {
                Node::Broker(broker)
            }
        }
    }
}

/// One run.
pub(crate) struct Sim {
    options: Options,
    rng: Prng,
    now_ms: u64,
    events: u64,
    params: Params,
    timeline: Timeline,
    network: Network,
    quorum: Quorum,
    brokers: BTreeMap<BrokerId, SimBroker>,
    routes: BTreeMap<u64, Route>,
    next_request: u64,
    checker: Checker,
    faults_over: bool,
    stats: Stats,
}

/// Runs one seed.
pub(crate) fn run(seed: u64, options: Options) -> Result<Stats, Failure> {
    let mut sim = Sim::new(seed, options);
    let result = sim.run_to_end();
    result.map_err(|what| Failure {
        seed,
        at_ms: sim.now_ms,
        event: sim.events,
        what,
    })
}

impl Sim {
    fn new(seed: u64, options: Options) -> Self {
        let mut rng = Prng::new(seed);
        let params = Params::draw(&mut rng);
        let quorum = Quorum::new(
            params.controller.clone(),
            params.snapshot_every_records,
            options.bugs,
        );
        let brokers = params
            .brokers
            .iter()
            .map(|&id| (id, SimBroker::new()))
            .collect();
        Sim {
            options,
            network: Network::new(params.network.clone()),
            rng,
            now_ms: 0,
            events: 0,
            params,
            timeline: Timeline::default(),
            quorum,
            brokers,
            routes: BTreeMap::new(),
            next_request: 0,
            checker: Checker::default(),
            faults_over: false,
            stats: Stats::default(),
        }
    }

    fn run_to_end(&mut self) -> Result<Stats, String> {
        self.timeline
            .schedule(0, Event::ElectController { term: 0 });
        self.timeline.schedule(0, Event::TickController);
        for id in self.params.brokers.clone() {
            let at = self.rng.range(0, 2000);
            self.timeline.schedule(at, Event::Restart { broker: id });
        }
        self.timeline.schedule(1000, Event::TickAdmin);
        self.timeline.schedule(2000, Event::Fault);
        self.timeline
            .schedule(self.params.faults_ms, Event::EndFaults);
        self.timeline
            .schedule(self.params.faults_ms + SETTLE_MS, Event::End { attempt: 0 });
        while let Some((at_ms, event)) = self.timeline.pop() {
            self.now_ms = at_ms;
            self.events += 1;
            if self.events > RUN_EVENTS_MAX {
                return Err(format!("more than {RUN_EVENTS_MAX} events"));
            }
            if self.options.trace {
                println!("{at_ms:>7} ms #{:<6} {event:?}", self.events);
            }
            if let Event::End { attempt } = event {
                match self.check_settled() {
                    Ok(()) => break,
                    Err(e) if attempt >= SETTLE_RETRIES_MAX => return Err(e),
                    Err(_) => {
                        let next = Event::End {
                            attempt: attempt + 1,
                        };
                        self.timeline.schedule(self.now_ms + SETTLE_RETRY_MS, next);
                        continue;
                    }
                }
            }
            self.step(event)?;
        }
        self.stats.events = self.events;
        self.stats.sim_ms = self.now_ms;
        self.stats.digest = self.quorum.committed.digest();
        [
            self.stats.elections_isr,
            self.stats.elections_elr,
            self.stats.elections_unclean,
        ] = self.checker.elections;
        [self.stats.moves_completed, self.stats.moves_cancelled] = self.checker.moves;
        Ok(self.stats)
    }

    fn step(&mut self, event: Event) -> Result<(), String> {
        match event {
            Event::Deliver(envelope) => self.deliver(envelope),
            Event::TickBroker { broker, generation } => self.tick_broker(broker, generation),
            Event::TickController => self.tick_controller(),
            Event::Commit { term } => self.commit(term),
            Event::TickAdmin => self.tick_admin(),
            Event::Fault => self.inject_fault(),
            Event::ElectController { term } => self.elect_controller(term),
            Event::Restart { broker } => self.restart_broker(broker),
            Event::Heal { partition } => {
                self.network.heal(partition);
                Ok(())
            }
            Event::EndFaults => self.end_faults(),
            Event::End { .. } => Ok(()),
        }
    }

    /// Sends `body` from `from` to `to` through the network.
    fn send(&mut self, from: Node, to: Node, body: Body) {
        let delays = self.network.route(&mut self.rng, from, to);
        for delay in delays {
            let envelope = Envelope {
                from,
                to,
                body: body.clone(),
            };
            self.timeline
                .schedule(self.now_ms + delay, Event::Deliver(envelope));
        }
    }

    fn deliver(&mut self, envelope: Envelope) -> Result<(), String> {
        if self.network.is_cut(envelope.from, envelope.to) {
            return Ok(());
        }
        match envelope.to {
            Node::Quorum => self.at_quorum(envelope),
            Node::Broker(id) => self.at_broker(id, envelope.body),
            Node::Admin => self.at_admin(envelope.body),
        }
    }

    /// A request to the quorum: the active controller answers, or nobody.
    fn at_quorum(&mut self, envelope: Envelope) -> Result<(), String> {
        if self.quorum.active.is_none() {
            return Ok(());
        }
        match envelope.body {
            Body::Request { id, request } => self.controller_input(Input::Request { id, request }),
            Body::Fetch { from_offset } => {
                let data = self.quorum.fetch(from_offset)?;
                self.send(Node::Quorum, envelope.from, Body::FetchReply(data));
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Feeds the active controller and carries out what it outputs.
    fn controller_input(&mut self, input: Input) -> Result<(), String> {
        let Some(controller) = self.quorum.active.as_mut() else {
            return Ok(());
        };
        let outputs = controller.handle(self.now_ms, input);
        for output in outputs {
            match output {
                Output::Append(batch) => {
                    self.quorum.append(batch)?;
                    let delay = self
                        .rng
                        .range(self.params.commit_delay_ms.0, self.params.commit_delay_ms.1);
                    let term = self.quorum.term;
                    self.timeline
                        .schedule(self.now_ms + delay, Event::Commit { term });
                }
                Output::Reply { id, reply } => {
                    let Some(route) = self.routes.get(&id) else {
                        return Err(format!("controller replied to unknown request {id}"));
                    };
                    let to = route.node();
                    self.send(Node::Quorum, to, Body::Reply { id, reply });
                }
                Output::Fault(reason) => return Err(format!("controller fault: {reason}")),
            }
        }
        self.check_controller()
    }

    /// With nothing pending, the controller's image is exactly the log's.
    fn check_controller(&self) -> Result<(), String> {
        let Some(controller) = &self.quorum.active else {
            return Ok(());
        };
        if !controller.has_pending() && controller.image() != &self.quorum.committed {
            return Err("the controller's image differs from the committed log's".into());
        }
        Ok(())
    }

    fn tick_controller(&mut self) -> Result<(), String> {
        let lost = self.stopped_brokers();
        self.controller_input(Input::ConnectionsLost(lost))?;
        self.controller_input(Input::Tick)?;
        let next = self.now_ms + self.rng.range(50, 500);
        self.timeline.schedule(next, Event::TickController);
        Ok(())
    }

    fn commit(&mut self, term: u64) -> Result<(), String> {
        if term != self.quorum.term {
            return Ok(());
        }
        if let Some(batch) = self.quorum.commit_next()? {
            self.committed(&batch)?;
            let offset = batch.last_offset();
            self.controller_input(Input::Committed { offset })?;
        }
        Ok(())
    }

    /// Checks a batch the log just committed.
    fn committed(&mut self, batch: &crate::cluster::records::RecordBatch) -> Result<(), String> {
        self.stats.commits += 1;
        self.stats.records += batch.records.len() as u64;
        let running = self.running_incarnations();
        self.checker.on_registrations(batch, &running)?;
        self.checker
            .on_commit(batch, &self.quorum.committed, &self.params.controller)
    }

    fn elect_controller(&mut self, term: u64) -> Result<(), String> {
        if term != self.quorum.term || self.quorum.active.is_some() {
            return Ok(());
        }
        let seed = self.rng.next_u64();
        self.quorum.activate(self.now_ms, seed)?;
        self.check_controller()
    }

    /// Sends `request` to the quorum from the node `route` names, under a
    /// new simulation-wide id that routes the reply back.
    fn send_request(&mut self, route: Route, request: Request) {
        self.next_request += 1;
        let id = self.next_request;
        self.routes.insert(id, route);
        self.send(route.node(), Node::Quorum, Body::Request { id, request });
    }

    fn check_settled(&self) -> Result<(), String> {
        let Some(controller) = &self.quorum.active else {
            return Err("no active controller after the faults stopped".into());
        };
        if controller.has_pending() || self.quorum.has_pending() {
            return Err("proposals still pending after the faults stopped".into());
        }
        for (id, broker) in &self.brokers {
            broker.check_settled(*id, &self.quorum.committed)?;
        }
        self.checker.settled(
            &self.quorum.committed,
            &self.params.brokers,
            &self.params.controller,
        )
    }
}
