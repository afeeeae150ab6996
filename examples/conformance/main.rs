//! Differential conformance against Apache Kafka: sends the same requests to a Kafka broker and
//! to millrace, decodes both answers with kafka-protocol and prints, per request, every field
//! that differs (a JSON array on stdout). Judging the differences (allowed, known, new) is the
//! caller's job: tests/test_conformance_against_apache_kafka.py.
//!
//!   conformance corpus --kafka HOST:PORT --millrace HOST:PORT --scope PREFIX
//!   conformance replay --kafka HOST:PORT --millrace HOST:PORT --scope PREFIX --recording FILE
//!
//! `corpus` runs the built-in sequences (corpus/); `replay` sends what a real client sent,
//! recorded by tests/conformance/record.py, giving each broker its own member and producer ids
//! (PREFIX must then be 8 bytes: it replaces the recording's name token).
//! Every topic and group name a sequence uses starts with PREFIX.

mod batch;
mod corpus;
mod flatten;
mod recording;
mod replay;
mod run;
mod substitute;
mod wire;

use run::{Runner, Target};
use std::process::ExitCode;

struct Args {
    mode: String,
    kafka: String,
    millrace: String,
    scope: String,
    recording: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut argv = std::env::args().skip(1);
    let mode = argv
        .next()
        .ok_or("usage: conformance corpus|replay --kafka A --millrace A --scope P")?;
    let (mut kafka, mut millrace, mut scope, mut recording) = (None, None, None, None);
    while let Some(flag) = argv.next() {
        let value = argv.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--kafka" => kafka = Some(value),
            "--millrace" => millrace = Some(value),
            "--scope" => scope = Some(value),
            "--recording" => recording = Some(value),
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok(Args {
        mode,
        kafka: kafka.ok_or("--kafka is required")?,
        millrace: millrace.ok_or("--millrace is required")?,
        scope: scope.ok_or("--scope is required")?,
        recording,
    })
}

fn run(args: Args) -> Result<String, String> {
    let targets = vec![
        Target::open("kafka", &args.kafka)?,
        Target::open("millrace", &args.millrace)?,
    ];
    let mut runner = Runner::new(targets, &args.scope);
    runner.warm_up(&format!("{}warm-up", args.scope))?;
    match args.mode.as_str() {
        "corpus" => corpus::run_all(&mut runner)?,
        "replay" => {
            let path = args.recording.ok_or("replay needs --recording FILE")?;
            replay::run(&mut runner, &path)?;
        }
        other => return Err(format!("unknown mode {other}")),
    }
    Ok(runner.report())
}

fn main() -> ExitCode {
    match parse_args().and_then(run) {
        Ok(report) => {
            print!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("conformance: {e}");
            ExitCode::FAILURE
        }
    }
}
