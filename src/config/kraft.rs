//! Kafka's KRaft identity keys (`process.roles`, `controller.quorum.*`,
//! `controller.listener.names`, `listeners` with their names,
//! `listener.security.protocol.map`, `inter.broker.listener.name`), parsed
//! into one typed [`KraftConfig`] and checked as Kafka's `KafkaConfig`
//! checks them (its wording where it fits).
//!
//! What a single node makes of them: the client listener is the one listener
//! not named in `controller.listener.names` (a controller-only node serves on
//! its controller listener), and a quorum of exactly this node is today's
//! single node. A quorum with other members is a cluster
//! ([`KraftConfig::cluster_membership`]), which `millrace serve` runs with
//! the Raft metadata log (`cluster::member`).

use super::listener::{ListenerAddr, NamedListener};
use std::fmt;

/// The one security protocol millrace serves.
pub const PLAINTEXT: &str = "PLAINTEXT";
/// Kafka's security protocols (`SecurityProtocol`); any may be named in the
/// map, only [`PLAINTEXT`] may be used by a listener millrace serves.
const SECURITY_PROTOCOLS: &[&str] = &[PLAINTEXT, "SSL", "SASL_PLAINTEXT", "SASL_SSL"];
/// Kafka's default `inter.broker.listener.name` (from
/// `security.inter.broker.protocol`'s default).
const DEFAULT_INTER_BROKER_LISTENER: &str = PLAINTEXT;
/// Host names that always mean this machine.
const LOOPBACK_HOSTS: &[&str] = &["localhost", "::1", "0.0.0.0", "::"];

/// A role of `process.roles`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcessRole {
    /// Serves clients and hosts partitions.
    Broker,
    /// Votes in the metadata quorum.
    Controller,
}

/// One `id@host:port` of `controller.quorum.voters`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuorumVoter {
    /// The voter's node.id.
    pub id: i32,
    /// Its controller endpoint.
    pub endpoint: ListenerAddr,
}

/// The KRaft settings as written, for the single node today and for the
/// Raft wiring (`cluster::raft`) later.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KraftConfig {
    /// `process.roles`; empty = not set (a single node, as before KRaft keys).
    pub process_roles: Vec<ProcessRole>,
    /// `controller.quorum.voters` (a static quorum).
    pub voters: Vec<QuorumVoter>,
    /// `controller.quorum.bootstrap.servers` (a dynamic quorum, KIP-853).
    pub bootstrap_servers: Vec<ListenerAddr>,
    /// `controller.listener.names`, upper case.
    pub controller_listener_names: Vec<String>,
    /// `listeners`, every one with its name.
    pub listeners: Vec<NamedListener>,
    /// `advertised.listeners`; empty = the `listeners`.
    pub advertised_listeners: Vec<NamedListener>,
    /// `inter.broker.listener.name`; `None` = Kafka's default (PLAINTEXT).
    pub inter_broker_listener_name: Option<String>,
    /// `listener.security.protocol.map` as `(listener, protocol)`; `None` =
    /// Kafka's default (each protocol name maps to itself, and controller
    /// listeners to PLAINTEXT).
    pub security_protocol_map: Option<Vec<(String, String)>>,
}

/// A KRaft setting that contradicts another (or is missing).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KraftError {
    /// The key to change.
    pub key: &'static str,
    /// What is wrong, in Kafka's words where they fit.
    pub reason: String,
}

/// Why this node would be one member of several: which key says so.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterMembership {
    /// The key that names other nodes.
    pub key: &'static str,
    /// What it names.
    pub detail: String,
}

impl fmt::Display for ClusterMembership {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}, so this node is one member of a multi-node cluster",
            self.key, self.detail
        )
    }
}

/// What [`KraftConfig::resolve`] chose for a node to serve: its first
/// client listener, then any others (Kafka's INTERNAL/EXTERNAL setups).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServedListener {
    /// The listener clients connect to.
    pub listener: NamedListener,
    /// Its advertised address, when `advertised.listeners` names it.
    pub advertised: Option<ListenerAddr>,
    /// The other client listeners, each with its advertised address.
    pub others: Vec<(NamedListener, Option<ListenerAddr>)>,
}

fn error(key: &'static str, reason: impl Into<String>) -> KraftError {
    KraftError {
        key,
        reason: reason.into(),
    }
}

