//! Metadata quorum members, each on its own glommio executor thread, driven
//! from the test thread by commands over std channels. Real loopback TCP,
//! real files.

use glommio::net::TcpListener;
use glommio::LocalExecutorBuilder;
use millrace::cluster::image::snapshot::encode_snapshot;
use millrace::cluster::raft::node::{MetadataNode, NodeConfig, NodeError};
use millrace::cluster::raft::{ApplyOutcome, NodeId};
use millrace::cluster::records::{MetadataRecord, RecordBatch, TopicRecord};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, Receiver, Sender, TryRecvError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long a test waits for a condition before failing (generous: the
/// machine is shared).
pub const WAIT: Duration = Duration::from_secs(30);
const TEST_IO_MEMORY_BYTES: usize = 1 << 20;
const COMMAND_POLL: Duration = Duration::from_millis(1);

/// What a node reports about itself.
#[derive(Clone, Debug)]
pub struct Status {
    pub leader: Option<NodeId>,
    pub is_voter: bool,
    pub voters: Vec<NodeId>,
    pub image_offset: i64,
    pub image: Vec<u8>,
    pub recovered_snapshot: Option<u64>,
    pub snapshot: Option<u64>,
    pub purged: Option<u64>,
}

type Reply<T> = Sender<T>;

enum Command {
    Propose(RecordBatch, Reply<Result<ApplyOutcome, NodeError>>),
    /// Proposes `n` batches one after another and answers each commit's latency.
    TimedProposals(Vec<RecordBatch>, Reply<Result<Vec<Duration>, NodeError>>),
    AddLearner(NodeId, String, Reply<Result<(), NodeError>>),
    AddVoter(NodeId, String, Reply<Result<(), NodeError>>),
    RemoveVoter(NodeId, Reply<Result<(), NodeError>>),
    Status(Reply<Status>),
    Stop(Reply<()>),
}

/// A node on its own executor thread.
pub struct NodeThread {
    commands: Sender<Command>,
    thread: Option<JoinHandle<()>>,
}

fn status_of(node: &MetadataNode) -> Status {
    let metrics = node.metrics();
    let image = node.image();
    let is_voter = metrics
        .membership_config
        .membership()
        .voter_ids()
        .any(|id| id == node.node_id());
    Status {
        leader: node.leader(),
        is_voter,
        voters: node.voters().into_iter().collect(),
        image_offset: image.offset(),
        image: encode_snapshot(&image),
        recovered_snapshot: node.recovered_snapshot_index(),
        snapshot: metrics.snapshot.map(|id| id.index),
        purged: metrics.purged.map(|id| id.index),
    }
}

async fn timed_proposals(
    node: &MetadataNode,
    batches: Vec<RecordBatch>,
) -> Result<Vec<Duration>, NodeError> {
    let mut latencies = Vec::with_capacity(batches.len());
    for batch in batches {
        let started = Instant::now();
        node.propose(&batch).await?;
        latencies.push(started.elapsed());
    }
    Ok(latencies)
}

async fn serve_commands(node: MetadataNode, commands: Receiver<Command>) {
    loop {
        match commands.try_recv() {
            Ok(Command::Propose(batch, reply)) => {
                let _ = reply.send(node.propose(&batch).await);
            }
            Ok(Command::TimedProposals(batches, reply)) => {
                let _ = reply.send(timed_proposals(&node, batches).await);
            }
            Ok(Command::AddLearner(id, addr, reply)) => {
                let _ = reply.send(node.add_learner(id, &addr).await);
            }
            Ok(Command::AddVoter(id, addr, reply)) => {
                let _ = reply.send(node.add_voter(id, &addr).await);
            }
            Ok(Command::RemoveVoter(id, reply)) => {
                let _ = reply.send(node.remove_voter(id, false).await);
            }
            Ok(Command::Status(reply)) => {
                let _ = reply.send(status_of(&node));
            }
            Ok(Command::Stop(reply)) => {
                node.stop().await;
                let _ = reply.send(());
                return;
            }
            Err(TryRecvError::Empty) => glommio::timer::sleep(COMMAND_POLL).await,
            Err(TryRecvError::Disconnected) => {
                node.stop().await;
                return;
            }
        }
    }
}

impl NodeThread {
    /// Starts a node with `config`, serving its CONTROLLER listener on `addr`.
    pub fn start(config: NodeConfig, addr: String) -> Result<NodeThread, NodeError> {
        let (commands, receiver) = channel();
        let (ready_tx, ready) = channel();
        let thread = std::thread::Builder::new()
            .name(format!("raft-node-{}", config.node_id))
            .spawn(move || {
                LocalExecutorBuilder::default()
                    .io_memory(TEST_IO_MEMORY_BYTES)
                    .make()
                    .expect("glommio executor")
                    .run(async move {
                        let listener = TcpListener::bind(&addr).expect("bind CONTROLLER listener");
                        match MetadataNode::start(&config, listener).await {
                            Ok(node) => {
                                let _ = ready_tx.send(Ok(()));
                                serve_commands(node, receiver).await;
                            }
                            Err(e) => {
                                let _ = ready_tx.send(Err(e));
                            }
                        }
                    })
            })
            .expect("node thread");
        ready.recv_timeout(WAIT).expect("node started or failed")?;
        Ok(NodeThread {
            commands,
            thread: Some(thread),
        })
    }

    fn ask<T>(&self, command: impl FnOnce(Reply<T>) -> Command) -> T {
        let (reply, answer) = channel();
        self.commands
            .send(command(reply))
            .expect("node thread alive");
        answer.recv_timeout(WAIT).expect("node answered in time")
    }

    pub fn status(&self) -> Status {
        self.ask(Command::Status)
    }

    pub fn propose(&self, batch: RecordBatch) -> Result<ApplyOutcome, NodeError> {
        self.ask(|reply| Command::Propose(batch, reply))
    }

    pub fn timed_proposals(&self, batches: Vec<RecordBatch>) -> Result<Vec<Duration>, NodeError> {
        let (reply, answer) = channel();
        self.commands
            .send(Command::TimedProposals(batches, reply))
            .expect("node thread alive");
        answer
            .recv_timeout(WAIT * 10)
            .expect("node answered in time")
    }

    pub fn add_learner(&self, id: NodeId, addr: &str) -> Result<(), NodeError> {
        self.ask(|reply| Command::AddLearner(id, addr.to_string(), reply))
    }

    pub fn add_voter(&self, id: NodeId, addr: &str) -> Result<(), NodeError> {
        self.ask(|reply| Command::AddVoter(id, addr.to_string(), reply))
    }

    pub fn remove_voter(&self, id: NodeId) -> Result<(), NodeError> {
        self.ask(|reply| Command::RemoveVoter(id, reply))
    }

    /// Stops the node as a crash would leave it: its Raft and listener end,
    /// its files stay.
    pub fn stop(mut self) {
        self.ask(Command::Stop);
        if let Some(thread) = self.thread.take() {
            thread.join().expect("node thread ended cleanly");
        }
    }
}

/// A directory removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!(
            "millrace-raft-{tag}-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4()
        ));
        std::fs::create_dir_all(&path).expect("temp dir");
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A loopback address with a port free right now.
pub fn free_addr() -> String {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("probe port");
    probe.local_addr().expect("probe addr").to_string()
}

