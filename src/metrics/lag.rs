//! Consumer group lag: each shard publishes the log end offsets of its
//! partitions and the committed offsets of the groups it coordinates; a
//! scrape joins the two (lag = log end offset - committed offset).

use super::Registry;
use std::collections::HashMap;

/// Most lag series one scrape reports (groups x partitions), so a broker
/// with many groups cannot make a scrape unbounded.
pub const LAG_SERIES_MAX: usize = 100_000;

/// One committed offset as published by the coordinating shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedEntry {
    /// Group id.
    pub group: String,
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Next offset the group will consume.
    pub offset: i64,
}

/// What one shard publishes for lag, replaced whole by each refresh.
#[derive(Debug, Default)]
pub struct LagInputs {
    /// Topic -> partition -> log end offset (the high watermark: what
    /// consumers may read), for partitions this shard owns.
    pub log_end_offsets: HashMap<String, HashMap<i32, i64>>,
    /// Committed offsets of the groups this shard coordinates.
    pub committed: Vec<CommittedEntry>,
}

/// One lag series.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LagSeries {
    /// Group id.
    pub group: String,
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Records between the committed offset and the log end (never negative).
    pub lag: i64,
}

/// Joins every shard's published offsets; partitions no shard reports (a
/// deleted topic) are left out. Sorted by group, topic, partition.
pub fn compute(registry: &Registry) -> Vec<LagSeries> {
    let mut end_offsets: HashMap<(String, i32), i64> = HashMap::new();
    let mut committed: Vec<CommittedEntry> = Vec::new();
    for shard in registry.shards() {
        // A poisoned lock only means a writer panicked mid-swap; the data
        // is still a whole snapshot.
        let inputs = shard
            .lag_inputs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for (topic, partitions) in &inputs.log_end_offsets {
            for (&partition, &end) in partitions {
                end_offsets.insert((topic.clone(), partition), end);
            }
        }
        let room = LAG_SERIES_MAX.saturating_sub(committed.len());
        committed.extend(inputs.committed.iter().take(room).cloned());
    }
    let mut series: Vec<LagSeries> = committed
        .into_iter()
        .filter_map(|entry| {
            let end = *end_offsets.get(&(entry.topic.clone(), entry.partition))?;
            Some(LagSeries {
                lag: (end - entry.offset).max(0),
                group: entry.group,
                topic: entry.topic,
                partition: entry.partition,
            })
        })
        .collect();
    series
        .sort_by(|a, b| (&a.group, &a.topic, a.partition).cmp(&(&b.group, &b.topic, b.partition)));
    series
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commit(group: &str, topic: &str, partition: i32, offset: i64) -> CommittedEntry {
        CommittedEntry {
            group: group.into(),
            topic: topic.into(),
            partition,
            offset,
        }
    }

    #[test]
    fn lag_joins_offsets_published_by_different_shards() {
        let registry = Registry::new(2);
        {
            let mut owner = registry.shards()[1].lag_inputs.lock().unwrap();
            owner
                .log_end_offsets
                .entry("t".into())
                .or_default()
                .extend([(0, 100), (1, 5)]);
        }
        registry.shards()[0].lag_inputs.lock().unwrap().committed = vec![
            commit("g", "t", 1, 7), // committed past the end (truncated log): lag 0
            commit("g", "t", 0, 40),
            commit("g", "gone", 0, 1), // no shard reports the topic: left out
        ];
        let series = compute(&registry);
        assert_eq!(series.len(), 2);
        assert_eq!((series[0].partition, series[0].lag), (0, 60));
        assert_eq!((series[1].partition, series[1].lag), (1, 0));
    }
}
