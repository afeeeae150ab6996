//! The result of a run: merged histograms and counters, the summary table,
//! and `result.json` (every figure, the percentile spectrum for charts, and
//! the full histograms in HdrHistogram's V2 deflate interchange format, base64).

use super::json::Json;
use super::progress::{TimelinePoint, BYTES_PER_MB};
use super::stats::{new_histogram, Counters, RunControl};
use super::workload::{KeyMode, Workload, DEFAULT_WORKLOAD_NAME};
use base64::Engine;
use hdrhistogram::serialization::{Serializer, V2DeflateSerializer};
use hdrhistogram::Histogram;

/// Percentiles in the summary and the JSON.
pub const PERCENTILES: &[f64] = &[50.0, 75.0, 90.0, 95.0, 99.0, 99.9, 99.99];
/// Points of the percentile spectrum per decade of `1 / (1 - q)`.
const SPECTRUM_POINTS_PER_DECADE: u32 = 20;
/// Decades of the spectrum: up to the 99.999th percentile.
const SPECTRUM_DECADES: u32 = 5;
/// Share of the target rate a fixed-rate run must reach to count as holding it.
pub const TARGET_RATE_REACHED_SHARE: f64 = 0.95;
/// Format version of `result.json`.
pub const RESULT_FORMAT_VERSION: u64 = 1;

/// Everything a run measured.
pub struct BenchResult {
    /// Run name.
    pub name: String,
    /// The workload as run.
    pub workload: Workload,
    /// Counters of records sent inside the measured window.
    pub counters: Counters,
    /// Publish latency in µs.
    pub publish: Histogram<u64>,
    /// End-to-end latency in µs.
    pub e2e: Histogram<u64>,
    /// Per-second timeline.
    pub timeline: Vec<TimelinePoint>,
    /// The first error seen.
    pub first_error: Option<String>,
    /// Seconds from the end of producing to the last record consumed.
    pub drain_s: f64,
}

impl BenchResult {
    /// Merges every executor's stats.
    pub fn collect(
        workload: &Workload,
        control: &RunControl,
        timeline: Vec<TimelinePoint>,
    ) -> Self {
        let mut counters = Counters::default();
        let mut publish = new_histogram();
        let mut e2e = new_histogram();
        let mut first_error = None;
        for index in 0..control.stats.len() {
            let stats = control.stats(index);
            counters.add(&stats.measured);
            let _ = publish.add(&stats.publish);
            let _ = e2e.add(&stats.e2e);
            if first_error.is_none() {
                first_error = stats.first_error.clone();
            }
        }
        let last_consume_ns = control
            .last_consume_ns
            .load(std::sync::atomic::Ordering::Relaxed);
        BenchResult {
            drain_s: last_consume_ns.saturating_sub(control.end_ns) as f64 / 1e9,
            name: workload.name.clone(),
            workload: workload.clone(),
            counters,
            publish,
            e2e,
            timeline,
            first_error,
        }
    }

    fn duration_s(&self) -> f64 {
        self.workload.duration.as_secs_f64()
    }

    /// Produced messages per second over the measured window.
    pub fn produce_rate(&self) -> f64 {
        self.counters.produced_msgs as f64 / self.duration_s()
    }

    /// Whether a fixed-rate run held its target (always true at max rate).
    pub fn target_rate_reached(&self) -> bool {
        self.workload.rate == 0
            || self.produce_rate() >= TARGET_RATE_REACHED_SHARE * self.workload.rate as f64
    }

    /// The run chart's title: what was measured (record size, acks,
    /// partitions, rate), after the workload's name when it has one of its
    /// own (the default name "bench" says nothing).
    pub fn chart_title(&self) -> String {
        let w = &self.workload;
        let acks = match w.acks {
            -1 => "all".to_string(),
            acks => acks.to_string(),
        };
        let rate = match w.rate {
            0 => "max rate".to_string(),
            rate => format!("{rate} msg/s"),
        };
        let partitions = w.topics * w.partitions_per_topic;
        let what = format!(
            "{} B records, acks={acks}, {partitions} partition{}, {rate}",
            w.message_size,
            if partitions == 1 { "" } else { "s" }
        );
        match self.name.as_str() {
            DEFAULT_WORKLOAD_NAME | "" => format!("millrace bench: {what}"),
            name => format!("millrace bench: {name} ({what})"),
        }
    }

