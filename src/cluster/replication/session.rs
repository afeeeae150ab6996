//! The fetcher of one (local shard, leader broker) pair: one connection,
//! one task and one incremental fetch session covering every partition the
//! shard follows from that leader. Each round sends one Fetch (v15,
//! ReplicaState), appends what came back as the leader wrote it, waits
//! until all of it is fsynced (one group commit for the whole round), then
//! fetches again: the fetch offset a follower sends is therefore durable,
//! which is what the leader's high watermark counts.

use super::book::{FetchPlan, Fields, Key, SessionBook};
use super::wire::LeaderConnection;
use super::{
    REPLICA_FETCH_BACKOFF_MS, REPLICA_FETCH_MAX_BYTES, REPLICA_FETCH_PARTITION_MAX_BYTES,
    REPLICA_FETCH_TIMEOUT_MS, REPLICA_FETCH_VERSION, REPLICA_FETCH_WAIT_MAX_MS,
};
use crate::cluster::BrokerId;
use crate::local::join_all;
use crate::local::notify::LocalEvent;
use crate::partition::leader_epochs::EpochEnd;
use crate::partition::replica::follower::{LeaderLogBounds, OutOfRange};
use crate::partition::replication::FollowerAppendError;
use crate::partition::Partition;
use crate::protocol::error_code;
use crate::protocol::record_batch::{peek_batch, RECORD_BATCH_HEADER_BYTES};
use crate::storage::{AppendBatch, DurableWait};
use bytes::Bytes;
use kafka_protocol::messages::fetch_request::{
    FetchPartition, FetchTopic, ForgottenTopic, ReplicaState,
};
use kafka_protocol::messages::fetch_response::PartitionData;
use kafka_protocol::messages::{FetchRequest, FetchResponse};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;
use uuid::Uuid;

/// One partition a shard follows.
#[derive(Clone)]
pub struct Followed {
    /// Topic id.
    pub topic_id: Uuid,
    /// Partition index.
    pub index: i32,
    /// The partition, open on this shard.
    pub partition: Rc<Partition>,
}

/// The fetcher of one leader for one shard.
pub struct LeaderSession {
    node_id: BrokerId,
    leader: BrokerId,
    /// This broker's epoch (Fetch's ReplicaState).
    broker_epoch: Cell<i64>,
    /// The leader's inter-broker endpoint, as it registered it.
    address: RefCell<Option<String>>,
    followed: RefCell<HashMap<Key, Followed>>,
    /// Fired when the followed set or the address changes, or at stop.
    changed: RefCell<LocalEvent>,
    stopped: Cell<bool>,
}

impl LeaderSession {
    /// Starts fetching from `leader` on this shard.
    pub fn start(node_id: BrokerId, leader: BrokerId) -> Rc<Self> {
        let session = Rc::new(LeaderSession {
            node_id,
            leader,
            broker_epoch: Cell::new(-1),
            address: RefCell::new(None),
            followed: RefCell::new(HashMap::new()),
            changed: RefCell::new(LocalEvent::default()),
            stopped: Cell::new(false),
        });
        let running = session.clone();
        glommio::spawn_local(async move { running.run().await }).detach();
        session
    }

    /// The partitions to follow from now on, the leader's address and this
    /// broker's epoch.
    pub fn update(&self, address: Option<String>, broker_epoch: i64, followed: Vec<Followed>) {
        self.broker_epoch.set(broker_epoch);
        *self.address.borrow_mut() = address;
        *self.followed.borrow_mut() = followed
            .into_iter()
            .map(|f| ((f.topic_id, f.index), f))
            .collect();
        self.wake();
    }

    /// Stops the fetcher (after the exchange in flight).
    pub fn stop(&self) {
        self.stopped.set(true);
        self.wake();
    }

    fn wake(&self) {
        let fired = std::mem::take(&mut *self.changed.borrow_mut());
        fired.fire();
    }

