"""aiokafka's AIOKafkaConsumer against millrace: two members of one group share a 4-partition
topic and together read every message exactly once, commit, and a new member resumes at the
committed offsets; with assign(), seek_to_beginning / seek / seek_to_end / position /
beginning_offsets / end_offsets / offsets_for_times answer what was produced."""

import asyncio

import pytest

from aiokafka import AIOKafkaProducer, ConsumerRebalanceListener
from aiokafka.structs import TopicPartition

from aiokafka_clients import (
    GROUP_OVERRIDES,
    POLL_TIMEOUT_MS,
    READ_TIMEOUT_S,
    REQUEST_TIMEOUT_MS,
    assert_offsets_contiguous,
    committed_offsets,
    create_topic,
    drain,
    group_consumer,
    plain_consumer,
    run,
    wait_for_split,
    wait_until,
)
from clients import unique_topic

GROUP_PARTITIONS = 4
FIRST_ROUND_PER_PARTITION = 100
SECOND_ROUND_PER_PARTITION = 10
AUTO_COMMIT_INTERVAL_MS = 100
# Several heartbeat intervals (aiokafka_clients.HEARTBEAT_INTERVAL_MS is 300 ms).
QUIET_PERIOD_S = 1.5
# Well under SESSION_TIMEOUT_MS: the handover must come from LeaveGroup, not expiry.
HANDOVER_BOUND_S = 3.0

SEEK_PARTITIONS = 2
SEEK_MESSAGES_PER_PARTITION = 50
BASE_TIMESTAMP_MS = 1_700_000_000_000
TIMESTAMP_STEP_MS = 1000
# Lets records gather into multi-record batches.
LINGER_MS = 20