    /// The human summary printed at the end.
    pub fn summary_table(&self) -> String {
        let c = &self.counters;
        let d = self.duration_s();
        let mut out = format!(
            "\n== millrace bench: {} ({:.0}s measured) ==\n\
             produce  {:>12.0} msg/s {:>10.2} MB/s  ({} msgs)\n\
             consume  {:>12.0} msg/s {:>10.2} MB/s  ({} msgs)\n\
             errors   {} failed requests, {} failed msgs, {} retries\n\n",
            self.name,
            d,
            c.produced_msgs as f64 / d,
            c.produced_bytes as f64 / BYTES_PER_MB / d,
            c.produced_msgs,
            c.consumed_msgs as f64 / d,
            c.consumed_bytes as f64 / BYTES_PER_MB / d,
            c.consumed_msgs,
            c.errors,
            c.failed_msgs,
            c.retries,
        );
        out.push_str(&format!("{:<14}", "latency ms"));
        for p in PERCENTILES {
            out.push_str(&format!("{:>9}", format!("p{p}")));
        }
        out.push_str(&format!("{:>9}{:>11}\n", "max", "samples"));
        for (label, h) in [("publish", &self.publish), ("end-to-end", &self.e2e)] {
            out.push_str(&format!("{label:<14}"));
            for p in PERCENTILES {
                out.push_str(&format!("{:>9.3}", ms(h.value_at_percentile(*p))));
            }
            out.push_str(&format!("{:>9.3}{:>11}\n", ms(h.max()), h.len()));
        }
        if !self.target_rate_reached() {
            out.push_str(&format!(
                "WARNING: target rate {} msg/s not reached: the broker (or this machine) could not keep up; latency counts from the intended send times\n",
                self.workload.rate
            ));
        }
        if self.workload.backlog {
            let drain_s = self.drain_s.max(1e-3);
            out.push_str(&format!(
                "backlog drain after producing: {:.1}s, {:.0} msg/s, {:.2} MB/s\n",
                drain_s,
                c.consumed_msgs as f64 / drain_s,
                c.consumed_bytes as f64 / BYTES_PER_MB / drain_s
            ));
        }
        if let Some(error) = &self.first_error {
            out.push_str(&format!("first error: {error}\n"));
        }
        out
    }

