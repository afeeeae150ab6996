//! Starting and stopping the broker: checks of the platform, one pinned
//! glommio executor per shard, the shard mesh, and the clean-shutdown marker.

use super::clean_marker;
use super::mesh_join::{join_mesh, MeshHandOut, ShardMesh};
use super::metrics_feed;
use super::placement::offsets_partitions_of;
use super::router::{spawn_receive_loops, Router};
use super::startup_summary::{StartupFacts, StartupSummary};
use super::startup_watch::{ProgressSlot, StartPhase, StartupProgress};
use super::{ClusterState, Lifecycle, ShardContext};
use crate::cluster::member::{Member, MemberConfig, Publish};
use crate::config::Config;
use crate::coordinator::offsets::upgrade;
use crate::coordinator::Coordinator;
use crate::local::cpus::allowed_cpus;
use crate::local::join_all;
use crate::local::notify::LocalEvent;
use crate::metadata::control_plane::ControlPlane;
use crate::metadata::log_config_for;
use crate::metadata::store::{self, BrokerIdentity};
use crate::metadata::topic_table::TopicTable;
use crate::partition::fetch_session::{FetchSessionCache, SessionLimits};
use crate::partition::producer_state::ProducerStateConfig;
use crate::partition::ShardPartitions;
use crate::storage::checkpoint::DirCheckpoints;
use crate::storage::ShardStorage;
use glommio::channels::channel_mesh::MeshBuilder;
use glommio::{LocalExecutorPoolBuilder, PoolPlacement};
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// glommio refuses to start with less locked memory than this.
pub const MEMLOCK_BYTES_MIN: u64 = 512 * 1024;
/// Registered I/O buffer pool per shard when the memlock limit allows it.
pub const IO_MEMORY_BYTES_DEFAULT: usize = 10 << 20;
/// How often shards look at the process-wide shutdown flag.
const SHUTDOWN_POLL_INTERVAL_MS: u64 = 50;
/// How long a shard waits for its connections to finish in-flight requests.
const SHUTDOWN_DRAIN_MS_MAX: u64 = 10_000;
/// Exit code of a forced exit (second signal or shutdown past its bound): 128 + SIGINT, as shells report it.
const EXIT_FORCED: i32 = 130;
/// Concurrent partition opens per shard at start-up.
const PARTITION_OPEN_CONCURRENCY_MAX: usize = 16;
/// Threads per shard of glommio's blocking pool: storage work only (glommio's
/// own truncate, rename, remove, mkdir; a deleted partition's files). Client
/// sends and control-plane writes have helper pools of their own
/// (`server::send`, `local::helper_pool`), so they never delay a roll.
const BLOCKING_THREADS_PER_SHARD: usize = 2;

/// Why the broker could not start or stopped uncleanly.
#[derive(Debug)]
pub struct StartError(pub String);

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Set by the signal thread; shards poll it.
static SHUTDOWN_REQUESTED: AtomicBool = AtomicBool::new(false);
/// Set by shard 0 of a cluster member once the controller let it go.
static CONTROLLED_SHUTDOWN_DONE: AtomicBool = AtomicBool::new(false);
/// The broker epoch the controller let exit in the controlled shutdown, or
/// -1: written into the clean-shutdown marker for the next registration.
static EXITED_BROKER_EPOCH: AtomicI64 = AtomicI64::new(-1);
/// The shard that runs a cluster member's metadata log and lifecycle.
const CLUSTER_SHARD: usize = 0;
/// Longest SIGTERM waits for the controller to move leaderships away.
const CONTROLLED_SHUTDOWN_WAIT_MS_MAX: u64 = 20_000;

