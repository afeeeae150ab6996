//! The simulated client: an idempotent producer (Kafka's with
//! `enable.idempotence`). It makes batches of 1 to [`BATCH_RECORDS_MAX`]
//! records; each batch gets the producer's id, epoch and the next sequence
//! once (its records take the sequences from there), and keeps them over
//! every retry; up to [`IN_FLIGHT_MAX`] batches are unacknowledged at a time
//! (Kafka's `max.in.flight.requests.per.connection` bound for idempotence),
//! so the oldest one is always among the 5 batches a partition remembers per
//! producer.
//!
//! It talks to the leader over one connection at a time, which delivers in
//! order and, like TCP, loses nothing without losing everything after it
//! ([`Connection`]). A timeout, an error answer, a leader change or the
//! leader's restart closes it; the next connection sends every batch not
//! acknowledged, oldest first, with its original sequence. What was sent
//! on a closed connection still arrives (TCP delivers what precedes the
//! FIN); only its answers are not read.
//!
//! A request timeout and a retriable error answer (NOT_LEADER_OR_FOLLOWER,
//! NOT_ENOUGH_REPLICAS...) are retried with the batch's sequence, as the
//! Java producer retries them (`Sender.canRetry`, `reenqueueBatch`). It
//! bumps its epoch only where the Java idempotent producer does (KIP-360,
//! `TransactionManager`): on OUT_OF_ORDER_SEQUENCE_NUMBER for its oldest
//! unacknowledged batch (a gap in the partition's log), and when a batch it
//! sent reaches [`DELIVERY_TIMEOUT_MS`] unacknowledged (it expires, and the
//! client cannot tell whether it was written: an unresolved sequence).
//! Sequences then restart at 0 and every batch not acknowledged is sent
//! again as a new batch of the new epoch (the application sending the
//! expired records again). Such a record may be committed under both epochs
//! (Kafka's at-least-once across a bump); the partition fences the old
//! epoch's requests still in flight (INVALID_PRODUCER_EPOCH).
//!
//! It once bumped at a fifth of its request timeouts and error answers,
//! which no Java producer does, and seed 51344 (controller cut both ways)
//! showed where that leads on the healthy network after the faults. A
//! record was committed, but its answers missed: one came 1 ms after its
//! request timed out, and lost messages broke the next connections (each
//! costs a request timeout). Two bumps then appended it again at the log
//! end, where a healthy acks=all answer takes half the scaled request
//! timeout on average and its tail passes it (50 ms mean, p99 under 128
//! ms, with a 4-member ISR; [`latency`](super::latency)): the answer of the
//! second came 1 ms late again,
//! and the run ended with it unacknowledged. Retried with its sequence, it
//! is answered at once from the partition's producer state.
//!
//! Until its first record is acknowledged it has one batch in flight:
//! a partition accepts an unknown producer's first batch at any sequence
//! (Kafka's `ProducerAppendInfo.checkSequence` does too), so a pipelined
//! second record reaching a leader after the first was refused would be
//! committed with a gap before it (seed 0 of the first version of this
//! simulator did exactly that). Once a record is committed, every leader
//! holds it and knows the producer.

use super::ProducerStamp;
use crate::cluster::prng::Prng;
use crate::partition::replica::ReplicaId;
use crate::protocol::error_code;
use std::collections::VecDeque;

/// Records a producer has unacknowledged at most (Kafka's limit of
/// `max.in.flight.requests.per.connection` with idempotence).
pub(super) const IN_FLIGHT_MAX: usize = 5;
/// A request unanswered this long is presumed lost (`request.timeout.ms`,
/// scaled to the run): the connection is closed and everything resent.
const REQUEST_TIMEOUT_MS: u64 = 100;
/// A batch sent and unacknowledged this long after it was made expires
/// (`delivery.timeout.ms`; it must be at least `linger.ms` +
/// `request.timeout.ms`). Kafka's default, 120 s, is four times both its
/// `request.timeout.ms` and its `replica.lag.time.max.ms` (30 s each);
/// here the request timeout is scaled tighter than the lag time, to provoke
/// retries, and the delivery timeout keeps Kafka's ratio to the lag time.
/// So a batch outlasts an ISR shrink and several retries, as in Kafka:
/// at four request timeouts, connections broken by lost messages on a
/// healthy network expired batches and their bumps appended them again
/// (seed 20834).
const DELIVERY_TIMEOUT_MS: u64 = 4 * super::REPLICA_LAG_TIME_MAX_MS;
/// After an error answer, the client waits this long before it sends again
/// (`retry.backoff.ms`, scaled).
const RETRY_BACKOFF_MS: u64 = 10;
/// Records one batch carries at most.
pub(super) const BATCH_RECORDS_MAX: u64 = 4;
/// The first producer id; client `i` has `PRODUCER_ID_BASE + i`.
const PRODUCER_ID_BASE: i64 = 1_000;

