//! Unit tests of one offsets partition's store.

use super::record::encode_record;
use super::*;

fn change(partition: i32, offset: Option<i64>) -> OffsetChange {
    OffsetChange {
        group: "g".into(),
        topic: "t".into(),
        partition,
        committed: offset.map(|offset| CommittedOffset {
            offset,
            leader_epoch: -1,
            metadata: "m".into(),
            commit_time_ms: 5,
        }),
    }
}

#[test]
fn last_record_wins_and_delete_removes() {
    let store = OffsetStore::new(Path::new("/nonexistent"), 0);
    store.apply(change(0, Some(1)));
    store.apply(change(0, Some(2)));
    assert_eq!(store.get("g", "t", 0).map(|c| c.offset), Some(2));
    store.apply(change(0, None));
    assert_eq!(store.get("g", "t", 0), None);
    assert!(store.groups().is_empty());
}

fn committed_at(group: &str, topic: &str, commit_time_ms: i64) -> OffsetChange {
    OffsetChange {
        group: group.into(),
        topic: topic.into(),
        partition: 0,
        committed: Some(CommittedOffset {
            offset: 1,
            leader_epoch: -1,
            metadata: String::new(),
            commit_time_ms,
        }),
    }
}

#[test]
fn deletions_for_topics_cover_every_group() {
    let store = OffsetStore::new(Path::new("/nonexistent"), 0);
    store.apply(committed_at("g1", "gone", 1));
    store.apply(committed_at("g1", "kept", 1));
    store.apply(committed_at("g2", "gone", 1));
    let mut deletions = store.deletions_for_topics(|topic| topic == "gone");
    deletions.sort_by(|a, b| a.group.cmp(&b.group));
    assert_eq!(deletions.len(), 2);
    assert!(deletions
        .iter()
        .all(|d| d.topic == "gone" && d.committed.is_none()));
    for deletion in deletions {
        store.apply(deletion);
    }
    assert_eq!(store.groups(), vec!["g1".to_string()]);
    assert!(store.get("g1", "kept", 0).is_some());
}

#[test]
fn only_inactive_groups_past_retention_since_last_commit_expire() {
    let store = OffsetStore::new(Path::new("/nonexistent"), 0);
    // Old partition commit, recent one: the group's last commit counts.
    store.apply(committed_at("recent", "a", 100));
    store.apply(committed_at("recent", "b", 950));
    store.apply(committed_at("old", "a", 100));
    store.apply(committed_at("old", "b", 200));
    store.apply(committed_at("active", "a", 0));
    let deletions = store.expired_deletions(1000, 500, |group| group == "active");
    assert_eq!(deletions.len(), 2);
    assert!(deletions.iter().all(|d| d.group == "old"));
    // Exactly at the retention boundary it expires, as in Kafka.
    assert_eq!(store.expired_deletions(700, 500, |_| false).len(), 3);
}

#[test]
fn snapshot_replaces_the_log() {
    let dir = std::env::temp_dir().join(format!("millrace-offsets-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut bytes = Vec::new();
    encode_record(&change(0, Some(3)), &mut bytes);
    replace_with_snapshot(&dir, &bytes).unwrap();
    let (_, changes, valid) = open_and_replay(&dir).unwrap();
    assert_eq!(changes, vec![change(0, Some(3))]);
    assert_eq!(valid as usize, bytes.len());
    std::fs::remove_dir_all(&dir).unwrap();
}

fn run(future: impl std::future::Future<Output = ()> + 'static) {
    glommio::LocalExecutorBuilder::default()
        .io_memory(1 << 20)
        .make()
        .unwrap()
        .run(future);
}

#[test]
fn concurrent_commits_are_durable_and_reload_after_compaction() {
    let dir = std::env::temp_dir().join(format!("millrace-offsets-{}", uuid::Uuid::new_v4()));
    let log_dir = dir.clone();
    run(async move {
        let store = OffsetStore::new(&log_dir, 3);
        store.load().await.unwrap();
        let writes = (0..50).map(|i| {
            let store = store.clone();
            glommio::spawn_local(
                async move { store.write(vec![change(i % 5, Some(i as i64))]).await },
            )
        });
        for write in writes.collect::<Vec<_>>() {
            write.await.unwrap();
        }
        assert_eq!(store.group_offsets("g").len(), 5);
        // Enough rewrites of the same keys to pass the compaction threshold.
        let big = "x".repeat(METADATA_BYTES_MAX);
        for round in 0..300 {
            let mut c = change(0, Some(1000 + round));
            if let Some(committed) = c.committed.as_mut() {
                committed.metadata = big.clone();
            }
            store.write(vec![c]).await.unwrap();
        }
        assert!(store.file_bytes.get() < COMPACT_BYTES_MIN + 8 * 1024);
        store
            .write(store.deletions_for_group("g")[1..].to_vec())
            .await
            .unwrap();
        let reloaded = OffsetStore::new(&log_dir, 3);
        reloaded.load().await.unwrap();
        let offsets = reloaded.group_offsets("g");
        assert_eq!(offsets.len(), 1);
        assert_eq!(offsets[0].2.offset, 1299);
    });
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_offsets_directory_survives_a_power_loss() {
    use crate::storage::io::{install_fault_plan, Fault, FaultPlan, FaultRule};
    let dir = std::env::temp_dir().join(format!("millrace-offsets-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let log_dir = dir.clone();
    run(async move {
        // A rule that never fires: the plan only tracks what a crash
        // loses (directory entries whose parent was never fsynced).
        let plan = std::rc::Rc::new(FaultPlan::new(vec![FaultRule {
            file_contains: String::new(),
            fault: Fault::LyingSync { from_nth: u64::MAX },
        }]));
        install_fault_plan(Some(plan.clone()));
        let store = OffsetStore::new(&log_dir, 1);
        store.load().await.unwrap();
        store.write(vec![change(0, Some(42))]).await.unwrap();
        plan.crash().unwrap();
        install_fault_plan(None);
        let reloaded = OffsetStore::new(&log_dir, 1);
        reloaded.load().await.unwrap();
        assert_eq!(reloaded.group_offsets("g").len(), 1);
    });
    std::fs::remove_dir_all(&dir).unwrap();
}