/// What every shard needs at start-up.
struct Startup {
    /// This node is one of a cluster (the metadata log runs on shard 0).
    cluster: bool,
    config: Arc<Config>,
    identity: BrokerIdentity,
    topics: Arc<TopicTable>,
    clean_start: bool,
    /// The broker epoch the previous run's controlled shutdown ended, or -1.
    previous_broker_epoch: i64,
    /// The log directory's checkpoint files (each shared by the shards).
    checkpoints: DirCheckpoints,
    nr_shards: usize,
    drained_shards: AtomicUsize,
    ready_shards: AtomicUsize,
    summary: StartupSummary,
    frontend: Arc<Frontend>,
    metrics: Arc<crate::metrics::Registry>,
    progress: StartupProgress,
}

/// What serves clients on each shard, given by the layer above (the
/// server): binds the shard's listener (an error keeps the broker from
/// starting) and returns the task that accepts connections until shutdown
/// begins.
pub type Frontend =
    dyn Fn(&Rc<ShardContext>) -> Result<ServeClients, String> + Send + Sync + 'static;
/// A shard's client-serving task (see [`Frontend`]).
pub type ServeClients = Pin<Box<dyn Future<Output = ()>>>;

/// Runs the broker until SIGTERM/SIGINT, serving clients on every shard with
/// `frontend`; returns after a clean shutdown.
pub fn run(mut config: Config, frontend: Arc<Frontend>) -> Result<(), StartError> {
    // Before anything is written and before any Raft instance runs: a voter
    // not listening where the voters line names it (a copied file) could
    // vote as that voter with an empty log.
    if crate::cluster::member::is_cluster(&config) {
        crate::cluster::member::refuse_misplaced_voter(&config).map_err(StartError)?;
    }
    let data_dir = config.log_dirs.clone();
    std::fs::create_dir_all(&data_dir)
        .map_err(|e| StartError(format!("log.dirs {}: {e}", data_dir.display())))?;
    // Before anything in the directory is read or written; held until exit.
    let _data_dir_lock = super::data_dir_lock::lock_data_dir(&data_dir).map_err(StartError)?;
    let fresh = !data_dir.join(store::META_PROPERTIES_FILE_NAME).exists();
    let cluster = crate::cluster::member::is_cluster(&config);
    // Before anything is written: a port another process listens on refuses the start.
    let _port_claims =
        super::listen_probe::refuse_listeners_in_use(&config, cluster).map_err(StartError)?;
    let derived = (cluster && fresh && config.cluster_id.is_none())
        .then(|| crate::cluster::member::derived_cluster_id(&config));
    let cluster_id = config.cluster_id.as_deref().or(derived.as_deref());
    let identity = store::load_or_create_identity(&data_dir, config.node_id, cluster_id)
        .map_err(|e| StartError(format!("broker identity: {e}")))?;
    // A cluster's topics are the metadata log's: the shards get them from it.
    let topics = if cluster {
        TopicTable::default()
    } else {
        store::load_topics(&data_dir).map_err(|e| StartError(format!("topic registry: {e}")))?
    };
    let previous = clean_marker::take(&data_dir).map_err(StartError)?;
    let clean_start = previous.clean;
    config.offsets_topic_num_partitions =
        upgrade::prepare(&data_dir, config.offsets_topic_num_partitions)
            .map_err(|e| StartError(format!("offsets partitions: {e}")))?;
    let checkpoints = DirCheckpoints::load(&data_dir);
    check_io_uring()?;
    let nr_shards = shard_count(&config);
    let io_memory = io_memory_per_shard(&config, nr_shards)?;
    resolve_recent_bytes_per_shard(&mut config, nr_shards);
    super::memory_pressure::resolve_available_min(&mut config);
    // The offsets partitions' logs beside the topics' partitions.
    let partitions = topics
        .iter()
        .map(|t| t.partitions.max(0) as u64)
        .sum::<u64>();
    let offsets_partitions = config.offsets_topic_num_partitions as u64;
    let sealed_segments = super::open_files::sealed_segments_on_disk(&data_dir).map_err(|e| {
        StartError(format!(
            "cannot count the segments in {}: {e}",
            data_dir.display()
        ))
    })?;
    let logs = super::open_files::LogFiles {
        partitions: partitions + offsets_partitions,
        sealed_segments,
    };
    let budget =
        super::open_files::ensure_open_file_limit(logs, config.read_handles_per_shard, nr_shards)
            .map_err(StartError)?;
    log::info!("{}", budget.describe());
    config.read_handles_per_shard = budget.read_handles_per_shard;
    config.open_files_partitions_max = budget.partitions_max();
    install_signal_thread(config.shutdown_timeout_ms)?;
    let previous_shutdown = match (fresh, clean_start) {
        (true, _) => "none (new data directory)",
        (false, true) => "clean",
        (false, false) => "unclean (recovery runs)",
    };
    log::info!(
        "millrace {} starting: node.id {} cluster.id {} | {} shard(s) | listener {} | log.dirs {} | {} topic(s) | previous shutdown {} | io_memory {} KiB per shard",
        env!("CARGO_PKG_VERSION"),
        identity.node_id,
        identity.cluster_id,
        nr_shards,
        config.client_listeners_text(),
        data_dir.display(),
        topics.len(),
        previous_shutdown,
        io_memory / 1024
    );
    let summary = StartupSummary::new(&StartupFacts {
        config: &config,
        node_id: identity.node_id,
        cluster_id: &identity.cluster_id,
        nr_shards,
        topics: topics.len(),
        previous_shutdown,
        io_memory_bytes: io_memory,
        shutdown_timeout_ms: config.shutdown_timeout_ms,
    });
    let mesh = MeshBuilder::full(nr_shards, config.shard_channel_capacity);
    let metrics = crate::metrics::start_endpoint(config.http_listener.as_deref(), nr_shards);
    let startup = Arc::new(Startup {
        cluster,
        config: Arc::new(config),
        identity,
        topics: Arc::new(topics),
        clean_start,
        previous_broker_epoch: previous.broker_epoch,
        checkpoints,
        nr_shards,
        drained_shards: AtomicUsize::new(0),
        ready_shards: AtomicUsize::new(0),
        summary,
        frontend,
        metrics,
        progress: StartupProgress::new(nr_shards),
    });
    let results = start_pool(&startup, mesh, io_memory)?;
    let failures: Vec<String> = results.into_iter().filter_map(Result::err).collect();
    if !failures.is_empty() {
        return Err(StartError(failures.join("; ")));
    }
    let exited_epoch = EXITED_BROKER_EPOCH.swap(-1, Ordering::AcqRel);
    clean_marker::write(&data_dir, exited_epoch).map_err(StartError)?;
    let (allocations, allocated_bytes) = crate::alloc_stats::totals();
    if allocations > 0 {
        let (requests, batches) = crate::alloc_stats::work_totals();
        log::info!(
            "allocations during the run: {allocations} ({allocated_bytes} bytes); requests {requests}; produced batches {batches}"
        );
    }
    log::info!("millrace stopped cleanly");
    Ok(())
}

