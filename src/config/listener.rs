//! `listeners` / `advertised.listeners` values: `PLAINTEXT://host:port`.

use std::fmt;

/// The only security protocol served: Kafka skips zero-copy under TLS anyway,
/// and millrace has no TLS or SASL listener.
const PLAINTEXT_SCHEME: &str = "PLAINTEXT://";
/// Host used when a listener names no host: every interface.
const ALL_INTERFACES_HOST: &str = "0.0.0.0";
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
    /// Parses `PLAINTEXT://host:port` (`PLAINTEXT://:9092` binds every
    /// interface; `[::1]` brackets IPv6). One listener only.
    pub fn parse(text: &str) -> Result<ListenerAddr, String> {
        let expected = "PLAINTEXT://host:port (one listener)";
        let text = text.trim();
        if text.contains(',') {
            return Err(format!("{expected}; several listeners are not supported"));
        }
        let Some(address) = strip_scheme(text) else {
            return Err(format!(
                "{expected}; only PLAINTEXT listeners are supported"
            ));
        };
        let Some((host, port)) = address.rsplit_once(':') else {
            return Err(expected.to_string());
        };
        let port = port.parse::<u16>().map_err(|_| expected.to_string())?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let host = if host.is_empty() {
            ALL_INTERFACES_HOST
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

impl fmt::Display for ListenerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PLAINTEXT_SCHEME}{}", self.socket_address())
    }
}

fn strip_scheme(text: &str) -> Option<&str> {
    let scheme_len = PLAINTEXT_SCHEME.len();
    let head = text.get(..scheme_len)?;
    head.eq_ignore_ascii_case(PLAINTEXT_SCHEME)
        .then(|| &text[scheme_len..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_listeners() {
        let parsed = ListenerAddr::parse("PLAINTEXT://127.0.0.1:9092").unwrap();
        assert_eq!(parsed.host, "127.0.0.1");
        assert_eq!(parsed.port, 9092);
        assert_eq!(parsed.to_string(), "PLAINTEXT://127.0.0.1:9092");
        let all = ListenerAddr::parse("PLAINTEXT://:19092").unwrap();
        assert_eq!(all.socket_address(), "0.0.0.0:19092");
        assert_eq!(all.advertisable().socket_address(), "localhost:19092");
        let v6 = ListenerAddr::parse("plaintext://[::1]:9093").unwrap();
        assert_eq!(v6.host, "::1");
        assert_eq!(v6.socket_address(), "[::1]:9093");
        let named = ListenerAddr::parse("PLAINTEXT://broker-1.example:9092").unwrap();
        assert_eq!(named.advertisable(), named);
    }

    #[test]
    fn rejects_bad_listeners() {
        for bad in [
            "SSL://host:9093",
            "127.0.0.1:9092",
            "PLAINTEXT://host",
            "PLAINTEXT://host:99999",
            "PLAINTEXT://a:1,PLAINTEXT://b:2",
            "",
        ] {
            assert!(ListenerAddr::parse(bad).is_err(), "{bad}");
        }
    }
}
