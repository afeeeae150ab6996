//! Single-thread channels for openraft on glommio: a bounded mpsc with
//! cloneable and weak senders (glommio's local channel has no cloneable
//! sender) and a watch. `Rc<RefCell<..>>` and wakers only: no atomics, no
//! runtime.

use openraft::async_runtime::{
    watch, Mpsc, MpscReceiver, MpscSender, MpscWeakSender, SendError, TryRecvError, Watch,
    WatchReceiver, WatchSender,
};
use openraft::{OptionalSend, OptionalSync};
use std::cell::{Ref, RefCell};
use std::collections::VecDeque;
use std::future::poll_fn;
use std::rc::{Rc, Weak};
use std::task::{Poll, Waker};

/// The bounded single-thread mpsc.
pub struct LocalMpsc;

struct Queue<T> {
    items: VecDeque<T>,
    capacity: usize,
    senders: usize,
    receiver_alive: bool,
    receiver_waker: Option<Waker>,
    /// Senders waiting for room; woken all at once when room appears (a
    /// cancelled send must not swallow the wake-up of another).
    sender_wakers: Vec<Waker>,
}

impl<T> Queue<T> {
    fn wake_receiver(&mut self) {
        if let Some(waker) = self.receiver_waker.take() {
            waker.wake();
        }
    }

    fn wake_senders(&mut self) {
        for waker in self.sender_wakers.drain(..) {
            waker.wake();
        }
    }
}

fn remember(wakers: &mut Vec<Waker>, waker: &Waker) {
    if !wakers.iter().any(|w| w.will_wake(waker)) {
        wakers.push(waker.clone());
    }
}

/// Sends into a [`LocalMpsc`] channel; waits while it is full.
pub struct LocalSender<T>(Rc<RefCell<Queue<T>>>);

/// A sender that does not keep the channel open.
pub struct LocalWeakSender<T>(Weak<RefCell<Queue<T>>>);

/// Receives from a [`LocalMpsc`] channel.
pub struct LocalReceiver<T>(Rc<RefCell<Queue<T>>>);

impl<T> Clone for LocalSender<T> {
    fn clone(&self) -> Self {
        self.0.borrow_mut().senders += 1;
        LocalSender(self.0.clone())
    }
}

impl<T> Drop for LocalSender<T> {
    fn drop(&mut self) {
        let mut queue = self.0.borrow_mut();
        queue.senders -= 1;
        if queue.senders == 0 {
            queue.wake_receiver();
        }
    }
}

impl<T> Clone for LocalWeakSender<T> {
    fn clone(&self) -> Self {
        LocalWeakSender(self.0.clone())
    }
}

impl<T> Drop for LocalReceiver<T> {
    fn drop(&mut self) {
        let mut queue = self.0.borrow_mut();
        queue.receiver_alive = false;
        queue.items.clear();
        queue.wake_senders();
    }
}

impl Mpsc for LocalMpsc {
    type Sender<T: OptionalSend> = LocalSender<T>;
    type Receiver<T: OptionalSend> = LocalReceiver<T>;
    type WeakSender<T: OptionalSend> = LocalWeakSender<T>;

    fn channel<T: OptionalSend>(buffer: usize) -> (Self::Sender<T>, Self::Receiver<T>) {
        let queue = Rc::new(RefCell::new(Queue {
            items: VecDeque::new(),
            capacity: buffer.max(1),
            senders: 1,
            receiver_alive: true,
            receiver_waker: None,
            sender_wakers: Vec::new(),
        }));
        (LocalSender(queue.clone()), LocalReceiver(queue))
    }
}

impl<T: OptionalSend> MpscSender<LocalMpsc, T> for LocalSender<T> {
    async fn send(&self, msg: T) -> Result<(), SendError<T>> {
        let mut msg = Some(msg);
        poll_fn(|cx| {
            let mut queue = self.0.borrow_mut();
            if !queue.receiver_alive {
                return Poll::Ready(Err(SendError(msg.take().expect("polled after completion"))));
            }
            if queue.items.len() < queue.capacity {
                queue
                    .items
                    .push_back(msg.take().expect("polled after completion"));
                queue.wake_receiver();
                return Poll::Ready(Ok(()));
            }
            remember(&mut queue.sender_wakers, cx.waker());
            Poll::Pending
        })
        .await
    }

    fn downgrade(&self) -> LocalWeakSender<T> {
        LocalWeakSender(Rc::downgrade(&self.0))
    }
}

impl<T: OptionalSend> MpscWeakSender<LocalMpsc, T> for LocalWeakSender<T> {
    fn upgrade(&self) -> Option<LocalSender<T>> {
        let queue = self.0.upgrade()?;
        let mut inner = queue.borrow_mut();
        if inner.senders == 0 {
            return None;
        }
        inner.senders += 1;
        drop(inner);
        Some(LocalSender(queue))
    }
}

