//! Broker sessions: when each broker was last heard from and how far it has
//! applied the metadata log (KRaft's `BrokerHeartbeatManager`). Soft state:
//! not in the log, rebuilt fresh by each newly active controller.

use crate::cluster::image::MetadataImage;
use crate::cluster::BrokerId;
use std::collections::BTreeMap;

/// One broker's session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Session {
    /// When the broker was last heard from.
    pub(crate) last_contact_ms: u64,
    /// The metadata offset it last reported (-1: none yet).
    pub(crate) metadata_offset: i64,
    /// Set when it entered controlled shutdown: the offset every active
    /// broker must reach before it may exit.
    pub(crate) controlled_shutdown_offset: Option<i64>,
}

/// Sessions of registered brokers.
#[derive(Clone, Debug, Default)]
pub(crate) struct BrokerSessions {
    sessions: BTreeMap<BrokerId, Session>,
}

impl BrokerSessions {
    /// Sessions for a controller becoming active at `now_ms`: every
    /// registered broker gets a full session timeout to be heard from.
    pub(crate) fn activate(image: &MetadataImage, now_ms: u64) -> Self {
        let mut sessions = BrokerSessions::default();
        for broker in image.brokers() {
            sessions.reset(broker.broker_id, now_ms);
        }
        sessions
    }

    /// A new registration: contact now, nothing applied yet.
    pub(crate) fn reset(&mut self, broker: BrokerId, now_ms: u64) {
        let session = Session {
            last_contact_ms: now_ms,
            metadata_offset: -1,
            controlled_shutdown_offset: None,
        };
        self.sessions.insert(broker, session);
    }

    /// A heartbeat at `now_ms` reporting `metadata_offset`.
    pub(crate) fn touch(&mut self, broker: BrokerId, now_ms: u64, metadata_offset: i64) {
        let session = self.get_mut(broker, now_ms);
        session.last_contact_ms = now_ms;
        session.metadata_offset = metadata_offset;
    }

    /// The session of `broker`, created at `now_ms` if missing.
    pub(crate) fn get_mut(&mut self, broker: BrokerId, now_ms: u64) -> &mut Session {
        self.sessions.entry(broker).or_insert(Session {
            last_contact_ms: now_ms,
            metadata_offset: -1,
            controlled_shutdown_offset: None,
        })
    }

    /// True when `broker` was heard from within `timeout_ms` of `now_ms`.
    pub(crate) fn is_fresh(&self, broker: BrokerId, now_ms: u64, timeout_ms: u64) -> bool {
        self.sessions
            .get(&broker)
            .is_some_and(|s| s.last_contact_ms + timeout_ms >= now_ms)
    }

    /// The lowest metadata offset reported by an active broker (unfenced, not
    /// shutting down), or `i64::MAX` when there is none.
    pub(crate) fn lowest_active_offset(&self, image: &MetadataImage) -> i64 {
        self.sessions
            .iter()
            .filter(|(id, _)| image.is_active(**id))
            .map(|(_, s)| s.metadata_offset)
            .min()
            .unwrap_or(i64::MAX)
    }
}
