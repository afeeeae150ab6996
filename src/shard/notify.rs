//! Single-thread wake-up primitives for long polls: a one-shot event and a
//! future that resolves when the first of several futures does.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

#[derive(Default)]
struct EventState {
    fired: bool,
    wakers: Vec<Waker>,
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
        wakers.into_iter().for_each(Waker::wake);
    }

    /// True once fired.
    pub fn is_fired(&self) -> bool {
        self.state.borrow().fired
    }

    /// A future resolving once the event fired.
    pub fn wait(&self) -> EventWait {
        EventWait {
            state: self.state.clone(),
        }
    }
}

/// Future returned by [`LocalEvent::wait`].
pub struct EventWait {
    state: Rc<RefCell<EventState>>,
}

impl Future for EventWait {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.state.borrow_mut();
        if state.fired {
            return Poll::Ready(());
        }
        // Bounded: one waker per waiting task; replace ours if already present.
        if !state.wakers.iter().any(|w| w.will_wake(cx.waker())) {
            state.wakers.push(cx.waker().clone());
        }
        Poll::Pending
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
}