/// Parses `process.roles`: `broker`, `controller` or both, no repeats.
pub fn parse_process_roles(value: &str) -> Result<Vec<ProcessRole>, String> {
    let mut roles = Vec::new();
    for role in value.split(',').map(str::trim).filter(|r| !r.is_empty()) {
        let parsed = match role {
            "broker" => ProcessRole::Broker,
            "controller" => ProcessRole::Controller,
            other => {
                return Err(format!(
                    "broker, controller or broker,controller (unknown process role '{other}': \
                     only 'broker' and 'controller' are allowed roles)"
                ))
            }
        };
        if roles.contains(&parsed) {
            return Err(format!(
                "broker, controller or broker,controller (duplicate role names found in \
                 process.roles: {value})"
            ));
        }
        roles.push(parsed);
    }
    Ok(roles)
}

/// Parses `controller.quorum.voters`: `id@host:port,...`.
pub fn parse_voters(value: &str) -> Result<Vec<QuorumVoter>, String> {
    let expected = "id@host:port[,id@host:port...], e.g. 1@localhost:9093";
    let mut voters: Vec<QuorumVoter> = Vec::new();
    for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let Some((id, address)) = entry.split_once('@') else {
            return Err(format!("{expected} ({entry:?} has no id@)"));
        };
        let id = id
            .trim()
            .parse::<i32>()
            .ok()
            .filter(|id| *id >= 0)
            .ok_or_else(|| format!("{expected} ({entry:?}: the id is not a node id)"))?;
        if voters.iter().any(|voter| voter.id == id) {
            return Err(format!("{expected} (node id {id} is listed twice)"));
        }
        let endpoint = ListenerAddr::parse_host_port(address)
            .map_err(|e| format!("{expected} ({entry:?}: {e})"))?;
        voters.push(QuorumVoter { id, endpoint });
    }
    Ok(voters)
}

/// Parses `controller.quorum.bootstrap.servers`: `host:port,...`.
pub fn parse_bootstrap_servers(value: &str) -> Result<Vec<ListenerAddr>, String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|entry| {
            ListenerAddr::parse_host_port(entry)
                .map_err(|e| format!("host:port[,host:port...] ({e})"))
        })
        .collect()
}

/// Parses a comma-separated list of listener names, upper-cased.
pub fn parse_names(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_ascii_uppercase)
        .collect()
}

/// Parses `listener.security.protocol.map`: `NAME:PROTOCOL,...`.
pub fn parse_protocol_map(value: &str) -> Result<Option<Vec<(String, String)>>, String> {
    let mut map = Vec::new();
    for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let Some((name, protocol)) = entry.split_once(':') else {
            return Err(format!(
                "NAME:PROTOCOL[,NAME:PROTOCOL...] ({entry:?} has no ':')"
            ));
        };
        let protocol = protocol.trim().to_ascii_uppercase();
        if !SECURITY_PROTOCOLS.contains(&protocol.as_str()) {
            return Err(format!(
                "NAME:PROTOCOL with a protocol of {} (invalid security protocol `{protocol}`)",
                SECURITY_PROTOCOLS.join(", ")
            ));
        }
        map.push((name.trim().to_ascii_uppercase(), protocol));
    }
    Ok((!map.is_empty()).then_some(map))
}

impl KraftConfig {
    /// True when `process.roles` is set (Kafka's "KRaft mode").
    pub fn is_kraft(&self) -> bool {
        !self.process_roles.is_empty()
    }

    /// True when this node has the role.
    pub fn has_role(&self, role: ProcessRole) -> bool {
        self.process_roles.contains(&role)
    }

    /// True unless this node is a dedicated controller (`process.roles`
    /// without `broker`): only brokers serve Kafka clients.
    pub fn serves_clients(&self) -> bool {
        !self.is_kraft() || self.has_role(ProcessRole::Broker)
    }

    fn is_controller_listener(&self, name: &str) -> bool {
        self.controller_listener_names.iter().any(|n| n == name)
    }

    /// The security protocol of a listener name, as Kafka's
    /// `effectiveListenerSecurityProtocolMap` gives it.
    fn protocol_of(&self, name: &str) -> Option<String> {
        match &self.security_protocol_map {
            Some(map) => map
                .iter()
                .find(|(listener, _)| listener == name)
                .map(|(_, protocol)| protocol.clone()),
            None if SECURITY_PROTOCOLS.contains(&name) => Some(name.to_string()),
            None if self.is_controller_listener(name) => Some(PLAINTEXT.to_string()),
            None => None,
        }
    }

