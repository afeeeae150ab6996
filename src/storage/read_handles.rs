//! Buffered read handles of segment files, opened when a fetch first sends
//! from a segment and kept in a bounded per-shard cache
//! (`log.read.handles.per.shard`), so the descriptors a shard holds for reads
//! do not grow with its partitions and segments (issue 10, defect 13).
//!
//! Each segment owns a [`ReadHandleSlot`]; the cache only keeps a queue of
//! the slots that hold a handle. Eviction is CLOCK-like: a slot used since it
//! was queued goes round once more, an unused one gives its handle up
//! (closed once no fetch in flight holds a clone). A dropped segment drops
//! its slot and handle at once, so a deleted file's space is never held by
//! the cache. A hit costs what the eager handle did (an `Arc` clone) plus a
//! counter store; a miss opens the handle on the blocking pool, through the
//! segment's O_DIRECT descriptor, so it works after retention unlinked the
//! file and never blocks the reactor.
//!
//! The cache is per thread, that is per shard (one shard = one thread), like
//! the fault plan of `io`: set once at shard start by [`configure`].

use super::error::StorageError;
use super::segment::SegmentReader;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fs::File;
use std::rc::{Rc, Weak};
use std::sync::Arc;

/// Handles per shard when [`configure`] was not called (unit tests, tools).
pub const READ_HANDLES_PER_SHARD_DEFAULT: usize = 256;
/// Fewest handles a shard keeps, whatever the configuration or limit says:
/// below it fetches of a few partitions would reopen files all the time.
pub const READ_HANDLES_PER_SHARD_MIN: usize = 8;
/// Most handles a derived budget gives a shard (a configured value may be
/// larger): past a few thousand, more hits buy little.
pub const READ_HANDLES_PER_SHARD_DERIVED_MAX: usize = 4096;
/// The share (1/N) of the descriptors not reserved for connections and the
/// runtime that a derived budget gives to read handles, all shards together;
/// the rest is for the partitions' segment files.
pub const READ_HANDLES_SHARE_DIVISOR: u64 = 4;

thread_local! {
    static CACHE: RefCell<ReadHandleCache> =
        RefCell::new(ReadHandleCache::new(READ_HANDLES_PER_SHARD_DEFAULT));
    /// Use counter: what a slot's `last_used` is stamped with.
    static CLOCK: Cell<u64> = const { Cell::new(0) };
}

/// Sets this shard's cache size (handles kept open); call at shard start,
/// before any read. Handles already open stay until evicted.
pub fn configure(capacity: usize) {
    CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        let capacity = capacity.max(READ_HANDLES_PER_SHARD_MIN);
        cache.capacity = capacity;
        let wanted = capacity.saturating_sub(cache.queue.len());
        cache.queue.reserve(wanted);
    });
}

/// The per-shard cache size derived from the open-file limit `soft_limit`
/// when `log.read.handles.per.shard` is 0: a [`READ_HANDLES_SHARE_DIVISOR`]th
/// of the descriptors left after `reserved`, split over `shards`, within
/// [`READ_HANDLES_PER_SHARD_MIN`]..=[`READ_HANDLES_PER_SHARD_DERIVED_MAX`].
pub fn derived_per_shard(soft_limit: u64, reserved: u64, shards: usize) -> usize {
    let share = soft_limit.saturating_sub(reserved) / READ_HANDLES_SHARE_DIVISOR;
    let per_shard = share / (shards.max(1) as u64);
    (per_shard.min(READ_HANDLES_PER_SHARD_DERIVED_MAX as u64) as usize)
        .max(READ_HANDLES_PER_SHARD_MIN)
}

/// A segment's buffered read handle, when one is open.
#[derive(Debug, Default)]
pub struct ReadHandleSlot {
    handle: RefCell<Option<Arc<File>>>,
    /// [`CLOCK`] value of the last use.
    last_used: Cell<u64>,
}

impl ReadHandleSlot {
    /// An empty slot: nothing is opened until a fetch needs it.
    pub fn new() -> Rc<Self> {
        Rc::new(ReadHandleSlot::default())
    }

    /// The open handle, marked used; `None` when it must be opened.
    fn cached(&self) -> Option<Arc<File>> {
        let handle = self.handle.borrow().clone();
        if handle.is_some() {
            self.last_used.set(tick());
        }
        handle
    }
}

/// The buffered read handle of the segment behind `slot` and `reader`,
/// opened (off the reactor) when the cache holds none.
pub async fn read_handle(
    slot: &Rc<ReadHandleSlot>,
    reader: &SegmentReader,
) -> Result<Arc<File>, StorageError> {
    if let Some(handle) = slot.cached() {
        return Ok(handle);
    }
    let opened = open_through(reader).await?;
    // Another fetch may have opened one meanwhile: keep that one.
    if let Some(handle) = slot.cached() {
        return Ok(handle);
    }
    CACHE.with(|cache| cache.borrow_mut().insert(slot, opened.clone()));
    Ok(opened)
}

