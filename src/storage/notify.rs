//! Single-shard wake-up primitives: a one-shot completion for durability
//! waiters (and the [`DurableWait`] handed to producers), append listeners
//! for Fetch long polling, and the flusher's wake signal. All `!Send`; they live on the shard that owns the log.

use super::error::StorageError;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

/// A one-shot result slot completed by the flusher.
#[derive(Debug, Default)]
pub(crate) struct Completion {
    result: RefCell<Option<Result<(), StorageError>>>,
    waker: RefCell<Option<Waker>>,
}

impl Completion {
    /// Stores the result (the first one wins) and wakes the waiter.
    pub(crate) fn complete(&self, result: Result<(), StorageError>) {
        {
            let mut slot = self.result.borrow_mut();
            if slot.is_some() {
                return;
            }
            *slot = Some(result);
        }
        if let Some(waker) = self.waker.borrow_mut().take() {
            waker.wake();
        }
    }
}

/// Resolves with the result given to [`Completion::complete`].
pub(crate) struct CompletionFuture(pub(crate) Rc<Completion>);

impl Future for CompletionFuture {
    type Output = Result<(), StorageError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Some(result) = self.0.result.borrow_mut().take() {
            return Poll::Ready(result);
        }
        *self.0.waker.borrow_mut() = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// A wait for appended offsets to reach a durability, registered when the
/// append (or the retry check) was made, while the log's append turn was
/// held. A rollback of those offsets (ENOSPC) fails it, so it can never be
/// satisfied by other batches that later get the same offsets.
#[derive(Debug)]
pub struct DurableWait(WaitState);

#[derive(Debug)]
enum WaitState {
    Ready(Result<(), StorageError>),
    Pending(Rc<Completion>),
}

impl DurableWait {
    pub(crate) fn ready(result: Result<(), StorageError>) -> Self {
        DurableWait(WaitState::Ready(result))
    }

    pub(crate) fn pending(completion: Rc<Completion>) -> Self {
        DurableWait(WaitState::Pending(completion))
    }

    /// Resolves once the offsets reached the durability, or with the error
    /// that prevents it (failed, closed or disk-full log).
    pub async fn wait(self) -> Result<(), StorageError> {
        match self.0 {
            WaitState::Ready(result) => result,
            WaitState::Pending(completion) => CompletionFuture(completion).await,
        }
    }
}

#[derive(Debug, Default)]
struct ListenerSlot {
    fired: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

/// Resolves once appended batches of the log it was taken from become
/// readable (their write completed), or when the log fails or closes.
/// Registered when created, so a move between a read and the first poll is
/// not missed.
#[derive(Debug)]
pub struct AppendListener {
    slot: Rc<ListenerSlot>,
}

impl Future for AppendListener {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.slot.fired.get() {
            return Poll::Ready(());
        }
        *self.slot.waker.borrow_mut() = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// Smallest listener list size at which dropped listeners are swept.
const LISTENER_SWEEP_LEN_MIN: usize = 64;

/// The listeners of one log.
#[derive(Debug)]
pub(crate) struct AppendListeners {
    slots: RefCell<Vec<Rc<ListenerSlot>>>,
    /// List length at which dropped listeners are swept (doubles with live
    /// ones), so listeners dropped by timed-out fetches cannot pile up.
    sweep_at_len: Cell<usize>,
}

impl Default for AppendListeners {
    fn default() -> Self {
        AppendListeners {
            slots: RefCell::new(Vec::new()),
            sweep_at_len: Cell::new(LISTENER_SWEEP_LEN_MIN),
        }
    }
}

impl AppendListeners {
    /// A listener fired by the next [`AppendListeners::fire_all`].
    pub(crate) fn register(&self) -> AppendListener {
        let slot = Rc::new(ListenerSlot::default());
        let mut slots = self.slots.borrow_mut();
        if slots.len() >= self.sweep_at_len.get() {
            // Only this list holds a dropped listener's slot.
            slots.retain(|slot| Rc::strong_count(slot) > 1);
            self.sweep_at_len
                .set((slots.len() * 2).max(LISTENER_SWEEP_LEN_MIN));
        }
        slots.push(slot.clone());
        AppendListener { slot }
    }

    /// Fires and forgets every registered listener.
    pub(crate) fn fire_all(&self) {
        let slots = std::mem::take(&mut *self.slots.borrow_mut());
        for slot in slots {
            slot.fired.set(true);
            let waker = slot.waker.borrow_mut().take();
            if let Some(waker) = waker {
                waker.wake();
            }
        }
    }
}

/// A level-triggered wake-up for one waiting task (the flusher).
#[derive(Debug, Default)]
pub(crate) struct WakeSignal {
    pending: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

impl WakeSignal {
    /// Wakes the waiting task, or makes its next wait return at once.
    pub(crate) fn notify(&self) {
        self.pending.set(true);
        if let Some(waker) = self.waker.borrow_mut().take() {
            waker.wake();
        }
    }

    /// Resolves once a notification is pending, and consumes it.
    pub(crate) async fn wait(&self) {
        futures_lite::future::poll_fn(|cx| {
            if self.pending.replace(false) {
                Poll::Ready(())
            } else {
                *self.waker.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_lite::future;

    #[test]
    fn listener_registered_before_append_fires() {
        let listeners = AppendListeners::default();
        let listener = listeners.register();
        listeners.fire_all();
        future::block_on(listener);
    }

    #[test]
    fn dropped_listeners_are_swept() {
        let listeners = AppendListeners::default();
        for _ in 0..10 * LISTENER_SWEEP_LEN_MIN {
            drop(listeners.register());
        }
        assert!(listeners.slots.borrow().len() <= LISTENER_SWEEP_LEN_MIN);
    }

    #[test]
    fn completion_delivers_first_result() {
        let completion = Rc::new(Completion::default());
        completion.complete(Ok(()));
        completion.complete(Err(StorageError::InvalidTopicName("x".into())));
        assert_eq!(future::block_on(CompletionFuture(completion)), Ok(()));
    }

    #[test]
    fn wake_signal_is_level_triggered() {
        let signal = WakeSignal::default();
        signal.notify();
        future::block_on(signal.wait());
        assert!(!signal.pending.get());
    }
}
