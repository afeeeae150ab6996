//! `millrace group`: consumer group administration over the Kafka protocol.
//!
//! ```text
//! millrace group list                     [--bootstrap HOST:PORT]
//! millrace group describe GROUP           [--bootstrap HOST:PORT]
//! millrace group delete GROUP             [--bootstrap HOST:PORT]
//! millrace group reset-offsets GROUP --topic T [--partitions 0,1]
//!     (--to-earliest | --to-latest | --to-offset N) [--execute] [--bootstrap HOST:PORT]
//! ```
//! `--bootstrap` defaults to 127.0.0.1:9092. The commands talk to any Kafka
//! broker (they find the group's coordinator and each partition's leader),
//! not only to millrace.
//!
//! `describe` prints the group's state and one line per committed or assigned
//! partition: GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG CONSUMER-ID.
//!
//! `reset-offsets` prints the plan (TOPIC PARTITION CURRENT NEW) and commits it
//! only with `--execute`, like `kafka-consumer-groups --reset-offsets`. It
//! refuses (exit 1) while the group has members, i.e. its state is not Empty
//! or Dead. `--to-offset N` is clamped into each partition's
//! [earliest, latest] range, as Kafka's tool does.
//!
//! Exit codes: 0 success, 1 broker or runtime error (message on stderr),
//! 2 usage error.

use super::console::{format_table, run_command, CommandError};
use crate::client::admin::{OffsetSpec, TopicPartition, NO_COMMITTED_OFFSET};
use crate::client::{ClientError, KafkaClient};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Bootstrap broker when `--bootstrap` is not given.
pub const DEFAULT_BOOTSTRAP: &str = "127.0.0.1:9092";
/// Connect, read and write timeout of every broker connection.
const REQUEST_TIMEOUT_MS: u64 = 30_000;
/// Group states in which offsets may be reset (no live members).
const INACTIVE_STATES: &[&str] = &["Empty", "Dead"];
/// Shown for a missing value in a table cell.
const NONE_CELL: &str = "-";

/// Usage text of `millrace group`.
pub const GROUP_USAGE: &str = "\
  millrace group list [--bootstrap HOST:PORT]
  millrace group describe GROUP [--bootstrap HOST:PORT]
  millrace group delete GROUP [--bootstrap HOST:PORT]
  millrace group reset-offsets GROUP --topic T [--partitions 0,1]
      (--to-earliest | --to-latest | --to-offset N) [--execute] [--bootstrap HOST:PORT]
      Consumer group administration over the Kafka protocol (any Kafka broker).
      reset-offsets prints the plan and applies it only with --execute; it
      refuses while the group has active members. --bootstrap defaults to
      127.0.0.1:9092. kafka-consumer-groups' form works too: --list,
      --describe, --delete, --reset-offsets with --group G.
";

/// Where `reset-offsets` moves a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ResetTarget {
    Earliest,
    Latest,
    Offset(i64),
}