/// A client's produce request: one batch, on connection `conn`.
#[derive(Clone, Copy, Debug)]
pub(super) struct ProduceRequest {
    /// The client's index.
    pub(super) client: usize,
    pub(super) conn: u64,
    /// The incarnation of the replica process the connection reaches.
    pub(super) incarnation: u32,
    /// The id of the batch's first record (the others follow it; the same
    /// over every retry, and over an epoch bump).
    pub(super) record: u64,
    /// Records in the batch.
    pub(super) records: u32,
    /// The batch's stamp: the sequence is its first record's.
    pub(super) stamp: ProducerStamp,
    /// The record's timestamp: when the client made it.
    pub(super) timestamp_ms: i64,
    /// The leader epoch of the metadata it was sent by (KIP-320's
    /// `current_leader_epoch`, modelled on Produce: see
    /// `SimReplica::produce`): stale once the partition moved on while it
    /// was in flight or held by a paused replica, future while the replica
    /// has not heard of the state the client has.
    pub(super) leader_epoch: i32,
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

/// A batch not acknowledged yet.
#[derive(Clone, Copy, Debug)]
struct Unacked {
    record: u64,
    records: u32,
    /// Its first sequence (in the client's current epoch).
    sequence: i32,
    timestamp_ms: i64,
    /// When it expires unacknowledged (made, or made again by an epoch
    /// bump, [`DELIVERY_TIMEOUT_MS`] before).
    expires_ms: u64,
    /// Sent at least once in this epoch: it may be written.
    attempted: bool,
    /// When it was sent on the current connection (`None`: not yet).
    sent_ms: Option<u64>,
    /// Acknowledged, but an older record is not yet (it stays to keep the
    /// window counted from the oldest unacknowledged).
    acked: bool,
}

#[derive(Debug)]
pub(super) struct SimClient {
    index: usize,
    producer_id: i64,
    epoch: i16,
    next_sequence: i32,
    unacked: VecDeque<Unacked>,
    /// Whether a record of it was acknowledged (the partition knows it).
    known: bool,
    conn: Option<Connection>,
    conns_opened: u64,
    /// Epoch bumps it made.
    pub(super) epoch_bumps: u64,
    /// No sending before this time (the back-off after an error answer).
    send_after_ms: u64,
}

impl SimClient {
    pub(super) fn new(index: usize) -> Self {
        SimClient {
            index,
            producer_id: PRODUCER_ID_BASE + index as i64,
            epoch: 0,
            next_sequence: 0,
            unacked: VecDeque::new(),
            known: false,
            conn: None,
            conns_opened: 0,
            epoch_bumps: 0,
            send_after_ms: 0,
        }
    }

    /// Batches it may have unacknowledged: one until the partition knows it.
    /// An epoch bump keeps the full window: the partition knows the
    /// producer (at an older epoch), so a new epoch's batch that does not
    /// start at sequence 0 is refused, not committed after a gap.
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

    /// Makes a new batch of 1 to [`BATCH_RECORDS_MAX`] records when the
    /// window has room.
    pub(super) fn make_batch(&mut self, now_ms: u64, next_record: &mut u64, prng: &mut Prng) {
        // Drawn either way, so the draws do not depend on the window.
        let records = prng.range(1, BATCH_RECORDS_MAX) as u32;
        if self.unacked.len() >= self.window() {
            return;
        }
        self.unacked.push_back(Unacked {
            record: *next_record,
            records,
            sequence: self.next_sequence,
            timestamp_ms: now_ms as i64,
            expires_ms: now_ms + DELIVERY_TIMEOUT_MS,
            attempted: false,
            sent_ms: None,
            acked: false,
        });
        *next_record += u64::from(records);
        self.next_sequence += records as i32;
    }

