//! Topic changes, serialised on shard 0: validate, build the next table,
//! persist it (fsync + rename), then have every shard adopt it before
//! answering (the shard layer publishes it: [`handle`]'s `publish`). A client
//! that got a CreateTopics answer finds the topic on every shard.

use super::alter_configs::{plan_alter, TopicConfigChange};
use super::control_plane::ControlPlane;
use super::kafka_uuid::random_kafka_uuid;
use super::replica_assignment::{check_added_assignments, check_manual_assignment};
use super::store;
use super::topic_deletion::{self, Asked, Verdict};
use super::topic_table::{validate_topic_name, TopicMeta, TopicTable, TOPIC_PARTITIONS_MAX};
use crate::config::{log_ignored_keys, validate_topic_config, validate_topic_configs, Config};
use crate::protocol::error_code;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use uuid::Uuid;

/// A topic to create.
#[derive(Clone, Debug)]
pub struct NewTopic {
    /// Name.
    pub name: String,
    /// Partition count; -1 means `num.partitions`.
    pub partitions: i32,
    /// Replication factor; -1 means the default (1 on a single node).
    pub replication_factor: i16,
    /// Topic config overrides.
    pub configs: Vec<(String, String)>,
    /// A manual replica assignment, (partition index, replicas) as the client
    /// sent it; empty when the controller places the replicas.
    pub assignments: Vec<(i32, Vec<i32>)>,
}

/// One topic of a CreatePartitions request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewPartitions {
    /// Topic name.
    pub name: String,
    /// The new total partition count.
    pub count: i32,
    /// The replicas of each added partition, in order, when the client
    /// assigned them; empty when the controller places them.
    pub assignments: Vec<Vec<i32>>,
}

/// A topic change, sent to the controller shard.
#[derive(Clone, Debug)]
pub enum ControllerRequest {
    /// CreateTopics, or auto-creation (`if_missing`: an existing topic is not an error).
    CreateTopics {
        /// Topics to create.
        topics: Vec<NewTopic>,
        /// Check only; change nothing.
        validate_only: bool,
        /// Auto-creation: existing topics are fine.
        if_missing: bool,
    },
    /// DeleteTopics: one outcome per name, then one per id, by Kafka's
    /// rules ([`super::topic_deletion`]): a name or an id given twice, or a
    /// topic given by name and by id, is not deleted.
    DeleteTopics {
        /// Topic names, repeats included.
        names: Vec<String>,
        /// Topic ids, repeats included, for the controller to resolve: a
        /// broker forwards every id as asked, as Kafka's brokers do, since
        /// its own table may lag (a topic created, or deleted and created
        /// again under the same name, that it has not applied yet).
        ids: Vec<Uuid>,
    },
    /// CreatePartitions: raise partition counts.
    CreatePartitions {
        /// Topics with their new total counts.
        topics: Vec<NewPartitions>,
        /// Check only; change nothing.
        validate_only: bool,
    },
    /// IncrementalAlterConfigs on topics.
    AlterTopicConfigs {
        /// Operations per topic, in request order.
        changes: Vec<TopicConfigChange>,
        /// Check only; change nothing.
        validate_only: bool,
    },
}

/// What happened to one topic of a request.
#[derive(Clone, Debug)]
pub struct TopicOutcome {
    /// Topic name.
    pub name: String,
    /// Kafka error code.
    pub error_code: i16,
    /// Human-readable detail when there is an error.
    pub message: Option<String>,
}

/// The controller's answer: one outcome per topic, in request order, and the
/// table after the change.
#[derive(Clone, Debug)]
pub struct ControllerResponse {
    /// Outcomes in request order.
    pub outcomes: Vec<TopicOutcome>,
    /// The table after the change.
    pub table: Arc<TopicTable>,
}

fn outcome(name: &str, error_code: i16, message: Option<String>) -> TopicOutcome {
    TopicOutcome {
        name: name.to_string(),
        error_code,
        message,
    }
}

