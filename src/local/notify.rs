//! Single-thread wake-up primitives for long polls: a one-shot event and a
//! future that resolves when the first of several futures does.

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

#[derive(Default)]
struct EventState {
    fired: bool,
    /// Waker of each pending [`EventWait`], by its key. A waker keeps its
    /// task's allocation alive, so a wait removes its entry when dropped:
    /// a long-lived event (the shard's shutdown) must not accumulate the
    /// wakers of every finished fetch.
    wakers: HashMap<u64, Waker>,
    next_key: u64,
}

/// A one-shot event on one shard: once fired, every waiter (past and future) wakes.
#[derive(Clone, Default)]
pub struct LocalEvent {
    state: Rc<RefCell<EventState>>,
}

impl LocalEvent {
    /// Fires the event.
    pub fn fire(&self) {
        let wakers = {
            let mut state = self.state.borrow_mut();
            state.fired = true;
            std::mem::take(&mut state.wakers)
        };
        wakers.into_values().for_each(Waker::wake);
    }

    /// True when both are the same event (clones of one another).
    pub fn same_as(&self, other: &LocalEvent) -> bool {
        Rc::ptr_eq(&self.state, &other.state)
    }

    /// True once fired.
    pub fn is_fired(&self) -> bool {
        self.state.borrow().fired
    }

    /// Sleeps `interval` on the shard's timer; true if the event fired
    /// first (a periodic task's "tick or stop").
    pub async fn fired_within(&self, interval: std::time::Duration) -> bool {
        futures_lite::future::or(
            async {
                glommio::timer::sleep(interval).await;
                false
            },
            async {
                self.wait().await;
                true
            },
        )
        .await
    }

    /// A future resolving once the event fired.
    pub fn wait(&self) -> EventWait {
        EventWait {
            state: self.state.clone(),
            key: None,
        }
    }

    /// Wakers registered by pending waits.
    #[cfg(test)]
    fn registered_wakers(&self) -> usize {
        self.state.borrow().wakers.len()
    }
}

/// Future returned by [`LocalEvent::wait`].
pub struct EventWait {
    state: Rc<RefCell<EventState>>,
    /// Key of this wait's waker in the event, once registered.
    key: Option<u64>,
}

impl Future for EventWait {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        let mut state = this.state.borrow_mut();
        if state.fired {
            return Poll::Ready(());
        }
        let key = *this.key.get_or_insert_with(|| {
            state.next_key += 1;
            state.next_key
        });
        match state.wakers.get_mut(&key) {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            Some(waker) => waker.clone_from(cx.waker()),
            None => {
                state.wakers.insert(key, cx.waker().clone());
            }
        }
        Poll::Pending
    }
}

impl Drop for EventWait {
    fn drop(&mut self) {
        if let Some(key) = self.key {
            self.state.borrow_mut().wakers.remove(&key);
        }
    }
}

/// Resolves when the first of `futures` resolves (an empty list never resolves).
pub struct FirstOf<'a> {
    futures: Vec<Pin<Box<dyn Future<Output = ()> + 'a>>>,
}

/// Builds a [`FirstOf`].
pub fn first_of<'a>(futures: Vec<Pin<Box<dyn Future<Output = ()> + 'a>>>) -> FirstOf<'a> {
    FirstOf { futures }
}

impl Future for FirstOf<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        for future in self.futures.iter_mut() {
            if future.as_mut().poll(cx).is_ready() {
                return Poll::Ready(());
            }
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_wakes_waiters_and_first_of_resolves() {
        let event = LocalEvent::default();
        let never = LocalEvent::default();
        event.fire();
        futures_lite::future::block_on(first_of(vec![
            Box::pin(never.wait()),
            Box::pin(event.wait()),
        ]));
        assert!(event.is_fired());
        assert!(!never.is_fired());
    }

    struct NoopWake;

    impl std::task::Wake for NoopWake {
        fn wake(self: std::sync::Arc<Self>) {}
    }

    /// Polls `wait` once with a waker of its own and drops it, as a fetch
    /// task does when its long poll ends by data or timeout.
    fn poll_once_and_drop(wait: EventWait) -> std::sync::Arc<NoopWake> {
        let wake = std::sync::Arc::new(NoopWake);
        let waker = Waker::from(wake.clone());
        let mut wait = Box::pin(wait);
        let pending = wait.as_mut().poll(&mut Context::from_waker(&waker));
        assert!(pending.is_pending());
        wake
    }

    #[test]
    fn dropped_waits_release_their_wakers() {
        // The shard's shutdown event lives as long as the shard while every
        // parked fetch waits on it: a finished wait must not keep its waker
        // (in glommio, the whole task allocation) alive.
        let event = LocalEvent::default();
        let wakes: Vec<_> = (0..1000)
            .map(|_| poll_once_and_drop(event.wait()))
            .collect();
        assert_eq!(event.registered_wakers(), 0);
        assert!(wakes
            .iter()
            .all(|wake| std::sync::Arc::strong_count(wake) == 1));
    }

    #[test]
    fn pending_wait_keeps_one_waker_and_is_woken() {
        let event = LocalEvent::default();
        let mut wait = Box::pin(event.wait());
        let waker = futures_lite::future::block_on(futures_lite::future::poll_fn(|cx| {
            Poll::Ready(cx.waker().clone())
        }));
        let mut cx = Context::from_waker(&waker);
        assert!(wait.as_mut().poll(&mut cx).is_pending());
        assert!(wait.as_mut().poll(&mut cx).is_pending());
        assert_eq!(event.registered_wakers(), 1);
        event.fire();
        assert!(wait.as_mut().poll(&mut cx).is_ready());
        drop(wait);
        assert_eq!(event.registered_wakers(), 0);
    }
}
