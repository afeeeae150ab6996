//! Recent data given back while the host is short of memory
//! (`log.recent.memory.available.min.bytes`).
//!
//! Why: the room for recent batches may grow to an eighth of the broker's
//! memory (`memory_share.rs`; it starts at 128 MiB and grows as reads lag,
//! `storage/recent_budget.rs`), because Apache Kafka's lagging consumers read
//! from a page cache that grows into all free memory. The kernel takes that
//! page cache back when other processes need memory; millrace's recent
//! batches are its own heap, so without this the kernel could only swap or
//! kill. Each shard checks, every [`MEMORY_CHECK_INTERVAL_MS`], the memory
//! still available (MemAvailable, or its cgroup's room) and:
//! - below the minimum, shrinks its room by its share of the shortfall, at
//!   most [`GIVE_BACK_BYTES_PER_CHECK_MAX`] (down to
//!   [`ROOM_UNDER_PRESSURE_MIN_BYTES`]), evicts down to it at once, then
//!   hands the freed heap back to the kernel (`malloc_trim`);
//! - above twice the minimum, grows its room back by its share of half the
//!   surplus, up to `log.recent.bytes.per.shard.max`;
//! - in between, keeps its room (hysteresis: no see-saw at the threshold).

use super::memory_share::{available_memory_bytes, broker_memory_bytes};
use super::ShardContext;
use crate::config::Config;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How often each shard looks at the memory available.
pub const MEMORY_CHECK_INTERVAL_MS: u64 = 250;
/// The most a shard gives back per check. The heap trim that hands it to
/// the kernel runs on the shard and takes time in proportion (191 ms for
/// 1.4 GB at once, measured): paced, a trim stalls the shard a few ms, and
/// a shard still gives back 128 MiB a second.
pub const GIVE_BACK_BYTES_PER_CHECK_MAX: usize = 32 << 20;
/// The default `log.recent.memory.available.min.bytes` is the broker's
/// memory divided by this.
pub const MEMORY_AVAILABLE_MIN_DIVISOR: u64 = 16;
/// A shard's room never shrinks below this, so that tailing consumers of
/// a shard under memory pressure still read from memory.
pub const ROOM_UNDER_PRESSURE_MIN_BYTES: usize = 32 << 20;
/// Once the shards' give-backs since the last heap trim add up to this, the
/// shard that crosses it trims: freed batches otherwise stay in the
/// allocator's arenas and MemAvailable does not rise.
const TRIM_AFTER_FREED_BYTES_MIN: usize = 16 << 20;

/// Bytes the shards gave back since the last trim. One count for the
/// process, because one `malloc_trim` walks every shard's arena (and stalls
/// a shard allocating from the arena it holds): shards must not each trim
/// for the same memory.
static FREED_SINCE_TRIM_BYTES: AtomicUsize = AtomicUsize::new(0);

/// What a shard's next room depends on.
#[derive(Clone, Copy, Debug)]
pub struct RoomInputs {
    /// The shard's room now.
    pub room_bytes: usize,
    /// `log.recent.bytes.per.shard.max`.
    pub room_max_bytes: usize,
    /// Recent bytes the shard holds.
    pub held_bytes: usize,
    /// Memory still available to the broker.
    pub available_bytes: u64,
    /// `log.recent.memory.available.min.bytes`.
    pub available_min_bytes: u64,
    /// Shards of the broker (each takes its share of a change).
    pub nr_shards: usize,
}

/// The shard's room after one check (see the module doc).
pub fn next_room(inputs: RoomInputs) -> usize {
    let shards = inputs.nr_shards.max(1) as u64;
    let floor = ROOM_UNDER_PRESSURE_MIN_BYTES.min(inputs.room_max_bytes);
    if inputs.available_bytes < inputs.available_min_bytes {
        let share = (inputs.available_min_bytes - inputs.available_bytes) / shards;
        let share = usize::try_from(share)
            .unwrap_or(usize::MAX)
            .min(GIVE_BACK_BYTES_PER_CHECK_MAX);
        let in_use = inputs.held_bytes.min(inputs.room_bytes);
        return in_use
            .saturating_sub(share)
            .max(floor)
            .min(inputs.room_bytes);
    }
    let grow_above = inputs.available_min_bytes.saturating_mul(2);
    if inputs.available_bytes > grow_above {
        let share = (inputs.available_bytes - grow_above) / 2 / shards;
        let share = usize::try_from(share).unwrap_or(usize::MAX);
        // Grown from what is held, not from the room: a room not filled
        // yet does not leap to its max and then overshoot the minimum.
        return inputs
            .held_bytes
            .saturating_add(share)
            .max(inputs.room_bytes)
            .min(inputs.room_max_bytes);
    }
    inputs.room_bytes
}