fn start_pool(
    startup: &Arc<Startup>,
    mesh: ShardMesh,
    io_memory: usize,
) -> Result<Vec<Result<(), String>>, StartError> {
    let nr_shards = startup.nr_shards;
    let online = allowed_cpus().filter(|cpus| cpus.len() >= nr_shards);
    let placement = match online {
        Some(cpus) => PoolPlacement::MaxSpread(nr_shards, Some(cpus)),
        None => {
            log::warn!("num.shards {nr_shards} exceeds the cores this process may use: shards are not pinned");
            PoolPlacement::Unbound(nr_shards)
        }
    };
    let shard_startup = startup.clone();
    let meshes = Arc::new(MeshHandOut::new(mesh, nr_shards));
    let handles = LocalExecutorPoolBuilder::new(placement)
        .name("millrace-shard")
        .io_memory(io_memory)
        .blocking_thread_pool_placement(PoolPlacement::Unbound(BLOCKING_THREADS_PER_SHARD))
        .on_all_shards(move || {
            let startup = shard_startup.clone();
            let meshes = meshes.clone();
            async move {
                let slot = startup.progress.claim_slot();
                let result = match meshes.take() {
                    Ok(mesh) => shard_main(startup.clone(), mesh, slot).await,
                    Err(error) => Err(error),
                };
                if let Err(error) = &result {
                    startup.progress.fail(slot, error);
                }
                result
            }
        })
        .map_err(|e| StartError(format!("cannot start shard executors: {e}")))?;
    // The shard threads cannot be cancelled: a start that fails or stalls
    // returns here and the process exits without waiting for them.
    let stall_timeout = Duration::from_millis(startup.config.startup_timeout_ms);
    startup
        .progress
        .wait_until_ready(stall_timeout)
        .map_err(StartError)?;
    Ok(handles
        .join_all()
        .into_iter()
        .map(|joined| {
            joined
                .map_err(|e| format!("shard thread failed: {e}"))
                .and_then(|r| r)
        })
        .collect())
}

