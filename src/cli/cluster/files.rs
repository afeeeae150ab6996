//! The Kafka KRaft server.properties of each node of a local cluster
//! (`millrace cluster local`): the same keys an operator writes for Apache
//! Kafka, ports and directories differing per node.

use std::path::{Path, PathBuf};

/// Host every local node listens on.
pub const LOCAL_HOST: &str = "127.0.0.1";
/// Controller voters at most: Kafka's advice for a small cluster; further
/// nodes are brokers that follow the metadata log.
pub const VOTERS_MAX: u32 = 3;
/// Ports between two nodes' first ports: node `i` (from 1) listens for
/// clients on `base + (i-1) * PORT_STRIDE`, its CONTROLLER listener one
/// above, its HTTP endpoint two above (9092/9093, 9192/9193, ... as in
/// Kafka's multi-node examples).
pub const PORT_STRIDE: u32 = 100;
/// Offset of a node's CONTROLLER port from its client port.
const CONTROLLER_PORT_OFFSET: u32 = 1;
/// Offset of a node's HTTP (metrics, health) port from its client port.
const HTTP_PORT_OFFSET: u32 = 2;
/// Name of each node's configuration file in its directory.
pub const CONFIG_FILE_NAME: &str = "server.properties";
/// Name of each node's log (its stdout and stderr) in its directory.
pub const LOG_FILE_NAME: &str = "millrace.log";

/// One node of a local cluster: where it listens and keeps its files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalNode {
    /// `node.id`, from 1.
    pub node_id: u32,
    /// Client (PLAINTEXT) port.
    pub client_port: u16,
    /// CONTROLLER port of a voter; `None` for a broker-only node.
    pub controller_port: Option<u16>,
    /// HTTP endpoint port.
    pub http_port: u16,
    /// The node's directory: its file, log and data dir.
    pub dir: PathBuf,
}

impl LocalNode {
    /// Its `process.roles`.
    pub fn roles(&self) -> &'static str {
        if self.controller_port.is_some() {
            "broker,controller"
        } else {
            "broker"
        }
    }

    /// `host:port` clients connect to.
    pub fn bootstrap(&self) -> String {
        format!("{LOCAL_HOST}:{}", self.client_port)
    }

    /// Its server.properties.
    pub fn config_file(&self) -> PathBuf {
        self.dir.join(CONFIG_FILE_NAME)
    }

    /// Where its stdout and stderr go.
    pub fn log_file(&self) -> PathBuf {
        self.dir.join(LOG_FILE_NAME)
    }

    /// Its `log.dirs`.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }
}

/// The nodes of a cluster of `brokers` under `dir`, the first
/// min(brokers, [`VOTERS_MAX`]) of them controller voters. Fails when a
/// port would pass 65535.
pub fn plan(brokers: u32, dir: &Path, base_port: u16) -> Result<Vec<LocalNode>, String> {
    let voters = brokers.min(VOTERS_MAX);
    (1..=brokers)
        .map(|node_id| {
            let client = u32::from(base_port) + (node_id - 1) * PORT_STRIDE;
            let port = |offset: u32| {
                u16::try_from(client + offset).map_err(|_| {
                    format!(
                        "--base-port {base_port} with {brokers} brokers needs port {} (above 65535)",
                        client + offset
                    )
                })
            };
            Ok(LocalNode {
                node_id,
                client_port: port(0)?,
                controller_port: if node_id <= voters {
                    Some(port(CONTROLLER_PORT_OFFSET)?)
                } else {
                    None
                },
                http_port: port(HTTP_PORT_OFFSET)?,
                dir: dir.join(format!("node-{node_id}")),
            })
        })
        .collect()
}

/// `controller.quorum.voters` of the cluster: `id@host:port,...`.
pub fn quorum_voters(nodes: &[LocalNode]) -> String {
    let voters: Vec<String> = nodes
        .iter()
        .filter_map(|n| {
            n.controller_port
                .map(|port| format!("{}@{LOCAL_HOST}:{port}", n.node_id))
        })
        .collect();
    voters.join(",")
}

