//! AllocateProducerIds (key 67): a block of producer ids from the active
//! controller, unique across the cluster and across restarts (the controller
//! commits the block's end to the metadata log before it answers).

use super::rpc::WireReply;
use super::Member;
use crate::cluster::controller::api::{AllocateProducerIdsRequest, Request, ResponseError};
use crate::protocol::error_code;

impl Member {
    /// A block of producer ids for this broker: `(first id, length)`, or a
    /// Kafka error code (`STALE_BROKER_EPOCH` before this broker registered,
    /// `NOT_CONTROLLER` when no controller answered; both retriable).
    pub async fn allocate_producer_ids(&self) -> Result<(i64, i32), i16> {
        let broker_epoch = self.broker_epoch.get();
        if broker_epoch < 0 {
            return Err(ResponseError::StaleBrokerEpoch.code());
        }
        let request = Request::AllocateProducerIds(AllocateProducerIdsRequest {
            broker_id: self.config.node_id,
            broker_epoch,
        });
        match self.call_controller(&request).await {
            Ok((WireReply::ProducerIds(block), _)) => block,
            Ok(_) => Err(error_code::UNKNOWN_SERVER_ERROR),
            Err(e) => {
                log::info!("AllocateProducerIds not answered by a controller: {e}");
                Err(error_code::NOT_CONTROLLER)
            }
        }
    }
}
