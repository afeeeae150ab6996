"""What only the newest Sarama (IBM/sarama 1.61) and kafka-go (0.4) can do, beside the tests
that run both builds of the same programs (test_go_sarama_*, test_go_kafka_go_*): Sarama's
AsyncProducer and its ClusterAdmin offset, group and config calls; kafka-go's struct Writer
with every codec and its Client admin calls."""

import pytest

from clients import create_topic, unique_topic
from goclients.harness import NEWEST, kafka_go, sarama

PARTITIONS = 4
MESSAGES = 400


@pytest.mark.parametrize("compression, idempotent", [("none", "false"), ("zstd", "true"), ("lz4", "true")])
def test_sarama_async_producer_reads_back_in_order(broker, compression, idempotent):
    b = broker()
    topic = unique_topic("sarama-async")
    create_topic(b.bootstrap, topic, PARTITIONS)
    result = sarama(NEWEST, bootstrap=b.bootstrap, scenario="async", topic=topic, count=MESSAGES,
                    compression=compression, idempotent=idempotent)
    assert (result["produced"], result["consumed"]) == (MESSAGES, MESSAGES)
    assert result["problems"] is None, result["problems"][:10]


def test_sarama_cluster_admin_offsets_groups_and_configs(broker):
    b = broker()
    topic = unique_topic("sarama-admin-offsets")
    create_topic(b.bootstrap, topic, PARTITIONS)
    r = sarama(NEWEST, bootstrap=b.bootstrap, scenario="admin-offsets", topic=topic, group=unique_topic("g"),
               partitions=PARTITIONS, count=MESSAGES)
    assert r["listed_earliest"] == {str(p): 0 for p in range(PARTITIONS)}
    assert r["listed_latest"] == r["end_offsets"] and sum(r["end_offsets"].values()) == MESSAGES
    assert r["committed"] == {str(p): p + 1 for p in range(PARTITIONS)}
    assert r["committed_after_offset_delete"] == {"0": -1, **{str(p): p + 1 for p in range(1, PARTITIONS)}}
    assert (r["listed_group"], r["listed_group_after_delete"]) == (True, False)
    assert r["configs_after_incremental"] == {"retention.ms": "7200000"}
    assert r["configs_after_alter"] == {"max.message.bytes": "500000"}, "AlterConfigs replaces the set"
    assert r["log_dir_partitions"] == list(range(PARTITIONS))


@pytest.mark.parametrize("compression", ["none", "gzip", "snappy", "lz4", "zstd"])
def test_kafka_go_writer_every_codec_and_group_reader(broker, compression):
    b = broker(**{"group.initial.rebalance.delay.ms": 0})
    topic = unique_topic("kafka-go-writer")
    create_topic(b.bootstrap, topic, PARTITIONS)
    result = kafka_go(NEWEST, bootstrap=b.bootstrap, scenario="writer", topic=topic, group=unique_topic("g"),
                      compression=compression, count=MESSAGES)
    assert (result["written"], result["received"]) == (MESSAGES, MESSAGES)
    assert result["partitions_read"] == list(range(PARTITIONS))
    for problem in ("missing", "duplicates", "wrong_content", "out_of_order"):
        assert result[problem] == 0, f"{problem}: {result}"


def test_kafka_go_client_admin_calls(broker):
    b = broker()
    partitions, records = 3, 30  # record i: partition i % 3, timestamp base + i ms
    r = kafka_go(NEWEST, bootstrap=b.bootstrap, scenario="client", topic=unique_topic("kafka-go-client"),
                 group=unique_topic("g"), partitions=partitions, count=records)
    assert "Topic Already Exists" in r["create_again_error"]
    assert r["partitions"] == [0, 1, 2]
    assert r["partitions_after_create_partitions"] == [0, 1, 2, 3]
    # DescribeConfigs: [value, source]; 1 = DYNAMIC_TOPIC_CONFIG, 5 = DEFAULT_CONFIG.
    assert r["configs"] == {"retention.ms": ["3600000", 1], "cleanup.policy": ["delete", 5]}
    assert r["configs_after_alter"] == {"retention.ms": ["7200000", 1]}
    assert r["produce_base_offsets"] == {"0": 0, "1": 0, "2": 0}
    assert r["first_offsets"] == {"0": 0, "1": 0, "2": 0}
    assert r["last_offsets"] == {"0": 10, "1": 10, "2": 10}
    # Time base + 15 ms: the first records at or after it are 15, 16, 17, each at offset 5.
    assert r["offsets_at_middle_time"] == {"0": [5], "1": [5], "2": [5]}
    assert r["committed"] == {"0": 1, "1": 2, "2": 3}
    assert r["committed_after_offset_delete"] == {"0": -1, "1": 2, "2": 3}
    assert (r["listed_group"], r["described_state"]) == (True, "Empty")
    assert r["listed_after_delete"] is False
