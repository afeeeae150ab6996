//! A small pool of plain threads that runs blocking jobs for one shard, with
//! a bounded queue: [`HelperPool::run`] waits (asynchronously, on the
//! shard's reactor) for a place when every helper is busy and the queue is
//! full, so the jobs in flight are bounded and the reactor never blocks.
//!
//! Why not glommio's blocking pool: glommio 0.9 has exactly one per executor
//! (sized at build time), and its own file operations (truncate, rename,
//! remove, create_dir) always go there. Work of different kinds (a slow
//! client's send of file data, an offset-commit write, a segment roll's truncate)
//! must not wait behind each other, so each kind gets a pool of its own
//! ([`run_job`] with [`Helpers`]) and glommio's stays for
//! storage.
//!
//! Unlike the rest of this module it needs a glommio executor (its
//! semaphore). The helpers start on first use on the shard's thread and end when the
//! pool is dropped (the queue's sending side closes).

use glommio::sync::Semaphore;
use std::future::Future;
use std::pin::Pin;
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

type Job = Box<dyn FnOnce() + Send>;

/// Helpers per shard for control-plane writes (committed offsets, the topic
/// registry): small, each bounded by one file write and fsync.
pub const CONTROL_HELPERS_PER_SHARD: usize = 2;
/// Control-plane jobs queued per shard beyond those running.
pub const CONTROL_QUEUED_PER_SHARD_MAX: usize = 64;

/// Helpers per shard for batched fdatasyncs of segment files
/// (`storage::sync_batch`): one batch runs at a time.
pub const SYNC_HELPERS_PER_SHARD: usize = 1;
/// Sync batches queued per shard beyond the one running.
pub const SYNC_QUEUED_PER_SHARD_MAX: usize = 1;

/// Helpers per shard for client-driven work: sending responses with file
/// regions (read into one reused buffer each, `server::send`), format conversions. Each job's time is bounded by
/// its caller (a send: `server::send::SEND_RESPONSE_MS_MAX`).
pub const CLIENT_HELPERS_PER_SHARD: usize = 4;
/// Client-driven jobs queued per shard beyond those running; past that,
/// callers wait on the reactor for a place.
pub const CLIENT_QUEUED_PER_SHARD_MAX: usize = 64;

thread_local! {
    static CONTROL: std::rc::Rc<HelperPool> = std::rc::Rc::new(HelperPool::new(
        "control",
        CONTROL_HELPERS_PER_SHARD,
        CONTROL_QUEUED_PER_SHARD_MAX,
    ));
    static SYNC: std::rc::Rc<HelperPool> = std::rc::Rc::new(HelperPool::new(
        "sync",
        SYNC_HELPERS_PER_SHARD,
        SYNC_QUEUED_PER_SHARD_MAX,
    ));
    static CLIENT: std::rc::Rc<HelperPool> = std::rc::Rc::new(HelperPool::new(
        "client",
        CLIENT_HELPERS_PER_SHARD,
        CLIENT_QUEUED_PER_SHARD_MAX,
    ));
}

/// The kinds of blocking work a shard hands to helpers, each with a pool of
/// its own so that one kind never waits behind another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Helpers {
    /// Control-plane jobs (offset commit, registry save, statvfs), never
    /// behind a client's send or a segment roll.
    Control,
    /// Batches of segment fdatasyncs, never behind a client's send or a
    /// control-plane write.
    Sync,
    /// Client-driven work: slow clients can make each other wait here,
    /// never storage or control work.
    Client,
}

/// Runs `job` on this shard's `helpers` pool.
pub async fn run_job<R: Send + 'static>(
    helpers: Helpers,
    job: impl FnOnce() -> R + Send + 'static,
) -> Result<R, HelperError> {
    let pool = match helpers {
        Helpers::Control => CONTROL.with(|pool| pool.clone()),
        Helpers::Sync => SYNC.with(|pool| pool.clone()),
        Helpers::Client => CLIENT.with(|pool| pool.clone()),
    };
    pool.run(job).await
}

/// A pool of `threads` helpers and a queue of `queued_max` jobs.
pub struct HelperPool {
    name: &'static str,
    threads: usize,
    queued_max: usize,
    /// One permit per job a helper runs or the queue holds.
    places: Semaphore,
    queue: std::cell::OnceCell<SyncSender<Job>>,
}

/// Why a job did not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HelperError {
    /// The helpers could not be started or are gone.
    Unavailable,
}

impl std::fmt::Display for HelperError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "helper threads unavailable")
    }
}

impl std::error::Error for HelperError {}

impl HelperPool {
    /// A pool named `name` (thread names: `millrace-<name>`), started lazily.
    pub fn new(name: &'static str, threads: usize, queued_max: usize) -> Self {
        let threads = threads.max(1);
        HelperPool {
            name,
            threads,
            queued_max,
            places: Semaphore::new((threads + queued_max) as u64),
            queue: std::cell::OnceCell::new(),
        }
    }

