//! The one readable block `millrace serve` logs once every shard is ready:
//! version, shards and the CPU each is pinned to, listeners, data directory,
//! durability policy, and what was detected of io_uring and the memlock limit.
//!
//! An operator reading a journal should learn from this block alone how the
//! broker runs; it is logged once, so it costs nothing on the hot path.

use crate::config::Config;
use std::fmt::Write;
use std::sync::Mutex;

/// Kafka's "never" for flush settings, as [`Config`] stores it.
const FLUSH_NEVER: u64 = u64::MAX;
/// Where the kernel publishes its release string.
const KERNEL_RELEASE_PATH: &str = "/proc/sys/kernel/osrelease";

/// Facts gathered before the shards start, plus the CPU each shard reports.
pub struct StartupSummary {
    lines: Vec<(&'static str, String)>,
    shard_cpus: Mutex<Vec<Option<usize>>>,
}

/// What `runtime::run` knows before starting the shards.
pub struct StartupFacts<'a> {
    /// The configuration in effect.
    pub config: &'a Config,
    /// `node.id` in use.
    pub node_id: i32,
    /// Cluster id in use.
    pub cluster_id: &'a str,
    /// Number of shards.
    pub nr_shards: usize,
    /// Topics in the registry.
    pub topics: usize,
    /// How the previous run ended, as logged at start.
    pub previous_shutdown: &'static str,
    /// Registered I/O buffer bytes per shard.
    pub io_memory_bytes: usize,
    /// Bound on a clean shutdown, in ms.
    pub shutdown_timeout_ms: u64,
}

impl StartupSummary {
    /// Captures the facts; the shards fill in their CPUs with [`Self::record_shard_cpu`].
    pub fn new(facts: &StartupFacts<'_>) -> StartupSummary {
        let config = facts.config;
        let listeners: Vec<String> = config
            .client_listeners
            .iter()
            .map(|l| {
                format!(
                    "{}://{} (advertised as {})",
                    l.name,
                    l.bind.socket_address(),
                    l.advertised.socket_address()
                )
            })
            .collect();
        let lines = vec![
            ("version", env!("CARGO_PKG_VERSION").to_string()),
            (
                "node",
                format!("node.id {} cluster.id {}", facts.node_id, facts.cluster_id),
            ),
            ("listener", listeners.join(", ")),
            (
                "data dir",
                format!(
                    "{} ({} topic(s); previous shutdown {})",
                    config.log_dirs.display(),
                    facts.topics,
                    facts.previous_shutdown
                ),
            ),
            ("durability", durability_policy(config)),
            ("io_uring", io_uring_status()),
            ("memlock", memlock_status(facts.io_memory_bytes)),
            (
                "lifecycle",
                format!(
                    "SIGTERM/SIGINT: stop accepting, drain, fsync, write the clean marker; \
                     forced exit after shutdown.timeout.ms {} or on a second signal",
                    facts.shutdown_timeout_ms
                ),
            ),
            ("logging", logging_status(config)),
        ];
        StartupSummary {
            lines,
            shard_cpus: Mutex::new(vec![None; facts.nr_shards]),
        }
    }

    /// Called by each shard on its own thread once it is pinned.
    pub fn record_shard_cpu(&self, shard_id: usize) {
        let cpu = pinned_cpu();
        if let Ok(mut cpus) = self.shard_cpus.lock() {
            if let Some(slot) = cpus.get_mut(shard_id) {
                *slot = cpu;
            }
        }
    }

    /// The block, one `key: value` line per fact, shards first after the version.
    pub fn render(&self) -> String {
        let cpus = self
            .shard_cpus
            .lock()
            .map(|cpus| cpus.clone())
            .unwrap_or_default();
        let mut text = String::from("start-up summary\n");
        for (index, (key, value)) in self.lines.iter().enumerate() {
            if index == 1 {
                let _ = writeln!(text, "  {:<11} {}", "shards:", describe_shards(&cpus));
            }
            let _ = writeln!(text, "  {:<11} {value}", format!("{key}:"));
        }
        text.pop();
        text
    }
}

/// `2: shard 0 on cpu 0, shard 1 on cpu 1`.
fn describe_shards(cpus: &[Option<usize>]) -> String {
    let each: Vec<String> = cpus
        .iter()
        .enumerate()
        .map(|(shard, cpu)| match cpu {
            Some(cpu) => format!("shard {shard} on cpu {cpu}"),
            None => format!("shard {shard} unpinned"),
        })
        .collect();
    format!("{}: {}", cpus.len(), each.join(", "))
}

