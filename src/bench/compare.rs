//! Charts from `result.json` files: one run's chart, and `bench compare`,
//! which draws several runs on one chart and prints their ratios to the first.

use super::json::Json;
use super::svg::{self, Chart, Series};

/// Percentile columns of the comparison table (keys in `result.json`).
const COMPARE_PERCENTILES: &[&str] = &["p50", "p99", "p99.9", "p99.99", "max"];

/// A run loaded from `result.json`.
#[derive(Debug, Clone)]
pub struct LoadedRun {
    /// Run name (the file name when the run has none).
    pub name: String,
    /// The whole document.
    pub json: Json,
}

/// Reads and parses one `result.json`.
pub fn load(path: &str) -> Result<LoadedRun, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let json = Json::parse(&text).map_err(|e| format!("{path}: {e}"))?;
    if json.get("produce").is_none() || json.get("publish_latency_ms").is_none() {
        return Err(format!("{path}: not a millrace bench result"));
    }
    let name = json
        .get("name")
        .and_then(Json::as_str)
        .filter(|n| !n.is_empty())
        .map_or_else(|| path.to_string(), str::to_string);
    Ok(LoadedRun { name, json })
}

fn spectrum_points(run: &Json, latency: &str) -> Vec<(f64, f64)> {
    run.get(latency)
        .and_then(|l| l.get("spectrum"))
        .and_then(Json::as_array)
        .unwrap_or(&[])
        .iter()
        .filter_map(|pair| {
            let pair = pair.as_array()?;
            Some((pair.first()?.as_f64()?, pair.get(1)?.as_f64()?))
        })
        .collect()
}

fn timeline_points(run: &Json, field: &str) -> Vec<(f64, f64)> {
    run.get("timeline")
        .and_then(Json::as_array)
        .unwrap_or(&[])
        .iter()
        .filter_map(|p| Some((p.get("t_s")?.as_f64()?, p.get(field)?.as_f64()?)))
        .collect()
}

fn series(label: String, color: usize, dashed: bool, points: Vec<(f64, f64)>) -> Series {
    Series {
        label,
        color,
        dashed,
        points,
    }
}

/// The chart of one run: publish and end-to-end spectra, produce and consume rates.
pub fn run_chart(title: &str, run: &Json) -> String {
    svg::render(&Chart {
        title: title.to_string(),
        spectra: vec![
            series(
                "publish latency".into(),
                0,
                false,
                spectrum_points(run, "publish_latency_ms"),
            ),
            series(
                "end-to-end latency".into(),
                1,
                true,
                spectrum_points(run, "e2e_latency_ms"),
            ),
        ],
        timelines: vec![
            series(
                "produce msgs/s".into(),
                0,
                false,
                timeline_points(run, "produce_msgs_per_s"),
            ),
            series(
                "consume msgs/s".into(),
                1,
                true,
                timeline_points(run, "consume_msgs_per_s"),
            ),
        ],
    })
}

/// The chart of several runs: one colour per run, dashed = end-to-end.
pub fn compare_chart(runs: &[LoadedRun]) -> String {
    let mut chart = Chart {
        title: format!(
            "millrace bench compare: {}",
            runs.iter()
                .map(|r| r.name.as_str())
                .collect::<Vec<_>>()
                .join(" vs ")
        ),
        ..Chart::default()
    };
    for (i, run) in runs.iter().enumerate() {
        chart.spectra.push(series(
            format!("{} publish", run.name),
            i,
            false,
            spectrum_points(&run.json, "publish_latency_ms"),
        ));
        chart.spectra.push(series(
            format!("{} e2e", run.name),
            i,
            true,
            spectrum_points(&run.json, "e2e_latency_ms"),
        ));
        chart.timelines.push(series(
            format!("{} produce", run.name),
            i,
            false,
            timeline_points(&run.json, "produce_msgs_per_s"),
        ));
    }
    svg::render(&chart)
}

fn figure(run: &Json, section: &str, key: &str) -> f64 {
    run.get(section)
        .and_then(|s| s.get(key))
        .and_then(Json::as_f64)
        .unwrap_or(f64::NAN)
}

/// The comparison table: each run's figures and, after the first, its ratio to the first.
pub fn compare_table(runs: &[LoadedRun]) -> String {
    let mut rows: Vec<(String, Vec<f64>)> = Vec::new();
    let mut header = vec!["produce msg/s".to_string(), "MB/s".to_string()];
    for section in ["publish", "e2e"] {
        for p in COMPARE_PERCENTILES {
            header.push(format!("{section} {p} ms"));
        }
    }
    for run in runs {
        let mut values = vec![
            figure(&run.json, "produce", "msgs_per_s"),
            figure(&run.json, "produce", "mb_per_s"),
        ];
        for section in ["publish_latency_ms", "e2e_latency_ms"] {
            for p in COMPARE_PERCENTILES {
                values.push(figure(&run.json, section, p));
            }
        }
        rows.push((run.name.clone(), values));
    }
    let mut out = String::new();
    for (column, name) in header.iter().enumerate() {
        out.push_str(&format!("{name:<18}"));
        for (run, values) in &rows {
            let _ = run;
            out.push_str(&format!("{:>14.3}", values[column]));
        }
        if let Some((_, base)) = rows.first() {
            for (_, values) in rows.iter().skip(1) {
                out.push_str(&format!(
                    "{:>10}",
                    format!("x{:.2}", values[column] / base[column])
                ));
            }
        }
        out.push('\n');
    }
    let names: Vec<String> = rows.iter().map(|(n, _)| n.clone()).collect();
    format!(
        "runs: {}\nratios (xN) are each later run divided by the first\n{out}",
        names.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(name: &str, rate: f64, p99: f64) -> LoadedRun {
        let latency = Json::object(vec![
            ("p50", Json::from(p99 / 2.0)),
            ("p99", Json::from(p99)),
            (
                "spectrum",
                Json::Array(vec![Json::Array(vec![
                    Json::from(50.0),
                    Json::from(p99 / 2.0),
                ])]),
            ),
        ]);
        let json = Json::object(vec![
            ("name", Json::str(name)),
            (
                "produce",
                Json::object(vec![
                    ("msgs_per_s", Json::from(rate)),
                    ("mb_per_s", Json::from(rate / 1000.0)),
                ]),
            ),
            ("publish_latency_ms", latency.clone()),
            ("e2e_latency_ms", latency),
            (
                "timeline",
                Json::Array(vec![Json::object(vec![
                    ("t_s", Json::from(1.0)),
                    ("produce_msgs_per_s", Json::from(rate)),
                ])]),
            ),
        ]);
        LoadedRun {
            name: name.to_string(),
            json,
        }
    }

    #[test]
    fn table_prints_ratios_to_the_first_run() {
        let table = compare_table(&[run("a", 1000.0, 2.0), run("b", 1500.0, 1.0)]);
        assert!(table.contains("x1.50"), "{table}");
        assert!(table.contains("x0.50"), "{table}");
        let svg = compare_chart(&[run("a", 1000.0, 2.0), run("b", 1500.0, 1.0)]);
        assert_eq!(svg.matches("<path").count(), 6);
    }
}