/// A parsed `millrace group` command.
#[derive(Debug, Clone, PartialEq, Eq)]
enum GroupCommand {
    List,
    Describe {
        group: String,
    },
    Delete {
        group: String,
    },
    ResetOffsets {
        group: String,
        topic: String,
        partitions: Option<Vec<i32>>,
        target: ResetTarget,
        execute: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct GroupArgs {
    bootstrap: String,
    command: GroupCommand,
}

/// Options gathered before the command is assembled.
#[derive(Debug, Default)]
struct Options {
    bootstrap: Option<String>,
    topic: Option<String>,
    partitions: Option<Vec<i32>>,
    targets: Vec<ResetTarget>,
    execute: bool,
    positional: Vec<String>,
}

/// Runs `millrace group ARGS...`; returns the exit code.
pub fn run(args: &[String]) -> i32 {
    run_command("group", GROUP_USAGE, args, parse_group_args, execute)
}

fn parse_group_args(args: &[String]) -> Result<GroupArgs, String> {
    let (subcommand, rest) = args.split_first().ok_or("missing subcommand")?;
    let options = parse_options(rest)?;
    let command = build_command(subcommand, &options)?;
    Ok(GroupArgs {
        bootstrap: options
            .bootstrap
            .unwrap_or_else(|| DEFAULT_BOOTSTRAP.to_string()),
        command,
    })
}

fn parse_options(args: &[String]) -> Result<Options, String> {
    let mut options = Options::default();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let mut value = |name: &str| {
            rest.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match arg.as_str() {
            "--bootstrap" | "--bootstrap-server" => options.bootstrap = Some(value(arg)?),
            "--topic" => options.topic = Some(value(arg)?),
            "--partitions" => options.partitions = Some(parse_partitions(&value(arg)?)?),
            "--to-earliest" => options.targets.push(ResetTarget::Earliest),
            "--to-latest" => options.targets.push(ResetTarget::Latest),
            "--to-offset" => {
                let text = value(arg)?;
                let offset = text
                    .parse::<i64>()
                    .ok()
                    .filter(|o| *o >= 0)
                    .ok_or_else(|| {
                        format!("--to-offset needs a non-negative number, got {text:?}")
                    })?;
                options.targets.push(ResetTarget::Offset(offset));
            }
            "--execute" => options.execute = true,
            other if other.starts_with('-') => return Err(format!("unknown option {other:?}")),
            positional => options.positional.push(positional.to_string()),
        }
    }
    Ok(options)
}

fn parse_partitions(text: &str) -> Result<Vec<i32>, String> {
    let partitions: BTreeSet<i32> = text
        .split(',')
        .map(|p| {
            p.trim()
                .parse::<i32>()
                .ok()
                .filter(|p| *p >= 0)
                .ok_or_else(|| format!("bad partition {p:?} in --partitions"))
        })
        .collect::<Result<_, _>>()?;
    Ok(partitions.into_iter().collect())
}

fn build_command(subcommand: &str, options: &Options) -> Result<GroupCommand, String> {
    let reset_only = options.topic.is_some()
        || options.partitions.is_some()
        || !options.targets.is_empty()
        || options.execute;
    if subcommand != "reset-offsets" && reset_only {
        return Err(format!(
            "{subcommand}: only reset-offsets takes --topic, --partitions, --to-* or --execute"
        ));
    }
    match subcommand {
        "list" => {
            no_positional(subcommand, options, 0)?;
            Ok(GroupCommand::List)
        }
        "describe" => Ok(GroupCommand::Describe {
            group: one_group(subcommand, options)?,
        }),
        "delete" => Ok(GroupCommand::Delete {
            group: one_group(subcommand, options)?,
        }),
        "reset-offsets" => build_reset(options),
        other => Err(format!("unknown subcommand {other:?}")),
    }
}

fn build_reset(options: &Options) -> Result<GroupCommand, String> {
    let group = one_group("reset-offsets", options)?;
    let topic = options.topic.clone().ok_or("reset-offsets needs --topic")?;
    let target = match options.targets.as_slice() {
        [target] => *target,
        [] => {
            return Err(
                "reset-offsets needs one of --to-earliest, --to-latest, --to-offset N".into(),
            )
        }
        _ => {
            return Err(
                "reset-offsets takes only one of --to-earliest, --to-latest, --to-offset".into(),
            )
        }
    };
    Ok(GroupCommand::ResetOffsets {
        group,
        topic,
        partitions: options.partitions.clone(),
        target,
        execute: options.execute,
    })
}

fn one_group(subcommand: &str, options: &Options) -> Result<String, String> {
    no_positional(subcommand, options, 1)?;
    Ok(options.positional[0].clone())
}

fn no_positional(subcommand: &str, options: &Options, expected: usize) -> Result<(), String> {
    if options.positional.len() == expected {
        Ok(())
    } else if expected == 0 {
        Err(format!(
            "{subcommand} takes no arguments, got {:?}",
            options.positional
        ))
    } else {
        Err(format!(
            "{subcommand} needs exactly one GROUP, got {:?}",
            options.positional
        ))
    }
}

fn timeout() -> Duration {
    Duration::from_millis(REQUEST_TIMEOUT_MS)
}

fn execute(args: &GroupArgs) -> Result<(), CommandError> {
    let mut bootstrap = KafkaClient::connect(&args.bootstrap, timeout())?;
    match &args.command {
        GroupCommand::List => list(&mut bootstrap),
        GroupCommand::Describe { group } => describe(&mut bootstrap, group),
        GroupCommand::Delete { group } => delete(&mut bootstrap, group),
        GroupCommand::ResetOffsets {
            group,
            topic,
            partitions,
            target,
            execute,
        } => {
            let request = ResetRequest {
                group,
                topic,
                partitions: partitions.as_deref(),
                target: *target,
                execute: *execute,
            };
            reset_offsets(&mut bootstrap, &request)
        }
    }
}

fn list(bootstrap: &mut KafkaClient) -> Result<(), CommandError> {
    // ListGroups answers only for the groups a broker coordinates: ask every broker.
    let metadata = bootstrap.metadata(Some(&[]))?;
    let mut groups = BTreeMap::new();
    for address in metadata.brokers.values() {
        let mut broker = KafkaClient::connect(address, timeout())?;
        for listing in broker.list_groups()? {
            groups.insert(listing.group_id.clone(), listing);
        }
    }
    let rows = groups
        .values()
        .map(|g| {
            vec![
                g.group_id.clone(),
                g.state.clone().unwrap_or_else(|| NONE_CELL.to_string()),
                or_none(&g.protocol_type),
            ]
        })
        .collect();
    print_table(&["GROUP", "STATE", "PROTOCOL-TYPE"], rows);
    Ok(())
}

fn coordinator_client(
    bootstrap: &mut KafkaClient,
    group: &str,
) -> Result<KafkaClient, ClientError> {
    let coordinator = bootstrap.find_coordinator(group)?;
    KafkaClient::connect(&coordinator.address, timeout())
}

fn delete(bootstrap: &mut KafkaClient, group: &str) -> Result<(), CommandError> {
    let mut coordinator = coordinator_client(bootstrap, group)?;
    let results = coordinator.delete_groups(&[group])?;
    let code = results.get(group).copied().ok_or_else(|| {
        ClientError::Protocol(format!("DeleteGroups answer has no entry for {group:?}"))
    })?;
    ClientError::check(code, None).map_err(CommandError::Client)?;
    println!("Deleted group {group}");
    Ok(())
}

fn describe(bootstrap: &mut KafkaClient, group: &str) -> Result<(), CommandError> {
    let mut coordinator = coordinator_client(bootstrap, group)?;
    let description = coordinator.describe_group(group)?;
    let committed = coordinator.offset_fetch(group, None)?;
    let mut owners: BTreeMap<TopicPartition, String> = BTreeMap::new();
    for member in &description.members {
        for tp in &member.assignment {
            owners.insert(tp.clone(), member.member_id.clone());
        }
    }
    let partitions: BTreeSet<TopicPartition> =
        committed.keys().chain(owners.keys()).cloned().collect();
    let log_end = log_end_offsets(bootstrap, &partitions)?;
    println!(
        "Group {group} is {} with {} member(s)\n",
        description.state,
        description.members.len()
    );
    let rows = partitions
        .iter()
        .map(|tp| {
            let current = committed
                .get(tp)
                .copied()
                .filter(|o| *o != NO_COMMITTED_OFFSET);
            let end = log_end.get(tp).copied();
            let lag = current.zip(end).map(|(c, e)| (e - c).max(0));
            vec![
                group.to_string(),
                tp.0.clone(),
                tp.1.to_string(),
                cell(current),
                cell(end),
                cell(lag),
                owners
                    .get(tp)
                    .cloned()
                    .unwrap_or_else(|| NONE_CELL.to_string()),
            ]
        })
        .collect();
    print_table(
        &[
            "GROUP",
            "TOPIC",
            "PARTITION",
            "CURRENT-OFFSET",
            "LOG-END-OFFSET",
            "LAG",
            "CONSUMER-ID",
        ],
        rows,
    );
    Ok(())
}

/// Log end offsets of `partitions`, asked of each partition's leader;
/// partitions of unknown topics are left out.
fn log_end_offsets(
    bootstrap: &mut KafkaClient,
    partitions: &BTreeSet<TopicPartition>,
) -> Result<BTreeMap<TopicPartition, i64>, ClientError> {
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (topic, partition) in partitions {
        by_topic.entry(topic.as_str()).or_default().push(*partition);
    }
    let mut offsets = BTreeMap::new();
    for (topic, wanted) in by_topic {
        let found = partition_offsets(bootstrap, topic, Some(&wanted), OffsetSpec::Latest)?;
        for (partition, offset) in found.unwrap_or_default() {
            offsets.insert((topic.to_string(), partition), offset);
        }
    }
    Ok(offsets)
}

/// Offsets by `spec` for `partitions` of `topic` (all when `None`), asked of
/// each leader. `None` when the topic does not exist.
fn partition_offsets(
    bootstrap: &mut KafkaClient,
    topic: &str,
    partitions: Option<&[i32]>,
    spec: OffsetSpec,
) -> Result<Option<BTreeMap<i32, i64>>, ClientError> {
    let metadata = bootstrap.metadata(Some(&[topic]))?;
    let Some(topic_metadata) = metadata
        .topics
        .get(topic)
        .filter(|t| t.error_code == crate::protocol::error_code::NONE)
    else {
        return Ok(None);
    };
    let mut by_leader: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
    for (partition, leader) in &topic_metadata.partition_leaders {
        if partitions.is_none_or(|wanted| wanted.contains(partition)) {
            by_leader.entry(*leader).or_default().push(*partition);
        }
    }
    let mut offsets = BTreeMap::new();
    for (leader, leader_partitions) in by_leader {
        let address = metadata.brokers.get(&leader).ok_or_else(|| {
            ClientError::Protocol(format!(
                "{topic}: leader {leader} is not in the broker list"
            ))
        })?;
        let mut client = KafkaClient::connect(address, timeout())?;
        offsets.extend(client.list_offsets(topic, &leader_partitions, spec)?);
    }
    Ok(Some(offsets))
}

/// The arguments of one `reset-offsets`.
struct ResetRequest<'a> {
    group: &'a str,
    topic: &'a str,
    partitions: Option<&'a [i32]>,
    target: ResetTarget,
    execute: bool,
}

fn reset_offsets(
    bootstrap: &mut KafkaClient,
    request: &ResetRequest<'_>,
) -> Result<(), CommandError> {
    let group = request.group;
    let mut coordinator = coordinator_client(bootstrap, group)?;
    let description = coordinator.describe_group(group)?;
    if !INACTIVE_STATES.contains(&description.state.as_str()) {
        return Err(CommandError::Failed(format!(
            "offsets of group {group} can only be reset while it is inactive, but it is {} with {} member(s); stop its consumers first",
            description.state,
            description.members.len()
        )));
    }
    let plan = reset_plan(bootstrap, &mut coordinator, request)?;
    let rows = plan
        .iter()
        .map(|(partition, (current, new))| {
            vec![
                request.topic.to_string(),
                partition.to_string(),
                cell(*current),
                new.to_string(),
            ]
        })
        .collect();
    print_table(&["TOPIC", "PARTITION", "CURRENT", "NEW"], rows);
    if !request.execute {
        println!("\nDry run: nothing changed. Add --execute to apply this plan.");
        return Ok(());
    }
    let offsets = plan
        .iter()
        .map(|(partition, (_, new))| ((request.topic.to_string(), *partition), *new))
        .collect();
    coordinator.offset_commit(group, &offsets)?;
    println!("\nCommitted new offsets for group {group}.");
    Ok(())
}

/// Partition to (current committed offset, new offset).
type ResetPlan = BTreeMap<i32, (Option<i64>, i64)>;

fn reset_plan(
    bootstrap: &mut KafkaClient,
    coordinator: &mut KafkaClient,
    request: &ResetRequest<'_>,
) -> Result<ResetPlan, CommandError> {
    let topic = request.topic;
    let unknown_topic = || ClientError::broker(3, Some(topic));
    let earliest = partition_offsets(bootstrap, topic, request.partitions, OffsetSpec::Earliest)?
        .ok_or_else(unknown_topic)?;
    let latest = partition_offsets(bootstrap, topic, request.partitions, OffsetSpec::Latest)?
        .ok_or_else(unknown_topic)?;
    if let Some(wanted) = request.partitions {
        if let Some(missing) = wanted.iter().find(|p| !latest.contains_key(p)) {
            return Err(CommandError::Failed(format!(
                "{topic} has no partition {missing}"
            )));
        }
    }
    let queried: Vec<i32> = latest.keys().copied().collect();
    let committed =
        coordinator.offset_fetch(request.group, Some(&[(topic.to_string(), queried)]))?;
    let mut plan = BTreeMap::new();
    for (partition, end) in &latest {
        let start = earliest.get(partition).copied().unwrap_or(0);
        let new = match request.target {
            ResetTarget::Earliest => start,
            ResetTarget::Latest => *end,
            ResetTarget::Offset(offset) => offset.clamp(start, (*end).max(start)),
        };
        let current = committed
            .get(&(topic.to_string(), *partition))
            .copied()
            .filter(|o| *o != NO_COMMITTED_OFFSET);
        plan.insert(*partition, (current, new));
    }
    Ok(plan)
}

fn cell(value: Option<i64>) -> String {
    value.map_or_else(|| NONE_CELL.to_string(), |v| v.to_string())
}

fn or_none(text: &str) -> String {
    if text.is_empty() {
        NONE_CELL.to_string()
    } else {
        text.to_string()
    }
}

fn print_table(headers: &[&str], rows: Vec<Vec<String>>) {
    print!("{}", format_table(headers, &rows));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::EXIT_USAGE;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_reset_offsets_with_every_option() {
        let parsed = parse_group_args(&args(&[
            "reset-offsets",
            "g",
            "--topic",
            "t",
            "--partitions",
            "1,0",
            "--to-offset",
            "5",
            "--execute",
            "--bootstrap",
            "h:1",
        ]))
        .unwrap();
        assert_eq!(parsed.bootstrap, "h:1");
        assert_eq!(
            parsed.command,
            GroupCommand::ResetOffsets {
                group: "g".into(),
                topic: "t".into(),
                partitions: Some(vec![0, 1]),
                target: ResetTarget::Offset(5),
                execute: true,
            }
        );
    }

    #[test]
    fn defaults_the_bootstrap_and_parses_simple_commands() {
        let parsed = parse_group_args(&args(&["list"])).unwrap();
        assert_eq!(parsed.bootstrap, DEFAULT_BOOTSTRAP);
        assert_eq!(parsed.command, GroupCommand::List);
        let parsed = parse_group_args(&args(&["describe", "g"])).unwrap();
        assert_eq!(parsed.command, GroupCommand::Describe { group: "g".into() });
    }

    #[test]
    fn rejects_bad_usage() {
        for bad in [
            &["frobnicate"][..],
            &[],
            &["describe"],
            &["describe", "a", "b"],
            &["list", "--topic", "t"],
            &["reset-offsets", "g", "--to-earliest"],
            &["reset-offsets", "g", "--topic", "t"],
            &[
                "reset-offsets",
                "g",
                "--topic",
                "t",
                "--to-earliest",
                "--to-latest",
            ],
            &["reset-offsets", "g", "--topic", "t", "--to-offset", "-3"],
            &[
                "reset-offsets",
                "g",
                "--topic",
                "t",
                "--to-latest",
                "--partitions",
                "x",
            ],
            &["list", "--bogus"],
            &["list", "--bootstrap"],
        ] {
            assert!(parse_group_args(&args(bad)).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn unknown_subcommand_exits_with_usage_code() {
        assert_eq!(run(&args(&["frobnicate"])), EXIT_USAGE);
    }
}
