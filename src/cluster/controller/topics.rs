//! CreateTopics, CreatePartitions and DeleteTopics on the controller (KRaft's
//! `ReplicationControlManager.createTopics` and friends).

use super::api::*;
use super::config::{TOPIC_CONFIGS_MAX, TOPIC_PARTITIONS_MAX, USER_OP_RECORDS_MAX};
use super::placement::Placer;
use super::Controller;
use crate::cluster::records::{
    ConfigRecord, ConfigResource, LeaderRecoveryState, MetadataRecord, PartitionRecord,
    PartitionRegistration, RemoveTopicRecord, TopicRecord,
};
use crate::config::validate_topic_config;
use crate::metadata::kafka_uuid::is_kafka_random_uuid;
use crate::metadata::replica_assignment::{
    check_added_assignments, check_manual_assignment, AssignmentError,
};
use crate::metadata::topic_deletion::{self, Asked, Verdict};
use crate::metadata::topic_table::validate_topic_name;
use std::collections::BTreeSet;
use uuid::Uuid;

impl Controller {
    pub(super) fn create_topics(
        &mut self,
        request: &CreateTopicsRequest,
        out: &mut Vec<Output>,
    ) -> Reply {
        let duplicates = repeated(request.topics.iter().map(|t| t.name.as_str()));
        let mut placer = Placer::new(&self.image);
        let mut records = Vec::new();
        let mut results = Vec::with_capacity(request.topics.len());
        for topic in &request.topics {
            let result = if duplicates.contains(topic.name.as_str()) {
                Err(ResponseError::InvalidRequest)
            } else {
                self.create_topic(topic, request.validate_only, &mut placer, &mut records)
            };
            results.push((topic.name.clone(), result));
        }
        self.propose(records, out);
        Reply::CreateTopics(results)
    }

    fn create_topic(
        &mut self,
        topic: &NewTopic,
        validate_only: bool,
        placer: &mut Placer,
        records: &mut Vec<MetadataRecord>,
    ) -> Result<CreatedTopic, ResponseError> {
        validate_topic_name(&topic.name).map_err(|_| ResponseError::InvalidTopicException)?;
        if self.image.topic_by_name(&topic.name).is_some() {
            return Err(ResponseError::TopicAlreadyExists);
        }
        let configs_valid = topic.configs.len() <= TOPIC_CONFIGS_MAX
            && topic.configs.iter().all(|(k, v)| valid_topic_config(k, v));
        if !configs_valid {
            return Err(ResponseError::InvalidConfig);
        }
        let assigned = self.manual_assignment(topic)?;
        let (num_partitions, replication_factor) = match &assigned {
            Some(replicas) => (
                replicas.len() as i32,
                replicas.first().map_or(0, Vec::len) as i16,
            ),
            None => {
                let layout = self.asked_layout(topic);
                check_layout(layout.0, layout.1, placer.live_count())?;
                layout
            }
        };
        if num_partitions > TOPIC_PARTITIONS_MAX {
            return Err(ResponseError::InvalidPartitions);
        }
        let added = 1 + topic.configs.len() + num_partitions as usize;
        if records.len() + added > USER_OP_RECORDS_MAX {
            return Err(ResponseError::PolicyViolation);
        }
        let mut created = CreatedTopic {
            topic_id: Uuid::nil(),
            num_partitions,
            replication_factor,
        };
        if validate_only {
            return Ok(created);
        }
        created.topic_id = self.new_topic_id();
        records.push(MetadataRecord::Topic(TopicRecord {
            name: topic.name.clone(),
            topic_id: created.topic_id,
        }));
        for (name, value) in &topic.configs {
            records.push(MetadataRecord::Config(ConfigRecord {
                resource: ConfigResource::Topic(topic.name.clone()),
                name: name.clone(),
                value: Some(value.clone()),
            }));
        }
        let rf = replication_factor as usize;
        for partition_id in 0..num_partitions {
            // The placer picks active brokers only: all its replicas start in sync.
            let (replicas, isr) = match &assigned {
                Some(assigned) => {
                    let replicas = assigned[partition_id as usize].clone();
                    let isr = self.active_of(&replicas);
                    (replicas, isr)
                }
                None => {
                    let replicas = placer.place(rf);
                    (replicas.clone(), replicas)
                }
            };
            records.push(new_partition(created.topic_id, partition_id, replicas, isr));
        }
        Ok(created)
    }

