//! Broker sessions: when each broker was last heard from and how far it has
//! applied the metadata log (KRaft's `BrokerHeartbeatManager`). Soft state:
//! not in the log, rebuilt fresh by each newly active controller.
//!
//! millrace adds one signal Kafka lacks: a broker whose connections to the
//! controllers all closed ([`Input::ConnectionsLost`](super::Input)), as a
//! process killed -9 has its closed by the kernel, and that was not heard
//! from since, is fenced once its next heartbeat is overdue (one heartbeat
//! interval after its last one, or after this controller's activation, plus
//! half an interval for a reconnect), instead of after the whole session
//! timeout. A live broker reconnects and heartbeats within that, so it is
//! not fenced; if it still is (a wrong fence only moves its leaderships, as
//! elections come from the ISR), it is fenced this way at most once per
//! session timeout, so it cannot flap.
//!
//! The same grace bounds the fresh session a new controller gives every
//! registration at activation: one it has not heard from one interval and
//! a half after its activation may be replaced by a new incarnation
//! ([`BrokerSessions::is_unheard_past_grace`]), so a broker restarted across
//! a controller change need not wait a whole session timeout (issue 12).

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
    /// When it last registered or heartbeated to this controller.
    pub(crate) heard_ms: Option<u64>,
    /// When its last connection to the controllers closed, while none is
    /// open since.
    pub(crate) lost_since_ms: Option<u64>,
    /// When this controller last fenced it for lost connections.
    pub(crate) fenced_for_loss_ms: Option<u64>,
}

impl Session {
    fn new(now_ms: u64, heard: bool) -> Self {
        Session {
            last_contact_ms: now_ms,
            metadata_offset: -1,
            controlled_shutdown_offset: None,
            heard_ms: heard.then_some(now_ms),
            lost_since_ms: None,
            fenced_for_loss_ms: None,
        }
    }
}

/// Sessions of registered brokers.
#[derive(Clone, Debug, Default)]
pub(crate) struct BrokerSessions {
    sessions: BTreeMap<BrokerId, Session>,
    /// When this controller became active.
    activated_ms: u64,
}

impl BrokerSessions {
    /// Sessions for a controller becoming active at `now_ms`: every
    /// registered broker gets a full session timeout to be heard from.
    pub(crate) fn activate(image: &MetadataImage, now_ms: u64) -> Self {
        let mut sessions = BrokerSessions {
            activated_ms: now_ms,
            ..BrokerSessions::default()
        };
        for broker in image.brokers() {
            sessions
                .sessions
                .insert(broker.broker_id, Session::new(now_ms, false));
        }
        sessions
    }

    /// A new registration: contact now, nothing applied yet.
    pub(crate) fn reset(&mut self, broker: BrokerId, now_ms: u64) {
        self.sessions.insert(broker, Session::new(now_ms, true));
    }

    /// A heartbeat at `now_ms` reporting `metadata_offset`.
    pub(crate) fn touch(&mut self, broker: BrokerId, now_ms: u64, metadata_offset: i64) {
        let session = self.get_mut(broker, now_ms);
        session.last_contact_ms = now_ms;
        session.heard_ms = Some(now_ms);
        session.metadata_offset = metadata_offset;
    }

    /// The session of `broker`, created at `now_ms` if missing.
    pub(crate) fn get_mut(&mut self, broker: BrokerId, now_ms: u64) -> &mut Session {
        self.sessions
            .entry(broker)
            .or_insert(Session::new(now_ms, false))
    }

    /// The brokers whose connections are lost now, each since when; every
    /// other broker's mark is cleared.
    pub(crate) fn set_lost(&mut self, lost: &[(BrokerId, u64)]) {
        for (id, session) in &mut self.sessions {
            session.lost_since_ms = lost
                .iter()
                .find(|(broker, _)| broker == id)
                .map(|(_, since)| *since);
        }
    }

    /// True when `broker` lost its connections and was not heard from
    /// since, past the time a live broker would have heartbeated again: one
    /// `interval_ms` after its last heartbeat here (or after this
    /// controller's activation, so a live broker has time to find it), and
    /// half an interval more for its reconnect and retries. At most once per
    /// `window_ms` per broker.
    pub(crate) fn is_lost(
        &self,
        broker: BrokerId,
        now_ms: u64,
        interval_ms: u64,
        window_ms: u64,
    ) -> bool {
        let Some(session) = self.sessions.get(&broker) else {
            return false;
        };
        let Some(since) = session.lost_since_ms else {
            return false;
        };
        if session.heard_ms.is_some_and(|heard| heard > since) {
            return false;
        }
        let spent = session
            .fenced_for_loss_ms
            .is_some_and(|at| now_ms < at.saturating_add(window_ms));
        let last_ms = session.heard_ms.unwrap_or(self.activated_ms);
        let next_heartbeat_ms = last_ms.saturating_add(interval_ms);
        let due = since.max(next_heartbeat_ms) + interval_ms / 2;
        !spent && now_ms >= due
    }

    /// `broker` was fenced at `now_ms` for lost connections.
    pub(crate) fn fenced_for_loss(&mut self, broker: BrokerId, now_ms: u64) {
        self.get_mut(broker, now_ms).fenced_for_loss_ms = Some(now_ms);
    }

    /// True when `broker` has not registered or heartbeated to this
    /// controller although a live broker would have by now: one
    /// `interval_ms` after this controller's activation (its next heartbeat
    /// finds the new controller) and half an interval more for its
    /// reconnect and retries, the grace [`Self::is_lost`] gives too. Kafka's
    /// controller gives such a registration a whole session instead
    /// (`ClusterControlManager.activate`).
    pub(crate) fn is_unheard_past_grace(
        &self,
        broker: BrokerId,
        now_ms: u64,
        interval_ms: u64,
    ) -> bool {
        let grace_ms = interval_ms.saturating_add(interval_ms / 2);
        !self.was_heard(broker) && now_ms >= self.activated_ms.saturating_add(grace_ms)
    }

    /// True when `broker` registered or heartbeated to this controller.
    pub(crate) fn was_heard(&self, broker: BrokerId) -> bool {
        self.sessions
            .get(&broker)
            .is_some_and(|s| s.heard_ms.is_some())
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
