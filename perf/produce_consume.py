#!/usr/bin/env python3
"""Throughput of a librdkafka client (confluent-kafka) against a Kafka-compatible broker.

Produces N records of a fixed size to one partition with the given acks,
then consumes them all back from the beginning (catch-up read), and prints
MB/s for each phase as one JSON line.

    python3 perf/produce_consume.py --bootstrap 127.0.0.1:9092 --records 500000 --size 1024 --acks all
"""
import argparse
import json
import time
import uuid

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

PRODUCE_TIMEOUT_S = 600
CONSUME_IDLE_TIMEOUT_S = 30


def create_topic(bootstrap, topic, partitions):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])
    for future in futures.values():
        future.result(timeout=30)


def produce(bootstrap, topic, records, size, acks, linger_ms, batch_bytes, compression):
    producer = Producer({
        "bootstrap.servers": bootstrap,
        "acks": acks,
        "linger.ms": linger_ms,
        "batch.size": batch_bytes,
        "batch.num.messages": 1_000_000,
        "queue.buffering.max.kbytes": 1_048_576,
        "queue.buffering.max.messages": 2_000_000,
        "compression.type": compression,
        "message.max.bytes": max(batch_bytes + 1024, 1_000_000),
    })
    payload = b"x" * size
    errors = []

    def on_delivery(err, _msg):
        if err is not None:
            errors.append(err)

    start = time.perf_counter()
    for _ in range(records):
        while True:
            try:
                producer.produce(topic, payload, partition=0, on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.001)
        producer.poll(0)
    remaining = producer.flush(PRODUCE_TIMEOUT_S)
    elapsed = time.perf_counter() - start
    if remaining or errors:
        raise SystemExit(f"produce failed: {remaining} undelivered, errors {errors[:3]}")
    return elapsed


def consume(bootstrap, topic, records, size):
    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": f"bench-{uuid.uuid4()}",
        "enable.auto.commit": False,
        "fetch.max.bytes": 52_428_800,
        "max.partition.fetch.bytes": 10_485_760,
        "fetch.wait.max.ms": 100,
        "queued.max.messages.kbytes": 1_048_576,
    })
    consumer.assign([TopicPartition(topic, 0, 0)])
    seen = 0
    start = time.perf_counter()
    last_progress = start
    while seen < records:
        batch = consumer.consume(num_messages=10_000, timeout=1.0)
        now = time.perf_counter()
        if batch:
            last_progress = now
        elif now - last_progress > CONSUME_IDLE_TIMEOUT_S:
            raise SystemExit(f"consume stalled at {seen}/{records}")
        for message in batch:
            if message.error():
                raise SystemExit(f"consume error: {message.error()}")
            if len(message.value()) != size:
                raise SystemExit("wrong payload size")
            seen += 1
    elapsed = time.perf_counter() - start
    consumer.close()
    return elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--records", type=int, default=500_000)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--acks", default="all")
    parser.add_argument("--linger-ms", type=int, default=5)
    parser.add_argument("--batch-bytes", type=int, default=1_000_000)
    parser.add_argument("--compression", default="none")
    parser.add_argument("--skip-consume", action="store_true", help="produce only")
    args = parser.parse_args()
    topic = f"bench-{uuid.uuid4().hex[:8]}"
    create_topic(args.bootstrap, topic, 1)
    produce_s = produce(args.bootstrap, topic, args.records, args.size, args.acks,
                        args.linger_ms, args.batch_bytes, args.compression)
    consume_s = None if args.skip_consume else consume(args.bootstrap, topic, args.records, args.size)
    megabytes = args.records * args.size / 1e6
    print(json.dumps({
        "records": args.records, "size": args.size, "acks": args.acks,
        "linger_ms": args.linger_ms, "batch_bytes": args.batch_bytes,
        "produce_s": round(produce_s, 3), "produce_mb_s": round(megabytes / produce_s, 1),
        "produce_records_s": round(args.records / produce_s),
        "consume_s": consume_s and round(consume_s, 3),
        "consume_mb_s": consume_s and round(megabytes / consume_s, 1),
    }))


if __name__ == "__main__":
    main()