    /// The partition count and replication factor asked for, with the
    /// configured defaults for -1.
    fn asked_layout(&self, topic: &NewTopic) -> (i32, i16) {
        let num_partitions = match topic.num_partitions {
            -1 => self.config.num_partitions,
            n => n,
        };
        let replication_factor = match topic.replication_factor {
            -1 => self.config.default_replication_factor,
            n => n,
        };
        (num_partitions, replication_factor)
    }

    /// The replicas of each partition when `topic` comes with a manual
    /// assignment (checked as KRaft does; each partition needs an active
    /// replica to lead it), `None` when the controller places them.
    fn manual_assignment(&self, topic: &NewTopic) -> Result<Option<Vec<Vec<i32>>>, ResponseError> {
        if topic.assignments.is_empty() {
            return Ok(None);
        }
        let assigned = check_manual_assignment(
            topic.num_partitions,
            topic.replication_factor,
            &topic.assignments,
            |broker| self.image.broker(broker).is_some(),
        )
        .map_err(|e| match e {
            AssignmentError::CountsGiven(_) => ResponseError::InvalidRequest,
            AssignmentError::Invalid(_) => ResponseError::InvalidReplicaAssignment,
        })?;
        if assigned
            .iter()
            .any(|replicas| self.active_of(replicas).is_empty())
        {
            // Kafka: "All brokers specified in the manual partition assignment for
            // partition N are fenced or in controlled shutdown."
            return Err(ResponseError::InvalidReplicaAssignment);
        }
        Ok(Some(assigned))
    }

    /// The replicas whose brokers are active (registered, unfenced, not
    /// shutting down): a new partition's ISR, led by its first member.
    fn active_of(&self, replicas: &[i32]) -> Vec<i32> {
        replicas
            .iter()
            .copied()
            .filter(|broker| self.image.is_active(*broker))
            .collect()
    }

    /// A random topic id not in use, one Kafka could have made (its text
    /// never starts with '-', which Kafka's tools would read as an option).
    fn new_topic_id(&mut self) -> Uuid {
        loop {
            let id = self.rng.uuid();
            if is_kafka_random_uuid(&id) && self.image.topic(id).is_none() {
                return id;
            }
        }
    }

    pub(super) fn create_partitions(
        &mut self,
        request: &CreatePartitionsRequest,
        out: &mut Vec<Output>,
    ) -> Reply {
        let duplicates = repeated(request.topics.iter().map(|t| t.name.as_str()));
        let mut placer = Placer::new(&self.image);
        let mut records = Vec::new();
        let mut results = Vec::with_capacity(request.topics.len());
        for topic in &request.topics {
            let result = if duplicates.contains(topic.name.as_str()) {
                Err(ResponseError::InvalidRequest)
            } else {
                self.add_partitions(topic, &mut placer, &mut records)
            };
            results.push((topic.name.clone(), result));
        }
        if !request.validate_only {
            self.propose(records, out);
        }
        Reply::CreatePartitions(results)
    }

