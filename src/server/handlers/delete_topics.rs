//! DeleteTopics (key 20): by name, or by topic id from v6. The controller
//! removes the topic from the table; each owning shard deletes its files.
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
use crate::metadata::controller::ControllerRequest;
use crate::protocol::piece::Piece;
use crate::shard::calls::{controller, group};
use crate::shard::ShardContext;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use std::rc::Rc;

/// Versions served.
pub const VERSIONS: VersionRange = VersionRange { min: 1, max: 6 };

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
    let table = ctx.topic_table();
    // (name if resolvable, the topic's id as Kafka answers it: looked up for a name, as asked
    // for an id; nil for an unknown name)
    let asked: Vec<(Option<String>, uuid::Uuid)> = if meta.version >= 6 {
        request
            .topics
            .iter()
            .map(|t| match &t.name {
                Some(name) => (
                    Some(name.0.as_str().to_string()),
                    table
                        .get(name.0.as_str())
                        .map_or(uuid::Uuid::nil(), |m| m.id),
                ),
                None => (
                    table.get_by_id(&t.topic_id).map(|m| m.name.clone()),
                    t.topic_id,
                ),
            })
            .collect()
    } else {
        request
            .topic_names
            .iter()
            .map(|n| (Some(n.0.as_str().to_string()), uuid::Uuid::nil()))
            .collect()
    };
    let names: Vec<String> = asked.iter().filter_map(|(n, _)| n.clone()).collect();
    let offsets_topic_named = names.iter().any(|name| name == OFFSETS_TOPIC);
    let answer = controller::request(ctx, ControllerRequest::DeleteTopics { names }).await;
    // A cluster controller's `delete.topic.enable=false` refuses the whole
    // request, as Kafka's does (ids not known here included). Ids are not
    // forwarded, only the names they resolve to here: a request of only ids
    // unknown here reaches the controller with no name and gets no outcome,
    // so UNKNOWN_TOPIC_ID where Kafka's disabled controller answers
    // TOPIC_DELETION_DISABLED, and an id this broker has not applied yet is
    // UNKNOWN_TOPIC_ID where Kafka's controller would delete the topic.
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
    let mut outcomes = answer.outcomes.into_iter();
    let results = asked
        .into_iter()
        .map(|(name, id)| {
            let result = DeletableTopicResult::default().with_topic_id(if meta.version >= 6 {
                id
            } else {
                uuid::Uuid::nil()
            });
            match name {
                None => result.with_error_code(error_code::UNKNOWN_TOPIC_ID),
                Some(name) => {
                    let mut outcome = outcomes.next();
                    if let (Some(dropped), Some(o)) = (&offsets_dropped, outcome.as_mut()) {
                        if name == OFFSETS_TOPIC {
                            single_node_offsets_outcome(dropped, &mut o.error_code, &mut o.message);
                        }
                    }
                    let code = outcome
                        .as_ref()
                        .map_or(error_code::KAFKA_STORAGE_ERROR, |o| o.error_code);
                    let result = result
                        .with_name(Some(TopicName(StrBytes::from_string(name))))
                        .with_error_code(code);
                    if meta.version >= 5 {
                        result.with_error_message(
                            outcome.and_then(|o| o.message).map(StrBytes::from_string),
                        )
                    } else {
                        result
                    }
                }
            }
        })
        .collect();
    respond(
        meta,
        &DeleteTopicsResponse::default().with_responses(results),
    )
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
    let refused = |name: Option<TopicName>, id: uuid::Uuid| {
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
            .map(|name| refused(Some(name.clone()), uuid::Uuid::nil()))
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