async fn shard_main(
    startup: Arc<Startup>,
    mesh: ShardMesh,
    slot: ProgressSlot,
) -> Result<(), String> {
    let progress = &startup.progress;
    progress.enter(slot, StartPhase::JoiningMesh);
    let (senders, receivers) = join_mesh(mesh).await?;
    let shard_id = senders.peer_id();
    progress.identify(slot, shard_id);
    startup.summary.record_shard_cpu(shard_id);
    let config = startup.config.clone();
    crate::storage::io::install_configured_plan(&config.storage_fault_plan, shard_id)?;
    crate::storage::read_handles::configure(config.read_handles_per_shard);
    let limits = config.storage_limits();
    let storage = ShardStorage::new(
        shard_id,
        config.log_dirs.clone(),
        limits,
        startup.checkpoints.clone(),
    );
    let shutting_down = LocalEvent::default();
    let control = Rc::new(ControlPlane::new(shard_id, startup.topics.clone()));
    let offsets_partitions = offsets_partitions_of(
        shard_id,
        config.offsets_topic_num_partitions,
        startup.nr_shards,
    );
    let coordinator = Coordinator::new(
        &config,
        shard_id,
        control.topics.clone(),
        &offsets_partitions,
    );
    // A cluster's offsets partitions are those of the replicated topic.
    let coordinator = match startup.cluster {
        true => coordinator.in_cluster(),
        false => coordinator,
    };
    let ctx = Rc::new(ShardContext {
        shard_id,
        nr_shards: startup.nr_shards,
        config: config.clone(),
        identity: startup.identity.clone(),
        router: Router::new(shard_id, Some(senders)),
        partitions: ShardPartitions::new(
            storage,
            producer_state_config(&config),
            shutting_down.clone(),
        ),
        control,
        coordinator: Rc::new(coordinator),
        fetch_sessions: RefCell::new(FetchSessionCache::new(
            SessionLimits::for_shard(
                shard_id,
                startup.nr_shards,
                config.max_incremental_fetch_session_cache_slots,
            ),
            uuid::Uuid::new_v4().as_u64_pair().0,
        )),
        lifecycle: Lifecycle {
            clean_start: startup.clean_start,
            previous_broker_epoch: startup.previous_broker_epoch,
            shutting_down,
            connections: Cell::new(0),
        },
        cluster: ClusterState {
            enabled: startup.cluster,
            ..ClusterState::default()
        },
    });
    progress.enter(slot, StartPhase::OpeningPartitions);
    if startup.cluster {
        ctx.partitions.join_cluster();
    }
    open_owned_partitions(&ctx, &|owned, opened| {
        progress.partitions_owned(slot, owned);
        if opened {
            progress.partition_opened(slot);
        }
    })
    .await?;
    progress.enter(slot, StartPhase::StartingCoordinator);
    ctx.coordinator.start(&ctx.lifecycle.shutting_down).await?;
    metrics_feed::attach(&ctx, &startup.metrics);
    super::memory_pressure::spawn_check(&ctx, config.recent_memory_available_min_bytes);
    ctx.partitions
        .storage()
        .start_background(config.log_retention_check_interval_ms);
    ctx.partitions
        .start_recovery_points(config.log_flush_offset_checkpoint_interval_ms);
    ctx.partitions
        .start_high_watermark_checkpoints(config.replica_high_watermark_checkpoint_interval_ms);
    spawn_receive_loops(&ctx, receivers);
    if startup.cluster && shard_id == CLUSTER_SHARD {
        start_cluster_member(&ctx).await?;
    }
    spawn_shutdown_watch(&ctx);
    progress.enter(slot, StartPhase::BindingListener);
    let serve_clients = serve_clients(&startup, &ctx)?;
    progress.enter(slot, StartPhase::Ready);
    if caught_up_or_shutting_down(&startup, &ctx).await {
        if startup.ready_shards.fetch_add(1, Ordering::AcqRel) + 1 == startup.nr_shards {
            log::info!("{}", startup.summary.render());
            log_ready(&config);
            startup.metrics.set_ready();
        }
        serve_clients.await;
    }
    startup.metrics.set_stopping();
    drain_connections(&ctx).await;
    wait_for_all_shards(&startup.drained_shards, startup.nr_shards).await;
    let member = ctx.cluster.member.borrow_mut().take();
    if let Some(member) = member {
        member.stop().await;
    }
    ctx.partitions
        .shutdown()
        .await
        .map_err(|e| format!("shard {shard_id}: storage shutdown failed: {e}"))?;
    log::info!("shard {shard_id}: stopped");
    Ok(())
}

