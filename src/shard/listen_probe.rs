//! Refuses to start on a listener address another process listens on, as
//! Kafka exits with "Address already in use".
//!
//! Every shard binds the listeners with SO_REUSEPORT (glommio sets it), and
//! Linux lets any socket of the same user that sets it too join such a port:
//! a second broker on the same port (a copied server.properties with only
//! `log.dirs` changed) would start, and the kernel would split new
//! connections between the two processes.

use crate::config::kraft::ProcessRole;
use crate::config::Config;
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{self as unix, UnixDatagram};
use std::time::{Duration, Instant};

/// The kernel's tables of this network namespace's TCP sockets.
const TCP_SOCKET_TABLES: [&str; 2] = ["/proc/net/tcp", "/proc/net/tcp6"];
/// The `st` column of a listening socket in those tables (TCP_LISTEN).
const TCP_STATE_LISTEN: &str = "0A";
/// How long the listeners seen may take to go away before the start is
/// refused: those of a broker just killed (kill -9, then a restart) keep
/// listening until the kernel tears down its io_uring, some tens of
/// milliseconds after the process is reaped.
const DEPARTING_LISTENER_WAIT_MS_MAX: u64 = 5_000;
/// Pause between two probes of an address a listener holds.
const PROBE_RETRY_INTERVAL_MS: u64 = 20;
/// Prefix of the abstract Unix socket name a broker holds for each listener
/// address (see [`PortClaims`]).
const CLAIM_NAME_PREFIX: &str = "millrace-listener-";

/// The listener addresses this process claimed, held until it exits.
///
/// The probe below sees a broker that listens, but two copies started at the
/// same instant both probe before either listens, and both pass. So each
/// address is first claimed: an abstract Unix socket named after it is
/// bound. Abstract names live in the network namespace, as ports do; a
/// second bind of one fails at once (EADDRINUSE), whoever is faster; and
/// the kernel drops the name when the process exits, however it exits, so a
/// killed broker leaves nothing to clean up.
#[derive(Debug)]
pub struct PortClaims {
    _held: Vec<UnixDatagram>,
}

/// Fails naming the listener and its address when another process listens
/// on an address this node binds: the client listeners, and the CONTROLLER
/// listener of a cluster's voter. Called on the start-up thread before any
/// shard binds.
///
/// Each address is bound once without SO_REUSEPORT (std's listener sets only
/// SO_REUSEADDR), which cannot share a port with a listening socket, SO_REUSEPORT
/// or not: EADDRINUSE. The probe never listens and is closed at once, so the
/// shards bind as before. EADDRINUSE alone is no proof, though: the
/// connections the previous run of this broker closed wait in TIME_WAIT on
/// the port with its listener's options (SO_REUSEPORT, no SO_REUSEADDR), and
/// they fail the probe too while the shards' SO_REUSEPORT bind joins them. So
/// it counts only when the kernel's socket tables also show a listener on the
/// port (when they cannot be read, the shards bind as before), and only if
/// that listener is still there after [`DEPARTING_LISTENER_WAIT_MS_MAX`].
/// Port 0 is not probed: each bind of it takes a free port of its own. Each
/// address is claimed first ([`PortClaims`], kept by the caller until
/// exit), so of two copies started at the same instant one is refused.
pub fn refuse_listeners_in_use(config: &Config, cluster: bool) -> Result<PortClaims, String> {
    let kraft = &config.kraft;
    let clients = kraft
        .serves_clients()
        .then_some(&config.client_listeners)
        .into_iter()
        .flatten()
        .map(|l| (l.name.as_str(), &l.bind));
    // The one `cluster::member::MemberConfig` binds for Raft.
    let controller = (cluster && kraft.has_role(ProcessRole::Controller))
        .then(|| {
            kraft
                .listeners
                .iter()
                .find(|l| kraft.controller_listener_names.contains(&l.name))
        })
        .flatten()
        .map(|l| (l.name.as_str(), &l.addr));
    let deadline = Instant::now() + Duration::from_millis(DEPARTING_LISTENER_WAIT_MS_MAX);
    let mut claims = PortClaims { _held: Vec::new() };
    for (name, addr) in clients.chain(controller).filter(|(_, a)| a.port != 0) {
        let address = addr.socket_address();
        // The shards bind the first address the name resolves to, as here.
        let resolved = address
            .to_socket_addrs()
            .map_err(|e| format!("listeners: cannot resolve {address} (listener {name}): {e}"))?
            .next();
        let Some(resolved) = resolved else {
            continue;
        };
        let in_use = |e: io::Error| {
            format!(
                "listeners: cannot listen on {address} (listener {name}): {e}: another process \
                 (a millrace or Kafka broker?) is listening on it; stop it, or give this broker \
                 its own port"
            )
        };
        claims
            ._held
            .push(claim(resolved, deadline).map_err(in_use)?);
        while let Some(e) = held_by_a_listener(resolved, name) {
            if Instant::now() >= deadline {
                return Err(in_use(e));
            }
            std::thread::sleep(Duration::from_millis(PROBE_RETRY_INTERVAL_MS));
        }
    }
    Ok(claims)
}

