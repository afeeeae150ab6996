//! A small stderr logger for the `log` crate.
//!
//! Lines look like `2026-11-21T05:40:00.123Z INFO  millrace::server: message`
//! (UTC). The level comes from `log.level`; the `MILLRACE_LOG` environment
//! variable overrides it, either as one level (`debug`) or as a default plus
//! per-target levels (`info,millrace::storage=debug`; the longest matching
//! target prefix wins).
//!
//! glommio logs one harmless ERROR per block device while probing iopoll
//! support (virtio has no poll queues, see PLATFORM.md); it is dropped.

use log::{Level, LevelFilter, Log, Metadata, Record};
use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

/// Environment variable that overrides the configured log level.
pub const LOG_ENV_VAR: &str = "MILLRACE_LOG";
/// Most per-target directives accepted in `MILLRACE_LOG`.
const DIRECTIVES_MAX: usize = 64;

/// Installs the logger. `level` is `log.level` (error|warn|info|debug|trace|off);
/// `MILLRACE_LOG`, when set and non-empty, replaces it.
pub fn init(level: &str) -> Result<(), String> {
    let spec = match std::env::var(LOG_ENV_VAR) {
        Ok(env_spec) if !env_spec.trim().is_empty() => env_spec,
        _ => level.to_string(),
    };
    let filter = Filter::parse(&spec)?;
    let max_level = filter.max_level();
    let logger: &'static StderrLogger = Box::leak(Box::new(StderrLogger { filter }));
    log::set_logger(logger).map_err(|_| "a logger is already installed".to_string())?;
    log::set_max_level(max_level);
    Ok(())
}

/// Parses one level name (case-insensitive).
pub fn parse_level(name: &str) -> Result<LevelFilter, String> {
    name.trim().parse::<LevelFilter>().map_err(|_| {
        format!("unknown log level {name:?}: expected error, warn, info, debug, trace or off")
    })
}

/// A default level plus per-target-prefix levels.
#[derive(Debug, Clone, PartialEq)]
struct Filter {
    default_level: LevelFilter,
    /// (target prefix, level), longest prefix first.
    targets: Vec<(String, LevelFilter)>,
}

impl Filter {
    fn parse(spec: &str) -> Result<Filter, String> {
        let mut filter = Filter {
            default_level: LevelFilter::Info,
            targets: Vec::new(),
        };
        for directive in spec.split(',').map(str::trim).filter(|d| !d.is_empty()) {
            match directive.split_once('=') {
                None => filter.default_level = parse_level(directive)?,
                Some((target, level)) => {
                    if filter.targets.len() == DIRECTIVES_MAX {
                        return Err(format!("more than {DIRECTIVES_MAX} log directives"));
                    }
                    filter
                        .targets
                        .push((target.trim().to_string(), parse_level(level)?));
                }
            }
        }
        filter
            .targets
            .sort_by_key(|(target, _)| std::cmp::Reverse(target.len()));
        Ok(filter)
    }

    fn level_for(&self, target: &str) -> LevelFilter {
        self.targets
            .iter()
            .find(|(prefix, _)| target_matches(target, prefix))
            .map_or(self.default_level, |(_, level)| *level)
    }

    fn max_level(&self) -> LevelFilter {
        let target_levels = self.targets.iter().map(|(_, level)| *level);
        target_levels.fold(self.default_level, std::cmp::max)
    }
}

/// `millrace::storage` matches `millrace::storage` and `millrace::storage::log`
/// but not `millrace::storage_x`.
fn target_matches(target: &str, prefix: &str) -> bool {
    match target.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with("::"),
        None => false,
    }
}

/// glommio's harmless per-device iopoll probe error.
fn is_iopoll_probe_noise(record: &Record) -> bool {
    record.target().starts_with("glommio") && record.args().to_string().contains("iopoll")
}

struct StderrLogger {
    filter: Filter,
}

impl Log for StderrLogger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= self.filter.level_for(metadata.target())
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) || is_iopoll_probe_noise(record) {
            return;
        }
        let line = format_line(SystemTime::now(), record);
        // One write per line so lines from different shards do not interleave;
        // a failing stderr has nowhere better to be reported.
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }

    fn flush(&self) {
        let _ = std::io::stderr().flush();
    }
}

fn format_line(now: SystemTime, record: &Record) -> String {
    format!(
        "{} {:<5} {}: {}\n",
        format_utc(now),
        level_name(record.level()),
        record.target(),
        record.args()
    )
}

fn level_name(level: Level) -> &'static str {
    match level {
        Level::Error => "ERROR",
        Level::Warn => "WARN",
        Level::Info => "INFO",
        Level::Debug => "DEBUG",
        Level::Trace => "TRACE",
    }
}

/// `2026-11-21T05:40:00.123Z`; times before 1970 print as the epoch.
fn format_utc(time: SystemTime) -> String {
    let since_epoch = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = since_epoch.as_secs();
    let (year, month, day) = civil_from_days((seconds / 86_400) as i64);
    let second_of_day = seconds % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60,
        since_epoch.subsec_millis()
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn formats_utc_timestamps() {
        let at = |seconds: u64, millis: u64| {
            format_utc(UNIX_EPOCH + Duration::from_secs(seconds) + Duration::from_millis(millis))
        };
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(at(1_795_239_600, 123), "2026-11-21T05:40:00.123Z");
        assert_eq!(at(951_782_400, 999), "2000-02-29T00:00:00.999Z");
        assert_eq!(at(4_107_542_399, 0), "2100-02-28T23:59:59.000Z");
    }

    #[test]
    fn formats_a_line() {
        let at = UNIX_EPOCH + Duration::from_millis(1_795_239_600_123);
        let line = format_line(
            at,
            &Record::builder()
                .level(Level::Info)
                .target("millrace::server")
                .args(format_args!("listening on {}", 9092))
                .build(),
        );
        assert_eq!(
            line,
            "2026-11-21T05:40:00.123Z INFO  millrace::server: listening on 9092\n"
        );
    }

    #[test]
    fn parses_filters() {
        let filter = Filter::parse("warn,millrace::storage=debug,millrace=info").unwrap();
        assert_eq!(filter.level_for("glommio::reactor"), LevelFilter::Warn);
        assert_eq!(filter.level_for("millrace::server"), LevelFilter::Info);
        assert_eq!(
            filter.level_for("millrace::storage::log"),
            LevelFilter::Debug
        );
        assert_eq!(filter.level_for("millrace::storage_x"), LevelFilter::Info);
        assert_eq!(filter.max_level(), LevelFilter::Debug);
        assert_eq!(
            Filter::parse("DEBUG").unwrap().default_level,
            LevelFilter::Debug
        );
        assert!(Filter::parse("loud").is_err());
        assert!(Filter::parse("millrace=loud").is_err());
    }

    #[test]
    fn drops_glommio_iopoll_noise_only() {
        let noise = |target: &'static str, text: &'static str| {
            is_iopoll_probe_noise(
                &Record::builder()
                    .level(Level::Error)
                    .target(target)
                    .args(format_args!("{text}"))
                    .build(),
            )
        };
        assert!(noise(
            "glommio::sys::uring",
            "probing iopoll support: Bad file descriptor"
        ));
        assert!(!noise("glommio::sys::uring", "ring full"));
        assert!(!noise("millrace::storage", "iopoll"));
    }
}
