//! A cluster node's settings, taken from Kafka's KRaft keys, and the Raft
//! listener it serves: the CONTROLLER listener of a voter, or for a
//! broker-only learner a port of its own kept in the log dir.

use crate::cluster::broker::LifecycleConfig;
use crate::cluster::controller::ControllerConfig;
use crate::cluster::records::Endpoint;
use crate::config::kraft::ProcessRole;
use crate::config::Config;
use crate::local::helper_pool::{run_job, Helpers};
use crate::metadata::kafka_uuid::text_starts_with_dash;
use crate::metadata::store::BrokerIdentity;
use crate::storage::atomic_file::write_atomically;
use glommio::net::TcpListener;
use std::collections::BTreeMap;
use std::net::ToSocketAddrs;
use std::path::PathBuf;

/// Where a learner keeps the port of its Raft listener, so that the address
/// the controllers hold for it stays right across restarts.
const LEARNER_PORT_FILE_NAME: &str = "learner.port";
/// How long a controlled shutdown may wait for the controller.
const CONTROLLED_SHUTDOWN_TIMEOUT_MS: u64 = 30_000;

/// The listener name of the voters' endpoints when `controller.listener.names`
/// is unset (a cluster's config check requires it; tests build configs
/// without it).
const DEFAULT_CONTROLLER_LISTENER_NAME: &str = "CONTROLLER";

/// How one cluster node runs.
#[derive(Clone, Debug)]
pub struct MemberConfig {
    /// `node.id`.
    pub node_id: i32,
    /// The cluster id of the log dirs.
    pub cluster_id: String,
    /// `controller.quorum.voters`: id -> CONTROLLER `host:port`.
    pub voters: BTreeMap<u64, String>,
    /// `controller.quorum.bootstrap.servers`, as `host:port`.
    pub bootstrap: Vec<String>,
    /// `process.roles` has `controller`.
    pub is_voter: bool,
    /// `process.roles` has `broker`.
    pub is_broker: bool,
    /// The client listener's name (the endpoint other brokers advertise).
    pub listener_name: String,
    /// `inter.broker.listener.name` (default: the client listener): the
    /// endpoint followers fetch from.
    pub inter_broker_listener_name: String,
    /// The advertised client listener.
    pub endpoint: Endpoint,
    /// The CONTROLLER listener to bind (voters).
    pub controller_listener: Option<String>,
    /// The first of `controller.listener.names`: the listener name of the
    /// voters' endpoints (DescribeQuorum v2's `Nodes`).
    pub controller_listener_name: String,
    /// `log.dirs`.
    pub log_dir: PathBuf,
    /// The controller's settings.
    pub controller: ControllerConfig,
    /// The broker lifecycle's settings.
    pub lifecycle: LifecycleConfig,
}

/// True when `config` makes this node one member of several.
pub fn is_cluster(config: &Config) -> bool {
    config.cluster_membership().is_some()
}

/// Refuses quorum voters whose host does not resolve (a mistyped name),
/// naming the key.
pub fn check_voters(config: &Config) -> Result<(), String> {
    let kraft = &config.kraft;
    let voters = kraft
        .voters
        .iter()
        .map(|v| (v.endpoint.socket_address(), "controller.quorum.voters"));
    let bootstrap = kraft
        .bootstrap_servers
        .iter()
        .map(|b| (b.socket_address(), "controller.quorum.bootstrap.servers"));
    for (addr, key) in voters.chain(bootstrap) {
        let resolved = addr.to_socket_addrs().map(|mut a| a.next().is_some());
        if !matches!(resolved, Ok(true)) {
            return Err(format!(
                "{key}: controller address {addr} does not resolve to any host; check the \
                 host names in {key}"
            ));
        }
    }
    Ok(())
}

/// The cluster id a new node of this quorum takes when `cluster.id` is not
/// set: derived from the quorum keys, so every node started with the same
/// `controller.quorum.voters` (or bootstrap servers) agrees without a
/// formatting step, and a node of another quorum differs.
pub fn derived_cluster_id(config: &Config) -> String {
    let kraft = &config.kraft;
    let mut members: Vec<String> = kraft
        .voters
        .iter()
        .map(|v| format!("{}@{}", v.id, v.endpoint.socket_address()))
        .collect();
    if members.is_empty() {
        members = kraft
            .bootstrap_servers
            .iter()
            .map(|b| b.socket_address())
            .collect();
    }
    members.sort();
    let text = members.join(",");
    let mut bytes = [0u8; 16];
    for (i, chunk) in bytes.chunks_mut(4).enumerate() {
        let salted = crc32c::crc32c_append(i as u32, text.as_bytes());
        chunk.copy_from_slice(&salted.to_le_bytes());
    }
    if text_starts_with_dash(&uuid::Uuid::from_bytes(bytes)) {
        // Kafka's ids never start with '-' (its tools would read one as an
        // option): the top bit off turns that first digit into 'e'.
        bytes[0] &= 0x7f;
    }
    crate::metadata::store::cluster_id_of(bytes)
}

