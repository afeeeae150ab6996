//! Renders a [`Registry`] in the Prometheus text exposition format 0.0.4:
//! one `# HELP` and `# TYPE` per family, then its samples; histograms as
//! cumulative `_bucket{le=..}`, `_sum` and `_count`.

use super::histogram::{bucket_label, Counter, HistogramSnapshot, LatencyHistogram};
use super::{lag, PartitionApi, Registry, ShardMetrics, API_KEY_SLOTS, ERROR_CODE_SLOTS};
use kafka_protocol::messages::ApiKey;
use std::fmt::Write;

/// The `Content-Type` of the rendered text.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Builds the text of one family at a time.
struct TextWriter {
    out: String,
}

impl TextWriter {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (index, (key, text)) in labels.iter().enumerate() {
                if index > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{key}=\"{}\"", escape_label_value(text));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {value}");
    }

    fn histogram(&mut self, name: &str, labels: &[(&str, &str)], snapshot: &HistogramSnapshot) {
        let bucket_name = format!("{name}_bucket");
        for (index, count) in snapshot.cumulative.iter().enumerate() {
            let le = bucket_label(index);
            let mut with_le: Vec<(&str, &str)> = labels.to_vec();
            with_le.push(("le", &le));
            self.sample(&bucket_name, &with_le, count);
        }
        self.sample(&format!("{name}_sum"), labels, snapshot.sum_seconds);
        self.sample(&format!("{name}_count"), labels, snapshot.count());
    }

    /// One sample per shard of a value read from each shard's block.
    fn per_shard(&mut self, registry: &Registry, name: &str, value: impl Fn(&ShardMetrics) -> u64) {
        for shard in registry.shards() {
            let id = shard.shard_id.to_string();
            self.sample(name, &[("shard", &id)], value(shard));
        }
    }

    fn per_shard_histogram(
        &mut self,
        registry: &Registry,
        name: &str,
        histogram: impl Fn(&ShardMetrics) -> &LatencyHistogram,
    ) {
        for shard in registry.shards() {
            let id = shard.shard_id.to_string();
            self.histogram(name, &[("shard", &id)], &histogram(shard).snapshot());
        }
    }
}

/// Escapes `\`, `"` and newlines as the text format requires.
pub fn escape_label_value(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => escaped.push_str("\\\\"),
            '"' => escaped.push_str("\\\""),
            '\n' => escaped.push_str("\\n"),
            other => escaped.push(other),
        }
    }
    escaped
}

/// The `api` label of an API key slot: the Kafka name, `key<n>` for a key
/// this crate does not know, `unknown` for the shared last slot (keys out of
/// range, and frames whose header did not decode).
fn api_name(slot: usize) -> String {
    if slot >= API_KEY_SLOTS - 1 {
        return "unknown".to_string();
    }
    match i16::try_from(slot)
        .ok()
        .and_then(|k| ApiKey::try_from(k).ok())
    {
        Some(key) => format!("{key:?}"),
        None => format!("key{slot}"),
    }
}

/// The whole exposition text of `registry`.
pub fn render(registry: &Registry) -> String {
    let mut w = TextWriter { out: String::new() };
    w.family(
        "millrace_build_info",
        "gauge",
        "Version of the running broker.",
    );
    w.sample(
        "millrace_build_info",
        &[("version", env!("CARGO_PKG_VERSION"))],
        1,
    );
    render_requests(&mut w, registry);
    render_traffic(&mut w, registry);
    render_storage(&mut w, registry);
    render_open_files(&mut w);
    render_runtime(&mut w, registry);
    render_lag(&mut w, registry);
    render_replication(&mut w, registry);
    w.out
}

