//! `millrace topic`: topic administration over the Kafka protocol, against
//! any Kafka broker.
//!
//! ```text
//! millrace topic create TOPIC [--partitions N] [--replication-factor N]
//!     [--config KEY=VALUE]... [--if-not-exists]
//! millrace topic list [--include-internal]
//! millrace topic describe [TOPIC]... [--by-broker]
//!     [--under-replicated-partitions] [--unavailable-partitions]
//! millrace topic alter-config TOPIC (--set KEY=VALUE | --delete KEY)...
//! millrace topic delete TOPIC [--if-exists]
//! ```
//! Every command takes `--bootstrap HOST:PORT` (default 127.0.0.1:9092).
//!
//! `list` prints one topic name per line, sorted, internal topics only with
//! `--include-internal`. `describe` prints, as `kafka-topics --describe`,
//! one tab-separated `Key: value` line per topic (with its non-default
//! configs from DescribeConfigs) and one per partition with leader,
//! replicas, ISR, log start and end offsets (ListOffsets) and size
//! (DescribeLogDirs; `unknown` when the broker does not serve it; the
//! offsets too are `unknown`, with a warning on stderr, for a partition
//! whose leader still does not answer them after a few seconds). With
//! `--by-broker`, one line per broker of the cluster follows: the
//! partitions it leads, those it follows in sync, and those where it is a
//! replica out of the ISR. As in `kafka-topics --describe`,
//! `--under-replicated-partitions` (ISR smaller than the replicas) and
//! `--unavailable-partitions` (no leader, or a leader the cluster does not
//! list as live) print only the partition lines that match (either, when
//! both are given) and no topic lines.
//! `alter-config` uses IncrementalAlterConfigs; a broker that does not serve
//! it yields exit 1 and a message naming the API.
//!
//! Exit codes: 0 success; 1 runtime or broker failure, message on stderr
//! (unreachable broker, missing topic, existing topic, unsupported API, any
//! Kafka error code, named); 2 bad usage.

use super::console::{
    connect, existing_topic, key_value, parse_args, run_command, BrokerPool, CommandError,
    ParsedArgs, ADMIN_OPERATION_TIMEOUT_MS,
};
use super::topic_stats::{partition_stats, PartitionStats};
use crate::client::topics_admin::{
    ConfigChange, NewTopic, PartitionDescription, TopicDescription, TOPIC_ALREADY_EXISTS,
    UNKNOWN_TOPIC_OR_PARTITION,
};
use crate::client::{ClientError, KafkaClient};
use crate::protocol::error_code;
use std::collections::BTreeMap;

/// Partitions or replication factor left to the broker's default.
const BROKER_DEFAULT: i32 = -1;
/// Shown when a value is not known (e.g. size without DescribeLogDirs).
const UNKNOWN_CELL: &str = "unknown";

/// Usage text of `millrace topic`.
pub const TOPIC_USAGE: &str =
    "  millrace topic create TOPIC [--partitions N] [--replication-factor N]
      [--config KEY=VALUE]... [--if-not-exists]
  millrace topic list [--include-internal]
  millrace topic describe [TOPIC]... [--by-broker]
      [--under-replicated-partitions] [--unavailable-partitions]
  millrace topic alter-config TOPIC (--set KEY=VALUE | --delete KEY)...
  millrace topic delete TOPIC [--if-exists]
      Topic administration over the Kafka protocol (any Kafka broker); each
      takes --bootstrap HOST:PORT (default 127.0.0.1:9092). describe shows
      partitions, leader, replicas, ISR, log start/end offsets, size and
      non-default configs; --by-broker adds, per broker, the partitions it
      leads, follows in sync and is out of sync for; the two filters print
      only partitions whose ISR is smaller than their replicas, or that have
      no live leader. kafka-topics' form works too: --create, --list,
      --describe, --delete with --topic T and --bootstrap-server.
";

