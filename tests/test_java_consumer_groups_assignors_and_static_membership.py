"""kafka-clients 4.4.0 consumer groups (classic protocol: JoinGroup, SyncGroup, Heartbeat,
LeaveGroup, OffsetCommit/Fetch) with the range and cooperative-sticky assignors, and static
membership (group.instance.id).

Delivery rule checked: every member commits synchronously what it read after each poll and in
onPartitionsRevoked, so a partition that moves was committed exactly up to what its previous
owner read, and its next owner starts there. With clean joins and leaves (no member dies),
at-least-once therefore allows no duplicate at all: every acknowledged record must be read
exactly once, by the member that owned its partition at that moment, and the committed offsets
end at the log end."""

import pytest

from clients import unique_topic
from java_clients import driver

pytestmark = pytest.mark.timeout(180)
PARTITIONS = 6
STATIC_PARTITIONS = 4
GROUP_BROKER = {"group.initial.rebalance.delay.ms": 0}


def replay(member):
    """Walks a member's timeline: the records it read, each checked against what it owned at
    that moment; returns (records, [(event, partitions, generation)])."""
    owned = set()
    records = []
    changes = []
    for event in member["timeline"]:
        kind = event[0]
        if kind == "records":
            for partition, offset, value in event[1]:
                assert partition in owned, f"{member['name']} read {partition}@{offset} while owning {sorted(owned)}"
                records.append((partition, offset, value))
        elif kind == "assigned":
            assert not owned & set(event[1]), f"{member['name']} assigned {event[1]} it already owned"
            owned |= set(event[1])
            changes.append(tuple(event[:1]) + (tuple(event[1]), event[2]))
        elif kind in ("revoked", "lost"):
            assert set(event[1]) <= owned, f"{member['name']} {kind} {event[1]} it did not own"
            owned -= set(event[1])
            changes.append(tuple(event[:1]) + (tuple(event[1]), event[2]))
    return records, changes


def check_exactly_once(result, members):
    sent = sorted(tuple(r) for r in result["sent"])
    read = sorted(r for m in members for r in m)
    assert len(read) == len(set(read)), f"records read twice: {sorted(set(r for r in read if read.count(r) > 1))[:5]}"
    assert read == sent, f"lost: {sorted(set(sent) - set(read))[:5]}; unexpected: {sorted(set(read) - set(sent))[:5]}"
    end = {}
    for partition, offset, _ in sent:
        end[partition] = max(end.get(partition, 0), offset + 1)
    assert {int(p): o for p, o in result["committed"].items()} == end


def run_rebalance(broker, assignor):
    bootstrap, _, _ = broker(**GROUP_BROKER)
    result = driver(
        "group-rebalance",
        bootstrap=bootstrap,
        topic=unique_topic(f"java-{assignor}"),
        group=unique_topic(f"java-{assignor}-group"),
        assignor=assignor,
        partitions=PARTITIONS,
        deadline_ms=90000,
    )
    (a, b) = result["members"]
    a_records, a_changes = replay(a)
    b_records, b_changes = replay(b)
    check_exactly_once(result, [a_records, b_records])
    described = result["described"]
    assert (described["state"], described["type"], described["assignor"]) == ("Stable", "Classic", assignor)
    shares = {m["clientId"]: m["partitions"] for m in described["members"].values()}
    assert sorted(shares) == ["a", "b"] and sorted(shares["a"] + shares["b"]) == list(range(PARTITIONS)), shares
    assert len(shares["a"]) == len(shares["b"]) == PARTITIONS // 2, shares
    return shares, a_changes, b_changes


def test_java_range_assignor_moves_partitions_on_join_and_leave_without_loss_or_duplicate(broker):
    shares, a_changes, b_changes = run_rebalance(broker, "range")
    # Range: each member a contiguous half.
    assert sorted(map(tuple, shares.values())) == [(0, 1, 2), (3, 4, 5)], shares
    everything = tuple(range(PARTITIONS))
    # Eager protocol: A gives up everything when B joins, then gets its half back; B gets
    # its half, then everything once A left.
    assert [c[:2] for c in a_changes] == [
        ("assigned", everything),
        ("revoked", everything),
        ("assigned", tuple(shares["a"])),
        ("revoked", tuple(shares["a"])),
    ], a_changes
    assert [c[:2] for c in b_changes] == [
        ("assigned", tuple(shares["b"])),
        ("revoked", tuple(shares["b"])),
        ("assigned", everything),
        ("revoked", everything),
    ], b_changes
    for changes in (a_changes, b_changes):
        generations = [c[2] for c in changes]
        assert generations == sorted(generations), changes


def test_java_cooperative_sticky_moves_only_the_partitions_that_change_owner(broker):
    shares, a_changes, b_changes = run_rebalance(broker, "cooperative-sticky")
    everything = tuple(range(PARTITIONS))
    moved = tuple(shares["b"])
    # Incremental: A only ever gives up the half B takes, and keeps reading the rest through
    # both rounds; B is handed A's half when A leaves without giving up its own.
    a_moves = [c[:2] for c in a_changes if c[1]]
    assert a_moves == [("assigned", everything), ("revoked", moved), ("revoked", tuple(shares["a"]))], a_changes
    b_moves = [c[:2] for c in b_changes if c[1]]
    assert b_moves == [("assigned", moved), ("assigned", tuple(shares["a"])), ("revoked", everything)], b_changes


def test_java_static_member_restarts_into_its_assignment_without_a_rebalance(broker):
    bootstrap, _, _ = broker(**GROUP_BROKER)
    result = driver(
        "group-static",
        bootstrap=bootstrap,
        topic=unique_topic("java-static"),
        group=unique_topic("java-static-group"),
        partitions=STATIC_PARTITIONS,
        deadline_ms=90000,
    )
    a, b, restarted = result["members"]
    replays = [replay(m) for m in (a, b, restarted)]
    check_exactly_once(result, [records for records, _ in replays])
    (_, a_changes), (_, b_changes), (r_records, r_changes) = replays
    everything = tuple(range(STATIC_PARTITIONS))
    # A alone, then one rebalance when B joins; then none: not when A stops, not when it
    # comes back.
    assert [c[:2] for c in a_changes[:2]] == [("assigned", everything), ("revoked", everything)], a_changes
    (_, a_owned, generation), _ = a_changes[2:]
    assert a_changes[2:] == [("assigned", a_owned, generation), ("revoked", a_owned, generation)], a_changes
    assert b_changes == [("assigned", b_changes[0][1], generation), ("revoked", b_changes[0][1], generation)]
    assert sorted(a_owned + b_changes[0][1]) == list(everything)
    # The restarted A got A's partitions back in A's generation, and read exactly what
    # arrived for them while it was away.
    assert r_changes == [("assigned", a_owned, generation), ("revoked", a_owned, generation)], r_changes
    assert {v.split("-")[0] for _, _, v in r_records} == {"absent"}
    assert {p for p, _, _ in r_records} == set(a_owned)
    before, after = result["describedBefore"], result["describedAfter"]
    instances = lambda d: {m["instanceId"]: m["partitions"] for m in d["members"].values()}
    assert instances(before) == instances(after) == {"static-a": list(a_owned), "static-b": list(b_changes[0][1])}
    assert {m["clientId"] for m in after["members"].values()} == {"a-restarted", "b"}
    assert after["state"] == "Stable"
