"""kafkajs 2.2.4 consumer groups (JoinGroup v5 with its member-id round trip, SyncGroup v3,
Heartbeat v3, OffsetCommit v5, OffsetFetch v4, LeaveGroup v3) and the kafkajs admin calls on
groups (describeGroups, listGroups, fetchOffsets, resetOffsets, deleteGroups).

Two consumers in one group split a 4-partition topic and together read every message exactly
once; kafkajs commits what it read; a later member of the same group resumes exactly at the
committed offsets; resetOffsets rewinds the group to the start."""

import pytest

from clients import unique_topic
from kafkajs_node import admin, run_script


# Each kafkajs script has its own 20 s deadline; this bounds the whole test.
pytestmark = pytest.mark.timeout(90)
PARTITIONS = 4
FIRST_ROUND = 400
SECOND_ROUND = 40
# Long enough for a record read twice (a wrong commit) to arrive before the members stop.
SETTLE_MS = 1000
GROUP_BROKER = {"group.initial.rebalance.delay.ms": 0}


def setup_topic(bootstrap, prefix):
    topic = unique_topic(prefix)
    admin(bootstrap, "createTopics", topics=[{"topic": topic, "numPartitions": PARTITIONS}], waitForLeaders=True)
    return topic


def run_group(bootstrap, topic, group, consumers, expected, **options):
    return run_script(
        "group.js",
        bootstrap,
        topic,
        options={
            "groupId": group,
            "consumers": consumers,
            "partitions": PARTITIONS,
            "expected": expected,
            "settleMs": SETTLE_MS,
            **options,
        },
    )


def values_by_partition(records):
    out = {p: [] for p in range(PARTITIONS)}
    for record in sorted(records, key=lambda r: (r["partition"], r["offset"])):
        out[record["partition"]].append((record["offset"], record["value"]))
    return out


def expected_by_partition(prefix, count, first_offset):
    """Message i went to partition i mod PARTITIONS, in order, from `first_offset` on."""
    out = {p: [] for p in range(PARTITIONS)}
    for index in range(count):
        partition = index % PARTITIONS
        out[partition].append((first_offset + len(out[partition]), f"{prefix}-{index}"))
    return out


def committed(bootstrap, group, topic):
    (answer,) = admin(bootstrap, "fetchOffsets", groupId=group, topics=[topic])
    assert answer["topic"] == topic, answer
    return {p["partition"]: int(p["offset"]) for p in answer["partitions"]}


def test_kafkajs_two_consumers_share_partitions_commit_and_a_new_member_resumes(broker):
    bootstrap, _, _ = broker(**GROUP_BROKER)
    topic = setup_topic(bootstrap, "kjs-share")
    group = unique_topic("kjs-share-group")

    first = run_group(bootstrap, topic, group, 2, FIRST_ROUND, produceAfterJoin=FIRST_ROUND, prefix="first", describe=True)
    members = first["members"]
    assert len({m["memberId"] for m in members}) == 2, members
    shares = [m["assignment"] for m in members]
    assert sorted(shares[0] + shares[1]) == list(range(PARTITIONS)) and all(shares), shares
    for member in members:
        outside = [r for r in member["records"] if r["partition"] not in member["assignment"]]
        assert not outside, f"{member['memberId']} read partitions it was not assigned: {outside[:3]}"
    everything = [r for m in members for r in m["records"]]
    assert values_by_partition(everything) == expected_by_partition("first", FIRST_ROUND, 0)
    assert len(everything) == FIRST_ROUND, "a record was read twice"

    (described,) = first["described"]["groups"]
    assert (described["groupId"], described["state"], described["protocolType"]) == (group, "Stable", "consumer")
    assert sorted(m["memberId"] for m in described["members"]) == sorted(m["memberId"] for m in members)
    assert group in [g["groupId"] for g in first["listed"]["groups"]]

    per_partition = FIRST_ROUND // PARTITIONS
    assert committed(bootstrap, group, topic) == {p: per_partition for p in range(PARTITIONS)}
    (after,) = admin(bootstrap, "describeGroups", groupIds=[group])["groups"]
    # Kafka keeps describing a consumer group whose members all left as one (and ListGroups
    # says "consumer" here too).
    assert (after["state"], after["protocolType"], after["members"]) == ("Empty", "consumer", []), after

    # Written while the group has no member: the next member must start exactly here.
    run_script("produce.js", bootstrap, topic, options={"count": SECOND_ROUND, "spread": PARTITIONS, "prefix": "second"})
    second = run_group(bootstrap, topic, group, 1, SECOND_ROUND)
    (member,) = second["members"]
    assert member["assignment"] == list(range(PARTITIONS)), member["assignment"]
    assert values_by_partition(member["records"]) == expected_by_partition("second", SECOND_ROUND, per_partition)
    total_per_partition = (FIRST_ROUND + SECOND_ROUND) // PARTITIONS
    assert committed(bootstrap, group, topic) == {p: total_per_partition for p in range(PARTITIONS)}


def test_kafkajs_admin_lists_describes_resets_and_deletes_a_group(broker):
    bootstrap, _, _ = broker(**GROUP_BROKER)
    topic = setup_topic(bootstrap, "kjs-reset")
    group = unique_topic("kjs-reset-group")
    run_script("produce.js", bootstrap, topic, options={"count": FIRST_ROUND, "spread": PARTITIONS, "prefix": "r"})
    run_group(bootstrap, topic, group, 1, FIRST_ROUND)
    per_partition = FIRST_ROUND // PARTITIONS
    assert committed(bootstrap, group, topic) == {p: per_partition for p in range(PARTITIONS)}

    listed = admin(bootstrap, "listGroups")["groups"]
    assert {"groupId": group, "protocolType": "consumer"} in listed, listed

    # kafkajs commits the "earliest" sentinel -2 as the offset (a member it starts seeks to
    # it), as against Kafka; its consumers read -2 as "from each partition's first offset".
    # (resetOffsets takes 5 s: kafkajs's paused member waits out its default 5 s fetch wait.)
    admin(bootstrap, "resetOffsets", groupId=group, topic=topic, earliest=True)
    assert committed(bootstrap, group, topic) == {p: -2 for p in range(PARTITIONS)}

    again = run_group(bootstrap, topic, group, 1, FIRST_ROUND)
    (member,) = again["members"]
    assert values_by_partition(member["records"]) == expected_by_partition("r", FIRST_ROUND, 0)

    admin(bootstrap, "deleteGroups", groupIds=[group])
    assert group not in [g["groupId"] for g in admin(bootstrap, "listGroups")["groups"]]
    assert committed(bootstrap, group, topic) == {p: -1 for p in range(PARTITIONS)}
