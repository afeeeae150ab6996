//! RemoveRaftVoter (key 81, KIP-853): node `voter_id` stops voting in the
//! metadata quorum and goes on following the log as an observer. The Raft
//! leader commits the membership change (a leader removing itself steps
//! down once it is committed); any other broker forwards the request.

use super::add_raft_voter::{cluster_matches, outcome};
use super::{respond, RequestMeta, VersionRange};
use crate::cluster::member::quorum::QuorumOp;
use crate::protocol::piece::Piece;
use crate::shard::calls::quorum;
use crate::shard::ShardContext;
use kafka_protocol::messages::{RemoveRaftVoterRequest, RemoveRaftVoterResponse};
use kafka_protocol::protocol::StrBytes;
use std::rc::Rc;

/// Versions served (the vendored protocol's; Kafka 4.x clients negotiate).
pub const VERSIONS: VersionRange = VersionRange { min: 0, max: 0 };

/// Answers a RemoveRaftVoter request.
pub async fn handle(
    ctx: &Rc<ShardContext>,
    meta: RequestMeta,
    request: RemoveRaftVoterRequest,
) -> Option<Vec<Piece>> {
    let answer = match cluster_matches(ctx, request.cluster_id.as_ref()) {
        Err(refused) => refused,
        Ok(()) => {
            let op = QuorumOp::RemoveVoter {
                id: request.voter_id,
            };
            quorum::request(ctx, op).await
        }
    };
    let (code, message) = outcome(answer);
    let response = RemoveRaftVoterResponse::default()
        .with_error_code(code)
        .with_error_message(message.map(StrBytes::from_string));
    respond(meta, &response)
}