    /// Advertised listeners, or the listeners when none are advertised.
    fn effective_advertised(&self) -> &[NamedListener] {
        if self.advertised_listeners.is_empty() {
            &self.listeners
        } else {
            &self.advertised_listeners
        }
    }

    /// Checks the keys against each other as Kafka does and picks the
    /// listener a single node serves. `node_id_set`: `node.id` or
    /// `broker.id` was written.
    pub fn resolve(&self, node_id: i32, node_id_set: bool) -> Result<ServedListener, KraftError> {
        self.check_listeners()?;
        if self.is_kraft() {
            self.check_roles(node_id, node_id_set)?;
        } else {
            self.check_not_kraft()?;
        }
        let served = self.served_listener()?;
        if self.process_roles.is_empty() || self.has_role(ProcessRole::Broker) {
            self.check_broker_listeners()?;
        }
        Ok(served)
    }

    fn check_listeners(&self) -> Result<(), KraftError> {
        if self.listeners.is_empty() {
            return Err(error("listeners", "at least one listener is required"));
        }
        for (index, listener) in self.listeners.iter().enumerate() {
            let later = &self.listeners[index + 1..];
            if later.iter().any(|other| other.name == listener.name) {
                return Err(error(
                    "listeners",
                    format!(
                        "each listener must have a different name, listeners: {}",
                        self.listeners_text()
                    ),
                ));
            }
            let port = listener.addr.port;
            if port != 0 && later.iter().any(|other| other.addr.port == port) {
                return Err(error(
                    "listeners",
                    format!(
                        "each listener must have a different port, listeners: {}",
                        self.listeners_text()
                    ),
                ));
            }
        }
        for listener in self.listeners.iter().chain(&self.advertised_listeners) {
            if self.protocol_of(&listener.name).is_none() {
                return Err(error(
                    "listener.security.protocol.map",
                    format!(
                        "no security protocol defined for listener {}",
                        listener.name
                    ),
                ));
            }
        }
        // Every listener this node binds or dials (a controller listener of
        // other nodes) is PLAINTEXT: a TLS or SASL one would be served or
        // dialled in the clear while the operator believes it secured.
        let used = self.listeners.iter().map(|l| &l.name);
        for name in used.chain(&self.controller_listener_names) {
            match self.protocol_of(name) {
                Some(protocol) if protocol != PLAINTEXT => {
                    return Err(error(
                        "listener.security.protocol.map",
                        format!(
                            "listener {name} uses security protocol {protocol}: millrace serves only PLAINTEXT listeners"
                        ),
                    ));
                }
                _ => {}
            }
        }
        if let Some(name) = &self.inter_broker_listener_name {
            if self.protocol_of(name).is_none() {
                return Err(error(
                    "inter.broker.listener.name",
                    format!("listener with name {name} defined in inter.broker.listener.name not found in listener.security.protocol.map."),
                ));
            }
        }
        let unroutable = self
            .advertised_listeners
            .iter()
            .find(|l| l.addr.is_unspecified());
        if let Some(listener) = unroutable {
            // Kafka's words for 0.0.0.0 (it lets `::` through, which no
            // client can dial either). An empty host never gets here: it
            // was given this machine's name, as in Kafka.
            return Err(error(
                "advertised.listeners",
                format!(
                    "advertised.listeners cannot use the nonroutable meta-address {}. Use a routable IP address.",
                    listener.addr.host
                ),
            ));
        }
        Ok(())
    }

    fn listeners_text(&self) -> String {
        let all: Vec<String> = self.listeners.iter().map(ToString::to_string).collect();
        all.join(",")
    }

    /// Without `process.roles`, KRaft-only keys are a mistake worth naming.
    fn check_not_kraft(&self) -> Result<(), KraftError> {
        let set = [
            ("controller.quorum.voters", !self.voters.is_empty()),
            (
                "controller.quorum.bootstrap.servers",
                !self.bootstrap_servers.is_empty(),
            ),
            (
                "controller.listener.names",
                !self.controller_listener_names.is_empty(),
            ),
        ];
        match set.iter().find(|(_, is_set)| *is_set) {
            Some((key, _)) => Err(error(
                key,
                format!(
                    "{key} is a KRaft setting, but process.roles is not set: set \
                     process.roles=broker,controller (a node that is its own quorum) or \
                     remove {key}"
                ),
            )),
            None => Ok(()),
        }
    }