/// Sets `log.recent.memory.available.min.bytes` when unset (-1): a
/// sixteenth of the broker's memory, or 0 (no check) when that cannot be
/// read. Logs what the broker will do.
pub fn resolve_available_min(config: &mut Config) {
    let min_bytes = *config
        .recent_memory_available_min_bytes
        .get_or_insert_with(|| {
            broker_memory_bytes().map_or(0, |bytes| {
                usize::try_from(bytes / MEMORY_AVAILABLE_MIN_DIVISOR).unwrap_or(usize::MAX)
            })
        });
    match min_bytes {
        0 => log::info!(
            "log.recent.memory.available.min.bytes = 0: recent data is not given back when \
             memory runs short"
        ),
        bytes => log::info!(
            "log.recent.memory.available.min.bytes = {} MiB: shards give back recent data while \
             less memory than that is available",
            bytes >> 20
        ),
    }
}

/// Starts the shard's check, unless `available_min_bytes` is `None` or 0
/// (off). It ends when shutdown begins.
pub fn spawn_check(ctx: &Rc<ShardContext>, available_min_bytes: Option<usize>) {
    let available_min_bytes = available_min_bytes.unwrap_or(0) as u64;
    if available_min_bytes == 0 {
        return;
    }
    let ctx = ctx.clone();
    glommio::spawn_local(async move {
        let interval = Duration::from_millis(MEMORY_CHECK_INTERVAL_MS);
        let shutting_down = ctx.lifecycle.shutting_down.clone();
        let mut episode = ShortEpisode::default();
        while !shutting_down.fired_within(interval).await {
            check_once(&ctx, available_min_bytes, &mut episode).await;
        }
    })
    .detach();
}

/// A stretch of checks that found memory short: logged when it begins and
/// when it ends, not at every check.
#[derive(Default)]
struct ShortEpisode {
    began_at: Option<Instant>,
    given_back_bytes: usize,
    trim_ms_max: u128,
}

/// One look at the memory available, and the room it asks for.
async fn check_once(ctx: &ShardContext, available_min_bytes: u64, episode: &mut ShortEpisode) {
    let Some(available_bytes) = available_memory_bytes() else {
        return;
    };
    let storage = ctx.partitions.storage();
    let (room_bytes, room_max_bytes) = storage.recent_room();
    let held_bytes = storage.recent_bytes();
    let room = next_room(RoomInputs {
        room_bytes,
        room_max_bytes,
        held_bytes,
        available_bytes,
        available_min_bytes,
        nr_shards: ctx.nr_shards,
    });
    if available_bytes >= available_min_bytes {
        end_episode(ctx, episode, room);
    }
    if room == room_bytes {
        return;
    }
    storage.set_recent_room(room).await;
    if room > room_bytes {
        return;
    }
    if episode.began_at.is_none() {
        log::warn!(
            "shard {}: {} MiB of memory available, under log.recent.memory.available.min.bytes \
             ({} MiB): giving back recent data, at most {} MiB every {} ms (lagging consumers \
             read from disk meanwhile)",
            ctx.shard_id,
            available_bytes >> 20,
            available_min_bytes >> 20,
            GIVE_BACK_BYTES_PER_CHECK_MAX >> 20,
            MEMORY_CHECK_INTERVAL_MS
        );
        episode.began_at = Some(Instant::now());
    }
    let freed_bytes = held_bytes.saturating_sub(storage.recent_bytes());
    episode.given_back_bytes = episode.given_back_bytes.saturating_add(freed_bytes);
    if trim_due(freed_bytes) {
        episode.trim_ms_max = episode.trim_ms_max.max(trim_heap().as_millis());
    }
}