/// A cluster's broker serves clients once this shard adopted a view holding
/// its own registration, as Kafka's broker enables request processing only
/// once it has caught up with the metadata log that far: before, a
/// restarted broker answered an existing topic UNKNOWN_TOPIC_OR_PART from
/// the image it started with, and librdkafka drops a topic's partitions on
/// that answer. Connections made meanwhile wait in the listen backlog. A
/// broker the controller never registers exits after
/// `initial.broker.registration.timeout.ms`; a controller joining with
/// `controller.quorum.bootstrap.servers` follows the log, and so serves,
/// once it is added as a voter. False when shutdown began first.
async fn caught_up_or_shutting_down(startup: &Startup, ctx: &Rc<ShardContext>) -> bool {
    if !(startup.cluster && startup.config.kraft.serves_clients()) {
        return true;
    }
    let caught_up = futures_lite::future::or(
        async {
            ctx.cluster.caught_up.wait().await;
            true
        },
        async {
            ctx.lifecycle.shutting_down.wait().await;
            false
        },
    )
    .await;
    if caught_up {
        log::info!(
            "shard {}: caught up with the cluster metadata (this broker registered): serving clients",
            ctx.shard_id
        );
    }
    caught_up
}

/// The shard's client-serving task; a dedicated controller serves no
/// clients (its CONTROLLER listener is the metadata quorum's), so its task
/// only waits for the shutdown.
fn serve_clients(startup: &Startup, ctx: &Rc<ShardContext>) -> Result<ServeClients, String> {
    if startup.config.kraft.serves_clients() {
        return (startup.frontend)(ctx);
    }
    let shutting_down = ctx.lifecycle.shutting_down.clone();
    Ok(Box::pin(async move { shutting_down.wait().await }))
}

fn log_ready(config: &Config) {
    if config.kraft.serves_clients() {
        log::info!(
            "millrace ready: listening on {}",
            config.client_listeners_text()
        );
    } else {
        let named = config
            .kraft
            .listeners
            .iter()
            .find(|l| l.addr == config.listeners);
        log::info!(
            "millrace ready: a dedicated controller (process.roles=controller) on its \
             listener {}; it serves clients no data, brokers do (admin clients with \
             bootstrap.controllers reach its ApiVersions, DescribeCluster and DescribeQuorum)",
            named.map_or_else(|| config.listeners.to_string(), ToString::to_string)
        );
    }
}

fn producer_state_config(config: &Config) -> ProducerStateConfig {
    ProducerStateConfig {
        producers_max: config.producer_ids_per_partition_max,
        expiration_ms: config.producer_id_expiration_ms as i64,
    }
}