fn render_requests(w: &mut TextWriter, registry: &Registry) {
    // Only APIs that were called (or failed to decode): a zero series for
    // every key is noise.
    let called = |shard: &ShardMetrics| -> Vec<usize> {
        (0..API_KEY_SLOTS)
            .filter(|&slot| {
                let api = &shard.apis[slot];
                api.requests.get() > 0 || api.errors.get() > 0
            })
            .collect()
    };
    type Read = fn(&super::ApiMetrics) -> u64;
    let counters: [(&str, &str, Read); 2] = [
        (
            "millrace_requests_total",
            "Kafka requests received, by shard and API.",
            |api| api.requests.get(),
        ),
        (
            "millrace_request_errors_total",
            "Requests that could not be answered (malformed, unsupported API or version), by shard and API.",
            |api| api.errors.get(),
        ),
    ];
    for (name, help, read) in counters {
        w.family(name, "counter", help);
        for shard in registry.shards() {
            let id = shard.shard_id.to_string();
            for slot in called(shard) {
                let api = api_name(slot);
                w.sample(
                    name,
                    &[("shard", &id), ("api", &api)],
                    read(&shard.apis[slot]),
                );
            }
        }
    }
    let name = "millrace_request_latency_seconds";
    w.family(
        name,
        "histogram",
        "Time from a request's arrival to its answer being written, by shard and API (Produce includes the wait for acks).",
    );
    for shard in registry.shards() {
        let id = shard.shard_id.to_string();
        for slot in called(shard) {
            let api = api_name(slot);
            let snapshot = shard.apis[slot].latency.snapshot();
            w.histogram(name, &[("shard", &id), ("api", &api)], &snapshot);
        }
    }
    render_partition_errors(w, registry);
}

fn render_partition_errors(w: &mut TextWriter, registry: &Registry) {
    let name = "millrace_partition_errors_total";
    w.family(
        name,
        "counter",
        "Partitions answered with a Kafka error code, by shard, API and code.",
    );
    for shard in registry.shards() {
        let id = shard.shard_id.to_string();
        for (api, label) in [
            (PartitionApi::Produce, "Produce"),
            (PartitionApi::Fetch, "Fetch"),
        ] {
            let codes: &[Counter] = &shard.partition_errors[api as usize];
            for (code, counter) in codes.iter().enumerate().take(ERROR_CODE_SLOTS) {
                if counter.get() > 0 {
                    let code = code.to_string();
                    let labels = [("shard", id.as_str()), ("api", label), ("code", &code)];
                    w.sample(name, &labels, counter.get());
                }
            }
        }
    }
}

fn render_traffic(w: &mut TextWriter, registry: &Registry) {
    type Read = fn(&ShardMetrics) -> u64;
    let counters: [(&str, &str, Read); 17] = [
        (
            "millrace_request_bytes_total",
            "Request bytes received (frames with their size prefix).",
            |m| m.request_bytes.get(),
        ),
        (
            "millrace_response_bytes_total",
            "Response bytes written.",
            |m| m.response_bytes.get(),
        ),
        (
            "millrace_records_in_total",
            "Records appended to partitions this shard owns.",
            |m| m.records_in.get(),
        ),
        (
            "millrace_record_bytes_in_total",
            "Record batch bytes appended to partitions this shard owns.",
            |m| m.record_bytes_in.get(),
        ),
        (
            "millrace_record_bytes_out_total",
            "Record batch bytes sent in Fetch answers by this shard's connections.",
            |m| m.record_bytes_out.get(),
        ),
        (
            "millrace_incremental_fetches_total",
            "Fetch requests served within an incremental fetch session (KIP-227).",
            |m| m.incremental_fetches.get(),
        ),
        (
            "millrace_cross_shard_messages_sent_total",
            "Messages sent to other shards (requests, notifications, answers).",
            |m| m.cross_shard_sent_to.iter().map(Counter::get).sum(),
        ),
        (
            "millrace_cross_shard_messages_received_total",
            "Messages received from other shards.",
            |m| m.cross_shard_received.get(),
        ),
        (
            "millrace_segment_scan_reads_total",
            "O_DIRECT reads of segment batch headers by scans: where a Fetch starts (when the \
             offset index does not know it), truncation, time lookups, recovery.",
            |m| m.segment_scan_reads.get(),
        ),
        (
            "millrace_index_base_fill_reads_total",
            "O_DIRECT reads of batch headers that give offset index entries loaded from \
             .index files their batch base offsets (in the background, once per entry).",
            |m| m.index_base_fill_reads.get(),
        ),
        (
            "millrace_log_write_rounds_total",
            "Flush rounds that wrote a partition's appended batches to its segment (O_DIRECT): \
             acks=all and acks=1 answers wait for one.",
            |m| m.log_write_rounds.get(),
        ),
        (
            "millrace_log_write_bytes_total",
            "Bytes those rounds wrote: whole blocks, so a round rewrites the block the last \
             one ended in when that one ended mid-block.",
            |m| m.log_write_bytes.get(),
        ),
        (
            "millrace_zero_ahead_bytes_total",
            "Zeros written over preallocated segment blocks ahead of the data \
             (log.zero.ahead.bytes).",
            |m| m.zero_ahead_bytes.get(),
        ),
        (
            "millrace_zero_ahead_write_errors_total",
            "Failed zero-ahead writes; each stops zeroing ahead for its partition's log.",
            |m| m.zero_ahead_write_errors.get(),
        ),
        (
            "millrace_sync_batches_total",
            "Batches of two or more partitions' segment syncs made durable in one helper job.",
            |m| m.sync_batches.get(),
        ),
        (
            "millrace_sync_batch_files_total",
            "Segment files made durable by those batches (files / batches = mean batch size).",
            |m| m.sync_batch_files.get(),
        ),
        (
            "millrace_syncfs_calls_total",
            "syncfs calls of those batches: one per filesystem per batch \
             (log.flush.syncfs.enable); 0 when each file gets its own fdatasync.",
            |m| m.syncfs_calls.get(),
        ),
    ];
    for (name, help, read) in counters {
        w.family(name, "counter", help);
        w.per_shard(registry, name, read);
    }
    w.family(
        "millrace_cross_shard_pending_requests",
        "gauge",
        "Calls to other shards waiting for their answer.",
    );
    w.per_shard(registry, "millrace_cross_shard_pending_requests", |m| {
        m.gauges.cross_shard_pending.get()
    });
    let name = "millrace_cross_shard_queue_depth";
    w.family(
        name,
        "gauge",
        "Messages sent to the shard and not yet taken from its channels (estimate).",
    );
    let depths = super::cross_shard_queue_depths(registry);
    for (shard, depth) in registry.shards().iter().zip(depths) {
        w.sample(name, &[("shard", &shard.shard_id.to_string())], depth);
    }
    w.family("millrace_connections", "gauge", "Open client connections.");
    w.per_shard(registry, "millrace_connections", |m| {
        m.gauges.connections.get()
    });
    w.family(
        "millrace_connections_accepted_total",
        "counter",
        "Client connections accepted.",
    );
    w.per_shard(registry, "millrace_connections_accepted_total", |m| {
        m.connections_accepted.get()
    });
}

