//! DeleteTopics (key 20): by name, or by topic id from v6. The controller
//! removes the topic from the table; each owning shard deletes its files.

use super::{error_code, respond, RequestMeta, VersionRange};
use crate::metadata::controller::ControllerRequest;
use crate::protocol::piece::Piece;
use crate::shard::calls::controller;
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
    let answer = controller::request(ctx, ControllerRequest::DeleteTopics { names }).await;
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
                    let outcome = outcomes.next();
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
