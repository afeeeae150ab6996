//! CreatePartitions (key 37): raise a topic's partition count. New
//! partitions start empty on their owning shards.

use super::{respond, RequestMeta, VersionRange};
use crate::metadata::controller::ControllerRequest;
use crate::protocol::piece::Piece;
use crate::shard::calls::controller;
use crate::shard::ShardContext;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};
use kafka_protocol::protocol::StrBytes;
use std::rc::Rc;

/// Versions served.
pub const VERSIONS: VersionRange = VersionRange { min: 0, max: 3 };

/// Answers a CreatePartitions request.
pub async fn handle(
    ctx: &Rc<ShardContext>,
    meta: RequestMeta,
    request: CreatePartitionsRequest,
) -> Option<Vec<Piece>> {
    let topics = request
        .topics
        .iter()
        .map(|t| (t.name.0.as_str().to_string(), t.count))
        .collect();
    let answer = controller::request(
        ctx,
        ControllerRequest::CreatePartitions {
            topics,
            validate_only: request.validate_only,
        },
    )
    .await;
    let results = request
        .topics
        .iter()
        .zip(answer.outcomes)
        .map(|(asked, outcome)| {
            CreatePartitionsTopicResult::default()
                .with_name(asked.name.clone())
                .with_error_code(outcome.error_code)
                .with_error_message(outcome.message.map(StrBytes::from_string))
        })
        .collect();
    respond(
        meta,
        &CreatePartitionsResponse::default().with_results(results),
    )
}
