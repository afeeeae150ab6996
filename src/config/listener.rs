//! `listeners` / `advertised.listeners` values: `NAME://host:port,...`;
//! which one serves clients and with which protocol is `config::kraft`'s call.

use std::fmt;

/// The only security protocol served (see `kraft::PLAINTEXT`): Kafka skips
/// zero-copy under TLS anyway, and millrace has no TLS or SASL listener.
const PLAINTEXT_SCHEME: &str = "PLAINTEXT://";
/// Host used when a listener names no host on a machine with IPv6 sockets
/// that accept IPv4 too (`net.ipv6.bindv6only=0`, Linux's default): every
/// interface of both families, as Kafka's JVM wildcard binds. A client
/// resolving `localhost` to `::1` first (Debian's /etc/hosts) then connects
/// at once, rather than after a refused attempt.
const ALL_INTERFACES_HOST: &str = "::";
/// Host used when a listener names no host on a machine without IPv6
/// sockets, or whose IPv6 sockets take IPv6 only: every IPv4 interface.
const ALL_IPV4_INTERFACES_HOST: &str = "0.0.0.0";
/// Says whether an IPv6 socket bound to `::` takes IPv4 connections too.
const BINDV6ONLY_SYSCTL_PATH: &str = "/proc/sys/net/ipv6/bindv6only";
/// Host advertised when the listener binds every interface and no
/// `advertised.listeners` is set.
const UNSPECIFIED_ADVERTISED_HOST: &str = "localhost";

/// One plaintext listener: a host (name, IPv4 or IPv6 literal) and a port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListenerAddr {
    /// Host name or address; IPv6 literals are kept without brackets.
    pub host: String,
    /// TCP port.
    pub port: u16,
}

impl ListenerAddr {
    /// Parses `host:port` (an empty host binds every interface; `[::1]`
    /// brackets IPv6).
    pub fn parse_host_port(address: &str) -> Result<ListenerAddr, String> {
        let expected = || format!("host:port, got {address:?}");
        let (host, port) = address.trim().rsplit_once(':').ok_or_else(expected)?;
        let port = port.parse::<u16>().map_err(|_| expected())?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let host = if host.is_empty() {
            all_interfaces_host()
        } else {
            host
        };
        Ok(ListenerAddr {
            host: host.to_string(),
            port,
        })
    }

    /// `host:port` for binding (IPv6 literals bracketed).
    pub fn socket_address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// True when the host means "every interface" (nothing a client can dial).
    pub fn is_unspecified(&self) -> bool {
        matches!(self.host.as_str(), "0.0.0.0" | "::")
    }

    /// The address to advertise for this listener when no explicit one is
    /// configured: an unspecified host becomes `localhost`.
    pub fn advertisable(&self) -> ListenerAddr {
        if self.is_unspecified() {
            ListenerAddr {
                host: UNSPECIFIED_ADVERTISED_HOST.to_string(),
                port: self.port,
            }
        } else {
            self.clone()
        }
    }
}

/// What an empty listener host binds: [`ALL_INTERFACES_HOST`] where one
/// IPv6 socket takes both families, else [`ALL_IPV4_INTERFACES_HOST`].
fn all_interfaces_host() -> &'static str {
    static HOST: std::sync::OnceLock<&'static str> = std::sync::OnceLock::new();
    HOST.get_or_init(|| {
        let ipv6_sockets = std::net::UdpSocket::bind("[::]:0").is_ok();
        let dual_stack =
            std::fs::read_to_string(BINDV6ONLY_SYSCTL_PATH).is_ok_and(|flag| flag.trim() == "0");
        if ipv6_sockets && dual_stack {
            ALL_INTERFACES_HOST
        } else {
            ALL_IPV4_INTERFACES_HOST
        }
    })
}

impl fmt::Display for ListenerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PLAINTEXT_SCHEME}{}", self.socket_address())
    }
}

/// Which of [`Config::client_listeners`](super::Config::client_listeners) a
/// connection came in on.
pub type ListenerIndex = usize;

/// The node's main client listener: the first of `listeners`.
pub const MAIN_LISTENER: ListenerIndex = 0;

/// The name of the listener a single-listener node serves.
pub const DEFAULT_CLIENT_LISTENER_NAME: &str = "PLAINTEXT";

/// One listener clients are served on: its name, where it binds, and what
/// Metadata tells the clients that connected through it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientListener {
    /// Listener name (`PLAINTEXT`, `INTERNAL`...).
    pub name: String,
    /// The address bound.
    pub bind: ListenerAddr,
    /// Its `advertised.listeners` entry, else `bind` made dialable.
    pub advertised: ListenerAddr,
}

/// One entry of `listeners` / `advertised.listeners`: `NAME://host:port`.
/// Names are upper-cased as Kafka normalises them (`ListenerName.normalised`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamedListener {
    /// Listener name (`PLAINTEXT`, `CONTROLLER`, `INTERNAL`...), upper case.
    pub name: String,
    /// Its address.
    pub addr: ListenerAddr,
}

