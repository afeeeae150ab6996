//! Connection admission: `max.connections` for the whole broker and
//! `max.connections.per.ip` per client address, as Kafka names them.
//!
//! Every shard accepts on its own socket (SO_REUSEPORT), so the counts live
//! in one [`Admission`] shared by all shards. A connection over either limit
//! is closed right after accept; refusals are logged at most once per
//! [`REFUSAL_LOG_INTERVAL_MS`] with the number refused since the last line,
//! so a flood cannot flood the log too.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Shortest time between two log lines about refused connections.
pub const REFUSAL_LOG_INTERVAL_MS: u64 = 1000;

/// Why a connection was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The broker already holds `max.connections` connections.
    BrokerFull {
        /// The configured limit.
        limit: usize,
    },
    /// The client address already holds `max.connections.per.ip` connections.
    AddressFull {
        /// The configured limit.
        limit: usize,
    },
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::BrokerFull { limit } => write!(f, "max.connections ({limit}) reached"),
            Refusal::AddressFull { limit } => {
                write!(f, "max.connections.per.ip ({limit}) reached")
            }
        }
    }
}

#[derive(Default)]
struct Counts {
    total: usize,
    /// Only addresses with at least one open connection have an entry, so the
    /// map is bounded by the number of open connections.
    per_address: HashMap<IpAddr, usize>,
}

struct RefusalLog {
    last_line: Option<Instant>,
    refused_since_line: u64,
}

/// Connection counts shared by every shard.
pub struct Admission {
    max_connections: usize,
    max_connections_per_ip: usize,
    /// `max.connections.per.ip.overrides`, by canonical address.
    overrides: HashMap<IpAddr, usize>,
    counts: Mutex<Counts>,
    refusal_log: Mutex<RefusalLog>,
}

/// One admitted connection; dropping it frees its place.
pub struct AdmissionPermit {
    admission: Arc<Admission>,
    address: Option<IpAddr>,
}

impl Admission {
    /// Limits as configured (`max.connections`, `max.connections.per.ip`
    /// and its `overrides`: some addresses' own limit).
    pub fn new(
        max_connections: usize,
        max_connections_per_ip: usize,
        overrides: &[(IpAddr, usize)],
    ) -> Arc<Admission> {
        Arc::new(Admission {
            max_connections,
            max_connections_per_ip,
            overrides: overrides.iter().copied().collect(),
            counts: Mutex::new(Counts::default()),
            refusal_log: Mutex::new(RefusalLog {
                last_line: None,
                refused_since_line: 0,
            }),
        })
    }

    /// Takes a place for a connection from `address` (`None` when the peer
    /// address is unknown: only the broker-wide limit applies).
    pub fn admit(self: &Arc<Self>, address: Option<IpAddr>) -> Result<AdmissionPermit, Refusal> {
        // One key per peer: an IPv4 client reached through a dual-stack `[::]` listener
        // (`::ffff:a.b.c.d`) and through an IPv4 one is the same client, counted once.
        let address = address.map(|a| a.to_canonical());
        let mut counts = self.lock_counts();
        if counts.total >= self.max_connections {
            return Err(Refusal::BrokerFull {
                limit: self.max_connections,
            });
        }
        if let Some(address) = address {
            let limit = self.limit_of(address);
            let open = counts.per_address.entry(address).or_insert(0);
            if *open >= limit {
                if *open == 0 {
                    counts.per_address.remove(&address);
                }
                return Err(Refusal::AddressFull { limit });
            }
            *open += 1;
        }
        counts.total += 1;
        Ok(AdmissionPermit {
            admission: self.clone(),
            address,
        })
    }

    /// `address`'s `max.connections.per.ip` (`address` canonical: an
    /// IPv4-mapped IPv6 peer as its IPv4 address, as in Java): its override,
    /// if any.
    fn limit_of(&self, address: IpAddr) -> usize {
        self.overrides
            .get(&address)
            .copied()
            .unwrap_or(self.max_connections_per_ip)
    }

    /// Open connections broker-wide.
    pub fn open_connections(&self) -> usize {
        self.lock_counts().total
    }

    /// Records a refusal; returns the line to log when one is due (at most
    /// once per [`REFUSAL_LOG_INTERVAL_MS`]), counting the refusals it covers.
    pub fn note_refusal(&self, refusal: Refusal, address: Option<IpAddr>) -> Option<String> {
        let mut log = self
            .refusal_log
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        log.refused_since_line += 1;
        let now = Instant::now();
        let due = log.last_line.is_none_or(|last| {
            now.duration_since(last) >= Duration::from_millis(REFUSAL_LOG_INTERVAL_MS)
        });
        if !due {
            return None;
        }
        let refused = std::mem::take(&mut log.refused_since_line);
        log.last_line = Some(now);
        let address = address.map_or_else(|| "?".to_string(), |a| a.to_string());
        Some(format!(
            "refused {refused} connection(s) in the last {REFUSAL_LOG_INTERVAL_MS} ms; latest from {address}: {refusal}"
        ))
    }

