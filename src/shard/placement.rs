//! Which shard owns which partition.
//!
//! Every shard computes placement from the topic name and partition index
//! alone, so the shard table needs no coordination: a copy of the topic list
//! is enough. Partitions of one topic are spread round-robin across shards
//! starting from a per-topic offset, so a 6-partition topic on 2 shards puts
//! three partitions on each.

/// Index of a shard (0-based, dense).
pub type ShardId = usize;

/// The shard that owns `partition` of `topic` when `nr_shards` shards run.
pub fn shard_for(topic: &str, partition: i32, nr_shards: usize) -> ShardId {
    if nr_shards <= 1 {
        return 0;
    }
    let topic_hash = crc32c::crc32c(topic.as_bytes()) as u64;
    ((topic_hash + partition.max(0) as u64) % nr_shards as u64) as ShardId
}

/// The shard that coordinates consumer group `group_id`: every group API for
/// the group is routed there, and only that shard holds the group's state.
pub fn shard_for_group(group_id: &str, nr_shards: usize) -> ShardId {
    if nr_shards <= 1 {
        return 0;
    }
    (crc32c::crc32c(group_id.as_bytes()) as u64 % nr_shards as u64) as ShardId
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_shard_owns_everything() {
        assert_eq!(shard_for("t", 5, 1), 0);
    }

    #[test]
    fn partitions_of_a_topic_spread_evenly() {
        let mut per_shard = [0usize; 2];
        for partition in 0..6 {
            per_shard[shard_for("orders", partition, 2)] += 1;
        }
        assert_eq!(per_shard, [3, 3]);
    }

    #[test]
    fn placement_is_stable() {
        assert_eq!(shard_for("a", 3, 4), shard_for("a", 3, 4));
    }

    #[test]
    fn group_placement_is_stable_and_in_range() {
        assert_eq!(shard_for_group("g", 1), 0);
        assert_eq!(shard_for_group("g", 4), shard_for_group("g", 4));
        assert!(shard_for_group("orders", 3) < 3);
    }
}