/// A parsed `millrace topic` command.
#[derive(Debug, Clone, PartialEq, Eq)]
enum TopicCommand {
    Create {
        topic: NewTopic,
        if_not_exists: bool,
    },
    List {
        include_internal: bool,
    },
    Describe {
        topics: Vec<String>,
        by_broker: bool,
        filter: PartitionFilter,
    },
    AlterConfig {
        topic: String,
        changes: Vec<ConfigChange>,
    },
    Delete {
        topic: String,
        if_exists: bool,
    },
}

/// Which partitions `describe` prints (kafka-topics' filters); all when
/// neither is set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct PartitionFilter {
    /// `--under-replicated-partitions`: the ISR is smaller than the replicas.
    under_replicated: bool,
    /// `--unavailable-partitions`: no leader, or one not listed as live.
    unavailable: bool,
}

impl PartitionFilter {
    fn is_set(&self) -> bool {
        self.under_replicated || self.unavailable
    }

    /// True when `p` is printed.
    fn keeps(&self, p: &PartitionDescription, live: &BTreeMap<i32, String>) -> bool {
        if !self.is_set() {
            return true;
        }
        let under = p.isr.len() < p.replicas.len();
        let unavailable = p.leader < 0 || !live.contains_key(&p.leader);
        (self.under_replicated && under) || (self.unavailable && unavailable)
    }
}

/// Runs `millrace topic ARGS...`; returns the exit code.
pub fn run(args: &[String]) -> i32 {
    run_command(
        "topic",
        TOPIC_USAGE,
        args,
        parse_topic_args,
        |(command, bootstrap)| execute(command, bootstrap),
    )
}

fn parse_topic_args(args: &[String]) -> Result<(TopicCommand, String), String> {
    let (subcommand, rest) = args.split_first().ok_or("missing subcommand")?;
    let (values, flags): (&[&str], &[&str]) = match subcommand.as_str() {
        "create" => (
            &["--partitions", "--replication-factor", "--config"],
            &["--if-not-exists"],
        ),
        "list" => (&[], &["--include-internal"]),
        "describe" => (
            &[],
            &[
                "--by-broker",
                "--under-replicated-partitions",
                "--unavailable-partitions",
            ],
        ),
        "alter-config" => (&["--set", "--delete"], &[]),
        "delete" => (&[], &["--if-exists"]),
        other => return Err(format!("unknown subcommand {other:?}")),
    };
    let parsed = parse_args(rest, values, flags)?;
    let command = match subcommand.as_str() {
        "create" => build_create(&parsed)?,
        "list" => {
            expect_positional("list", &parsed, 0)?;
            TopicCommand::List {
                include_internal: parsed.flag("--include-internal"),
            }
        }
        "describe" => TopicCommand::Describe {
            topics: parsed.positional.clone(),
            by_broker: parsed.flag("--by-broker"),
            filter: PartitionFilter {
                under_replicated: parsed.flag("--under-replicated-partitions"),
                unavailable: parsed.flag("--unavailable-partitions"),
            },
        },
        "alter-config" => build_alter(&parsed)?,
        _ => TopicCommand::Delete {
            topic: one_topic("delete", &parsed)?,
            if_exists: parsed.flag("--if-exists"),
        },
    };
    Ok((command, parsed.bootstrap()))
}

fn build_create(parsed: &ParsedArgs) -> Result<TopicCommand, String> {
    let name = one_topic("create", parsed)?;
    let partitions = parsed
        .number::<i32>("--partitions")?
        .unwrap_or(BROKER_DEFAULT);
    if partitions == 0 || partitions < BROKER_DEFAULT {
        return Err(format!("--partitions must be at least 1, got {partitions}"));
    }
    let replication_factor = parsed
        .number::<i16>("--replication-factor")?
        .unwrap_or(BROKER_DEFAULT as i16);
    if replication_factor == 0 || i32::from(replication_factor) < BROKER_DEFAULT {
        return Err(format!(
            "--replication-factor must be at least 1, got {replication_factor}"
        ));
    }
    let configs = parsed
        .values("--config")
        .iter()
        .map(|c| key_value(c, "--config"))
        .collect::<Result<_, _>>()?;
    Ok(TopicCommand::Create {
        topic: NewTopic {
            name,
            partitions,
            replication_factor,
            configs,
        },
        if_not_exists: parsed.flag("--if-not-exists"),
    })
}

