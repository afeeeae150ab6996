//! The simulated client: an idempotent producer (Kafka's with
//! `enable.idempotence`). Each record gets the producer's id, epoch and the
//! next sequence once, and keeps them over every retry; up to
//! [`IN_FLIGHT_MAX`] records are unacknowledged at a time (Kafka's
//! `max.in.flight.requests.per.connection` bound for idempotence), so the
//! oldest one is always among the 5 batches a partition remembers per
//! producer.
//!
//! It talks to the leader over one connection at a time, which delivers in
//! order and, like TCP, loses nothing without losing everything after it
//! ([`Connection`]). A timeout, an error answer, a leader change or the
//! leader's restart closes it; the next connection sends every record not
//! acknowledged, oldest first, with its original sequence.
//!
//! Until its first record is acknowledged it has one record in flight:
//! a partition accepts an unknown producer's first batch at any sequence
//! (Kafka's `ProducerAppendInfo.checkSequence` does too), so a pipelined
//! second record reaching a leader after the first was refused would be
//! committed with a gap before it (seed 0 of the first version of this
//! simulator did exactly that). Once a record is committed, every leader
//! holds it and knows the producer.

use super::ProducerStamp;
use crate::partition::replica::ReplicaId;
use std::collections::VecDeque;

/// Records a producer has unacknowledged at most (Kafka's limit of
/// `max.in.flight.requests.per.connection` with idempotence).
pub(super) const IN_FLIGHT_MAX: usize = 5;
/// A request unanswered this long is presumed lost (`request.timeout.ms`,
/// scaled to the run): the connection is closed and everything resent.
const REQUEST_TIMEOUT_MS: u64 = 100;
/// After an error answer, the client waits this long before it sends again
/// (`retry.backoff.ms`, scaled).
const RETRY_BACKOFF_MS: u64 = 10;
/// The producer epoch (the sim never bumps it).
const PRODUCER_EPOCH: i16 = 0;
/// The first producer id; client `i` has `PRODUCER_ID_BASE + i`.
const PRODUCER_ID_BASE: i64 = 1_000;

/// A client's produce request: one record, on connection `conn`.
#[derive(Clone, Copy, Debug)]
pub(super) struct ProduceRequest {
    /// The client's index.
    pub(super) client: usize,
    pub(super) conn: u64,
    /// The record's id (the same over every retry).
    pub(super) record: u64,
    pub(super) stamp: ProducerStamp,
    /// The record's timestamp: when the client made it.
    pub(super) timestamp_ms: i64,
}

/// One connection to a replica's process.
#[derive(Clone, Copy, Debug)]
pub(super) struct Connection {
    pub(super) id: u64,
    pub(super) replica: ReplicaId,
    /// The replica process it reaches: a restarted replica is another.
    pub(super) incarnation: u32,
    /// A message on it was lost: every later one is too (TCP stalls and
    /// breaks; only the request timeout tells the client).
    pub(super) broken: bool,
    /// Messages each way are delivered in order: not before these times.
    pub(super) to_replica_at_ms: u64,
    pub(super) to_client_at_ms: u64,
}

/// A record not acknowledged yet.
#[derive(Clone, Copy, Debug)]
struct Unacked {
    record: u64,
    sequence: i32,
    timestamp_ms: i64,
    /// When it was sent on the current connection (`None`: not yet).
    sent_ms: Option<u64>,
    /// Acknowledged, but an older record is not yet (it stays to keep the
    /// window counted from the oldest unacknowledged).
    acked: bool,
}

pub(super) struct SimClient {
    index: usize,
    producer_id: i64,
    next_sequence: i32,
    unacked: VecDeque<Unacked>,
    /// Whether a record of it was acknowledged (the partition knows it).
    known: bool,
    conn: Option<Connection>,
    conns_opened: u64,
    /// No sending before this time (the back-off after an error answer).
    send_after_ms: u64,
}

impl SimClient {
    pub(super) fn new(index: usize) -> Self {
        SimClient {
            index,
            producer_id: PRODUCER_ID_BASE + index as i64,
            next_sequence: 0,
            unacked: VecDeque::new(),
            known: false,
            conn: None,
            conns_opened: 0,
            send_after_ms: 0,
        }
    }

    /// Records it may have unacknowledged: one until the partition knows it.
    fn window(&self) -> usize {
        match self.known {
            true => IN_FLIGHT_MAX,
            false => 1,
        }
    }

