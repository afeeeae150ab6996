//! The owner side of Produce: append each partition's batches in arrival
//! order (the ordered phase), then wait for the durability the acks ask for
//! (acks=all: fdatasync, group-committed across the shard), at most the
//! request's `timeout_ms` as Kafka does: then the partitions not there yet
//! are answered REQUEST_TIMED_OUT (their batches may still be written
//! later, as with Kafka; a retry may duplicate them unless idempotent).

use super::producer_state::AppendCheck;
use super::{Partition, ShardPartitions};
use crate::protocol::error_code;
use crate::storage::log::now_ms;
use crate::storage::{AppendBatch, AppendError, AppendResult, Durability, DurableWait};
use std::fmt;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Shortest time between two log lines about a full producer state.
pub const PRODUCERS_FULL_REPORT_INTERVAL_MS: i64 = 60_000;

/// How long the producer wants to wait, as acks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Acks {
    /// acks=0: no response at all.
    None,
    /// acks=1: after the write completed.
    Leader,
    /// acks=all (-1): after the batch is durable (fdatasync).
    All,
}

impl Acks {
    /// How far an append must have gone before it is acknowledged.
    pub fn durability(self) -> Durability {
        match self {
            Acks::None => Durability::Appended,
            Acks::Leader => Durability::Written,
            Acks::All => Durability::Synced,
        }
    }
}

/// Batches for the partitions one shard owns, from one Produce request.
pub struct ProducePart {
    /// The acks level of the request.
    pub acks: Acks,
    /// How long the producer waits for the acks (`timeout_ms`; at most
    /// this long from the ordered phase's end).
    pub timeout_ms: u64,
    /// Partitions in request order.
    pub partitions: Vec<PartitionAppend>,
}

/// Batches for one partition.
pub struct PartitionAppend {
    /// Topic name.
    pub topic: Arc<str>,
    /// Partition index.
    pub partition: i32,
    /// Validated batches, in order.
    pub batches: Vec<AppendBatch>,
    /// Set when the connection's shard refused the batches with this code
    /// as Kafka's log validator would: nothing is appended, and the answer
    /// names the partition's log start offset, as Kafka's does.
    pub refused: Option<i16>,
}

/// A partition's refusal in a Produce answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refused {
    /// Kafka's error code.
    pub code: i16,
    /// The partition's log start offset where Kafka names it (its log
    /// refused the batch: validation, sequence, epoch; a timed-out wait),
    /// -1 otherwise.
    pub log_start_offset: i64,
    /// The offset the batches were appended at when the refusal came after
    /// the append (a timed-out wait), -1 otherwise.
    pub base_offset: i64,
    /// The append time of those batches under LogAppendTime, -1 otherwise.
    pub log_append_time_ms: i64,
}

impl Refused {
    /// A refusal that names no log start offset (unknown partition,
    /// storage error, a check of the request itself).
    pub fn without_log_start(code: i16) -> Self {
        Refused::with_log_start(code, -1)
    }

    /// A refusal before the append that names the log start offset.
    pub fn with_log_start(code: i16, log_start_offset: i64) -> Self {
        Refused {
            code,
            log_start_offset,
            base_offset: -1,
            log_append_time_ms: -1,
        }
    }

    /// `code` for batches appended as `appended` whose acks did not come:
    /// REQUEST_TIMED_OUT, or an error of the replication wait
    /// (NOT_ENOUGH_REPLICAS_AFTER_APPEND, NOT_LEADER_OR_FOLLOWER). As
    /// Kafka's `DelayedProduce` (it only sets the error on the append's
    /// answer), it keeps the append's base offset, append time and log
    /// start offset: the batches are in the log.
    pub fn after_append(code: i16, appended: &AppendResult) -> Self {
        Refused {
            code,
            log_start_offset: appended.log_start_offset,
            base_offset: appended.base_offset,
            log_append_time_ms: appended.log_append_time_ms,
        }
    }
}

/// What an append to a partition did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Appended {
    /// The batches went in and got these offsets.
    New(AppendResult),
    /// A producer's retry of batches already in the log: their offsets.
    Duplicate(AppendResult),
}

/// Why a partition refused an append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProduceError {
    /// The log refused it (disk, failed or closed log, invalid batch).
    Log(AppendError),
    /// The producer epoch is older than the one the partition knows.
    InvalidProducerEpoch,
    /// The batch's sequence does not follow the producer's last sequence.
    OutOfOrderSequence,
    /// A new idempotent producer while the partition's producer state is
    /// full of producers that have not expired.
    ProducerStateFull,
}

