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
//! The capacity bounds descriptors, not cache entries: a handle evicted while
//! fetch answers in flight still hold it (zero-copy regions, possibly sent
//! from another shard) stays open until they are sent, and counts until
//! then. A fetch of more partitions than that in one answer would otherwise
//! pin a descriptor per partition and pass the open-file limit (EMFILE). At
//! the capacity a read gets no handle ([`ReadAccess::Exhausted`]): its
//! partition answers no records this time and the fetch reads again shortly.
//! A read settles its access ([`read_access`]) before scanning the file, so
//! one that could not send from it costs no disk read.
//!
//! The cache is per thread, that is per shard (one shard = one thread), like
//! the fault plan of `io`: set once at shard start by [`configure`].

use super::error::StorageError;
use super::segment::SegmentReader;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fs::File;
use std::marker::PhantomData;
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
        let wanted = capacity.saturating_sub(cache.opened.len());
        cache.opened.reserve(wanted);
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

/// A segment's read handle as settled before a read does any work, so a
/// read that could not send from the file stops before scanning it.
pub enum ReadAccess {
    /// The handle is open (cached).
    Open(Arc<File>),
    /// Not open; a descriptor is reserved to open it.
    Reserved(Reservation),
    /// Not open, and every read descriptor of the shard is held: by the
    /// cache's used handles and by fetch answers in flight.
    Exhausted,
}

/// One descriptor of the shard's capacity, held for an open under way.
/// Not `Send`: it belongs to this shard's cache.
pub struct Reservation {
    _shard_local: PhantomData<Rc<()>>,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        CACHE.with(|cache| cache.borrow_mut().opening -= 1);
    }
}

/// The access to the segment file behind `slot`: its cached handle, or a
/// reserved descriptor to open one, or none free.
pub fn read_access(slot: &ReadHandleSlot) -> ReadAccess {
    if let Some(handle) = slot.cached() {
        return ReadAccess::Open(handle);
    }
    match CACHE.with(|cache| cache.borrow_mut().reserve()) {
        true => ReadAccess::Reserved(Reservation {
            _shard_local: PhantomData,
        }),
        false => ReadAccess::Exhausted,
    }
}

impl ReadAccess {
    /// The buffered read handle of the segment behind `slot` and `reader`,
    /// opened (off the reactor) under the reservation; `None` when
    /// [`ReadAccess::Exhausted`].
    pub async fn handle(
        self,
        slot: &Rc<ReadHandleSlot>,
        reader: &SegmentReader,
    ) -> Result<Option<Arc<File>>, StorageError> {
        let reservation = match self {
            ReadAccess::Open(handle) => return Ok(Some(handle)),
            ReadAccess::Exhausted => return Ok(None),
            ReadAccess::Reserved(reservation) => reservation,
        };
        let opened = open_through(reader).await;
        // Another fetch may have opened one meanwhile: keep that one.
        if let Some(handle) = slot.cached() {
            return Ok(Some(handle));
        }
        let opened = opened?;
        CACHE.with(|cache| cache.borrow_mut().insert(slot, opened.clone()));
        // The descriptor is counted as opened now, no more as reserved.
        drop(reservation);
        Ok(Some(opened))
    }
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

/// The queue of slots holding a handle, in (roughly) least recent use order,
/// and the count of the descriptors this shard's handles hold.
struct ReadHandleCache {
    capacity: usize,
    /// One entry per open handle (and entries of dropped slots until they
    /// reach the front): the slot and its `last_used` when queued.
    queue: VecDeque<(Weak<ReadHandleSlot>, u64)>,
    /// Every handle this shard opened that may still be open: in a slot, or
    /// only in fetch answers in flight. A dead entry was closed.
    opened: Vec<std::sync::Weak<File>>,
    /// Opens under way: descriptors reserved, not yet in `opened`.
    opening: usize,
}

impl ReadHandleCache {
    fn new(capacity: usize) -> Self {
        ReadHandleCache {
            capacity,
            queue: VecDeque::with_capacity(capacity),
            opened: Vec::with_capacity(capacity),
            opening: 0,
        }
    }

    /// Descriptors open or being opened (after [`Self::forget_closed`]).
    fn descriptors(&self) -> usize {
        self.opened.len() + self.opening
    }

