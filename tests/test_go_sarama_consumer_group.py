"""Sarama ConsumerGroup (Debian's 1.22 and the newest IBM/sarama): two members share a 4-partition topic, every message arrives
exactly once and in partition order, offsets are committed (OffsetCommit v1), and a new
member resumes at the committed offsets."""

import pytest

from clients import create_topic, unique_topic
from goclients.harness import BUILDS, sarama

PARTITIONS = 4
MESSAGES = 400
RESUME_MESSAGES = 40
EXPECTED_SPLIT = {"range": [[0, 1], [2, 3]], "roundrobin": [[0, 2], [1, 3]]}


def assert_exactly_once(delivery, expected):
    assert delivery["expected"] == expected
    assert delivery["received"] == expected
    for problem in ("missing", "duplicates", "unexpected", "wrong_content", "out_of_order"):
        assert delivery[problem] == 0, f"{problem}: {delivery}"


@pytest.mark.parametrize("kind", BUILDS)
@pytest.mark.parametrize(
    "version, strategy", [("newest", "range"), ("newest", "roundrobin"), ("0.10.2.0", "range")]
)
def test_two_members_share_partitions_commit_and_a_new_member_resumes(broker, kind, version, strategy):
    # 0.10.2.0 is the oldest Version Sarama allows a ConsumerGroup at: it produces and fetches
    # magic 1 message sets (Produce/Fetch v2-3).
    b = broker(**{"group.initial.rebalance.delay.ms": 0})
    topic = unique_topic("sarama-group")
    create_topic(b.bootstrap, topic, PARTITIONS)
    result = sarama(kind, bootstrap=b.bootstrap, scenario="group", topic=topic, group=unique_topic("g"),
                    partitions=PARTITIONS, count=MESSAGES, resume_count=RESUME_MESSAGES, version=version,
                    strategy=strategy)
    claims = result["claims_at_end"]
    assert claims["a"] and claims["b"], f"both members own partitions: {claims}"
    assert sorted(claims["a"] + claims["b"]) == list(range(PARTITIONS)), f"disjoint and complete: {claims}"
    # The leader's assignment under the chosen strategy reached both members.
    assert sorted([claims["a"], claims["b"]]) == EXPECTED_SPLIT[strategy], claims
    assert_exactly_once(result["delivery"], MESSAGES)
    assert set(result["delivery"]["per_member"]) == {"a", "b"}
    assert result["committed"] == result["end_offsets"]
    assert sum(result["end_offsets"].values()) == MESSAGES
    # ListGroups v0 / DescribeGroups v0 once both members left. millrace forgets an empty
    # group's protocol type (Kafka keeps "consumer"); clients list both as consumer groups.
    assert result["listed"] is True
    assert result["listed_protocol_type"] in ("consumer", "")
    assert (result["described_state"], result["described_members"]) == ("Empty", 0)
    assert_exactly_once(result["resumed"], RESUME_MESSAGES)
    assert result["resumed"]["per_member"] == {"c": RESUME_MESSAGES}
