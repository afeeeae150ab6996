//! Single-shard async primitives: `!Send`, for tasks of one executor, and
//! independent of the runtime (they only use wakers), so every layer can use
//! them and test them without one.
//!
//! - [`notify`]: a one-shot event ([`notify::LocalEvent`], e.g. shutdown or
//!   a fetch wait's cancel) and a future that resolves with the first of
//!   several.
//! - [`oneshot`]: a single-value channel between two tasks of one shard.
//! - [`join_all`]: awaits several futures at once on the current task.
//! - [`helper_pool`]: plain helper threads with a bounded queue for one
//!   shard's blocking jobs of one kind.
//! - [`cpus`]: the CPUs executors may be pinned to (the affinity mask's).

pub mod cpus;
pub mod helper_pool;
pub mod notify;
pub mod oneshot;

/// Awaits all futures concurrently on the current task; outputs in input order.
pub async fn join_all<F: std::future::Future>(
    futures: impl IntoIterator<Item = F>,
) -> Vec<F::Output> {
    let mut pending: Vec<_> = futures.into_iter().map(|f| Some(Box::pin(f))).collect();
    let mut outputs: Vec<Option<F::Output>> = pending.iter().map(|_| None).collect();
    futures_lite::future::poll_fn(|cx| {
        let mut all_done = true;
        for (slot, output) in pending.iter_mut().zip(outputs.iter_mut()) {
            if let Some(future) = slot {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(value) => {
                        *output = Some(value);
                        *slot = None;
                    }
                    std::task::Poll::Pending => all_done = false,
                }
            }
        }
        if all_done {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}