fn render_storage(w: &mut TextWriter, registry: &Registry) {
    type Read = fn(&ShardMetrics) -> u64;
    let gauges: [(&str, &str, Read); 8] = [
        (
            "millrace_partitions",
            "Partitions open on the shard.",
            |m| m.gauges.partitions.get(),
        ),
        (
            "millrace_log_segments",
            "Segments of the shard's partitions.",
            |m| m.gauges.segments.get(),
        ),
        (
            "millrace_log_size_bytes",
            "Bytes of the shard's segments (logical sizes).",
            |m| m.gauges.log_bytes.get(),
        ),
        (
            "millrace_storage_failed_logs",
            "Partitions offline after a failed write or fdatasync.",
            |m| m.gauges.failed_logs.get(),
        ),
        (
            "millrace_recent_batches_bytes",
            "Recent record batches held in memory for fetches.",
            |m| m.gauges.recent_bytes.get(),
        ),
        (
            "millrace_recent_room_bytes",
            "The room for recent batches: log.recent.bytes.per.shard.initial, grown by reads that missed it up to log.recent.bytes.per.shard.max, and less while memory is short.",
            |m| m.gauges.recent_room_bytes.get(),
        ),
        (
            "millrace_unwritten_bytes",
            "Appended record batches not written to disk yet.",
            |m| m.gauges.unwritten_bytes.get(),
        ),
        (
            "millrace_fetch_sessions",
            "Incremental fetch sessions (KIP-227) open on the shard.",
            |m| m.gauges.fetch_sessions.get(),
        ),
    ];
    for (name, help, read) in gauges {
        w.family(name, "gauge", help);
        w.per_shard(registry, name, read);
    }
    type Histogram = fn(&ShardMetrics) -> &LatencyHistogram;
    let histograms: [(&str, &str, Histogram); 2] = [
        (
            "millrace_fsync_latency_seconds",
            "How long a segment file's sync took, its wait for a batch of syncs included.",
            |m| &m.fsync_latency,
        ),
        (
            "millrace_segment_roll_seconds",
            "How long each segment roll kept its partition's appends waiting.",
            |m| &m.segment_roll_wait,
        ),
    ];
    for (name, help, read) in histograms {
        w.family(name, "histogram", help);
        w.per_shard_histogram(registry, name, read);
    }
}

