//! Setup and teardown over the repo's blocking client: create missing topics,
//! find each partition's leader and its log end offset, delete topics after.

use super::workload::Workload;
use crate::client::admin::OffsetSpec;
use crate::client::{ClientError, KafkaClient};
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::{
    CreateTopicsRequest, DeleteTopicsRequest, InitProducerIdRequest, ProducerId, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Socket timeout of setup requests.
pub const ADMIN_TIMEOUT: Duration = Duration::from_secs(30);
/// How long to wait for created topics to show leaders in Metadata.
pub const TOPIC_READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause between Metadata polls while waiting.
const TOPIC_READY_POLL: Duration = Duration::from_millis(50);
use crate::protocol::error_code::{
    LEADER_NOT_AVAILABLE, NONE, NOT_LEADER_OR_FOLLOWER, TOPIC_ALREADY_EXISTS,
    UNKNOWN_TOPIC_OR_PARTITION,
};
/// Errors of a partition whose leadership is still being applied: Apache Kafka names a new
/// partition's leader in Metadata before that broker has applied the change, and answers
/// ListOffsets with these meanwhile. Retried until [`TOPIC_READY_TIMEOUT`].
const LEADERSHIP_PENDING_CODES: &[i16] = &[
    UNKNOWN_TOPIC_OR_PARTITION,
    LEADER_NOT_AVAILABLE,
    NOT_LEADER_OR_FOLLOWER,
];
/// First DeleteTopics version that names topics in `topics`.
const DELETE_TOPICS_STATE_VERSION: i16 = 6;

/// One partition the run writes to or reads from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionTarget {
    /// Partition index.
    pub partition: i32,
    /// `host:port` of its leader.
    pub leader: String,
    /// Its log end offset before the run (where consumers start).
    pub start_offset: i64,
}

/// One topic of the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicPlan {
    /// Topic name.
    pub name: String,
    /// Its partitions.
    pub partitions: Vec<PartitionTarget>,
}

fn name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

/// Creates missing topics (when allowed) and returns every partition's
/// leader and end offset. A missing topic with `create_topics = false` is an
/// error naming the broker's error code.
pub fn prepare(workload: &Workload) -> Result<Vec<TopicPlan>, String> {
    let names = workload.topic_names();
    let mut client = KafkaClient::connect(&workload.bootstrap, ADMIN_TIMEOUT)
        .map_err(|e| format!("cannot reach {}: {e}", workload.bootstrap))?;
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let metadata = client.metadata(Some(&refs)).map_err(|e| e.to_string())?;
    let mut missing = Vec::new();
    for topic in &names {
        match metadata.topics.get(topic).map(|t| t.error_code) {
            Some(NONE) => {}
            Some(UNKNOWN_TOPIC_OR_PARTITION) | None => missing.push(topic.clone()),
            Some(code) => {
                return Err(format!(
                    "topic {topic}: {}",
                    ClientError::broker(code, None)
                ))
            }
        }
    }
    if !missing.is_empty() {
        if !workload.create_topics {
            return Err(format!(
                "topic(s) {} do not exist ({}) and create_topics is false",
                missing.join(", "),
                ClientError::broker(UNKNOWN_TOPIC_OR_PARTITION, None)
            ));
        }
        create_topics(&mut client, &missing, workload.partitions_per_topic)?;
    }
    let leaders = wait_for_leaders(&mut client, &refs)?;
    plans_with_offsets(&names, &leaders)
}

fn create_topics(
    client: &mut KafkaClient,
    topics: &[String],
    partitions: u32,
) -> Result<(), String> {
    let request = CreateTopicsRequest::default()
        .with_timeout_ms(ADMIN_TIMEOUT.as_millis() as i32)
        .with_topics(
            topics
                .iter()
                .map(|t| {
                    CreatableTopic::default()
                        .with_name(name(t))
                        .with_num_partitions(partitions as i32)
                        .with_replication_factor(-1)
                })
                .collect(),
        );
    let response = client
        .send(&request)
        .map_err(|e| format!("CreateTopics: {e}"))?;
    for result in &response.topics {
        if result.error_code != NONE && result.error_code != TOPIC_ALREADY_EXISTS {
            return Err(format!(
                "CreateTopics {}: {}",
                result.name.0.as_str(),
                ClientError::broker(
                    result.error_code,
                    result.error_message.as_ref().map(|m| m.as_str())
                )
            ));
        }
    }
    Ok(())
}

/// Topic -> partition -> leader address, once every partition has a leader.
type Leaders = BTreeMap<String, BTreeMap<i32, String>>;

fn wait_for_leaders(client: &mut KafkaClient, topics: &[&str]) -> Result<Leaders, String> {
    let deadline = Instant::now() + TOPIC_READY_TIMEOUT;
    loop {
        let metadata = client.metadata(Some(topics)).map_err(|e| e.to_string())?;
        let mut leaders = Leaders::new();
        let mut ready = true;
        for topic in topics {
            let Some(found) = metadata.topics.get(*topic).filter(|t| t.error_code == NONE) else {
                ready = false;
                break;
            };
            let mut by_partition = BTreeMap::new();
            for (partition, leader) in &found.partition_leaders {
                match metadata.brokers.get(leader) {
                    Some(address) => {
                        by_partition.insert(*partition, address.clone());
                    }
                    None => ready = false,
                }
            }
            ready &= !by_partition.is_empty();
            leaders.insert(topic.to_string(), by_partition);
        }
        if ready {
            return Ok(leaders);
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "topics {topics:?} have no leader for every partition after {TOPIC_READY_TIMEOUT:?}"
            ));
        }
        std::thread::sleep(TOPIC_READY_POLL);
    }
}

