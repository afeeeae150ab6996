//! Which shard owns which partition.
//!
//! Every shard computes placement from the topic name and partition index
//! alone, so the shard table needs no coordination: a copy of the topic list
//! is enough. Partitions of one topic are spread round-robin across shards
//! starting from a per-topic offset, so a 6-partition topic on 2 shards puts
//! three partitions on each.

use crate::coordinator::offsets::partitions::{partition_for_group, OFFSETS_TOPIC};

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

/// The shard that coordinates consumer group `group_id`: the owner of the
/// group's offsets partition (of `offsets_partitions`), placed like any
/// partition. Every group API for the group is routed there, and only that
/// shard holds the group's state. The partition does not depend on the shard
/// count, so a restart with another count finds every commit.
pub fn shard_for_group(group_id: &str, offsets_partitions: usize, nr_shards: usize) -> ShardId {
    let partition = partition_for_group(group_id, offsets_partitions);
    shard_for(OFFSETS_TOPIC, partition, nr_shards)
}

/// The offsets partitions (of `offsets_partitions`) that `shard` owns.
pub fn offsets_partitions_of(
    shard: ShardId,
    offsets_partitions: usize,
    nr_shards: usize,
) -> Vec<i32> {
    (0..offsets_partitions.max(1) as i32)
        .filter(|&p| shard_for(OFFSETS_TOPIC, p, nr_shards) == shard)
        .collect()
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
        assert_eq!(shard_for_group("g", 50, 1), 0);
        assert_eq!(shard_for_group("g", 50, 4), shard_for_group("g", 50, 4));
        assert!(shard_for_group("orders", 50, 3) < 3);
    }

    #[test]
    fn every_offsets_partition_has_one_owner_and_groups_go_to_it() {
        for shards in 1..=4 {
            let owned: Vec<Vec<i32>> = (0..shards)
                .map(|shard| offsets_partitions_of(shard, 50, shards))
                .collect();
            assert_eq!(owned.iter().map(Vec::len).sum::<usize>(), 50);
            for group in ["a", "orders", "g-17"] {
                let shard = shard_for_group(group, 50, shards);
                assert!(owned[shard].contains(&partition_for_group(group, 50)));
            }
        }
    }
}