    /// The current connection, if open.
    pub(super) fn connection(&mut self, conn: u64) -> Option<&mut Connection> {
        self.conn.as_mut().filter(|c| c.id == conn)
    }

    /// Makes a new record when the window has room.
    pub(super) fn make_record(&mut self, now_ms: u64, next_record: &mut u64) {
        if self.unacked.len() >= self.window() {
            return;
        }
        self.unacked.push_back(Unacked {
            record: *next_record,
            sequence: self.next_sequence,
            timestamp_ms: now_ms as i64,
            sent_ms: None,
            acked: false,
        });
        *next_record += 1;
        self.next_sequence += 1;
    }

    /// Closes the connection when it is no use: a request timed out, or it
    /// does not reach `leader` (the replica and its incarnation; `None`: no
    /// leader). Everything unacknowledged is then sent again.
    pub(super) fn check_connection(&mut self, now_ms: u64, leader: Option<(ReplicaId, u32)>) {
        let Some(conn) = self.conn else {
            return;
        };
        let timed_out = self.unacked.iter().any(|u| {
            !u.acked
                && u.sent_ms
                    .is_some_and(|sent| now_ms >= sent + REQUEST_TIMEOUT_MS)
        });
        let elsewhere = leader != Some((conn.replica, conn.incarnation));
        if timed_out || elsewhere {
            self.close();
        }
    }

    fn close(&mut self) {
        self.conn = None;
        for unacked in &mut self.unacked {
            unacked.sent_ms = None;
        }
    }

    /// The requests to send now to `leader` (with its incarnation): every
    /// unacknowledged record not sent on the current connection, oldest
    /// first, on a new connection if there is none.
    pub(super) fn requests(
        &mut self,
        now_ms: u64,
        leader: Option<(ReplicaId, u32)>,
    ) -> Vec<ProduceRequest> {
        let Some((replica, incarnation)) = leader else {
            return Vec::new();
        };
        if now_ms < self.send_after_ms {
            return Vec::new();
        }
        let conn = match self.conn {
            Some(conn) => conn.id,
            None => self.open(now_ms, replica, incarnation),
        };
        let stamp = |sequence| ProducerStamp {
            producer_id: self.producer_id,
            producer_epoch: PRODUCER_EPOCH,
            sequence,
        };
        let mut requests = Vec::new();
        for unacked in self.unacked.iter_mut().filter(|u| !u.acked) {
            if unacked.sent_ms.is_none() {
                unacked.sent_ms = Some(now_ms);
                requests.push(ProduceRequest {
                    client: self.index,
                    conn,
                    record: unacked.record,
                    stamp: stamp(unacked.sequence),
                    timestamp_ms: unacked.timestamp_ms,
                });
            }
        }
        requests
    }

    fn open(&mut self, now_ms: u64, replica: ReplicaId, incarnation: u32) -> u64 {
        self.conns_opened += 1;
        self.conn = Some(Connection {
            id: self.conns_opened,
            replica,
            incarnation,
            broken: false,
            to_replica_at_ms: now_ms,
            to_client_at_ms: now_ms,
        });
        self.conns_opened
    }

    /// The leader's answer to the record with `sequence`, on `conn`: an
    /// offset acknowledges it; an error closes the connection (Kafka
    /// retries after a back-off, refreshing metadata). Answers on a closed
    /// connection are not read.
    pub(super) fn on_answer(
        &mut self,
        now_ms: u64,
        conn: u64,
        sequence: i32,
        answer: Result<i64, i16>,
    ) {
        if self.connection(conn).is_none() {
            return;
        }
        match answer {
            Ok(_) => {
                self.known = true;
                if let Some(unacked) = self.unacked.iter_mut().find(|u| u.sequence == sequence) {
                    unacked.acked = true;
                }
                while self.unacked.front().is_some_and(|u| u.acked) {
                    self.unacked.pop_front();
                }
            }
            Err(_) => {
                self.close();
                self.send_after_ms = now_ms + RETRY_BACKOFF_MS;
            }
        }
    }

    /// When its oldest unacknowledged record was made, if it has one.
    pub(super) fn oldest_unacked_ms(&self) -> Option<i64> {
        self.unacked
            .iter()
            .find(|u| !u.acked)
            .map(|u| u.timestamp_ms)
    }

    /// The producer id it stamps.
    pub(super) fn producer_id(&self) -> i64 {
        self.producer_id
    }
}