    /// `result.json`.
    pub fn to_json(&self) -> Json {
        let c = &self.counters;
        let d = self.duration_s();
        Json::object(vec![
            ("format_version", Json::from(RESULT_FORMAT_VERSION)),
            ("name", Json::str(&self.name)),
            ("millrace_version", Json::str(env!("CARGO_PKG_VERSION"))),
            ("unix_time_s", Json::from(unix_time_s())),
            ("workload", workload_json(&self.workload)),
            ("measured_duration_s", Json::from(d)),
            ("produce", produce_json(c, d)),
            ("consume", rates_json(c.consumed_msgs, c.consumed_bytes, d)),
            (
                "target_rate_reached",
                Json::Bool(self.target_rate_reached()),
            ),
            ("drain_s", Json::from(self.drain_s)),
            ("errors", Json::from(c.errors)),
            ("failed_msgs", Json::from(c.failed_msgs)),
            ("retries", Json::from(c.retries)),
            (
                "first_error",
                self.first_error.as_deref().map_or(Json::Null, Json::str),
            ),
            ("publish_latency_ms", latency_json(&self.publish)),
            ("e2e_latency_ms", latency_json(&self.e2e)),
            (
                "histograms",
                Json::object(vec![
                    ("unit", Json::str("microseconds")),
                    ("encoding", Json::str("HdrHistogram V2 deflate, base64")),
                    ("publish", Json::str(&encode_histogram(&self.publish))),
                    ("e2e", Json::str(&encode_histogram(&self.e2e))),
                ]),
            ),
            ("timeline", timeline_json(&self.timeline)),
        ])
    }
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

fn unix_time_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Produce rates plus the batch bytes sent, which differ from payload bytes
/// by batch overhead and compression.
fn produce_json(c: &Counters, duration_s: f64) -> Json {
    let mut produce = rates_json(c.produced_msgs, c.produced_bytes, duration_s);
    if let Json::Object(fields) = &mut produce {
        fields.push((
            "bytes_on_wire".to_string(),
            Json::from(c.produced_wire_bytes),
        ));
    }
    produce
}

fn rates_json(msgs: u64, bytes: u64, duration_s: f64) -> Json {
    Json::object(vec![
        ("msgs", Json::from(msgs)),
        ("bytes", Json::from(bytes)),
        ("msgs_per_s", Json::from(msgs as f64 / duration_s)),
        (
            "mb_per_s",
            Json::from(bytes as f64 / BYTES_PER_MB / duration_s),
        ),
    ])
}

fn latency_json(h: &Histogram<u64>) -> Json {
    let mut pairs: Vec<(String, Json)> = vec![
        ("count".to_string(), Json::from(h.len())),
        ("mean".to_string(), Json::from(h.mean() / 1000.0)),
    ];
    for p in PERCENTILES {
        pairs.push((format!("p{p}"), Json::from(ms(h.value_at_percentile(*p)))));
    }
    pairs.push(("max".to_string(), Json::from(ms(h.max()))));
    pairs.push(("spectrum".to_string(), spectrum_json(h)));
    Json::Object(pairs)
}

/// `[percentile, ms]` pairs evenly spaced on the log scale of `1 / (1 - q)`.
pub fn spectrum(h: &Histogram<u64>) -> Vec<(f64, f64)> {
    if h.is_empty() {
        return Vec::new();
    }
    (0..=SPECTRUM_POINTS_PER_DECADE * SPECTRUM_DECADES)
        .map(|i| {
            let nines = f64::from(i) / f64::from(SPECTRUM_POINTS_PER_DECADE);
            let percentile = 100.0 * (1.0 - 10f64.powf(-nines));
            (percentile, ms(h.value_at_percentile(percentile)))
        })
        .collect()
}

fn spectrum_json(h: &Histogram<u64>) -> Json {
    Json::Array(
        spectrum(h)
            .into_iter()
            .map(|(p, v)| Json::Array(vec![Json::from(p), Json::from(v)]))
            .collect(),
    )
}

fn timeline_json(timeline: &[TimelinePoint]) -> Json {
    Json::Array(
        timeline
            .iter()
            .map(|p| {
                Json::object(vec![
                    ("t_s", Json::from(p.t_s)),
                    ("produce_msgs_per_s", Json::from(p.produce_msgs_per_s)),
                    ("produce_mb_per_s", Json::from(p.produce_mb_per_s)),
                    ("consume_msgs_per_s", Json::from(p.consume_msgs_per_s)),
                    ("consume_mb_per_s", Json::from(p.consume_mb_per_s)),
                    ("publish_p99_ms", Json::from(p.publish_p99_ms)),
                    ("e2e_p99_ms", Json::from(p.e2e_p99_ms)),
                    ("errors", Json::from(p.errors)),
                ])
            })
            .collect(),
    )
}

fn workload_json(w: &Workload) -> Json {
    let keys = match w.keys {
        KeyMode::None => "none",
        KeyMode::Random => "random",
        KeyMode::RoundRobin => "round-robin",
    };
    Json::object(vec![
        ("bootstrap", Json::str(&w.bootstrap)),
        ("topic_prefix", Json::str(&w.topic_prefix)),
        ("topics", Json::from(u64::from(w.topics))),
        (
            "partitions_per_topic",
            Json::from(u64::from(w.partitions_per_topic)),
        ),
        (
            "producers_per_topic",
            Json::from(u64::from(w.producers_per_topic)),
        ),
        (
            "consumers_per_topic",
            Json::from(u64::from(w.consumers_per_topic)),
        ),
        ("message_size", Json::from(w.message_size as u64)),
        ("message_size_max", Json::from(w.message_size_max as u64)),
        ("keys", Json::str(keys)),
        ("key_count", Json::from(u64::from(w.key_count))),
        ("rate", Json::from(w.rate)),
        ("acks", Json::from(f64::from(w.acks))),
        ("batch_size", Json::from(w.batch_size as u64)),
        ("linger_ms", Json::from(w.linger.as_secs_f64() * 1000.0)),
        ("max_in_flight", Json::from(u64::from(w.max_in_flight))),
        ("compression", Json::str(&w.compression)),
        ("idempotence", Json::Bool(w.idempotence)),
        ("duration_s", Json::from(w.duration.as_secs_f64())),
        ("warmup_s", Json::from(w.warmup.as_secs_f64())),
        ("threads", Json::from(u64::from(w.threads))),
        ("backlog", Json::Bool(w.backlog)),
    ])
}

/// A histogram in HdrHistogram's V2 deflate format, base64 encoded.
pub fn encode_histogram(h: &Histogram<u64>) -> String {
    let mut bytes = Vec::new();
    match V2DeflateSerializer::new().serialize(h, &mut bytes) {
        Ok(_) => base64::engine::general_purpose::STANDARD.encode(&bytes),
        Err(e) => format!("unencodable: {e:?}"),
    }
}

/// Decodes [`encode_histogram`]'s output.
pub fn decode_histogram(text: &str) -> Result<Histogram<u64>, String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| format!("histogram base64: {e}"))?;
    hdrhistogram::serialization::Deserializer::new()
        .deserialize(&mut &bytes[..])
        .map_err(|e| format!("histogram: {e:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_survive_the_interchange_format() {
        let mut h = new_histogram();
        for v in 1..=1000u64 {
            h.record(v * 10).unwrap();
        }
        let decoded = decode_histogram(&encode_histogram(&h)).unwrap();
        assert_eq!(decoded.len(), 1000);
        assert_eq!(
            decoded.value_at_percentile(99.0),
            h.value_at_percentile(99.0)
        );
    }

    fn result_of(workload: Workload) -> BenchResult {
        BenchResult {
            name: workload.name.clone(),
            workload,
            counters: Counters::default(),
            publish: new_histogram(),
            e2e: new_histogram(),
            timeline: Vec::new(),
            first_error: None,
            drain_s: 0.0,
        }
    }

    #[test]
    fn chart_title_says_what_was_measured() {
        let workload = Workload {
            name: DEFAULT_WORKLOAD_NAME.to_string(),
            message_size: 1024,
            acks: 1,
            partitions_per_topic: 4,
            rate: 51_200,
            ..Workload::default()
        };
        let title = result_of(workload.clone()).chart_title();
        assert_eq!(
            title,
            "millrace bench: 1024 B records, acks=1, 4 partitions, 51200 msg/s"
        );
        let named = Workload {
            name: "tail".to_string(),
            acks: -1,
            partitions_per_topic: 1,
            rate: 0,
            ..workload
        };
        assert_eq!(
            result_of(named).chart_title(),
            "millrace bench: tail (1024 B records, acks=all, 1 partition, max rate)"
        );
    }

    #[test]
    fn spectrum_rises_to_five_nines() {
        let mut h = new_histogram();
        for v in 1..=100_000u64 {
            h.record(v).unwrap();
        }
        let points = spectrum(&h);
        assert_eq!(points.len(), 101);
        assert!(points
            .windows(2)
            .all(|w| w[0].1 <= w[1].1 && w[0].0 < w[1].0));
        assert!((points[100].0 - 99.999).abs() < 1e-9);
    }
}