/// Process-wide descriptor use beside its limit, so an operator can alert
/// before EMFILE: read at each scrape (on the HTTP thread, not a shard).
fn render_open_files(w: &mut TextWriter) {
    let gauges: [(&str, &str, Option<u64>); 3] = [
        (
            "millrace_open_files",
            "File descriptors the process holds (sockets included).",
            open_descriptors(),
        ),
        (
            "millrace_open_files_limit",
            "The soft RLIMIT_NOFILE the process runs under (raised to the hard limit at start).",
            open_files_soft_limit(),
        ),
        (
            "millrace_segment_files_open",
            "Segment and index files the storage engine holds open, active and sealed.",
            Some(crate::storage::io::open_storage_files()),
        ),
    ];
    for (name, help, value) in gauges {
        // A value that cannot be read is left out rather than shown as 0.
        if let Some(value) = value {
            w.family(name, "gauge", help);
            w.sample(name, &[], value);
        }
    }
}

/// Entries of /proc/self/fd (less the one read_dir itself holds).
fn open_descriptors() -> Option<u64> {
    let entries = std::fs::read_dir("/proc/self/fd").ok()?.count() as u64;
    Some(entries.saturating_sub(1))
}

fn open_files_soft_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return None;
    }
    Some(limit.rlim_cur)
}

fn render_runtime(w: &mut TextWriter, registry: &Registry) {
    w.family(
        "millrace_reactor_stalls_total",
        "counter",
        "Reactor stalls: probe timer wake-ups 25 ms or more late.",
    );
    w.per_shard(registry, "millrace_reactor_stalls_total", |m| {
        m.reactor_stalls.get()
    });
    let name = "millrace_reactor_delay_seconds";
    w.family(
        name,
        "histogram",
        "Lateness of the reactor probe's timer wake-ups.",
    );
    w.per_shard_histogram(registry, name, |m| &m.reactor_delay);
    type Read = fn(&ShardMetrics) -> u64;
    let seconds: [(&str, &str, Read); 2] = [
        (
            "millrace_executor_task_runtime_seconds_total",
            "Time the shard's executor spent running tasks.",
            |m| m.executor.task_runtime_us.get(),
        ),
        (
            "millrace_executor_runtime_seconds_total",
            "Time the shard's executor spent running tasks or polling I/O.",
            |m| m.executor.total_runtime_us.get(),
        ),
    ];
    for (name, help, read) in seconds {
        w.family(name, "counter", help);
        for shard in registry.shards() {
            let id = shard.shard_id.to_string();
            w.sample(name, &[("shard", &id)], read(shard) as f64 / 1e6);
        }
    }
    w.family(
        "millrace_executor_tasks_total",
        "counter",
        "Tasks the shard's executor ran.",
    );
    w.per_shard(registry, "millrace_executor_tasks_total", |m| {
        m.executor.tasks.get()
    });
    w.family(
        "millrace_executor_scheduler_runs_total",
        "counter",
        "Times the shard's scheduler picked a task queue.",
    );
    w.per_shard(registry, "millrace_executor_scheduler_runs_total", |m| {
        m.executor.scheduler_runs.get()
    });
}

fn render_lag(w: &mut TextWriter, registry: &Registry) {
    let name = "millrace_consumer_group_lag";
    w.family(
        name,
        "gauge",
        "Records between a group's committed offset and the partition's log end offset.",
    );
    for series in lag::compute(registry) {
        let partition = series.partition.to_string();
        let labels = [
            ("group", series.group.as_str()),
            ("topic", series.topic.as_str()),
            ("partition", partition.as_str()),
        ];
        w.sample(name, &labels, series.lag);
    }
}

/// A broker-wide family: name, type, help, and its value in one shard's block.
type BrokerFamily = (
    &'static str,
    &'static str,
    &'static str,
    fn(&ShardMetrics) -> u64,
);