/// Runs one topic change on the controller shard: `publish` makes every
/// shard adopt the persisted table (or says why one could not).
pub async fn handle<P, F>(
    control: &ControlPlane,
    config: &Config,
    request: ControllerRequest,
    publish: P,
) -> ControllerResponse
where
    P: FnOnce(Arc<TopicTable>) -> F,
    F: Future<Output = Result<(), String>>,
{
    // A permit guard: released when this change is done (acquire() would keep it).
    let _serialised = control.controller_lock.acquire_permit(1).await;
    let current = control.topic_table();
    let sets_configs = matches!(
        request,
        ControllerRequest::CreateTopics { .. } | ControllerRequest::AlterTopicConfigs { .. }
    );
    let (next, mut outcomes, validate_only) = match request {
        ControllerRequest::CreateTopics {
            topics,
            validate_only,
            if_missing,
        } => {
            let (next, outcomes) = plan_create(config, &current, &topics, if_missing);
            (next, outcomes, validate_only)
        }
        ControllerRequest::DeleteTopics { names, ids } => {
            let (next, outcomes) = plan_delete(&current, &names, &ids);
            (next, outcomes, false)
        }
        ControllerRequest::CreatePartitions {
            topics,
            validate_only,
        } => {
            let (next, outcomes) = plan_partitions(config, &current, &topics);
            (next, outcomes, validate_only)
        }
        ControllerRequest::AlterTopicConfigs {
            changes,
            validate_only,
        } => {
            let (next, outcomes) = plan_config_changes(&current, &changes);
            (next, outcomes, validate_only)
        }
    };
    if validate_only || next.version == current.version {
        return ControllerResponse {
            outcomes,
            table: current,
        };
    }
    let next = Arc::new(next);
    if let Err(message) = commit(config, next.clone(), publish).await {
        log::error!("topic change failed: {message}");
        for o in outcomes
            .iter_mut()
            .filter(|o| o.error_code == error_code::NONE)
        {
            o.error_code = error_code::KAFKA_STORAGE_ERROR;
            o.message = Some(message.clone());
        }
        return ControllerResponse {
            outcomes,
            table: control.topic_table(),
        };
    }
    let set = outcomes
        .iter()
        .filter(|o| sets_configs && o.error_code == error_code::NONE);
    for done in set {
        if let Some(topic) = next.get(&done.name) {
            log_ignored_keys(&done.name, &topic.configs);
        }
    }
    ControllerResponse {
        outcomes,
        table: next,
    }
}

fn plan_create(
    config: &Config,
    current: &TopicTable,
    topics: &[NewTopic],
    if_missing: bool,
) -> (TopicTable, Vec<TopicOutcome>) {
    let mut next = current.clone();
    let mut outcomes = Vec::with_capacity(topics.len());
    for topic in topics {
        if next.get(&topic.name).is_some() {
            let code = if if_missing {
                error_code::NONE
            } else {
                error_code::TOPIC_ALREADY_EXISTS
            };
            let message = (!if_missing).then(|| format!("Topic '{}' already exists.", topic.name));
            outcomes.push(outcome(&topic.name, code, message));
            continue;
        }
        let checked = validate_new_topic(config, topic)
            .and_then(|meta| fits_open_files(config, &next, meta.partitions).map(|()| meta));
        match checked {
            Ok(meta) => {
                next = next.with_topic(meta);
                outcomes.push(outcome(&topic.name, error_code::NONE, None));
            }
            Err((code, message)) => outcomes.push(outcome(&topic.name, code, Some(message))),
        }
    }
    (next, outcomes)
}

fn validate_new_topic(config: &Config, topic: &NewTopic) -> Result<TopicMeta, (i16, String)> {
    validate_topic_name(&topic.name)
        .map_err(|e| (error_code::INVALID_TOPIC_EXCEPTION, e.to_string()))?;
    if !topic.assignments.is_empty() {
        return validate_manually_assigned_topic(config, topic);
    }
    let partitions = if topic.partitions == -1 {
        config.num_partitions
    } else {
        topic.partitions
    };
    if !(1..=TOPIC_PARTITIONS_MAX).contains(&partitions) {
        return Err((
            error_code::INVALID_PARTITIONS,
            format!("Number of partitions must be between 1 and {TOPIC_PARTITIONS_MAX}, got {partitions}."),
        ));
    }
    let replication_factor = if topic.replication_factor == -1 {
        config.default_replication_factor
    } else {
        topic.replication_factor
    };
    if replication_factor < 1 {
        return Err((
            error_code::INVALID_REPLICATION_FACTOR,
            "Replication factor must be larger than 0, or -1 to use the default value.".to_string(),
        ));
    }
    if replication_factor != 1 {
        return Err((
            error_code::INVALID_REPLICATION_FACTOR,
            format!(
                "Replication factor {replication_factor} is larger than the 1 available broker."
            ),
        ));
    }
    topic_meta(topic, partitions)
}