fn durability_policy(config: &Config) -> String {
    let interval = |value: u64, unit: &str| {
        if value == FLUSH_NEVER {
            "never".to_string()
        } else {
            format!("{value} {unit}")
        }
    };
    let reads = match config.log_unflushed_read_enable {
        true => {
            "consumers may read records not fsynced yet (log.unflushed.read.enable)".to_string()
        }
        false => format!(
            "consumers read fsynced records only; acks=0/1 data is fsynced within \
             log.flush.visibility.ms {} ms, at once while a consumer's fetch waits for it",
            config.log_flush_visibility_ms
        ),
    };
    format!(
        "acks=all is answered after fdatasync (group commit: one fdatasync per partition covers \
         every append waiting); acks=0/1 are answered after the write, fsync per \
         log.flush.interval.messages {} / log.flush.interval.ms {}; {reads}",
        interval(config.log_flush_interval_messages, "messages"),
        interval(config.log_flush_interval_ms, "ms")
    )
}

/// The start-up check already refused to run without io_uring; this names the kernel.
fn io_uring_status() -> String {
    let release = std::fs::read_to_string(KERNEL_RELEASE_PATH)
        .map(|text| text.trim().to_string())
        .unwrap_or_else(|_| "unknown".to_string());
    format!("available (kernel {release})")
}

fn memlock_status(io_memory_bytes: usize) -> String {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct we pass.
    let known = unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut limit) } == 0;
    let show = |value: libc::rlim_t| {
        if value == libc::RLIM_INFINITY {
            "unlimited".to_string()
        } else {
            format!("{} KiB", value / 1024)
        }
    };
    let limits = if known {
        format!(
            "soft {} hard {}",
            show(limit.rlim_cur),
            show(limit.rlim_max)
        )
    } else {
        "unknown".to_string()
    };
    format!(
        "{limits}; registered I/O buffers {} KiB per shard",
        io_memory_bytes / 1024
    )
}

fn logging_status(config: &Config) -> String {
    match std::env::var(crate::logging::LOG_ENV_VAR) {
        Ok(spec) if !spec.trim().is_empty() => format!(
            "{} (from {}; log.level {} ignored)",
            spec.trim(),
            crate::logging::LOG_ENV_VAR,
            config.log_level
        ),
        _ => format!("log.level {}", config.log_level),
    }
}

/// The CPU this thread is pinned to, if its affinity mask holds exactly one.
fn pinned_cpu() -> Option<usize> {
    // SAFETY: sched_getaffinity fills the zeroed set we pass; CPU_* only read it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return None;
        }
        if libc::CPU_COUNT(&set) != 1 {
            return None;
        }
        (0..libc::CPU_SETSIZE as usize).find(|&cpu| libc::CPU_ISSET(cpu, &set))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(config: &Config) -> StartupSummary {
        StartupSummary::new(&StartupFacts {
            config,
            node_id: 1,
            cluster_id: "abc",
            nr_shards: 2,
            topics: 3,
            previous_shutdown: "clean",
            io_memory_bytes: 10 << 20,
            shutdown_timeout_ms: 30_000,
        })
    }

    #[test]
    fn renders_every_fact_on_its_own_line() {
        let config = Config::load(None, &[]).unwrap();
        let block = summary(&config);
        block.record_shard_cpu(1);
        let text = block.render();
        let keys: Vec<&str> = text
            .lines()
            .skip(1)
            .map(|line| line.trim_start().split(' ').next().unwrap_or(""))
            .collect();
        assert_eq!(
            keys,
            [
                "version:",
                "shards:",
                "node:",
                "listener:",
                "data",
                "durability:",
                "io_uring:",
                "memlock:",
                "lifecycle:",
                "logging:"
            ]
        );
        assert!(text.contains("shard 0 unpinned"), "{text}");
        assert!(text.contains("previous shutdown clean"), "{text}");
        assert!(text.contains("log.flush.interval.messages never"), "{text}");
        assert!(
            text.contains("fsynced within log.flush.visibility.ms 5 ms"),
            "{text}"
        );
        assert!(text.contains("registered I/O buffers 10240 KiB"), "{text}");
    }

    #[test]
    fn shows_flush_intervals_that_are_set() {
        let overrides = [
            "log.flush.interval.messages=1000".to_string(),
            "log.flush.interval.ms=50".to_string(),
        ];
        let config = Config::load(None, &overrides).unwrap();
        let text = summary(&config).render();
        assert!(
            text.contains("1000 messages / log.flush.interval.ms 50 ms"),
            "{text}"
        );
    }

    #[test]
    fn describes_pinned_and_unpinned_shards() {
        assert_eq!(
            describe_shards(&[Some(0), None]),
            "2: shard 0 on cpu 0, shard 1 unpinned"
        );
    }
}
