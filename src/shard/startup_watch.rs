//! Bounds the start-up. Each shard records the phase it is in and every
//! partition it opens; the main thread waits until every shard is ready and
//! fails the start, naming where each shard stands, when a shard failed or
//! when no shard made progress for `startup.timeout.ms`. A start that cannot
//! make progress therefore ends with a message and a non-zero exit instead
//! of a process that never serves.

use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often the main thread looks at the shards' progress.
const PROGRESS_POLL_INTERVAL_MS: u64 = 20;
/// A start without progress for this long is logged (where each shard
/// stands), and again each time this long passes, until it fails.
const SLOW_START_WARNING_MS: u64 = 5_000;
/// Marks a shard whose index is not known yet (before the mesh join).
const SHARD_ID_UNKNOWN: usize = usize::MAX;

/// Where a shard is in its start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum StartPhase {
    /// Its thread and executor are being created.
    Spawning = 0,
    /// Waiting for every other shard to join the cross-shard channel mesh.
    JoiningMesh,
    /// Opening (and recovering) the partitions it owns.
    OpeningPartitions,
    /// Replaying the consumer groups' committed offsets.
    StartingCoordinator,
    /// Binding its client listener.
    BindingListener,
    /// Serving clients.
    Ready,
    /// Its start failed (the error is kept).
    Failed,
}

impl StartPhase {
    const ALL: [StartPhase; 7] = [
        StartPhase::Spawning,
        StartPhase::JoiningMesh,
        StartPhase::OpeningPartitions,
        StartPhase::StartingCoordinator,
        StartPhase::BindingListener,
        StartPhase::Ready,
        StartPhase::Failed,
    ];

    fn from_u8(value: u8) -> StartPhase {
        Self::ALL
            .get(value as usize)
            .copied()
            .unwrap_or(StartPhase::Failed)
    }

    fn describe(self) -> &'static str {
        match self {
            StartPhase::Spawning => "creating its executor",
            StartPhase::JoiningMesh => "joining the shard mesh (waiting for the other shards)",
            StartPhase::OpeningPartitions => "opening partitions",
            StartPhase::StartingCoordinator => "loading committed offsets",
            StartPhase::BindingListener => "binding its listener",
            StartPhase::Ready => "ready",
            StartPhase::Failed => "failed",
        }
    }
}

/// One shard thread's progress, in the order the threads started.
struct ShardProgress {
    phase: AtomicU8,
    /// When it entered its phase, in ms since the progress was created.
    phase_since_ms: AtomicU64,
    shard_id: AtomicUsize,
    partitions_open: AtomicUsize,
    partitions_owned: AtomicUsize,
}

/// The start-up progress of every shard, shared by the shard threads (which
/// write it) and the main thread (which watches it).
pub struct StartupProgress {
    created: Instant,
    shards: Vec<ShardProgress>,
    next_slot: AtomicUsize,
    /// Bumped by every phase change and every partition opened.
    steps: AtomicU64,
    failure: Mutex<Option<String>>,
}

/// A shard thread's handle on its own progress entry.
#[derive(Clone, Copy)]
pub struct ProgressSlot(usize);

impl StartupProgress {
    /// Progress of `nr_shards` shards, none started.
    pub fn new(nr_shards: usize) -> StartupProgress {
        let shards = (0..nr_shards)
            .map(|_| ShardProgress {
                phase: AtomicU8::new(StartPhase::Spawning as u8),
                phase_since_ms: AtomicU64::new(0),
                shard_id: AtomicUsize::new(SHARD_ID_UNKNOWN),
                partitions_open: AtomicUsize::new(0),
                partitions_owned: AtomicUsize::new(0),
            })
            .collect();
        StartupProgress {
            created: Instant::now(),
            shards,
            next_slot: AtomicUsize::new(0),
            steps: AtomicU64::new(0),
            failure: Mutex::new(None),
        }
    }

    /// Called once by each shard thread as it starts.
    pub fn claim_slot(&self) -> ProgressSlot {
        let slot = self.next_slot.fetch_add(1, Ordering::AcqRel);
        ProgressSlot(slot.min(self.shards.len().saturating_sub(1)))
    }

    /// The shard of `slot` entered `phase`.
    pub fn enter(&self, slot: ProgressSlot, phase: StartPhase) {
        let shard = &self.shards[slot.0];
        shard
            .phase_since_ms
            .store(self.elapsed_ms(), Ordering::Release);
        shard.phase.store(phase as u8, Ordering::Release);
        self.steps.fetch_add(1, Ordering::AcqRel);
    }

    /// The shard of `slot` is shard `shard_id` (known after the mesh join).
    pub fn identify(&self, slot: ProgressSlot, shard_id: usize) {
        self.shards[slot.0]
            .shard_id
            .store(shard_id, Ordering::Release);
    }

    /// The shard of `slot` owns `owned` partitions.
    pub fn partitions_owned(&self, slot: ProgressSlot, owned: usize) {
        self.shards[slot.0]
            .partitions_owned
            .store(owned, Ordering::Release);
    }

    /// The shard of `slot` opened one more partition.
    pub fn partition_opened(&self, slot: ProgressSlot) {
        self.shards[slot.0]
            .partitions_open
            .fetch_add(1, Ordering::AcqRel);
        self.steps.fetch_add(1, Ordering::AcqRel);
    }

    /// The shard of `slot` could not start.
    pub fn fail(&self, slot: ProgressSlot, error: &str) {
        let mut failure = self.failure.lock().unwrap_or_else(|e| e.into_inner());
        failure.get_or_insert_with(|| error.to_string());
        drop(failure);
        self.enter(slot, StartPhase::Failed);
    }

    fn elapsed_ms(&self) -> u64 {
        self.created.elapsed().as_millis() as u64
    }

