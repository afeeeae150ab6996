//! Every shard binds the same address; glommio sets SO_REUSEPORT so the
//! kernel spreads incoming connections across shards.

use super::connection;
use crate::shard::ShardContext;
use futures_lite::future;
use glommio::net::TcpListener;
use std::rc::Rc;

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

/// Accepts connections until shutdown begins; each gets its own task.
pub async fn accept_until_shutdown(ctx: &Rc<ShardContext>, listener: TcpListener) {
    loop {
        let accepted = future::or(async { Some(listener.accept().await) }, async {
            ctx.shutting_down.wait().await;
            None
        })
        .await;
        match accepted {
            None => break,
            Some(Ok(stream)) => {
                let ctx = ctx.clone();
                glommio::spawn_local(async move { connection::serve(ctx, stream).await }).detach();
            }
            Some(Err(e)) => {
                // EMFILE and friends: log and keep serving existing connections.
                log::warn!("shard {}: accept failed: {e}", ctx.shard_id);
                glommio::timer::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    }
    log::debug!("shard {}: listener closed", ctx.shard_id);
}
