//! The offsets partitions one shard owns, and which partition holds a
//! group's commits.

use super::{CommittedOffset, OffsetChange, OffsetStore, OffsetStoreError};
use crate::local::join_all;
use crate::partition::ShardPartitions;
use crate::protocol::error_code;
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::rc::{Rc, Weak};
use std::time::Duration;

/// Kafka's name for the topic whose partitions hold committed offsets; the
/// shard placement of its partitions places the groups.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// First pause before a failed load of a replicated offsets partition is
/// tried again; it doubles up to [`OFFSETS_LOAD_RETRY_MS_MAX`].
pub const OFFSETS_LOAD_RETRY_MS_MIN: u64 = 100;
/// Longest pause between two load attempts.
pub const OFFSETS_LOAD_RETRY_MS_MAX: u64 = 5_000;
/// Load attempts of one store at most (about 80 minutes at the longest
/// pause); past them its groups stay unavailable until leadership moves.
pub const OFFSETS_LOAD_ATTEMPTS_MAX: u32 = 1_000;

/// Java's `String.hashCode` of `value` (over its UTF-16 code units).
pub fn java_string_hash(value: &str) -> i32 {
    value
        .encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(c as i32))
}

/// The offsets partition of `group_id` among `partitions`: Kafka's
/// `Utils.abs(groupId.hashCode) % offsets.topic.num.partitions`
/// (`Utils.abs(Integer.MIN_VALUE)` is 0).
pub fn partition_for_group(group_id: &str, partitions: usize) -> i32 {
    let hash = java_string_hash(group_id);
    let abs = if hash == i32::MIN { 0 } else { hash.abs() };
    (abs as usize % partitions.max(1)) as i32
}

/// The stores of the offsets partitions a shard owns.
pub struct ShardOffsets {
    /// The offsets partition count in effect: fixed at the first start on a
    /// single node; a cluster's follows `__consumer_offsets` as created.
    partitions: Cell<usize>,
    /// The offsets partitions this shard owns (of `partitions`).
    owned: RefCell<Vec<i32>>,
    /// A single node: one file store per owned partition, all loaded at
    /// start. A cluster: a store per owned partition this broker leads,
    /// made (and loaded) when leadership arrives, dropped when it goes.
    stores: RefCell<BTreeMap<i32, Rc<OffsetStore>>>,
    /// True in a cluster (stores backed by `__consumer_offsets`).
    replicated: bool,
    /// A cluster's owned partitions this broker leads in its cluster view,
    /// store or not (one is made once the partition is open); `None` while
    /// the view has no `__consumer_offsets`.
    led_in_view: RefCell<Option<BTreeSet<i32>>>,
}

impl ShardOffsets {
    /// Stores for `owned` of the `partitions` offsets partitions under
    /// `log_dir`; [`ShardOffsets::load`] opens them.
    pub fn new(log_dir: &Path, partitions: usize, owned: &[i32]) -> Self {
        let stores = owned
            .iter()
            .map(|&p| (p, OffsetStore::new(log_dir, p)))
            .collect();
        ShardOffsets {
            partitions: Cell::new(partitions.max(1)),
            owned: RefCell::new(owned.to_vec()),
            stores: RefCell::new(stores),
            replicated: false,
            led_in_view: RefCell::new(None),
        }
    }

    /// A cluster's: no store until this broker leads one of `owned`
    /// ([`ShardOffsets::lead`]).
    pub fn new_replicated(partitions: usize, owned: &[i32]) -> Self {
        ShardOffsets {
            partitions: Cell::new(partitions.max(1)),
            owned: RefCell::new(owned.to_vec()),
            stores: RefCell::new(BTreeMap::new()),
            replicated: true,
            led_in_view: RefCell::new(None),
        }
    }

    /// The offsets partitions this shard owns.
    pub fn owned(&self) -> Vec<i32> {
        self.owned.borrow().clone()
    }

    /// The offsets partition count in effect.
    pub fn partition_count(&self) -> usize {
        self.partitions.get()
    }

    /// A cluster's `__consumer_offsets` has `partitions` partitions, `owned`
    /// of them placed on this shard (Kafka's coordinator takes the count
    /// from the topic as created, not from a config that may differ). When
    /// that changes the count in effect, every store is dropped: groups map
    /// to other partitions now. True when it changed.
    pub fn follow_partition_count(&self, partitions: usize, owned: Vec<i32>) -> bool {
        let partitions = partitions.max(1);
        if !self.replicated || partitions == self.partitions.get() {
            return false;
        }
        self.stores.borrow_mut().clear();
        self.partitions.set(partitions);
        *self.owned.borrow_mut() = owned;
        true
    }