/// Opens the partitions this shard owns; `on_progress(owned, opened)` hears
/// how many it owns, then each one opened.
async fn open_owned_partitions(
    ctx: &Rc<ShardContext>,
    on_progress: &dyn Fn(usize, bool),
) -> Result<(), String> {
    let table = ctx.topic_table();
    let mut owned = Vec::new();
    for topic in table.iter() {
        for partition in 0..topic.partitions {
            if ctx.owner_of(&topic.name, partition) == ctx.shard_id {
                owned.push((topic.clone(), partition));
            }
        }
    }
    ctx.partitions
        .storage()
        .prime_io()
        .await
        .map_err(|e| format!("shard {}: {e}", ctx.shard_id))?;
    let owned_count = owned.len();
    on_progress(owned_count, false);
    let started = Instant::now();
    for chunk in owned.chunks(PARTITION_OPEN_CONCURRENCY_MAX) {
        let opens = chunk.iter().map(|(topic, partition)| {
            let log_config = log_config_for(&ctx.config, topic);
            let partitions = ctx.partitions.clone();
            let name = topic.name.clone();
            let topic_id = Some(topic.id);
            let partition = *partition;
            let clean = ctx.lifecycle.clean_start;
            async move {
                let opened = partitions
                    .open(&name, partition, topic_id, log_config, clean)
                    .await
                    .map_err(|e| format!("cannot open {name}-{partition}: {e}"));
                on_progress(owned_count, opened.is_ok());
                opened
            }
        });
        for result in join_all(opens).await {
            result?;
        }
    }
    log::info!(
        "shard {}: {} partition(s) open in {} ms, {} bytes checked past recovery points",
        ctx.shard_id,
        owned.len(),
        started.elapsed().as_millis(),
        ctx.partitions.storage().checked_bytes()
    );
    Ok(())
}

/// Starts this node's cluster member on shard 0: the metadata log, the
/// controller when this node leads, the broker lifecycle; its views reach
/// every shard over the mesh.
async fn start_cluster_member(ctx: &Rc<ShardContext>) -> Result<(), String> {
    let mut member_config = MemberConfig::new(&ctx.config, &ctx.identity);
    member_config.lifecycle.registration.previous_broker_epoch =
        ctx.lifecycle.previous_broker_epoch;
    let weak = Rc::downgrade(ctx);
    let publish: Publish = Box::new(move |view| {
        let weak = weak.clone();
        Box::pin(async move {
            if let Some(ctx) = weak.upgrade() {
                if let Err(e) = super::calls::cluster::publish(&ctx, view).await {
                    log::error!("cluster metadata not adopted: {e}");
                }
            }
        })
    });
    let member = Member::start(member_config, publish).await?;
    *ctx.cluster.member.borrow_mut() = Some(member);
    Ok(())
}

/// In a cluster, SIGTERM first moves this broker's leaderships away (the
/// controller says when); shard 0 does it, the other shards wait for it.
async fn controlled_shutdown(ctx: &Rc<ShardContext>) {
    if !ctx.cluster.enabled {
        return;
    }
    let member = ctx.cluster.member.borrow().clone();
    let deadline = Instant::now() + Duration::from_millis(CONTROLLED_SHUTDOWN_WAIT_MS_MAX);
    match member {
        Some(member) => {
            log::info!("controlled shutdown: moving leaderships away");
            let waited = futures_lite::future::or(
                async { Some(member.controlled_shutdown().await) },
                async {
                    glommio::timer::sleep(deadline - Instant::now()).await;
                    None
                },
            )
            .await;
            if let Some(Some(epoch)) = waited {
                EXITED_BROKER_EPOCH.store(epoch, Ordering::Release);
            }
            if waited.is_none() {
                log::warn!("controlled shutdown: no answer in {CONTROLLED_SHUTDOWN_WAIT_MS_MAX} ms; stopping anyway");
            }
            CONTROLLED_SHUTDOWN_DONE.store(true, Ordering::Release);
        }
        None => {
            while !CONTROLLED_SHUTDOWN_DONE.load(Ordering::Acquire) && Instant::now() < deadline {
                glommio::timer::sleep(Duration::from_millis(SHUTDOWN_POLL_INTERVAL_MS)).await;
            }
        }
    }
}

