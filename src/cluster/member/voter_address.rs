//! Refuses, at start and before any Raft instance runs, a voter whose
//! CONTROLLER listener is not where `controller.quorum.voters` names it.
//!
//! A copy of a voter's server.properties started with a fresh `log.dirs`
//! (a "twin") would otherwise run Raft as that voter with an empty log. Raft's
//! safety rests on a voter remembering whom it voted for in a term, and the
//! twin remembers nothing: it could grant a second vote in a term the real
//! voter already voted in. Its broker registration is refused later
//! (a duplicate node.id), but by then its Raft instance has run.
//!
//! The voters line is the address every peer dials for this node.id, so a
//! voter must listen there: the entry's port must be the CONTROLLER
//! listener's, and when its host is an address of this machine, the
//! listener must cover it (`0.0.0.0` every IPv4 one, `::` every one). A host
//! that is not (or does not resolve yet), whatever the port, is only warned
//! of: a NAT, a port mapping or a cloud public address looks the same from
//! here. So is a name that resolves here to loopback only while the listener
//! binds a LAN address (Debian maps a host's own name to 127.0.1.1; peers
//! resolve it to the LAN address). Behind a proxy or NAT the
//! entry names the outside address: `advertised.listeners` naming that
//! address for the CONTROLLER listener (as Kafka 3.9+ allows) says so.
//!
//! Kafka has no such rule (its `KafkaConfig` only checks that a controller's
//! node.id is among the voters); this check is stricter, see the README.

use crate::config::kraft::{KraftConfig, ProcessRole};
use crate::config::listener::{ListenerAddr, NamedListener};
use crate::config::Config;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs, UdpSocket};

/// What the check needs to know of the machine it runs on; tests give their
/// own.
pub trait Machine {
    /// The addresses `addr`'s host resolves to (none when it does not).
    fn resolve(&self, addr: &ListenerAddr) -> Vec<IpAddr>;
    /// True when `ip` is an address of this machine.
    fn is_local(&self, ip: IpAddr) -> bool;
}

/// The machine this process runs on: names resolved by the system resolver,
/// an address local when a UDP socket binds to it (the kernel refuses a
/// foreign one with EADDRNOTAVAIL; no packet is sent).
pub struct ThisMachine;

impl Machine for ThisMachine {
    fn resolve(&self, addr: &ListenerAddr) -> Vec<IpAddr> {
        addr.socket_address()
            .to_socket_addrs()
            .map(|found| found.map(|a| a.ip()).collect())
            .unwrap_or_default()
    }

    fn is_local(&self, ip: IpAddr) -> bool {
        UdpSocket::bind(SocketAddr::new(ip, 0)).is_ok()
    }
}

/// Why a voter's CONTROLLER listener is not where its voters entry says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Misplaced {
    /// The listener's port is not the entry's.
    Port,
    /// The entry's host is no address of this machine.
    NotLocal,
    /// The entry's host is local, but the listener binds another address.
    NotCovered,
    /// The entry's host resolves here to loopback only, and the listener
    /// binds a non-loopback address (peers may resolve the name to it).
    LoopbackHere,
}

/// Fails, naming the keys, when this node is a voter (`process.roles` has
/// `controller`, its node.id is in `controller.quorum.voters`) whose
/// CONTROLLER listener is not the address its voters entry names. Other
/// nodes (brokers, learners and observers that find the quorum through
/// `controller.quorum.bootstrap.servers`) pass. An entry whose host is not
/// an address of this machine (or does not resolve yet) only logs a
/// warning: NAT and cloud public addresses look the same from here.
pub fn refuse_misplaced_voter(config: &Config) -> Result<(), String> {
    if let Some(doubt) = check_voter_address(&config.kraft, config.node_id, &ThisMachine)? {
        log::warn!("{doubt}");
    }
    Ok(())
}

/// [`refuse_misplaced_voter`] on `machine`: `Err` refuses, `Ok(Some)` is a
/// warning to log.
pub fn check_voter_address(
    kraft: &KraftConfig,
    node_id: i32,
    machine: &dyn Machine,
) -> Result<Option<String>, String> {
    if !kraft.has_role(ProcessRole::Controller) {
        return Ok(None);
    }
    let Some(entry) = kraft.voters.iter().find(|v| v.id == node_id) else {
        return Ok(None);
    };
    // The listener `MemberConfig` binds for Raft: the first controller one.
    let Some(bound) = kraft
        .listeners
        .iter()
        .find(|l| kraft.controller_listener_names.contains(&l.name))
    else {
        return Ok(None);
    };
    let advertised = kraft
        .advertised_listeners
        .iter()
        .find(|l| l.name == bound.name)
        .map(|l| &l.addr);
    match placement(&entry.endpoint, &bound.addr, advertised, machine) {
        Ok(()) => Ok(None),
        Err(why @ (Misplaced::NotLocal | Misplaced::LoopbackHere)) => {
            Ok(Some(doubt(node_id, &entry.endpoint, bound, why)))
        }
        Err(why) => Err(refusal(node_id, &entry.endpoint, bound, advertised, why)),
    }
}