    /// Loads every owned partition; the first failure.
    pub async fn load(&self) -> Result<(), OffsetStoreError> {
        let stores: Vec<_> = self.stores.borrow().values().cloned().collect();
        let loads = stores.iter().map(|store| store.load());
        join_all(loads).await.into_iter().collect()
    }

    /// Follows the cluster view: `led` are the owned partitions this broker
    /// leads in it, `None` while it has no `__consumer_offsets`.
    pub fn follow_view(&self, led: Option<BTreeSet<i32>>) {
        *self.led_in_view.borrow_mut() = led;
    }

    /// Whether requests for `group` are served here now: always on a single
    /// node; in a cluster NOT_COORDINATOR when another broker leads the
    /// group's partition, COORDINATOR_LOAD_IN_PROGRESS while it loads here.
    /// A broker that has not applied `__consumer_offsets` yet, or leads the
    /// partition but has not opened it yet, is loading too: a client sent
    /// here by a broker that applied the topic first must retry (librdkafka
    /// never fetches an assigned partition's committed offset again after
    /// NOT_COORDINATOR from the coordinator it is sent back to).
    pub fn availability(&self, group: &str) -> Result<(), i16> {
        if !self.replicated {
            return Ok(());
        }
        match self.store_of(group) {
            Some(store) if !store.is_loaded() => Err(error_code::COORDINATOR_LOAD_IN_PROGRESS),
            Some(_) => Ok(()),
            None if self.led_here_in_view(group) => Err(error_code::COORDINATOR_LOAD_IN_PROGRESS),
            None => Err(error_code::NOT_COORDINATOR),
        }
    }

    /// Whether the cluster view makes this broker `group`'s coordinator, or
    /// has no `__consumer_offsets` yet.
    fn led_here_in_view(&self, group: &str) -> bool {
        let index = partition_for_group(group, self.partitions.get());
        self.led_in_view
            .borrow()
            .as_ref()
            .is_none_or(|led| led.contains(&index))
    }

    /// This broker leads offsets partition `index` at `leader_epoch`: a new
    /// store for it (unless it has one of that epoch), loaded in the
    /// background from the partition's log. True when a store was made.
    pub fn lead(&self, partitions: &Rc<ShardPartitions>, index: i32, leader_epoch: i32) -> bool {
        let current = self.stores.borrow().get(&index).cloned();
        if current.is_some_and(|store| store.leader_epoch() == Some(leader_epoch)) {
            return false;
        }
        let store = OffsetStore::replicated(partitions.clone(), index, leader_epoch);
        let loading = Rc::downgrade(&store);
        self.stores.borrow_mut().insert(index, store);
        glommio::spawn_local(load_while_led(loading, index, leader_epoch)).detach();
        true
    }

    /// This broker no longer leads offsets partition `index`: its store is
    /// dropped. True when there was one.
    pub fn resign(&self, index: i32) -> bool {
        self.stores.borrow_mut().remove(&index).is_some()
    }

    /// The store of `group`'s partition, if this shard owns it.
    fn store_of(&self, group: &str) -> Option<Rc<OffsetStore>> {
        self.stores
            .borrow()
            .get(&partition_for_group(group, self.partitions.get()))
            .cloned()
    }

    /// Every store, loaded or not.
    fn all_stores(&self) -> Vec<Rc<OffsetStore>> {
        self.stores.borrow().values().cloned().collect()
    }

    /// The committed offset of one partition.
    pub fn get(&self, group: &str, topic: &str, partition: i32) -> Option<CommittedOffset> {
        self.store_of(group)?.get(group, topic, partition)
    }

    /// Every committed offset of `group`, sorted by topic and partition.
    pub fn group_offsets(&self, group: &str) -> Vec<(String, i32, CommittedOffset)> {
        self.store_of(group)
            .map(|store| store.group_offsets(group))
            .unwrap_or_default()
    }

    /// Whether `group` has committed offsets.
    pub fn has_group(&self, group: &str) -> bool {
        self.store_of(group)
            .is_some_and(|store| store.has_group(group))
    }

    /// Groups that have committed offsets.
    pub fn groups(&self) -> Vec<String> {
        self.all_stores()
            .iter()
            .flat_map(|store| store.groups())
            .collect()
    }

    /// Deletion records for every offset of `group`.
    pub fn deletions_for_group(&self, group: &str) -> Vec<OffsetChange> {
        self.store_of(group)
            .map(|store| store.deletions_for_group(group))
            .unwrap_or_default()
    }