fn build_alter(parsed: &ParsedArgs) -> Result<TopicCommand, String> {
    let topic = one_topic("alter-config", parsed)?;
    let mut changes: Vec<ConfigChange> = parsed
        .values("--set")
        .iter()
        .map(|c| key_value(c, "--set").map(|(k, v)| ConfigChange::Set(k, v)))
        .collect::<Result<_, _>>()?;
    changes.extend(
        parsed
            .values("--delete")
            .iter()
            .map(|k| ConfigChange::Delete(k.clone())),
    );
    if changes.is_empty() {
        return Err("alter-config needs at least one --set KEY=VALUE or --delete KEY".into());
    }
    Ok(TopicCommand::AlterConfig { topic, changes })
}

fn one_topic(subcommand: &str, parsed: &ParsedArgs) -> Result<String, String> {
    expect_positional(subcommand, parsed, 1)?;
    let topic = parsed.positional[0].clone();
    if topic.is_empty() {
        return Err(format!("{subcommand}: the topic name is empty"));
    }
    Ok(topic)
}

fn expect_positional(subcommand: &str, parsed: &ParsedArgs, expected: usize) -> Result<(), String> {
    match (parsed.positional.len() == expected, expected) {
        (true, _) => Ok(()),
        (false, 0) => Err(format!(
            "{subcommand} takes no arguments, got {:?}",
            parsed.positional
        )),
        (false, _) => Err(format!(
            "{subcommand} needs exactly one TOPIC, got {:?}",
            parsed.positional
        )),
    }
}

fn execute(command: &TopicCommand, bootstrap: &str) -> Result<(), CommandError> {
    let mut client = connect(bootstrap)?;
    match command {
        TopicCommand::Create {
            topic,
            if_not_exists,
        } => create(&mut client, topic, *if_not_exists),
        TopicCommand::List { include_internal } => list(&mut client, *include_internal),
        TopicCommand::Describe {
            topics,
            by_broker,
            filter,
        } => describe(&mut client, topics, *by_broker, *filter),
        TopicCommand::AlterConfig { topic, changes } => {
            existing_topic(&mut client, topic)?;
            client.alter_topic_configs(topic, changes)?;
            println!("Altered {} config(s) of topic {topic}", changes.len());
            Ok(())
        }
        TopicCommand::Delete { topic, if_exists } => delete(&mut client, topic, *if_exists),
    }
}