impl MemberConfig {
    /// The settings of node `identity` from `config` (a cluster's).
    pub fn new(config: &Config, identity: &BrokerIdentity) -> Self {
        let kraft = &config.kraft;
        let is_controller_name =
            |name: &str| kraft.controller_listener_names.iter().any(|n| n == name);
        let listener_name = kraft
            .listeners
            .iter()
            .find(|l| !is_controller_name(&l.name) && l.addr.port == config.listeners.port)
            .map_or_else(|| "PLAINTEXT".to_string(), |l| l.name.clone());
        let advertised = config.advertised_listener();
        let endpoint = Endpoint {
            name: listener_name.clone(),
            host: advertised.host.clone(),
            port: advertised.port,
            security_protocol: 0,
        };
        let controller_listener = kraft
            .listeners
            .iter()
            .find(|l| is_controller_name(&l.name))
            .map(|l| l.addr.socket_address());
        let mut controller = ControllerConfig::new(&identity.cluster_id);
        controller.session_timeout_ms = config.broker_session_timeout_ms;
        controller.broker_heartbeat_interval_ms = config.broker_heartbeat_interval_ms;
        controller.default_replication_factor = config.default_replication_factor;
        controller.num_partitions = config.num_partitions;
        controller.min_insync_replicas = config.min_insync_replicas;
        controller.unclean_leader_election_enable = config.unclean_leader_election_enable;
        controller.delete_topic_enable = config.delete_topic_enable;
        controller.auto_leader_rebalance_enable = config.auto_leader_rebalance_enable;
        controller.leader_imbalance_check_interval_ms = config.leader_imbalance_check_interval_ms;
        controller.leader_imbalance_per_broker_percentage =
            config.leader_imbalance_per_broker_percentage;
        let mut lifecycle =
            LifecycleConfig::new(identity.node_id, &identity.cluster_id, uuid::Uuid::new_v4());
        lifecycle.registration.endpoints = client_endpoints(config, &endpoint);
        lifecycle.heartbeat_interval_ms = config.broker_heartbeat_interval_ms;
        lifecycle.controlled_shutdown_timeout_ms = CONTROLLED_SHUTDOWN_TIMEOUT_MS;
        lifecycle.initial_registration_timeout_ms = config.initial_broker_registration_timeout_ms;
        let is_broker = kraft.has_role(ProcessRole::Broker);
        controller.local_broker =
            is_broker.then_some((identity.node_id, lifecycle.registration.incarnation_id));
        MemberConfig {
            node_id: identity.node_id,
            cluster_id: identity.cluster_id.clone(),
            voters: initial_voters(config, identity.node_id),
            bootstrap: kraft
                .bootstrap_servers
                .iter()
                .map(|b| b.socket_address())
                .collect(),
            is_voter: kraft.has_role(ProcessRole::Controller),
            is_broker,
            inter_broker_listener_name: kraft
                .inter_broker_listener_name
                .clone()
                .unwrap_or_else(|| listener_name.clone()),
            listener_name,
            endpoint,
            controller_listener,
            controller_listener_name: kraft
                .controller_listener_names
                .first()
                .cloned()
                .unwrap_or_else(|| DEFAULT_CONTROLLER_LISTENER_NAME.to_string()),
            log_dir: config.log_dirs.clone(),
            controller,
            lifecycle,
        }
    }

    /// The key naming the controllers.
    pub fn quorum_key(&self) -> &'static str {
        if self.voters.is_empty() {
            "controller.quorum.bootstrap.servers"
        } else {
            "controller.quorum.voters"
        }
    }

    /// Every controller address known, voters first.
    pub fn controller_addrs(&self) -> Vec<String> {
        let mut addrs: Vec<String> = self.voters.values().cloned().collect();
        for addr in &self.bootstrap {
            if !addrs.contains(addr) {
                addrs.push(addr.clone());
            }
        }
        addrs
    }
}

