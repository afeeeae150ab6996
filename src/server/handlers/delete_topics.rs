//! DeleteTopics (key 20): by name, or by topic id from v6. The controller
//! removes the topic from the table; each owning shard deletes its files.
//! In a cluster every id goes to the controller as an id, as Kafka 4's
//! brokers forward DeleteTopics whole: this broker's table may lag it (a
//! topic created, or deleted and created again under the same name, not
//! applied here yet).
//!
//! Rows are checked as Kafka 4.4's controller checks them
//! (`ControllerApis.deleteTopics`): a row with neither a name nor an id, or
//! with both, is refused as it is; a name or an id asked twice, or a topic
//! asked by name and by id, is refused by the controller, which deletes
//! none of them ([`crate::metadata::topic_deletion`]); the answer has one
//! row per name or id refused, not one per repeat.
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
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use std::collections::BTreeSet;
use std::rc::Rc;
use uuid::Uuid;

/// Versions served.
pub const VERSIONS: VersionRange = VersionRange { min: 1, max: 6 };

/// Kafka 4.4's message for a name no topic has
/// (`Errors.UNKNOWN_TOPIC_OR_PARTITION`'s).
const UNKNOWN_TOPIC_MESSAGE: &str = "This server does not host this topic-partition.";
/// Kafka 4.4's message for an id no topic has (`Errors.UNKNOWN_TOPIC_ID`'s).
const UNKNOWN_TOPIC_ID_MESSAGE: &str = "This server does not host this topic ID.";
/// Kafka 4.4's messages for the rows its controller refuses as they are
/// (`ControllerApis.deleteTopics`), each INVALID_REQUEST.
const NEITHER_MESSAGE: &str = "Neither topic name nor id were specified.";
const BOTH_MESSAGE: &str = "You may not specify both topic name and topic id.";
const DUPLICATE_NAME_MESSAGE: &str = "Duplicate topic name.";
const DUPLICATE_ID_MESSAGE: &str = "Duplicate topic id.";
const NAME_OF_ASKED_ID_MESSAGE: &str =
    "The provided topic name maps to an ID that was already supplied.";

/// One topic of the request, as it was asked.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Row {
    /// A v6+ row with a null name and the zero id.
    Neither,
    /// A v6+ row with a name and a non-zero id.
    Both(String, Uuid),
    /// By name.
    Name(String),
    /// By id (v6+).
    Id(Uuid),
}

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
    let rows = asked_rows(meta.version, &request);
    let before = ctx.topic_table();
    // Every id goes to the controller as asked, as Kafka's brokers forward
    // them: a cluster broker's table may not have applied the topic an id
    // names yet, or may still give its name to an older topic.
    let names: Vec<String> = rows.iter().filter_map(name_of).collect();
    let ids: Vec<Uuid> = rows.iter().filter_map(id_of).collect();
    let names_asked = names.len();
    let change = ControllerRequest::DeleteTopics { names, ids };
    let answer = controller::request(ctx, change).await;
    // A cluster controller's `delete.topic.enable=false` refuses the whole
    // request, as Kafka's does (ids not known anywhere included; a request
    // whose rows were all refused here reaches it with no topic, and is
    // refused with one row naming none).
    let refused_by_controller = answer
        .outcomes
        .iter()
        .any(|o| o.error_code == error_code::TOPIC_DELETION_DISABLED);
    if refused_by_controller {
        return respond(meta, &deletion_disabled(meta.version, &request));
    }
    let mut by_name = answer.outcomes;
    let by_id = by_name.split_off(names_asked.min(by_name.len()));
    if !ctx.cluster.enabled {
        drop_offsets_topic_if_deleted(ctx, &rows, &mut by_name).await;
    }
    let tables = [before.as_ref(), answer.table.as_ref()];
    let results = answer_rows(meta.version, rows, by_name, by_id, &tables);
    respond(
        meta,
        &DeleteTopicsResponse::default().with_responses(results),
    )
}

/// Each topic of the request as it was asked: from v6 the `topics` array,
/// before it `topic_names`.
fn asked_rows(version: i16, request: &DeleteTopicsRequest) -> Vec<Row> {
    if version < 6 {
        let name = |n: &TopicName| Row::Name(n.0.as_str().to_string());
        return request.topic_names.iter().map(name).collect();
    }
    let row = |t: &DeleteTopicState| match (&t.name, t.topic_id.is_nil()) {
        (None, true) => Row::Neither,
        (None, false) => Row::Id(t.topic_id),
        (Some(name), true) => Row::Name(name.0.as_str().to_string()),
        (Some(name), false) => Row::Both(name.0.as_str().to_string(), t.topic_id),
    };
    request.topics.iter().map(row).collect()
}