    fn lock_counts(&self) -> MutexGuard<'_, Counts> {
        // The counts stay consistent even if a holder panicked: every update
        // is a single step under the lock.
        self.counts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Drop for AdmissionPermit {
    fn drop(&mut self) {
        let mut counts = self.admission.lock_counts();
        counts.total = counts.total.saturating_sub(1);
        if let Some(address) = self.address {
            if let Some(open) = counts.per_address.get_mut(&address) {
                *open = open.saturating_sub(1);
                if *open == 0 {
                    counts.per_address.remove(&address);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> Option<IpAddr> {
        Some(IpAddr::from([127, 0, 0, last]))
    }

    #[test]
    fn broker_limit_refuses_then_frees_on_drop() {
        let admission = Admission::new(2, 10, &[]);
        let first = admission.admit(ip(1)).expect("first");
        let _second = admission.admit(ip(2)).expect("second");
        assert_eq!(
            admission.admit(ip(3)).err(),
            Some(Refusal::BrokerFull { limit: 2 })
        );
        drop(first);
        assert_eq!(admission.open_connections(), 1);
        assert!(admission.admit(ip(3)).is_ok());
    }

    #[test]
    fn per_address_limit_counts_each_address_apart() {
        let admission = Admission::new(100, 2, &[]);
        let held: Vec<_> = (0..2)
            .map(|_| admission.admit(ip(1)).expect("ok"))
            .collect();
        assert_eq!(
            admission.admit(ip(1)).err(),
            Some(Refusal::AddressFull { limit: 2 })
        );
        assert!(
            admission.admit(ip(2)).is_ok(),
            "another address is not affected"
        );
        drop(held);
        assert!(admission.admit(ip(1)).is_ok());
    }

    #[test]
    fn overrides_set_their_addresses_limit() {
        let blocked = IpAddr::from([127, 0, 0, 2]);
        let admission = Admission::new(100, 1, &[(ip(1).unwrap(), 3), (blocked, 0)]);
        let held: Vec<_> = (0..3)
            .map(|_| admission.admit(ip(1)).expect("ok"))
            .collect();
        assert_eq!(
            admission.admit(ip(1)).err(),
            Some(Refusal::AddressFull { limit: 3 })
        );
        let mapped = "::ffff:127.0.0.2".parse().ok();
        assert!(admission.admit(mapped).is_err(), "IPv4-mapped peer");
        assert!(admission.admit(ip(2)).is_err());
        let _other = admission.admit(ip(3)).expect("the default limit");
        assert!(admission.admit(ip(3)).is_err());
        drop(held);
    }

    #[test]
    fn an_ipv4_peer_counts_once_whichever_listener_it_came_through() {
        let admission = Admission::new(100, 1, &[]);
        let mapped = "::ffff:127.0.0.1".parse().ok();
        let held = admission
            .admit(mapped)
            .expect("first, through a dual-stack listener");
        assert_eq!(
            admission.admit(ip(1)).err(),
            Some(Refusal::AddressFull { limit: 1 })
        );
        drop(held);
        assert!(admission.lock_counts().per_address.is_empty());
        assert!(admission.admit(ip(1)).is_ok());
    }

    #[test]
    fn zero_per_address_limit_refuses_without_leaving_an_entry() {
        let admission = Admission::new(100, 0, &[]);
        assert!(admission.admit(ip(1)).is_err());
        assert!(admission.lock_counts().per_address.is_empty());
        assert!(
            admission.admit(None).is_ok(),
            "unknown peer: broker limit only"
        );
    }

    #[test]
    fn refusal_log_lines_are_rate_limited_and_count_what_they_cover() {
        let admission = Admission::new(0, 0, &[]);
        let refusal = Refusal::BrokerFull { limit: 0 };
        let first = admission.note_refusal(refusal, ip(1));
        assert!(first.is_some_and(|line| line.starts_with("refused 1 ")));
        for _ in 0..5 {
            assert_eq!(admission.note_refusal(refusal, ip(1)), None);
        }
        std::thread::sleep(Duration::from_millis(REFUSAL_LOG_INTERVAL_MS + 50));
        let next = admission.note_refusal(refusal, ip(1));
        assert!(next.is_some_and(|line| line.starts_with("refused 6 ")));
    }
}
