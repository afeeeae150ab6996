//! rdkafka-bench: producer/consumer throughput against a Kafka-compatible broker with native
//! librdkafka, so the broker rather than the client is what gets measured.
//! Prints one JSON line per phase on stdout; diagnostics go to stderr.

mod admin;
mod args;
mod consume;
mod context;
mod error;
mod produce;
mod report;

use std::process::ExitCode;

use args::{Acks, ArgsError, BenchArgs, Mode};
use error::BenchError;
use report::PhaseReport;

fn main() -> ExitCode {
    let args = match args::parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(ArgsError::HelpRequested) => {
            println!("{}", args::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(error) => {
            eprintln!("rdkafka-bench: {error}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("rdkafka-bench: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &BenchArgs) -> Result<(), BenchError> {
    let (_, librdkafka_version) = rdkafka::util::get_rdkafka_version();
    let print =
        |report: &PhaseReport| println!("{}", report.to_json_line(args, &librdkafka_version));
    if admin::ensure_topic(&args.bootstrap, &args.topic, args.partitions)? {
        eprintln!(
            "created topic {} with {} partition(s)",
            args.topic, args.partitions
        );
    }
    let before = consume::partition_watermarks(&args.bootstrap, &args.topic)?;
    match args.mode {
        Mode::Produce => print(&produce::run_produce(args)?),
        Mode::Consume => {
            let low_offsets: Vec<i64> = before.iter().map(|&(low, _)| low).collect();
            print(&checked_consume(args, &low_offsets, args.records)?);
        }
        Mode::Both => {
            print(&produce::run_produce(args)?);
            if args.acks != Acks::None {
                check_watermarks_grew(args, &before)?;
            }
            let high_offsets: Vec<i64> = before.iter().map(|&(_, high)| high).collect();
            print(&checked_consume(args, &high_offsets, args.records)?);
        }
    }
    Ok(())
}

/// Consumes and fails unless exactly `expected` records and bytes came back.
fn checked_consume(
    args: &BenchArgs,
    start_offsets: &[i64],
    expected: u64,
) -> Result<PhaseReport, BenchError> {
    let report = consume::run_consume(args, start_offsets, expected)?;
    let expected_bytes = expected * args.record_size_bytes as u64;
    if report.records != expected || report.payload_bytes != expected_bytes {
        return Err(BenchError::Mismatch(format!(
            "consumed {} records / {} bytes, expected {expected} / {expected_bytes}",
            report.records, report.payload_bytes
        )));
    }
    Ok(report)
}

/// Acknowledged records must have moved the high watermarks by exactly the record count.
fn check_watermarks_grew(args: &BenchArgs, before: &[(i64, i64)]) -> Result<(), BenchError> {
    let after = consume::partition_watermarks(&args.bootstrap, &args.topic)?;
    let grown: i64 = after
        .iter()
        .zip(before)
        .map(|(&(_, high_after), &(_, high_before))| high_after - high_before)
        .sum();
    if grown != args.records as i64 {
        return Err(BenchError::Mismatch(format!(
            "high watermarks grew by {grown}, {} records were acknowledged",
            args.records
        )));
    }
    Ok(())
}
