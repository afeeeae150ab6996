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

/// The memory this process could still take without making the host (or
/// its cgroups) reclaim what others use: MemAvailable, or the tightest of
/// its cgroups' (own and ancestors', v2 or v1) `limit - usage +
/// inactive_file` when that is lower. `None` when /proc/meminfo cannot be
/// read.
pub fn available_memory_bytes() -> Option<u64> {
    let host = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|meminfo| meminfo_bytes(&meminfo, "MemAvailable:"))?;
    Some(cgroup_available_bytes().map_or(host, |cgroup| cgroup.min(host)))
}

/// `MemTotal:` of /proc/meminfo, in bytes.
fn mem_total_bytes(meminfo: &str) -> Option<u64> {
    meminfo_bytes(meminfo, "MemTotal:")
}

/// A `field:` of /proc/meminfo (given in kB), in bytes.
fn meminfo_bytes(meminfo: &str, field: &str) -> Option<u64> {
    let kib = meminfo
        .lines()
        .find_map(|line| line.strip_prefix(field))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse::<u64>()
        .ok()?;
    kib.checked_mul(1024)
}

/// What this process's cgroups have left before their memory limits (the
/// tightest of its own and its ancestors', v2 or v1), counting inactive page
/// cache as free (the kernel reclaims it first); `None` without a limit.
fn cgroup_available_bytes() -> Option<u64> {
    own_memory_cgroups()
        .iter()
        .filter_map(MemoryCgroup::available_bytes)
        .min()
}

/// [`memory_cgroups`] of this process, read from /proc/self/cgroup once:
/// each shard's check runs every 250 ms, and a process does not change
/// cgroups on its own (their limits, read at every check, do change).
fn own_memory_cgroups() -> &'static [MemoryCgroup] {
    static CGROUPS: std::sync::OnceLock<Vec<MemoryCgroup>> = std::sync::OnceLock::new();
    CGROUPS.get_or_init(|| {
        std::fs::read_to_string("/proc/self/cgroup")
            .map(|text| memory_cgroups(&text))
            .unwrap_or_default()
    })
}

/// A field of a cgroup's `memory.stat` (in bytes).
fn stat_bytes(stat: &str, field: &str) -> Option<u64> {
    stat.lines().find_map(|line| {
        let (name, value) = line.split_once(' ')?;
        (name == field).then(|| value.trim().parse::<u64>().ok())?
    })
}

/// One memory cgroup directory and the names of its files.
#[derive(Debug, PartialEq, Eq)]
struct MemoryCgroup {
    dir: String,
    v1: bool,
}

impl MemoryCgroup {
    fn file(&self, v2_name: &str, v1_name: &str) -> String {
        let name = if self.v1 { v1_name } else { v2_name };
        format!("{}/{name}", self.dir)
    }

    /// Its memory limit; `None` when unlimited or not readable.
    fn limit_bytes(&self) -> Option<u64> {
        let path = self.file("memory.max", "memory.limit_in_bytes");
        parse_limit(&std::fs::read_to_string(path).ok()?)
    }

    /// Its limit less its use, plus its inactive page cache.
    fn available_bytes(&self) -> Option<u64> {
        let limit = self.limit_bytes()?;
        let usage = std::fs::read_to_string(self.file("memory.current", "memory.usage_in_bytes"));
        let usage = usage.ok()?.trim().parse::<u64>().ok()?;
        let stat = std::fs::read_to_string(self.file("memory.stat", "memory.stat"));
        let field = if self.v1 {
            "total_inactive_file"
        } else {
            "inactive_file"
        };
        let inactive_file = stat_bytes(&stat.unwrap_or_default(), field).unwrap_or(0);
        Some(limit.saturating_sub(usage).saturating_add(inactive_file))
    }
}

/// This process's memory cgroups, each with its ancestors (a systemd
/// slice's limit binds its services too): the v2 one under /sys/fs/cgroup
/// and the v1 memory controller's under /sys/fs/cgroup/memory. The roots
/// are included: inside a container they are its own cgroup.
fn memory_cgroups(proc_self_cgroup: &str) -> Vec<MemoryCgroup> {
    let mut cgroups = Vec::new();
    for line in proc_self_cgroup.lines() {
        let mut fields = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) =
            (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let (root, v1) = match controllers {
            "" => ("/sys/fs/cgroup", false),
            list if list.split(',').any(|c| c == "memory") => ("/sys/fs/cgroup/memory", true),
            _ => continue,
        };
        let mut path = path.trim_end_matches('/');
        loop {
            cgroups.push(MemoryCgroup {
                dir: format!("{root}{path}"),
                v1,
            });
            match path.rfind('/') {
                Some(cut) => path = &path[..cut],
                None => break,
            }
        }
    }
    cgroups
}

/// The tightest memory limit of this process's cgroups (see
/// [`memory_cgroups`]); `None` when unlimited or not readable.
fn cgroup_memory_max_bytes() -> Option<u64> {
    own_memory_cgroups()
        .iter()
        .filter_map(MemoryCgroup::limit_bytes)
        .min()
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
    fn mem_available_and_cgroup_stat_fields_are_read_in_bytes() {
        let meminfo = "MemTotal: 8 kB\nMemFree: 1 kB\nMemAvailable:    2048 kB\n";
        assert_eq!(meminfo_bytes(meminfo, "MemAvailable:"), Some(2048 * 1024));
        let stat = "anon 100\nactive_file 5\ninactive_file 4096\n";
        assert_eq!(stat_bytes(stat, "inactive_file"), Some(4096));
        assert_eq!(stat_bytes(stat, "file"), None);
    }

    #[test]
    fn an_unlimited_cgroup_is_no_limit() {
        assert_eq!(parse_limit("max\n"), None);
        assert_eq!(parse_limit("9223372036854771712\n"), None);
        assert_eq!(parse_limit("2147483648\n"), Some(2 << 30));
    }

    #[test]
    fn the_own_cgroups_and_their_ancestors_are_read_v2_and_v1() {
        let dirs = |text: &str| -> Vec<(String, bool)> {
            memory_cgroups(text)
                .into_iter()
                .map(|cgroup| (cgroup.dir, cgroup.v1))
                .collect()
        };
        let v2 = |dir: &str| (dir.to_string(), false);
        let v1 = |dir: &str| (dir.to_string(), true);
        assert_eq!(
            dirs("0::/system.slice/millrace.service\n"),
            [
                v2("/sys/fs/cgroup/system.slice/millrace.service"),
                v2("/sys/fs/cgroup/system.slice"),
                v2("/sys/fs/cgroup"),
            ]
        );
        assert_eq!(dirs("0::/\n"), [v2("/sys/fs/cgroup")]);
        assert_eq!(
            dirs("5:devices:/\n4:memory:/process_api/c7f\n3:cpu,cpuacct:/x\n"),
            [
                v1("/sys/fs/cgroup/memory/process_api/c7f"),
                v1("/sys/fs/cgroup/memory/process_api"),
                v1("/sys/fs/cgroup/memory"),
            ]
        );
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
