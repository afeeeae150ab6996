//! ElectLeaders (key 43) and AlterPartitionReassignments (key 45) sent by
//! clients to any broker, forwarded to the active controller (Kafka's
//! `kafka-leader-election.sh` and `kafka-reassign-partitions.sh`, the Admin
//! client's `electLeaders` and `alterPartitionReassignments`).

use super::rpc::WireReply;
use super::Member;
use crate::cluster::controller::api::{AlterReassignmentsRequest, ElectLeadersRequest, Request};
use crate::cluster::TopicIdPartition;
use crate::protocol::error_code;
use uuid::Uuid;

/// Longest an answered election waits for this broker to apply the new
/// leaders (so a Metadata request right after sees them).
const ELECTION_APPLY_WAIT_MS_MAX: u64 = 10_000;

/// One partition's election result: its Kafka error code (0: elected).
pub type ElectionOutcome = (TopicIdPartition, i16);

impl Member {
    /// Runs `request` on the active controller: one error code per partition
    /// (`ELECTION_NOT_NEEDED` 84, `PREFERRED_LEADER_NOT_AVAILABLE` 80,
    /// `ELIGIBLE_LEADERS_NOT_AVAILABLE` 83, `UNKNOWN_TOPIC_OR_PARTITION` 3),
    /// or the request's error (`NOT_CONTROLLER` when no controller answered).
    pub async fn elect_leaders(
        &self,
        request: ElectLeadersRequest,
    ) -> Result<Vec<ElectionOutcome>, i16> {
        self.partition_outcomes(Request::ElectLeaders(request))
            .await
    }

    /// Runs `request` on the active controller: one error code per
    /// partition (`INVALID_REPLICA_ASSIGNMENT` 39, `NO_REASSIGNMENT_IN_PROGRESS`
    /// 85, `UNKNOWN_TOPIC_OR_PARTITION` 3), or the request's error. Answered
    /// once this broker applied the changes.
    pub async fn alter_reassignments(
        &self,
        request: AlterReassignmentsRequest,
    ) -> Result<Vec<ElectionOutcome>, i16> {
        self.partition_outcomes(Request::AlterReassignments(request))
            .await
    }

    async fn partition_outcomes(&self, request: Request) -> Result<Vec<ElectionOutcome>, i16> {
        match self.call_controller(&request).await {
            Ok((WireReply::Elections(results), offset)) => {
                self.wait_published(offset, ELECTION_APPLY_WAIT_MS_MAX)
                    .await;
                results.map(|list| {
                    list.into_iter()
                        .map(|(topic_id, partition, code)| {
                            let topic_id = Uuid::from_u128(topic_id);
                            (
                                TopicIdPartition {
                                    topic_id,
                                    partition,
                                },
                                code,
                            )
                        })
                        .collect()
                })
            }
            Ok(_) => Err(error_code::UNKNOWN_SERVER_ERROR),
            Err(e) => {
                log::info!("partition request not answered by a controller: {e}");
                Err(error_code::NOT_CONTROLLER)
            }
        }
    }
}
