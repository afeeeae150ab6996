//! `millrace cluster`: a local development cluster ([`local`]) and the
//! status of any KRaft cluster ([`status`]).
//!
//! ```text
//! millrace cluster local --brokers N [--dir DIR] [--base-port P]
//! millrace cluster status [--bootstrap HOST:PORT]
//! ```

pub mod files;
pub mod local;
pub mod status;

use super::EXIT_USAGE;

/// Usage text of `millrace cluster`.
pub fn usage() -> String {
    format!("{}{}", local::LOCAL_USAGE, status::STATUS_USAGE)
}

/// Runs `millrace cluster ARGS...`; returns the exit code.
pub fn run(args: &[String]) -> i32 {
    match args.first().map(String::as_str) {
        Some("local") => local::run(&args[1..]),
        Some("status") => status::run(&args[1..]),
        other => {
            let what = other.map_or("missing subcommand".to_string(), |o| {
                format!("unknown subcommand {o:?}")
            });
            eprintln!("millrace cluster: {what}\n\nUsage:\n{}", usage());
            EXIT_USAGE
        }
    }
}