/// `Err` (INVALID_PARTITIONS, with the limit and the fix) when `added` more
/// partitions beside those of `table` and the offsets topic would not fit
/// the open-file budget: refused before anything is created, rather than
/// failing with EMFILE midway through opening them.
fn fits_open_files(config: &Config, table: &TopicTable, added: i32) -> Result<(), (i16, String)> {
    let partitions = table
        .iter()
        .map(|topic| topic.partitions.max(0) as u64)
        .sum::<u64>()
        .saturating_add(config.offsets_topic_num_partitions as u64);
    // Sealed segments hold a descriptor each too (what the engine's files
    // hold beyond each open log's active segment, now).
    let sealed = crate::storage::io::sealed_segment_files();
    let held = partitions.saturating_add(sealed);
    let wanted = held.saturating_add(added.max(0) as u64);
    let room = config.open_files_partitions_max;
    if wanted <= room {
        return Ok(());
    }
    Err((
        error_code::INVALID_PARTITIONS,
        format!(
            "{added} more partition(s) would need {wanted} segment descriptors on this broker \
             ({partitions} partition(s) now and {sealed} sealed segment(s)), but its \
             open-file limit (RLIMIT_NOFILE) leaves room for {room} (one per partition and one per \
             sealed segment, beside read handles and connections). Raise the limit (`ulimit -n`, \
             LimitNOFILE; see tuning.md) or ask for fewer."
        ),
    ))
}

/// A single node's topic with a manual replica assignment: every replica
/// list must be this node alone (the one registered broker, as Kafka would
/// say of a single-broker cluster).
fn validate_manually_assigned_topic(
    config: &Config,
    topic: &NewTopic,
) -> Result<TopicMeta, (i16, String)> {
    let assigned = check_manual_assignment(
        topic.partitions,
        topic.replication_factor,
        &topic.assignments,
        |broker| broker == config.node_id,
    )
    .map_err(|e| e.code_and_message())?;
    let partitions = assigned.len() as i32;
    if partitions > TOPIC_PARTITIONS_MAX {
        return Err((
            error_code::INVALID_PARTITIONS,
            format!("Number of partitions must be between 1 and {TOPIC_PARTITIONS_MAX}, got {partitions}."),
        ));
    }
    topic_meta(topic, partitions)
}

/// The table entry of a checked topic, once its configs are valid.
fn topic_meta(topic: &NewTopic, partitions: i32) -> Result<TopicMeta, (i16, String)> {
    let mut configs = BTreeMap::new();
    for (key, value) in &topic.configs {
        validate_topic_config(key, value).map_err(|e| (error_code::INVALID_CONFIG, e))?;
        configs.insert(key.clone(), value.clone());
    }
    validate_topic_configs(&configs).map_err(|e| (error_code::INVALID_CONFIG, e))?;
    Ok(TopicMeta {
        name: topic.name.clone(),
        id: random_kafka_uuid(),
        partitions,
        configs,
    })
}

/// DeleteTopics of `names` then `ids` by Kafka's rules ([`topic_deletion`]):
/// one outcome per name, then one per id, each named as the table knows it
/// (an unknown id's outcome has no name).
fn plan_delete(
    current: &TopicTable,
    names: &[String],
    ids: &[Uuid],
) -> (TopicTable, Vec<TopicOutcome>) {
    let asked: Vec<Asked<'_>> = names
        .iter()
        .map(|name| Asked::Name(name))
        .chain(ids.iter().map(|id| Asked::Id(*id)))
        .collect();
    let id_of_name = |name: &str| current.get(name).map(|meta| meta.id);
    let verdicts = topic_deletion::judge(&asked, id_of_name, |id| current.get_by_id(&id).is_some());
    let mut next = current.clone();
    let outcomes = asked
        .iter()
        .zip(verdicts)
        .map(|(topic, verdict)| {
            let name = match topic {
                Asked::Name(name) => *name,
                Asked::Id(id) => current.get_by_id(id).map_or("", |meta| meta.name.as_str()),
            };
            if let Verdict::Delete(_) = verdict {
                next = next.without_topic(name);
            }
            outcome(name, verdict.error_code(), unknown_name_message(verdict))
        })
        .collect();
    (next, outcomes)
}

