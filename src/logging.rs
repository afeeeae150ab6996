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
//!
//! Shards never write stderr themselves: a shard formats its line and hands
//! it to one logger thread over a bounded channel (a lock-free `try_send`),
//! which writes each line whole. When the queue is full the line is dropped
//! and counted, and the logger reports the count with its next line. Chosen
//! over a per-thread buffered writer because a write to stderr can block (a
//! full pipe, a slow journal or terminal), and a shard must never block on
//! it; a per-thread writer would still write from the reactor. Call
//! `log::logger().flush()` before exiting: it waits for the queued lines.

use log::{Level, LevelFilter, Log, Metadata, Record};
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Environment variable that overrides the configured log level.
pub const LOG_ENV_VAR: &str = "MILLRACE_LOG";
/// Most per-target directives accepted in `MILLRACE_LOG`.
const DIRECTIVES_MAX: usize = 64;
/// Lines queued for the logger thread; past this, lines are dropped and counted.
pub const LOG_LINES_QUEUED_MAX: usize = 8192;
/// Longest a flush waits for the logger thread to write the queued lines.
const LOG_FLUSH_WAIT_MS_MAX: u64 = 2000;

/// Installs the logger. `level` is `log.level` (error|warn|info|debug|trace|off);
/// `MILLRACE_LOG`, when set and non-empty, replaces it.
pub fn init(level: &str) -> Result<(), String> {
    let spec = match std::env::var(LOG_ENV_VAR) {
        Ok(env_spec) if !env_spec.trim().is_empty() => env_spec,
        _ => level.to_string(),
    };
    let filter = Filter::parse(&spec)?;
    let max_level = filter.max_level();
    let logger: &'static StderrLogger = Box::leak(Box::new(StderrLogger {
        filter,
        sink: LineSink::start(std::io::stderr(), LOG_LINES_QUEUED_MAX),
    }));
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
    sink: LineSink,
}

enum Message {
    Line(String),
    /// Answered once every line queued before it is written.
    Flush(SyncSender<()>),
}

/// The sending side of the logger thread's queue.
struct LineSink {
    /// `None` if the thread could not start: lines are written directly.
    queue: Option<SyncSender<Message>>,
    dropped: Arc<AtomicU64>,
}

/// Blocks SIGTERM and SIGINT in the calling thread (and the threads it
/// starts afterwards), so that only the thread that waits for them (the
/// runtime's signal thread) takes them; returns the blocked set.
pub fn block_shutdown_signals() -> Result<libc::sigset_t, std::io::Error> {
    // SAFETY: plain libc signal-mask calls on a zeroed sigset_t.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        match libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) {
            0 => Ok(set),
            error => Err(std::io::Error::from_raw_os_error(error)),
        }
    }
}

impl LineSink {
    /// Starts the logger thread writing to `out`, with `queued_max` lines of queue.
    fn start<W: Write + Send + 'static>(out: W, queued_max: usize) -> LineSink {
        let (queue, lines) = sync_channel(queued_max);
        let dropped = Arc::new(AtomicU64::new(0));
        let counted = dropped.clone();
        let started = std::thread::Builder::new()
            .name("millrace-log".into())
            .spawn(move || {
                // Started before the runtime blocks them for the threads it
                // spawns: a SIGTERM delivered here would kill the broker
                // (default action) before the signal thread shuts it down.
                let _ = block_shutdown_signals();
                write_lines(out, lines, &counted)
            });
        LineSink {
            queue: started.ok().map(|_| queue),
            dropped,
        }
    }

    /// Queues `line` without ever blocking; drops and counts it when full.
    fn submit(&self, line: String) {
        let Some(queue) = &self.queue else {
            let _ = std::io::stderr().write_all(line.as_bytes());
            return;
        };
        match queue.try_send(Message::Line(line)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
            Err(TrySendError::Disconnected(Message::Line(line))) => {
                let _ = std::io::stderr().write_all(line.as_bytes());
            }
            Err(TrySendError::Disconnected(_)) => {}
        }
    }

    /// Waits (bounded) until the lines queued so far are written.
    fn flush(&self) {
        let Some(queue) = &self.queue else { return };
        let (done_tx, done_rx) = sync_channel(1);
        if queue.send(Message::Flush(done_tx)).is_ok() {
            let _ = done_rx.recv_timeout(Duration::from_millis(LOG_FLUSH_WAIT_MS_MAX));
        }
    }
}