fn spawn_shutdown_watch(ctx: &Rc<ShardContext>) {
    let ctx = ctx.clone();
    glommio::spawn_local(async move {
        while !SHUTDOWN_REQUESTED.load(Ordering::Acquire) {
            glommio::timer::sleep(Duration::from_millis(SHUTDOWN_POLL_INTERVAL_MS)).await;
        }
        controlled_shutdown(&ctx).await;
        log::info!("shard {}: shutting down", ctx.shard_id);
        ctx.lifecycle.shutting_down.fire();
    })
    .detach();
}

async fn drain_connections(ctx: &Rc<ShardContext>) {
    let deadline = Instant::now() + Duration::from_millis(SHUTDOWN_DRAIN_MS_MAX);
    while ctx.lifecycle.connections.get() > 0 && Instant::now() < deadline {
        glommio::timer::sleep(Duration::from_millis(SHUTDOWN_POLL_INTERVAL_MS)).await;
    }
    if ctx.lifecycle.connections.get() > 0 {
        log::warn!(
            "shard {}: {} connection(s) still open after {SHUTDOWN_DRAIN_MS_MAX} ms; closing",
            ctx.shard_id,
            ctx.lifecycle.connections.get()
        );
    }
}

/// Storage stops only after every shard stopped taking requests, so no shard
/// appends to a log that was already flushed for the marker.
async fn wait_for_all_shards(drained: &AtomicUsize, nr_shards: usize) {
    drained.fetch_add(1, Ordering::AcqRel);
    let deadline = Instant::now() + Duration::from_millis(SHUTDOWN_DRAIN_MS_MAX);
    while drained.load(Ordering::Acquire) < nr_shards && Instant::now() < deadline {
        glommio::timer::sleep(Duration::from_millis(SHUTDOWN_POLL_INTERVAL_MS)).await;
    }
}

fn shard_count(config: &Config) -> usize {
    if config.num_shards > 0 {
        return config.num_shards;
    }
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

fn check_io_uring() -> Result<(), StartError> {
    if let Err(err) = io_uring::IoUring::new(4) {
        let disabled = std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled")
            .map(|v| v.trim().to_string())
            .unwrap_or_else(|_| "unknown".into());
        return Err(StartError(format!(
            "io_uring is not available ({err}); kernel.io_uring_disabled = {disabled}. \
             millrace needs io_uring: set kernel.io_uring_disabled=0, and in containers allow \
             io_uring_setup/io_uring_enter/io_uring_register in the seccomp profile (see tuning.md)"
        )));
    }
    Ok(())
}

/// An unset `log.recent.bytes.per.shard.max` becomes its share of the
/// memory (`memory_share.rs`), said once in the log.
fn resolve_recent_bytes_per_shard(config: &mut Config, nr_shards: usize) {
    if config.recent_bytes_per_shard_max.is_some() {
        return;
    }
    let memory = super::memory_share::broker_memory_bytes();
    let per_shard = super::memory_share::recent_bytes_per_shard(memory, nr_shards);
    log::info!(
        "log.recent.bytes.per.shard.max = {} MiB: 1/{} of {} divided among {nr_shards} shard(s); \
         set the key to keep more or less recent data in memory",
        per_shard >> 20,
        super::memory_share::RECENT_MEMORY_SHARE_DIVISOR,
        memory.map_or(
            "an unknown memory size (the fallback)".to_string(),
            |bytes| format!("{} MiB of memory", bytes >> 20)
        ),
    );
    config.recent_bytes_per_shard_max = Some(per_shard);
}

/// Sizes glommio's registered buffer pool to what the memlock limit allows,
/// after raising the soft limit to the hard one.
fn io_memory_per_shard(config: &Config, nr_shards: usize) -> Result<usize, StartError> {
    if config.io_memory_bytes > 0 {
        return Ok(config.io_memory_bytes);
    }
    let limit = raise_memlock_soft_limit();
    if has_cap_ipc_lock() || limit == u64::MAX {
        return Ok(IO_MEMORY_BYTES_DEFAULT);
    }
    if limit < MEMLOCK_BYTES_MIN {
        return Err(StartError(format!(
            "locked-memory limit is {} KiB; glommio needs at least {} KiB. Raise it (ulimit -l, \
             LimitMEMLOCK= in the systemd unit, or --ulimit memlock in Docker; see tuning.md)",
            limit / 1024,
            MEMLOCK_BYTES_MIN / 1024
        )));
    }
    let per_shard = (limit - MEMLOCK_BYTES_MIN) / nr_shards as u64;
    Ok((per_shard as usize).min(IO_MEMORY_BYTES_DEFAULT))
}

fn raise_memlock_soft_limit() -> u64 {
    super::open_files::raise_soft_limit(libc::RLIMIT_MEMLOCK, u64::MAX)
        .map_or(0, |limit| limit.soft)
}

fn has_cap_ipc_lock() -> bool {
    const CAP_IPC_LOCK: u32 = 14;
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("CapEff:"))
                .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        })
        .is_some_and(|caps| caps & (1 << CAP_IPC_LOCK) != 0)
}

