//! The open-file limit checked at start: every partition keeps its files
//! open, so a data directory with many partitions needs many descriptors.
//! The soft limit is raised to the hard one; a limit still too low fails the
//! start with what to run, instead of EMFILE in the middle of serving.

/// Descriptors one open partition holds (its active segment's log and
/// offset index).
pub const FDS_PER_PARTITION: u64 = 2;
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

/// Descriptors a broker holding `partitions` partitions needs.
pub fn fds_needed(partitions: u64) -> u64 {
    partitions
        .saturating_mul(FDS_PER_PARTITION)
        .saturating_add(FDS_RESERVED)
}

/// Raises the soft open-file limit towards `needed` (up to the hard limit)
/// and fails when it stays below.
pub fn ensure_open_file_limit(partitions: u64) -> Result<OpenFileLimit, String> {
    let needed = fds_needed(partitions);
    let limit = raise_soft_limit(libc::RLIMIT_NOFILE, needed)
        .map_err(|e| format!("cannot read RLIMIT_NOFILE: {e}"))?;
    check_limit(partitions, limit)
}

/// `Err` naming the limit and the fix when `limit.soft` is below what
/// `partitions` need.
pub fn check_limit(partitions: u64, limit: OpenFileLimit) -> Result<OpenFileLimit, String> {
    let needed = fds_needed(partitions);
    if limit.soft >= needed {
        return Ok(limit);
    }
    Err(format!(
        "the data directory holds {partitions} partition(s), which need about {needed} open files \
         ({FDS_PER_PARTITION} per partition plus {FDS_RESERVED} for connections and the runtime), \
         but the open-file limit (RLIMIT_NOFILE) is {} (hard limit {}). Raise it: `ulimit -n {needed}` \
         (the hard limit too, as root: `ulimit -Hn`), LimitNOFILE={needed} in the systemd unit, or \
         --ulimit nofile={needed}:{needed} in Docker (see tuning.md)",
        limit.soft,
        describe(limit.hard)
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

    #[test]
    fn enough_descriptors_pass_and_too_few_name_the_limit_and_the_fix() {
        let roomy = OpenFileLimit {
            soft: 30_000,
            hard: 30_000,
        };
        assert_eq!(check_limit(10_000, roomy), Ok(roomy));
        let tight = OpenFileLimit {
            soft: 20_000,
            hard: 20_000,
        };
        let error = check_limit(10_000, tight).unwrap_err();
        assert!(error.contains("10000 partition(s)"), "{error}");
        assert!(error.contains("about 21024 open files"), "{error}");
        assert!(
            error.contains("(RLIMIT_NOFILE) is 20000 (hard limit 20000)"),
            "{error}"
        );
        assert!(error.contains("ulimit -n 21024"), "{error}");
    }

    #[test]
    fn an_unlimited_hard_limit_is_named_so() {
        let limit = OpenFileLimit {
            soft: 1024,
            hard: u64::MAX,
        };
        let error = check_limit(5_000, limit).unwrap_err();
        assert!(error.contains("hard limit unlimited"), "{error}");
    }
}
