//! The simulator's runs.
//!
//! - `many_seeds_hold_every_invariant`: the CI run, seeds
//!   `MILLRACE_SIM_SEED_BASE..+MILLRACE_SIM_SEEDS` (default 0..`CI_SEEDS`).
//!   Extended mode: `MILLRACE_SIM_SEEDS=100000 cargo test --release --lib
//!   cluster::sim::tests::many_seeds -- --nocapture`, and
//!   `MILLRACE_SIM_SEED_BASE=random` for a fresh range each time.
//! - `replay_one_seed`: `MILLRACE_SIM_SEED=<seed>` replays one seed, printing
//!   every event; the failure message of any run prints this command.
//! - The planted-bug tests show the checker catches a controller that elects
//!   outside the ISR, fences without moving leadership, lets a fenced
//!   broker into an ISR, leaves a partition no eligible replica after a
//!   crash; each failure replays from its seed. The one for a registration
//!   that replaces a live process's is ignored: the faults seldom produce
//!   the late registration it needs.

use super::*;
use crate::cluster::controller::PlantedBugs;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

/// Seeds the default run covers.
const CI_SEEDS: u64 = 2000;

/// Seeds a planted bug gets to show itself in.
const PLANTED_BUG_SEEDS_MAX: u64 = 200;

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

/// Runs one seed; a panic inside counts as a failure of that seed.
fn run_caught(seed: u64, options: Options) -> Result<Stats, Failure> {
    match catch_unwind(AssertUnwindSafe(|| run(seed, options))) {
        Ok(result) => result,
        Err(panic) => {
            let what = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            Err(Failure {
                seed,
                at_ms: 0,
                event: 0,
                what: format!("panicked: {what}"),
            })
        }
    }
}

