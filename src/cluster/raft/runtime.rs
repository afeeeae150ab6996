//! openraft's [`AsyncRuntime`] on glommio: tasks are `spawn_local` on the
//! current executor, timers are glommio timers, channels are single-thread
//! ([`super::channels`]). Nothing here blocks the executor.

use super::channels::{LocalMpsc, LocalWatch};
use futures_util::lock::{Mutex as AsyncMutex, MutexGuard};
use openraft::async_runtime::{Mutex, Oneshot, OneshotSender};
use openraft::{AsyncRuntime, OptionalSend};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// openraft's runtime on the current glommio executor.
pub struct GlommioRuntime {
    executor: glommio::LocalExecutor,
}

impl fmt::Debug for GlommioRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GlommioRuntime").finish()
    }
}

/// A spawned task ended without an output (cancelled with its executor).
#[derive(Debug)]
pub struct TaskCancelled;

impl fmt::Display for TaskCancelled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("task cancelled before it completed")
    }
}

/// Awaits a detached glommio task. Dropping it leaves the task running (as
/// openraft expects of a join handle).
pub struct JoinHandle<T>(glommio::task::JoinHandle<T>);

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, TaskCancelled>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0)
            .poll(cx)
            .map(|out| out.ok_or(TaskCancelled))
    }
}

/// A boxed glommio sleep.
pub type Sleep = Pin<Box<dyn Future<Output = ()>>>;

fn sleep_for(duration: Duration) -> Sleep {
    Box::pin(async move {
        glommio::timer::Timer::new(duration).await;
    })
}

/// The future did not finish before its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed;

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline elapsed")
    }
}

/// A future bounded by a glommio timer.
pub struct Timeout<F> {
    future: Pin<Box<F>>,
    delay: Sleep,
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Poll::Ready(out) = self.future.as_mut().poll(cx) {
            return Poll::Ready(Ok(out));
        }
        self.delay.as_mut().poll(cx).map(|()| Err(Elapsed))
    }
}

/// futures-channel's oneshot: runtime independent.
pub struct FuturesOneshot;

/// The sending half of [`FuturesOneshot`].
pub struct OneshotTx<T>(futures_channel::oneshot::Sender<T>);

impl Oneshot for FuturesOneshot {
    type Sender<T: OptionalSend> = OneshotTx<T>;
    type Receiver<T: OptionalSend> = futures_channel::oneshot::Receiver<T>;
    type ReceiverError = futures_channel::oneshot::Canceled;

    fn channel<T: OptionalSend>() -> (Self::Sender<T>, Self::Receiver<T>) {
        let (tx, rx) = futures_channel::oneshot::channel();
        (OneshotTx(tx), rx)
    }
}

impl<T: OptionalSend> OneshotSender<T> for OneshotTx<T> {
    fn send(self, t: T) -> Result<(), T> {
        self.0.send(t)
    }
}

/// futures-util's async mutex: runtime independent.
pub struct LocalMutex<T>(AsyncMutex<T>);

impl<T: OptionalSend + 'static> Mutex<T> for LocalMutex<T> {
    type Guard<'a> = MutexGuard<'a, T>;

    fn new(value: T) -> Self {
        LocalMutex(AsyncMutex::new(value))
    }

    fn lock(&self) -> impl Future<Output = Self::Guard<'_>> + OptionalSend {
        self.0.lock()
    }
}

impl AsyncRuntime for GlommioRuntime {
    type JoinError = TaskCancelled;
    type JoinHandle<T: OptionalSend + 'static> = JoinHandle<T>;
    type Sleep = Sleep;
    type Instant = Instant;
    type TimeoutError = Elapsed;
    type Timeout<R, T: Future<Output = R> + OptionalSend> = Timeout<T>;
    type ThreadLocalRng = rand::rngs::ThreadRng;
    type Mpsc = LocalMpsc;
    type Watch = LocalWatch;
    type Oneshot = FuturesOneshot;
    type Mutex<T: OptionalSend + 'static> = LocalMutex<T>;

    fn spawn<T>(future: T) -> Self::JoinHandle<T::Output>
    where
        T: Future + OptionalSend + 'static,
        T::Output: OptionalSend + 'static,
    {
        JoinHandle(glommio::spawn_local(future).detach())
    }

    fn sleep(duration: Duration) -> Self::Sleep {
        sleep_for(duration)
    }

    fn sleep_until(deadline: Self::Instant) -> Self::Sleep {
        sleep_for(deadline.saturating_duration_since(Instant::now()))
    }

    fn timeout<R, F: Future<Output = R> + OptionalSend>(
        duration: Duration,
        future: F,
    ) -> Self::Timeout<R, F> {
        Timeout {
            future: Box::pin(future),
            delay: sleep_for(duration),
        }
    }

    fn timeout_at<R, F: Future<Output = R> + OptionalSend>(
        deadline: Self::Instant,
        future: F,
    ) -> Self::Timeout<R, F> {
        Self::timeout(deadline.saturating_duration_since(Instant::now()), future)
    }

    fn is_panic(_: &Self::JoinError) -> bool {
        // glommio reports a cancelled task, never a caught panic.
        false
    }

    fn thread_rng() -> Self::ThreadLocalRng {
        rand::rng()
    }

    fn new(_threads: usize) -> Self {
        // Only openraft's runtime test suite creates one; a node runs on the
        // shard's executor.
        let executor = glommio::LocalExecutorBuilder::default()
            .make()
            .expect("a glommio executor for openraft's runtime tests");
        GlommioRuntime { executor }
    }

    fn block_on<F, T>(&mut self, future: F) -> T
    where
        F: Future<Output = T>,
    {
        self.executor.run(future)
    }
}

#[cfg(test)]
mod tests {
    use super::GlommioRuntime;

    /// openraft's own conformance suite for runtimes (spawn, timers,
    /// timeouts, select, mpsc, watch, oneshot, mutex).
    #[test]
    fn glommio_runtime_passes_openraft_runtime_suite() {
        openraft::testing::runtime::Suite::<GlommioRuntime>::test_all();
    }
}
