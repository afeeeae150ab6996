//! The open-file limit checked at start, and the descriptor budget drawn
//! from it: every segment of every partition keeps its file open (the
//! active one for writes, the sealed ones for scans, as Kafka's do), so a
//! data directory with many partitions or segments needs many descriptors;
//! the buffered read
//! handles fetches send from are a bounded per-shard cache
//! (`storage::read_handles`, `log.read.handles.per.shard`). The soft limit
//! is raised to the hard one; a limit still too low fails the start with
//! what to run, instead of EMFILE in the middle of serving.

use crate::storage::read_handles;
use crate::storage::segment::parse_log_file_name;
use std::path::Path;

/// Descriptors one open partition holds: its active segment's O_DIRECT
/// file (each sealed segment holds one more, [`FDS_PER_SEALED_SEGMENT`];
/// read handles are budgeted apart).
pub const FDS_PER_PARTITION: u64 = 1;
/// Descriptors each sealed segment holds: its O_DIRECT file.
pub const FDS_PER_SEALED_SEGMENT: u64 = 1;

/// The segment files a data directory holds, as the budget counts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LogFiles {
    /// Partitions (one active segment each, on disk or about to be).
    pub partitions: u64,
    /// Segments besides each partition's active one.
    pub sealed_segments: u64,
}

impl LogFiles {
    /// Descriptors these logs hold once open.
    pub fn descriptors(&self) -> u64 {
        self.partitions
            .saturating_mul(FDS_PER_PARTITION)
            .saturating_add(self.sealed_segments.saturating_mul(FDS_PER_SEALED_SEGMENT))
    }
}

/// Sealed segments under `data_dir`: in each partition directory
/// (`<topic>-<n>`; not `-delete`, `-stray` or other renamed ones), its
/// `.log` files but one. Blocking: called at start, before any shard runs.
pub fn sealed_segments_on_disk(data_dir: &Path) -> std::io::Result<u64> {
    let mut sealed = 0u64;
    for entry in std::fs::read_dir(data_dir)? {
        let entry = entry?;
        let is_partition_dir = entry
            .file_name()
            .to_str()
            .and_then(super::stray_logs::parse_partition_dir)
            .is_some();
        if !is_partition_dir || !entry.file_type()?.is_dir() {
            continue;
        }
        let segments = std::fs::read_dir(entry.path())?
            .filter_map(Result::ok)
            .filter(|file| {
                file.file_name()
                    .to_str()
                    .and_then(parse_log_file_name)
                    .is_some()
            })
            .count() as u64;
        sealed = sealed.saturating_add(segments.saturating_sub(1));
    }
    Ok(sealed)
}
/// Descriptors kept for everything else: client connections, listeners,
/// io_uring rings, eventfds, the logger and metrics threads, directory
/// fsyncs, segment rolls.
pub const FDS_RESERVED: u64 = 1024;

/// A resource's limits after the soft one was raised as far as allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenFileLimit {
    /// Soft limit in force (`u64::MAX` = unlimited).
    pub soft: u64,
    /// Hard limit (`u64::MAX` = unlimited).
    pub hard: u64,
}

/// How the open-file limit is shared out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DescriptorBudget {
    /// The limit in force.
    pub limit: OpenFileLimit,
    /// Read handles each shard keeps at most (`log.read.handles.per.shard`,
    /// resolved).
    pub read_handles_per_shard: usize,
    /// Read handles of all shards.
    pub read_handles: u64,
}

impl DescriptorBudget {
    /// The budget of `limit` for `shards` shards keeping
    /// `configured_per_shard` read handles each (0: derived from the limit).
    pub fn new(limit: OpenFileLimit, configured_per_shard: usize, shards: usize) -> Self {
        let per_shard = match configured_per_shard {
            0 => read_handles::derived_per_shard(limit.soft, FDS_RESERVED, shards),
            configured => configured.max(read_handles::READ_HANDLES_PER_SHARD_MIN),
        };
        DescriptorBudget {
            limit,
            read_handles_per_shard: 0,
            read_handles: 0,
        }
        .with_read_handles(per_shard, shards)
    }

    /// This budget with `per_shard` read handles on each of `shards`.
    fn with_read_handles(self, per_shard: usize, shards: usize) -> Self {
        DescriptorBudget {
            read_handles_per_shard: per_shard,
            read_handles: (per_shard as u64).saturating_mul(shards as u64),
            ..self
        }
    }

