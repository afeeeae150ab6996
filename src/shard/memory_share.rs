//! The default room for recent batches (`log.recent.bytes.per.shard.max`
//! = -1): a share of the memory the broker may use, divided among its
//! shards.
//!
//! Why a share of memory: Apache Kafka's lagging consumers read from the
//! page cache its buffered writes fill, which grows into all free memory.
//! millrace writes with O_DIRECT, so what it just wrote is in memory only
//! if it keeps it: a consumer more than a fixed few MiB behind read from the
//! disk, at the device's speed (perf/RESULTS.md, issue 14). The share is an
//! eighth, so that several brokers on one host (`millrace cluster local`,
//! a loopback cluster) stay well inside the machine; an operator sets the key
//! to give more or less.

/// The default recent-batch room of the whole broker is its memory divided
/// by this.
pub const RECENT_MEMORY_SHARE_DIVISOR: u64 = 8;
/// The smallest default room per shard, and the room of a broker whose
/// memory cannot be read: the earlier fixed default. Unwritten batches count
/// in the room too (up to `log.unwritten.bytes.per.shard.max`, 256 MiB): a
/// room below that would leave nothing for written data under load.
const RECENT_BYTES_PER_SHARD_MIN: usize = 512 << 20;

/// The memory this process may use: MemTotal, or its cgroup's `memory.max`
/// when that is lower. `None` when /proc/meminfo cannot be read.
pub fn broker_memory_bytes() -> Option<u64> {
    let total = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|meminfo| mem_total_bytes(&meminfo))?;
    Some(cgroup_memory_max_bytes().map_or(total, |max| max.min(total)))
}

/// The default `log.recent.bytes.per.shard.max` for `nr_shards` shards,
/// from `memory_bytes` (see [`broker_memory_bytes`]), at least
/// [`RECENT_BYTES_PER_SHARD_MIN`].
pub fn recent_bytes_per_shard(memory_bytes: Option<u64>, nr_shards: usize) -> usize {
    let share = memory_bytes.map_or(0, |bytes| {
        bytes / RECENT_MEMORY_SHARE_DIVISOR / nr_shards.max(1) as u64
    });
    usize::try_from(share)
        .unwrap_or(usize::MAX)
        .max(RECENT_BYTES_PER_SHARD_MIN)
}

/// `MemTotal:` of /proc/meminfo, in bytes.
fn mem_total_bytes(meminfo: &str) -> Option<u64> {
    let kib = meminfo
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse::<u64>()
        .ok()?;
    kib.checked_mul(1024)
}

/// The cgroup v2 `memory.max` of this process's cgroup, or the v1
/// `memory.limit_in_bytes`; `None` when unlimited or not readable.
fn cgroup_memory_max_bytes() -> Option<u64> {
    let cgroups = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let candidates = cgroup_limit_files(&cgroups);
    candidates
        .iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .find_map(|text| parse_limit(&text))
}

/// The files that may hold this process's memory limit, most specific
/// first: its own v2 cgroup, the v2 root (a container's namespace root), the
/// v1 memory controller.
fn cgroup_limit_files(proc_self_cgroup: &str) -> Vec<String> {
    let mut files = Vec::new();
    for line in proc_self_cgroup.lines() {
        if let Some(path) = line.strip_prefix("0::") {
            files.push(format!(
                "/sys/fs/cgroup{}/memory.max",
                path.trim_end_matches('/')
            ));
        }
    }
    files.push("/sys/fs/cgroup/memory.max".to_string());
    files.push("/sys/fs/cgroup/memory/memory.limit_in_bytes".to_string());
    files
}

/// A limit file's value; "max" (v2) and v1's near-`i64::MAX` page-rounded
/// "unlimited" are no limit.
fn parse_limit(text: &str) -> Option<u64> {
    const V1_UNLIMITED_BYTES_MIN: u64 = 1 << 62;
    let bytes = text.trim().parse::<u64>().ok()?;
    (bytes < V1_UNLIMITED_BYTES_MIN).then_some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mem_total_is_read_in_bytes() {
        let meminfo = "MemTotal:       24576000 kB\nMemFree:         1000 kB\n";
        assert_eq!(mem_total_bytes(meminfo), Some(24_576_000 * 1024));
        assert_eq!(mem_total_bytes("MemFree: 1 kB\n"), None);
    }

    #[test]
    fn an_unlimited_cgroup_is_no_limit() {
        assert_eq!(parse_limit("max\n"), None);
        assert_eq!(parse_limit("9223372036854771712\n"), None);
        assert_eq!(parse_limit("2147483648\n"), Some(2 << 30));
    }

    #[test]
    fn the_own_v2_cgroup_is_read_first() {
        let files = cgroup_limit_files("0::/system.slice/millrace.service\n");
        assert_eq!(
            files[0],
            "/sys/fs/cgroup/system.slice/millrace.service/memory.max"
        );
        assert_eq!(files[1], "/sys/fs/cgroup/memory.max");
    }

    #[test]
    fn the_share_is_an_eighth_divided_among_shards() {
        assert_eq!(recent_bytes_per_shard(Some(24 << 30), 2), 3 << 29);
        assert_eq!(recent_bytes_per_shard(Some(24 << 30), 0), 3 << 30);
        assert_eq!(recent_bytes_per_shard(None, 4), RECENT_BYTES_PER_SHARD_MIN);
        // 8 GiB over 4 shards would be 256 MiB each: the earlier default stays.
        assert_eq!(
            recent_bytes_per_shard(Some(8 << 30), 4),
            RECENT_BYTES_PER_SHARD_MIN
        );
    }
}
