//! The follower's side of a KIP-227 incremental fetch session (Kafka's
//! `FetchSessionHandler`), as a pure structure: which partitions a fetch
//! names, which it forgets, and the session id and epoch it carries.
//!
//! A full fetch (epoch 0) names every followed partition and opens a
//! session; each later fetch names only the partitions whose fetch fields
//! changed since they were last sent (after an append, a truncation, a new
//! leader epoch) and forgets the ones no longer followed, so an idle
//! partition costs nothing on the wire. Any error starts over with a full
//! fetch.

use crate::partition::fetch_session::{INITIAL_EPOCH, INVALID_SESSION_ID};
use std::collections::HashMap;
use uuid::Uuid;

/// A partition by topic id.
pub type Key = (Uuid, i32);

/// The fetch fields of one partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fields {
    /// Where it reads from (its log end offset).
    pub fetch_offset: i64,
    /// The epoch of its last batch (-1: none).
    pub last_fetched_epoch: i32,
    /// The leader epoch it follows at.
    pub current_leader_epoch: i32,
    /// Its log start offset.
    pub log_start_offset: i64,
}

/// What the next fetch carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchPlan {
    /// Session id (0: none, a full fetch opens one).
    pub session_id: i32,
    /// Session epoch (0: a full fetch).
    pub epoch: i32,
    /// The partitions named, with their fields.
    pub send: Vec<(Key, Fields)>,
    /// The partitions dropped from the session.
    pub forget: Vec<Key>,
}

/// The session with one leader, as this follower knows it.
#[derive(Debug, Default)]
pub struct SessionBook {
    session_id: i32,
    epoch: i32,
    /// The fields the leader's session holds for each partition.
    sent: HashMap<Key, Fields>,
}

impl SessionBook {
    /// The next fetch for `wanted` (every followed partition).
    pub fn plan(&self, wanted: &[(Key, Fields)]) -> FetchPlan {
        if self.session_id == INVALID_SESSION_ID {
            return FetchPlan {
                session_id: INVALID_SESSION_ID,
                epoch: INITIAL_EPOCH,
                send: wanted.to_vec(),
                forget: Vec::new(),
            };
        }
        let send = wanted
            .iter()
            .filter(|(key, fields)| self.sent.get(key) != Some(fields))
            .copied()
            .collect();
        let forget = self
            .sent
            .keys()
            .filter(|key| !wanted.iter().any(|(k, _)| k == *key))
            .copied()
            .collect();
        FetchPlan {
            session_id: self.session_id,
            epoch: self.epoch,
            send,
            forget,
        }
    }

    /// The leader answered `plan` without a top-level error, with
    /// `session_id` (0: it opened no session; the next fetch is full again).
    pub fn on_answer(&mut self, plan: &FetchPlan, session_id: i32) {
        if plan.session_id == INVALID_SESSION_ID {
            self.sent.clear();
            if session_id == INVALID_SESSION_ID {
                return;
            }
            self.session_id = session_id;
            self.epoch = INITIAL_EPOCH;
        }
        self.epoch = next_epoch(self.epoch);
        for key in &plan.forget {
            self.sent.remove(key);
        }
        self.sent.extend(plan.send.iter().copied());
    }

    /// A failed exchange or a session error: the next fetch is full.
    pub fn reset(&mut self) {
        *self = SessionBook::default();
    }
}

/// Kafka's `nextEpoch`: 1 after the last, wrapping to 1 (0 opens a session).
fn next_epoch(epoch: i32) -> i32 {
    match epoch {
        i32::MAX => 1,
        epoch => epoch + 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(offset: i64) -> Fields {
        Fields {
            fetch_offset: offset,
            last_fetched_epoch: 1,
            current_leader_epoch: 1,
            log_start_offset: 0,
        }
    }

    #[test]
    fn a_session_names_only_what_changed_and_forgets_what_is_no_longer_followed() {
        let (a, b) = ((Uuid::from_u128(1), 0), (Uuid::from_u128(1), 1));
        let mut book = SessionBook::default();
        let full = book.plan(&[(a, fields(0)), (b, fields(0))]);
        assert_eq!((full.session_id, full.epoch, full.send.len()), (0, 0, 2));
        book.on_answer(&full, 77);
        let idle = book.plan(&[(a, fields(0)), (b, fields(0))]);
        assert_eq!((idle.session_id, idle.epoch), (77, 1));
        assert!(idle.send.is_empty() && idle.forget.is_empty(), "{idle:?}");
        book.on_answer(&idle, 77);
        let moved = book.plan(&[(a, fields(5))]);
        assert_eq!(moved.epoch, 2);
        assert_eq!(moved.send, vec![(a, fields(5))]);
        assert_eq!(moved.forget, vec![b]);
        book.on_answer(&moved, 77);
        assert!(book.plan(&[(a, fields(5))]).send.is_empty());
        book.reset();
        assert_eq!(book.plan(&[(a, fields(5))]).epoch, 0);
    }

    #[test]
    fn a_leader_that_opens_no_session_gets_full_fetches() {
        let a = (Uuid::from_u128(1), 0);
        let mut book = SessionBook::default();
        let full = book.plan(&[(a, fields(0))]);
        book.on_answer(&full, 0);
        let again = book.plan(&[(a, fields(0))]);
        assert_eq!((again.session_id, again.epoch, again.send.len()), (0, 0, 1));
        assert_eq!(next_epoch(i32::MAX), 1);
    }
}
