//! The `millrace` binary: see [`millrace::cli`].

#[cfg(feature = "alloc-stats")]
#[global_allocator]
static ALLOCATOR: millrace::alloc_stats::CountingAllocator =
    millrace::alloc_stats::CountingAllocator;

fn main() {
    let code = millrace::cli::main();
    // The logger thread may still hold the last lines.
    log::logger().flush();
    std::process::exit(code);
}