fn create(
    client: &mut KafkaClient,
    topic: &NewTopic,
    if_not_exists: bool,
) -> Result<(), CommandError> {
    match client.create_topic(topic, ADMIN_OPERATION_TIMEOUT_MS) {
        Ok(()) => {
            println!("Created topic {}", topic.name);
            Ok(())
        }
        Err(ClientError::Broker { code, .. }) if code == TOPIC_ALREADY_EXISTS && if_not_exists => {
            println!("Topic {} already exists", topic.name);
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

fn delete(client: &mut KafkaClient, topic: &str, if_exists: bool) -> Result<(), CommandError> {
    match client.delete_topic(topic, ADMIN_OPERATION_TIMEOUT_MS) {
        Ok(()) => {
            println!("Deleted topic {topic}");
            Ok(())
        }
        Err(ClientError::Broker { code, .. }) if code == UNKNOWN_TOPIC_OR_PARTITION => {
            if if_exists {
                println!("Topic {topic} does not exist");
                Ok(())
            } else {
                Err(CommandError::Failed(format!(
                    "topic {topic:?} does not exist (UNKNOWN_TOPIC_OR_PARTITION)"
                )))
            }
        }
        Err(e) => Err(e.into()),
    }
}

fn list(client: &mut KafkaClient, include_internal: bool) -> Result<(), CommandError> {
    let metadata = client.describe_topics(None)?;
    for topic in metadata.topics.values() {
        if topic.error_code == error_code::NONE && (include_internal || !topic.is_internal) {
            println!("{}", topic.name);
        }
    }
    Ok(())
}

fn describe(
    client: &mut KafkaClient,
    names: &[String],
    by_broker: bool,
    filter: PartitionFilter,
) -> Result<(), CommandError> {
    let metadata = if names.is_empty() {
        client.describe_topics(None)?
    } else {
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        client.describe_topics(Some(&refs))?
    };
    for name in names {
        if metadata
            .topics
            .get(name)
            .is_none_or(|t| t.error_code != error_code::NONE)
        {
            existing_topic(client, name)?;
        }
    }
    let mut pool = BrokerPool::new(metadata.brokers.clone());
    let described: Vec<&TopicDescription> = metadata
        .topics
        .values()
        .filter(|t| t.error_code == error_code::NONE && !(names.is_empty() && t.is_internal))
        .collect();
    for &topic in &described {
        if filter.is_set() {
            print!("{}", filtered_text(topic, filter, &metadata.brokers));
            continue;
        }
        let configs = client.describe_topic_configs(&topic.name)?;
        let overrides: Vec<String> = configs
            .iter()
            .filter(|c| !c.is_default)
            .map(|c| format!("{}={}", c.name, c.value.as_deref().unwrap_or("")))
            .collect();
        let stats = partition_stats(&mut pool, &metadata, topic);
        print!("{}", describe_text(topic, &overrides.join(","), &stats));
    }
    if by_broker {
        print!("{}", by_broker_text(&metadata.brokers, &described));
    }
    Ok(())
}

/// What one broker holds of the described topics.
#[derive(Debug, Default)]
struct BrokerShare {
    leader: Vec<String>,
    in_sync_follower: Vec<String>,
    out_of_sync_replica: Vec<String>,
}

fn cell(partitions: &[String]) -> String {
    if partitions.is_empty() {
        "-".to_string()
    } else {
        partitions.join(",")
    }
}

/// One line per broker (every broker of the cluster, and any replica id
/// the Metadata answer names without listing its broker): the partitions
/// (`topic-index`) it leads, follows in sync, and is a replica of outside
/// the ISR.
fn by_broker_text(brokers: &BTreeMap<i32, String>, topics: &[&TopicDescription]) -> String {
    let mut shares: BTreeMap<i32, BrokerShare> = brokers
        .keys()
        .map(|id| (*id, BrokerShare::default()))
        .collect();
    for topic in topics {
        for p in &topic.partitions {
            let name = format!("{}-{}", topic.name, p.partition);
            for replica in &p.replicas {
                let share = shares.entry(*replica).or_default();
                if *replica == p.leader {
                    share.leader.push(name.clone());
                } else if p.isr.contains(replica) {
                    share.in_sync_follower.push(name.clone());
                } else {
                    share.out_of_sync_replica.push(name.clone());
                }
            }
        }
    }
    let mut out = String::new();
    for (id, share) in shares {
        let address = brokers.get(&id).map_or("unknown", String::as_str);
        out.push_str(&format!(
            "Broker: {id}\tAddress: {address}\tLeader: {}\tInSyncFollower: {}\tOutOfSyncReplica: {}\n",
            cell(&share.leader),
            cell(&share.in_sync_follower),
            cell(&share.out_of_sync_replica),
        ));
    }
    out
}

fn node_list(nodes: &[i32]) -> String {
    let text: Vec<String> = nodes.iter().map(i32::to_string).collect();
    text.join(",")
}

fn known(value: Option<i64>) -> String {
    value.map_or_else(|| UNKNOWN_CELL.to_string(), |v| v.to_string())
}

/// The partition lines of `topic` that `filter` keeps, without offsets or
/// sizes (kafka-topics prints these filters' lines from Metadata alone).
fn filtered_text(
    topic: &TopicDescription,
    filter: PartitionFilter,
    live: &BTreeMap<i32, String>,
) -> String {
    let mut out = String::new();
    for p in topic.partitions.iter().filter(|p| filter.keeps(p, live)) {
        out.push_str(&format!(
            "\tTopic: {}\tPartition: {}\tLeader: {}\tReplicas: {}\tIsr: {}\n",
            topic.name,
            p.partition,
            if p.leader < 0 {
                "none".to_string()
            } else {
                p.leader.to_string()
            },
            node_list(&p.replicas),
            node_list(&p.isr),
        ));
    }
    out
}

/// The `kafka-topics --describe` style text of one topic.
fn describe_text(
    topic: &TopicDescription,
    configs: &str,
    stats: &BTreeMap<i32, PartitionStats>,
) -> String {
    let replication = topic.partitions.first().map_or(0, |p| p.replicas.len());
    let mut out = format!(
        "Topic: {}\tPartitionCount: {}\tReplicationFactor: {replication}\tConfigs: {configs}\n",
        topic.name,
        topic.partitions.len()
    );
    for p in &topic.partitions {
        let s = stats.get(&p.partition).copied().unwrap_or_default();
        out.push_str(&format!(
            "\tTopic: {}\tPartition: {}\tLeader: {}\tReplicas: {}\tIsr: {}\tLogStartOffset: {}\tLogEndOffset: {}\tSize: {}\n",
            topic.name,
            p.partition,
            p.leader,
            node_list(&p.replicas),
            node_list(&p.isr),
            known(s.log_start),
            known(s.log_end),
            known(s.size_bytes),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::topics_admin::PartitionDescription;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_create_with_every_option() {
        let (command, bootstrap) = parse_topic_args(&args(&[
            "create",
            "t",
            "--partitions",
            "3",
            "--replication-factor=1",
            "--config",
            "retention.ms=1000",
            "--if-not-exists",
            "--bootstrap",
            "h:1",
        ]))
        .unwrap();
        assert_eq!(bootstrap, "h:1");
        assert_eq!(
            command,
            TopicCommand::Create {
                topic: NewTopic {
                    name: "t".into(),
                    partitions: 3,
                    replication_factor: 1,
                    configs: vec![("retention.ms".into(), "1000".into())],
                },
                if_not_exists: true,
            }
        );
    }

    #[test]
    fn parses_alter_config_sets_then_deletes() {
        let (command, _) = parse_topic_args(&args(&[
            "alter-config",
            "t",
            "--delete",
            "a",
            "--set",
            "b=2",
        ]))
        .unwrap();
        assert_eq!(
            command,
            TopicCommand::AlterConfig {
                topic: "t".into(),
                changes: vec![
                    ConfigChange::Set("b".into(), "2".into()),
                    ConfigChange::Delete("a".into())
                ],
            }
        );
    }

    #[test]
    fn rejects_bad_usage() {
        for bad in [
            &[][..],
            &["frobnicate"],
            &["create"],
            &["create", "a", "b"],
            &["create", "t", "--partitions", "0"],
            &["create", "t", "--partitions", "x"],
            &["create", "t", "--config", "novalue"],
            &["list", "t"],
            &["alter-config", "t"],
            &["delete"],
            &["delete", "t", "--partitions", "2"],
        ] {
            assert!(parse_topic_args(&args(bad)).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn by_broker_lists_leaders_in_sync_and_out_of_sync_replicas() {
        let partition = |partition, leader, replicas: &[i32], isr: &[i32]| PartitionDescription {
            partition,
            error_code: error_code::NONE,
            leader,
            replicas: replicas.to_vec(),
            isr: isr.to_vec(),
        };
        let topic = TopicDescription {
            name: "t".into(),
            error_code: error_code::NONE,
            is_internal: false,
            partitions: vec![
                partition(0, 1, &[1, 2], &[1, 2]),
                partition(1, 2, &[2, 1], &[2]),
            ],
        };
        let brokers: BTreeMap<i32, String> =
            [(1, "h:1".to_string()), (2, "h:2".into()), (3, "h:3".into())].into();
        assert_eq!(
            by_broker_text(&brokers, &[&topic]),
            "Broker: 1\tAddress: h:1\tLeader: t-0\tInSyncFollower: -\tOutOfSyncReplica: t-1\n\
             Broker: 2\tAddress: h:2\tLeader: t-1\tInSyncFollower: t-0\tOutOfSyncReplica: -\n\
             Broker: 3\tAddress: h:3\tLeader: -\tInSyncFollower: -\tOutOfSyncReplica: -\n"
        );
    }

    #[test]
    fn filters_keep_under_replicated_and_unavailable_partitions_as_kafka_topics_does() {
        let partition = |partition, leader, replicas: &[i32], isr: &[i32]| PartitionDescription {
            partition,
            error_code: error_code::NONE,
            leader,
            replicas: replicas.to_vec(),
            isr: isr.to_vec(),
        };
        let topic = TopicDescription {
            name: "t".into(),
            error_code: error_code::NONE,
            is_internal: false,
            partitions: vec![
                partition(0, 1, &[1, 2, 3], &[1, 2, 3]),
                partition(1, 2, &[2, 3, 1], &[2, 3]),
                partition(2, -1, &[3, 1, 2], &[3]),
                partition(3, 4, &[4], &[4]),
            ],
        };
        let live: BTreeMap<i32, String> =
            [(1, "h:1".to_string()), (2, "h:2".into()), (3, "h:3".into())].into();
        let under = PartitionFilter {
            under_replicated: true,
            unavailable: false,
        };
        assert_eq!(
            filtered_text(&topic, under, &live),
            "\tTopic: t\tPartition: 1\tLeader: 2\tReplicas: 2,3,1\tIsr: 2,3\n\
             \tTopic: t\tPartition: 2\tLeader: none\tReplicas: 3,1,2\tIsr: 3\n"
        );
        let unavailable = PartitionFilter {
            under_replicated: false,
            unavailable: true,
        };
        assert_eq!(
            filtered_text(&topic, unavailable, &live),
            "\tTopic: t\tPartition: 2\tLeader: none\tReplicas: 3,1,2\tIsr: 3\n\
             \tTopic: t\tPartition: 3\tLeader: 4\tReplicas: 4\tIsr: 4\n"
        );
        let parsed = parse_topic_args(&args(&["describe", "--under-replicated-partitions"]));
        assert!(matches!(
            parsed,
            Ok((TopicCommand::Describe { filter, .. }, _)) if filter == under
        ));
    }

    #[test]
    fn describe_text_has_kafka_topics_fields() {
        let topic = TopicDescription {
            name: "t".into(),
            error_code: error_code::NONE,
            is_internal: false,
            partitions: vec![PartitionDescription {
                partition: 0,
                error_code: error_code::NONE,
                leader: 1,
                replicas: vec![1, 2],
                isr: vec![1],
            }],
        };
        let stats = [(
            0,
            PartitionStats {
                log_start: Some(0),
                log_end: Some(5),
                size_bytes: None,
            },
        )]
        .into_iter()
        .collect();
        let text = describe_text(&topic, "a=1", &stats);
        assert_eq!(
            text,
            "Topic: t\tPartitionCount: 1\tReplicationFactor: 2\tConfigs: a=1\n\
             \tTopic: t\tPartition: 0\tLeader: 1\tReplicas: 1,2\tIsr: 1\tLogStartOffset: 0\tLogEndOffset: 5\tSize: unknown\n"
        );
    }
}