    fn check_roles(&self, node_id: i32, node_id_set: bool) -> Result<(), KraftError> {
        if !node_id_set {
            return Err(error(
                "node.id",
                "Missing configuration `node.id` which is required when `process.roles` is defined (i.e. when running in KRaft mode).",
            ));
        }
        if self.voters.is_empty() && self.bootstrap_servers.is_empty() {
            return Err(error(
                "controller.quorum.voters",
                "If using process.roles, either controller.quorum.bootstrap.servers must contain the set of bootstrap controllers or controller.quorum.voters must contain a parseable set of controllers.",
            ));
        }
        if self.controller_listener_names.is_empty() {
            return Err(error(
                "controller.listener.names",
                "controller.listener.names must contain at least one value when running in KRaft mode",
            ));
        }
        let voter_ids: Vec<i32> = self.voters.iter().map(|v| v.id).collect();
        let in_voters = voter_ids.contains(&node_id);
        let controller_listeners = self
            .listeners
            .iter()
            .filter(|l| self.is_controller_listener(&l.name))
            .count();
        if self.has_role(ProcessRole::Controller) {
            if !voter_ids.is_empty() && !in_voters {
                return Err(error(
                    "controller.quorum.voters",
                    format!("If process.roles contains the 'controller' role, the node id {node_id} must be included in the set of voters controller.quorum.voters={voter_ids:?}"),
                ));
            }
            let listed = |name: &String| self.listeners.iter().any(|l| &l.name == name);
            if !self.controller_listener_names.iter().all(listed) {
                return Err(error(
                    "controller.listener.names",
                    "controller.listener.names must only contain values appearing in the 'listeners' configuration when running the KRaft controller role",
                ));
            }
            if !self.has_role(ProcessRole::Broker) && controller_listeners != self.listeners.len() {
                return Err(error(
                    "listeners",
                    "The listeners config must only contain KRaft controller listeners from controller.listener.names when process.roles=controller",
                ));
            }
        } else {
            if in_voters {
                return Err(error(
                    "controller.quorum.voters",
                    format!("If process.roles contains just the 'broker' role, the node id {node_id} must not be included in the set of voters controller.quorum.voters={voter_ids:?}"),
                ));
            }
            if controller_listeners > 0 {
                return Err(error(
                    "controller.listener.names",
                    "controller.listener.names must not contain a value appearing in the 'listeners' configuration when running KRaft with just the broker role",
                ));
            }
        }
        Ok(())
    }

    /// Kafka's checks for every node with the broker role.
    fn check_broker_listeners(&self) -> Result<(), KraftError> {
        let broker_names: Vec<&str> = self
            .effective_advertised()
            .iter()
            .filter(|l| !self.is_controller_listener(&l.name))
            .map(|l| l.name.as_str())
            .collect();
        if broker_names.is_empty() {
            return Err(error(
                "listeners",
                "There must be at least one broker advertised listener. Perhaps all listeners appear in controller.listener.names?",
            ));
        }
        let inter_broker = self
            .inter_broker_listener_name
            .as_deref()
            .unwrap_or(DEFAULT_INTER_BROKER_LISTENER);
        if !broker_names.contains(&inter_broker) {
            return Err(error(
                "inter.broker.listener.name",
                format!("inter.broker.listener.name must be a listener name defined in advertised.listeners. The valid options based on currently configured listeners are {}", broker_names.join(",")),
            ));
        }
        let listed = |name: &&str| self.listeners.iter().any(|l| l.name == *name);
        if !broker_names.iter().all(listed) {
            return Err(error(
                "advertised.listeners",
                format!("advertised.listeners listener names must be equal to or a subset of the ones defined in listeners. Found {}. The valid options based on the current configuration are {}", broker_names.join(","), self.listener_names().join(",")),
            ));
        }
        Ok(())
    }

    fn listener_names(&self) -> Vec<&str> {
        self.listeners.iter().map(|l| l.name.as_str()).collect()
    }

