//! Every shard binds the same address; glommio sets SO_REUSEPORT so the
//! kernel spreads incoming connections across shards.

use super::admission::Admission;
use super::connection;
use crate::shard::ShardContext;
use futures_lite::future;
use glommio::net::{TcpListener, TcpStream};
use std::rc::Rc;
use std::sync::Arc;

/// Binds this shard's listening socket on the configured listener address.
pub fn bind(ctx: &Rc<ShardContext>) -> Result<TcpListener, String> {
    let address = ctx.config.listeners.socket_address();
    TcpListener::bind(address.as_str()).map_err(|e| {
        format!(
            "shard {}: cannot listen on {address} (config key listeners): {e}",
            ctx.shard_id
        )
    })
}

/// Accepts connections until shutdown begins; each admitted one gets its own
/// task, one over `max.connections` or `max.connections.per.ip` is closed.
pub async fn accept_until_shutdown(
    ctx: &Rc<ShardContext>,
    listener: TcpListener,
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
            Some(Ok(stream)) => admit(ctx, &admission, stream),
            Some(Err(e)) => {
                // EMFILE and friends: log and keep serving existing connections.
                log::warn!("shard {}: accept failed: {e}", ctx.shard_id);
                glommio::timer::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    }
    log::debug!("shard {}: listener closed", ctx.shard_id);
}

/// Serves `stream` if the limits allow, else closes it at once (dropping it).
fn admit(ctx: &Rc<ShardContext>, admission: &Arc<Admission>, stream: TcpStream) {
    let address = stream.peer_addr().ok().map(|peer| peer.ip());
    match admission.admit(address) {
        Ok(permit) => {
            let ctx = ctx.clone();
            glommio::spawn_local(async move {
                connection::serve(ctx, stream).await;
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
