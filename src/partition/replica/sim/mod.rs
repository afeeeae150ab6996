//! A seeded deterministic simulator of one partition's replication, in the
//! style of the control plane's ([`crate::cluster::sim`]): one seed fixes
//! every decision of a run, so a failing seed replays exactly.
//!
//! A run has 3 to 5 replicas ([`replica`]: a log of (epoch, record) entries
//! with an fsynced prefix, an epoch cache, and the [`LeaderReplica`] or
//! [`FollowerReplica`](super::follower::FollowerReplica) state machine), a
//! controller ([`controller`]: heartbeats, fencing, leader election from the
//! ISR, AlterPartition as compare-and-set on the partition epoch), one or
//! two idempotent producers ([`client`]: acks=all records stamped with a
//! producer id, epoch and sequence, retried with the same sequence until
//! acknowledged), and a network that loses, delays and reorders messages
//! and can be cut (both ways or one way). Each replica keeps the real
//! producer state ([`ProducerStateTable`](crate::partition::producer_state))
//! as the partition layer does: its leader de-duplicates retries with it,
//! its followers record what they replicate, a truncation and a restart
//! rebuild it from the log (or, in a fault mode, a truncation takes the
//! partition layer's fallback, `truncate_from`). Faults crash replicas (the unsynced tail is
//! lost) and restart them, pause them ([`pause`]: a stopped process that
//! keeps its memory, a leader waking as a zombie), and cut links; then they
//! stop, the network heals and the partition must settle. [`checker`] checks the invariants after
//! every event.

mod checker;
mod client;
mod controller;
mod fetching;
mod latency;
mod log;
mod pause;
mod replica;
mod report;
mod retention;
mod tests;

use super::leader::FollowerFetch;
use super::{AlterPartitionProposal, PartitionState, ReplicaConfig, ReplicaId};
use crate::cluster::prng::Prng;
use checker::Checker;
use client::{ProduceRequest, SimClient};
use controller::SimController;
pub use latency::AckLatency;
use pause::Paused;
use replica::{Answer, FetchReply, SimReplica};
pub use report::{Failure, Options, Stats};
use std::collections::{BTreeMap, BTreeSet};

/// Set with a replay, it prints every replica's log end, durable offset,
/// high watermark and role (the leader's view of each follower) and every
/// client's window every [`PRODUCE_INTERVAL_MS`]: the events alone do not
/// show why an answer is late (seed 51344 needed them).
const TRACE_STATE_ENV: &str = "MILLRACE_REPLICA_SIM_TRACE_STATE";
/// Most events one run may process: more is a loop that never settles.
const RUN_EVENTS_MAX: u64 = 1_000_000;
/// Faults happen during this much simulated time.
const FAULTS_MS: u64 = 2_000;
/// Then the network heals and everyone restarts; this long to settle.
const SETTLE_MS: u64 = 2_000;
/// `replica.fetch.wait.max.ms`, scaled: a leader holds a follower's fetch
/// that has nothing to read until its log end moves, this long at most
/// (the long poll; a follower fetches again as soon as it has an answer,
/// see [`fetching`])...
const FETCH_WAIT_MAX_MS: u64 = 25;
/// ...and a follower sends its fetch again when it is unanswered this long
/// (as millrace's `REPLICA_FETCH_TIMEOUT_MS`: the wait plus a socket
/// timeout, scaled).
const FETCH_TIMEOUT_MS: u64 = FETCH_WAIT_MAX_MS + 60;
/// After a refused fetch a follower waits this long
/// (`replica.fetch.backoff.ms`, scaled).
const FETCH_BACKOFF_MS: u64 = 10;
/// A replica fsyncs its log this often (the group commit).
const FLUSH_INTERVAL_MS: u64 = 7;
/// Brokers heartbeat the controller this often...
const HEARTBEAT_INTERVAL_MS: u64 = 50;
/// ...and are fenced after this long without one.
const SESSION_TIMEOUT_MS: u64 = 300;
/// `replica.lag.time.max.ms`, scaled to the run.
const REPLICA_LAG_TIME_MAX_MS: u64 = 200;
/// Each client makes a record this often (when its window has room) and
/// checks its connection.
const PRODUCE_INTERVAL_MS: u64 = 5;
/// Idempotent producers in a run: 1 up to this many.
const CLIENTS_MAX: u64 = 2;
/// An AlterPartition unanswered this long is answered NOT_CONTROLLER (the
/// broker's controller calls give up after their attempts; scaled).
const ALTER_PARTITION_TIMEOUT_MS: u64 = 100;
/// Entries (records) one fetch answer carries at most (then to the end of
/// the batch it is in): 8 batches of the largest size, as it was 8
/// one-record batches before batches, so that replication keeps up with
/// the producers (a fetch bound in records slowed it until requests timed
/// out and epoch bumps appended their records again, seed 90434 with
/// the controller cut both ways).
const FETCH_ENTRIES_MAX: usize = 8 * client::BATCH_RECORDS_MAX as usize;
/// Message delay bounds.
const DELAY_MS_MIN: u64 = 1;
const DELAY_MS_MAX: u64 = 20;
// A held fetch answered at the end of its wait arrives before its sender
// gives up on it; a follower held that long is still caught up.
const _: () = assert!(FETCH_WAIT_MAX_MS + 2 * DELAY_MS_MAX < FETCH_TIMEOUT_MS);
const _: () = assert!(FETCH_TIMEOUT_MS < REPLICA_LAG_TIME_MAX_MS);
/// Chance of a message being lost, per million.
const LOSS_PER_MILLION: u32 = 20_000;
/// Mean time between two faults.
const FAULT_INTERVAL_MS_MAX: u64 = 300;
/// How long a crashed replica stays down, or a link stays cut.
const OUTAGE_MS_MAX: u64 = 600;