    async fn run(self: Rc<Self>) {
        let mut connection: Option<LeaderConnection> = None;
        let mut book = SessionBook::default();
        while !self.stopped.get() {
            let changed = self.changed.borrow().clone();
            let wanted = self.positions();
            let address = self.address.borrow().clone();
            let (Some(address), false) = (address, wanted.is_empty()) else {
                changed.wait().await;
                continue;
            };
            if connection.as_ref().is_some_and(|c| c.address() != address) {
                connection = None;
            }
            let fields: Vec<(Key, Fields)> = wanted.iter().map(|(k, f, _)| (*k, *f)).collect();
            let plan = book.plan(&fields);
            match self.round(&mut connection, &address, &plan, &wanted).await {
                Ok((session_id, quiet)) => {
                    book.on_answer(&plan, session_id);
                    if !quiet {
                        self.back_off(&changed).await;
                    }
                }
                Err(error) => {
                    log::debug!(
                        "replica fetch from broker {} ({address}): {error}",
                        self.leader
                    );
                    connection = None;
                    book.reset();
                    self.back_off(&changed).await;
                }
            }
        }
    }

    /// Sleeps `replica.fetch.backoff.ms`, or less if the followed set changes.
    async fn back_off(&self, changed: &LocalEvent) {
        let sleep = glommio::timer::sleep(Duration::from_millis(REPLICA_FETCH_BACKOFF_MS));
        futures_lite::future::or(sleep, changed.wait()).await;
    }

    /// Each followed partition's key, fetch fields and state.
    fn positions(&self) -> Vec<(Key, Fields, Followed)> {
        let followed = self.followed.borrow();
        let mut wanted = Vec::with_capacity(followed.len());
        for (key, f) in followed.iter() {
            let Some(position) = f.partition.follower_position() else {
                continue;
            };
            if position.leader != self.leader {
                continue;
            }
            let fields = Fields {
                fetch_offset: position.fetch_offset,
                last_fetched_epoch: position.last_fetched_epoch,
                current_leader_epoch: position.leader_epoch,
                log_start_offset: position.log_start_offset,
            };
            wanted.push((*key, fields, f.clone()));
        }
        wanted
    }

    /// One fetch round: send, append, fsync. `Ok((session id, quiet))`;
    /// not quiet when a partition answered an error (the caller backs off).
    async fn round(
        &self,
        connection: &mut Option<LeaderConnection>,
        address: &str,
        plan: &FetchPlan,
        wanted: &[(Key, Fields, Followed)],
    ) -> Result<(i32, bool), String> {
        if connection.is_none() {
            let opened = LeaderConnection::connect(address).await;
            *connection = Some(opened.map_err(|e| format!("connect: {e}"))?);
        }
        let Some(open) = connection.as_mut() else {
            return Err("no connection".to_string());
        };
        let request = self.request(plan);
        let timeout = Duration::from_millis(REPLICA_FETCH_TIMEOUT_MS);
        let response: FetchResponse = open
            .exchange(&request, REPLICA_FETCH_VERSION, timeout)
            .await
            .map_err(|e| e.to_string())?;
        if response.error_code != error_code::NONE {
            return Err(format!("fetch answered error {}", response.error_code));
        }
        let session_id = response.session_id;
        let quiet = self.apply(response, wanted).await;
        Ok((session_id, quiet))
    }

    fn request(&self, plan: &FetchPlan) -> FetchRequest {
        let mut topics: Vec<FetchTopic> = Vec::new();
        for ((topic_id, index), fields) in &plan.send {
            let partition = FetchPartition::default()
                .with_partition(*index)
                .with_current_leader_epoch(fields.current_leader_epoch)
                .with_fetch_offset(fields.fetch_offset)
                .with_last_fetched_epoch(fields.last_fetched_epoch)
                .with_log_start_offset(fields.log_start_offset)
                .with_partition_max_bytes(REPLICA_FETCH_PARTITION_MAX_BYTES);
            match topics.iter_mut().find(|t| t.topic_id == *topic_id) {
                Some(topic) => topic.partitions.push(partition),
                None => topics.push(
                    FetchTopic::default()
                        .with_topic_id(*topic_id)
                        .with_partitions(vec![partition]),
                ),
            }
        }
        let mut forgotten: Vec<ForgottenTopic> = Vec::new();
        for (topic_id, index) in &plan.forget {
            match forgotten.iter_mut().find(|t| t.topic_id == *topic_id) {
                Some(topic) => topic.partitions.push(*index),
                None => forgotten.push(
                    ForgottenTopic::default()
                        .with_topic_id(*topic_id)
                        .with_partitions(vec![*index]),
                ),
            }
        }
        let replica = ReplicaState::default()
            .with_replica_id(self.node_id.into())
            .with_replica_epoch(self.broker_epoch.get());
        FetchRequest::default()
            .with_replica_state(replica)
            .with_max_wait_ms(REPLICA_FETCH_WAIT_MAX_MS)
            .with_min_bytes(1)
            .with_max_bytes(REPLICA_FETCH_MAX_BYTES)
            .with_session_id(plan.session_id)
            .with_session_epoch(plan.epoch)
            .with_topics(topics)
            .with_forgotten_topics_data(forgotten)
    }

