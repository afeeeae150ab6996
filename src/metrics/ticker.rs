//! The one loop behind the shard's periodic metrics tasks: wake every
//! interval until shutdown begins.
//!
//! One glommio `Timer` is reset each round and one shutdown wait is kept for
//! the whole loop, so an idle shard does not allocate a timer and a waiter
//! registration on every tick.

use crate::local::notify::LocalEvent;
use futures_lite::future;
use glommio::timer::Timer;
use std::time::{Duration, Instant};

/// Runs `on_tick(lateness)` every `interval` (lateness: how much later than
/// asked the timer woke) until `shutting_down` fires, then returns.
pub async fn every_interval_until_shutdown(
    shutting_down: &LocalEvent,
    interval: Duration,
    mut on_tick: impl FnMut(Duration),
) {
    let mut shutdown = std::pin::pin!(shutting_down.wait());
    let mut timer = Timer::new(interval);
    loop {
        let asleep_at = Instant::now();
        timer.reset(interval);
        let stopping = future::or(
            async {
                (&mut timer).await;
                false
            },
            async {
                shutdown.as_mut().await;
                true
            },
        )
        .await;
        if stopping {
            return;
        }
        on_tick(asleep_at.elapsed().saturating_sub(interval));
    }
}