    /// A derived budget whose read handles shrink (not below
    /// [`read_handles::READ_HANDLES_PER_SHARD_MIN`] per shard) so that `logs`
    /// fit beside them: the handles are a cache, the segment files are not
    /// optional, so a data directory with many segments starts with fewer
    /// handles instead of being refused.
    pub fn fitted_to(self, logs: LogFiles, shards: usize) -> Self {
        if self.limit.soft >= self.needed(logs) {
            return self;
        }
        let free = self
            .limit
            .soft
            .saturating_sub(FDS_RESERVED)
            .saturating_sub(logs.descriptors());
        let per_shard = (free / shards.max(1) as u64) as usize;
        let per_shard = per_shard
            .min(self.read_handles_per_shard)
            .max(read_handles::READ_HANDLES_PER_SHARD_MIN);
        self.with_read_handles(per_shard, shards)
    }

    /// Descriptors `logs` need with this budget's read handles and the
    /// reserve.
    pub fn needed(&self, logs: LogFiles) -> u64 {
        logs.descriptors()
            .saturating_add(FDS_RESERVED)
            .saturating_add(self.read_handles)
    }

    /// Segment descriptors (partitions' active segments and sealed ones)
    /// the limit leaves room for.
    pub fn partitions_max(&self) -> u64 {
        self.limit
            .soft
            .saturating_sub(FDS_RESERVED)
            .saturating_sub(self.read_handles)
            / FDS_PER_PARTITION
    }

    /// One line for the start log.
    pub fn describe(&self) -> String {
        format!(
            "open files: limit {} (hard {}): {FDS_RESERVED} reserved for connections and the runtime, \
             {} read handle(s) per shard ({} in all), room for {} partition(s) at {FDS_PER_PARTITION} \
             each, fewer by {FDS_PER_SEALED_SEGMENT} per sealed segment",
            describe(self.limit.soft),
            describe(self.limit.hard),
            self.read_handles_per_shard,
            self.read_handles,
            self.partitions_max()
        )
    }
}

/// Raises the soft open-file limit to the hard one, shares it out, and
/// fails when `logs` do not fit.
pub fn ensure_open_file_limit(
    logs: LogFiles,
    configured_read_handles_per_shard: usize,
    shards: usize,
) -> Result<DescriptorBudget, String> {
    let limit = raise_soft_limit(libc::RLIMIT_NOFILE, u64::MAX)
        .map_err(|e| format!("cannot read RLIMIT_NOFILE: {e}"))?;
    let budget = DescriptorBudget::new(limit, configured_read_handles_per_shard, shards);
    let budget = match configured_read_handles_per_shard {
        0 => budget.fitted_to(logs, shards),
        _ => budget,
    };
    check_limit(logs, budget)
}

/// `Err` naming the limit and the fix when `budget`'s limit is below what
/// `logs` need.
pub fn check_limit(logs: LogFiles, budget: DescriptorBudget) -> Result<DescriptorBudget, String> {
    let needed = budget.needed(logs);
    if budget.limit.soft >= needed {
        return Ok(budget);
    }
    Err(format!(
        "the data directory holds {} partition(s) and {} sealed segment(s), which need about \
         {needed} open files ({FDS_PER_PARTITION} per partition and {FDS_PER_SEALED_SEGMENT} per \
         sealed segment, {} read handles, {FDS_RESERVED} for connections and the runtime), but the open-file limit (RLIMIT_NOFILE) is {} (hard limit {}). Raise it: \
         `ulimit -n {needed}` (the hard limit too, as root: `ulimit -Hn`), LimitNOFILE={needed} in the \
         systemd unit, or --ulimit nofile={needed}:{needed} in Docker (see tuning.md)",
        logs.partitions,
        logs.sealed_segments,
        budget.read_handles,
        describe(budget.limit.soft),
        describe(budget.limit.hard)
    ))
}

fn describe(value: u64) -> String {
    if value == u64::MAX {
        "unlimited".to_string()
    } else {
        value.to_string()
    }
}

