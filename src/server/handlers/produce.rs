//! Produce (key 0). On the connection's shard: validate each partition's one
//! record batch (framing, CRC32C, and Kafka's checks of a client's batch:
//! offsets, count, records, producer fields) without decompressing, refuse a
//! partition named twice, copy only the batch's 61-byte
//! header, and send each owning shard one message with its partitions'
//! batches. On the owning shard the partition layer appends them and waits
//! for the durability the acks ask for ([`crate::partition::produce`]).

use super::{
    current_leader, error_code, produce_policy, respond, DispatchError, Pending, RequestMeta,
    VersionRange,
};
use crate::config::ListenerIndex;
use crate::metadata::topic_policy::TopicPolicy;
use crate::metadata::topic_table::is_internal_topic;
use crate::metrics::PartitionApi;
use crate::partition::produce::{Acks, PartitionAppend, ProducePart, Refused};
use crate::protocol::frame::{RequestFrame, FRAME_SIZE_PREFIX_BYTES};
use crate::protocol::piece::Piece;
use crate::protocol::record_batch::{
    validate_batches, BatchError, BatchInfo, RECORD_BATCH_HEADER_BYTES,
};
use crate::shard::messages::{ShardRequest, ShardResponse};
use crate::shard::router::Completion;
use crate::shard::ShardContext;
use crate::storage::{AppendBatch, AppendResult};
use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::produce_request::TopicProduceData;
use kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, PartitionProduceResponse, TopicProduceResponse,
};
use kafka_protocol::messages::{ApiKey, ProduceRequest, ProduceResponse};
use kafka_protocol::protocol::{Decodable, StrBytes};
use std::collections::HashSet;
use std::rc::Rc;
use std::sync::Arc;

/// Versions served. v0-2 are decoded as v3 (same body without a
/// transactional id) and answered in their own layout.
pub const VERSIONS: VersionRange = VersionRange { min: 0, max: 11 };
/// Lowest version the kafka-protocol crate decodes.
pub const CRATE_VERSION_MIN: i16 = 3;
/// First version whose refusals name the current leader (KIP-951).
const FIRST_CURRENT_LEADER_VERSION: i16 = 10;
/// Answer for each entry of a partition named twice in one request.
const DUPLICATE_PARTITION_MESSAGE: &str = "Duplicate topic partition in the request";

/// Where the answer for one partition of the request comes from.
enum Slot {
    /// Decided on this shard (validation failed, unknown partition...).
    Done(i16, Option<String>),
    /// Index into the answer of the part sent to `shard`, and the message
    /// and record errors of a refusal the owner only adds its log start
    /// offset to.
    Routed {
        shard: usize,
        index: usize,
        message: Option<String>,
        record_errors: Vec<i32>,
    },
}

/// A partition's batches refused on the connection's shard.
#[derive(Debug)]
pub struct Refusal {
    /// Kafka's error code.
    pub code: i16,
    /// Why, for the answer's error message.
    pub message: String,
    /// Kafka's log validator refuses it, not its checks of the request: the
    /// answer then names the partition's log start offset, as Kafka's does.
    pub by_log_validator: bool,
    /// Indexes in the batch of the records at fault (Kafka's `record_errors`).
    pub record_errors: Vec<i32>,
}

impl Refusal {
    /// A refusal after the request's checks: INVALID_RECORD and
    /// INVALID_TIMESTAMP come from Kafka's log validator there.
    pub fn new(code: i16, message: String) -> Self {
        let by_log_validator = matches!(
            code,
            error_code::INVALID_RECORD | error_code::INVALID_TIMESTAMP
        );
        Refusal {
            code,
            message,
            by_log_validator,
            record_errors: Vec::new(),
        }
    }

    /// A refusal by Kafka's checks of the request itself (no whole batch, or
    /// more than one), before any log sees it.
    fn request_check(code: i16, message: String) -> Self {
        Refusal {
            code,
            message,
            by_log_validator: false,
            record_errors: Vec::new(),
        }
    }
}