/// Runs `count` seeds from `base` on every core; returns the totals and the
/// failure with the lowest seed, if any.
fn run_seeds(base: u64, count: u64, options: Options) -> (Stats, Option<Failure>) {
    let next = AtomicU64::new(0);
    let totals = Mutex::new(Stats::default());
    let failure: Mutex<Option<Failure>> = Mutex::new(None);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    break;
                }
                let seed = base.wrapping_add(i);
                match run_caught(seed, options) {
                    Ok(stats) => add(&mut totals.lock().unwrap(), &stats),
                    Err(f) => {
                        let mut first = failure.lock().unwrap();
                        if first.as_ref().is_none_or(|g| f.seed < g.seed) {
                            *first = Some(f);
                        }
                        next.store(count, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    (totals.into_inner().unwrap(), failure.into_inner().unwrap())
}

fn add(total: &mut Stats, one: &Stats) {
    total.events += one.events;
    total.commits += one.commits;
    total.records += one.records;
    total.failovers += one.failovers;
    total.crashes += one.crashes;
    total.shutdowns += one.shutdowns;
    total.cuts += one.cuts;
    total.sim_ms += one.sim_ms;
    total.elections_isr += one.elections_isr;
    total.elections_elr += one.elections_elr;
    total.elections_unclean += one.elections_unclean;
    total.snapshot_loads += one.snapshot_loads;
    total.clean_exits += one.clean_exits;
    total.alter_ok += one.alter_ok;
    total.alter_refused += one.alter_refused;
    total.moves_completed += one.moves_completed;
    total.moves_cancelled += one.moves_cancelled;
    total.duplicate_refusals += one.duplicate_refusals;
    total.registrations += one.registrations;
    total.registration_wait_ms += one.registration_wait_ms;
    total.registration_wait_ms_max = total
        .registration_wait_ms_max
        .max(one.registration_wait_ms_max);
}

#[test]
fn many_seeds_hold_every_invariant() {
    if env_u64("MILLRACE_SIM_SEED").is_some() {
        return; // replay_one_seed runs it.
    }
    let base = match std::env::var("MILLRACE_SIM_SEED_BASE").as_deref() {
        Ok("random") => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64),
        _ => env_u64("MILLRACE_SIM_SEED_BASE").unwrap_or(0),
    };
    let count = env_u64("MILLRACE_SIM_SEEDS").unwrap_or(CI_SEEDS);
    let started = Instant::now();
    let (totals, failure) = run_seeds(base, count, Options::default());
    if let Some(failure) = failure {
        panic!("{failure}");
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "cluster sim: {count} seeds from {base} in {seconds:.1} s ({:.0} seeds/s): {} events, \
         {} commits, {} records, {} failovers, {} crashes, {} controlled shutdowns, {} cuts, \
         {:.0} simulated hours; leaders elected from ISR {}, ELR {}, uncleanly {}; {} snapshot \
         loads; {} clean exits; AlterPartition {} accepted, {} refused; {} duplicate \
         registrations refused; {} registrations, waited {:.0} ms on average, {} ms at most; \
         reassignments {} completed, {} cancelled",
        count as f64 / seconds,
        totals.events,
        totals.commits,
        totals.records,
        totals.failovers,
        totals.crashes,
        totals.shutdowns,
        totals.cuts,
        totals.sim_ms as f64 / 3_600_000.0,
        totals.elections_isr,
        totals.elections_elr,
        totals.elections_unclean,
        totals.snapshot_loads,
        totals.clean_exits,
        totals.alter_ok,
        totals.alter_refused,
        totals.duplicate_refusals,
        totals.registrations,
        totals.registration_wait_ms as f64 / totals.registrations.max(1) as f64,
        totals.registration_wait_ms_max,
        totals.moves_completed,
        totals.moves_cancelled,
    );
}

#[test]
fn replay_one_seed() {
    let Some(seed) = env_u64("MILLRACE_SIM_SEED") else {
        return;
    };
    let options = Options {
        trace: true,
        ..Options::default()
    };
    match run_caught(seed, options) {
        Ok(stats) => println!("seed {seed} passed: {stats:?}"),
        Err(failure) => panic!("{failure}"),
    }
}

#[test]
fn same_seed_same_run() {
    for seed in [7, 1234] {
        let first = run(seed, Options::default()).unwrap();
        let second = run(seed, Options::default()).unwrap();
        assert_eq!(first, second, "seed {seed} ran differently twice");
    }
}

/// Runs seeds with `bugs` planted until one fails; returns the failure.
fn first_failure(bugs: PlantedBugs) -> Failure {
    let options = Options {
        bugs,
        ..Options::default()
    };
    let (_, failure) = run_seeds(0, PLANTED_BUG_SEEDS_MAX, options);
    failure
        .unwrap_or_else(|| panic!("{PLANTED_BUG_SEEDS_MAX} seeds missed the planted bug {bugs:?}"))
}

#[test]
fn checker_catches_an_election_that_ignores_the_isr() {
    let bugs = PlantedBugs {
        election_ignores_isr: true,
        ..PlantedBugs::default()
    };
    let failure = first_failure(bugs);
    println!("planted bug caught: {failure}");
    assert!(
        failure.what.contains("not in the ISR") || failure.what.contains("from outside ISR"),
        "{failure}"
    );
    let replayed = run(
        failure.seed,
        Options {
            bugs,
            ..Options::default()
        },
    )
    .unwrap_err();
    assert_eq!(
        (replayed.at_ms, replayed.event),
        (failure.at_ms, failure.event),
        "replays exactly"
    );
}

#[test]
fn checker_catches_fencing_that_keeps_leadership() {
    let bugs = PlantedBugs {
        fence_keeps_leadership: true,
        ..PlantedBugs::default()
    };
    let failure = first_failure(bugs);
    println!("planted bug caught: {failure}");
    assert!(failure.what.contains("fenced"), "{failure}");
}

#[test]
fn checker_catches_an_isr_expansion_to_a_fenced_broker() {
    // First found as a scratch change (the IneligibleReplica check removed):
    // seed 0 failed at 15928 ms, event 1681, "fenced broker 8 stays in ISR".
    let bugs = PlantedBugs {
        alter_accepts_ineligible: true,
        ..PlantedBugs::default()
    };
    let failure = first_failure(bugs);
    println!("planted bug caught: {failure}");
    assert!(failure.what.contains("fenced broker"), "{failure}");
}

#[test]
fn checker_catches_a_crash_that_leaves_no_eligible_replica() {
    // Kafka's KIP-966 rule, millrace's until issue 13: a broker back from a
    // crash left every ELR, so the last eligible replica's crash emptied both
    // ISR and ELR and the partition stayed offline (the Jepsen runs' "leader
    // -1, empty ISR").
    let bugs = PlantedBugs {
        crash_leaves_elr: true,
        ..PlantedBugs::default()
    };
    let failure = first_failure(bugs);
    println!("planted bug caught: {failure}");
    assert!(failure.what.contains("ISR and ELR both empty"), "{failure}");
}

#[test]
fn checker_catches_a_reassignment_that_drops_replicas_before_the_new_ones_sync() {
    let bugs = PlantedBugs {
        reassignment_skips_sync: true,
        ..PlantedBugs::default()
    };
    let failure = first_failure(bugs);
    println!("planted bug caught: {failure}");
    assert!(failure.what.contains("left before"), "{failure}");
}

#[test]
#[ignore = "the fault model seldom delays a dead process's registration past its successor's: \
            200 seeds with sessions ignored altogether missed it (2026-12-03); needs a fault \
            that replays a dead incarnation's registration late"]
fn checker_catches_a_registration_that_replaces_a_live_process() {
    let bugs = PlantedBugs {
        registration_ignores_sessions: true,
        ..PlantedBugs::default()
    };
    let failure = first_failure(bugs);
    println!("planted bug caught: {failure}");
    assert!(
        failure.what.contains("running process's registration"),
        "{failure}"
    );
}

#[test]
fn seeds_that_once_failed_pass() {
    // 1003557 (extended run): a failover committed several pending batches
    // and the checker recorded only the last batch end, so a snapshot taken
    // at an earlier one looked foreign to the broker that loaded it.
    for seed in [1003557] {
        if let Err(failure) = run(seed, Options::default()) {
            panic!("{failure}");
        }
    }
}
