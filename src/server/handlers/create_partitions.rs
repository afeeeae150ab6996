//! CreatePartitions (key 37): raise a topic's partition count. New
//! partitions start empty on their owning shards, on the brokers a manual
//! assignment names or where the controller places them.

use super::{respond, RequestMeta, VersionRange};
use crate::metadata::controller::{ControllerRequest, NewPartitions};
use crate::protocol::piece::Piece;
use crate::shard::calls::controller;
use crate::shard::ShardContext;
use kafka_protocol::messages::create_partitions_request::CreatePartitionsAssignment;
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
        .map(|t| NewPartitions {
            name: t.name.0.as_str().to_string(),
            count: t.count,
            assignments: t.assignments.iter().flatten().map(broker_ids).collect(),
        })
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

/// One added partition's replicas, as the client assigned them.
fn broker_ids(assignment: &CreatePartitionsAssignment) -> Vec<i32> {
    assignment.broker_ids.iter().map(|b| b.0).collect()
}