/// The warning for an entry whose host is not (or not yet) an address of
/// this machine.
fn doubt(node_id: i32, entry: &ListenerAddr, bound: &NamedListener, why: Misplaced) -> String {
    let here = match why {
        Misplaced::LoopbackHere => "resolves here to loopback addresses only",
        _ => "is not an address of this machine (or does not resolve yet)",
    };
    format!(
        "controller.quorum.voters names node {node_id} at {}, and {} {here}, while this node's \
         {} listener is {}. Peers dial that address for node {node_id}: it must lead here (NAT, \
         a proxy, a public address, a name peers resolve otherwise; \
         advertised.listeners={}://{} says so and silences this). If this is a copy of node \
         {node_id}'s server.properties on another machine, stop it: two voters with one node.id \
         break the quorum's safety",
        entry.socket_address(),
        entry.host,
        bound.name,
        bound.addr.socket_address(),
        bound.name,
        entry.socket_address()
    )
}

/// Whether a listener bound at `bound` (advertised as `advertised`) is
/// where the voters entry `entry` points.
fn placement(
    entry: &ListenerAddr,
    bound: &ListenerAddr,
    advertised: Option<&ListenerAddr>,
    machine: &dyn Machine,
) -> Result<(), Misplaced> {
    // The operator says peers reach this listener at that address (a
    // proxy, NAT or port mapping): it is the entry's, wherever it leads.
    if advertised.is_some_and(|a| a.port == entry.port && same_host(&a.host, &entry.host)) {
        return Ok(());
    }
    // Not an address here: NAT or a port mapping (whatever the port), a
    // cloud public address, a name not resolving yet, or another machine.
    let local: Vec<IpAddr> = machine
        .resolve(entry)
        .into_iter()
        .filter(|ip| machine.is_local(*ip))
        .collect();
    if local.is_empty() {
        return Err(Misplaced::NotLocal);
    }
    if bound.port != entry.port {
        return Err(Misplaced::Port);
    }
    let bound_ips = match unspecified_ip(bound) {
        Some(any) if local.iter().any(|ip| any.is_ipv6() || ip.is_ipv4()) => return Ok(()),
        Some(_) => return Err(Misplaced::NotCovered),
        None => machine.resolve(bound),
    };
    if local.iter().any(|ip| bound_ips.contains(ip)) {
        return Ok(());
    }
    // The name resolves here to loopback only (Debian's /etc/hosts maps a
    // host's own name to 127.0.1.1) while the listener binds a LAN
    // address: peers resolve the name elsewhere, to where it may listen.
    let loopback_name = local.iter().all(IpAddr::is_loopback)
        && !bound_ips.is_empty()
        && !bound_ips.iter().any(IpAddr::is_loopback);
    if loopback_name {
        Err(Misplaced::LoopbackHere)
    } else {
        Err(Misplaced::NotCovered)
    }
}

/// Host names compare without case (DNS), IP literals as written.
fn same_host(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// The listener's any-address (`0.0.0.0` or `::`), `None` for a host.
fn unspecified_ip(bound: &ListenerAddr) -> Option<IpAddr> {
    bound
        .host
        .parse::<IpAddr>()
        .ok()
        .filter(IpAddr::is_unspecified)
}

/// Why an any-address listener misses an IPv6 entry: `0.0.0.0` (also what
/// an empty host binds on a machine whose IPv6 sockets take IPv6 only)
/// takes IPv4 connections only.
fn ipv4_only_hint(bound: &ListenerAddr, entry: &ListenerAddr) -> &'static str {
    let ipv6_entry = entry.host.parse::<IpAddr>().is_ok_and(|ip| ip.is_ipv6());
    if ipv6_entry && unspecified_ip(bound).is_some_and(|any| any.is_ipv4()) {
        " (0.0.0.0 takes IPv4 connections only: listen on [::] for IPv6)"
    } else {
        ""
    }
}

/// The refusal's text: what the voters line says, what this node listens
/// on, and the keys to change.
fn refusal(
    node_id: i32,
    entry: &ListenerAddr,
    bound: &NamedListener,
    advertised: Option<&ListenerAddr>,
    why: Misplaced,
) -> String {
    let named = entry.socket_address();
    let listener = match advertised {
        Some(a) => format!(
            "{} (advertised as {})",
            bound.addr.socket_address(),
            a.socket_address()
        ),
        None => bound.addr.socket_address(),
    };
    let name = &bound.name;
    let what = match why {
        Misplaced::Port => format!("this node's {name} listener is {listener}"),
        // NotLocal and LoopbackHere are only warned of (`doubt`).
        Misplaced::NotLocal | Misplaced::LoopbackHere | Misplaced::NotCovered => {
            format!(
                "this node's {name} listener {listener} does not listen on {named}{}",
                ipv4_only_hint(&bound.addr, entry)
            )
        }
    };
    format!(
        "controller.quorum.voters names node {node_id} at {named}, but {what}: a voter must \
         listen where the voters line says (is this a copy of node {node_id}'s \
         server.properties?). Give this node its own node.id, or make listeners name that \
         address (behind a proxy or NAT: advertised.listeners, as {name}://{named})"
    )
}

#[cfg(test)]
mod tests;
