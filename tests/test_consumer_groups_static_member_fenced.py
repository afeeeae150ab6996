"""KIP-345 static membership, as Kafka's classic group coordinator enforces it: when a second
consumer joins with the group.instance.id of a live one, the new one takes the instance over
and the old one is fenced. Its next Heartbeat (and SyncGroup, OffsetCommit, LeaveGroup) names
its old member id with that instance id and gets FENCED_INSTANCE_ID, which librdkafka treats
as fatal, so the two do not keep displacing each other."""

import time

from confluent_kafka import Consumer, KafkaError
from confluent_kafka.admin import AdminClient

from clients import create_topic, quiet_config, unique_topic

PARTITIONS = 2
SESSION_TIMEOUT_MS = 6000
HEARTBEAT_INTERVAL_MS = 300
ASSIGN_DEADLINE_S = 30.0
# Past the old member's session timeout: on the broken broker its first heartbeat after the
# takeover already made it rejoin and displace the new one; a fenced librdkafka consumer
# must not come back when its session runs out either.
WATCH_S = SESSION_TIMEOUT_MS / 1000 + 3
FENCE_DEADLINE_S = 15.0


class StaticConsumer:
    """One librdkafka consumer with a group.instance.id, recording what happens to it."""

    def __init__(self, bootstrap, group, topic, instance):
        self.assigned = 0
        self.revoked = 0
        self.errors = []
        config = quiet_config(bootstrap)
        config.update(
            {
                "group.id": group,
                "group.instance.id": instance,
                "session.timeout.ms": SESSION_TIMEOUT_MS,
                "heartbeat.interval.ms": HEARTBEAT_INTERVAL_MS,
                "auto.offset.reset": "earliest",
                "error_cb": self.errors.append,
            }
        )
        self.consumer = Consumer(config)
        self.consumer.subscribe([topic], on_assign=self._on_assign, on_revoke=self._on_revoke,
                                on_lost=self._on_revoke)

    def _on_assign(self, consumer, partitions):
        self.assigned += 1

    def _on_revoke(self, consumer, partitions):
        self.revoked += 1

    def poll(self):
        msg = self.consumer.poll(0.05)
        if msg is not None and msg.error() is not None:
            self.errors.append(msg.error())

    def fenced(self):
        """librdkafka makes FENCED_INSTANCE_ID a fatal error: poll() returns _FATAL with the
        broker's error named in its text."""
        return any(
            e.code() == KafkaError.FENCED_INSTANCE_ID
            or (e.code() == KafkaError._FATAL and "fenced by other consumer" in str(e))
            for e in self.errors
        )


def poll_until(consumers, condition, deadline_s, what):
    deadline = time.monotonic() + deadline_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        for c in consumers:
            c.poll()


def describe_members(bootstrap, group):
    admin = AdminClient(quiet_config(bootstrap))
    [future] = admin.describe_consumer_groups([group]).values()
    return future.result(timeout=30).members


def test_a_second_consumer_with_the_same_instance_id_fences_the_first(broker):
    b = broker(**{"group.initial.rebalance.delay.ms": 0})
    topic = unique_topic("static")
    group = unique_topic("static-g")
    create_topic(b.bootstrap, topic, PARTITIONS)

    old = StaticConsumer(b.bootstrap, group, topic, "instance-1")
    poll_until([old], lambda: old.assigned > 0, ASSIGN_DEADLINE_S, "the first consumer's assignment")
    new = StaticConsumer(b.bootstrap, group, topic, "instance-1")
    try:
        poll_until([old, new], lambda: new.assigned > 0, ASSIGN_DEADLINE_S, "the second consumer's assignment")
        poll_until([old, new], old.fenced, FENCE_DEADLINE_S, "FENCED_INSTANCE_ID for the first consumer: "
                   f"its errors {[str(e) for e in old.errors]}")
        revoked_before = new.revoked
        watch_until = time.monotonic() + WATCH_S
        while time.monotonic() < watch_until:
            for c in (old, new):
                c.poll()
        assert new.revoked == revoked_before, "the new static member lost its partitions after the takeover"
        assert not new.errors, f"the new static member got errors: {[str(e) for e in new.errors]}"
        members = describe_members(b.bootstrap, group)
        assert [(m.member_id, m.group_instance_id) for m in members] == [(new.consumer.memberid(), "instance-1")]
    finally:
        for c in (new, old):
            try:
                c.consumer.close()
            except Exception:  # the fenced consumer is in a fatal state
                pass