    /// Jobs running or queued right now.
    pub fn busy(&self) -> usize {
        self.threads + self.queued_max - self.places.available() as usize
    }

    /// Runs `job` on a helper and resolves with its result. Waits for a place
    /// first when the pool is saturated.
    pub async fn run<R: Send + 'static>(
        &self,
        job: impl FnOnce() -> R + Send + 'static,
    ) -> Result<R, HelperError> {
        let _place = self
            .places
            .acquire_permit(1)
            .await
            .map_err(|_| HelperError::Unavailable)?;
        let queue = self.queue()?;
        let slot = Arc::new(Mutex::new(Slot::<R>::default()));
        let mut filler = Filler { slot: slot.clone() };
        let wrapped: Job = Box::new(move || filler.fill(job()));
        // Never blocks: the permit held guarantees a place in the queue.
        queue
            .try_send(wrapped)
            .map_err(|_| HelperError::Unavailable)?;
        Answer { slot }.await
    }

    fn queue(&self) -> Result<&SyncSender<Job>, HelperError> {
        if let Some(queue) = self.queue.get() {
            return Ok(queue);
        }
        let (sender, receiver) = sync_channel::<Job>(self.queued_max + self.threads);
        let receiver = Arc::new(Mutex::new(receiver));
        for index in 0..self.threads {
            let receiver = receiver.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("millrace-{}-{index}", self.name))
                .spawn(move || loop {
                    let next = receiver.lock().unwrap_or_else(|e| e.into_inner()).recv();
                    let Ok(job) = next else { return };
                    // A panicking job is answered with an error (its
                    // filler is dropped) and the helper goes on.
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                });
            if let Err(e) = spawned {
                log::error!("cannot start {} helper thread: {e}", self.name);
                return Err(HelperError::Unavailable);
            }
        }
        Ok(self.queue.get_or_init(|| sender))
    }
}

struct Slot<R> {
    value: Option<R>,
    /// The job is over (with or without a value).
    done: bool,
    waker: Option<Waker>,
}

impl<R> Default for Slot<R> {
    fn default() -> Self {
        Slot {
            value: None,
            done: false,
            waker: None,
        }
    }
}

/// The job's end of the slot: stores the value, and wakes the waiting task
/// when dropped, whether or not a value was stored (a panicking job).
struct Filler<R> {
    slot: Arc<Mutex<Slot<R>>>,
}

impl<R> Filler<R> {
    fn fill(&mut self, value: R) {
        self.slot.lock().unwrap_or_else(|e| e.into_inner()).value = Some(value);
    }
}

impl<R> Drop for Filler<R> {
    fn drop(&mut self) {
        let waker = {
            let mut slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
            slot.done = true;
            slot.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// Resolves when the helper stored the job's result.
struct Answer<R> {
    slot: Arc<Mutex<Slot<R>>>,
}

impl<R> Future for Answer<R> {
    type Output = Result<R, HelperError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
        match (slot.value.take(), slot.done) {
            (Some(value), _) => Poll::Ready(Ok(value)),
            (None, true) => Poll::Ready(Err(HelperError::Unavailable)),
            (None, false) => {
                slot.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[test]
    fn runs_jobs_off_the_reactor_and_bounds_them() {
        glommio::LocalExecutor::default().run(async {
            let pool = std::rc::Rc::new(HelperPool::new("test", 2, 1));
            let running = Arc::new(AtomicUsize::new(0));
            let peak = Arc::new(AtomicUsize::new(0));
            let jobs: Vec<_> = (0..8)
                .map(|i| {
                    let (pool, running, peak) = (pool.clone(), running.clone(), peak.clone());
                    glommio::spawn_local(async move {
                        pool.run(move || {
                            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                            peak.fetch_max(now, Ordering::SeqCst);
                            std::thread::sleep(Duration::from_millis(20));
                            running.fetch_sub(1, Ordering::SeqCst);
                            i * 2
                        })
                        .await
                    })
                })
                .collect();
            // The reactor is free while helpers sleep.
            glommio::timer::sleep(Duration::from_millis(5)).await;
            assert!(pool.busy() <= 3, "{} jobs placed", pool.busy());
            let mut results = Vec::new();
            for job in jobs {
                results.push(job.await.unwrap());
            }
            assert_eq!(results, (0..8).map(|i| i * 2).collect::<Vec<_>>());
            assert!(peak.load(Ordering::SeqCst) <= 2);
            assert_eq!(pool.busy(), 0);
        });
    }

    #[test]
    fn a_panicking_job_is_an_error_not_a_hang() {
        glommio::LocalExecutor::default().run(async {
            let pool = HelperPool::new("panic", 1, 0);
            let result = pool.run(|| -> u8 { panic!("job failed") }).await;
            assert_eq!(result, Err(HelperError::Unavailable));
        });
    }
}