    fn phase(&self, slot: usize) -> StartPhase {
        StartPhase::from_u8(self.shards[slot].phase.load(Ordering::Acquire))
    }

    fn all_ready(&self) -> bool {
        (0..self.shards.len()).all(|slot| self.phase(slot) == StartPhase::Ready)
    }

    fn first_failure(&self) -> Option<String> {
        let failure = self.failure.lock().unwrap_or_else(|e| e.into_inner());
        failure.clone()
    }

    /// Where every shard stands, e.g. `shard 0: ready; shard 1: opening
    /// partitions (3 of 8 open)`.
    pub fn describe(&self) -> String {
        let shards = self.shards.iter().enumerate().map(|(slot, shard)| {
            let name = match shard.shard_id.load(Ordering::Acquire) {
                SHARD_ID_UNKNOWN => format!("shard thread {slot}"),
                id => format!("shard {id}"),
            };
            let phase = self.phase(slot);
            let detail = match phase {
                StartPhase::OpeningPartitions => format!(
                    " ({} of {} open)",
                    shard.partitions_open.load(Ordering::Acquire),
                    shard.partitions_owned.load(Ordering::Acquire)
                ),
                _ => String::new(),
            };
            let since_ms = shard.phase_since_ms.load(Ordering::Acquire);
            let for_ms = self.elapsed_ms().saturating_sub(since_ms);
            format!("{name}: {}{detail} for {for_ms} ms", phase.describe())
        });
        shards.collect::<Vec<_>>().join("; ")
    }

    /// Waits until every shard is ready. Fails when a shard failed, or when
    /// no shard made progress for `stall_timeout`.
    pub fn wait_until_ready(&self, stall_timeout: Duration) -> Result<(), String> {
        let mut steps_seen = self.steps.load(Ordering::Acquire);
        let mut last_progress = Instant::now();
        let mut next_warning = Duration::from_millis(SLOW_START_WARNING_MS);
        loop {
            if let Some(error) = self.first_failure() {
                return Err(format!("start-up failed: {error} ({})", self.describe()));
            }
            if self.all_ready() {
                return Ok(());
            }
            let steps = self.steps.load(Ordering::Acquire);
            if steps != steps_seen {
                steps_seen = steps;
                last_progress = Instant::now();
                next_warning = Duration::from_millis(SLOW_START_WARNING_MS);
            } else if last_progress.elapsed() >= stall_timeout {
                return Err(format!(
                    "start-up made no progress for {} ms (startup.timeout.ms): {}",
                    stall_timeout.as_millis(),
                    self.describe()
                ));
            } else if last_progress.elapsed() >= next_warning {
                log::warn!(
                    "start-up: no progress for {} ms (fails at startup.timeout.ms {}): {}",
                    last_progress.elapsed().as_millis(),
                    stall_timeout.as_millis(),
                    self.describe()
                );
                next_warning += Duration::from_millis(SLOW_START_WARNING_MS);
            }
            std::thread::sleep(Duration::from_millis(PROGRESS_POLL_INTERVAL_MS));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_stalled_start_fails_naming_each_shards_phase() {
        let progress = StartupProgress::new(2);
        let first = progress.claim_slot();
        let second = progress.claim_slot();
        progress.enter(first, StartPhase::JoiningMesh);
        progress.identify(second, 1);
        progress.partitions_owned(second, 8);
        progress.enter(second, StartPhase::OpeningPartitions);
        progress.partition_opened(second);
        let started = Instant::now();
        let error = progress
            .wait_until_ready(Duration::from_millis(100))
            .unwrap_err();
        assert!(started.elapsed() >= Duration::from_millis(100));
        let expected = regex_free_shape(&error);
        assert_eq!(
            expected,
            "start-up made no progress for 100 ms (startup.timeout.ms): shard thread 0: \
             joining the shard mesh (waiting for the other shards) for N ms; shard 1: opening \
             partitions (1 of 8 open) for N ms"
        );
    }

    /// `error` with every `for <digits> ms` written `for N ms`.
    fn regex_free_shape(error: &str) -> String {
        let mut shape = String::new();
        let mut rest = error;
        while let Some(at) = rest.find(" for ") {
            shape.push_str(&rest[..at + 5]);
            rest = &rest[at + 5..];
            let digits = rest.chars().take_while(char::is_ascii_digit).count();
            let after = &rest[digits..];
            if digits > 0 && (after.starts_with(" ms;") || after == " ms") {
                shape.push('N');
                rest = &rest[digits..];
            }
        }
        shape.push_str(rest);
        shape
    }

    #[test]
    fn progress_postpones_the_deadline_and_readiness_ends_the_wait() {
        let progress = Arc::new(StartupProgress::new(1));
        let slot = progress.claim_slot();
        progress.enter(slot, StartPhase::OpeningPartitions);
        let shard = progress.clone();
        let opener = std::thread::spawn(move || {
            for _ in 0..10 {
                std::thread::sleep(Duration::from_millis(30));
                shard.partition_opened(slot);
            }
            shard.enter(slot, StartPhase::Ready);
        });
        // 300 ms of opens, never 150 ms without one.
        assert_eq!(
            progress.wait_until_ready(Duration::from_millis(150)),
            Ok(())
        );
        opener.join().unwrap();
    }

    #[test]
    fn a_failed_shard_fails_the_start_at_once() {
        let progress = StartupProgress::new(2);
        let slot = progress.claim_slot();
        progress.fail(slot, "cannot open t-0: disk on fire");
        let error = progress
            .wait_until_ready(Duration::from_secs(3600))
            .unwrap_err();
        assert!(
            error.starts_with(
                "start-up failed: cannot open t-0: disk on fire (shard thread 0: failed for "
            ),
            "{error}"
        );
    }
}