/// A node of the simulated cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Node {
    Replica(ReplicaId),
    Controller,
    /// A producer, by index.
    Client(usize),
}

/// What a message carries.
#[derive(Clone, Debug)]
enum Body {
    Heartbeat {
        incarnation: u32,
    },
    /// The partition state, and the receiver's incarnation as the controller
    /// registered it (a restarted replica acts only on states made after
    /// its new registration, as a Kafka broker waits to be unfenced).
    Metadata(PartitionState, u32),
    /// A follower's fetch and its number: a follower acts only on the
    /// answer to its latest fetch (one request in flight per connection).
    Fetch(FollowerFetch, u64),
    FetchReply {
        seq: u64,
        reply: FetchReply,
        entries: Vec<Entry>,
    },
    /// A leader's ISR proposal, numbered: each is answered once, by the
    /// controller or by the sender's timeout, whichever comes first.
    AlterPartition(AlterPartitionProposal, u64),
    AlterPartitionReply(AlterPartitionProposal, Result<PartitionState, i16>, u64),
    /// A client's batch, on its connection.
    Produce(ProduceRequest),
    /// The leader's answer: the batch's first offset (the original one for a
    /// retry) or a Kafka error code.
    ProduceReply(ProduceRequest, Result<i64, i16>),
}

/// An idempotent producer's fields of a record (Kafka's batch header).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct ProducerStamp {
    producer_id: i64,
    producer_epoch: i16,
    sequence: i32,
}

/// One log entry (one record of a batch): the epoch it was written at, the
/// record's id, its producer fields (its own sequence), its timestamp and
/// its place in its batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    epoch: i32,
    record: u64,
    stamp: ProducerStamp,
    timestamp_ms: i64,
    /// Its index in its batch, and the batch's record count.
    batch_index: u32,
    batch_records: u32,
}

impl Entry {
    /// Whether it is its batch's last record.
    fn ends_batch(&self) -> bool {
        self.batch_index + 1 == self.batch_records
    }
}

/// Something that happens at a point of simulated time.
#[derive(Clone, Debug)]
enum Event {
    /// A message arrives. The body is boxed: the timeline's B-tree moves
    /// events around, and most are small.
    Deliver {
        from: Node,
        to: Node,
        body: Box<Body>,
    },
    /// A follower fetches if it has nothing in flight.
    Fetch(ReplicaId),
    /// A follower's fetch (by number) went unanswered this long.
    FetchTimeout(ReplicaId, u64),
    /// A leader's wait for a held fetch (by number) is over.
    FetchWaitOver(ReplicaId, u64),
    Flush(ReplicaId),
    Heartbeat(ReplicaId),
    ControllerTick,
    Produce,
    /// A leader's AlterPartition (by number) went unanswered this long.
    AlterPartitionTimeout(ReplicaId, AlterPartitionProposal, u64),
    Fault,
    Restart(ReplicaId),
    /// The next pause fault ([`pause`]).
    Pause,
    /// A paused replica goes on.
    Resume(ReplicaId),
    Heal {
        from: Node,
        to: Node,
    },
    /// The leader's retention pass ([`retention`]).
    Retention,
    EndFaults,
    End,
}