/// Answers a Produce request (v3+) whose records slice an allocation of
/// `buffer_bytes`.
pub async fn handle(
    ctx: &Rc<ShardContext>,
    meta: RequestMeta,
    request: ProduceRequest,
    buffer_bytes: usize,
) -> Pending {
    let acks = match request.acks {
        0 => Some(Acks::None),
        1 => Some(Acks::Leader),
        -1 => Some(Acks::All),
        _ => None,
    };
    // As Kafka: Produce never creates a topic (`auto.create.topics.enable` applies to
    // Metadata, which clients send first); a missing one is UNKNOWN_TOPIC_OR_PARTITION.
    let table = ctx.topic_table();
    // Before this process is registered its view may not list a partition it
    // holds on disk yet: NOT_LEADER_OR_FOLLOWER, as for the ones it lists.
    let unknown_code = match ctx.leads_nothing() {
        true => error_code::NOT_LEADER_OR_FOLLOWER,
        false => error_code::UNKNOWN_TOPIC_OR_PARTITION,
    };
    let repeated = repeated_partitions(&request.topic_data);
    let mut parts: Vec<Option<ProducePart>> = (0..ctx.nr_shards).map(|_| None).collect();
    let mut slots: Vec<Vec<Slot>> = Vec::with_capacity(request.topic_data.len());
    for topic in &request.topic_data {
        let name = topic.name.0.as_str();
        let topic_meta = table.get(name);
        let policy = TopicPolicy::for_topic(&ctx.config, topic_meta.map(|t| t.as_ref()));
        let topic_name: Arc<str> = Arc::from(name);
        let mut topic_slots = Vec::with_capacity(topic.partition_data.len());
        for partition in &topic.partition_data {
            let index = partition.index;
            let slot = match (acks, topic_meta) {
                (None, _) => Slot::Done(error_code::INVALID_REQUIRED_ACKS, None),
                _ if repeated.contains(&(name, index)) => Slot::Done(
                    error_code::INVALID_REQUEST,
                    Some(DUPLICATE_PARTITION_MESSAGE.into()),
                ),
                // As Kafka's ReplicaManager, on any broker: a client record
                // there would be loaded as group state.
                (_, Some(t)) if index >= 0 && index < t.partitions && is_internal_topic(name) => {
                    Slot::Done(error_code::INVALID_TOPIC_EXCEPTION, None)
                }
                (_, Some(t)) if index >= 0 && index < t.partitions && !ctx.leads(&t.id, index) => {
                    Slot::Done(error_code::NOT_LEADER_OR_FOLLOWER, None)
                }
                (_, Some(t)) if index >= 0 && index < t.partitions => {
                    let records = partition.records.as_ref();
                    let prepared = produce_policy::prepare(records, &policy, buffer_bytes).await;
                    let owner = ctx.owner_of(name, index);
                    let part = || ProducePart {
                        acks: acks.unwrap_or(Acks::All),
                        timeout_ms: request.timeout_ms.max(0) as u64,
                        partitions: Vec::new(),
                    };
                    route(&mut parts[owner], part, owner, &topic_name, index, prepared)
                }
                _ => Slot::Done(unknown_code, None),
            };
            topic_slots.push(slot);
        }
        slots.push(topic_slots);
    }
    // The ordered phase: each owning shard has the batches in line when this loop ends.
    let mut completions: Vec<(usize, Completion)> = Vec::new();
    for (shard, part) in parts.into_iter().enumerate() {
        if let Some(part) = part {
            let completion = ctx
                .router
                .start(ctx, shard, ShardRequest::Produce(part))
                .await;
            completions.push((shard, completion));
        }
    }
    let topics: Vec<StrBytes> = request
        .topic_data
        .iter()
        .map(|t| t.name.0.clone())
        .collect();
    let partitions: Vec<Vec<i32>> = request
        .topic_data
        .iter()
        .map(|t| t.partition_data.iter().map(|p| p.index).collect())
        .collect();
    let nr_shards = ctx.nr_shards;
    let ctx = ctx.clone();
    Box::pin(async move {
        let mut answers: Vec<Option<Vec<Result<AppendResult, Refused>>>> =
            (0..nr_shards).map(|_| None).collect();
        for (shard, completion) in completions {
            answers[shard] = Some(match completion.await {
                Ok(ShardResponse::Produce(results)) => results,
                Ok(_) => Vec::new(),
                Err(e) => {
                    log::warn!("produce to shard {shard} failed: {e:?}");
                    Vec::new()
                }
            });
        }
        if acks == Some(Acks::None) {
            return None;
        }
        let mut response = build_response(meta.version, &topics, &partitions, &slots, &answers);
        if meta.version >= FIRST_CURRENT_LEADER_VERSION {
            current_leader::name_in_produce(&ctx, &mut response, meta.listener);
        }
        if meta.version < CRATE_VERSION_MIN {
            return Some(vec![Piece::Mem(encode_legacy(meta, &response))]);
        }
        respond(meta, &response)
    })
}

