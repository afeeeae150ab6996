//! The `millrace` binary: see [`millrace::cli`].

#[cfg(feature = "alloc-stats")]
#[global_allocator]
static ALLOCATOR: millrace::alloc_stats::CountingAllocator =
    millrace::alloc_stats::CountingAllocator;

fn main() {
    std::process::exit(millrace::cli::main());
}