/// One run.
struct World {
    now_ms: u64,
    prng: Prng,
    /// Events by (time, order scheduled): same-time events in order.
    timeline: BTreeMap<(u64, u64), Event>,
    seq: u64,
    replicas: Vec<SimReplica>,
    clients: Vec<SimClient>,
    controller: SimController,
    /// Links cut: (from, to).
    cut: BTreeSet<(Node, Node)>,
    faults_over: bool,
    cut_controller_both_ways: bool,
    truncation_fallback: bool,
    /// ISR proposals sent, and those not answered yet (by number).
    proposals_sent: u64,
    proposals_unanswered: BTreeSet<u64>,
    next_record: u64,
    /// Retention's own draws: a stream apart, so that a run draws from
    /// `prng` exactly what it drew before retention existed, up to its
    /// first deletion.
    retention_prng: Prng,
    /// Fetches leaders held (numbers each).
    fetches_parked: u64,
    /// The pauses' own draws ([`pause`]), apart as retention's are.
    pause_prng: Prng,
    /// Paused replicas and the events held for them.
    paused: BTreeMap<ReplicaId, Paused>,
    /// Replicas that woke as zombie leaders and have not truncated since.
    zombies: BTreeSet<ReplicaId>,
    checker: Checker,
    stats: Stats,
    trace: bool,
    /// With `trace`: every replica's and client's state at each produce
    /// tick too ([`TRACE_STATE_ENV`]).
    trace_state: bool,
}

/// Runs `seed`; `trace` prints every event.
pub fn run(seed: u64, options: Options, trace: bool) -> Result<Stats, Failure> {
    let mut world = World::new(seed, options, trace);
    while let Some(((at_ms, _), event)) = world.timeline.pop_first() {
        world.now_ms = at_ms;
        world.stats.events += 1;
        if world.stats.events > RUN_EVENTS_MAX {
            return Err(world.failure("too many events".to_string()));
        }
        if world.trace {
            eprintln!("{:>6} {:?}", world.now_ms, event);
        }
        let end = matches!(event, Event::End);
        let Some(event) = world.unless_paused(event) else {
            continue;
        };
        world.handle(event);
        if let Err(what) = world.check(end) {
            return Err(world.failure(what));
        }
        if end {
            break;
        }
    }
    world.count_producer_state_answers();
    world.count_restarted_in_sync();
    world.stats.stale_acks = world.checker.stale_acks;
    world.stats.stale_hw_advances = world.checker.stale_hw_advances;
    world.stats.runs_with_leader_pause = u64::from(world.stats.leader_pauses > 0);
    world.stats.runs_with_zombie = u64::from(world.stats.zombie_leaders > 0);
    Ok(world.stats)
}

impl World {
    fn new(seed: u64, options: Options, trace: bool) -> Self {
        let mut prng = Prng::new(seed);
        let count = prng.range(3, 5) as ReplicaId;
        let ids: Vec<ReplicaId> = (1..=count).collect();
        let min_isr = prng.range(1, 3).min(count as u64) as usize;
        let config = ReplicaConfig {
            min_insync_replicas: min_isr,
            replica_lag_time_max_ms: REPLICA_LAG_TIME_MAX_MS,
        };
        let replicas = ids
            .iter()
            .map(|&id| SimReplica::new(id, config, options))
            .collect();
        let clients = (0..prng.range(1, CLIENTS_MAX) as usize)
            .map(SimClient::new)
            .collect();
        let mut world = World {
            now_ms: 0,
            prng,
            timeline: BTreeMap::new(),
            seq: 0,
            replicas,
            clients,
            controller: SimController::new(ids.clone(), options.unclean_election),
            cut: BTreeSet::new(),
            faults_over: false,
            cut_controller_both_ways: options.cut_controller_both_ways,
            truncation_fallback: options.truncation_fallback,
            proposals_sent: 0,
            proposals_unanswered: BTreeSet::new(),
            next_record: 0,
            retention_prng: retention::prng(seed),
            fetches_parked: 0,
            pause_prng: pause::prng(seed),
            paused: BTreeMap::new(),
            zombies: BTreeSet::new(),
            checker: Checker::default(),
            stats: Stats::default(),
            trace,
            trace_state: trace && std::env::var(TRACE_STATE_ENV).is_ok(),
        };
        for &id in &ids {
            let jitter = world.prng.below(FETCH_BACKOFF_MS);
            world.schedule(jitter, Event::Fetch(id));
            world.schedule(jitter + 1, Event::Flush(id));
            world.schedule(jitter, Event::Heartbeat(id));
        }
        world.schedule(0, Event::ControllerTick);
        world.schedule(PRODUCE_INTERVAL_MS, Event::Produce);
        world.schedule(FAULT_INTERVAL_MS_MAX, Event::Fault);
        world.schedule(retention::RETENTION_INTERVAL_MS, Event::Retention);
        world.schedule(FAULTS_MS, Event::EndFaults);
        world.schedule(FAULTS_MS + SETTLE_MS, Event::End);
        if !options.no_pauses {
            world.schedule_first_pause();
        }
        world
    }

