//! Per-phase measurement (wall clock, client and broker CPU) and its JSON line.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use crate::args::BenchArgs;

/// Bytes in the "MB" of `mb_s` (decimal, as Kafka's own perf tools report).
const BYTES_PER_MB: f64 = 1_000_000.0;

/// CPU seconds (user + system) this process has used so far, from getrusage(RUSAGE_SELF).
pub fn own_cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes into the zeroed struct we pass.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    if rc != 0 {
        return f64::NAN;
    }
    timeval_seconds(usage.ru_utime) + timeval_seconds(usage.ru_stime)
}

fn timeval_seconds(tv: libc::timeval) -> f64 {
    tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6
}

/// CPU seconds (utime + stime, all threads) of another process, from /proc/<pid>/stat.
pub fn process_cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let ticks = parse_stat_cpu_ticks(&stat)?;
    // SAFETY: sysconf has no preconditions.
    let ticks_per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (ticks_per_second > 0).then(|| ticks as f64 / ticks_per_second as f64)
}

/// utime + stime in clock ticks from the text of /proc/<pid>/stat.
fn parse_stat_cpu_ticks(stat: &str) -> Option<u64> {
    // The command name (field 2) may contain spaces and ')': fields resume after the last ')'.
    let after_comm = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_comm.split_whitespace();
    // After comm: state(3) ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt
    // utime(14) stime(15).
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// Clocks started at the beginning of one phase.
pub struct PhaseClock {
    started: Instant,
    client_cpu_start_s: f64,
    broker_pid: Option<u32>,
    broker_cpu_start_s: Option<f64>,
}

impl PhaseClock {
    /// Starts the wall clock and takes the first CPU samples.
    pub fn start(broker_pid: Option<u32>) -> Self {
        PhaseClock {
            started: Instant::now(),
            client_cpu_start_s: own_cpu_seconds(),
            broker_pid,
            broker_cpu_start_s: broker_pid.and_then(process_cpu_seconds),
        }
    }

    /// Wall time since start.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Stops the clocks: (wall, client CPU, broker CPU if sampled).
    pub fn stop(&self) -> (Duration, f64, Option<f64>) {
        let wall = self.started.elapsed();
        let client_cpu_s = own_cpu_seconds() - self.client_cpu_start_s;
        let broker_end = self.broker_pid.and_then(process_cpu_seconds);
        let broker_cpu_s = match (self.broker_cpu_start_s, broker_end) {
            (Some(start), Some(end)) => Some(end - start),
            _ => None,
        };
        (wall, client_cpu_s, broker_cpu_s)
    }
}

/// What one phase measured.
#[derive(Debug, Clone, PartialEq)]
pub struct PhaseReport {
    /// "produce" or "consume".
    pub phase: &'static str,
    /// Records acknowledged (produce) or received (consume).
    pub records: u64,
    /// Payload bytes acknowledged or received.
    pub payload_bytes: u64,
    /// Wall time of the phase.
    pub seconds: f64,
    /// CPU seconds of this process during the phase.
    pub client_cpu_s: f64,
    /// CPU seconds of the broker process during the phase, when `--broker-pid` was given.
    pub broker_cpu_s: Option<f64>,
    /// Delivery errors (produce) or consumer errors (consume).
    pub errors: u64,
    /// Consume only: records whose offset was not the previous offset + 1 in its partition.
    pub offset_gaps: Option<u64>,
}

impl PhaseReport {
    /// One JSON object on one line, fields in a fixed order.
    pub fn to_json_line(&self, args: &BenchArgs, librdkafka_version: &str) -> String {
        let seconds = self.seconds.max(f64::MIN_POSITIVE);
        let mut line = String::with_capacity(512);
        let _ = write!(
            line,
            "{{\"tool\":\"rdkafka-bench\",\"phase\":\"{}\",\"librdkafka\":\"{}\",\
             \"records\":{},\"size\":{},\"acks\":\"{}\",\"compression\":\"{}\",\
             \"partitions\":{},\"linger_ms\":{},\"batch_bytes\":{},\"idempotent\":{},\
             \"bytes\":{},\"seconds\":{:.3},\"mb_s\":{:.1},\"records_s\":{:.0},\
             \"client_cpu_s\":{:.3},\"broker_cpu_s\":{},\"errors\":{}",
            self.phase,
            json_escape(librdkafka_version),
            self.records,
            args.record_size_bytes,
            args.acks.as_config_value(),
            json_escape(&args.compression),
            args.partitions,
            args.linger_ms,
            args.batch_bytes,
            args.idempotent,
            self.payload_bytes,
            self.seconds,
            self.payload_bytes as f64 / BYTES_PER_MB / seconds,
            self.records as f64 / seconds,
            self.client_cpu_s,
            self.broker_cpu_s
                .map_or("null".to_string(), |s| format!("{s:.3}")),
            self.errors,
        );
        if let Some(gaps) = self.offset_gaps {
            let _ = write!(line, ",\"offset_gaps\":{gaps}");
        }
        line.push('}');
        line
    }
}

fn json_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '"' => escaped.push_str("\\\""),
            '\\' => escaped.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(escaped, "\\u{:04x}", c as u32);
            }
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_parsing_skips_a_command_name_with_spaces_and_parens() {
        let stat = "1234 (my (odd) name) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 8 0 100";
        assert_eq!(parse_stat_cpu_ticks(stat), Some(300));
        assert_eq!(parse_stat_cpu_ticks("garbage"), None);
    }

    #[test]
    fn own_process_cpu_is_readable_both_ways() {
        assert!(own_cpu_seconds() >= 0.0);
        assert!(process_cpu_seconds(std::process::id()).is_some());
    }

    #[test]
    fn json_line_has_rates_and_null_broker_cpu() {
        let report = PhaseReport {
            phase: "produce",
            records: 1000,
            payload_bytes: 2_000_000,
            seconds: 2.0,
            client_cpu_s: 0.5,
            broker_cpu_s: None,
            errors: 0,
            offset_gaps: None,
        };
        let line = report.to_json_line(&BenchArgs::default(), "2.10.0");
        assert!(line.starts_with("{\"tool\":\"rdkafka-bench\",\"phase\":\"produce\""));
        assert!(line.contains("\"mb_s\":1.0,"));
        assert!(line.contains("\"records_s\":500,"));
        assert!(line.contains("\"broker_cpu_s\":null,"));
        assert!(line.contains("\"librdkafka\":\"2.10.0\""));
        assert!(line.ends_with("\"errors\":0}"));
    }

    #[test]
    fn json_escape_handles_quotes_and_controls() {
        assert_eq!(json_escape("a\"b\\c\n"), "a\\\"b\\\\c\\u000a");
    }
}
