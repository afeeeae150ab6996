//! The offsets and size columns of `millrace topic describe`, asked of each
//! partition's leader.
//!
//! A leader named by one broker's Metadata may not know yet that it leads (a
//! topic just created, a leadership just moved): it answers
//! NOT_LEADER_OR_FOLLOWER. Such answers are asked again for a bounded time;
//! a leader that still cannot answer leaves its partitions' cells unknown,
//! with a warning on stderr, so one partition in trouble does not hide the
//! description of the others.

use super::console::BrokerPool;
use crate::client::admin::OffsetSpec;
use crate::client::topics_admin::{TopicDescription, TopicsMetadata};
use crate::client::ClientError;
use crate::protocol::error_code;
use std::collections::BTreeMap;
use std::time::Duration;

/// How many times one leader is asked before its partitions' cells are
/// shown unknown.
const LEADER_QUERY_ATTEMPTS: u32 = 15;
/// The pause between two attempts: Metadata reaches every broker of a
/// healthy cluster within milliseconds, so 15 x 200 ms covers a loaded one.
const LEADER_QUERY_RETRY_MS: u64 = 200;

/// Log start offset, log end offset and size of one partition.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PartitionStats {
    /// The log start offset (ListOffsets earliest).
    pub log_start: Option<i64>,
    /// The log end offset as consumers see it (ListOffsets latest).
    pub log_end: Option<i64>,
    /// Bytes on disk, when the broker serves DescribeLogDirs.
    pub size_bytes: Option<i64>,
}

/// Each partition's offsets and size, asked of its leader. Partitions whose
/// leader is not a live broker, or did not answer, are left out (shown
/// unknown).
pub fn partition_stats(
    pool: &mut BrokerPool,
    metadata: &TopicsMetadata,
    topic: &TopicDescription,
) -> BTreeMap<i32, PartitionStats> {
    let mut by_leader: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
    for p in topic.partitions.iter().filter(|p| p.leader >= 0) {
        by_leader.entry(p.leader).or_default().push(p.partition);
    }
    let mut stats = BTreeMap::new();
    for (leader, partitions) in by_leader {
        if !metadata.brokers.contains_key(&leader) {
            continue;
        }
        match leader_stats_with_retries(pool, leader, &topic.name, &partitions) {
            Ok(answered) => stats.extend(answered),
            Err(error) => eprintln!(
                "millrace topic: warning: offsets of {} partition(s) {partitions:?} unknown: \
                 leader {leader} answered {error}",
                topic.name
            ),
        }
    }
    stats
}

fn leader_stats_with_retries(
    pool: &mut BrokerPool,
    leader: i32,
    topic: &str,
    partitions: &[i32],
) -> Result<BTreeMap<i32, PartitionStats>, ClientError> {
    let mut attempt = 1;
    loop {
        match leader_stats(pool, leader, topic, partitions) {
            Err(error) if attempt < LEADER_QUERY_ATTEMPTS && is_leadership_in_flux(&error) => {
                attempt += 1;
                std::thread::sleep(Duration::from_millis(LEADER_QUERY_RETRY_MS));
            }
            answer => return answer,
        }
    }
}

/// Errors a leader gives while the news of its leadership is on its way.
fn is_leadership_in_flux(error: &ClientError) -> bool {
    matches!(
        error,
        ClientError::Broker { code, .. } if [
            error_code::NOT_LEADER_OR_FOLLOWER,
            error_code::LEADER_NOT_AVAILABLE,
            error_code::UNKNOWN_TOPIC_OR_PARTITION,
            // A new leader whose high watermark is below its epoch's start (KIP-207).
            error_code::OFFSET_NOT_AVAILABLE,
        ]
        .contains(code)
    )
}

fn leader_stats(
    pool: &mut BrokerPool,
    leader: i32,
    topic: &str,
    partitions: &[i32],
) -> Result<BTreeMap<i32, PartitionStats>, ClientError> {
    let client = pool.client(leader)?;
    let starts = client.list_offsets(topic, partitions, OffsetSpec::Earliest)?;
    let ends = client.list_offsets(topic, partitions, OffsetSpec::Latest)?;
    let sizes = client.partition_sizes(topic, partitions)?;
    Ok(partitions
        .iter()
        .map(|&partition| {
            let stats = PartitionStats {
                log_start: starts.get(&partition).copied(),
                log_end: ends.get(&partition).copied(),
                size_bytes: sizes.as_ref().and_then(|s| s.get(&partition).copied()),
            };
            (partition, stats)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_leadership_errors_are_asked_again() {
        let broker = |code| ClientError::broker(code, None);
        assert!(is_leadership_in_flux(&broker(
            error_code::NOT_LEADER_OR_FOLLOWER
        )));
        assert!(is_leadership_in_flux(&broker(
            error_code::LEADER_NOT_AVAILABLE
        )));
        assert!(is_leadership_in_flux(&broker(
            error_code::OFFSET_NOT_AVAILABLE
        )));
        assert!(!is_leadership_in_flux(&broker(error_code::INVALID_REQUEST)));
        assert!(!is_leadership_in_flux(&ClientError::Protocol(
            "bad frame".into()
        )));
    }
}