/// The server.properties text of `node` in a cluster with `voters`, each
/// node keeping at most `recent_bytes` of recent batches in memory.
pub fn properties(node: &LocalNode, voters: &str, recent_bytes: usize) -> String {
    let mut listeners = format!("PLAINTEXT://{LOCAL_HOST}:{}", node.client_port);
    if let Some(port) = node.controller_port {
        listeners.push_str(&format!(",CONTROLLER://{LOCAL_HOST}:{port}"));
    }
    format!(
        "# Written by `millrace cluster local`: node {id} of a local development cluster.\n\
         process.roles={roles}\n\
         node.id={id}\n\
         controller.quorum.voters={voters}\n\
         listeners={listeners}\n\
         advertised.listeners=PLAINTEXT://{LOCAL_HOST}:{client}\n\
         inter.broker.listener.name=PLAINTEXT\n\
         controller.listener.names=CONTROLLER\n\
         listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT\n\
         log.dirs={data}\n\
         num.partitions=1\n\
         # Kafka's defaults: a broker not heard from for the session timeout is fenced and\n\
         # its partitions get new leaders (sooner when its connections closed: a crash).\n\
         broker.session.timeout.ms=9000\n\
         broker.heartbeat.interval.ms=2000\n\
         # millrace's own keys: one shard per node (several nodes share this machine's cores),\n\
         # and each node's HTTP endpoint on its own port.\n\
         num.shards=1\n\
         http.listener={LOCAL_HOST}:{http}\n\
         # The nodes share this machine's memory: together they keep at most what one\n\
         # broker would keep of its recent data (an eighth of the memory).\n\
         log.recent.bytes.per.shard.max={recent_bytes}\n",
        id = node.node_id,
        roles = node.roles(),
        client = node.client_port,
        data = node.data_dir().display(),
        http = node.http_port,
    )
}

/// Writes every node's directory, data dir and server.properties (an
/// earlier cluster's data in `dir` is kept: the same cluster starts again).
pub fn write_all(nodes: &[LocalNode]) -> std::io::Result<()> {
    let voters = quorum_voters(nodes);
    let memory = crate::shard::memory_share::broker_memory_bytes();
    let recent_bytes = crate::shard::memory_share::recent_bytes_per_shard(memory, nodes.len());
    for node in nodes {
        std::fs::create_dir_all(node.data_dir())?;
        std::fs::write(node.config_file(), properties(node, &voters, recent_bytes))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn five_nodes_have_three_voters_and_distinct_ports() {
        let nodes = plan(5, Path::new("/tmp/c"), 9092).unwrap();
        assert_eq!(
            quorum_voters(&nodes),
            "1@127.0.0.1:9093,2@127.0.0.1:9193,3@127.0.0.1:9293"
        );
        let roles: Vec<&str> = nodes.iter().map(LocalNode::roles).collect();
        assert_eq!(
            roles,
            [
                "broker,controller",
                "broker,controller",
                "broker,controller",
                "broker",
                "broker"
            ]
        );
        assert_eq!(nodes[4].client_port, 9492);
        assert_eq!(nodes[4].controller_port, None);
        assert_eq!(nodes[4].dir, Path::new("/tmp/c/node-5"));
    }

    #[test]
    fn ports_past_65535_are_refused() {
        let refused = plan(3, Path::new("/tmp/c"), 65_400).unwrap_err();
        assert!(refused.contains("65535"), "{refused}");
    }

    #[test]
    fn every_file_is_a_valid_kraft_configuration_naming_its_node() {
        let dir = std::env::temp_dir().join(format!("millrace-local-files-{}", std::process::id()));
        let nodes = plan(4, &dir, 19_092).unwrap();
        write_all(&nodes).unwrap();
        for node in &nodes {
            let config = Config::load(Some(&node.config_file()), &[]).unwrap();
            assert_eq!(config.node_id, node.node_id as i32);
            assert_eq!(config.num_shards, 1);
            assert_eq!(config.kraft.voters.len(), 3);
            assert_eq!(config.broker_session_timeout_ms, 9000);
            assert_eq!(config.broker_heartbeat_interval_ms, 2000);
            assert!(
                config.cluster_membership().is_some(),
                "node {} is one member of a 4-node cluster",
                node.node_id
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
