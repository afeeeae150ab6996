//! Which peers hold a connection to this node's CONTROLLER listener, and
//! since when a peer that held one holds none. A process killed -9 has its
//! connections closed by the kernel at once, long before a session timeout
//! notices its silence: the active controller uses this to fence a broker
//! whose connections all closed and that did not come back (see
//! `controller::sessions`). A connection belongs to the peer its first
//! attributable frame names (a Raft sender, or a broker's registration or
//! heartbeat).

use super::NodeId;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Peers tracked at most; the ids come from the wire, so a flood of made-up
/// ids must not grow the table (past it, new peers are not tracked).
pub const PEERS_TRACKED_MAX: usize = 1024;

#[derive(Clone, Copy, Debug, Default)]
struct Peer {
    /// Connections attributed to the peer and still open.
    open: usize,
    /// When its last open connection was closed by the peer (or reset),
    /// while none is open since.
    lost_since: Option<Instant>,
}

/// The table, shared by the listener's connections (one executor thread).
#[derive(Clone, Debug, Default)]
pub struct PeerPresence {
    peers: Rc<RefCell<BTreeMap<NodeId, Peer>>>,
}

impl PeerPresence {
    /// A connection now belongs to `peer`: it is present.
    pub(super) fn opened(&self, peer: NodeId) {
        let mut peers = self.peers.borrow_mut();
        if peers.len() >= PEERS_TRACKED_MAX && !peers.contains_key(&peer) {
            return;
        }
        let entry = peers.entry(peer).or_default();
        entry.open += 1;
        entry.lost_since = None;
    }

    /// A connection of `peer` ended at `now`; `by_peer` when the peer closed
    /// or reset it (not this node's idle timeout or shutdown).
    pub(super) fn closed(&self, peer: NodeId, by_peer: bool, now: Instant) {
        let mut peers = self.peers.borrow_mut();
        let Some(entry) = peers.get_mut(&peer) else {
            return;
        };
        entry.open = entry.open.saturating_sub(1);
        if entry.open > 0 {
            return;
        }
        if by_peer {
            entry.lost_since = Some(now);
        } else if entry.lost_since.is_none() {
            peers.remove(&peer);
        }
    }

    /// Peers whose connections all closed, with how long ago the last one
    /// did.
    pub fn lost(&self, now: Instant) -> Vec<(NodeId, Duration)> {
        self.peers
            .borrow()
            .iter()
            .filter_map(|(id, p)| {
                p.lost_since
                    .map(|at| (*id, now.saturating_duration_since(at)))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_is_lost_once_its_last_connection_is_closed_by_it() {
        let presence = PeerPresence::default();
        let start = Instant::now();
        presence.opened(2);
        presence.opened(2);
        presence.closed(2, true, start);
        assert!(presence.lost(start).is_empty(), "one connection still open");
        presence.closed(2, true, start);
        let later = start + Duration::from_millis(700);
        assert_eq!(presence.lost(later), vec![(2, Duration::from_millis(700))]);
        presence.opened(2);
        assert!(presence.lost(later).is_empty(), "back: present again");
    }

    #[test]
    fn an_idle_timeout_or_shutdown_loses_no_peer() {
        let presence = PeerPresence::default();
        presence.opened(3);
        presence.closed(3, false, Instant::now());
        assert!(presence.lost(Instant::now()).is_empty());
        presence.closed(7, true, Instant::now());
        assert!(
            presence.lost(Instant::now()).is_empty(),
            "never seen: not tracked"
        );
    }

    #[test]
    fn the_table_is_bounded() {
        let presence = PeerPresence::default();
        for id in 0..(PEERS_TRACKED_MAX as u64 + 10) {
            presence.opened(id);
            presence.closed(id, true, Instant::now());
        }
        assert_eq!(presence.lost(Instant::now()).len(), PEERS_TRACKED_MAX);
    }
}
