//! AddRaftVoter (key 80, KIP-853): node `voter_id`, already following the
//! metadata log or reachable at its CONTROLLER listener (the request's
//! first listener), becomes a voter. The Raft leader adds it as a learner,
//! waits until it caught up, then promotes it (openraft's membership change);
//! any other broker forwards the request to the leader. Answers once the
//! change is committed, or REQUEST_TIMED_OUT after the request's timeout.

use super::{error_code, respond, RequestMeta, VersionRange};
use crate::cluster::member::quorum::{QuorumAnswer, QuorumOp};
use crate::protocol::piece::Piece;
use crate::shard::calls::quorum;
use crate::shard::ShardContext;
use kafka_protocol::messages::{AddRaftVoterRequest, AddRaftVoterResponse};
use kafka_protocol::protocol::StrBytes;
use std::rc::Rc;

/// Versions served (the vendored protocol's; Kafka 4.x clients negotiate).
pub const VERSIONS: VersionRange = VersionRange { min: 0, max: 0 };
/// Kafka's INCONSISTENT_CLUSTER_ID.
pub const INCONSISTENT_CLUSTER_ID: i16 = 104;
/// Bounds a request's `timeout_ms` (a learner's catch-up).
const TIMEOUT_MS_MAX: u64 = 300_000;

/// Answers an AddRaftVoter request.
pub async fn handle(
    ctx: &Rc<ShardContext>,
    meta: RequestMeta,
    request: AddRaftVoterRequest,
) -> Option<Vec<Piece>> {
    let answer = match check(ctx, &request) {
        Err(refused) => refused,
        Ok(addr) => {
            let op = QuorumOp::AddVoter {
                id: request.voter_id,
                addr,
                timeout_ms: (request.timeout_ms.max(0) as u64).min(TIMEOUT_MS_MAX),
            };
            quorum::request(ctx, op).await
        }
    };
    let (code, message) = outcome(answer);
    let response = AddRaftVoterResponse::default()
        .with_error_code(code)
        .with_error_message(message.map(StrBytes::from_string));
    respond(meta, &response)
}

/// The new voter's Raft address, or why the request is refused here.
fn check(ctx: &ShardContext, request: &AddRaftVoterRequest) -> Result<String, QuorumAnswer> {
    cluster_matches(ctx, request.cluster_id.as_ref())?;
    let Some(listener) = request.listeners.first() else {
        return Err(QuorumAnswer::Refused {
            code: error_code::INVALID_REQUEST,
            message: "the new voter has no listener".into(),
        });
    };
    Ok(format!("{}:{}", listener.host.as_str(), listener.port))
}

/// A request naming another cluster (or any, on a single node) is refused.
pub fn cluster_matches(
    ctx: &ShardContext,
    cluster_id: Option<&StrBytes>,
) -> Result<(), QuorumAnswer> {
    if ctx.cluster_view().is_none() {
        return Err(QuorumAnswer::Refused {
            code: error_code::INVALID_REQUEST,
            message: "a single node has no quorum to change".into(),
        });
    }
    match cluster_id {
        Some(id) if id.as_str() != ctx.identity.cluster_id => Err(QuorumAnswer::Refused {
            code: INCONSISTENT_CLUSTER_ID,
            message: format!("cluster id {} is not this cluster's", id.as_str()),
        }),
        _ => Ok(()),
    }
}

/// The error code and message of a voter change's answer.
pub fn outcome(answer: QuorumAnswer) -> (i16, Option<String>) {
    match answer {
        QuorumAnswer::Done => (error_code::NONE, None),
        QuorumAnswer::Refused { code, message } => (code, Some(message)),
        QuorumAnswer::State(_) => (error_code::UNKNOWN_SERVER_ERROR, None),
    }
}
