//! The open-file limit checked at start, and the descriptor budget drawn
//! from it: every partition keeps its active segment's file open, so a data
//! directory with many partitions needs many descriptors; the buffered read
//! handles fetches send from are a bounded per-shard cache
//! (`storage::read_handles`, `log.read.handles.per.shard`). The soft limit
//! is raised to the hard one; a limit still too low fails the start with
//! what to run, instead of EMFILE in the middle of serving.

use crate::storage::read_handles;

/// Descriptors one open partition holds: its active segment's O_DIRECT
/// file (each sealed segment holds one more; read handles are budgeted
/// apart).
pub const FDS_PER_PARTITION: u64 = 1;
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
            read_handles_per_shard: per_shard,
            read_handles: (per_shard as u64).saturating_mul(shards as u64),
        }
    }

    /// Descriptors `partitions` partitions need with this budget's read
    /// handles and the reserve.
    pub fn needed(&self, partitions: u64) -> u64 {
        partitions
            .saturating_mul(FDS_PER_PARTITION)
            .saturating_add(FDS_RESERVED)
            .saturating_add(self.read_handles)
    }

    /// Partitions (active segments) the limit leaves room for.
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
             each (plus 1 per sealed segment)",
            describe(self.limit.soft),
            describe(self.limit.hard),
            self.read_handles_per_shard,
            self.read_handles,
            self.partitions_max()
        )
    }
}

/// Raises the soft open-file limit to the hard one, shares it out, and
/// fails when `partitions` do not fit.
pub fn ensure_open_file_limit(
    partitions: u64,
    configured_read_handles_per_shard: usize,
    shards: usize,
) -> Result<DescriptorBudget, String> {
    let limit = raise_soft_limit(libc::RLIMIT_NOFILE, u64::MAX)
        .map_err(|e| format!("cannot read RLIMIT_NOFILE: {e}"))?;
    let budget = DescriptorBudget::new(limit, configured_read_handles_per_shard, shards);
    check_limit(partitions, budget)
}

/// `Err` naming the limit and the fix when `budget`'s limit is below what
/// `partitions` need.
pub fn check_limit(partitions: u64, budget: DescriptorBudget) -> Result<DescriptorBudget, String> {
    let needed = budget.needed(partitions);
    if budget.limit.soft >= needed {
        return Ok(budget);
    }
    Err(format!(
        "the data directory holds {partitions} partition(s), which need about {needed} open files \
         ({FDS_PER_PARTITION} per partition, {} read handles, {FDS_RESERVED} for connections and the \
         runtime), but the open-file limit (RLIMIT_NOFILE) is {} (hard limit {}). Raise it: \
         `ulimit -n {needed}` (the hard limit too, as root: `ulimit -Hn`), LimitNOFILE={needed} in the \
         systemd unit, or --ulimit nofile={needed}:{needed} in Docker (see tuning.md)",
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

    #[test]
    fn ten_thousand_partitions_fit_in_twenty_thousand_descriptors() {
        let budget = DescriptorBudget::new(limit(20_000, 20_000), 0, 2);
        assert_eq!(budget.read_handles_per_shard, 2372);
        assert_eq!(budget.partitions_max(), 20_000 - 1024 - 2 * 2372);
        assert_eq!(check_limit(10_000, budget), Ok(budget));
    }

    #[test]
    fn too_few_descriptors_name_the_limit_and_the_fix() {
        let budget = DescriptorBudget::new(limit(20_000, 20_000), 4096, 2);
        let error = check_limit(15_000, budget).unwrap_err();
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
        let error = check_limit(5_000, budget).unwrap_err();
        assert!(error.contains("hard limit unlimited"), "{error}");
    }
}