/// The endpoints a broker registers: every client listener, advertised, the
/// main one (`main`) first; followers find `inter.broker.listener.name`'s
/// among them, clients their own listener's.
fn client_endpoints(config: &Config, main: &Endpoint) -> Vec<Endpoint> {
    let others = config.client_listeners.iter().skip(1).map(|l| Endpoint {
        name: l.name.clone(),
        host: l.advertised.host.clone(),
        port: l.advertised.port,
        security_protocol: 0,
    });
    std::iter::once(main.clone()).chain(others).collect()
}

/// `controller.quorum.voters`, or for a standalone controller (its bootstrap
/// servers name only itself) this node alone.
fn initial_voters(config: &Config, node_id: i32) -> BTreeMap<u64, String> {
    let kraft = &config.kraft;
    if let Some(addr) = kraft.standalone_voter_address() {
        return BTreeMap::from([(node_id as u64, addr)]);
    }
    kraft
        .voters
        .iter()
        .map(|v| (v.id as u64, v.endpoint.socket_address()))
        .collect()
}

/// Binds the node's Raft listener: a voter's CONTROLLER listener, or a
/// learner's own port (the one it had before, else a free one, remembered).
/// Returns it with the learner's address to register (`None` for a voter).
///
/// It runs on shard 0 at its start, when the other shards may already serve
/// clients and reach shard 0 over the mesh: the port file is read and
/// written on a control helper, so the reactor never waits on the disk.
pub async fn bind_raft_listener(
    config: &MemberConfig,
) -> Result<(TcpListener, Option<String>), String> {
    if let (true, Some(addr)) = (config.is_voter, &config.controller_listener) {
        let listener = TcpListener::bind(addr.as_str())
            .map_err(|e| format!("listeners: cannot bind the controller listener {addr}: {e}"))?;
        return Ok((listener, None));
    }
    let port_file = config.log_dir.join(LEARNER_PORT_FILE_NAME);
    let remembered = remembered_learner_port(port_file.clone()).await;
    let host = &config.endpoint.host;
    let listener = TcpListener::bind((host.as_str(), remembered))
        .or_else(|_| TcpListener::bind((host.as_str(), 0)))
        .map_err(|e| format!("cannot bind the metadata learner listener on {host}: {e}"))?;
    let port = listener
        .local_addr()
        .map_err(|e| format!("metadata learner listener: {e}"))?
        .port();
    remember_learner_port(config.log_dir.clone(), port)
        .await
        .map_err(|e| format!("{}: {e}", port_file.display()))?;
    let addr = crate::config::listener::ListenerAddr {
        host: host.clone(),
        port,
    };
    Ok((listener, Some(addr.socket_address())))
}

/// The learner port a previous run kept in `port_file`; 0 (any free port)
/// when there is none or it cannot be read. Read on a control helper.
async fn remembered_learner_port(port_file: PathBuf) -> u16 {
    run_job(Helpers::Control, move || {
        std::fs::read_to_string(&port_file)
    })
    .await
    .ok()
    .and_then(Result::ok)
    .and_then(|text| text.trim().parse().ok())
    .unwrap_or(0)
}

/// Keeps `port` in the log dir's port file, replaced atomically (temporary
/// file, fdatasync, rename, directory fsync) on a control helper.
async fn remember_learner_port(log_dir: PathBuf, port: u16) -> std::io::Result<()> {
    let contents = format!("{port}\n");
    run_job(Helpers::Control, move || {
        write_atomically(&log_dir, LEARNER_PORT_FILE_NAME, contents.as_bytes())
    })
    .await
    .map_err(std::io::Error::other)?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_derived_cluster_id_starts_with_a_dash() {
        // One id in 64 would without the fix-up: 1,000 quorums all but surely
        // include one (the chance of none is about 1.5e-7).
        for port in 20_000..21_000 {
            let overrides = [
                "process.roles=broker,controller".to_string(),
                "node.id=1".to_string(),
                format!("controller.quorum.voters=1@127.0.0.1:{port},2@127.0.0.1:9193"),
                format!("listeners=PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:{port}"),
                "controller.listener.names=CONTROLLER".to_string(),
            ];
            let config = Config::load(None, &overrides).expect("a two-voter quorum");
            let id = derived_cluster_id(&config);
            assert!(!id.starts_with('-'), "port {port}: {id}");
        }
    }
}
