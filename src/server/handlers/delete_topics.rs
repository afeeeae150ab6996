//! DeleteTopics (key 20): by name, or by topic id from v6. The controller
//! removes the topic from the table; each owning shard deletes its files.
//! In a cluster every id goes to the controller as an id, as Kafka 4's
//! brokers forward DeleteTopics whole: this broker's table may lag it (a
//! topic created, or deleted and created again under the same name, not
//! applied here yet).
//!
//! A single node keeps its offsets partitions in local files, not as a
//! topic of the table, yet Kafka accepts a DeleteTopics of
//! `__consumer_offsets` (its KRaft controller refuses no internal topic) and
//! loses every group and commit with it: so does a single node, on every
//! shard. In a cluster the topic is in the table and goes the usual way.

use super::{error_code, respond, RequestMeta, VersionRange};
use crate::coordinator::offsets::partitions::OFFSETS_TOPIC;
use crate::coordinator::{GroupRequest, GroupResponse};
use crate::local::join_all;
use crate::metadata::controller::{ControllerRequest, TopicOutcome};
use crate::metadata::topic_table::TopicTable;
use crate::protocol::piece::Piece;
use crate::shard::calls::{controller, group};
use crate::shard::ShardContext;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use std::rc::Rc;
use uuid::Uuid;

/// Versions served.
pub const VERSIONS: VersionRange = VersionRange { min: 1, max: 6 };

/// Kafka 4.4's message for an id no topic has (`Errors.UNKNOWN_TOPIC_ID`'s).
const UNKNOWN_TOPIC_ID_MESSAGE: &str = "This server does not host this topic ID.";

/// Answers a DeleteTopics request.
pub async fn handle(
    ctx: &Rc<ShardContext>,
    meta: RequestMeta,
    request: DeleteTopicsRequest,
) -> Option<Vec<Piece>> {
    // In a cluster only the controller's `delete.topic.enable` counts, as in
    // Kafka 4 (the broker forwards DeleteTopics): the controller refuses.
    if !ctx.cluster.enabled && !ctx.config.delete_topic_enable {
        return respond(meta, &deletion_disabled(meta.version, &request));
    }
    // Kafka's brokers forward ids and its controller resolves them: this
    // broker's table may not have applied the topic an id names yet, or may
    // still give its name to an older topic. A single node's table is its
    // controller's: it resolves ids itself, and one unknown here is unknown
    // (UNKNOWN_TOPIC_ID below).
    let resolve_ids = !ctx.cluster.enabled;
    let asked = asked_topics(&ctx.topic_table(), meta.version, &request, resolve_ids);
    let names: Vec<String> = asked.iter().filter_map(|(n, _)| n.clone()).collect();
    let ids: Vec<Uuid> = match resolve_ids {
        false => asked
            .iter()
            .filter(|(name, _)| name.is_none())
            .map(|(_, id)| *id)
            .collect(),
        true => Vec::new(),
    };
    let names_asked = names.len();
    let offsets_topic_named = names.iter().any(|name| name == OFFSETS_TOPIC);
    let change = ControllerRequest::DeleteTopics { names, ids };
    let answer = controller::request(ctx, change).await;
    // A cluster controller's `delete.topic.enable=false` refuses the whole
    // request, as Kafka's does (ids not known anywhere included).
    let refused_by_controller = answer
        .outcomes
        .iter()
        .any(|o| o.error_code == error_code::TOPIC_DELETION_DISABLED);
    if refused_by_controller {
        return respond(meta, &deletion_disabled(meta.version, &request));
    }
    let offsets_dropped = match offsets_topic_named && !ctx.cluster.enabled {
        true => Some(drop_offsets_topic(ctx).await),
        false => None,
    };
    // One outcome per name, then one per id forwarded.
    let mut by_name = answer.outcomes;
    let mut by_id = by_name
        .split_off(names_asked.min(by_name.len()))
        .into_iter();
    let mut by_name = by_name.into_iter();
    let results = asked
        .into_iter()
        .map(|(name, id)| {
            let id = if meta.version >= 6 { id } else { Uuid::nil() };
            match name {
                // A single node answers an id its table lacks itself.
                None => match by_id.next() {
                    Some(outcome) => resolved_by_controller(meta.version, id, outcome),
                    None => resolved_by_controller(meta.version, id, unknown_id()),
                },
                Some(name) => {
                    let mut outcome = by_name.next();
                    if let (Some(dropped), Some(o)) = (&offsets_dropped, outcome.as_mut()) {
                        if name == OFFSETS_TOPIC {
                            single_node_offsets_outcome(dropped, &mut o.error_code, &mut o.message);
                        }
                    }
                    named_result(meta.version, id, name, outcome)
                }
            }
        })
        .collect();
    respond(
        meta,
        &DeleteTopicsResponse::default().with_responses(results),
    )
}

/// Each topic of the request: (its name, if asked by name or, when
/// `resolve_ids`, found here for its id; its id as Kafka answers it: looked
/// up for a name, as asked for an id; nil for an unknown name or below v6).
fn asked_topics(
    table: &TopicTable,
    version: i16,
    request: &DeleteTopicsRequest,
    resolve_ids: bool,
) -> Vec<(Option<String>, Uuid)> {
    if version < 6 {
        return request
            .topic_names
            .iter()
            .map(|n| (Some(n.0.as_str().to_string()), Uuid::nil()))
            .collect();
    }
    request
        .topics
        .iter()
        .map(|t| match &t.name {
            Some(name) => {
                let id = table.get(name.0.as_str()).map_or(Uuid::nil(), |m| m.id);
                (Some(name.0.as_str().to_string()), id)
            }
            None => {
                let found = resolve_ids.then(|| table.get_by_id(&t.topic_id)).flatten();
                (found.map(|m| m.name.clone()), t.topic_id)
            }
        })
        .collect()
}