/// Claims `address` for this process (see [`PortClaims`]), waiting until
/// `deadline` for a departing broker's claim to go; EADDRINUSE after that.
/// A claim that cannot be made for another reason (no Unix sockets) is
/// logged and skipped: the probe still sees a broker that listens.
fn claim(address: SocketAddr, deadline: Instant) -> io::Result<UnixDatagram> {
    let name = format!("{CLAIM_NAME_PREFIX}{address}");
    let claim_address = unix::SocketAddr::from_abstract_name(name.as_bytes())?;
    loop {
        match UnixDatagram::bind_addr(&claim_address) {
            Ok(held) => return Ok(held),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(PROBE_RETRY_INTERVAL_MS));
            }
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("{e} (another millrace on this host claims it)"),
                ))
            }
            Err(e) => {
                log::warn!("listener address {address}: cannot claim it ({e}): two copies started at once could both listen on it");
                return UnixDatagram::unbound();
            }
        }
    }
}

/// The probe's EADDRINUSE when a listening socket holds `address`; `None`
/// when the probe binds, fails otherwise (the shards' bind reports that, as
/// before), or meets no listener.
fn held_by_a_listener(address: SocketAddr, name: &str) -> Option<io::Error> {
    let e = TcpListener::bind(address).err()?;
    if e.kind() != io::ErrorKind::AddrInUse {
        return None;
    }
    match listening_on_port(address.port()) {
        Ok(listening) => listening.then_some(e),
        Err(read) => {
            log::warn!("listener {name} {address}: {e}, and the socket tables cannot tell whether another process listens there ({read}): binding anyway");
            None
        }
    }
}

/// True when a socket of this network namespace listens on `port`, on any
/// address, IPv4 or IPv6 (a table the kernel lacks counts as empty).
fn listening_on_port(port: u16) -> io::Result<bool> {
    for table in TCP_SOCKET_TABLES {
        let rows = match File::open(table) {
            Ok(file) => BufReader::new(file),
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for row in rows.lines() {
            let row = row?;
            // `sl local_address rem_address st ...`; the header row has no port.
            let mut fields = row.split_whitespace();
            let local = fields.nth(1).and_then(|local| local.rsplit_once(':'));
            let state = fields.nth(1);
            let local_port = local.and_then(|(_, hex)| u16::from_str_radix(hex, 16).ok());
            if local_port == Some(port) && state == Some(TCP_STATE_LISTEN) {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_on(port: u16) -> Config {
        let listeners = format!("listeners=PLAINTEXT://127.0.0.1:{port}");
        Config::load(None, &[listeners]).unwrap()
    }

    #[test]
    fn a_port_another_reuseport_listener_holds_is_refused_naming_it() {
        // A shard's listener, as another broker's would be: SO_REUSEPORT.
        glommio::LocalExecutorBuilder::default()
            .io_memory(1 << 20)
            .make()
            .unwrap()
            .run(async {
                let held = glommio::net::TcpListener::bind("127.0.0.1:0").unwrap();
                let port = held.local_addr().unwrap().port();
                let error = refuse_listeners_in_use(&config_on(port), false).unwrap_err();
                assert!(error.contains(&format!("127.0.0.1:{port}")), "{error}");
                assert!(error.contains("listener PLAINTEXT"), "{error}");
                assert!(error.contains("in use"), "{error}");
            });
    }

    #[test]
    fn a_free_port_and_port_zero_pass_and_stay_free() {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        refuse_listeners_in_use(&config_on(port), false).unwrap();
        // The probe is gone: the port binds again.
        TcpListener::bind(("127.0.0.1", port)).unwrap();
        refuse_listeners_in_use(&config_on(0), false).unwrap();
    }

    #[test]
    fn the_socket_tables_show_a_listener_and_not_a_closed_port() {
        let held = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = held.local_addr().unwrap().port();
        assert!(listening_on_port(port).unwrap());
        drop(held);
        assert!(!listening_on_port(port).unwrap());
    }

    #[test]
    fn an_address_claimed_here_cannot_be_claimed_again_until_released() {
        let address: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let first = claim(address, Instant::now()).unwrap();
        let again = claim(address, Instant::now()).unwrap_err();
        assert_eq!(again.kind(), io::ErrorKind::AddrInUse, "{again}");
        assert!(again.to_string().contains("another millrace"), "{again}");
        let other: SocketAddr = "127.0.0.2:9".parse().unwrap();
        drop(claim(other, Instant::now()).unwrap());
        drop(first);
        drop(claim(address, Instant::now()).unwrap());
    }
}
