//! The text form of a fault plan, for the test-only `storage.fault.plan`
//! key: rules separated by `;`, each `kind[:key=value]...`:
//!
//! - `fail-write:nth=N[:file=S]`, `fail-sync:nth=N[:file=S]`
//! - `nospace-write:nth=N[:file=S]` (that write fails with ENOSPC)
//! - `lying-sync:from=N[:file=S]`
//! - `short-write:nth=N:bytes=B[:file=S]`, `torn-write:nth=N:bytes=B[:file=S]`
//! - `nospace:after=B` (files may grow by B bytes in total)
//! - `slow-write:ms=M[:from=N][:file=S]`, `slow-sync:ms=M[:from=N][:file=S]`
//!   (from the Nth on, default 1, each waits M ms: a slow or hung device)
//!
//! `file=S` limits a rule to paths containing `S` (e.g. `events-0/`).

use super::fault::{Fault, FaultPlan, FaultRule};

/// The environment variable that must be `1` for the broker to accept a
/// fault plan: a production broker must never inject faults by accident.
pub const FAULT_INJECTION_ENV: &str = "MILLRACE_ALLOW_FAULT_INJECTION";

/// Parses a plan; the error says which rule is wrong.
pub fn parse_fault_plan(text: &str) -> Result<FaultPlan, String> {
    let mut rules = Vec::new();
    let mut space_bytes = None;
    for rule_text in text.split(';').map(str::trim).filter(|r| !r.is_empty()) {
        let mut parts = rule_text.split(':');
        let kind = parts.next().unwrap_or_default();
        let mut args = RuleArgs::default();
        for part in parts {
            let (key, value) = part
                .split_once('=')
                .ok_or_else(|| format!("{rule_text:?}: expected key=value, got {part:?}"))?;
            args.set(key, value)
                .map_err(|reason| format!("{rule_text:?}: {reason}"))?;
        }
        let need = |value: Option<u64>, key: &str| {
            value.ok_or_else(|| format!("{rule_text:?}: missing {key}="))
        };
        let fault = match kind {
            "fail-write" => Fault::FailWrite {
                nth: need(args.nth, "nth")?,
            },
            "fail-sync" => Fault::FailSync {
                nth: need(args.nth, "nth")?,
            },
            "nospace-write" => Fault::NoSpaceWrite {
                nth: need(args.nth, "nth")?,
            },
            "lying-sync" => Fault::LyingSync {
                from_nth: need(args.from, "from")?,
            },
            "short-write" => Fault::ShortWrite {
                nth: need(args.nth, "nth")?,
                bytes: need(args.bytes, "bytes")? as usize,
            },
            "torn-write" => Fault::TornWriteThenCrash {
                nth: need(args.nth, "nth")?,
                bytes: need(args.bytes, "bytes")? as usize,
            },
            "slow-write" => Fault::SlowWrite {
                from_nth: args.from.unwrap_or(1),
                ms: need(args.ms, "ms")?,
            },
            "slow-sync" => Fault::SlowSync {
                from_nth: args.from.unwrap_or(1),
                ms: need(args.ms, "ms")?,
            },
            "slow-zero-write" => Fault::SlowZeroWrite {
                ms: need(args.ms, "ms")?,
            },
            "nospace" => {
                space_bytes = Some(need(args.after, "after")?);
                continue;
            }
            other => return Err(format!("unknown fault kind {other:?}")),
        };
        rules.push(FaultRule {
            file_contains: args.file.unwrap_or_default(),
            fault,
        });
    }
    let plan = FaultPlan::new(rules);
    Ok(match space_bytes {
        Some(bytes) => plan.with_space_bytes(bytes),
        None => plan,
    })
}

#[derive(Default)]
struct RuleArgs {
    nth: Option<u64>,
    from: Option<u64>,
    bytes: Option<u64>,
    after: Option<u64>,
    ms: Option<u64>,
    file: Option<String>,
}

impl RuleArgs {
    fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        if key == "file" {
            self.file = Some(value.to_string());
            return Ok(());
        }
        let number: u64 = value
            .parse()
            .map_err(|_| format!("{key}={value:?} is not a number"))?;
        let slot = match key {
            "nth" => &mut self.nth,
            "from" => &mut self.from,
            "bytes" => &mut self.bytes,
            "after" => &mut self.after,
            "ms" => &mut self.ms,
            _ => return Err(format!("unknown key {key:?}")),
        };
        *slot = Some(number);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_kind() {
        let plan = parse_fault_plan(
            "fail-sync:nth=3:file=events-0/; fail-write:nth=1; lying-sync:from=2; \
             short-write:nth=4:bytes=100; torn-write:nth=5:bytes=7; nospace:after=4096; \
             nospace-write:nth=6; slow-sync:ms=250:file=x-1/; slow-write:ms=9:from=3",
        )
        .unwrap();
        let text = format!("{plan:?}");
        assert!(text.contains("FailSync { nth: 3 }"), "{text}");
        assert!(text.contains("events-0/"), "{text}");
        assert!(
            text.contains("TornWriteThenCrash { nth: 5, bytes: 7 }"),
            "{text}"
        );
        assert!(text.contains("space_left_bytes: Some(4096)"), "{text}");
        assert!(text.contains("NoSpaceWrite { nth: 6 }"), "{text}");
        assert!(text.contains("SlowSync { from_nth: 1, ms: 250 }"), "{text}");
        assert!(text.contains("SlowWrite { from_nth: 3, ms: 9 }"), "{text}");
    }

    #[test]
    fn rejects_bad_rules() {
        assert!(parse_fault_plan("explode:nth=1").is_err());
        assert!(parse_fault_plan("fail-sync").is_err());
        assert!(parse_fault_plan("fail-sync:nth=x").is_err());
        assert!(parse_fault_plan("fail-sync:when=1").is_err());
        assert!(parse_fault_plan("fail-sync:nth").is_err());
        assert!(parse_fault_plan("slow-sync:from=2").is_err());
    }
}
