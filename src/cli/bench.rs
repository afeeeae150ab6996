//! `millrace bench`: run a workload against a broker, or compare results.
//!
//! ```text
//! millrace bench [--workload FILE] [--KEY VALUE]... [--output DIR]
//! millrace bench compare A.json B.json... [--output DIR]
//! ```

use super::{EXIT_FAILURE, EXIT_OK, EXIT_USAGE};
use crate::bench::compare;
use crate::bench::run;
use crate::bench::workload::{Workload, DEFAULT_WORKLOAD_NAME, WORKLOAD_KEYS};
use std::path::{Path, PathBuf};

/// The `bench` part of the usage text.
pub const BENCH_USAGE: &str = "\
  millrace bench [--workload FILE.toml] [--KEY VALUE]... [--output DIR]
      Benchmark any Kafka-compatible broker: fixed-rate or max throughput,
      publish and end-to-end latency (HdrHistogram). Writes DIR/result.json
      and DIR/chart.svg. `millrace bench --help` lists every KEY.
  millrace bench compare A.json B.json... [--output DIR]
      Draw several results on one chart (DIR/compare.svg) and print ratios.
";

/// Runs `millrace bench ARGS`; returns the exit code.
pub fn run(args: &[String]) -> i32 {
    match args.first().map(String::as_str) {
        Some("compare") => run_compare(&args[1..]),
        Some("--help") | Some("-h") => {
            print!("Usage:\n{BENCH_USAGE}\nWorkload keys (file `key = value`, or flag `--key value`):\n");
            for (key, meaning) in WORKLOAD_KEYS {
                println!("  {:<22} {meaning}", key.replace('_', "-"));
            }
            EXIT_OK
        }
        _ => run_workload(args),
    }
}

/// Parsed flags: the `--workload` file and every other `--key value` pair.
type Flags = (Option<PathBuf>, Vec<(String, String)>);

/// Flags as (key, value) pairs; `--workload` is returned apart.
fn parse_flags(args: &[String]) -> Result<Flags, String> {
    let mut workload_file = None;
    let mut pairs = Vec::new();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let flag = arg
            .strip_prefix("--")
            .ok_or_else(|| format!("unexpected argument {arg:?}"))?;
        let (key, value) = match flag.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => {
                let value = rest
                    .next()
                    .ok_or_else(|| format!("--{flag} needs a value"))?;
                (flag.to_string(), value.clone())
            }
        };
        if key == "workload" {
            workload_file = Some(PathBuf::from(value));
        } else {
            pairs.push((key, value));
        }
    }
    Ok((workload_file, pairs))
}

/// The workload from the file (if any) with flags applied over it.
fn build_workload(args: &[String]) -> Result<Workload, String> {
    let (file, pairs) = parse_flags(args)?;
    let mut workload = Workload::default();
    if let Some(file) = &file {
        let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
        workload
            .apply_file_text(&text)
            .map_err(|e| format!("{}: {e}", file.display()))?;
        if workload.name.is_empty() {
            workload.name = file
                .file_stem()
                .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
        }
    }
    for (key, value) in &pairs {
        workload.set(key, value)?;
    }
    if workload.name.is_empty() {
        workload.name = DEFAULT_WORKLOAD_NAME.to_string();
    }
    workload.validate()?;
    Ok(workload)
}

fn run_workload(args: &[String]) -> i32 {
    let workload = match build_workload(args) {
        Ok(workload) => workload,
        Err(e) => {
            eprintln!("millrace bench: {e}\n\nUsage:\n{BENCH_USAGE}");
            return EXIT_USAGE;
        }
    };
    let output = workload.output.clone();
    let result = match run::run(workload) {
        Ok(result) => result,
        Err(e) => {
            eprintln!("millrace bench: error: {e}");
            return EXIT_FAILURE;
        }
    };
    print!("{}", result.summary_table());
    let json = result.to_json();
    if let Some(dir) = output {
        let chart = compare::run_chart(&result.chart_title(), &json);
        if let Err(e) = write_outputs(
            &dir,
            &[("result.json", json.to_pretty()), ("chart.svg", chart)],
        ) {
            eprintln!("millrace bench: error: {e}");
            return EXIT_FAILURE;
        }
        println!("wrote {0}/result.json and {0}/chart.svg", dir.display());
    }
    if result.counters.errors > 0 {
        eprintln!(
            "millrace bench: error: {} requests failed (first: {})",
            result.counters.errors,
            result.first_error.as_deref().unwrap_or("?")
        );
        return EXIT_FAILURE;
    }
    EXIT_OK
}

fn write_outputs(dir: &Path, files: &[(&str, String)]) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for (name, text) in files {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

fn run_compare(args: &[String]) -> i32 {
    let mut files = Vec::new();
    let mut output = PathBuf::from(".");
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--output" => match rest.next() {
                Some(dir) => output = PathBuf::from(dir),
                None => {
                    eprintln!("millrace bench compare: --output needs a folder");
                    return EXIT_USAGE;
                }
            },
            file => files.push(file.to_string()),
        }
    }
    if files.is_empty() {
        eprintln!(
            "millrace bench compare: give one or more result.json files\n\nUsage:\n{BENCH_USAGE}"
        );
        return EXIT_USAGE;
    }
    let mut runs = Vec::with_capacity(files.len());
    for file in &files {
        match compare::load(file) {
            Ok(run) => runs.push(run),
            Err(e) => {
                eprintln!("millrace bench compare: {e}");
                return EXIT_FAILURE;
            }
        }
    }
    print!("{}", compare::compare_table(&runs));
    if let Err(e) = write_outputs(&output, &[("compare.svg", compare::compare_chart(&runs))]) {
        eprintln!("millrace bench compare: {e}");
        return EXIT_FAILURE;
    }
    println!("wrote {}/compare.svg", output.display());
    EXIT_OK
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn flags_override_defaults_in_both_forms() {
        let w = build_workload(&args(&[
            "--rate",
            "500",
            "--message-size=100",
            "--duration",
            "2s",
        ]))
        .unwrap();
        assert_eq!(w.rate, 500);
        assert_eq!(w.message_size, 100);
        assert_eq!(w.name, "bench");
        assert!(build_workload(&args(&["--rate"])).is_err());
        assert!(build_workload(&args(&["stray"])).is_err());
        assert!(build_workload(&args(&["--nope", "1"])).is_err());
    }
}