/// Node configs for voters `1..=voters` (and any learner ids), fast timing.
pub struct Quorum {
    pub dir: TempDir,
    pub addrs: BTreeMap<NodeId, String>,
    pub voters: BTreeMap<NodeId, String>,
    pub nodes: BTreeMap<NodeId, NodeThread>,
    pub snapshot_every_entries: u64,
    /// Applied to every node's config after the fast defaults.
    pub tune: fn(&mut NodeConfig),
}

impl Quorum {
    pub fn new(tag: &str, voters: u64, learners: u64, snapshot_every_entries: u64) -> Quorum {
        let addrs: BTreeMap<NodeId, String> = (1..=voters + learners)
            .map(|id| (id, free_addr()))
            .collect();
        let voter_addrs = addrs
            .iter()
            .filter(|(id, _)| **id <= voters)
            .map(|(id, a)| (*id, a.clone()))
            .collect();
        Quorum {
            dir: TempDir::new(tag),
            addrs,
            voters: voter_addrs,
            nodes: BTreeMap::new(),
            snapshot_every_entries,
            tune: |_| {},
        }
    }

    pub fn log_dir(&self, id: NodeId) -> PathBuf {
        self.dir.0.join(format!("node-{id}"))
    }

    pub fn config(&self, id: NodeId) -> NodeConfig {
        let mut config = NodeConfig::new(id, self.log_dir(id), self.voters.clone());
        config.heartbeat_interval_ms = 100;
        config.election_timeout_min_ms = 500;
        config.election_timeout_max_ms = 1_000;
        config.snapshot_every_entries = self.snapshot_every_entries;
        config.entries_kept_after_snapshot = 2;
        (self.tune)(&mut config);
        config
    }

    pub fn start(&mut self, id: NodeId) {
        let node =
            NodeThread::start(self.config(id), self.addrs[&id].clone()).expect("node starts");
        self.nodes.insert(id, node);
    }

    pub fn start_all_voters(&mut self) {
        let ids: Vec<NodeId> = self.voters.keys().copied().collect();
        for id in ids {
            self.start(id);
        }
    }

    pub fn stop(&mut self, id: NodeId) {
        self.nodes.remove(&id).expect("node running").stop();
    }

    /// Waits until every running voter names the same leader, among the running nodes.
    pub fn wait_for_leader(&self) -> NodeId {
        wait_until("one leader known to every running voter", || {
            let leaders: Vec<Option<NodeId>> = self
                .nodes
                .iter()
                .filter(|(id, _)| self.voters.contains_key(id))
                .map(|(_, node)| node.status().leader)
                .collect();
            match leaders.first() {
                Some(Some(leader))
                    if self.nodes.contains_key(leader)
                        && leaders.iter().all(|l| *l == Some(*leader)) =>
                {
                    Some(*leader)
                }
                _ => None,
            }
        })
    }

    /// Waits until every running node applied up to `image_offset`, and
    /// answers their (equal) images.
    pub fn wait_for_same_image(&self, image_offset: i64) -> Vec<u8> {
        wait_until("every running node applied the same image", || {
            let statuses: Vec<Status> = self.nodes.values().map(NodeThread::status).collect();
            let first = statuses.first()?;
            let same = statuses
                .iter()
                .all(|s| s.image_offset == image_offset && s.image == first.image);
            same.then(|| first.image.clone())
        })
    }

    pub fn node(&self, id: NodeId) -> &NodeThread {
        &self.nodes[&id]
    }
}

/// Polls `check` until it answers, for at most [`WAIT`].
pub fn wait_until<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A batch creating topic `name`.
pub fn topic_batch(name: &str) -> RecordBatch {
    RecordBatch {
        base_offset: 0,
        records: vec![MetadataRecord::Topic(TopicRecord {
            name: name.to_string(),
            topic_id: uuid::Uuid::new_v4(),
        })],
    }
}

/// True when `dir` holds a file named `name`.
pub fn has_file(dir: &Path, name: &str) -> bool {
    dir.join(name).is_file()
}
