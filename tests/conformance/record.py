"""Records real clients talking to millrace through tests/recording_proxy.py, for the
differential conformance test to replay against Apache Kafka and millrace
(tests/test_conformance_against_apache_kafka.py, examples/conformance `replay`).

    target/test-venv/bin/python tests/conformance/record.py [NAME...]

re-records tests/conformance/recordings/NAME.rec (all by default) with a fresh millrace from
target/release. Every topic and group name a client uses starts with TOKEN; the replay gives
each run its own token of the same length. A recording is one line per request, in the order
the proxy received them: `CONNECTION REQUEST ANSWER`, both frames base64 without their size
prefix (`-` for no answer); `#` lines say what was recorded, with which client versions.
"""

import datetime
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(TESTS))

from conftest import Broker, free_port  # noqa: E402
from hostile import wait_until  # noqa: E402
from recording_proxy import RecordingProxy  # noqa: E402

RECORDINGS = Path(__file__).resolve().parent / "recordings"
# Replaced by a per-run token of the same length when replayed (same length: no frame changes size).
TOKEN = "rec00000"
MESSAGES = 10
PARTITIONS = 2
TIMEOUT_S = 30.0
# Short fetch waits and a short run keep a recording small.
FETCH_WAIT_MS = 100
KCAT_TIMEOUT_S = 60


def wait_for(condition, what):
    if not wait_until(condition, TIMEOUT_S):
        raise RuntimeError(f"timed out after {TIMEOUT_S}s waiting for {what}")


def confluent_create_topic(bootstrap, topic):
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap, "broker.address.family": "v4"})
    admin.create_topics([NewTopic(topic, num_partitions=PARTITIONS, replication_factor=1)])[topic].result(TIMEOUT_S)
    wait_for(
        lambda: len(admin.list_topics(topic, timeout=TIMEOUT_S).topics[topic].partitions) == PARTITIONS,
        f"{topic} in metadata",
    )


def record_confluent_kafka(bootstrap):
    """confluent-kafka (librdkafka): admin create, idempotent produce, a group consumer that
    commits and leaves."""
    import confluent_kafka
    from confluent_kafka import Consumer, Producer

    topic, group = f"{TOKEN}-ck", f"{TOKEN}-ck-group"
    confluent_create_topic(bootstrap, topic)
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5})
    for i in range(MESSAGES):
        producer.produce(topic, key=f"k{i}".encode(), value=f"v{i}".encode())
    if producer.flush(TIMEOUT_S):
        raise RuntimeError("confluent-kafka producer did not flush")
    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "fetch.wait.max.ms": FETCH_WAIT_MS,
    })
    consumer.subscribe([topic])
    received = []
    deadline = time.monotonic() + TIMEOUT_S
    while len(received) < MESSAGES and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is not None and not message.error():
            received.append(message)
    consumer.commit(asynchronous=False)
    consumer.close()
    if len(received) != MESSAGES:
        raise RuntimeError(f"confluent-kafka consumer got {len(received)} of {MESSAGES}")
    return f"confluent-kafka {confluent_kafka.__version__}, librdkafka {confluent_kafka.libversion()[0]}"


def record_kafka_python(bootstrap):
    """kafka-python: admin create, idempotent produce, a group consumer that commits and leaves."""
    import kafka
    from kafka import KafkaConsumer, KafkaProducer
    from kafka.admin import KafkaAdminClient, NewTopic

    topic, group = f"{TOKEN}-kp", f"{TOKEN}-kp-group"
    timeout_ms = int(TIMEOUT_S * 1000)
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=timeout_ms)
    admin.create_topics([NewTopic(topic, PARTITIONS, 1)], timeout_ms=timeout_ms)
    wait_for(lambda: topic in admin.list_topics(), f"{topic} listed")
    admin.close()
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, enable_idempotence=True)
    for i in range(MESSAGES):
        producer.send(topic, key=f"k{i}".encode(), value=f"v{i}".encode())
    producer.flush(TIMEOUT_S)
    producer.close()
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_wait_ms=FETCH_WAIT_MS,
    )
    received = 0
    deadline = time.monotonic() + TIMEOUT_S
    while received < MESSAGES and time.monotonic() < deadline:
        received += sum(len(batch) for batch in consumer.poll(timeout_ms=500).values())
    consumer.commit()
    consumer.close()
    if received != MESSAGES:
        raise RuntimeError(f"kafka-python consumer got {received} of {MESSAGES}")
    return f"kafka-python {kafka.__version__}"


def kcat(*args, stdin=None):
    done = subprocess.run(
        ["kcat", *args], input=stdin, capture_output=True, text=True, timeout=KCAT_TIMEOUT_S
    )
    if done.returncode != 0:
        raise RuntimeError(f"kcat {' '.join(args)} failed: {done.stderr}")
    return done.stdout


def record_kcat(bootstrap):
    """kcat (librdkafka): list metadata, produce keyed lines, consume them by partition, then
    as a balanced group consumer that commits."""
    topic, group = f"{TOKEN}-kcat", f"{TOKEN}-kcat-group"
    confluent_create_topic(bootstrap, topic)
    kcat("-b", bootstrap, "-L", "-t", topic)
    lines = "".join(f"k{i}:v{i}\n" for i in range(MESSAGES))
    kcat("-b", bootstrap, "-P", "-t", topic, "-K:", "-p", "0", stdin=lines)
    got = kcat("-b", bootstrap, "-C", "-t", topic, "-p", "0", "-o", "beginning", "-e", "-f", "%k:%s\n")
    if got != lines:
        raise RuntimeError(f"kcat -C read {got!r}")
    kcat("-b", bootstrap, "-G", group, "-e", "-X", "auto.offset.reset=earliest", topic)
    return next(line for line in kcat("-V").splitlines() if line.startswith("Version"))


SCENARIOS = {
    "confluent_kafka": record_confluent_kafka,
    "kafka_python": record_kafka_python,
    "kcat": record_kcat,
}


def record(name, scenario, work_dir):
    proxy_port = free_port()
    data_dir = Path(work_dir) / name / "data"
    data_dir.mkdir(parents=True)
    broker = Broker(data_dir, data_dir.parent / "stderr.log", {
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{proxy_port}",
    })
    broker.start()
    # The proxy listens where the broker says it is.
    proxy = RecordingProxy(broker.bootstrap, proxy_port).start()
    try:
        clients = scenario(proxy.address)
    finally:
        proxy.stop()
        broker.stop()
    if proxy.errors:
        raise RuntimeError(f"proxy errors: {proxy.errors}")
    lines = proxy.lines()
    header = [
        f"# {name}: {' '.join(scenario.__doc__.split())}",
        f"# recorded {datetime.date.today()} by tests/conformance/record.py against millrace; {clients}",
        f"# {len(lines)} requests; names start with {TOKEN}",
    ]
    path = RECORDINGS / f"{name}.rec"
    path.write_text("\n".join(header + lines) + "\n")
    print(f"{path}: {len(lines)} requests")


def main(names):
    RECORDINGS.mkdir(exist_ok=True)
    unknown = set(names) - set(SCENARIOS)
    if unknown:
        sys.exit(f"unknown recordings {sorted(unknown)}; known: {sorted(SCENARIOS)}")
    with tempfile.TemporaryDirectory(prefix="millrace-record-") as work_dir:
        for name in names or SCENARIOS:
            record(name, SCENARIOS[name], work_dir)


if __name__ == "__main__":
    main(sys.argv[1:])
