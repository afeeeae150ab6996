//! The Kafka-facing side of a shard: the listener, one task pair per
//! connection, the response writer, and one handler file per Kafka API.
//! [`run`] starts the broker: the shard runtime, with this layer serving
//! clients on every shard.

pub mod admission;
pub mod connection;
mod file_send;
mod file_send_overlap;
pub mod handlers;
pub mod limits;
pub mod listener;
pub mod send;

use crate::config::Config;
use crate::shard::runtime::{self, ServeClients, StartError};
use crate::shard::ShardContext;
use admission::Admission;
use std::rc::Rc;
use std::sync::Arc;

/// Runs the broker until SIGTERM/SIGINT; returns after a clean shutdown.
pub fn run(config: Config) -> Result<(), StartError> {
    let admission = Admission::new(
        config.max_connections,
        config.max_connections_per_ip,
        &config.max_connections_per_ip_overrides,
    );
    let frontend = move |ctx: &Rc<ShardContext>| -> Result<ServeClients, String> {
        let listener = listener::bind(ctx)?;
        let (ctx, admission) = (ctx.clone(), admission.clone());
        Ok(Box::pin(async move {
            listener::accept_all_until_shutdown(&ctx, listener, admission).await
        }))
    };
    runtime::run(config, Arc::new(frontend))
}
