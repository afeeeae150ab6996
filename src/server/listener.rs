//! Every shard binds the same addresses; glommio sets SO_REUSEPORT so the
//! kernel spreads incoming connections across shards. A node with several
//! client listeners (Kafka's INTERNAL/EXTERNAL setups) binds each one, and a
//! connection remembers which one it came in on.

use super::admission::Admission;
use super::connection;
use crate::config::ListenerIndex;
use crate::shard::ShardContext;
use futures_lite::future;
use glommio::net::{TcpListener, TcpStream};
use std::rc::Rc;
use std::sync::Arc;

/// Binds this shard's listening sockets, one per client listener, in the
/// order of [`Config::client_listeners`](crate::config::Config::client_listeners).
pub fn bind(ctx: &Rc<ShardContext>) -> Result<Vec<TcpListener>, String> {
    let mut bound = Vec::with_capacity(ctx.config.client_listeners.len());
    for listener in &ctx.config.client_listeners {
        let address = listener.bind.socket_address();
        let socket = TcpListener::bind(address.as_str()).map_err(|e| {
            format!(
                "shard {}: cannot listen on {address} (listener {}, config key listeners): {e}",
                ctx.shard_id, listener.name
            )
        })?;
        bound.push(socket);
    }
    Ok(bound)
}

/// Accepts connections on every listener until shutdown begins.
pub async fn accept_all_until_shutdown(
    ctx: &Rc<ShardContext>,
    listeners: Vec<TcpListener>,
    admission: Arc<Admission>,
) {
    let tasks: Vec<_> = listeners
        .into_iter()
        .enumerate()
        .map(|(index, listener)| {
            let (ctx, admission) = (ctx.clone(), admission.clone());
            glommio::spawn_local(async move {
                accept_until_shutdown(&ctx, listener, index, admission).await
            })
        })
        .collect();
    for task in tasks {
        task.await;
    }
}

/// Accepts connections on `listener` (client listener `index`) until
/// shutdown begins; each admitted one gets its own task, one over
/// `max.connections` or `max.connections.per.ip` is closed.
async fn accept_until_shutdown(
    ctx: &Rc<ShardContext>,
    listener: TcpListener,
    index: ListenerIndex,
    admission: Arc<Admission>,
) {
    loop {
        let accepted = future::or(async { Some(listener.accept().await) }, async {
            ctx.lifecycle.shutting_down.wait().await;
            None
        })
        .await;
        match accepted {
            None => break,
            Some(Ok(stream)) => admit(ctx, &admission, stream, index),
            Some(Err(e)) => {
                // EMFILE and friends: log and keep serving existing connections.
                log::warn!("shard {}: accept failed: {e}", ctx.shard_id);
                glommio::timer::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    }
    log::debug!("shard {}: listener {index} closed", ctx.shard_id);
}

/// Serves `stream` if the limits allow, else closes it at once (dropping it).
fn admit(
    ctx: &Rc<ShardContext>,
    admission: &Arc<Admission>,
    stream: TcpStream,
    index: ListenerIndex,
) {
    let address = connection::peer_address(&stream).map(|peer| peer.ip());
    match admission.admit(address) {
        Ok(permit) => {
            let ctx = ctx.clone();
            glommio::spawn_local(async move {
                connection::serve(ctx, stream, index).await;
                drop(permit);
            })
            .detach();
        }
        Err(refusal) => {
            if let Some(line) = admission.note_refusal(refusal, address) {
                log::warn!("shard {}: {line}", ctx.shard_id);
            }
        }
    }
}
