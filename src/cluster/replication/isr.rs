//! The leaders' ISR changes of one shard: one ticker task per shard (never
//! one per partition) asks each partition it leads for the change to send
//! (an expansion a follower's fetch earned, or a shrink after
//! `replica.lag.time.max.ms`) and sends it to the controller through the
//! AlterPartition sender the shard gives (the controller commits it with
//! the partition epoch as compare-and-set; a leader never changes the ISR
//! alone). Without a sender (none yet) a proposal is answered NOT_CONTROLLER
//! at once: the controller still takes fenced brokers out of every ISR.
//! The same tick feeds the follower-lag metrics from each leader's view of
//! its followers (records behind, ms since last caught up).

use crate::cluster::TopicIdPartition;
use crate::metrics::replication::{forget_follower_lag, record_follower_lag, FollowerLag};
use crate::partition::replica::{AlterPartitionProposal, PartitionState};
use crate::partition::replication::clock_ms;
use crate::partition::Partition;
use crate::protocol::error_code;
use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::time::Duration;

/// How often each shard's leaders are asked for ISR changes, at most.
pub const ISR_TICK_MS: u64 = 1_000;

/// The tick for `replica.lag.time.max.ms`: every second, or every half lag
/// when that is shorter (Kafka checks every half lag), so a follower leaves
/// the ISR at most about half a lag late.
pub fn tick_ms(replica_lag_time_max_ms: u64) -> u64 {
    (replica_lag_time_max_ms / 2).clamp(1, ISR_TICK_MS)
}

/// Sends one ISR change to the active controller: the committed state, or a
/// Kafka error code (AlterPartition, key 56).
pub type AlterPartitionSender = Rc<
    dyn Fn(
        TopicIdPartition,
        AlterPartitionProposal,
    ) -> Pin<Box<dyn Future<Output = Result<PartitionState, i16>>>>,
>;

/// A partition this shard leads: its id, topic name and partition.
pub type Led = (TopicIdPartition, Rc<str>, Rc<Partition>);

/// The partitions a shard leads, and where their ISR changes go.
pub struct IsrTicker {
    led: RefCell<Vec<Led>>,
    sender: RefCell<Option<AlterPartitionSender>>,
}

impl IsrTicker {
    /// A ticker asking every `tick_ms`, running until it is dropped.
    pub fn start(tick_ms: u64) -> Rc<Self> {
        let ticker = Rc::new(IsrTicker {
            led: RefCell::new(Vec::new()),
            sender: RefCell::new(None),
        });
        let weak = Rc::downgrade(&ticker);
        glommio::spawn_local(run(weak, tick_ms)).detach();
        ticker
    }

    /// Where ISR changes go from now on.
    pub fn set_sender(&self, sender: AlterPartitionSender) {
        *self.sender.borrow_mut() = Some(sender);
    }

    /// The partitions this shard leads now; those it no longer leads lose
    /// their follower-lag entries.
    pub fn set_led(&self, led: Vec<Led>) {
        let before = std::mem::replace(&mut *self.led.borrow_mut(), led);
        let led = self.led.borrow();
        for (tp, topic, _) in before {
            if !led.iter().any(|(now, _, _)| *now == tp) {
                forget_follower_lag(&topic, tp.partition);
            }
        }
    }

    fn tick(&self) {
        let now_ms = clock_ms();
        let led = self.led.borrow().clone();
        for (tp, topic, partition) in led {
            for (follower, records, ms) in partition.follower_lags(now_ms) {
                let lag = FollowerLag { records, ms };
                record_follower_lag(&topic, tp.partition, follower, lag);
            }
            let Some(proposal) = partition.leader_tick(now_ms) else {
                continue;
            };
            let Some(sender) = self.sender.borrow().clone() else {
                partition.on_alter_partition(&proposal, Err(error_code::NOT_CONTROLLER));
                continue;
            };
            // One proposal in flight per partition: the leader holds it
            // pending until this answer, and hands it back at a later tick
            // when the answer was lost (NOT_CONTROLLER, REQUEST_TIMED_OUT):
            // the controller may have committed it, so it is sent again
            // rather than dropped.
            glommio::spawn_local(async move {
                let answer = sender(tp, proposal.clone()).await;
                partition.on_alter_partition(&proposal, answer);
            })
            .detach();
        }
    }
}

async fn run(ticker: Weak<IsrTicker>, tick_ms: u64) {
    loop {
        glommio::timer::sleep(Duration::from_millis(tick_ms)).await;
        let Some(ticker) = ticker.upgrade() else {
            return;
        };
        ticker.tick();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaders_are_asked_every_second_or_every_half_lag_when_shorter() {
        assert_eq!(tick_ms(30_000), ISR_TICK_MS);
        assert_eq!(tick_ms(2_000), ISR_TICK_MS);
        assert_eq!(tick_ms(500), 250);
    }
}