fn plans_with_offsets(names: &[String], leaders: &Leaders) -> Result<Vec<TopicPlan>, String> {
    let mut connections: BTreeMap<String, KafkaClient> = BTreeMap::new();
    let mut plans = Vec::with_capacity(names.len());
    for topic in names {
        let by_partition = leaders.get(topic).cloned().unwrap_or_default();
        let mut by_leader: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for (partition, leader) in &by_partition {
            by_leader.entry(leader).or_default().push(*partition);
        }
        let mut offsets = BTreeMap::new();
        for (leader, partitions) in by_leader {
            if !connections.contains_key(leader) {
                let client = KafkaClient::connect(leader, ADMIN_TIMEOUT)
                    .map_err(|e| format!("cannot reach leader {leader}: {e}"))?;
                connections.insert(leader.to_string(), client);
            }
            let client = connections
                .get_mut(leader)
                .ok_or_else(|| format!("no connection to {leader}"))?;
            offsets.extend(end_offsets(client, topic, &partitions)?);
        }
        let partitions = by_partition
            .into_iter()
            .map(|(partition, leader)| PartitionTarget {
                partition,
                leader,
                start_offset: offsets.get(&partition).copied().unwrap_or(0),
            })
            .collect();
        plans.push(TopicPlan {
            name: topic.clone(),
            partitions,
        });
    }
    Ok(plans)
}

/// The log end offsets of `partitions`, asked of their leader until it has taken up
/// leadership (see [`LEADERSHIP_PENDING_CODES`]) or [`TOPIC_READY_TIMEOUT`] passes.
fn end_offsets(
    client: &mut KafkaClient,
    topic: &str,
    partitions: &[i32],
) -> Result<BTreeMap<i32, i64>, String> {
    let deadline = Instant::now() + TOPIC_READY_TIMEOUT;
    loop {
        match client.list_offsets(topic, partitions, OffsetSpec::Latest) {
            Ok(offsets) => return Ok(offsets),
            Err(ClientError::Broker { code, .. })
                if leadership_pending(code) && Instant::now() < deadline =>
            {
                std::thread::sleep(TOPIC_READY_POLL)
            }
            Err(e) => return Err(format!("ListOffsets {topic}: {e}")),
        }
    }
}

fn leadership_pending(code: i16) -> bool {
    LEADERSHIP_PENDING_CODES.contains(&code)
}

/// One producer id and epoch per idempotent bench producer, from
/// InitProducerId without a transactional id (any broker may answer it).
pub fn init_producer_ids(bootstrap: &str, count: usize) -> Result<Vec<(i64, i16)>, String> {
    let mut client = KafkaClient::connect(bootstrap, ADMIN_TIMEOUT)
        .map_err(|e| format!("cannot reach {bootstrap}: {e}"))?;
    let mut ids = Vec::with_capacity(count);
    for _ in 0..count {
        // The default request names an empty transactional id: null asks for
        // a plain idempotent producer.
        let request = InitProducerIdRequest::default()
            .with_transactional_id(None)
            .with_transaction_timeout_ms(-1)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1);
        let response = client
            .send(&request)
            .map_err(|e| format!("InitProducerId: {e}"))?;
        ClientError::check(response.error_code, None)
            .map_err(|e| format!("InitProducerId: {e}"))?;
        ids.push((response.producer_id.0, response.producer_epoch));
    }
    Ok(ids)
}

/// Deletes the run's topics; errors are returned, not hidden.
pub fn delete_topics(bootstrap: &str, topics: &[String]) -> Result<(), String> {
    let mut client = KafkaClient::connect(bootstrap, ADMIN_TIMEOUT).map_err(|e| e.to_string())?;
    let version = client
        .version_for::<DeleteTopicsRequest>()
        .map_err(|e| e.to_string())?;
    let mut request =
        DeleteTopicsRequest::default().with_timeout_ms(ADMIN_TIMEOUT.as_millis() as i32);
    if version >= DELETE_TOPICS_STATE_VERSION {
        request.topics = topics
            .iter()
            .map(|t| DeleteTopicState::default().with_name(Some(name(t))))
            .collect();
    } else {
        request.topic_names = topics.iter().map(|t| name(t)).collect();
    }
    let response = client
        .send(&request)
        .map_err(|e| format!("DeleteTopics: {e}"))?;
    for result in &response.responses {
        ClientError::check(result.error_code, result.error_message.as_ref())
            .map_err(|e| format!("DeleteTopics: {e}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::error_code::{CORRUPT_MESSAGE, UNSUPPORTED_VERSION};

    #[test]
    fn only_leadership_errors_are_waited_out() {
        for code in [
            UNKNOWN_TOPIC_OR_PARTITION,
            LEADER_NOT_AVAILABLE,
            NOT_LEADER_OR_FOLLOWER,
        ] {
            assert!(leadership_pending(code), "{code}");
        }
        for code in [NONE, UNSUPPORTED_VERSION, CORRUPT_MESSAGE] {
            assert!(!leadership_pending(code), "{code}");
        }
    }
}