fn name_of(row: &Row) -> Option<String> {
    match row {
        Row::Name(name) => Some(name.clone()),
        _ => None,
    }
}

fn id_of(row: &Row) -> Option<Uuid> {
    match row {
        Row::Id(id) => Some(*id),
        _ => None,
    }
}

/// The rows of the answer, in request order, as Kafka 4.4 answers them
/// (its order is shuffled; the rows are the same): a name or an id asked
/// more than once gets one row, and an id whose topic was also asked by
/// name none (the name's row says why neither was deleted). `by_name` and
/// `by_id` are the controller's outcomes; `tables` (before the request,
/// after it) give a name's id.
fn answer_rows(
    version: i16,
    rows: Vec<Row>,
    by_name: Vec<TopicOutcome>,
    by_id: Vec<TopicOutcome>,
    tables: &[&TopicTable],
) -> Vec<DeletableTopicResult> {
    let repeated = repeated_rows(&rows);
    let mut by_name = by_name.into_iter();
    let mut by_id = by_id.into_iter();
    // An outcome per name and per id, repeats included: taken in step.
    let outcomes: Vec<Option<TopicOutcome>> = rows
        .iter()
        .map(|row| match row {
            Row::Name(_) => by_name.next(),
            Row::Id(_) => by_id.next(),
            Row::Neither | Row::Both(..) => None,
        })
        .collect();
    // A controller from before these rules (a rolling upgrade) deletes the
    // first of the repeats: then the row says it was deleted.
    let deleted_repeats: BTreeSet<&Row> = rows
        .iter()
        .zip(&outcomes)
        .filter(|(row, o)| {
            repeated.contains(*row) && o.as_ref().is_some_and(|o| o.error_code == error_code::NONE)
        })
        .map(|(row, _)| row)
        .collect();
    let mut answered = BTreeSet::new();
    let mut results = Vec::with_capacity(rows.len());
    for (row, outcome) in rows.iter().zip(outcomes) {
        let deleted = outcome
            .as_ref()
            .is_some_and(|o| o.error_code == error_code::NONE);
        let answer = match (repeated.contains(row), deleted_repeats.contains(row)) {
            (false, _) => answered_row(version, row.clone(), outcome, tables),
            (true, false) => Some(duplicate_result(version, row)),
            (true, true) if deleted => answered_row(version, row.clone(), outcome, tables),
            (true, true) => None,
        };
        if repeated.contains(row) && answer.is_some() && !answered.insert(row.clone()) {
            continue;
        }
        if let Some(result) = answer {
            results.push(result);
        }
    }
    results
}

/// One row's answer; `None` for an id whose topic was also asked by name
/// (the name's row answers).
fn answered_row(
    version: i16,
    row: Row,
    outcome: Option<TopicOutcome>,
    tables: &[&TopicTable],
) -> Option<DeletableTopicResult> {
    let result = match row {
        Row::Neither => invalid(version, None, Uuid::nil(), NEITHER_MESSAGE),
        Row::Both(name, id) => invalid(version, Some(name), id, BOTH_MESSAGE),
        Row::Name(name) => {
            let id = id_of_name(version, &name, tables);
            named_result(version, id, name, outcome)
        }
        Row::Id(id) => match outcome {
            // Its topic was asked by name too: the name's row answers.
            Some(o) if o.error_code == error_code::INVALID_REQUEST => return None,
            Some(o) => resolved_by_controller(version, id, o),
            // As for a name: the controller gave no outcome.
            None => resolved_by_controller(version, id, no_outcome()),
        },
    };
    Some(result)
}

/// The rows asked more than once the same way (names and ids alone).
fn repeated_rows(rows: &[Row]) -> BTreeSet<Row> {
    let mut seen = BTreeSet::new();
    rows.iter()
        .filter(|r| matches!(r, Row::Name(_) | Row::Id(_)))
        .filter(|r| !seen.insert(*r))
        .cloned()
        .collect()
}

/// The one row Kafka answers for a name, or an id, asked more than once:
/// the name with the zero id, or the id with a null name.
fn duplicate_result(version: i16, row: &Row) -> DeletableTopicResult {
    match row {
        Row::Id(id) => invalid(version, None, *id, DUPLICATE_ID_MESSAGE),
        Row::Name(name) => invalid(
            version,
            Some(name.clone()),
            Uuid::nil(),
            DUPLICATE_NAME_MESSAGE,
        ),
        // Never repeated: only names and ids are counted.
        Row::Neither | Row::Both(..) => invalid(version, None, Uuid::nil(), NEITHER_MESSAGE),
    }
}