/// Blocks SIGTERM/SIGINT in every thread and handles them on one thread:
/// the first asks for a clean shutdown, the second exits at once, and so does
/// a shutdown still running after `shutdown_timeout_ms` (without the clean
/// marker, so the next start recovers).
fn install_signal_thread(shutdown_timeout_ms: u64) -> Result<(), StartError> {
    let set = crate::logging::block_shutdown_signals()
        .map_err(|e| StartError(format!("cannot block SIGTERM/SIGINT: {e}")))?;
    std::thread::Builder::new()
        .name("millrace-signals".into())
        .spawn(move || {
            let first = wait_for_signal(&set, None);
            SHUTDOWN_REQUESTED.store(true, Ordering::Release);
            log::info!(
                "signal {first}: shutting down cleanly within shutdown.timeout.ms {shutdown_timeout_ms} (send it again to force exit)"
            );
            let deadline = Instant::now() + Duration::from_millis(shutdown_timeout_ms);
            match wait_for_signal(&set, Some(deadline)) {
                0 => log::error!(
                    "shutdown still running after shutdown.timeout.ms {shutdown_timeout_ms}: exiting without a clean shutdown"
                ),
                second => log::warn!("second signal {second}: exiting without a clean shutdown"),
            }
            log::logger().flush();
            std::process::exit(EXIT_FORCED);
        })
        .map(|_| ())
        .map_err(|e| StartError(format!("cannot start the signal thread: {e}")))
}

/// Waits for a signal of `set` (blocked in every thread); returns its number,
/// or 0 once `deadline` passed.
fn wait_for_signal(set: &libc::sigset_t, deadline: Option<Instant>) -> libc::c_int {
    loop {
        let Some(deadline) = deadline else {
            let mut signal: libc::c_int = 0;
            // SAFETY: sigwait on a set blocked in every thread.
            if unsafe { libc::sigwait(set, &mut signal) } == 0 {
                return signal;
            }
            continue;
        };
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return 0;
        }
        let timeout = libc::timespec {
            tv_sec: left.as_secs() as libc::time_t,
            tv_nsec: left.subsec_nanos() as libc::c_long,
        };
        // SAFETY: sigtimedwait on a set blocked in every thread; no siginfo wanted.
        let signal = unsafe { libc::sigtimedwait(set, std::ptr::null_mut(), &timeout) };
        if signal > 0 {
            return signal;
        }
        // EAGAIN (timed out) or EINTR: the loop re-checks the deadline.
    }
}