    /// Reserves a descriptor for one open, evicting unused handles to make
    /// room; false when every descriptor is still held.
    fn reserve(&mut self) -> bool {
        self.forget_closed();
        self.make_room();
        let room = self.descriptors() < self.capacity;
        if room {
            self.opening += 1;
        }
        room
    }

    fn insert(&mut self, slot: &Rc<ReadHandleSlot>, handle: Arc<File>) {
        let stamp = tick();
        slot.last_used.set(stamp);
        self.opened.push(Arc::downgrade(&handle));
        *slot.handle.borrow_mut() = Some(handle);
        self.queue.push_back((Rc::downgrade(slot), stamp));
    }

    /// Drops the entries of handles closed since (their last clone went,
    /// here or on the shard that sent it). Bounded: one look per entry.
    fn forget_closed(&mut self) {
        self.opened.retain(|handle| handle.strong_count() > 0);
    }

    /// Evicts until one more descriptor fits or every cached handle was
    /// looked at twice (a used one is queued again with its new stamp,
    /// which then matches), so the loop is bounded. An evicted handle that
    /// fetches in flight hold closes only when they let it go.
    fn make_room(&mut self) {
        let mut looks_left = 2 * self.queue.len() + 1;
        // Handles closed by this loop: `opened` forgets them once, at the end.
        let mut closed = 0;
        while self.descriptors().saturating_sub(closed) >= self.capacity && looks_left > 0 {
            looks_left -= 1;
            let Some((weak, stamp)) = self.queue.pop_front() else {
                break;
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
            let taken = slot.handle.borrow_mut().take();
            // The last clone closes here; one a fetch in flight holds, later.
            if taken.is_some_and(|handle| Arc::strong_count(&handle) == 1) {
                closed += 1;
            }
        }
        if closed > 0 {
            self.forget_closed();
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

    /// What [`read_access`] and [`ReadAccess::handle`] do on a miss, with the
    /// open done at once.
    fn admit(cache: &mut ReadHandleCache, slot: &Rc<ReadHandleSlot>) -> bool {
        if !cache.reserve() {
            return false;
        }
        cache.opening -= 1;
        cache.insert(slot, handle());
        true
    }

    #[test]
    fn the_least_recently_used_handle_goes_first_and_used_ones_stay() {
        let mut cache = ReadHandleCache::new(3);
        let slots: Vec<_> = (0..3).map(|_| ReadHandleSlot::new()).collect();
        for slot in &slots {
            assert!(admit(&mut cache, slot));
        }
        assert!(slots[0].cached().is_some());
        let fourth = ReadHandleSlot::new();
        assert!(admit(&mut cache, &fourth));
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
            assert!(admit(&mut cache, slot));
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
        assert!(admit(&mut cache, &dropped));
        assert!(admit(&mut cache, &kept));
        let file = dropped.handle.borrow().clone().expect("open");
        drop(dropped);
        assert_eq!(Arc::strong_count(&file), 1, "the slot's clone went with it");
        drop(file);
        let third = ReadHandleSlot::new();
        assert!(admit(&mut cache, &third));
        assert!(is_open(&kept), "the dropped entry made the room");
        assert!(is_open(&third));
    }

    #[test]
    fn handles_held_by_fetches_in_flight_count_until_they_let_them_go() {
        let mut cache = ReadHandleCache::new(4);
        let slots: Vec<_> = (0..6).map(|_| ReadHandleSlot::new()).collect();
        // One fetch answer holds a region of each of 4 files, evicted or not.
        let mut in_flight = Vec::new();
        for slot in &slots[..4] {
            assert!(admit(&mut cache, slot));
            in_flight.push(slot.cached().expect("open"));
        }
        assert!(
            !admit(&mut cache, &slots[4]),
            "4 descriptors held: no fifth"
        );
        assert_eq!(cache.descriptors(), 4);
        assert!(
            slots[..4].iter().all(|slot| !is_open(slot)),
            "all evicted, closing once sent"
        );
        // The answer was sent (on whichever shard): its handles close.
        in_flight.truncate(1);
        assert!(admit(&mut cache, &slots[4]));
        assert!(admit(&mut cache, &slots[5]));
        assert_eq!(cache.descriptors(), 3, "the held one and two new");
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
