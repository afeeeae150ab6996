//! The value forms broker keys take (integers in a range, byte counts,
//! booleans, Kafka's "never" and "unlimited"), and the setters of keys that
//! need more than a parse; the key table is `keys.rs`.

use super::Config;
use crate::cluster::replication::REPLICA_FETCH_WAIT_MAX_MS;
use std::net::{IpAddr, ToSocketAddrs};
use std::path::PathBuf;

pub(super) const MS_PER_MINUTE: i64 = 60_000;
pub(super) const MS_PER_HOUR: i64 = 60 * MS_PER_MINUTE;
pub(super) const INT_MAX: i64 = i32::MAX as i64;

/// Kafka's Long.MAX_VALUE: "never".
const KAFKA_NEVER: i64 = i64::MAX;

/// Stores a parsed value (keeps each table setter a single expression).
pub(super) fn store<T>(slot: &mut T, value: T) -> Result<(), String> {
    *slot = value;
    Ok(())
}

pub(super) fn non_empty(value: &str) -> Option<&str> {
    let value = value.trim();
    (!value.is_empty()).then_some(value)
}

pub(super) fn set_log_dirs(config: &mut Config, value: &str) -> Result<(), String> {
    let first = value.split(',').map(str::trim).next().unwrap_or_default();
    if first.is_empty() {
        return Err("a directory path (comma-separated list: first is used)".to_string());
    }
    // Absolute from the start: glommio's directory calls fail on a relative
    // path with EBADF (no base fd), so `log.dirs=data` would break creation.
    config.log_dirs = std::path::absolute(PathBuf::from(first))
        .map_err(|e| format!("a directory path usable from here ({e})"))?;
    Ok(())
}

/// `max.connections.per.ip.overrides`: Kafka's `hostName:count,ipAddress:count`
/// (the count after the last colon, so IPv6 literals work); a host name is
/// resolved now, each of its addresses getting the count.
pub(super) fn ip_overrides(value: &str) -> Result<Vec<(IpAddr, usize)>, String> {
    let mut overrides = Vec::new();
    for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let form = || format!("host:count,ip:count,... (bad entry {entry:?})");
        let (host, count) = entry.rsplit_once(':').ok_or_else(form)?;
        let (host, count) = (host.trim(), count.trim());
        let count = int(count, 0, INT_MAX).map_err(|_| form())? as usize;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = host.parse::<IpAddr>() {
            overrides.push((ip.to_canonical(), count));
            continue;
        }
        let resolved = (host, 0)
            .to_socket_addrs()
            .map_err(|e| format!("host names that resolve ({host:?}: {e})"))?;
        overrides.extend(resolved.map(|a| (a.ip().to_canonical(), count)));
    }
    Ok(overrides)
}

/// `replica.lag.time.max.ms`: at least the followers' long poll, as Kafka
/// requires ("to prevent frequent changes in ISR": a follower answered only
/// at the end of an idle poll must not count as lagging).
pub(super) fn replica_lag_time_max_ms(value: &str) -> Result<u64, String> {
    let min_ms = i64::from(REPLICA_FETCH_WAIT_MAX_MS);
    int(value, min_ms, i64::MAX)
        .map(|ms| ms as u64)
        .map_err(|expected| {
            format!("{expected}: at least replica.fetch.wait.max.ms ({min_ms} ms, the followers' long poll)")
        })
}

/// Members (joined or pending) per group: a group lives in its coordinator
/// shard's memory, so it is bounded whatever `group.max.size` says.
pub const GROUP_MEMBERS_MAX: usize = 1000;

/// `group.max.size`: 1..=[`GROUP_MEMBERS_MAX`], or Kafka's default
/// (2147483647, no limit), which means millrace's own bound. A value between
/// is refused rather than quietly lowered.
pub(super) fn group_max_size(value: &str) -> Result<usize, String> {
    let parsed = int(value, 1, INT_MAX)?;
    if parsed != INT_MAX && parsed > GROUP_MEMBERS_MAX as i64 {
        return Err(format!(
            "an integer in 1..={GROUP_MEMBERS_MAX} (millrace holds at most {GROUP_MEMBERS_MAX} \
             members per group), or {INT_MAX} (Kafka's default: then {GROUP_MEMBERS_MAX})"
        ));
    }
    Ok(parsed as usize)
}

/// `offset.metadata.max.bytes`: at most what the offsets record can hold (a
/// string of i16 length), refused above rather than quietly lowered.
pub(super) fn offset_metadata_max_bytes(value: &str) -> Result<usize, String> {
    int(value, 0, i64::from(i16::MAX)).map(|bytes| bytes as usize)
}

/// An integer in `min..=max`.
pub(super) fn int(value: &str, min: i64, max: i64) -> Result<i64, String> {
    let expected = || format!("an integer in {min}..={max}");
    let parsed = value.trim().parse::<i64>().map_err(|_| expected())?;
    if (min..=max).contains(&parsed) {
        Ok(parsed)
    } else {
        Err(expected())
    }
}

/// A byte count in 0..=i64::MAX.
pub(super) fn bytes_key(value: &str) -> Result<usize, String> {
    Ok(int(value, 0, i64::MAX)? as usize)
}

/// A byte count, or -1 for no bound (`usize::MAX`).
pub(super) fn bytes_or_unbounded(value: &str) -> Result<usize, String> {
    Ok(bytes_or_unset(value)?.unwrap_or(usize::MAX))
}

/// A byte count, or -1 for "not set: derive it" (`None`).
pub(super) fn bytes_or_unset(value: &str) -> Result<Option<usize>, String> {
    match int(value, -1, i64::MAX)? {
        -1 => Ok(None),
        bytes => Ok(Some(bytes as usize)),
    }
}

/// `true` or `false`, case-insensitive as in Java.
pub fn boolean(value: &str) -> Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err("true or false".to_string()),
    }
}

/// A count at least `min` where Kafka's Long.MAX_VALUE means "never",
/// returned as `u64::MAX` (as `flush.messages` / `flush.ms` are stored).
pub fn count_or_never(value: &str, min: i64) -> Result<u64, String> {
    let parsed = int(value, min, KAFKA_NEVER)?;
    Ok(if parsed == KAFKA_NEVER {
        u64::MAX
    } else {
        parsed as u64
    })
}

/// A duration in `unit_ms` units converted to ms; -1 (or any negative, as
/// Kafka reads it) means unlimited.
pub(super) fn duration_or_unlimited(value: &str, unit_ms: i64) -> Result<i64, String> {
    let parsed = int(value, i64::MIN, i64::MAX / unit_ms)?;
    Ok(if parsed < 0 { -1 } else { parsed * unit_ms })
}

/// Accepts a fault plan only when the environment explicitly allows it.
pub(super) fn set_storage_fault_plan(config: &mut Config, value: &str) -> Result<(), String> {
    let plan = value.trim();
    if !plan.is_empty() {
        let env = crate::storage::io::FAULT_INJECTION_ENV;
        if std::env::var(env).as_deref() != Ok("1") {
            return Err(format!("a test-only setting: refused unless {env}=1"));
        }
        crate::storage::io::parse_fault_plan(plan)?;
    }
    store(&mut config.storage_fault_plan, plan.to_string())
}
