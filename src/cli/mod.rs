//! The `millrace` command line.
//!
//! ```text
//! millrace serve [CONFIG_FILE] [--override key=value]...
//! millrace serve --help        # every configuration key, its default and meaning
//! millrace --version
//! millrace group list|describe|delete|reset-offsets ...   # see [`group`]
//! millrace topic create|list|describe|alter-config|delete ...  # see [`topic`]
//! millrace produce TOPIC ...   # see [`produce`]
//! millrace consume TOPIC ...   # see [`consume`]
//! millrace cluster local --brokers N ...   # see [`cluster`]
//! millrace bench [--workload FILE] [--KEY VALUE]... | bench compare ...   # see [`bench`]
//! ```
//! Exit codes: 0 success, 1 runtime failure, 2 bad usage or configuration.

pub mod bench;
pub mod cluster;
pub mod console;
pub mod consume;
pub mod group;
pub mod kafka_style;
pub mod produce;
pub mod topic;
pub mod topic_stats;

use crate::config::Config;
use crate::logging;
use std::path::PathBuf;

/// Exit code for success.
pub const EXIT_OK: i32 = 0;
/// Exit code for a failure while running.
pub const EXIT_FAILURE: i32 = 1;
/// Exit code for bad arguments or configuration.
pub const EXIT_USAGE: i32 = 2;

const USAGE: &str = "\
millrace: a Kafka-compatible streaming broker, thread-per-core on io_uring

Usage:
  millrace serve [CONFIG_FILE] [--override key=value]...
      Run a broker. CONFIG_FILE is a Kafka-style properties file; without one
      the documented defaults are used (listener 127.0.0.1:9092, data in
      /tmp/millrace-logs). --override sets one key and may repeat.
  millrace serve --help     List every configuration key.
  millrace --version        Print the version.
";

/// USAGE followed by the admin and console subcommands.
fn usage() -> String {
    format!(
        "{USAGE}{}{}{}{}{}{}",
        cluster::usage(),
        group::GROUP_USAGE,
        topic::TOPIC_USAGE,
        produce::PRODUCE_USAGE,
        consume::CONSUME_USAGE,
        bench::BENCH_USAGE
    )
}

/// Runs the command line; returns the process exit code.
pub fn main() -> i32 {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("serve") => serve(&args[1..]),
        Some("cluster") => cluster::run(&args[1..]),
        Some("group") => group::run(&args[1..]),
        Some("topic") => topic::run(&args[1..]),
        Some("produce") => produce::run(&args[1..]),
        Some("consume") => consume::run(&args[1..]),
        Some("bench") => bench::run(&args[1..]),
        Some("--version") | Some("-V") => {
            println!("millrace {}", env!("CARGO_PKG_VERSION"));
            EXIT_OK
        }
        Some("--help") | Some("-h") | Some("help") | None => {
            print!("{}", usage());
            if args.is_empty() {
                EXIT_USAGE
            } else {
                EXIT_OK
            }
        }
        Some(other) => {
            eprintln!("millrace: unknown command {other:?}\n\n{}", usage());
            EXIT_USAGE
        }
    }
}

/// Parsed `serve` arguments.
#[derive(Debug, Default, PartialEq, Eq)]
struct ServeArgs {
    config_file: Option<PathBuf>,
    overrides: Vec<String>,
    help: bool,
}

fn parse_serve_args(args: &[String]) -> Result<ServeArgs, String> {
    let mut parsed = ServeArgs::default();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--help" | "-h" => parsed.help = true,
            "--override" => {
                let value = rest.next().ok_or("--override needs key=value after it")?;
                parsed.overrides.push(value.clone());
            }
            other if other.starts_with("--override=") => {
                parsed
                    .overrides
                    .push(other["--override=".len()..].to_string());
            }
            other if other.starts_with('-') => return Err(format!("unknown option {other:?}")),
            file if parsed.config_file.is_none() => parsed.config_file = Some(PathBuf::from(file)),
            extra => return Err(format!("unexpected argument {extra:?}")),
        }
    }
    Ok(parsed)
}

fn serve(args: &[String]) -> i32 {
    let parsed = match parse_serve_args(args) {
        Ok(parsed) => parsed,
        Err(e) => {
            eprintln!("millrace serve: {e}\n\n{USAGE}");
            return EXIT_USAGE;
        }
    };
    if parsed.help {
        print!("{USAGE}\nConfiguration keys:\n{}", Config::help_text());
        return EXIT_OK;
    }
    let config = match Config::load(parsed.config_file.as_deref(), &parsed.overrides) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("millrace serve: configuration error: {e}");
            return EXIT_USAGE;
        }
    };
    if let Err(e) = logging::init(&config.log_level) {
        eprintln!("millrace serve: {e}");
        return EXIT_USAGE;
    }
    if let Err(e) = crate::cluster::member::check_voters(&config) {
        log::error!("{e}");
        eprintln!("millrace serve: configuration error: {e}");
        return EXIT_USAGE;
    }
    log_config_notes(&config);
    match crate::server::run(config) {
        Ok(()) => EXIT_OK,
        Err(e) => {
            log::error!("{e}");
            eprintln!("millrace serve: {e}");
            EXIT_FAILURE
        }
    }
}

/// One line per accepted-and-ignored key and per KRaft key a single node
/// treats its own way, each saying why.
fn log_config_notes(config: &Config) {
    for key in &config.ignored_keys {
        let why = crate::config::ignored_why(key).unwrap_or_default();
        // A rack asks for rack-aware placement, which an operator must not
        // assume: warn when one is set.
        let rack_set = key == "broker.rack"
            && (config.static_keys.iter()).any(|(k, v)| k == key && !v.trim().is_empty());
        match rack_set {
            true => log::warn!("configuration key {key} is accepted and ignored: {why}"),
            false => log::info!("configuration key {key} is accepted and ignored: {why}"),
        }
    }
    if let Some(cluster) = config.cluster_membership() {
        log::info!("{}: this node is one member of a cluster", cluster.key);
        return;
    }
    for note in config.kraft.notes(&config.listeners) {
        log::info!("{note}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_file_and_overrides_in_both_forms() {
        let parsed = parse_serve_args(&args(&[
            "server.properties",
            "--override",
            "log.dirs=/tmp/x",
            "--override=num.partitions=6",
        ]))
        .unwrap();
        assert_eq!(parsed.config_file, Some(PathBuf::from("server.properties")));
        assert_eq!(
            parsed.overrides,
            vec!["log.dirs=/tmp/x", "num.partitions=6"]
        );
    }

    #[test]
    fn rejects_dangling_override_and_unknown_options() {
        assert!(parse_serve_args(&args(&["--override"])).is_err());
        assert!(parse_serve_args(&args(&["--bogus"])).is_err());
        assert!(parse_serve_args(&args(&["a", "b"])).is_err());
    }
}