    /// Bumps the epoch when a batch it sent expired; else closes the
    /// connection when it is no use: a request timed out, or it does not
    /// reach `leader` (the replica and its incarnation; `None`: no leader).
    /// Everything unacknowledged is then sent again.
    pub(super) fn check_connection(&mut self, now_ms: u64, leader: Option<(ReplicaId, u32)>) {
        if self.expired(now_ms) {
            self.bump_epoch(now_ms);
            return;
        }
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

    /// Whether a batch it sent reached its delivery timeout unacknowledged
    /// (the Java producer expires it, `Sender.getExpiredInflightBatches`,
    /// and, not knowing whether it was written, bumps the epoch:
    /// `TransactionManager.maybeResolveSequences`).
    fn expired(&self, now_ms: u64) -> bool {
        self.unacked
            .iter()
            .any(|u| !u.acked && u.attempted && now_ms >= u.expires_ms)
    }

    /// Bumps the epoch (after closing the connection: answers to the old
    /// epoch's requests are not read): sequences restart at 0, and every
    /// batch not acknowledged is a new batch of the new epoch, keeping its
    /// records, with a new delivery timeout.
    fn bump_epoch(&mut self, now_ms: u64) {
        self.close();
        self.epoch += 1;
        self.unacked.retain(|u| !u.acked);
        let mut next = 0;
        for unacked in &mut self.unacked {
            unacked.sequence = next;
            unacked.expires_ms = now_ms + DELIVERY_TIMEOUT_MS;
            unacked.attempted = false;
            next += unacked.records as i32;
        }
        self.next_sequence = next;
        self.epoch_bumps += 1;
    }

    fn close(&mut self) {
        self.conn = None;
        for unacked in &mut self.unacked {
            unacked.sent_ms = None;
        }
    }

    /// The requests to send now to `leader` (with its incarnation), named
    /// by metadata at `leader_epoch`: every unacknowledged record not sent
    /// on the current connection, oldest first, on a new connection if
    /// there is none.
    pub(super) fn requests(
        &mut self,
        now_ms: u64,
        leader: Option<(ReplicaId, u32)>,
        leader_epoch: i32,
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
            producer_epoch: self.epoch,
            sequence,
        };
        let mut requests = Vec::new();
        for unacked in self.unacked.iter_mut().filter(|u| !u.acked) {
            if unacked.sent_ms.is_none() {
                unacked.sent_ms = Some(now_ms);
                unacked.attempted = true;
                requests.push(ProduceRequest {
                    client: self.index,
                    conn,
                    incarnation,
                    record: unacked.record,
                    records: unacked.records,
                    stamp: stamp(unacked.sequence),
                    timestamp_ms: unacked.timestamp_ms,
                    leader_epoch,
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

    /// The leader's answer to `request`: an offset acknowledges its batch;
    /// an error closes the connection (Kafka retries after a back-off,
    /// refreshing metadata), and OUT_OF_ORDER_SEQUENCE_NUMBER for its oldest
    /// unacknowledged batch bumps the epoch. Answers on a closed connection
    /// are not read.
    pub(super) fn on_answer(
        &mut self,
        now_ms: u64,
        request: &ProduceRequest,
        answer: Result<i64, i16>,
    ) {
        if self.connection(request.conn).is_none() || request.stamp.producer_epoch != self.epoch {
            return;
        }
        match answer {
            Ok(_) => self.on_acknowledged(request.stamp.sequence),
            Err(code) => {
                self.close();
                self.send_after_ms = now_ms + RETRY_BACKOFF_MS;
                if code == error_code::OUT_OF_ORDER_SEQUENCE_NUMBER && self.is_oldest(request) {
                    self.bump_epoch(now_ms);
                }
            }
        }
    }

    /// The batch at `sequence` was acknowledged.
    fn on_acknowledged(&mut self, sequence: i32) {
        self.known = true;
        if let Some(unacked) = self.unacked.iter_mut().find(|u| u.sequence == sequence) {
            unacked.acked = true;
        }
        while self.unacked.front().is_some_and(|u| u.acked) {
            self.unacked.pop_front();
        }
    }

    /// Whether `request` carries its oldest unacknowledged batch: the one
    /// right after its last acknowledged sequence. The Java producer bumps
    /// on OUT_OF_ORDER_SEQUENCE_NUMBER only for that batch (the partition's
    /// log then has a gap); a later one is refused because an earlier one
    /// is missing, and is retried after it
    /// (`TransactionManager.canRetry`).
    fn is_oldest(&self, request: &ProduceRequest) -> bool {
        self.unacked
            .front()
            .is_some_and(|u| u.sequence == request.stamp.sequence)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The leader's process, as the client addresses it.
    const LEADER: Option<(ReplicaId, u32)> = Some((1, 0));
    /// Its leader epoch, as the client's metadata names it.
    const LEADER_EPOCH: i32 = 0;

    /// A client with `batches` batches made and sent at `now_ms`.
    fn client_sending(batches: usize, now_ms: u64) -> (SimClient, Vec<ProduceRequest>) {
        let mut client = SimClient::new(0);
        client.known = true;
        let mut prng = Prng::new(1);
        let mut next_record = 0;
        for _ in 0..batches {
            client.make_batch(now_ms, &mut next_record, &mut prng);
        }
        let requests = client.requests(now_ms, LEADER, LEADER_EPOCH);
        assert_eq!(requests.len(), batches);
        (client, requests)
    }

    #[test]
    fn a_timed_out_request_is_retried_with_its_sequence() {
        let (mut client, sent) = client_sending(1, 0);
        let mut now = 0;
        while now + REQUEST_TIMEOUT_MS < DELIVERY_TIMEOUT_MS {
            now += REQUEST_TIMEOUT_MS;
            client.check_connection(now, LEADER);
            let retry = client.requests(now, LEADER, LEADER_EPOCH);
            assert_eq!(retry.len(), 1, "at {now} ms");
            assert_ne!(retry[0].conn, sent[0].conn, "on a new connection");
            assert_eq!(retry[0].stamp, sent[0].stamp, "its epoch and sequence");
        }
        assert_eq!(client.epoch_bumps, 0);
    }

    #[test]
    fn a_batch_past_its_delivery_timeout_bumps_the_epoch() {
        let (mut client, sent) = client_sending(2, 0);
        client.check_connection(DELIVERY_TIMEOUT_MS, LEADER);
        assert_eq!(client.epoch_bumps, 1);
        let again = client.requests(DELIVERY_TIMEOUT_MS, LEADER, LEADER_EPOCH);
        let stamps: Vec<_> = again.iter().map(|r| r.stamp).collect();
        let first = sent[0].stamp;
        let second = ProducerStamp {
            producer_epoch: 1,
            sequence: sent[0].records as i32,
            ..first
        };
        let first = ProducerStamp {
            producer_epoch: 1,
            sequence: 0,
            ..first
        };
        assert_eq!(stamps, vec![first, second], "new batches of the new epoch");
        // A new delivery timeout: the resent batches do not expire at once.
        client.check_connection(DELIVERY_TIMEOUT_MS + REQUEST_TIMEOUT_MS, LEADER);
        assert_eq!(client.epoch_bumps, 1);
    }

    #[test]
    fn out_of_order_bumps_only_for_the_oldest_batch() {
        let (mut client, sent) = client_sending(2, 0);
        let out_of_order = Err(error_code::OUT_OF_ORDER_SEQUENCE_NUMBER);
        // The later batch is refused because the first is missing: retried.
        client.on_answer(1, &sent[1], out_of_order);
        assert_eq!(client.epoch_bumps, 0);
        let retried = client.requests(1 + RETRY_BACKOFF_MS, LEADER, LEADER_EPOCH);
        assert_eq!(retried[0].stamp, sent[0].stamp);
        // The oldest is refused: the partition's log has a gap.
        client.on_answer(2 + RETRY_BACKOFF_MS, &retried[0], out_of_order);
        assert_eq!(client.epoch_bumps, 1);
    }
}
