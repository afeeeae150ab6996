"""franz-go (kgo) consumer groups: two members split a topic (cooperative-sticky, kgo's default,
and range), every record arrives exactly once at its exact partition and offset, a member
leaves and its partitions move (cooperative: the other member keeps its own, eager range: it
gives all back first), the commits equal the end offsets, the group is Empty once both left,
and a new member resumes at the commits. Static membership (KIP-345, InstanceID): a member
restarting with its instance id within the session timeout gets its partitions back without
a rebalance. The program also fails on any warning franz-go logs."""

import pytest

from clients import create_topic, unique_topic
from goclients.harness import franz

PARTITIONS = 6
RECORDS_PER_ROUND = 300
ROUNDS = 3


def assert_exactly_once(delivery, expected):
    assert (delivery["expected"], delivery["received"]) == (expected, expected), delivery
    for problem in ("missing", "duplicates", "unexpected", "wrong", "out_of_order"):
        assert delivery[problem] == 0, f"{problem}: {delivery['problems']}"


def assert_split(owned, names):
    sets = [owned[name] for name in names]
    assert all(sets), f"every member owns partitions: {owned}"
    assert sorted(p for s in sets for p in s) == list(range(PARTITIONS)), f"disjoint and complete: {owned}"


def described_assignments(described):
    return sorted(sorted(m["assigned"]) for m in described["members"])


@pytest.mark.parametrize("balancer", ["cooperative-sticky", "range"])
def test_two_members_a_leave_partitions_move_commits_and_resume(broker, balancer):
    b = broker(**{"group.initial.rebalance.delay.ms": 0})
    topic = unique_topic("franz-group")
    create_topic(b.bootstrap, topic, PARTITIONS)
    result = franz(bootstrap=b.bootstrap, scenario="group", topic=topic, group=unique_topic("g"),
                   partitions=PARTITIONS, count=RECORDS_PER_ROUND, balancer=balancer)
    owned = result["owned_by_two"]
    assert_split(owned, ["a", "b"])
    # DescribeGroups agrees with what the members were told (SyncGroup).
    described = result["described_with_two"]
    assert (described["state"], described["protocol_type"], described["protocol"]) == ("Stable", "consumer", balancer)
    assert described_assignments(described) == sorted([owned["a"], owned["b"]])
    assert {m["client_id"] for m in described["members"]} == {"franz-check"}

    events = result["a_events_when_b_left"]
    gained = f"assigned {sorted(owned['b'])}".replace(",", "")
    if balancer == "cooperative-sticky":
        # Incremental: a keeps its partitions and only gains b's.
        assert events[-1] == gained and all(e in ("revoked []", gained) for e in events), events
    else:
        # Eager: a gives back everything, then gets every partition.
        assert events == [f"revoked {sorted(owned['a'])}".replace(",", ""),
                          f"assigned {list(range(PARTITIONS))}".replace(",", "")], events

    delivery = result["delivery"]
    assert_exactly_once(delivery, ROUNDS * RECORDS_PER_ROUND)
    assert delivery["per_member"]["c"] == RECORDS_PER_ROUND, "c starts at the commits"
    ends = {str(p): 2 * RECORDS_PER_ROUND // PARTITIONS for p in range(PARTITIONS)}
    assert result["ends_after_a_left"] == ends
    assert result["committed_after_a_left"] == ends
    after = result["described_after_leaving"]
    assert (after["state"], after["members"]) == ("Empty", None)


def test_static_member_restarts_without_a_rebalance(broker):
    b = broker(**{"group.initial.rebalance.delay.ms": 0})
    topic = unique_topic("franz-static")
    create_topic(b.bootstrap, topic, PARTITIONS)
    result = franz(bootstrap=b.bootstrap, scenario="static", topic=topic, group=unique_topic("g"),
                   partitions=PARTITIONS, count=RECORDS_PER_ROUND)
    assert_split(result["owned_before_restart"], ["one", "two"])
    before = result["described_before_restart"]
    assert sorted(m["instance_id"] for m in before["members"]) == ["static-1", "static-2"]
    # A static member's close does not leave: the group still lists it, unchanged.
    away = result["described_while_away"]
    assert away["state"] == "Stable" and away["members"] == before["members"]
    # Back with the same instance id: the same partitions, the same generation, and the
    # other member saw no rebalance.
    assert result["same_partitions_back"] is True
    assert result["generation_kept"] is True
    assert result["other_member_events_during_restart"] == []
    assert_exactly_once(result["delivery"], 2 * RECORDS_PER_ROUND)
    assert result["committed_after_close"] == result["ends_after_close"]
    # LeaveGroup by instance id (KIP-345 admin removal) empties the group.
    assert result["left_instances"] == 2
    gone = result["described_after_leave_group"]
    assert (gone["state"], gone["members"]) == ("Empty", None)