    /// Writes one ConfigRecord per changed key of each known topic
    /// (KRaft's `ConfigurationControlManager.incrementalAlterConfigs`).
    pub(super) fn alter_configs(
        &mut self,
        request: &AlterConfigsRequest,
        out: &mut Vec<Output>,
    ) -> Reply {
        let duplicates = repeated(request.topics.iter().map(|(name, _)| name.as_str()));
        let mut records = Vec::new();
        let mut results = Vec::with_capacity(request.topics.len());
        for (name, changes) in &request.topics {
            let known = self.image.topic_by_name(name).is_some();
            let valid = changes.len() <= TOPIC_CONFIGS_MAX
                && changes
                    .iter()
                    .all(|(key, value)| value.as_ref().is_none_or(|v| valid_topic_config(key, v)));
            let result = if duplicates.contains(name.as_str()) {
                Err(ResponseError::InvalidRequest)
            } else if !known {
                Err(ResponseError::UnknownTopicOrPartition)
            } else if !valid || records.len() + changes.len() > USER_OP_RECORDS_MAX {
                Err(ResponseError::InvalidConfig)
            } else {
                records.extend(changes.iter().map(|(key, value)| {
                    MetadataRecord::Config(ConfigRecord {
                        resource: ConfigResource::Topic(name.clone()),
                        name: key.clone(),
                        value: value.clone(),
                    })
                }));
                Ok(())
            };
            results.push((name.clone(), result));
        }
        self.propose(records, out);
        Reply::AlterConfigs(results)
    }

    fn add_partitions(
        &self,
        request: &NewPartitions,
        placer: &mut Placer,
        records: &mut Vec<MetadataRecord>,
    ) -> Result<(), ResponseError> {
        let (name, count) = (&request.name, request.count);
        let topic = self
            .image
            .topic_by_name(name)
            .ok_or(ResponseError::UnknownTopicOrPartition)?;
        let current = topic.partitions.len() as i32;
        if count <= current || count > TOPIC_PARTITIONS_MAX {
            return Err(ResponseError::InvalidPartitions);
        }
        let rf = topic.partitions.first().map_or(1, |p| p.replicas.len());
        if request.assignments.is_empty() {
            check_layout(count, rf as i16, placer.live_count())?;
        } else {
            self.check_added_assignments((count - current) as usize, rf, &request.assignments)?;
        }
        if records.len() + (count - current) as usize > USER_OP_RECORDS_MAX {
            return Err(ResponseError::PolicyViolation);
        }
        for (i, partition_id) in (current..count).enumerate() {
            let (replicas, isr) = match request.assignments.get(i) {
                Some(assigned) => (assigned.clone(), self.active_of(assigned)),
                None => {
                    let replicas = placer.place(rf);
                    (replicas.clone(), replicas)
                }
            };
            records.push(new_partition(topic.topic_id, partition_id, replicas, isr));
        }
        Ok(())
    }

    /// A CreatePartitions manual assignment, checked as KRaft does; each
    /// added partition needs an active replica to lead it.
    fn check_added_assignments(
        &self,
        added: usize,
        replication_factor: usize,
        assignments: &[Vec<i32>],
    ) -> Result<(), ResponseError> {
        check_added_assignments(added, replication_factor, assignments, |broker| {
            self.image.broker(broker).is_some()
        })
        .map_err(|_| ResponseError::InvalidReplicaAssignment)?;
        if assignments
            .iter()
            .any(|replicas| self.active_of(replicas).is_empty())
        {
            return Err(ResponseError::InvalidReplicaAssignment);
        }
        Ok(())
    }

    pub(super) fn delete_topics(
        &mut self,
        request: &DeleteTopicsRequest,
        out: &mut Vec<Output>,
    ) -> Reply {
        if !self.config.delete_topic_enable {
            return Reply::DeleteTopics(deletion_disabled(request));
        }
        // Kafka's rules: a name or an id given twice, or a topic given by
        // name and by id, is refused and stays.
        let asked: Vec<Asked<'_>> = request.topics.iter().map(asked_of).collect();
        let id_of_name = |name: &str| self.image.topic_by_name(name).map(|t| t.topic_id);
        let verdicts =
            topic_deletion::judge(&asked, id_of_name, |id| self.image.topic(id).is_some());
        let mut records = Vec::new();
        let mut results = Vec::with_capacity(request.topics.len());
        for (topic, verdict) in request.topics.iter().zip(verdicts) {
            let result = self.deletion(verdict);
            if let Ok(deleted) = &result {
                let topic_id = deleted.topic_id;
                records.push(MetadataRecord::RemoveTopic(RemoveTopicRecord { topic_id }));
            }
            results.push((topic.clone(), result));
        }
        self.propose(records, out);
        Reply::DeleteTopics(results)
    }