/// Adds a give-back to the count since the last trim; true (and the count
/// restarts) when it reaches [`TRIM_AFTER_FREED_BYTES_MIN`]: this shard
/// trims for all.
fn trim_due(freed_bytes: usize) -> bool {
    let total = FREED_SINCE_TRIM_BYTES.fetch_add(freed_bytes, Ordering::Relaxed) + freed_bytes;
    total >= TRIM_AFTER_FREED_BYTES_MIN
        && FREED_SINCE_TRIM_BYTES
            .compare_exchange(total, 0, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
}

/// Logs the end of a short stretch, once memory is available again.
fn end_episode(ctx: &ShardContext, episode: &mut ShortEpisode, room_bytes: usize) {
    let Some(began_at) = episode.began_at else {
        return;
    };
    log::info!(
        "shard {}: memory available again after {} ms short: {} MiB of recent data given back \
         (heap trims took at most {} ms), room {} MiB (it grows back while twice \
         log.recent.memory.available.min.bytes is available)",
        ctx.shard_id,
        began_at.elapsed().as_millis(),
        episode.given_back_bytes >> 20,
        episode.trim_ms_max,
        room_bytes >> 20
    );
    *episode = ShortEpisode::default();
}

/// Hands the allocator's free pages back to the kernel; how long it took.
/// It walks every arena (every shard's), holding each one's lock while it
/// returns that arena's pages, so it stalls this shard and any shard
/// allocating from the arena meanwhile; it costs about 0.14 ms per MiB
/// returned (perf/RESULTS.md), which the give-back pace bounds.
fn trim_heap() -> Duration {
    let started = Instant::now();
    // SAFETY: malloc_trim takes no pointers; glibc locks each arena it trims.
    unsafe {
        libc::malloc_trim(0);
    }
    started.elapsed()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: usize = 1 << 20;
    const GIB: u64 = 1 << 30;

    fn inputs(room_mib: usize, held_mib: usize, available_gib: u64) -> RoomInputs {
        RoomInputs {
            room_bytes: room_mib * MIB,
            room_max_bytes: 1024 * MIB,
            held_bytes: held_mib * MIB,
            available_bytes: available_gib * GIB,
            available_min_bytes: 2 * GIB,
            nr_shards: 2,
        }
    }

    #[test]
    fn under_the_minimum_each_shard_gives_back_its_share_of_the_shortfall() {
        // 16 MiB short over 2 shards: 8 MiB each, from what it holds.
        let short = RoomInputs {
            available_bytes: 2 * GIB - 16 * MIB as u64,
            ..inputs(1024, 900, 0)
        };
        assert_eq!(next_room(short), (900 - 8) * MIB);
        // 1 GiB short: 512 MiB each, paced.
        let paced = 900 * MIB - GIVE_BACK_BYTES_PER_CHECK_MAX;
        assert_eq!(next_room(inputs(1024, 900, 1)), paced);
        // Never below the floor, never above the room.
        assert_eq!(
            next_room(inputs(1024, 40, 1)),
            ROOM_UNDER_PRESSURE_MIN_BYTES
        );
        assert_eq!(next_room(inputs(64, 900, 0)), ROOM_UNDER_PRESSURE_MIN_BYTES);
    }

    #[test]
    fn between_the_minimum_and_twice_it_the_room_stays() {
        assert_eq!(next_room(inputs(100, 100, 2)), 100 * MIB);
        assert_eq!(next_room(inputs(100, 100, 4)), 100 * MIB);
    }

    #[test]
    fn above_twice_the_minimum_the_room_grows_back_to_its_max() {
        // 1 GiB over 4 GiB: half of it, shared by 2 shards: 256 MiB each.
        assert_eq!(next_room(inputs(100, 100, 5)), 356 * MIB);
        assert_eq!(next_room(inputs(900, 100, 20)), 1024 * MIB);
        // From what is held: 10 MiB held in a 100 MiB room grows to 266 MiB,
        // not 356; a room already above that stays.
        assert_eq!(next_room(inputs(100, 10, 5)), 266 * MIB);
        assert_eq!(next_room(inputs(300, 10, 5)), 300 * MIB);
    }

    #[test]
    fn small_give_backs_add_up_to_one_trim_for_all_shards() {
        FREED_SINCE_TRIM_BYTES.store(0, Ordering::Relaxed);
        let small = TRIM_AFTER_FREED_BYTES_MIN / 4;
        assert!(!trim_due(small));
        assert!(!trim_due(small));
        assert!(!trim_due(small));
        assert!(trim_due(small), "the fourth reaches it");
        assert_eq!(FREED_SINCE_TRIM_BYTES.load(Ordering::Relaxed), 0);
        assert!(!trim_due(0));
    }

    #[test]
    fn a_room_max_below_the_floor_is_kept() {
        let small = RoomInputs {
            room_max_bytes: 8 * MIB,
            ..inputs(8, 8, 0)
        };
        assert_eq!(next_room(small), 8 * MIB);
    }
}