    /// Appends every answered partition's batches, truncates diverging ones,
    /// then waits until the appends are fsynced (together). Returns false
    /// when some partition answered an error.
    async fn apply(&self, response: FetchResponse, wanted: &[(Key, Fields, Followed)]) -> bool {
        let mut quiet = true;
        let mut waits: Vec<(DurableWait, Rc<Partition>, LeaderRead)> = Vec::new();
        for topic in response.responses {
            for data in topic.partitions {
                let key = (topic.topic_id, data.partition_index);
                let Some((_, fields, followed)) = wanted.iter().find(|(k, _, _)| *k == key) else {
                    continue;
                };
                match self.apply_partition(fields, followed, data).await {
                    Applied::Appended(wait, read) => {
                        waits.push((wait, followed.partition.clone(), read))
                    }
                    Applied::Nothing => {}
                    Applied::Failed => quiet = false,
                }
            }
        }
        let synced = join_all(waits.into_iter().map(|(wait, partition, read)| async move {
            let result = wait.wait().await;
            if result.is_ok() {
                partition.on_leader_read(read.high_watermark, read.log_start_offset);
            }
            result.is_ok()
        }))
        .await;
        quiet && synced.into_iter().all(|ok| ok)
    }

    async fn apply_partition(
        &self,
        fields: &Fields,
        followed: &Followed,
        data: PartitionData,
    ) -> Applied {
        let partition = &followed.partition;
        if data.error_code == error_code::OFFSET_OUT_OF_RANGE {
            let leader_log = LeaderLogBounds {
                start_offset: data.log_start_offset,
                // The leader's log end, by convention (`replica_error`).
                end_offset: data.high_watermark,
            };
            return self.out_of_range(partition, leader_log).await;
        }
        if data.error_code != error_code::NONE {
            log::debug!(
                "replica fetch of {}-{} from broker {}: error {}",
                followed.topic_id,
                followed.index,
                self.leader,
                data.error_code
            );
            return Applied::Failed;
        }
        if data.diverging_epoch.epoch >= 0 {
            let diverging = EpochEnd {
                epoch: data.diverging_epoch.epoch,
                end_offset: data.diverging_epoch.end_offset,
            };
            return self.truncate(partition, diverging).await;
        }
        let read = LeaderRead {
            high_watermark: data.high_watermark,
            log_start_offset: data.log_start_offset,
        };
        partition.on_leader_read(read.high_watermark, read.log_start_offset);
        let Some(records) = data.records.filter(|r| !r.is_empty()) else {
            return Applied::Nothing;
        };
        let batches = split_batches(records, fields.fetch_offset);
        if batches.is_empty() {
            return Applied::Nothing;
        }
        let appended = partition
            .append_as_follower(self.leader, fields.current_leader_epoch, batches)
            .await;
        match appended {
            Ok(wait) => Applied::Appended(wait, read),
            Err(FollowerAppendError::NotFollowing) => Applied::Nothing,
            Err(FollowerAppendError::Log(error)) => {
                log::warn!(
                    "{}: replicated batches not appended: {error}",
                    partition.log().name()
                );
                Applied::Failed
            }
        }
    }

