//! InitProducerId (key 22): a producer id for idempotent producers (the
//! default in Java 3.x, franz-go and kafka-python 3.x). A producer that
//! already has an id (v3+, KIP-360) gets the same id with the next epoch.
//! Transactional ids are refused until transactions exist.

use super::{error_code, respond, RequestMeta, VersionRange};
use crate::protocol::piece::Piece;
use crate::shard::ShardContext;
use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};
use std::rc::Rc;

/// Versions served.
pub const VERSIONS: VersionRange = VersionRange { min: 0, max: 5 };

/// Answers an InitProducerId request.
pub fn handle(
    ctx: &Rc<ShardContext>,
    meta: RequestMeta,
    request: InitProducerIdRequest,
) -> Option<Vec<Piece>> {
    let response = InitProducerIdResponse::default();
    let response = if request.transactional_id.is_some() {
        log::warn!(
            "InitProducerId with a transactional id refused: transactions are not supported yet"
        );
        response
            .with_error_code(error_code::TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1)
    } else if request.producer_id.0 >= 0 && request.producer_epoch >= 0 {
        // Epoch bump after a sequence problem; an exhausted epoch gets a new id.
        match request
            .producer_epoch
            .checked_add(1)
            .filter(|e| *e < i16::MAX)
        {
            Some(epoch) => response
                .with_producer_id(request.producer_id)
                .with_producer_epoch(epoch),
            None => response
                .with_producer_id(ProducerId(ctx.control.producer_ids.allocate()))
                .with_producer_epoch(0),
        }
    } else {
        response
            .with_producer_id(ProducerId(ctx.control.producer_ids.allocate()))
            .with_producer_epoch(0)
    };
    respond(meta, &response)
}
