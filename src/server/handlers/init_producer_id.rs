//! InitProducerId (key 22): a producer id for idempotent producers (the
//! default in Java 3.x, franz-go and kafka-python 3.x). As Kafka's
//! transaction coordinator does for a request without a transactional id,
//! every call gets a new id at epoch 0, whatever (id, epoch) it names: the
//! KIP-360 epoch bump is for transactional producers, whose ids the
//! coordinator owns. Transactional ids are refused until transactions exist.

use super::{error_code, respond, RequestMeta, VersionRange};
use crate::protocol::piece::Piece;
use crate::shard::ShardContext;
use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};
use std::rc::Rc;

/// Versions served.
pub const VERSIONS: VersionRange = VersionRange { min: 0, max: 5 };
/// `producerId` / `producerEpoch` of a request that names no producer.
const NO_PRODUCER_ID: i64 = -1;
const NO_PRODUCER_EPOCH: i16 = -1;

/// Answers an InitProducerId request.
pub fn handle(
    ctx: &Rc<ShardContext>,
    meta: RequestMeta,
    request: InitProducerIdRequest,
) -> Option<Vec<Piece>> {
    let response = match refusal(&request) {
        Some(code) => InitProducerIdResponse::default()
            .with_error_code(code)
            .with_producer_id(ProducerId(NO_PRODUCER_ID))
            .with_producer_epoch(NO_PRODUCER_EPOCH),
        None => InitProducerIdResponse::default()
            .with_producer_id(ProducerId(ctx.control.producer_ids.allocate()))
            .with_producer_epoch(0),
    };
    respond(meta, &response)
}

/// Why the request gets no id: Kafka's checks (an id without an epoch or the
/// reverse, or an empty transactional id, is INVALID_REQUEST), then
/// transactions, which millrace lacks.
fn refusal(request: &InitProducerIdRequest) -> Option<i16> {
    let names_id = request.producer_id.0 != NO_PRODUCER_ID;
    let names_epoch = request.producer_epoch != NO_PRODUCER_EPOCH;
    if names_id != names_epoch {
        return Some(error_code::INVALID_REQUEST);
    }
    let transactional_id = request.transactional_id.as_ref();
    if transactional_id.is_some_and(|id| id.is_empty()) {
        return Some(error_code::INVALID_REQUEST);
    }
    if transactional_id.is_some() {
        log::warn!(
            "InitProducerId with a transactional id refused: transactions are not supported yet"
        );
        return Some(error_code::TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::TransactionalId;
    use kafka_protocol::protocol::StrBytes;

    fn request(producer_id: i64, epoch: i16) -> InitProducerIdRequest {
        InitProducerIdRequest::default()
            .with_transactional_id(None)
            .with_producer_id(ProducerId(producer_id))
            .with_producer_epoch(epoch)
    }

    #[test]
    fn a_known_producer_is_not_refused_it_gets_a_new_id() {
        assert_eq!(refusal(&request(-1, -1)), None);
        assert_eq!(refusal(&request(1234, 7)), None);
    }

    #[test]
    fn half_a_producer_identity_is_an_invalid_request() {
        assert_eq!(
            refusal(&request(1234, -1)),
            Some(error_code::INVALID_REQUEST)
        );
        assert_eq!(refusal(&request(-1, 3)), Some(error_code::INVALID_REQUEST));
    }

    #[test]
    fn transactional_ids_are_refused() {
        let transactional = request(-1, -1)
            .with_transactional_id(Some(TransactionalId(StrBytes::from_static_str("tx"))));
        assert_eq!(
            refusal(&transactional),
            Some(error_code::TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
        );
        let empty = request(-1, -1).with_transactional_id(Some(TransactionalId::default()));
        assert_eq!(refusal(&empty), Some(error_code::INVALID_REQUEST));
    }
}