    /// The result of one topic of a DeleteTopics judged `verdict`.
    fn deletion(&self, verdict: Verdict) -> Result<DeletedTopic, ResponseError> {
        match verdict {
            Verdict::Delete(topic_id) => {
                let name = self.image.topic(topic_id).map(|t| t.name.clone());
                let name = name.ok_or(ResponseError::UnknownTopicId)?;
                Ok(DeletedTopic { topic_id, name })
            }
            Verdict::UnknownName => Err(ResponseError::UnknownTopicOrPartition),
            Verdict::UnknownId => Err(ResponseError::UnknownTopicId),
            Verdict::Duplicate | Verdict::AskedByNameAndId(_) => Err(ResponseError::InvalidRequest),
        }
    }
}

/// `delete.topic.enable=false`: Kafka's controller refuses the whole request
/// before reading a row; the broker answers INVALID_REQUEST below
/// DeleteTopics v3. Every topic is refused, and a request with none (its
/// client's rows were all refused by the broker as they were: neither a
/// name nor an id, or both) is answered one refused row naming no topic (no
/// topic has an empty name), so that the broker still learns of the
/// refusal and answers those rows TOPIC_DELETION_DISABLED, as Kafka does.
fn deletion_disabled(
    request: &DeleteTopicsRequest,
) -> Vec<(TopicRef, Result<DeletedTopic, ResponseError>)> {
    let refused = |t: TopicRef| (t, Err(ResponseError::TopicDeletionDisabled));
    match request.topics.is_empty() {
        true => vec![refused(TopicRef::Name(String::new()))],
        false => request.topics.iter().cloned().map(refused).collect(),
    }
}

/// A topic of a DeleteTopics, as [`topic_deletion::judge`] reads it.
fn asked_of(topic: &TopicRef) -> Asked<'_> {
    match topic {
        TopicRef::Name(name) => Asked::Name(name),
        TopicRef::Id(id) => Asked::Id(*id),
    }
}

/// A topic config the broker's table knows, or one only the controller
/// reads (`unclean.leader.election.enable`).
fn valid_topic_config(key: &str, value: &str) -> bool {
    match key {
        "unclean.leader.election.enable" => value.parse::<bool>().is_ok(),
        _ => validate_topic_config(key, value).is_ok(),
    }
}

/// Partition count and replication factor in range, and enough live brokers.
fn check_layout(
    partitions: i32,
    replication_factor: i16,
    live: usize,
) -> Result<(), ResponseError> {
    if partitions <= 0 || partitions > TOPIC_PARTITIONS_MAX {
        return Err(ResponseError::InvalidPartitions);
    }
    if replication_factor <= 0 || replication_factor as usize > live {
        return Err(ResponseError::InvalidReplicationFactor);
    }
    Ok(())
}

/// A new partition: its active replicas in sync, the first of them leading.
fn new_partition(
    topic_id: Uuid,
    partition_id: i32,
    replicas: Vec<i32>,
    isr: Vec<i32>,
) -> MetadataRecord {
    MetadataRecord::Partition(PartitionRecord {
        topic_id,
        partition_id,
        registration: PartitionRegistration {
            leader: isr.first().copied(),
            isr,
            replicas,
            elr: Vec::new(),
            last_known_elr: Vec::new(),
            leader_recovery_state: LeaderRecoveryState::Recovered,
            leader_epoch: 0,
            partition_epoch: 0,
            adding: Vec::new(),
            removing: Vec::new(),
        },
    })
}

/// The names that occur more than once.
fn repeated<'a>(names: impl Iterator<Item = &'a str>) -> BTreeSet<&'a str> {
    let mut seen = BTreeSet::new();
    names.filter(|name| !seen.insert(*name)).collect()
}
