//! DescribeQuorum (key 55, KIP-595/KIP-853): the metadata quorum as its
//! Raft leader sees it (Kafka's answer): the leader and term, the committed
//! offset, each voter and observer (learner) with the log end offset and
//! last fetch the leader tracks. A broker that does not lead asks the
//! leader through shard 0's cluster member. A single node is its own
//! quorum of one.

use super::{respond, RequestMeta, VersionRange};
use crate::cluster::member::quorum::{QuorumAnswer, QuorumOp, QuorumState, ReplicaState};
use crate::cluster::member::quorum_response::{asks_quorum, describe_quorum_response};
use crate::protocol::piece::Piece;
use crate::shard::calls::quorum;
use crate::shard::ShardContext;
use kafka_protocol::messages::DescribeQuorumRequest;
use std::rc::Rc;

/// Versions served (Kafka 4.x serves 0-2).
pub const VERSIONS: VersionRange = VersionRange { min: 0, max: 2 };

/// Answers a DescribeQuorum request.
pub async fn handle(
    ctx: &Rc<ShardContext>,
    meta: RequestMeta,
    request: DescribeQuorumRequest,
) -> Option<Vec<Piece>> {
    let quorum = match ctx.cluster_view() {
        None => QuorumAnswer::State(single_node(ctx.identity.node_id)),
        Some(_) if asks_quorum(&request) => quorum::request(ctx, QuorumOp::Describe).await,
        Some(_) => QuorumAnswer::Done,
    };
    respond(
        meta,
        &describe_quorum_response(meta.version, &request, &quorum),
    )
}

fn single_node(node_id: i32) -> QuorumState {
    let me = ReplicaState {
        id: node_id,
        log_end_offset: -1,
        last_fetch_ms: -1,
        last_caught_up_ms: -1,
    };
    QuorumState {
        leader: node_id,
        term: 1,
        high_watermark: -1,
        voters: vec![me],
        observers: Vec::new(),
        voter_endpoints: Vec::new(),
    }
}
