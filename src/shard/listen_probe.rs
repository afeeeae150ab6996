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
/// Port 0 is not probed: each bind of it takes a free port of its own. Two
/// brokers starting at the same instant can both pass; a running one is
/// always seen.
pub fn refuse_listeners_in_use(config: &Config, cluster: bool) -> Result<(), String> {
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
        while let Some(e) = held_by_a_listener(resolved, name) {
            if Instant::now() >= deadline {
                return Err(format!(
                    "listeners: cannot listen on {address} (listener {name}): {e}: another \
                     process (a millrace or Kafka broker?) is listening on it; stop it, or give \
                     this broker its own port"
                ));
            }
            std::thread::sleep(Duration::from_millis(PROBE_RETRY_INTERVAL_MS));
        }
    }
    Ok(())
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
}
