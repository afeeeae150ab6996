"""franz-go's kadm against the broker, one topic's life: CreateTopics (again: an error;
validate-only: nothing created), Metadata, ListOffsets (start, end, by timestamp, max
timestamp, read_committed end), group offsets (OffsetCommit/OffsetFetch for a group without
members, ListGroups, DescribeGroups, OffsetDelete, DeleteGroups), CreatePartitions (shrinking
is refused), DescribeConfigs and IncrementalAlterConfigs / AlterConfigs, broker metadata,
ApiVersions, DescribeLogDirs, DeleteTopics."""

from clients import unique_topic
from goclients.harness import franz

PARTITIONS = 3
RECORDS = 30  # record i: partition i % 3, offset i // 3, timestamp base + i ms
PER_PARTITION = RECORDS // PARTITIONS
DEFAULT_RETENTION_MS = "604800000"


def test_kadm_topic_offsets_groups_configs_and_cluster(broker):
    b = broker()
    topic = unique_topic("franz-admin")
    r = franz(bootstrap=b.bootstrap, scenario="admin", topic=topic, group=unique_topic("g"),
              partitions=PARTITIONS, count=RECORDS)
    assert r["created"] == {"partitions": PARTITIONS, "replication_factor": 1, "has_topic_id": True,
                            "retention_ms": "3600000"}
    assert r["create_again_error"] == "TOPIC_ALREADY_EXISTS"
    assert (r["validate_only_error"], r["validate_only_created"]) == ("", False)
    assert r["listed"] == {"partitions": list(range(PARTITIONS)), "leaders": 1, "replica_counts": [1],
                           "isr_counts": [1], "internal": False, "has_topic_id": True}

    offsets = r["offsets"]
    every = lambda value: {str(p): value for p in range(PARTITIONS)}  # noqa: E731
    assert offsets["start"] == every(0)
    assert offsets["end"] == every(PER_PARTITION)
    assert offsets["committed"] == every(PER_PARTITION), "no transactions: last stable = end"
    assert offsets["max_timestamp_offset"] == every(PER_PARTITION - 1)
    base = offsets["timestamp_queries"]["before"] + 1
    assert offsets["max_timestamp"] == {str(p): base + RECORDS - PARTITIONS + p for p in range(PARTITIONS)}
    assert offsets["by_timestamp"]["before"] == every(0)
    assert offsets["by_timestamp"]["after"] == every(PER_PARTITION), "past every record: the end"
    middle = offsets["timestamp_queries"]["middle"] - base  # the first record at or after it, per partition
    assert offsets["by_timestamp"]["middle"] == {
        str(p): min(i for i in range(middle, RECORDS) if i % PARTITIONS == p) // PARTITIONS for p in range(PARTITIONS)
    }

    groups = r["groups"]
    assert groups["fetched"] == {str(p): p + 1 for p in range(PARTITIONS)}
    assert groups["fetched_metadata"] == every("franz-check")
    assert (groups["coordinator_error"], groups["coordinator"]) == ("", 0)
    assert (groups["listed"], groups["listed_state"]) == (True, "Empty")
    assert (groups["described"]["state"], groups["described"]["members"]) == ("Empty", None)
    assert (groups["delete_offset_answered"], groups["delete_offset_error"]) == (True, "")
    assert groups["fetched_after_offset_delete"] == {str(p): p + 1 for p in range(1, PARTITIONS)}
    assert groups["delete_group_error"] == ""
    assert groups["delete_group_again_error"] == "GROUP_ID_NOT_FOUND"
    assert groups["listed_after_delete"] is False
    assert groups["fetched_after_group_delete"] == {}

    assert r["shrink_error"] == "INVALID_PARTITIONS"
    assert r["listed_after_adding_partitions"]["partitions"] == list(range(PARTITIONS + 2))

    configs = r["configs"]
    value = lambda step, name: (configs[step][name]["value"], configs[step][name]["source"])  # noqa: E731
    assert value("created", "retention.ms") == ("3600000", "DYNAMIC_TOPIC_CONFIG")
    assert value("created", "cleanup.policy") == ("delete", "DEFAULT_CONFIG")
    assert configs["incremental_set"]["error"] == ""
    assert value("incremental_set", "retention.ms") == ("7200000", "DYNAMIC_TOPIC_CONFIG")
    assert value("incremental_set", "max.message.bytes") == ("500000", "DYNAMIC_TOPIC_CONFIG")
    assert value("incremental_delete", "retention.ms") == (DEFAULT_RETENTION_MS, "DEFAULT_CONFIG")
    assert configs["incremental_bad_value"]["error"] == "INVALID_CONFIG"
    assert value("incremental_bad_value", "retention.ms") == (DEFAULT_RETENTION_MS, "DEFAULT_CONFIG"), "unchanged"
    # AlterConfigs replaces the whole set: max.message.bytes, not named, is back to its default.
    assert configs["whole_set"]["error"] == ""
    assert value("whole_set", "retention.ms") == ("7200000", "DYNAMIC_TOPIC_CONFIG")
    assert value("whole_set", "max.message.bytes")[1] == "DEFAULT_CONFIG"

    cluster = r["cluster"]
    host, port = b.bootstrap.rsplit(":", 1)
    assert cluster["brokers"] == [{"node_id": 0, "host": host, "port": int(port)}]
    assert cluster["controller"] == 0 and cluster["cluster_id"]
    assert cluster["api_keys"] >= 24
    assert cluster["log_dir_partitions"] == PARTITIONS + 2
    assert cluster["log_dir_bytes"] > 0
    assert r["listed_after_delete"] is False
    assert r["delete_again_error"] == "UNKNOWN_TOPIC_OR_PARTITION"
