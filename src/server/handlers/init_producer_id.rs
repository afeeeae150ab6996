//! InitProducerId (key 22): a producer id for idempotent producers (the
//! default in Java 3.x, franz-go and kafka-python 3.x). As Kafka's
//! transaction coordinator does for a request without a transactional id,
//! every call gets a new id at epoch 0, whatever (id, epoch) it names: the
//! KIP-360 epoch bump is for transactional producers, whose ids the
//! coordinator owns. Transactional ids are refused until transactions exist.
//!
//! In a cluster the ids come from blocks the active controller allotted
//! (AllocateProducerIds, key 67), so they are unique across brokers and
//! restarts; each shard asks for its next block ahead of need.

use super::{error_code, respond, RequestMeta, VersionRange};
use crate::local::notify::LocalEvent;
use crate::protocol::piece::Piece;
use crate::shard::calls::cluster::allocate_producer_ids;
use crate::shard::ShardContext;
use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};
use std::rc::Rc;
use std::time::Duration;

/// Versions served.
pub const VERSIONS: VersionRange = VersionRange { min: 0, max: 5 };
/// `producerId` / `producerEpoch` of a request that names no producer.
const NO_PRODUCER_ID: i64 = -1;
const NO_PRODUCER_EPOCH: i16 = -1;
/// How long an InitProducerId with no id left waits for the block being
/// fetched before it answers COORDINATOR_LOAD_IN_PROGRESS (the client
/// retries, on whichever broker it picks). Kafka's RPCProducerIdManager
/// answers at once (KAFKA-14694); a short wait saves the usual case, a
/// controller answering within milliseconds, an error and a retry. A
/// controller whose answers never come (this broker cut off from it one way)
/// would otherwise hold the client for the controller call's whole retry
/// budget, past an idempotent producer's message timeout: it sends nothing
/// before it has an id.
const BLOCK_WAIT_MS: u64 = 2_000;

/// Answers an InitProducerId request.
pub async fn handle(
    ctx: &Rc<ShardContext>,
    meta: RequestMeta,
    request: InitProducerIdRequest,
) -> Option<Vec<Piece>> {
    let id = match refusal(&request) {
        Some(code) => Err(code),
        None if ctx.cluster.enabled => cluster_producer_id(ctx).await,
        None => Ok(ctx.control.producer_ids.allocate()),
    };
    let response = match id {
        Ok(id) => InitProducerIdResponse::default()
            .with_producer_id(ProducerId(id))
            .with_producer_epoch(0),
        Err(code) => InitProducerIdResponse::default()
            .with_error_code(code)
            .with_producer_id(ProducerId(NO_PRODUCER_ID))
            .with_producer_epoch(NO_PRODUCER_EPOCH),
    };
    respond(meta, &response)
}

/// The next id of this shard's blocks, or a retriable error when none comes
/// within BLOCK_WAIT_MS (the fetch goes on, for the next request).
async fn cluster_producer_id(ctx: &Rc<ShardContext>) -> Result<i64, i16> {
    if let Some(id) = take_id(ctx) {
        return Ok(id);
    }
    id_after_fetch(
        block_fetch(ctx),
        Duration::from_millis(BLOCK_WAIT_MS),
        || take_id(ctx),
    )
    .await
}

/// An id from `take` once `fetched` fires within `wait`, else a retriable
/// error: COORDINATOR_LOAD_IN_PROGRESS while the fetch goes on,
/// COORDINATOR_NOT_AVAILABLE when it ended without a block for this request
/// (the controller refused or was not found, or other requests took it).
async fn id_after_fetch(
    fetched: LocalEvent,
    wait: Duration,
    take: impl FnOnce() -> Option<i64>,
) -> Result<i64, i16> {
    if !fetched.fired_within(wait).await {
        return Err(error_code::COORDINATOR_LOAD_IN_PROGRESS);
    }
    take().ok_or(error_code::COORDINATOR_NOT_AVAILABLE)
}

/// Takes the next id, starting the next block's fetch ahead of need.
fn take_id(ctx: &Rc<ShardContext>) -> Option<i64> {
    let id = ctx.control.producer_id_blocks.borrow_mut().take()?;
    if ctx.control.producer_id_blocks.borrow().wants_block() {
        block_fetch(ctx);
    }
    Some(id)
}

/// The event the block fetch under way fires when it ends, starting one in
/// the background when none is under way.
fn block_fetch(ctx: &Rc<ShardContext>) -> LocalEvent {
    let running = ctx.control.producer_id_fetch.borrow().clone();
    if let Some(fetched) = running {
        return fetched;
    }
    let fetched = LocalEvent::default();
    *ctx.control.producer_id_fetch.borrow_mut() = Some(fetched.clone());
    let ctx = ctx.clone();
    let done = fetched.clone();
    glommio::spawn_local(async move {
        match allocate_producer_ids(&ctx).await {
            Ok((first, len)) => ctx
                .control
                .producer_id_blocks
                .borrow_mut()
                .add_block(first, len),
            Err(code) => log::info!("no producer id block from the controller: error {code}"),
        }
        *ctx.control.producer_id_fetch.borrow_mut() = None;
        done.fire();
    })
    .detach();
    fetched
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
    fn a_block_fetch_that_does_not_end_in_time_is_answered_load_in_progress() {
        // The controller's answers held: the request must not wait for the
        // fetch's whole retry budget, nor take an id the fetch never gave.
        crate::storage::tests::run(async {
            let never = LocalEvent::default();
            let started = std::time::Instant::now();
            let wait = Duration::from_millis(50);
            let answer = id_after_fetch(never, wait, || Some(7)).await;
            assert_eq!(answer, Err(error_code::COORDINATOR_LOAD_IN_PROGRESS));
            assert!(started.elapsed() >= wait);
            assert!(started.elapsed() < Duration::from_secs(5));
        });
    }

    #[test]
    fn an_ended_block_fetch_gives_an_id_or_coordinator_not_available() {
        crate::storage::tests::run(async {
            let fetched = LocalEvent::default();
            fetched.fire();
            let wait = Duration::from_secs(60);
            assert_eq!(
                id_after_fetch(fetched.clone(), wait, || Some(7)).await,
                Ok(7)
            );
            assert_eq!(
                id_after_fetch(fetched, wait, || None).await,
                Err(error_code::COORDINATOR_NOT_AVAILABLE)
            );
        });
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