impl<T: OptionalSend> MpscReceiver<T> for LocalReceiver<T> {
    async fn recv(&mut self) -> Option<T> {
        poll_fn(|cx| {
            let mut queue = self.0.borrow_mut();
            if let Some(item) = queue.items.pop_front() {
                queue.wake_senders();
                return Poll::Ready(Some(item));
            }
            if queue.senders == 0 {
                return Poll::Ready(None);
            }
            queue.receiver_waker = Some(cx.waker().clone());
            Poll::Pending
        })
        .await
    }

    fn try_recv(&mut self) -> Result<T, TryRecvError> {
        let mut queue = self.0.borrow_mut();
        match queue.items.pop_front() {
            Some(item) => {
                queue.wake_senders();
                Ok(item)
            }
            None if queue.senders == 0 => Err(TryRecvError::Disconnected),
            None => Err(TryRecvError::Empty),
        }
    }
}

/// The single-thread watch channel.
pub struct LocalWatch;

struct Watched<T> {
    value: T,
    version: u64,
    senders: usize,
    receivers: usize,
    wakers: Vec<Waker>,
}

impl<T> Watched<T> {
    fn changed(&mut self) {
        self.version += 1;
        for waker in self.wakers.drain(..) {
            waker.wake();
        }
    }
}

/// Publishes values of a [`LocalWatch`].
pub struct LocalWatchSender<T>(Rc<RefCell<Watched<T>>>);

/// Observes values of a [`LocalWatch`].
pub struct LocalWatchReceiver<T> {
    shared: Rc<RefCell<Watched<T>>>,
    seen: u64,
}

impl<T> Clone for LocalWatchSender<T> {
    fn clone(&self) -> Self {
        self.0.borrow_mut().senders += 1;
        LocalWatchSender(self.0.clone())
    }
}

impl<T> Drop for LocalWatchSender<T> {
    fn drop(&mut self) {
        let mut shared = self.0.borrow_mut();
        shared.senders -= 1;
        if shared.senders == 0 {
            for waker in shared.wakers.drain(..) {
                waker.wake();
            }
        }
    }
}

impl<T> Clone for LocalWatchReceiver<T> {
    fn clone(&self) -> Self {
        self.shared.borrow_mut().receivers += 1;
        LocalWatchReceiver {
            shared: self.shared.clone(),
            seen: self.seen,
        }
    }
}

impl<T> Drop for LocalWatchReceiver<T> {
    fn drop(&mut self) {
        self.shared.borrow_mut().receivers -= 1;
    }
}

fn borrow_value<T>(shared: &RefCell<Watched<T>>) -> Ref<'_, T> {
    Ref::map(shared.borrow(), |w| &w.value)
}

impl Watch for LocalWatch {
    type Sender<T: OptionalSend + OptionalSync> = LocalWatchSender<T>;
    type Receiver<T: OptionalSend + OptionalSync> = LocalWatchReceiver<T>;
    type Ref<'a, T: OptionalSend + 'a> = Ref<'a, T>;

    fn channel<T: OptionalSend + OptionalSync>(init: T) -> (Self::Sender<T>, Self::Receiver<T>) {
        let shared = Rc::new(RefCell::new(Watched {
            value: init,
            version: 0,
            senders: 1,
            receivers: 1,
            wakers: Vec::new(),
        }));
        let receiver = LocalWatchReceiver {
            shared: shared.clone(),
            seen: 0,
        };
        (LocalWatchSender(shared), receiver)
    }
}

impl<T: OptionalSend + OptionalSync> WatchSender<LocalWatch, T> for LocalWatchSender<T> {
    fn send(&self, value: T) -> Result<(), watch::SendError<T>> {
        let mut shared = self.0.borrow_mut();
        if shared.receivers == 0 {
            return Err(watch::SendError(value));
        }
        shared.value = value;
        shared.changed();
        Ok(())
    }

    fn send_if_modified<F>(&self, modify: F) -> bool
    where
        F: FnOnce(&mut T) -> bool,
    {
        let mut shared = self.0.borrow_mut();
        let modified = modify(&mut shared.value);
        if modified {
            shared.changed();
        }
        modified
    }

    fn borrow_watched(&self) -> Ref<'_, T> {
        borrow_value(&self.0)
    }

    fn subscribe(&self) -> LocalWatchReceiver<T> {
        let mut shared = self.0.borrow_mut();
        shared.receivers += 1;
        LocalWatchReceiver {
            shared: self.0.clone(),
            seen: shared.version,
        }
    }
}

impl<T: OptionalSend + OptionalSync> WatchReceiver<LocalWatch, T> for LocalWatchReceiver<T> {
    async fn changed(&mut self) -> Result<(), watch::RecvError> {
        poll_fn(|cx| {
            let mut shared = self.shared.borrow_mut();
            if shared.version > self.seen {
                self.seen = shared.version;
                return Poll::Ready(Ok(()));
            }
            if shared.senders == 0 {
                return Poll::Ready(Err(watch::RecvError(())));
            }
            remember(&mut shared.wakers, cx.waker());
            Poll::Pending
        })
        .await
    }

    fn borrow_watched(&self) -> Ref<'_, T> {
        borrow_value(&self.shared)
    }

    fn borrow_and_update(&mut self) -> Ref<'_, T> {
        self.seen = self.shared.borrow().version;
        borrow_value(&self.shared)
    }
}