    async fn truncate(&self, partition: &Partition, diverging: EpochEnd) -> Applied {
        let Some(offset) = partition.follower_truncation_offset(diverging) else {
            return Applied::Nothing;
        };
        match partition.truncate_as_follower(offset).await {
            Ok(()) => Applied::Nothing,
            Err(error) => {
                log::error!(
                    "{}: cannot truncate to {offset} (leader {} diverges at epoch {} end {}): \
                     {error}",
                    partition.log().name(),
                    self.leader,
                    diverging.epoch,
                    diverging.end_offset
                );
                Applied::Failed
            }
        }
    }
}

impl LeaderSession {
    /// The leader's answer OFFSET_OUT_OF_RANGE (Kafka's
    /// `AbstractFetcherThread.handleOutOfRangeError`): cut to the leader's
    /// log end when this log reaches past it, start over at its log start
    /// when this log ends below it, else fetch again after a back-off.
    async fn out_of_range(&self, partition: &Partition, leader_log: LeaderLogBounds) -> Applied {
        match partition.follower_out_of_range(leader_log) {
            Some(OutOfRange::StartAt(start)) => self.restart_at(partition, start).await,
            Some(OutOfRange::TruncateTo(end)) => self.truncate_to_leader_end(partition, end).await,
            Some(OutOfRange::Retry) => {
                log::debug!(
                    "{}: offset out of range on broker {} (its log {}..{})",
                    partition.log().name(),
                    self.leader,
                    leader_log.start_offset,
                    leader_log.end_offset
                );
                Applied::Failed
            }
            None => Applied::Nothing,
        }
    }

    /// This log ends past the leader's end `leader_end` (an unclean
    /// election): cut it there, as Kafka does, then fetch from it.
    async fn truncate_to_leader_end(&self, partition: &Partition, leader_end: i64) -> Applied {
        log::warn!(
            "{}: log end {} is past the end {leader_end} of leader broker {}: truncating to it",
            partition.log().name(),
            partition.log().log_end_offset(),
            self.leader
        );
        match partition.truncate_as_follower(leader_end).await {
            Ok(()) => Applied::Nothing,
            Err(error) => {
                log::error!(
                    "{}: cannot truncate to the leader's log end {leader_end}: {error}",
                    partition.log().name()
                );
                Applied::Failed
            }
        }
    }

    /// The leader's log starts after this log's end: start empty there
    /// (Kafka's `truncateFullyAndStartAt`), then fetch from it.
    async fn restart_at(&self, partition: &Partition, leader_log_start: i64) -> Applied {
        match partition.restart_as_follower_at(leader_log_start).await {
            Ok(()) => Applied::Nothing,
            Err(error) => {
                log::error!(
                    "{}: cannot start over at the leader's log start {leader_log_start}: {error}",
                    partition.log().name()
                );
                Applied::Failed
            }
        }
    }
}

/// What one partition's answer did.
enum Applied {
    /// Batches appended; fsynced once the wait resolves; the leader's high
    /// watermark and log start then apply.
    Appended(DurableWait, LeaderRead),
    /// Nothing to append (or truncated: the next fetch names the new end).
    Nothing,
    /// An error: back off before the next round.
    Failed,
}

/// The whole batches of `records` from `fetch_offset` on, zero-copy (slices
/// of the answer). A batch cut by the leader's byte limit ends the list; a
/// batch that fails its CRC ends it too (fetched again next round).
fn split_batches(records: Bytes, fetch_offset: i64) -> Vec<AppendBatch> {
    let mut batches = Vec::new();
    let mut position = 0;
    while position < records.len() {
        let rest = &records[position..];
        let info = match peek_batch(rest, true) {
            Ok(Some(info)) => info,
            Ok(None) => break,
            Err(error) => {
                log::warn!("replicated batch at byte {position} refused: {error:?}");
                break;
            }
        };
        let end = position + info.len;
        if info.last_offset() >= fetch_offset {
            let mut header = [0u8; RECORD_BATCH_HEADER_BYTES];
            header.copy_from_slice(&rest[..RECORD_BATCH_HEADER_BYTES]);
            batches.push(AppendBatch {
                header,
                body: records.slice(position + RECORD_BATCH_HEADER_BYTES..end),
                pinned_bytes: records.len(),
                info,
            });
        }
        position = end;
    }
    batches
}

/// What a leader's read answer names of its log.
#[derive(Clone, Copy)]
struct LeaderRead {
    high_watermark: i64,
    log_start_offset: i64,
}