/// An INVALID_REQUEST row, its message from v5.
fn invalid(version: i16, name: Option<String>, id: Uuid, message: &str) -> DeletableTopicResult {
    let result = DeletableTopicResult::default()
        .with_name(name.map(|n| TopicName(StrBytes::from_string(n))))
        .with_topic_id(id)
        .with_error_code(error_code::INVALID_REQUEST);
    with_message(version, result, Some(message.to_string()))
}

/// The id Kafka answers for a topic asked by name (from v6): the topic's,
/// from the table before the request (a deleted topic is gone after it),
/// else after it (a broker that had not applied the topic yet). Nil for
/// an unknown name.
fn id_of_name(version: i16, name: &str, tables: &[&TopicTable]) -> Uuid {
    let found = tables
        .iter()
        .find_map(|table| table.get(name).map(|m| m.id));
    match version {
        6.. => found.unwrap_or(Uuid::nil()),
        _ => Uuid::nil(),
    }
}

/// A topic asked by name: the controller's outcome (KAFKA_STORAGE_ERROR if
/// it gave none), its message from v5: a cluster's controller sends codes
/// alone, so Kafka's message for each is filled in here. A name the
/// controller refused (INVALID_REQUEST, asked once) maps to an id also
/// asked.
fn named_result(
    version: i16,
    id: Uuid,
    name: String,
    outcome: Option<TopicOutcome>,
) -> DeletableTopicResult {
    let code = outcome
        .as_ref()
        .map_or(error_code::KAFKA_STORAGE_ERROR, |o| o.error_code);
    let message = outcome.and_then(|o| o.message);
    // A lagging broker's table may still give a deleted topic's id: Kafka
    // answers an unknown name the zero id.
    let id = match code {
        error_code::UNKNOWN_TOPIC_OR_PARTITION => Uuid::nil(),
        _ => id,
    };
    let message = match code {
        error_code::INVALID_REQUEST => message.or_else(|| Some(NAME_OF_ASKED_ID_MESSAGE.into())),
        error_code::UNKNOWN_TOPIC_OR_PARTITION => {
            message.or_else(|| Some(UNKNOWN_TOPIC_MESSAGE.into()))
        }
        _ => message,
    };
    let result = DeletableTopicResult::default()
        .with_topic_id(id)
        .with_name(Some(TopicName(StrBytes::from_string(name))))
        .with_error_code(code);
    with_message(version, result, message)
}

/// `result` with `message` from v5, which has the field.
fn with_message(
    version: i16,
    result: DeletableTopicResult,
    message: Option<String>,
) -> DeletableTopicResult {
    match version {
        5.. => result.with_error_message(message.map(StrBytes::from_string)),
        _ => result,
    }
}

/// The outcome of a topic the controller's answer left out.
fn no_outcome() -> TopicOutcome {
    TopicOutcome {
        name: String::new(),
        error_code: error_code::KAFKA_STORAGE_ERROR,
        message: None,
    }
}

/// A topic asked by id, as the controller answered it: with the topic's
/// name when it found one (Kafka's `ControllerApis.deleteTopics` answers a
/// resolved id its name), a null name when it did not (the response's
/// default is an empty name, which Kafka never sends), and Kafka's message
/// for UNKNOWN_TOPIC_ID.
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
    with_message(version, result, message)
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

/// A single node's DeleteTopics of the offsets topic, when the controller
/// did not refuse it (it was asked once, by name): deletes every group and
/// committed offset, and sets the topic's outcome in `by_name` (one per
/// name row, in order) from the controller's and the drop's.
async fn drop_offsets_topic_if_deleted(
    ctx: &Rc<ShardContext>,
    rows: &[Row],
    by_name: &mut [TopicOutcome],
) {
    let mut names = rows.iter().filter_map(name_of);
    let Some(at) = names.position(|name| name == OFFSETS_TOPIC) else {
        return;
    };
    let Some(outcome) = by_name.get_mut(at) else {
        return;
    };
    // A refusal (the name asked twice) deletes nothing, as for any topic.
    let deletable = [error_code::NONE, error_code::UNKNOWN_TOPIC_OR_PARTITION];
    if !deletable.contains(&outcome.error_code) {
        return;
    }
    let dropped = drop_offsets_topic(ctx).await;
    single_node_offsets_outcome(&dropped, &mut outcome.error_code, &mut outcome.message);
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