/// Broker-wide replication values (shard 0 holds them; summed so the
/// series has no shard label, like Kafka's gauges), then follower lag.
fn render_replication(w: &mut TextWriter, registry: &Registry) {
    let families: [BrokerFamily; 6] = [
        (
            "millrace_under_replicated_partitions",
            "gauge",
            "Partitions this broker leads whose ISR is smaller than their replicas.",
            |m| m.replication.under_replicated_partitions.get(),
        ),
        (
            "millrace_offline_partitions",
            "gauge",
            "Partitions of the cluster without a leader.",
            |m| m.replication.offline_partitions.get(),
        ),
        (
            "millrace_isr_shrinks_total",
            "counter",
            "ISR shrinks of partitions this broker leads, from metadata changes.",
            |m| m.replication.isr_shrinks.get(),
        ),
        (
            "millrace_isr_expands_total",
            "counter",
            "ISR expansions of partitions this broker leads, from metadata changes.",
            |m| m.replication.isr_expands.get(),
        ),
        (
            "millrace_leader_elections_total",
            "counter",
            "Leader changes of the cluster's partitions, from metadata changes.",
            |m| m.replication.leader_elections.get(),
        ),
        (
            "millrace_active_controller",
            "gauge",
            "1 while this node is the active controller (Kafka's ActiveControllerCount).",
            |m| m.replication.active_controller.get(),
        ),
    ];
    for (name, kind, help, value) in families {
        w.family(name, kind, help);
        let total: u64 = registry.shards().iter().map(|m| value(m)).sum();
        w.sample(name, &[], total);
    }
    let records = "millrace_follower_lag_records";
    let ms = "millrace_follower_lag_ms";
    let mut lags = Vec::new();
    for shard in registry.shards() {
        if let Ok(table) = shard.replication.follower_lag.lock() {
            for (topic, partitions) in &table.topics {
                for ((partition, follower), lag) in partitions {
                    lags.push((topic.clone(), *partition, *follower, *lag));
                }
            }
        }
    }
    for (name, help, ms_family) in [
        (records, "Records a follower is behind the leader.", false),
        (
            ms,
            "Milliseconds since a follower was last caught up.",
            true,
        ),
    ] {
        w.family(name, "gauge", help);
        for (topic, partition, follower, lag) in &lags {
            let (partition, follower) = (partition.to_string(), follower.to_string());
            let labels = [
                ("topic", topic.as_str()),
                ("partition", partition.as_str()),
                ("follower", follower.as_str()),
            ];
            if ms_family {
                w.sample(name, &labels, lag.ms);
            } else {
                w.sample(name, &labels, lag.records);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn replication_values_are_broker_wide_and_lag_is_per_follower() {
        let registry = Registry::new(2);
        let r = &registry.shards()[0].replication;
        r.under_replicated_partitions.set(2);
        r.isr_shrinks.add(3);
        r.leader_elections.add(1);
        let lag = super::super::replication::FollowerLag {
            records: 42,
            ms: 900,
        };
        registry.shards()[1]
            .replication
            .follower_lag
            .lock()
            .unwrap()
            .topics
            .entry("t".into())
            .or_default()
            .insert((0, 3), lag);
        let text = render(&registry);
        assert!(
            text.contains("millrace_under_replicated_partitions 2\n"),
            "{text}"
        );
        assert!(text.contains("millrace_offline_partitions 0\n"));
        assert!(text.contains("millrace_isr_shrinks_total 3\n"));
        assert!(text.contains("millrace_isr_expands_total 0\n"));
        assert!(text.contains("millrace_leader_elections_total 1\n"));
        assert!(text.contains("millrace_active_controller 0\n"));
        assert!(text.contains(
            "millrace_follower_lag_records{topic=\"t\",partition=\"0\",follower=\"3\"} 42\n"
        ));
        assert!(text.contains(
            "millrace_follower_lag_ms{topic=\"t\",partition=\"0\",follower=\"3\"} 900\n"
        ));
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn api_slots_are_named_by_their_kafka_api() {
        assert_eq!(api_name(0), "Produce");
        assert_eq!(api_name(1), "Fetch");
        assert_eq!(api_name(API_KEY_SLOTS - 1), "unknown");
    }

    #[test]
    fn rendered_text_has_one_type_per_family_and_called_apis_only() {
        let registry = Registry::new(2);
        let shard = &registry.shards()[1];
        shard.api(0).requests.add(3);
        shard.api(0).latency.observe(Duration::from_millis(2));
        shard.records_in.add(42);
        let text = render(&registry);
        assert!(text.contains("millrace_requests_total{shard=\"1\",api=\"Produce\"} 3\n"));
        assert!(!text.contains("api=\"Fetch\""));
        assert!(text.contains("millrace_records_in_total{shard=\"1\"} 42\n"));
        assert!(text.contains(
            "millrace_request_latency_seconds_bucket{shard=\"1\",api=\"Produce\",le=\"+Inf\"} 1\n"
        ));
        let types = text.lines().filter(|l| l.starts_with("# TYPE ")).count();
        let helps = text.lines().filter(|l| l.starts_with("# HELP ")).count();
        assert_eq!(types, helps);
        let mut names: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .map(|l| l.split(' ').next().unwrap_or_default())
            .collect();
        let total = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), total, "a family is declared twice");
    }
}