impl fmt::Display for NamedListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.name, self.addr.socket_address())
    }
}

/// Parses a comma-separated `NAME://host:port` list (empty text = none).
pub fn parse_listener_list(text: &str) -> Result<Vec<NamedListener>, String> {
    let expected =
        "NAME://host:port[,NAME://host:port...], e.g. PLAINTEXT://:9092,CONTROLLER://:9093";
    let mut listeners = Vec::new();
    for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let Some((name, address)) = entry.split_once("://") else {
            return Err(format!("{expected} ({entry:?} has no NAME://)"));
        };
        let name_ok = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !name_ok {
            return Err(format!("{expected} (bad listener name {name:?})"));
        }
        let addr = ListenerAddr::parse_host_port(address)
            .map_err(|e| format!("{expected} ({entry:?}: {e})"))?;
        listeners.push(NamedListener {
            name: name.to_ascii_uppercase(),
            addr,
        });
    }
    Ok(listeners)
}

/// Where this machine's name is (Linux): what an empty advertised host
/// becomes.
const HOSTNAME_PATH: &str = "/proc/sys/kernel/hostname";

/// Parses `advertised.listeners`: as [`parse_listener_list`], but an entry
/// with an empty host (`PLAINTEXT://:9092`) is advertised at this machine's
/// name, as Kafka advertises its canonical host name there (millrace does
/// not look the name up in DNS).
pub fn parse_advertised_listener_list(text: &str) -> Result<Vec<NamedListener>, String> {
    let mut listeners = parse_listener_list(text)?;
    let entries = text.split(',').map(str::trim).filter(|e| !e.is_empty());
    for (listener, entry) in listeners.iter_mut().zip(entries) {
        let empty_host = entry
            .split_once("://")
            .is_some_and(|(_, address)| address.trim().starts_with(':'));
        if empty_host {
            listener.addr.host = this_machines_name()?;
        }
    }
    Ok(listeners)
}

/// This machine's host name.
fn this_machines_name() -> Result<String, String> {
    let name = std::fs::read_to_string(HOSTNAME_PATH).map_err(|e| {
        format!("an empty host is advertised at this machine's name: {HOSTNAME_PATH}: {e}")
    })?;
    let name = name.trim();
    if name.is_empty() {
        return Err(format!(
            "an empty host is advertised at this machine's name, and {HOSTNAME_PATH} is empty: name the host"
        ));
    }
    Ok(name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> NamedListener {
        let mut parsed = parse_listener_list(text).unwrap();
        assert_eq!(parsed.len(), 1, "{text}");
        parsed.remove(0)
    }

    #[test]
    fn parses_listeners() {
        let parsed = one("PLAINTEXT://127.0.0.1:9092");
        assert_eq!(parsed.name, "PLAINTEXT");
        assert_eq!(parsed.addr.host, "127.0.0.1");
        assert_eq!(parsed.addr.port, 9092);
        assert_eq!(parsed.addr.to_string(), "PLAINTEXT://127.0.0.1:9092");
        let all = one("PLAINTEXT://:19092").addr;
        assert!(all.is_unspecified(), "{all}");
        assert_eq!(all.host, all_interfaces_host());
        assert_eq!(all.advertisable().socket_address(), "localhost:19092");
        let v6 = one("plaintext://[::1]:9093");
        assert_eq!(
            (v6.name.as_str(), v6.addr.host.as_str()),
            ("PLAINTEXT", "::1")
        );
        assert_eq!(v6.addr.socket_address(), "[::1]:9093");
        let named = one("PLAINTEXT://broker-1.example:9092").addr;
        assert_eq!(named.advertisable(), named);
        let two = parse_listener_list("PLAINTEXT://:9092, CONTROLLER://localhost:9093").unwrap();
        assert_eq!(two[1].to_string(), "CONTROLLER://localhost:9093");
        assert_eq!(parse_listener_list(" ").unwrap(), vec![]);
    }

    #[test]
    fn an_empty_advertised_host_is_this_machines_name() {
        let name = this_machines_name().unwrap();
        let parsed =
            parse_advertised_listener_list("PLAINTEXT://:9092, INTERNAL://10.0.0.1:9094").unwrap();
        assert_eq!(parsed[0].addr.socket_address(), format!("{name}:9092"));
        assert_eq!(parsed[1].addr.socket_address(), "10.0.0.1:9094");
        let literal = parse_advertised_listener_list("PLAINTEXT://[::]:9092").unwrap();
        assert!(literal[0].addr.is_unspecified());
    }

    #[test]
    fn rejects_bad_listeners() {
        for bad in [
            "127.0.0.1:9092",
            "PLAINTEXT://host",
            "PLAINTEXT://host:99999",
            "://host:9092",
            "PLAIN TEXT://host:9092",
        ] {
            assert!(parse_listener_list(bad).is_err(), "{bad}");
        }
    }
}
