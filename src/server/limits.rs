//! Per-connection memory bound: the bytes of requests read but not yet
//! answered, plus the bytes of their answers until they are on the socket.
//!
//! The reader waits for [`QueuedBytes::below_limit`] before it reads the next
//! request, so a client that pipelines without reading its answers (or a
//! consumer whose socket is full) stops being read once
//! `connection.max.queued.bytes` are queued. A single request larger than the
//! limit is still read when nothing is queued, or it could never be served;
//! the most a connection holds is therefore the limit plus one request frame
//! (itself at most `socket.request.max.bytes`) plus one answer.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

/// Bytes queued on one connection, shared by its reader and writer tasks.
pub struct QueuedBytes {
    limit_bytes: usize,
    queued_bytes: Cell<usize>,
    /// The reader, when it waits for room (the only waiter).
    waiting_reader: RefCell<Option<Waker>>,
}

impl QueuedBytes {
    /// A budget of `limit_bytes` (`connection.max.queued.bytes`).
    pub fn new(limit_bytes: usize) -> QueuedBytes {
        QueuedBytes {
            limit_bytes,
            queued_bytes: Cell::new(0),
            waiting_reader: RefCell::new(None),
        }
    }

    /// Bytes queued now.
    pub fn queued_bytes(&self) -> usize {
        self.queued_bytes.get()
    }

    /// Counts `bytes` more as queued.
    pub fn add(&self, bytes: usize) {
        self.queued_bytes
            .set(self.queued_bytes.get().saturating_add(bytes));
    }

    /// Counts `bytes` as gone (sent or dropped); wakes the reader if that
    /// brought the queue under the limit.
    pub fn release(&self, bytes: usize) {
        let left = self.queued_bytes.get().saturating_sub(bytes);
        self.queued_bytes.set(left);
        if !self.is_full() {
            if let Some(reader) = self.waiting_reader.borrow_mut().take() {
                reader.wake();
            }
        }
    }

    /// True while the reader must wait. An empty queue is never full, so one
    /// request larger than the limit can still be read.
    fn is_full(&self) -> bool {
        let queued = self.queued_bytes.get();
        queued > 0 && queued >= self.limit_bytes
    }

    /// Resolves once the queue is under the limit.
    pub fn below_limit(&self) -> BelowLimit<'_> {
        BelowLimit { budget: self }
    }
}

/// Future returned by [`QueuedBytes::below_limit`].
pub struct BelowLimit<'a> {
    budget: &'a QueuedBytes,
}

impl Future for BelowLimit<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if !self.budget.is_full() {
            return Poll::Ready(());
        }
        *self.budget.waiting_reader.borrow_mut() = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// Releases a number of queued bytes when dropped, so an answer that is
/// abandoned (connection closed, writer gone) still gives its bytes back.
pub struct QueuedCharge {
    budget: Rc<QueuedBytes>,
    bytes: usize,
}

impl QueuedCharge {
    /// Adds `bytes` to `budget` until the charge is dropped.
    pub fn new(budget: &Rc<QueuedBytes>, bytes: usize) -> QueuedCharge {
        budget.add(bytes);
        QueuedCharge {
            budget: budget.clone(),
            bytes,
        }
    }

    /// Adds `bytes` more to this charge.
    pub fn grow(&mut self, bytes: usize) {
        self.budget.add(bytes);
        self.bytes = self.bytes.saturating_add(bytes);
    }
}

impl Drop for QueuedCharge {
    fn drop(&mut self) {
        self.budget.release(self.bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_lite::future;

    #[test]
    fn empty_queue_is_never_full_even_with_a_zero_limit() {
        let budget = QueuedBytes::new(0);
        assert!(!budget.is_full());
        assert!(future::block_on(future::poll_once(budget.below_limit())).is_some());
    }

    #[test]
    fn reader_waits_at_the_limit_and_wakes_on_release() {
        let budget = Rc::new(QueuedBytes::new(100));
        let first = QueuedCharge::new(&budget, 60);
        let mut second = QueuedCharge::new(&budget, 30);
        assert!(future::block_on(future::poll_once(budget.below_limit())).is_some());
        second.grow(20);
        assert_eq!(budget.queued_bytes(), 110);
        assert!(future::block_on(future::poll_once(budget.below_limit())).is_none());
        drop(first);
        assert_eq!(budget.queued_bytes(), 50);
        assert!(future::block_on(future::poll_once(budget.below_limit())).is_some());
        drop(second);
        assert_eq!(budget.queued_bytes(), 0);
    }

    #[test]
    fn one_request_over_the_limit_is_admitted_when_nothing_is_queued() {
        let budget = Rc::new(QueuedBytes::new(10));
        let big = QueuedCharge::new(&budget, 1000);
        assert!(
            budget.is_full(),
            "nothing more until the big one is answered"
        );
        drop(big);
        assert!(!budget.is_full());
    }
}
