//! The shard mesh's channels under the vendored glommio patch
//! (vendor/README.md): a receiver wakes its sender's executor only when a
//! pop made room in a full channel. These tests show that no sender is left
//! asleep by it: a sender blocked on a full channel, on an executor with
//! nothing else to do (no timer, no I/O), must be woken by the receiver's
//! pops, or the send never completes.
//!
//! They also cover the second patch: an executor about to sleep issues a
//! SeqCst fence paired with one in every waker, instead of a membarrier. A
//! ping-pong puts both executors to sleep between every message, and a
//! run of blocking calls puts one to sleep before every completion: a lost
//! wake-up leaves them asleep for good and the test fails at its deadline.

use glommio::channels::channel_mesh::{Full, MeshBuilder, Receivers, Senders};
use glommio::{LocalExecutorPoolBuilder, PoolPlacement};
use std::future::Future;
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

/// Messages each test sends: many times the channel's capacity.
const MESSAGES: u64 = 5_000;
/// How long a test may take before a sender counts as never woken.
const DEADLINE_S: u64 = 60;

/// Runs `body` on each of two executors joined by a mesh of `capacity`,
/// and returns the sum of what the two bodies return. Panics with `stuck`
/// after [`DEADLINE_S`]: an executor left asleep never finishes its body.
fn on_two_executors<B, F>(capacity: usize, stuck: &str, body: B) -> u64
where
    B: Fn(Senders<u64>, Receivers<u64>) -> F + Clone + Send + 'static,
    F: Future<Output = u64> + 'static,
{
    let mesh = MeshBuilder::<u64, Full>::full(2, capacity);
    // Every clone made here: the builder holds an `Rc` (see src/shard/mesh_join.rs).
    let builders = Arc::new(Mutex::new(vec![mesh.clone(), mesh]));
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let pool = LocalExecutorPoolBuilder::new(PoolPlacement::Unbound(2))
            .on_all_shards(move || {
                let mesh = builders.lock().map(|mut b| b.pop()).ok().flatten();
                let body = body.clone();
                async move {
                    let mesh = mesh.expect("one builder per executor");
                    let (senders, receivers) = mesh.join().await.expect("mesh joined");
                    body(senders, receivers).await
                }
            })
            .expect("executors started");
        let total: u64 = pool
            .join_all()
            .into_iter()
            .map(|r| r.expect("joined"))
            .sum();
        let _ = done_tx.send(total);
    });
    done_rx
        .recv_timeout(Duration::from_secs(DEADLINE_S))
        .expect(stuck)
}

/// Executor 0 sends `MESSAGES` numbers to executor 1 over a mesh of
/// `capacity`; executor 1 checks their order and pauses after every
/// `receive_burst` (so the sender finds the channel full and sleeps).
/// Returns what executor 1 received.
fn send_through_mesh(capacity: usize, receive_burst: u64) -> u64 {
    let stuck = "a sender blocked on a full channel was never woken";
    on_two_executors(capacity, stuck, move |senders, mut receivers| async move {
        if senders.peer_id() == 0 {
            for number in 0..MESSAGES {
                senders.send_to(1, number).await.expect("receiver alive");
            }
            return 0;
        }
        let (_, stream) = receivers.streams().pop().expect("a stream from 0");
        let mut received = 0;
        while received < MESSAGES {
            let number = stream.recv().await.expect("sender alive");
            assert_eq!(number, received, "messages arrive in order");
            received += 1;
            if received % receive_burst == 0 {
                glommio::timer::sleep(Duration::from_millis(1)).await;
            }
        }
        received
    })
}

#[test]
fn a_sender_blocked_on_a_full_channel_is_woken_when_the_receiver_makes_room() {
    assert_eq!(send_through_mesh(2, 7), MESSAGES);
}

#[test]
fn a_sender_of_a_channel_of_one_is_woken_at_every_message() {
    assert_eq!(send_through_mesh(1, 3), MESSAGES);
}

/// Round trips of the ping-pong: each one sleeps both executors once.
const ROUND_TRIPS: u64 = 20_000;
/// Blocking calls in a row, each awaited by a sleeping executor.
const BLOCKING_CALLS: u64 = 5_000;

/// Runs `ROUND_TRIPS` ping-pongs between two executors over a mesh of
/// capacity 1: executor 0 sends n, executor 1 answers n + 1. Returns the
/// round trips completed.
fn ping_pong() -> u64 {
    let stuck = "an executor asleep between ping-pongs was never woken";
    on_two_executors(1, stuck, |senders, mut receivers| async move {
        let me = senders.peer_id();
        let other = 1 - me;
        let (_, stream) = receivers.streams().pop().expect("a stream from the other");
        let mut completed = 0;
        for n in 0..ROUND_TRIPS {
            if me == 0 {
                senders.send_to(other, 2 * n).await.expect("peer alive");
                let answer = stream.recv().await.expect("peer alive");
                assert_eq!(answer, 2 * n + 1, "the answer to this ping");
                completed += 1;
            } else {
                let ping = stream.recv().await.expect("peer alive");
                senders.send_to(other, ping + 1).await.expect("peer alive");
            }
        }
        completed
    })
}

#[test]
fn executors_that_sleep_between_every_message_are_always_woken() {
    assert_eq!(ping_pong(), ROUND_TRIPS);
}

#[test]
fn an_executor_asleep_on_a_blocking_call_is_woken_by_its_completion() {
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let executor = glommio::LocalExecutorBuilder::default()
            .spawn(|| async {
                let mut sum = 0;
                for n in 0..BLOCKING_CALLS {
                    sum += glommio::executor().spawn_blocking(move || n).await;
                }
                sum
            })
            .expect("executor started");
        let _ = done_tx.send(executor.join().expect("joined"));
    });
    let sum = done_rx
        .recv_timeout(Duration::from_secs(DEADLINE_S))
        .expect("an executor asleep on a blocking call was never woken");
    assert_eq!(sum, BLOCKING_CALLS * (BLOCKING_CALLS - 1) / 2);
}
