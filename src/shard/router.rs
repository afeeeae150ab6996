//! Carries work to the shard that owns it and brings the answer back.
//!
//! A call has two phases so that a connection can keep its requests in order:
//! awaiting [`Router::start`] puts the request in line on the owning shard
//! (for a remote shard: queued on the bounded FIFO channel to it, then in
//! line behind the earlier requests of the same partitions there; for the
//! local shard: its ordered part, e.g. the append, is done), and the returned
//! [`Completion`] resolves with the answer (e.g. once the append is durable).

use super::messages::{ShardMessage, ShardRequest, ShardResponse};
use super::ordering::{OrderedLines, Place, REQUESTS_IN_LINE_PER_PEER_MAX};
use super::service;
use super::ShardContext;
use crate::local::oneshot;
use glommio::channels::channel_mesh::{Receivers, Senders};
use glommio::sync::{Semaphore, StaticPermit};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

/// The answer to a routed request, once it is ready.
pub type Completion = Pin<Box<dyn Future<Output = Result<ShardResponse, RouteError>>>>;

/// Why a routed request got no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteError {
    /// The target shard is gone (shutting down).
    ShardUnavailable(usize),
}

impl RouteError {
    /// The Kafka error code a client sees for this failure.
    pub fn wire_error_code(&self) -> i16 {
        // The client refreshes metadata and retries.
        crate::protocol::error_code::NOT_LEADER_OR_FOLLOWER
    }
}

/// One per shard: the sending side of the mesh and the calls in flight.
pub struct Router {
    shard_id: usize,
    senders: Option<Senders<ShardMessage>>,
    next_request_id: Cell<u64>,
    pending: RefCell<HashMap<u64, oneshot::Sender<ShardResponse>>>,
}

impl Router {
    /// A router over the mesh senders (`None` when there is a single shard).
    pub fn new(shard_id: usize, senders: Option<Senders<ShardMessage>>) -> Self {
        Router {
            shard_id,
            senders,
            next_request_id: Cell::new(0),
            pending: RefCell::new(HashMap::new()),
        }
    }

    /// Puts `request` in line on `target` and returns the future of its answer.
    pub async fn start(
        &self,
        ctx: &Rc<ShardContext>,
        target: usize,
        request: ShardRequest,
    ) -> Completion {
        if target == self.shard_id {
            let answer = service::serve(ctx, request).await;
            return Box::pin(async move { Ok(answer.await) });
        }
        let Some(senders) = &self.senders else {
            return Box::pin(async move { Err(RouteError::ShardUnavailable(target)) });
        };
        let id = self.next_request_id.get();
        self.next_request_id.set(id.wrapping_add(1));
        let (answer_tx, answer_rx) = oneshot::channel();
        self.pending.borrow_mut().insert(id, answer_tx);
        let message = ShardMessage::Request {
            id,
            from: self.shard_id,
            body: request,
        };
        if senders.send_to(target, message).await.is_err() {
            self.pending.borrow_mut().remove(&id);
            return Box::pin(async move { Err(RouteError::ShardUnavailable(target)) });
        }
        crate::metrics::count_cross_shard_sent(target);
        Box::pin(async move { answer_rx.await.ok_or(RouteError::ShardUnavailable(target)) })
    }

    /// Starts `request` on `target` and waits for the answer.
    pub async fn call(
        &self,
        ctx: &Rc<ShardContext>,
        target: usize,
        request: ShardRequest,
    ) -> Result<ShardResponse, RouteError> {
        self.start(ctx, target, request).await.await
    }

    /// Sends a request whose answer nobody waits for (e.g. a cancel).
    pub async fn notify(&self, target: usize, request: ShardRequest) {
        if let Some(senders) = &self.senders {
            let message = ShardMessage::Request {
                id: u64::MAX,
                from: self.shard_id,
                body: request,
            };
            match senders.send_to(target, message).await {
                Ok(()) => crate::metrics::count_cross_shard_sent(target),
                Err(_) => log::debug!("shard {target} gone; notification dropped"),
            }
        }
    }

    async fn respond(&self, to: usize, id: u64, body: ShardResponse) {
        if id == u64::MAX {
            return;
        }
        if let Some(senders) = &self.senders {
            match senders
                .send_to(to, ShardMessage::Response { id, body })
                .await
            {
                Ok(()) => crate::metrics::count_cross_shard_sent(to),
                Err(_) => log::warn!("shard {to} gone; response {id} dropped"),
            }
        }
    }

    fn complete(&self, id: u64, body: ShardResponse) {
        match self.pending.borrow_mut().remove(&id) {
            Some(answer_tx) => answer_tx.send(body),
            None => log::warn!("response for unknown request {id}"),
        }
    }

    /// Calls to other shards still waiting for their answer.
    pub fn pending_calls(&self) -> usize {
        self.pending.borrow().len()
    }

    /// Closes the sending side so peers' receive loops end.
    pub fn close(&self) {
        if let Some(senders) = &self.senders {
            senders.close();
        }
    }
}

/// Spawns one receive loop per peer shard. Each request is put in line on
/// arrival ([`OrderedLines`]: per partition, not per peer) and served in a
/// task of its own once the earlier requests of its partitions are through
/// their ordered phase; at most [`REQUESTS_IN_LINE_PER_PEER_MAX`] of a peer's
/// requests wait or run their ordered phase at once, then the loop stops
/// reading that peer (its sends wait: back-pressure to its connections).
pub fn spawn_receive_loops(ctx: &Rc<ShardContext>, mut receivers: Receivers<ShardMessage>) {
    let lines = Rc::new(OrderedLines::default());
    for (peer, stream) in receivers.streams() {
        let ctx = ctx.clone();
        let lines = lines.clone();
        let in_line = Rc::new(Semaphore::new(REQUESTS_IN_LINE_PER_PEER_MAX as u64));
        glommio::spawn_local(async move {
            while let Some(message) = stream.recv().await {
                crate::metrics::count_cross_shard_received();
                match message {
                    ShardMessage::Response { id, body } => ctx.router.complete(id, body),
                    ShardMessage::Request { id, from, body } => {
                        let Ok(permit) = in_line.acquire_static_permit(1).await else {
                            break;
                        };
                        let place = lines.enter(&body);
                        glommio::spawn_local(serve_in_line(
                            ctx.clone(),
                            place,
                            permit,
                            from,
                            id,
                            body,
                        ))
                        .detach();
                    }
                }
            }
            log::debug!(
                "shard {}: receive loop from shard {peer} ended",
                ctx.shard_id
            );
        })
        .detach();
    }
}

/// Serves one request from shard `from` when its turn comes, and answers.
async fn serve_in_line(
    ctx: Rc<ShardContext>,
    mut place: Place,
    permit: StaticPermit,
    from: usize,
    id: u64,
    body: ShardRequest,
) {
    place.turn().await;
    let answer = service::serve(&ctx, body).await;
    drop(place);
    drop(permit);
    let body = answer.await;
    ctx.router.respond(from, id, body).await;
}