/// The slot of a partition whose batches were prepared: its batches join
/// the part for `owner`; so does a refusal by Kafka's log validator, which
/// the owner answers with its log start offset. Other refusals are answered
/// here.
fn route(
    part: &mut Option<ProducePart>,
    new_part: impl FnOnce() -> ProducePart,
    owner: usize,
    topic: &Arc<str>,
    index: i32,
    prepared: Result<Vec<AppendBatch>, Refusal>,
) -> Slot {
    let (batches, refused, message, record_errors) = match prepared {
        Ok(batches) => (batches, None, None, Vec::new()),
        Err(refusal) if refusal.by_log_validator => (
            Vec::new(),
            Some(refusal.code),
            Some(refusal.message),
            refusal.record_errors,
        ),
        Err(refusal) => return Slot::Done(refusal.code, Some(refusal.message)),
    };
    let part = part.get_or_insert_with(new_part);
    part.partitions.push(PartitionAppend {
        topic: topic.clone(),
        partition: index,
        batches,
        refused,
    });
    Slot::Routed {
        shard: owner,
        index: part.partitions.len() - 1,
        message,
        record_errors,
    }
}

/// Topic-partitions named more than once in one request. Kafka keeps the
/// last entry of such a partition and drops the others without a word (its
/// handler collects them in a map); here every entry of it is refused, as
/// Kafka refuses a repeated partition in ListOffsets.
fn repeated_partitions(topics: &[TopicProduceData]) -> HashSet<(&str, i32)> {
    let mut repeated = HashSet::new();
    let entries: usize = topics.iter().map(|t| t.partition_data.len()).sum();
    if entries < 2 {
        return repeated;
    }
    let mut seen = HashSet::with_capacity(entries);
    for topic in topics {
        for partition in &topic.partition_data {
            let key = (topic.name.0.as_str(), partition.index);
            if !seen.insert(key) {
                repeated.insert(key);
            }
        }
    }
    repeated
}

/// Validates a partition's records and splits them into batches whose body
/// stays a slice of the request's buffer (of `pinned_bytes`).
pub(super) fn prepare_batches(
    records: Option<&Bytes>,
    max_batch_bytes: usize,
    pinned_bytes: usize,
) -> Result<Vec<AppendBatch>, Refusal> {
    let Some(records) = records.filter(|r| !r.is_empty()) else {
        return Err(Refusal::request_check(
            error_code::CORRUPT_MESSAGE,
            "no record batch".into(),
        ));
    };
    let mut infos: Vec<BatchInfo> = Vec::new();
    validate_batches(records, max_batch_bytes, &mut infos).map_err(|e| {
        let (code, message) = (e.wire_error_code(), e.to_string());
        match e {
            BatchError::Truncated | BatchError::Empty | BatchError::MultipleBatches => {
                Refusal::request_check(code, message)
            }
            _ => Refusal::new(code, message),
        }
    })?;
    crate::alloc_stats::count_produced_batches(infos.len());
    let mut batches = Vec::with_capacity(infos.len());
    for info in infos {
        if info.is_transactional() {
            return Err(Refusal::new(
                error_code::INVALID_TXN_STATE,
                "transactions are not supported yet".into(),
            ));
        }
        if info.is_control() {
            return Err(Refusal::new(
                error_code::INVALID_RECORD,
                "clients may not send control batches".into(),
            ));
        }
        let header_end = info.position + RECORD_BATCH_HEADER_BYTES;
        let mut header = [0u8; RECORD_BATCH_HEADER_BYTES];
        header.copy_from_slice(&records[info.position..header_end]);
        batches.push(AppendBatch {
            header,
            body: records.slice(header_end..info.position + info.len),
            pinned_bytes,
            info,
        });
    }
    Ok(batches)
}

fn build_response(
    version: i16,
    topics: &[StrBytes],
    partitions: &[Vec<i32>],
    slots: &[Vec<Slot>],
    answers: &[Option<Vec<Result<AppendResult, Refused>>>],
) -> ProduceResponse {
    let responses = topics
        .iter()
        .zip(partitions.iter().zip(slots))
        .map(|(name, (indexes, topic_slots))| {
            let partition_responses = indexes
                .iter()
                .zip(topic_slots)
                .map(|(&index, slot)| partition_response(version, index, slot, answers))
                .collect();
            TopicProduceResponse::default()
                .with_name(kafka_protocol::messages::TopicName(name.clone()))
                .with_partition_responses(partition_responses)
        })
        .collect();
    ProduceResponse::default().with_responses(responses)
}