/// The logger thread: writes each line whole, and how many were dropped.
fn write_lines<W: Write>(mut out: W, lines: Receiver<Message>, dropped: &AtomicU64) {
    for message in lines {
        let dropped_now = dropped.swap(0, Ordering::Relaxed);
        if dropped_now > 0 {
            let line = format!(
                "{} WARN  millrace::logging: {dropped_now} log line(s) dropped: \
                 more than {LOG_LINES_QUEUED_MAX} were waiting\n",
                format_utc(SystemTime::now())
            );
            let _ = out.write_all(line.as_bytes());
        }
        match message {
            // A failing stderr has nowhere better to be reported.
            Message::Line(line) => drop(out.write_all(line.as_bytes())),
            Message::Flush(done) => {
                let _ = out.flush();
                let _ = done.send(());
            }
        }
    }
}

impl Log for StderrLogger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= self.filter.level_for(metadata.target())
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) || is_iopoll_probe_noise(record) {
            return;
        }
        self.sink.submit(format_line(SystemTime::now(), record));
    }

    fn flush(&self) {
        self.sink.flush();
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

    /// A writer that blocks until released, then keeps what it was given.
    #[derive(Clone)]
    struct GatedWriter {
        gate: Arc<std::sync::Mutex<()>>,
        written: Arc<std::sync::Mutex<Vec<u8>>>,
        /// Set when the logger thread first calls `write`, so the test
        /// knows it holds a line before filling the queue.
        entered: Arc<std::sync::atomic::AtomicBool>,
    }

    impl Write for GatedWriter {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.entered.store(true, Ordering::Release);
            let _open = self.gate.lock().unwrap();
            self.written.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_blocked_stderr_never_blocks_the_logging_thread() {
        let writer = GatedWriter {
            gate: Arc::new(std::sync::Mutex::new(())),
            written: Arc::default(),
            entered: Arc::default(),
        };
        let closed = writer.gate.lock().unwrap();
        let sink = LineSink::start(writer.clone(), 4);
        // The logger thread takes the first line and blocks writing it (we
        // wait for that: on a loaded machine it may not have run yet); four
        // more fill the queue; the rest are dropped at once, not waited for.
        sink.submit("line 0\n".into());
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !writer.entered.load(Ordering::Acquire) {
            assert!(std::time::Instant::now() < deadline, "logger never wrote");
            std::thread::sleep(Duration::from_millis(1));
        }
        let started = std::time::Instant::now();
        for i in 1..100 {
            sink.submit(format!("line {i}\n"));
        }
        assert!(started.elapsed() < Duration::from_secs(1));
        let dropped = sink.dropped.load(Ordering::Relaxed);
        assert_eq!(
            dropped, 95,
            "99 lines after the first: 4 queued, the rest dropped"
        );
        drop(closed);
        // Drain the full queue first: a line submitted before the thread
        // catches up would be dropped too.
        sink.flush();
        sink.submit("after\n".into());
        sink.flush();
        let text = String::from_utf8(writer.written.lock().unwrap().clone()).unwrap();
        assert!(text.starts_with("line 0\n"), "{text}");
        assert!(text.contains("log line(s) dropped"), "{text}");
        assert!(text.ends_with("after\n"), "{text}");
        assert!(
            text.lines().all(|line| !line.is_empty()),
            "whole lines only"
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
