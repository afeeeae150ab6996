//! Cluster members (the metadata log, the active controller, the broker
//! lifecycle, the AlterPartition sender: what shard 0 of a broker runs), each
//! on its own glommio executor thread, driven from the test thread by jobs
//! over std channels. Real loopback TCP between them, real files.

use glommio::LocalExecutorBuilder;
use millrace::cluster::broker::LifecycleConfig;
use millrace::cluster::controller::ControllerConfig;
use millrace::cluster::member::view::ClusterView;
use millrace::cluster::member::{Member, MemberConfig, Publish};
use millrace::cluster::records::Endpoint;
use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::mpsc::{channel, Sender, TryRecvError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long a test waits for a condition before failing (generous: the
/// machine is shared).
pub const WAIT: Duration = Duration::from_secs(60);
const TEST_IO_MEMORY_BYTES: usize = 1 << 20;
const JOB_POLL: Duration = Duration::from_millis(2);
const CONDITION_POLL: Duration = Duration::from_millis(50);
const CLUSTER_ID: &str = "member-test-cluster";

/// Work for a member's thread: runs there, against its member.
type Job = Box<dyn FnOnce(Rc<Member>) -> Pin<Box<dyn Future<Output = ()>>> + Send>;

/// A member on its own executor thread.
pub struct MemberThread {
    jobs: Option<Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl MemberThread {
    fn start(config: MemberConfig) -> MemberThread {
        let (jobs, receiver) = channel::<Job>();
        let (ready_tx, ready) = channel();
        let id = config.node_id;
        let thread = std::thread::Builder::new()
            .name(format!("member-{id}"))
            .spawn(move || {
                LocalExecutorBuilder::default()
                    .io_memory(TEST_IO_MEMORY_BYTES)
                    .make()
                    .expect("glommio executor")
                    .run(async move {
                        let publish: Publish = Box::new(|_view| Box::pin(async {}));
                        let member = match Member::start(config, publish).await {
                            Ok(member) => member,
                            Err(e) => {
                                let _ = ready_tx.send(Err(e));
                                return;
                            }
                        };
                        let _ = ready_tx.send(Ok(()));
                        loop {
                            match receiver.try_recv() {
                                Ok(job) => {
                                    glommio::spawn_local(job(member.clone())).detach();
                                }
                                Err(TryRecvError::Empty) => glommio::timer::sleep(JOB_POLL).await,
                                Err(TryRecvError::Disconnected) => break,
                            }
                        }
                        member.stop().await;
                    })
            })
            .expect("member thread");
        ready
            .recv_timeout(WAIT)
            .expect("member started or failed")
            .expect("member starts");
        MemberThread {
            jobs: Some(jobs),
            thread: Some(thread),
        }
    }

    /// Runs `job` on the member's thread and waits for its answer.
    pub fn run<T, F, Fut>(&self, job: F) -> T
    where
        T: Send + 'static,
        F: FnOnce(Rc<Member>) -> Fut + Send + 'static,
        Fut: Future<Output = T> + 'static,
    {
        let (reply, answer) = channel();
        let job: Job = Box::new(move |member| {
            Box::pin(async move {
                let _ = reply.send(job(member).await);
            })
        });
        self.jobs
            .as_ref()
            .expect("running")
            .send(job)
            .expect("member thread alive");
        answer.recv_timeout(WAIT).expect("member answered in time")
    }

    /// The view this member published last.
    pub fn view(&self) -> Option<Arc<ClusterView>> {
        self.run(|member| async move { member.view() })
    }
}

impl Drop for MemberThread {
    fn drop(&mut self) {
        self.jobs.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A directory removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!(
            "millrace-member-{tag}-{}-{}",
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

fn free_addr() -> String {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("probe port");
    probe.local_addr().expect("probe addr").to_string()
}

/// `n` members, each a controller voter and a broker.
pub struct Cluster {
    pub members: BTreeMap<i32, MemberThread>,
    _dir: TempDir,
}

impl Cluster {
    pub fn start(tag: &str, n: i32) -> Cluster {
        let dir = TempDir::new(tag);
        let voters: BTreeMap<u64, String> = (1..=n).map(|id| (id as u64, free_addr())).collect();
        let configs: Vec<MemberConfig> = (1..=n)
            .map(|id| member_config(id, &voters, dir.0.join(format!("node-{id}"))))
            .collect();
        let members = configs
            .into_iter()
            .map(|config| (config.node_id, MemberThread::start(config)))
            .collect();
        Cluster { members, _dir: dir }
    }

    pub fn member(&self, id: i32) -> &MemberThread {
        &self.members[&id]
    }

    /// Waits until every member's view has every broker unfenced.
    pub fn wait_all_unfenced(&self) {
        let n = self.members.len();
        wait_until("every broker unfenced on every member", || {
            self.members.values().all(|m| {
                m.view()
                    .is_some_and(|v| v.brokers.len() == n && v.brokers.iter().all(|b| !b.fenced))
            })
        });
    }
}

fn member_config(id: i32, voters: &BTreeMap<u64, String>, log_dir: PathBuf) -> MemberConfig {
    std::fs::create_dir_all(&log_dir).expect("log dir");
    let endpoint = Endpoint {
        name: "PLAINTEXT".into(),
        host: "127.0.0.1".into(),
        port: 9000 + id as u16,
        security_protocol: 0,
    };
    let mut lifecycle = LifecycleConfig::new(id, CLUSTER_ID, uuid::Uuid::new_v4());
    lifecycle.registration.endpoints = vec![endpoint.clone()];
    let mut controller = ControllerConfig::new(CLUSTER_ID);
    controller.default_replication_factor = 3;
    MemberConfig {
        node_id: id,
        cluster_id: CLUSTER_ID.into(),
        voters: voters.clone(),
        bootstrap: Vec::new(),
        is_voter: true,
        is_broker: true,
        listener_name: "PLAINTEXT".into(),
        inter_broker_listener_name: "PLAINTEXT".into(),
        endpoint,
        controller_listener: Some(voters[&(id as u64)].clone()),
        controller_listener_name: "CONTROLLER".into(),
        log_dir,
        controller,
        lifecycle,
    }
}

/// Polls `condition` until it holds, or fails the test after [`WAIT`].
pub fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(CONDITION_POLL);
    }
}