/// A single node's message for a name no topic has.
fn unknown_name_message(verdict: Verdict) -> Option<String> {
    (verdict == Verdict::UnknownName)
        .then(|| "This server does not host this topic-partition.".to_string())
}

fn plan_partitions(
    config: &Config,
    current: &TopicTable,
    topics: &[NewPartitions],
) -> (TopicTable, Vec<TopicOutcome>) {
    let mut next = current.clone();
    let outcomes = topics
        .iter()
        .map(|topic| {
            let name = &topic.name;
            let Some(meta) = next.get(name).cloned() else {
                return outcome(
                    name,
                    error_code::UNKNOWN_TOPIC_OR_PARTITION,
                    Some(format!("Topic '{name}' does not exist.")),
                );
            };
            let count = topic.count;
            if count <= meta.partitions || count > TOPIC_PARTITIONS_MAX {
                return outcome(
                    name,
                    error_code::INVALID_PARTITIONS,
                    Some(format!(
                        "Topic currently has {} partitions, {count} would not be an increase.",
                        meta.partitions
                    )),
                );
            }
            if !topic.assignments.is_empty() {
                // The one broker here: every added partition's replicas must be it alone.
                let added = (count - meta.partitions) as usize;
                let checked = check_added_assignments(added, 1, &topic.assignments, |broker| {
                    broker == config.node_id
                });
                if let Err(error) = checked {
                    let (code, message) = error.code_and_message();
                    return outcome(name, code, Some(message));
                }
            }
            if let Err((code, message)) = fits_open_files(config, &next, count - meta.partitions) {
                return outcome(name, code, Some(message));
            }
            let mut grown = (*meta).clone();
            grown.partitions = count;
            next = next.with_topic(grown);
            outcome(name, error_code::NONE, None)
        })
        .collect();
    (next, outcomes)
}

fn plan_config_changes(
    current: &TopicTable,
    changes: &[TopicConfigChange],
) -> (TopicTable, Vec<TopicOutcome>) {
    let (next, results) = plan_alter(current, changes);
    let outcomes = changes
        .iter()
        .zip(results)
        .map(|(change, result)| match result {
            Ok(()) => outcome(&change.topic, error_code::NONE, None),
            Err((code, message)) => outcome(&change.topic, code, Some(message)),
        })
        .collect();
    (next, outcomes)
}

/// Persists `next`, then makes every shard adopt it.
async fn commit<P, F>(config: &Config, next: Arc<TopicTable>, publish: P) -> Result<(), String>
where
    P: FnOnce(Arc<TopicTable>) -> F,
    F: Future<Output = Result<(), String>>,
{
    let data_dir = config.log_dirs.clone();
    let to_save = next.clone();
    crate::local::helper_pool::run_job(crate::local::helper_pool::Helpers::Control, move || {
        store::save_topics(&data_dir, &to_save)
    })
    .await
    .map_err(|e| format!("cannot persist the topic registry: {e}"))?
    .map_err(|e| format!("cannot persist the topic registry: {e}"))?;
    log::debug!("topic registry version {} persisted", next.version);
    publish(next).await
}

/// The answer when the controller could not be reached: every topic of
/// `request` failed, and `table` is the asking shard's current one.
pub fn failed_response(table: Arc<TopicTable>, request: &ControllerRequest) -> ControllerResponse {
    let names: Vec<String> = match request {
        ControllerRequest::CreateTopics { topics, .. } => {
            topics.iter().map(|t| t.name.clone()).collect()
        }
        ControllerRequest::DeleteTopics { names, ids } => {
            // An id's outcome has no name: the handler answers it the id.
            let ids = ids.iter().map(|_| String::new());
            names.iter().cloned().chain(ids).collect()
        }
        ControllerRequest::CreatePartitions { topics, .. } => {
            topics.iter().map(|t| t.name.clone()).collect()
        }
        ControllerRequest::AlterTopicConfigs { changes, .. } => {
            changes.iter().map(|c| c.topic.clone()).collect()
        }
    };
    ControllerResponse {
        outcomes: names
            .iter()
            .map(|n| {
                outcome(
                    n,
                    error_code::KAFKA_STORAGE_ERROR,
                    Some("controller unavailable".into()),
                )
            })
            .collect(),
        table,
    }
}