impl ProduceError {
    /// Kafka error code for a Produce partition response.
    pub fn wire_error_code(&self) -> i16 {
        match self {
            ProduceError::Log(error) => error.wire_error_code(),
            ProduceError::InvalidProducerEpoch => error_code::INVALID_PRODUCER_EPOCH,
            ProduceError::OutOfOrderSequence => error_code::OUT_OF_ORDER_SEQUENCE_NUMBER,
            ProduceError::ProducerStateFull => error_code::THROTTLING_QUOTA_EXCEEDED,
        }
    }
}

impl From<AppendError> for ProduceError {
    fn from(error: AppendError) -> Self {
        ProduceError::Log(error)
    }
}

impl fmt::Display for ProduceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProduceError::Log(error) => write!(f, "{error}"),
            ProduceError::InvalidProducerEpoch => write!(f, "invalid producer epoch"),
            ProduceError::OutOfOrderSequence => write!(f, "out of order sequence number"),
            ProduceError::ProducerStateFull => write!(f, "producer state full"),
        }
    }
}

impl std::error::Error for ProduceError {}

impl Partition {
    /// Appends `batches` (validated) in order, stamping `leader_epoch`, and
    /// registers the wait for `durability` while the log's append turn is
    /// held (a later rollback of these offsets fails it).
    ///
    /// Idempotent producers: while the log's append turn is held, an older
    /// epoch is refused (`InvalidProducerEpoch`), a sequence gap too
    /// (`OutOfOrderSequence`); a retry of one of the producer's last 5
    /// batches is answered with its original offsets and not appended; an
    /// unknown producer id starts being tracked at any sequence, unless the
    /// producer state is full of unexpired producers (`ProducerStateFull`).
    /// With several batches, all must be new or all retries. Batches the log
    /// rolled back (ENOSPC) are first dropped from the producer state. A
    /// segment roll snapshots the producer state.
    pub async fn append(
        &self,
        batches: Vec<AppendBatch>,
        leader_epoch: i32,
        durability: Durability,
    ) -> Result<(Appended, DurableWait), ProduceError> {
        let slot = self.log.begin_append(batches).await?;
        if let Some(from_offset) = slot.take_truncation() {
            self.producers.borrow_mut().truncate_from(from_offset);
        }
        let now = now_ms();
        let check = self
            .producers
            .borrow_mut()
            .check_append(slot.batches(), now);
        match check {
            AppendCheck::Append => {}
            AppendCheck::Duplicate {
                base_offset,
                last_offset,
                timestamp,
            } => {
                // As Kafka: a retry is answered with the stored batch's timestamp as its
                // append time (on a LogAppendTime topic, the time the original got).
                let original = AppendResult {
                    base_offset,
                    last_offset,
                    log_append_time_ms: timestamp,
                    log_start_offset: self.log.log_start_offset(),
                };
                let wait = slot.wait_for(last_offset, durability);
                return Ok((Appended::Duplicate(original), wait));
            }
            AppendCheck::InvalidEpoch => return Err(ProduceError::InvalidProducerEpoch),
            AppendCheck::OutOfOrder => return Err(ProduceError::OutOfOrderSequence),
            AppendCheck::ProducersFull => {
                self.report_producers_full(now);
                return Err(ProduceError::ProducerStateFull);
            }
        }
        let snapshot = |offset| self.snapshot_producers(offset);
        let record =
            |batch: &_, base_offset| self.producers.borrow_mut().record(batch, base_offset);
        let committed = slot.commit(leader_epoch, durability, snapshot, record);
        let (result, wait) = committed.await?;
        Ok((Appended::New(result), wait))
    }

    /// `error` as a Produce answer. As Kafka's `ReplicaManager`: a refusal by
    /// the producer state names the log start offset; the log's own (storage,
    /// size) do not.
    fn refusal(&self, error: &ProduceError) -> Refused {
        match error {
            ProduceError::Log(_) => Refused::without_log_start(error.wire_error_code()),
            _ => Refused::with_log_start(error.wire_error_code(), self.log.log_start_offset()),
        }
    }