/// A topic asked by name: the controller's outcome (KAFKA_STORAGE_ERROR if
/// it gave none), its message from v5.
fn named_result(
    version: i16,
    id: Uuid,
    name: String,
    outcome: Option<TopicOutcome>,
) -> DeletableTopicResult {
    let code = outcome
        .as_ref()
        .map_or(error_code::KAFKA_STORAGE_ERROR, |o| o.error_code);
    let result = DeletableTopicResult::default()
        .with_topic_id(id)
        .with_name(Some(TopicName(StrBytes::from_string(name))))
        .with_error_code(code);
    match version {
        5.. => {
            result.with_error_message(outcome.and_then(|o| o.message).map(StrBytes::from_string))
        }
        _ => result,
    }
}

/// The outcome of an id no table has, as Kafka 4.4 answers it.
fn unknown_id() -> TopicOutcome {
    TopicOutcome {
        name: String::new(),
        error_code: error_code::UNKNOWN_TOPIC_ID,
        message: None,
    }
}

/// A topic asked by an id this broker does not know, as the controller
/// answered it: with the topic's name when it found one (Kafka's
/// `ControllerApis.deleteTopics` answers a resolved id its name), a null
/// name when it did not (the response's default is an empty name, which
/// Kafka never sends), and Kafka's message for UNKNOWN_TOPIC_ID.
fn resolved_by_controller(version: i16, id: Uuid, outcome: TopicOutcome) -> DeletableTopicResult {
    let name = (!outcome.name.is_empty()).then(|| TopicName(StrBytes::from_string(outcome.name)));
    let message = match outcome.error_code {
        error_code::UNKNOWN_TOPIC_ID => outcome
            .message
            .or_else(|| Some(UNKNOWN_TOPIC_ID_MESSAGE.to_string())),
        _ => outcome.message,
    };
    let result = DeletableTopicResult::default()
        .with_topic_id(id)
        .with_name(name)
        .with_error_code(outcome.error_code);
    match version {
        5.. => result.with_error_message(message.map(StrBytes::from_string)),
        _ => result,
    }
}

/// `delete.topic.enable=false`: the whole request is refused, as Kafka
/// 4.4's controller refuses it (`ControllerApis.deleteTopics` throws before
/// looking a topic up, and `DeleteTopicsRequest.getErrorResponse` answers):
/// each topic as the request gave it (a name, or from v6 an id; neither
/// looked up), TOPIC_DELETION_DISABLED or INVALID_REQUEST before v3 (which
/// has no such error), and no error message.
fn deletion_disabled(version: i16, request: &DeleteTopicsRequest) -> DeleteTopicsResponse {
    let code = match version {
        ..=2 => error_code::INVALID_REQUEST,
        _ => error_code::TOPIC_DELETION_DISABLED,
    };
    let refused = |name: Option<TopicName>, id: Uuid| {
        DeletableTopicResult::default()
            .with_name(name)
            .with_topic_id(id)
            .with_error_code(code)
    };
    let results = match version {
        6.. => request
            .topics
            .iter()
            .map(|t| refused(t.name.clone(), t.topic_id))
            .collect(),
        _ => request
            .topic_names
            .iter()
            .map(|name| refused(Some(name.clone()), Uuid::nil()))
            .collect(),
    };
    DeleteTopicsResponse::default().with_responses(results)
}

/// Deletes every group and committed offset of a single node, on every
/// shard: the total of offsets deleted, or the first shard's failure.
async fn drop_offsets_topic(ctx: &Rc<ShardContext>) -> Result<usize, String> {
    let drops = (0..ctx.nr_shards)
        .map(|shard| group::call_shard(ctx, shard, GroupRequest::DropOffsetsTopic));
    let mut deleted = 0;
    for (shard, answer) in join_all(drops).await.into_iter().enumerate() {
        deleted += match answer {
            Ok(GroupResponse::OffsetsTopicDropped(Ok(count))) => count,
            Ok(GroupResponse::OffsetsTopicDropped(Err(e))) => {
                return Err(format!("shard {shard}: {e}"))
            }
            Ok(_) => return Err(format!("shard {shard}: unexpected answer")),
            Err(code) => return Err(format!("shard {shard}: error code {code}")),
        };
    }
    log::info!(
        "{OFFSETS_TOPIC} deleted: every group unloaded, {deleted} committed offset(s) deleted"
    );
    Ok(deleted)
}

/// The outcome of a single node's DeleteTopics of the offsets topic, from
/// the controller's (`code`, `message`: the table has no such topic unless
/// a client made one) and the drop of its local offsets partitions.
fn single_node_offsets_outcome(
    dropped: &Result<usize, String>,
    code: &mut i16,
    message: &mut Option<String>,
) {
    match dropped {
        Err(e) => {
            log::error!("{OFFSETS_TOPIC}: deleting the committed offsets failed: {e}");
            *code = error_code::KAFKA_STORAGE_ERROR;
            *message = Some(format!("deleting the committed offsets failed: {e}"));
        }
        Ok(_) if *code == error_code::UNKNOWN_TOPIC_OR_PARTITION => {
            *code = error_code::NONE;
            *message = None;
        }
        Ok(_) => {}
    }
}
