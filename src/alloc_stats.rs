//! Allocation counting for benchmarks (cargo feature `alloc-stats`).
//!
//! With the feature on, the binary's global allocator counts every
//! allocation; the broker logs the totals when it stops, and
//! `perf/alloc_per_record.sh` turns two runs into allocations per record.
//! Without the feature nothing here is compiled into the allocator path.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static ALLOCATED_BYTES: AtomicU64 = AtomicU64::new(0);
static REQUESTS: AtomicU64 = AtomicU64::new(0);
static PRODUCED_BATCHES: AtomicU64 = AtomicU64::new(0);

/// Counts one request (so allocations can be put per request).
#[inline]
pub fn count_request() {
    if cfg!(feature = "alloc-stats") {
        REQUESTS.fetch_add(1, Ordering::Relaxed);
    }
}

/// Counts produced record batches.
#[inline]
pub fn count_produced_batches(batches: usize) {
    if cfg!(feature = "alloc-stats") {
        PRODUCED_BATCHES.fetch_add(batches as u64, Ordering::Relaxed);
    }
}

/// (requests, produced batches) counted so far.
pub fn work_totals() -> (u64, u64) {
    (
        REQUESTS.load(Ordering::Relaxed),
        PRODUCED_BATCHES.load(Ordering::Relaxed),
    )
}

/// The system allocator, counting allocations and reallocations.
pub struct CountingAllocator;

// SAFETY: every call is forwarded unchanged to the system allocator.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        ALLOCATED_BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's pointer and layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        ALLOCATED_BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        ALLOCATED_BYTES.fetch_add(new_size as u64, Ordering::Relaxed);
        // SAFETY: forwarded with the caller's arguments.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// (allocations, bytes allocated) since the process started; zeros when the
/// counting allocator is not installed.
pub fn totals() -> (u64, u64) {
    (
        ALLOCATIONS.load(Ordering::Relaxed),
        ALLOCATED_BYTES.load(Ordering::Relaxed),
    )
}