    /// Deletion records for every offset, of any group, whose topic is `gone`.
    pub fn deletions_for_topics(&self, gone: impl Fn(&str) -> bool) -> Vec<OffsetChange> {
        self.all_stores()
            .iter()
            .filter(|store| store.is_loaded())
            .flat_map(|store| store.deletions_for_topics(&gone))
            .collect()
    }

    /// [`OffsetStore::expired_deletions`] over every owned partition.
    pub fn expired_deletions(
        &self,
        now_ms: i64,
        retention_ms: i64,
        active: impl Fn(&str) -> bool,
    ) -> Vec<OffsetChange> {
        self.all_stores()
            .iter()
            .filter(|store| store.is_loaded())
            .flat_map(|store| store.expired_deletions(now_ms, retention_ms, &active))
            .collect()
    }

    /// Makes `changes` durable, then visible, each in its group's partition
    /// (partitions written concurrently); the first failure.
    pub async fn write(&self, changes: Vec<OffsetChange>) -> Result<(), OffsetStoreError> {
        let mut by_partition: BTreeMap<i32, Vec<OffsetChange>> = BTreeMap::new();
        for change in changes {
            let partition = partition_for_group(&change.group, self.partitions.get());
            by_partition.entry(partition).or_default().push(change);
        }
        let mut writes = Vec::with_capacity(by_partition.len());
        for (partition, changes) in by_partition {
            // Routing sends a group only to the shard owning its partition.
            let store = self
                .stores
                .borrow()
                .get(&partition)
                .cloned()
                .ok_or(OffsetStoreError::NotOpen)?;
            writes.push(async move { store.write(changes).await });
        }
        join_all(writes).await.into_iter().collect()
    }

    /// Resolves once every write queued before this call, in any owned
    /// partition, is done ([`OffsetStore::settled`]).
    pub async fn settled_all(&self) {
        let stores = self.all_stores();
        join_all(stores.iter().map(|store| store.settled())).await;
    }

    /// Resolves once every write of `group`'s partition queued before this
    /// call is done ([`OffsetStore::settled`]).
    pub async fn settled(&self, group: &str) {
        if let Some(store) = self.store_of(group) {
            store.settled().await;
        }
    }
}