fn partition_response(
    version: i16,
    index: i32,
    slot: &Slot,
    answers: &[Option<Vec<Result<AppendResult, Refused>>>],
) -> PartitionProduceResponse {
    let (outcome, message, record_errors) = match slot {
        Slot::Done(code, message) => (
            Err(Refused::without_log_start(*code)),
            message.clone(),
            &[][..],
        ),
        Slot::Routed {
            shard,
            index,
            message,
            record_errors,
        } => (
            answers
                .get(*shard)
                .and_then(|a| a.as_ref())
                .and_then(|a| a.get(*index).cloned())
                .unwrap_or(Err(Refused::without_log_start(
                    error_code::NOT_LEADER_OR_FOLLOWER,
                ))),
            message.clone(),
            &record_errors[..],
        ),
    };
    let response = PartitionProduceResponse::default().with_index(index);
    match outcome {
        Ok(result) => response
            .with_base_offset(result.base_offset)
            .with_log_append_time_ms(result.log_append_time_ms)
            .with_log_start_offset(result.log_start_offset),
        Err(refused) => {
            let code = refused.code;
            crate::metrics::with_local(|m| m.partition_error(PartitionApi::Produce, code));
            let response = response
                .with_error_code(code)
                .with_base_offset(refused.base_offset)
                .with_log_append_time_ms(refused.log_append_time_ms)
                .with_log_start_offset(refused.log_start_offset);
            if version >= 8 {
                let record_errors = record_errors
                    .iter()
                    .map(|&batch_index| {
                        BatchIndexAndErrorMessage::default().with_batch_index(batch_index)
                    })
                    .collect();
                response
                    .with_error_message(message.map(StrBytes::from_string))
                    .with_record_errors(record_errors)
            } else {
                response
            }
        }
    }
}

/// Produce v0-2: the body is v3's without the leading transactional id, so it
/// is decoded as v3 behind a null one; the answer uses the old layout. Magic
/// 0/1 message sets are converted to v2 batches first.
pub async fn handle_legacy(
    ctx: &Rc<ShardContext>,
    request: RequestFrame,
    listener: ListenerIndex,
) -> Result<Pending, DispatchError> {
    let mut body = BytesMut::with_capacity(request.body.len() + 2);
    body.put_i16(-1);
    body.put_slice(&request.body);
    let mut body = body.freeze();
    let buffer_bytes = body.len();
    let mut decoded = ProduceRequest::decode(&mut body, CRATE_VERSION_MIN).map_err(|e| {
        DispatchError::Malformed {
            api_key: ApiKey::Produce as i16,
            version: request.api_version,
            reason: e.to_string(),
        }
    })?;
    super::legacy_versions::up_convert_produce(&mut decoded);
    let meta = RequestMeta {
        api_key: ApiKey::Produce,
        version: request.api_version,
        correlation_id: request.correlation_id,
        listener,
    };
    Ok(handle(ctx, meta, decoded, buffer_bytes).await)
}

/// Encodes a Produce response in the v0-2 layout.
fn encode_legacy(meta: RequestMeta, response: &ProduceResponse) -> Bytes {
    let mut out = BytesMut::new();
    out.put_i32(0); // size, patched below
    out.put_i32(meta.correlation_id);
    out.put_i32(response.responses.len() as i32);
    for topic in &response.responses {
        let name = topic.name.0.as_bytes();
        out.put_i16(name.len() as i16);
        out.put_slice(name);
        out.put_i32(topic.partition_responses.len() as i32);
        for partition in &topic.partition_responses {
            out.put_i32(partition.index);
            out.put_i16(partition.error_code);
            out.put_i64(partition.base_offset);
            if meta.version >= 2 {
                out.put_i64(partition.log_append_time_ms);
            }
        }
    }
    if meta.version >= 1 {
        out.put_i32(response.throttle_time_ms);
    }
    let size = (out.len() - FRAME_SIZE_PREFIX_BYTES) as i32;
    out[..FRAME_SIZE_PREFIX_BYTES].copy_from_slice(&size.to_be_bytes());
    out.freeze()
}