    fn schedule(&mut self, after_ms: u64, event: Event) {
        self.seq += 1;
        self.timeline
            .insert((self.now_ms + after_ms, self.seq), event);
    }

    /// Sends over the network: lost, cut, or delivered after a random delay
    /// (so messages overtake each other).
    fn send(&mut self, from: Node, to: Node, body: Body) {
        if self.cut.contains(&(from, to)) || self.prng.chance(LOSS_PER_MILLION) {
            return;
        }
        let delay = self.prng.range(DELAY_MS_MIN, DELAY_MS_MAX);
        let body = Box::new(body);
        self.schedule(delay, Event::Deliver { from, to, body });
    }

    fn replica(&mut self, id: ReplicaId) -> &mut SimReplica {
        &mut self.replicas[(id - 1) as usize]
    }

    fn failure(&self, what: String) -> Failure {
        Failure {
            seed: 0,
            at_ms: self.now_ms,
            what,
        }
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Deliver { from, to, body } => self.deliver(from, to, *body),
            Event::Fetch(id) => self.follower_fetch(id),
            Event::FetchTimeout(id, seq) => {
                if self.replica(id).fetch_timed_out(seq) {
                    self.follower_fetch(id);
                }
            }
            Event::FetchWaitOver(id, number) => self.fetch_wait_over(id, number),
            Event::Flush(id) => {
                self.schedule(FLUSH_INTERVAL_MS, Event::Flush(id));
                let now = self.now_ms;
                let out = self.replica(id).flush(now);
                self.after_leader_step(id, out);
                if self.replica(id).flushed_for_fetch() {
                    self.follower_fetch(id);
                }
            }
            Event::Heartbeat(id) => {
                self.schedule(HEARTBEAT_INTERVAL_MS, Event::Heartbeat(id));
                if let Some(incarnation) = self.replica(id).heartbeat() {
                    self.send(
                        Node::Replica(id),
                        Node::Controller,
                        Body::Heartbeat { incarnation },
                    );
                }
            }
            Event::ControllerTick => {
                self.schedule(HEARTBEAT_INTERVAL_MS, Event::ControllerTick);
                let now = self.now_ms;
                let changed = self.controller.tick(now);
                self.count_change(changed);
                self.broadcast_metadata();
            }
            Event::Produce => self.produce(),
            Event::AlterPartitionTimeout(id, proposal, number) => {
                if self.proposals_unanswered.remove(&number) {
                    let refused = Err(crate::protocol::error_code::NOT_CONTROLLER);
                    self.replica(id).on_alter_partition(&proposal, refused);
                    self.after_leader_step(id, None);
                }
            }
            Event::Fault => self.fault(),
            Event::Restart(id) => {
                let now = self.now_ms;
                self.replica(id).restart(now);
            }
            Event::Pause => self.pause_fault(),
            Event::Resume(id) => self.resume(id),
            Event::Heal { from, to } => {
                self.cut.remove(&(from, to));
            }
            Event::Retention => self.retention(),
            Event::EndFaults => self.end_faults(),
            Event::End => {}
        }
    }

    fn deliver(&mut self, from: Node, to: Node, body: Body) {
        let now = self.now_ms;
        match (to, body) {
            (Node::Controller, Body::Heartbeat { incarnation }) => {
                if let Node::Replica(id) = from {
                    let changed = self.controller.heartbeat(now, id, incarnation);
                    self.count_change(changed);
                }
            }
            (Node::Controller, Body::AlterPartition(proposal, number)) => {
                let reply = self.controller.alter_partition(&proposal);
                self.count_change(reply.is_ok());
                let body = Body::AlterPartitionReply(proposal, reply, number);
                self.send(Node::Controller, from, body);
            }
            (Node::Replica(id), body) => self.deliver_to_replica(now, from, id, body),
            (Node::Client(index), Body::ProduceReply(request, answer)) => {
                self.clients[index].on_answer(now, &request, answer);
            }
            (Node::Controller | Node::Client(_), _) => {}
        }
    }

    fn deliver_to_replica(&mut self, now: u64, from: Node, id: ReplicaId, body: Body) {
        match body {
            Body::Metadata(state, incarnation) => {
                let became_leader = self.replica(id).on_metadata(now, state, incarnation);
                if became_leader {
                    self.stats.elections += 1;
                    let replica = &self.replicas[(id - 1) as usize];
                    // A state the controller made before it committed
                    // what it has now (held by a pause, or the first
                    // this replica hears) makes a stale leader: it need
                    // not hold what was committed since, and is checked
                    // as a zombie (`checker::zombie`).
                    let epoch = replica.leader().map(|l| l.leader_epoch());
                    let current = epoch == Some(self.controller.state().leader_epoch);
                    self.stats.stale_leaderships += u64::from(!current);
                    if let (true, Err(what)) = (current, self.checker.new_leader(replica)) {
                        self.checker.fail(what);
                    }
                }
                // Requests waiting on an ended term are answered
                // NOT_LEADER_OR_FOLLOWER.
                self.answer_clients(id);
                // A new leader to follow: its fetch session starts.
                self.follower_fetch(id);
            }
            Body::Produce(request) => {
                if self.connection_reaches(id, &request) {
                    let log_end = self.replica(id).log.end();
                    self.replica(id).produce(now, request);
                    self.answer_clients(id);
                    if self.replica(id).log.end() > log_end {
                        let appended = self.replica(id).log.get(log_end).map(|e| e.epoch);
                        let appended = appended.unwrap_or(request.leader_epoch);
                        let epoch = self
                            .checker
                            .append_epoch(id, request.leader_epoch, appended);
                        if let Err(what) = epoch {
                            self.checker.fail(what);
                        }
                        self.wake_parked(id);
                    }
                }
            }
            Body::Fetch(fetch, seq) => self.answer_fetch(id, from, fetch, seq, true),
            Body::FetchReply {
                seq,
                reply,
                entries,
            } => self.on_fetch_reply(id, seq, reply, &entries),
            // An answer after the sender's timeout is not read.
            Body::AlterPartitionReply(proposal, reply, number) => {
                if self.proposals_unanswered.remove(&number) {
                    self.replica(id).on_alter_partition(&proposal, reply);
                    self.after_leader_step(id, None);
                }
            }
            Body::Heartbeat { .. } | Body::AlterPartition(..) | Body::ProduceReply(..) => {}
        }
    }

    /// After a leader's state moved: its proposal goes out, acks that are
    /// ready are recorded, the checker sees the new high watermark.
    fn after_leader_step(&mut self, id: ReplicaId, proposal: Option<AlterPartitionProposal>) {
        if let Some(proposal) = proposal {
            self.propose(id, proposal);
        }
        let now = self.now_ms;
        let replica = &mut self.replicas[(id - 1) as usize];
        if let Some(proposal) = replica.tick(now) {
            self.propose(id, proposal);
        }
        self.answer_clients(id);
    }

    /// Sends `id`'s ISR proposal to the controller. As the broker's
    /// AlterPartition sender does (`call_controller` gives up after its
    /// attempts), a proposal unanswered in time is answered NOT_CONTROLLER,
    /// whether or not the controller committed it.
    fn propose(&mut self, id: ReplicaId, proposal: AlterPartitionProposal) {
        self.proposals_sent += 1;
        let number = self.proposals_sent;
        self.proposals_unanswered.insert(number);
        let timeout = Event::AlterPartitionTimeout(id, proposal.clone(), number);
        self.send(
            Node::Replica(id),
            Node::Controller,
            Body::AlterPartition(proposal, number),
        );
        self.schedule(ALTER_PARTITION_TIMEOUT_MS, timeout);
    }

    /// The answers `id` has ready go to their clients; the checker sees the
    /// acknowledgements (given, whether or not they arrive).
    fn answer_clients(&mut self, id: ReplicaId) {
        let answers = self.replica(id).take_answers();
        // Each record of an acknowledged batch, at its offset.
        let acked: Vec<(i64, u64)> = answers
            .iter()
            .filter_map(|a| a.result.ok().map(|offset| (offset, a.request)))
            .flat_map(|(offset, r)| {
                (0..r.records).map(move |i| (offset + i64::from(i), r.record + u64::from(i)))
            })
            .collect();
        // Without acks the check after the event sees the leader's step.
        let replica = &self.replicas[(id - 1) as usize];
        if !acked.is_empty() {
            if let Err(what) = self.checker.leader_step(replica, &acked) {
                self.checker.fail(what);
            }
            let state = self.controller.state();
            let stale = self
                .checker
                .stale_acks(replica, &acked, &self.replicas, state);
            if let Err(what) = stale {
                self.checker.fail(what);
            }
        }
        self.stats.acked += acked.len() as u64;
        let isr = replica.leader().map(|leader| leader.state().isr.len());
        for answer in answers {
            let Answer {
                request,
                result,
                waited_from_ms,
            } = answer;
            if let (Ok(_), Some(since_ms), Some(isr)) = (result, waited_from_ms, isr) {
                self.stats.ack_latency.record(since_ms, self.now_ms, isr);
            }
            let body = Body::ProduceReply(request, result);
            self.send_on_connection(Node::Replica(id), request, body);
        }
    }

    fn count_change(&mut self, changed: bool) {
        if changed {
            self.stats.partition_changes += 1;
            self.broadcast_metadata();
        }
    }

    fn broadcast_metadata(&mut self) {
        let state = self.controller.state().clone();
        for id in 1..=self.replicas.len() as ReplicaId {
            let body = Body::Metadata(state.clone(), self.controller.incarnation(id));
            self.send(Node::Controller, Node::Replica(id), body);
        }
    }

    /// Each client makes a record if its window has room, drops a
    /// connection that is no use, and sends what is unsent to the leader
    /// the controller names (clients learn leaders from metadata).
    fn produce(&mut self) {
        self.schedule(PRODUCE_INTERVAL_MS, Event::Produce);
        let now = self.now_ms;
        let leader = self.controller.state().leader;
        let leader = (leader >= 0).then(|| (leader, self.replica(leader).incarnation()));
        // Clients read the controller's metadata: its epoch may be newer
        // than the leader's (UNKNOWN_LEADER_EPOCH), and a request held in
        // flight or by a paused replica goes stale (FENCED_LEADER_EPOCH).
        let leader_epoch = self.controller.state().leader_epoch;
        if self.trace_state {
            self.print_state();
        }
        let mut requests = Vec::new();
        for client in &mut self.clients {
            client.make_batch(now, &mut self.next_record, &mut self.prng);
            client.check_connection(now, leader);
            requests.extend(client.requests(now, leader, leader_epoch));
        }
        for request in requests {
            let body = Body::Produce(request);
            self.send_on_connection(Node::Client(request.client), request, body);
        }
    }

    /// Prints every replica's and client's state ([`TRACE_STATE_ENV`]).
    fn print_state(&self) {
        let now = self.now_ms;
        for r in &self.replicas {
            let (log_start, log_end, hw) = (r.log.start(), r.log.end(), r.high_watermark());
            let (id, alive, durable, role) = (r.id, r.alive, r.durable, &r.role);
            eprintln!(
                "{now:>6} state replica {id} alive={alive} log_start={log_start} \
                 log_end={log_end} durable={durable} hw={hw} {role:?}"
            );
        }
        for client in &self.clients {
            eprintln!("{now:>6} state {client:?}");
        }
    }

    /// Sends `body` over `request`'s connection, in order after what was
    /// sent on it before; a loss breaks the connection (nothing more gets
    /// through, as on a stalled TCP connection). Nothing is sent on a
    /// closed connection.
    fn send_on_connection(&mut self, from: Node, request: ProduceRequest, body: Body) {
        let lost = self.prng.chance(LOSS_PER_MILLION);
        let delay_ms = self.prng.range(DELAY_MS_MIN, DELAY_MS_MAX);
        let now = self.now_ms;
        let client = Node::Client(request.client);
        let Some(conn) = self.clients[request.client].connection(request.conn) else {
            return;
        };
        conn.broken |= lost;
        if conn.broken {
            return;
        }
        let replica = Node::Replica(conn.replica);
        let (to, in_order_ms) = match from == client {
            true => (replica, &mut conn.to_replica_at_ms),
            false => (client, &mut conn.to_client_at_ms),
        };
        let at_ms = (now + delay_ms).max(*in_order_ms);
        *in_order_ms = at_ms;
        let body = Box::new(body);
        self.schedule(at_ms - now, Event::Deliver { from, to, body });
    }

    /// Whether `request` arrives: its connection reaches the process of
    /// `id` it was opened to (a crash ends its connections) and, while
    /// open, is not broken. A request sent before the client closed the
    /// connection arrives (TCP delivers what precedes the FIN): an old
    /// epoch's request may reach the leader after its producer bumped.
    fn connection_reaches(&mut self, id: ReplicaId, request: &ProduceRequest) -> bool {
        let incarnation = self.replica(id).incarnation();
        let alive = self.replica(id).alive;
        let open = self.clients[request.client].connection(request.conn);
        let unbroken = open.is_none_or(|c| !c.broken);
        alive && unbroken && request.incarnation == incarnation
    }

    /// The producer-state answers every replica gave, into the stats.
    fn count_producer_state_answers(&mut self) {
        for replica in &self.replicas {
            self.stats.duplicates += replica.duplicates;
            self.stats.out_of_order += replica.out_of_order;
            self.stats.fenced += replica.fenced;
            self.stats.epoch_fenced_requests += replica.epoch_fenced;
            self.stats.epoch_unknown_requests += replica.epoch_unknown;
        }
        for client in &self.clients {
            self.stats.epoch_bumps += client.epoch_bumps;
        }
    }

    fn fault(&mut self) {
        if self.faults_over {
            return;
        }
        let next = self.prng.range(1, FAULT_INTERVAL_MS_MAX);
        self.schedule(next, Event::Fault);
        let count = self.replicas.len() as u64;
        let id = self.prng.range(1, count) as ReplicaId;
        let outage = self.prng.range(1, OUTAGE_MS_MAX);
        match self.prng.below(3) {
            0 => {
                self.replica(id).crash();
                self.schedule(outage, Event::Restart(id));
                // A stopped process can be killed: its memory is gone, and
                // what was held for it reaches nothing now.
                if self.is_paused(id) {
                    self.resume(id);
                }
            }
            1 => {
                let other = match self.prng.below(2) {
                    0 => Node::Controller,
                    _ => Node::Replica(self.prng.range(1, count) as ReplicaId),
                };
                self.cut_link(Node::Replica(id), other, outage);
                // Opt-in (it would change what the default seeds do): the
                // controller's answers and metadata are cut off too.
                if self.cut_controller_both_ways && other == Node::Controller {
                    self.cut_link(other, Node::Replica(id), outage);
                }
            }
            _ => {
                let other = Node::Replica(self.prng.range(1, count) as ReplicaId);
                self.cut_link(other, Node::Replica(id), outage);
                self.cut_link(Node::Replica(id), other, outage);
            }
        }
    }

    fn cut_link(&mut self, from: Node, to: Node, outage: u64) {
        if from != to && self.cut.insert((from, to)) {
            self.schedule(outage, Event::Heal { from, to });
        }
    }

    fn end_faults(&mut self) {
        self.faults_over = true;
        self.cut.clear();
        self.resume_all();
        let now = self.now_ms;
        for replica in &mut self.replicas {
            replica.restart(now);
        }
    }

    fn check(&mut self, end: bool) -> Result<(), String> {
        self.checker.take_failure()?;
        self.checker
            .every_step(&self.replicas, self.controller.state())?;
        if end {
            self.checker
                .at_end(&self.replicas, self.controller.state())?;
            self.checker.producers_settled(self.now_ms, &self.clients)?;
        }
        Ok(())
    }
}