/// A buffered handle on the file behind the segment's O_DIRECT descriptor
/// (held by `reader` for the whole open, so the path names the same file
/// even after retention unlinked it); by path where /proc is missing.
async fn open_through(reader: &SegmentReader) -> Result<Arc<File>, StorageError> {
    let through_fd = format!("/proc/self/fd/{}", reader.dma.raw_fd());
    let log_path = reader.log_path.to_path_buf();
    glommio::executor()
        .spawn_blocking(move || File::open(through_fd).or_else(|_| File::open(log_path)))
        .await
        .map(Arc::new)
        .map_err(|e| StorageError::io("open", &reader.log_path, e))
}

fn tick() -> u64 {
    CLOCK.with(|clock| {
        let now = clock.get().wrapping_add(1);
        clock.set(now);
        now
    })
}

/// The queue of slots holding a handle, in (roughly) least recent use order.
struct ReadHandleCache {
    capacity: usize,
    /// One entry per open handle (and entries of dropped slots until they
    /// reach the front): the slot and its `last_used` when queued.
    queue: VecDeque<(Weak<ReadHandleSlot>, u64)>,
}

impl ReadHandleCache {
    fn new(capacity: usize) -> Self {
        ReadHandleCache {
            capacity,
            queue: VecDeque::with_capacity(capacity),
        }
    }

    fn insert(&mut self, slot: &Rc<ReadHandleSlot>, handle: Arc<File>) {
        self.make_room();
        let stamp = tick();
        slot.last_used.set(stamp);
        *slot.handle.borrow_mut() = Some(handle);
        self.queue.push_back((Rc::downgrade(slot), stamp));
    }

    /// Evicts until one more handle fits. Each entry is looked at most
    /// twice (a used one is queued again with its new stamp, which then
    /// matches), so the loop is bounded.
    fn make_room(&mut self) {
        let mut looks_left = 2 * self.queue.len() + 1;
        while self.queue.len() >= self.capacity && looks_left > 0 {
            looks_left -= 1;
            let Some((weak, stamp)) = self.queue.pop_front() else {
                return;
            };
            // A dropped segment took its handle with it.
            let Some(slot) = weak.upgrade() else {
                continue;
            };
            let last_used = slot.last_used.get();
            if last_used != stamp {
                self.queue.push_back((weak, last_used));
                continue;
            }
            drop(slot.handle.borrow_mut().take());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handle() -> Arc<File> {
        Arc::new(File::open("/proc/self/exe").expect("open"))
    }

    fn is_open(slot: &ReadHandleSlot) -> bool {
        slot.handle.borrow().is_some()
    }

    #[test]
    fn the_least_recently_used_handle_goes_first_and_used_ones_stay() {
        let mut cache = ReadHandleCache::new(3);
        let slots: Vec<_> = (0..3).map(|_| ReadHandleSlot::new()).collect();
        for slot in &slots {
            cache.insert(slot, handle());
        }
        assert!(slots[0].cached().is_some());
        let fourth = ReadHandleSlot::new();
        cache.insert(&fourth, handle());
        assert!(is_open(&slots[0]), "used since queued: kept");
        assert!(!is_open(&slots[1]), "oldest unused: evicted");
        assert!(is_open(&slots[2]));
        assert!(is_open(&fourth));
        assert_eq!(cache.queue.len(), 3);
    }

    #[test]
    fn open_handles_never_pass_the_capacity() {
        let mut cache = ReadHandleCache::new(4);
        let slots: Vec<_> = (0..50).map(|_| ReadHandleSlot::new()).collect();
        for (index, slot) in slots.iter().enumerate() {
            cache.insert(slot, handle());
            // Touch every handle: eviction must still make room.
            for used in &slots[..=index] {
                let _ = used.cached();
            }
            let open = slots.iter().filter(|s| is_open(s)).count();
            assert!(open <= 4, "{open} open after {index}");
        }
    }

    #[test]
    fn a_dropped_segment_closes_its_handle_and_frees_its_place() {
        let mut cache = ReadHandleCache::new(2);
        let kept = ReadHandleSlot::new();
        let dropped = ReadHandleSlot::new();
        cache.insert(&dropped, handle());
        cache.insert(&kept, handle());
        let file = dropped.handle.borrow().clone().expect("open");
        drop(dropped);
        assert_eq!(Arc::strong_count(&file), 1, "the slot's clone went with it");
        let third = ReadHandleSlot::new();
        cache.insert(&third, handle());
        assert!(is_open(&kept), "the dropped entry made the room");
        assert!(is_open(&third));
    }

    #[test]
    fn derived_budget_is_a_share_of_the_free_descriptors_within_bounds() {
        assert_eq!(derived_per_shard(20_000, 1024, 2), 2372);
        assert_eq!(derived_per_shard(4000, 1024, 2), 372);
        assert_eq!(derived_per_shard(1024, 1024, 2), READ_HANDLES_PER_SHARD_MIN);
        assert_eq!(
            derived_per_shard(u64::MAX, 1024, 1),
            READ_HANDLES_PER_SHARD_DERIVED_MAX
        );
    }
}