    /// Logs a refused new producer: the first refusal, then at most once per
    /// [`PRODUCERS_FULL_REPORT_INTERVAL_MS`] with the count since.
    fn report_producers_full(&self, now: i64) {
        let (reported_ms, refused) = self.producers_full_reported.get();
        let refused = refused + 1;
        if now.saturating_sub(reported_ms) < PRODUCERS_FULL_REPORT_INTERVAL_MS {
            self.producers_full_reported.set((reported_ms, refused));
            return;
        }
        self.producers_full_reported.set((now, 0));
        let config = self.producers.borrow().config();
        log::warn!(
            "{}: refused {refused} new idempotent producer(s) with THROTTLING_QUOTA_EXCEEDED: \
             {} producers wrote within producer.id.expiration.ms ({} ms), the bound \
             producer.ids.per.partition.max; each keeps its de-duplication",
            self.log.name(),
            config.producers_max,
            config.expiration_ms
        );
    }
}

/// The appends of one [`ProducePart`], done; their answers once durable.
pub struct AppendedPart {
    timeout: Duration,
    appended: Vec<Result<(AppendResult, DurableWait, ReplicatedWait), Refused>>,
}

impl ShardPartitions {
    /// Appends each partition's batches in arrival order. When this returns,
    /// the batches have their offsets; [`AppendedPart::until_durable`] gives
    /// the answers.
    pub async fn append(&self, part: ProducePart) -> AppendedPart {
        let durability = part.acks.durability();
        let mut appended = Vec::with_capacity(part.partitions.len());
        for request in part.partitions {
            let Some(partition) = self.get(&request.topic, request.partition) else {
                appended.push(Err(Refused::without_log_start(
                    error_code::NOT_LEADER_OR_FOLLOWER,
                )));
                continue;
            };
            if let Some(code) = request.refused {
                appended.push(Err(Refused::with_log_start(
                    code,
                    partition.log.log_start_offset(),
                )));
                continue;
            }
            if let Err(code) = partition.check_produce(part.acks == Acks::All) {
                appended.push(Err(Refused::without_log_start(code)));
                continue;
            }
            let batch_bytes: usize = request.batches.iter().map(AppendBatch::len).sum();
            let leader_epoch = partition.leader_epoch();
            // acks=all in a cluster also waits for the in-sync replicas.
            let replicated = (part.acks == Acks::All && partition.is_replicated())
                .then(|| (partition.clone(), leader_epoch));
            match partition
                .append(request.batches, leader_epoch, durability)
                .await
            {
                Ok((Appended::New(result), wait)) => {
                    let records = result.last_offset - result.base_offset + 1;
                    crate::metrics::count_appended(records, batch_bytes);
                    appended.push(Ok((result, wait, replicated)))
                }
                // Retries are not appended again and not counted.
                Ok((Appended::Duplicate(result), wait)) => {
                    appended.push(Ok((result, wait, replicated)))
                }
                Err(e) => appended.push(Err(partition.refusal(&e))),
            }
        }
        AppendedPart {
            timeout: Duration::from_millis(part.timeout_ms),
            appended,
        }
    }
}

/// A partition an acks=all answer also waits on (replicated to the ISR),
/// with the leader epoch it was appended at.
type ReplicatedWait = Option<(Rc<Partition>, i32)>;

impl AppendedPart {
    /// One answer per partition of the part, in order, once each append
    /// reached the durability its acks ask for, or REQUEST_TIMED_OUT for
    /// those that did not within the request's timeout.
    pub async fn until_durable(self) -> Vec<Result<AppendResult, Refused>> {
        let deadline = Instant::now() + self.timeout;
        let mut results = Vec::with_capacity(self.appended.len());
        for entry in self.appended {
            results.push(match entry {
                Err(code) => Err(code),
                Ok((result, wait, replicated)) => {
                    // An acks=0/1 wait is ready at once, and polled first.
                    let durable = async {
                        if wait.wait().await.is_err() {
                            return Err(Refused::without_log_start(
                                error_code::KAFKA_STORAGE_ERROR,
                            ));
                        }
                        let Some((partition, leader_epoch)) = replicated else {
                            return Ok(result);
                        };
                        match partition
                            .wait_replicated(result.last_offset, leader_epoch)
                            .await
                        {
                            Ok(()) => Ok(result),
                            Err(code) => Err(Refused::after_append(code, &result)),
                        }
                    };
                    let timed_out = async {
                        glommio::timer::sleep(deadline.saturating_duration_since(Instant::now()))
                            .await;
                        Err(Refused::after_append(
                            error_code::REQUEST_TIMED_OUT,
                            &result,
                        ))
                    };
                    futures_lite::future::or(durable, timed_out).await
                }
            });
        }
        results
    }
}