/// Raises the soft limit of `resource` to `wanted`, or to the hard limit
/// when that is lower; never lowers it. (Also used for RLIMIT_MEMLOCK.)
pub fn raise_soft_limit(
    resource: libc::__rlimit_resource_t,
    wanted: u64,
) -> std::io::Result<OpenFileLimit> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read/write the struct we pass.
    unsafe {
        if libc::getrlimit(resource, &mut limit) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let target = limit.rlim_max.min(wanted as libc::rlim_t);
        if limit.rlim_cur < target {
            let raised = libc::rlimit {
                rlim_cur: target,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(resource, &raised) == 0 {
                limit.rlim_cur = target;
            }
        }
    }
    let as_u64 = |value: libc::rlim_t| {
        if value == libc::RLIM_INFINITY {
            u64::MAX
        } else {
            value
        }
    };
    Ok(OpenFileLimit {
        soft: as_u64(limit.rlim_cur),
        hard: as_u64(limit.rlim_max),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(soft: u64, hard: u64) -> OpenFileLimit {
        OpenFileLimit { soft, hard }
    }

    fn partitions(partitions: u64) -> LogFiles {
        LogFiles {
            partitions,
            sealed_segments: 0,
        }
    }

    #[test]
    fn sealed_segments_take_descriptors_too() {
        let budget = DescriptorBudget::new(limit(20_000, 20_000), 0, 2);
        let logs = LogFiles {
            partitions: 10_000,
            sealed_segments: 5_000,
        };
        let error = check_limit(logs, budget).unwrap_err();
        assert!(
            error.contains("10000 partition(s) and 5000 sealed segment(s)"),
            "{error}"
        );
        assert!(error.contains("about 20768 open files"), "{error}");
    }

    #[test]
    fn derived_read_handles_shrink_so_the_segments_fit() {
        let budget = DescriptorBudget::new(limit(20_000, 20_000), 0, 2);
        let logs = LogFiles {
            partitions: 10_000,
            sealed_segments: 5_000,
        };
        assert!(
            check_limit(logs, budget).is_err(),
            "a quarter for handles: no room"
        );
        let fitted = budget.fitted_to(logs, 2);
        assert_eq!(fitted.read_handles_per_shard, (20_000 - 1024 - 15_000) / 2);
        assert_eq!(check_limit(logs, fitted), Ok(fitted));
        // Never below the fewest handles: then the start is refused.
        let too_many = LogFiles {
            partitions: 19_000,
            sealed_segments: 0,
        };
        let fitted = budget.fitted_to(too_many, 2);
        assert_eq!(
            fitted.read_handles_per_shard,
            read_handles::READ_HANDLES_PER_SHARD_MIN
        );
        assert!(check_limit(too_many, fitted).is_err());
        // A budget that fits is left alone.
        assert_eq!(budget.fitted_to(partitions(100), 2), budget);
    }

    #[test]
    fn sealed_segments_are_counted_in_partition_directories_only() {
        let dir = std::env::temp_dir().join(format!("millrace-sealed-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let logs = |sub: &str, count: i64| {
            let partition = dir.join(sub);
            std::fs::create_dir_all(&partition).expect("mkdir");
            for base in 0..count {
                let name = crate::storage::segment::segment_file_name(base * 100, "log");
                std::fs::write(partition.join(name), b"").expect("write");
            }
            std::fs::write(partition.join("00000000000000000000.index"), b"").expect("write");
        };
        logs("orders-0", 3);
        logs("orders-1", 1);
        logs("__consumer_offsets-7", 2);
        logs("orders-2.abc-delete", 5);
        logs("raft", 4);
        assert_eq!(sealed_segments_on_disk(&dir).expect("walk"), 2 + 1);
        std::fs::remove_dir_all(&dir).expect("clean");
    }

    #[test]
    fn ten_thousand_partitions_fit_in_twenty_thousand_descriptors() {
        let budget = DescriptorBudget::new(limit(20_000, 20_000), 0, 2);
        assert_eq!(budget.read_handles_per_shard, 2372);
        assert_eq!(budget.partitions_max(), 20_000 - 1024 - 2 * 2372);
        assert_eq!(check_limit(partitions(10_000), budget), Ok(budget));
    }

    #[test]
    fn too_few_descriptors_name_the_limit_and_the_fix() {
        let budget = DescriptorBudget::new(limit(20_000, 20_000), 4096, 2);
        let error = check_limit(partitions(15_000), budget).unwrap_err();
        assert!(error.contains("15000 partition(s)"), "{error}");
        assert!(error.contains("about 24216 open files"), "{error}");
        assert!(error.contains("8192 read handles"), "{error}");
        assert!(
            error.contains("(RLIMIT_NOFILE) is 20000 (hard limit 20000)"),
            "{error}"
        );
        assert!(error.contains("ulimit -n 24216"), "{error}");
    }

    #[test]
    fn an_unlimited_hard_limit_is_named_so() {
        let budget = DescriptorBudget::new(limit(1024, u64::MAX), 0, 1);
        let error = check_limit(partitions(5_000), budget).unwrap_err();
        assert!(error.contains("hard limit unlimited"), "{error}");
    }
}