/// Loads a replicated store, and loads it again after a failure (a
/// partition not open here yet, a read error) with a growing pause, for as
/// long as the store is in use: its groups get COORDINATOR_LOAD_IN_PROGRESS
/// meanwhile, retriable for clients, instead of a store left unloaded
/// until the next leadership change. A failed load applies nothing, so a
/// retry starts clean. Ends when leadership moves (the store is dropped).
async fn load_while_led(store: Weak<OffsetStore>, index: i32, leader_epoch: i32) {
    let mut pause_ms = OFFSETS_LOAD_RETRY_MS_MIN;
    for attempt in 1..=OFFSETS_LOAD_ATTEMPTS_MAX {
        let Some(current) = store.upgrade() else {
            return;
        };
        match current.load().await {
            Ok(()) => return,
            Err(e) => log::warn!(
                "offsets partition {index} (leader epoch {leader_epoch}): load attempt \
                 {attempt} failed, tried again in {pause_ms} ms: {e}"
            ),
        }
        drop(current);
        glommio::timer::sleep(Duration::from_millis(pause_ms)).await;
        pause_ms = (pause_ms * 2).min(OFFSETS_LOAD_RETRY_MS_MAX);
    }
    log::error!(
        "offsets partition {index} (leader epoch {leader_epoch}): not loaded after \
         {OFFSETS_LOAD_ATTEMPTS_MAX} attempts; its groups stay unavailable until its \
         leadership changes"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values from Java: `"orders".hashCode()` is -1008770331, and
    /// `Utils.abs(h) % 50` gives Kafka's partition.
    #[test]
    fn groups_map_to_kafkas_partitions() {
        assert_eq!(java_string_hash("orders"), -1008770331);
        assert_eq!(partition_for_group("orders", 50), 31);
        assert_eq!(java_string_hash(""), 0);
        assert_eq!(partition_for_group("", 50), 0);
        // "polygenelubricants".hashCode() is Integer.MIN_VALUE: Utils.abs gives 0.
        assert_eq!(java_string_hash("polygenelubricants"), i32::MIN);
        assert_eq!(partition_for_group("polygenelubricants", 7), 0);
        assert!((0..50).contains(&partition_for_group("any group", 50)));
    }

    /// A cluster's shard serves a group only while this broker leads (and
    /// has loaded) its partition; a single node serves every group.
    #[test]
    fn a_cluster_serves_only_groups_of_partitions_it_leads() {
        let single = ShardOffsets::new(Path::new("/nonexistent"), 50, &[31]);
        assert_eq!(single.availability("orders"), Ok(()));
        let cluster = ShardOffsets::new_replicated(50, &[31]);
        let loading = Err(error_code::COORDINATOR_LOAD_IN_PROGRESS);
        // No `__consumer_offsets` in the view yet: a client sent here retries.
        assert_eq!(cluster.availability("orders"), loading);
        cluster.follow_view(Some(BTreeSet::new()));
        assert_eq!(
            cluster.availability("orders"),
            Err(error_code::NOT_COORDINATOR)
        );
        // Led here in the view, the partition not open yet.
        cluster.follow_view(Some(BTreeSet::from([31])));
        assert_eq!(cluster.availability("orders"), loading);
        assert!(!cluster.resign(31));
        assert_eq!(cluster.owned(), vec![31]);
    }

    /// A cluster's offsets load that fails (here: the partition is not
    /// open on this shard yet) is retried while this broker still leads
    /// the partition: the store serves once the partition can be read,
    /// with no leadership change in between.
    #[test]
    fn a_failed_load_is_retried_while_the_partition_is_led() {
        use crate::local::notify::LocalEvent;
        use crate::partition::producer_state::ProducerStateConfig;
        use crate::storage::tests::{new_storage, run, TempDir};
        use crate::storage::{LogConfig, StorageLimits};
        use std::time::{Duration, Instant};
        let dir = TempDir::new("offsets-load-retry");
        run(async move {
            let storage = new_storage(&dir, StorageLimits::default());
            let partitions = ShardPartitions::new(
                storage,
                ProducerStateConfig::default(),
                LocalEvent::default(),
            );
            let shard = ShardOffsets::new_replicated(1, &[0]);
            assert!(shard.lead(&partitions, 0, 1));
            glommio::timer::sleep(Duration::from_millis(50)).await;
            assert_eq!(
                shard.availability("g"),
                Err(error_code::COORDINATOR_LOAD_IN_PROGRESS)
            );
            partitions
                .open(OFFSETS_TOPIC, 0, None, LogConfig::default(), true)
                .await
                .unwrap();
            let deadline = Instant::now() + Duration::from_secs(10);
            while shard.availability("g").is_err() {
                assert!(Instant::now() < deadline, "the failed load was not retried");
                glommio::timer::sleep(Duration::from_millis(20)).await;
            }
            drop(dir);
        });
    }

    fn commit(group: &str) -> OffsetChange {
        OffsetChange {
            group: group.into(),
            topic: "t".into(),
            partition: 0,
            committed: Some(CommittedOffset {
                offset: group.len() as i64,
                leader_epoch: -1,
                metadata: String::new(),
                commit_time_ms: 1,
            }),
        }
    }

    /// Two shards' commits, each in its own partitions, are all found by
    /// one shard owning every partition (a restart with fewer shards).
    #[test]
    fn commits_made_on_two_shards_are_found_by_one() {
        let dir = std::env::temp_dir().join(format!("millrace-opart-{}", uuid::Uuid::new_v4()));
        let log_dir = dir.clone();
        glommio::LocalExecutorBuilder::default()
            .io_memory(1 << 20)
            .make()
            .unwrap()
            .run(async move {
                let groups: Vec<String> = (0..20).map(|i| format!("group-{i}")).collect();
                for owned in [[0, 2, 4], [1, 3, 5]] {
                    let shard = ShardOffsets::new(&log_dir, 6, &owned);
                    shard.load().await.unwrap();
                    let mine = groups
                        .iter()
                        .filter(|g| owned.contains(&partition_for_group(g, 6)))
                        .map(|g| commit(g))
                        .collect();
                    shard.write(mine).await.unwrap();
                }
                let one = ShardOffsets::new(&log_dir, 6, &[0, 1, 2, 3, 4, 5]);
                one.load().await.unwrap();
                for group in &groups {
                    let found = one.get(group, "t", 0).map(|c| c.offset);
                    assert_eq!(found, Some(group.len() as i64), "{group}");
                }
                // A group outside the shard's partitions is refused, not misplaced.
                let half = ShardOffsets::new(&log_dir, 6, &[0]);
                half.load().await.unwrap();
                let elsewhere = groups
                    .iter()
                    .find(|g| partition_for_group(g, 6) != 0)
                    .unwrap();
                assert!(half.write(vec![commit(elsewhere)]).await.is_err());
            });
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