    /// The listeners a node serves clients on: every listener not named in
    /// `controller.listener.names` (the first is the node's main one), or for
    /// a controller-only node its first controller listener. Each must be
    /// PLAINTEXT.
    fn served_listener(&self) -> Result<ServedListener, KraftError> {
        let mut broker: Vec<NamedListener> = self
            .listeners
            .iter()
            .filter(|l| !self.is_controller_listener(&l.name))
            .cloned()
            .collect();
        if broker.is_empty() {
            broker.push(self.listeners[0].clone());
        }
        let mut served = Vec::with_capacity(broker.len());
        for listener in broker {
            // Each is PLAINTEXT: check_listeners refused any other protocol.
            let advertised = self
                .advertised_listeners
                .iter()
                .find(|l| l.name == listener.name)
                .map(|l| l.addr.clone());
            served.push((listener, advertised));
        }
        let (listener, advertised) = served.remove(0);
        Ok(ServedListener {
            listener,
            advertised,
            others: served,
        })
    }

    /// `Some` when the quorum keys make this node one member of several
    /// (node `node_id`); `None` for a single node: no KRaft keys, or a quorum
    /// of exactly this node.
    pub fn cluster_membership(&self, node_id: i32) -> Option<ClusterMembership> {
        if !self.is_kraft() {
            return None;
        }
        if !self.has_role(ProcessRole::Broker) {
            // Kafka's dedicated controller (its config/controller.properties)
            // serves no data: it exists for broker-only nodes to join (and
            // answers admin clients' quorum requests, KIP-919).
            return Some(ClusterMembership {
                key: "process.roles",
                detail: format!(
                    "is controller only (node.id {node_id}): a dedicated controller for \
                     broker-only nodes, serving clients no data"
                ),
            });
        }
        if !self.voters.is_empty() {
            let others: Vec<String> = self
                .voters
                .iter()
                .filter(|v| v.id != node_id)
                .map(|v| format!("{}@{}", v.id, v.endpoint.socket_address()))
                .collect();
            return (!others.is_empty()).then(|| ClusterMembership {
                key: "controller.quorum.voters",
                detail: format!(
                    "names voters other than this node (node.id {node_id}): {}",
                    others.join(",")
                ),
            });
        }
        let foreign: Vec<String> = self
            .bootstrap_servers
            .iter()
            .filter(|server| !self.is_own_controller(server))
            .map(ListenerAddr::socket_address)
            .collect();
        (!foreign.is_empty()).then(|| ClusterMembership {
            key: "controller.quorum.bootstrap.servers",
            detail: format!(
                "names controllers that are not this node's own controller listener: {}",
                foreign.join(",")
            ),
        })
    }

    /// For a controller whose `controller.quorum.bootstrap.servers` name only
    /// its own controller listener (and no `controller.quorum.voters`): the
    /// address others reach it at, so it starts as the quorum's one voter.
    /// Kafka asks for `kafka-storage format --standalone` here; millrace
    /// needs no formatting step.
    pub fn standalone_voter_address(&self) -> Option<String> {
        let standalone = self.has_role(ProcessRole::Controller)
            && self.voters.is_empty()
            && !self.bootstrap_servers.is_empty()
            && self
                .bootstrap_servers
                .iter()
                .all(|server| self.is_own_controller(server));
        standalone.then(|| self.bootstrap_servers[0].socket_address())
    }

    /// True when `server` is this node's controller listener: a controller
    /// listener (bound or advertised) with its port, on this machine.
    fn is_own_controller(&self, server: &ListenerAddr) -> bool {
        if !self.has_role(ProcessRole::Controller) {
            return false;
        }
        self.listeners
            .iter()
            .chain(&self.advertised_listeners)
            .filter(|l| self.is_controller_listener(&l.name))
            .any(|l| {
                l.addr.port == server.port
                    && (l.addr.host == server.host || is_local_host(&server.host))
            })
    }

    /// Lines for the start-up log: what a single node does with the KRaft
    /// keys that do not simply take effect.
    pub fn notes(&self, served: &ListenerAddr) -> Vec<String> {
        let mut notes = Vec::new();
        if !self.is_kraft() {
            return notes;
        }
        for listener in &self.listeners {
            let unbound = self.is_controller_listener(&listener.name)
                && (listener.addr.port != served.port || listener.addr.host != served.host);
            if unbound {
                notes.push(format!(
                    "controller listener {listener} is not bound: this node is its whole quorum, \
                     so no other controller or broker calls it"
                ));
            }
        }
        if self.inter_broker_listener_name.is_some() {
            notes.push(
                "inter.broker.listener.name is checked but unused: a single node has no other \
                 broker to talk to"
                    .to_string(),
            );
        }
        notes
    }
}

fn is_local_host(host: &str) -> bool {
    LOOPBACK_HOSTS.contains(&host) || host.starts_with("127.")
}

#[cfg(test)]
mod tests;
