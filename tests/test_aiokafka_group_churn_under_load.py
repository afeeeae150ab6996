"""aiokafka consumer group under churn: while a producer keeps writing to a 6-partition topic,
members join and leave (each rebalance revokes, auto-commits and reassigns partitions).
Nothing produced may be lost, and at the end the group's committed offsets are the log ends."""

import asyncio
import time

from aiokafka import AIOKafkaProducer
from aiokafka.structs import TopicPartition

from aiokafka_clients import (
    GROUP_OVERRIDES,
    POLL_TIMEOUT_MS,
    REQUEST_TIMEOUT_MS,
    committed_offsets,
    create_topic,
    group_consumer,
    run,
)
from clients import unique_topic

PARTITIONS = 6
AUTO_COMMIT_INTERVAL_MS = 200
# Sends between yields to the event loop: keeps the pump from starving the consumers.
PUMP_BURST = 50
PUMP_PAUSE_S = 0.01
# Timeline (seconds from the first member's start): joins, a leave, end of production.
SECOND_JOINS_AT_S = 1.0
THIRD_JOINS_AT_S = 2.0
SECOND_LEAVES_AT_S = 3.5
PRODUCTION_ENDS_AT_S = 5.0
DRAIN_TIMEOUT_S = 10.0
CHURN_TEST_TIMEOUT_S = 40.0


class Pump:
    """Produces numbered values round-robin over the partitions until stopped."""

    def __init__(self, bootstrap, topic):
        self.topic = topic
        self.producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap, acks="all", linger_ms=5, request_timeout_ms=REQUEST_TIMEOUT_MS
        )
        self.sent = []
        self.futures = []
        self.stopped = asyncio.Event()

    async def run(self):
        index = 0
        while not self.stopped.is_set():
            value = f"m{index:07d}".encode()
            self.futures.append(await self.producer.send(self.topic, value, partition=index % PARTITIONS))
            self.sent.append(value)
            index += 1
            if index % PUMP_BURST == 0:
                await asyncio.sleep(PUMP_PAUSE_S)

    async def finish(self):
        """Stops sending; returns {value: RecordMetadata} of everything acknowledged."""
        self.stopped.set()
        results = await asyncio.gather(*self.futures)
        return dict(zip(self.sent, results))


class Member:
    """One group member polling until told to leave; records what it read."""

    def __init__(self, bootstrap, topic, group, name, received):
        self.consumer = group_consumer(
            bootstrap,
            topic,
            group,
            client_id=name,
            enable_auto_commit=True,
            auto_commit_interval_ms=AUTO_COMMIT_INTERVAL_MS,
        )
        self.received = received
        self.read_count = 0
        self.leave = asyncio.Event()

    async def run(self):
        await self.consumer.start()
        try:
            while not self.leave.is_set():
                batches = await self.consumer.getmany(timeout_ms=POLL_TIMEOUT_MS)
                for records in batches.values():
                    self.received.extend(record.value for record in records)
                    self.read_count += len(records)
        finally:
            # stop() commits what was read (auto commit) and sends LeaveGroup.
            await self.consumer.stop()


async def at(start, offset_s):
    await asyncio.sleep(max(0.0, start + offset_s - time.monotonic()))


def test_aiokafka_group_churn_under_load_loses_nothing(broker):
    b = broker(**GROUP_OVERRIDES)
    topic = unique_topic("aio-churn")
    group = unique_topic("aio-churn-g")

    async def body():
        await create_topic(b.bootstrap, topic, PARTITIONS)
        pump = Pump(b.bootstrap, topic)
        await pump.producer.start()
        received = []
        members = [Member(b.bootstrap, topic, group, f"member-{i}", received) for i in range(3)]
        tasks = [asyncio.create_task(pump.run()), asyncio.create_task(members[0].run())]
        try:
            start = time.monotonic()
            await at(start, SECOND_JOINS_AT_S)
            tasks.append(asyncio.create_task(members[1].run()))
            await at(start, THIRD_JOINS_AT_S)
            tasks.append(asyncio.create_task(members[2].run()))
            await at(start, SECOND_LEAVES_AT_S)
            members[1].leave.set()
            await at(start, PRODUCTION_ENDS_AT_S)
            acknowledged = await pump.finish()

            deadline = time.monotonic() + DRAIN_TIMEOUT_S
            while not set(acknowledged) <= set(received) and time.monotonic() < deadline:
                await asyncio.sleep(POLL_TIMEOUT_MS / 1000)
        finally:
            pump.stopped.set()
            for member in members:
                member.leave.set()
            await asyncio.gather(*tasks)
            await pump.producer.stop()

        # Every member got partitions at some point: the rebalances really happened.
        assert all(member.read_count > 0 for member in members), [m.read_count for m in members]
        missing = set(acknowledged) - set(received)
        assert not missing, f"{len(missing)} of {len(acknowledged)} acknowledged records never read"
        assert set(received) <= set(acknowledged), "read records that were never produced"
        log_ends = {}
        for metadata in acknowledged.values():
            tp = TopicPartition(topic, metadata.partition)
            log_ends[tp] = max(log_ends.get(tp, 0), metadata.offset + 1)

        assert await committed_offsets(b.bootstrap, group) == log_ends

    run(body(), timeout_s=CHURN_TEST_TIMEOUT_S)