async def produce_per_partition(
    bootstrap, topic, partitions, per_partition, tag, timestamps=False, compression=None
):
    """Sends per_partition messages to each partition explicitly (acks=all); returns
    {partition: [value, ...]} in send order."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        compression_type=compression,
        linger_ms=LINGER_MS,
        request_timeout_ms=REQUEST_TIMEOUT_MS,
    )
    await producer.start()
    try:
        sent = {p: [] for p in range(partitions)}
        futures = []
        for index in range(per_partition):
            for partition in range(partitions):
                value = f"{tag}-p{partition}-{index:04d}".encode()
                timestamp_ms = BASE_TIMESTAMP_MS + index * TIMESTAMP_STEP_MS if timestamps else None
                futures.append(
                    await producer.send(
                        topic, value, key=b"k", partition=partition, timestamp_ms=timestamp_ms
                    )
                )
                sent[partition].append(value)
        await asyncio.gather(*futures)
        return sent
    finally:
        await producer.stop()


async def read_together(members, expected_count):
    """Polls every member until they received expected_count records between them."""
    received = [dict() for _ in members]
    count = 0
    loop = asyncio.get_running_loop()
    deadline = loop.time() + READ_TIMEOUT_S
    while count < expected_count and loop.time() < deadline:
        answers = await asyncio.gather(*(m.getmany(timeout_ms=POLL_TIMEOUT_MS) for m in members))
        for index, batches in enumerate(answers):
            for tp, records in batches.items():
                received[index].setdefault(tp.partition, []).extend(records)
                count += len(records)
    assert count == expected_count, f"members read {count} of {expected_count} records"
    return received


def test_aiokafka_group_members_share_partitions_commit_and_resume(broker):
    b = broker(**GROUP_OVERRIDES)
    topic = unique_topic("aio-group")
    group = unique_topic("aio-g")
    tps = [TopicPartition(topic, p) for p in range(GROUP_PARTITIONS)]

    async def body():
        await create_topic(b.bootstrap, topic, GROUP_PARTITIONS)
        members = [group_consumer(b.bootstrap, topic, group) for _ in range(2)]
        await asyncio.gather(*(member.start() for member in members))
        try:
            shares = await wait_for_split(members, GROUP_PARTITIONS)
            sent = await produce_per_partition(
                b.bootstrap, topic, GROUP_PARTITIONS, FIRST_ROUND_PER_PARTITION, "round1"
            )
            received = await read_together(members, GROUP_PARTITIONS * FIRST_ROUND_PER_PARTITION)
            for share, got in zip(shares, received):
                assert {TopicPartition(topic, p) for p in got} <= share, f"read {sorted(got)} outside {share}"
                assert_offsets_contiguous(got)
            merged = {p: [r.value for r in records] for got in received for p, records in got.items()}
            assert merged == sent, "members' records differ from what was produced, or came twice"
            await asyncio.gather(*(member.commit() for member in members))
            for member, share in zip(members, shares):
                for tp in share:
                    assert await member.committed(tp) == FIRST_ROUND_PER_PARTITION, f"committed {tp}"
        finally:
            await asyncio.gather(*(member.stop() for member in members))

        second = await produce_per_partition(
            b.bootstrap, topic, GROUP_PARTITIONS, SECOND_ROUND_PER_PARTITION, "round2"
        )
        newcomer = group_consumer(b.bootstrap, topic, group)
        await newcomer.start()
        try:
            got = await drain(newcomer, GROUP_PARTITIONS * SECOND_ROUND_PER_PARTITION)
            assert {p: [r.value for r in records] for p, records in got.items()} == second, (
                "the new member did not resume exactly at the committed offsets"
            )
            for records in got.values():
                assert records[0].offset == FIRST_ROUND_PER_PARTITION, f"resumed at {records[0].offset}"
            end = FIRST_ROUND_PER_PARTITION + SECOND_ROUND_PER_PARTITION
            for tp in tps:
                assert await newcomer.position(tp) == end, f"position of {tp}"
            await newcomer.commit()
        finally:
            await newcomer.stop()

        assert await committed_offsets(b.bootstrap, group) == {tp: end for tp in tps}

    run(body())


def test_aiokafka_leaving_member_hands_over_and_auto_commit_commits(broker):
    """LeaveGroup: the remaining member takes every partition well before the leaver's
    session would expire; with auto commit, what it read is committed when it stops."""
    b = broker(**GROUP_OVERRIDES)
    topic = unique_topic("aio-leave")
    group = unique_topic("aio-lg")
    tps = [TopicPartition(topic, p) for p in range(GROUP_PARTITIONS)]

    async def body():
        await create_topic(b.bootstrap, topic, GROUP_PARTITIONS)
        auto = {"enable_auto_commit": True, "auto_commit_interval_ms": AUTO_COMMIT_INTERVAL_MS}
        stayer, leaver = [group_consumer(b.bootstrap, topic, group, **auto) for _ in range(2)]
        await asyncio.gather(stayer.start(), leaver.start())
        try:
            await wait_for_split([stayer, leaver], GROUP_PARTITIONS)
            await leaver.stop()

            async def took_all():
                return stayer.assignment() == set(tps)

            await wait_until(took_all, "the remaining member to own every partition", HANDOVER_BOUND_S)
            sent = await produce_per_partition(
                b.bootstrap, topic, GROUP_PARTITIONS, SECOND_ROUND_PER_PARTITION, "after-leave"
            )
            got = await drain(stayer, GROUP_PARTITIONS * SECOND_ROUND_PER_PARTITION)
            assert {p: [r.value for r in records] for p, records in got.items()} == sent
        finally:
            await stayer.stop()

        assert await committed_offsets(b.bootstrap, group) == {
            tp: SECOND_ROUND_PER_PARTITION for tp in tps
        }

    run(body())


class RebalanceLog(ConsumerRebalanceListener):
    """Counts the rebalances a member goes through."""

    def __init__(self):
        self.assigned = 0

    async def on_partitions_revoked(self, revoked):
        pass

    async def on_partitions_assigned(self, assigned):
        self.assigned += 1


def test_aiokafka_static_member_restart_keeps_its_partitions_without_rebalance(broker):
    """KIP-345: a static member (group_instance_id) that restarts gets its partitions back
    while the group stays Stable; the other member sees no rebalance."""
    b = broker(**GROUP_OVERRIDES)
    topic = unique_topic("aio-static")
    group = unique_topic("aio-sg")

    def static_member(instance):
        member = group_consumer(b.bootstrap, topic, group, group_instance_id=instance)
        log = RebalanceLog()
        member.subscribe([topic], listener=log)
        return member, log

    async def body():
        await create_topic(b.bootstrap, topic, GROUP_PARTITIONS)
        (stayer, stayer_log), (restarter, _) = static_member("stayer"), static_member("restarter")
        await asyncio.gather(stayer.start(), restarter.start())
        try:
            stayer_share, restarter_share = await wait_for_split([stayer, restarter], GROUP_PARTITIONS)
            rebalances_before = stayer_log.assigned
            # A static member sends no LeaveGroup: its partitions wait for it.
            await restarter.stop()
            restarter, restarted_log = static_member("restarter")
            await restarter.start()

            async def assigned():
                return restarted_log.assigned > 0 and restarter.assignment()

            assert await wait_until(assigned, "the restarted static member's assignment") == restarter_share
            # A rebalance would reach the stayer within a few heartbeats: wait that long.
            await asyncio.sleep(QUIET_PERIOD_S)
            assert stayer.assignment() == stayer_share
            assert stayer_log.assigned == rebalances_before, "the restart rebalanced the other member"
        finally:
            await asyncio.gather(stayer.stop(), restarter.stop())

    run(body())


# Compressed batches hold many records: a seek or a time look-up lands inside one.
@pytest.mark.parametrize("compression", [None, "zstd"])
def test_aiokafka_consumer_seeks_and_looks_up_offsets(broker, compression):
    b = broker()
    topic = unique_topic("aio-seek")
    tps = [TopicPartition(topic, p) for p in range(SEEK_PARTITIONS)]
    count = SEEK_MESSAGES_PER_PARTITION

    async def body():
        await create_topic(b.bootstrap, topic, SEEK_PARTITIONS)
        sent = await produce_per_partition(
            b.bootstrap, topic, SEEK_PARTITIONS, count, "seek", timestamps=True, compression=compression
        )
        # read_committed: without transactions the last stable offset is the high watermark,
        # and a broker answering less would hold these records back.
        consumer = plain_consumer(b.bootstrap, isolation_level="read_committed")
        await consumer.start()
        try:
            consumer.assign(tps)
            # auto_offset_reset=latest. Awaited first: aiokafka applies an automatic reset
            # still in flight over a later seek_to_beginning (a client race, not the broker).
            assert [await consumer.position(tp) for tp in tps] == [count] * SEEK_PARTITIONS
            assert await consumer.beginning_offsets(tps) == {tp: 0 for tp in tps}
            assert await consumer.end_offsets(tps) == {tp: count for tp in tps}

            await consumer.seek_to_beginning(*tps)
            assert [await consumer.position(tp) for tp in tps] == [0] * SEEK_PARTITIONS
            got = await drain(consumer, SEEK_PARTITIONS * count)
            for tp in tps:
                assert (consumer.highwater(tp), consumer.last_stable_offset(tp)) == (count, count)
            assert {p: [r.value for r in records] for p, records in got.items()} == sent
            timestamps = [r.timestamp for r in got[0]]
            assert timestamps == [BASE_TIMESTAMP_MS + i * TIMESTAMP_STEP_MS for i in range(count)]
            assert [await consumer.position(tp) for tp in tps] == [count] * SEEK_PARTITIONS

            middle = 20
            exact = BASE_TIMESTAMP_MS + middle * TIMESTAMP_STEP_MS
            found = await consumer.offsets_for_times({tps[0]: exact, tps[1]: exact + 1})
            assert (found[tps[0]].offset, found[tps[0]].timestamp) == (middle, exact)
            assert (found[tps[1]].offset, found[tps[1]].timestamp) == (middle + 1, exact + TIMESTAMP_STEP_MS)
            beyond = BASE_TIMESTAMP_MS + count * TIMESTAMP_STEP_MS
            assert await consumer.offsets_for_times({tps[0]: beyond}) == {tps[0]: None}

            seek_offset = 30
            consumer.seek(tps[1], seek_offset)
            assert await consumer.position(tps[1]) == seek_offset
            got = await drain(consumer, count - seek_offset)
            assert list(got) == [1], f"after seek on partition 1 only, read partitions {list(got)}"
            assert [r.value for r in got[1]] == sent[1][seek_offset:]

            await consumer.seek_to_end(tps[0])
            assert await consumer.position(tps[0]) == count
            idle = await consumer.getmany(timeout_ms=POLL_TIMEOUT_MS)
            assert not any(idle.values()), f"records past the end: {idle}"
        finally:
            await consumer.stop()

    run(body())
