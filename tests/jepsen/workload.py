"""The clients of a Jepsen-style run (confluent-kafka, i.e. librdkafka), each a thread writing
its events to the shared History:
- `Producer`: an idempotent acks=all producer sending unique values ("<process>-<seq>") round
  robin over the partitions at a steady rate; every delivery report is a send event (ok with its
  offset, fail, or info when the outcome is unknown);
- `Consumer`: reads every partition from the beginning with assign() (no group: a coordinator
  moving is not what is tested), one poll event per record;
- `final_read`: after healing, reads each partition from 0 up to its high watermark.
"""

import threading
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer as KafkaConsumer, KafkaError, KafkaException
from confluent_kafka import Producer as KafkaProducer
from confluent_kafka import TopicPartition

from jepsen import history as h

# How long librdkafka keeps retrying one record before reporting it unknown; above the
# nemesis's fault time plus an election, so most records outlive a fault.
MESSAGE_TIMEOUT_MS = 30000
REQUEST_TIMEOUT_MS = 5000
# Errors that mean the record was certainly not written (anything else may have been).
DEFINITE_FAILURES = {
    KafkaError.NOT_ENOUGH_REPLICAS,
    KafkaError.MSG_SIZE_TOO_LARGE,
    KafkaError.INVALID_REQUIRED_ACKS,
    KafkaError.TOPIC_AUTHORIZATION_FAILED,
}
POLL_TIMEOUT_S = 0.2
# Bound on the wait for outstanding deliveries when a producer stops.
FLUSH_TIMEOUT_S = MESSAGE_TIMEOUT_MS / 1000 + 10
# How long the final read may take per partition before it gives up (a partition without a
# leader after healing is itself a finding).
FINAL_READ_TIMEOUT_S = 20.0
# Bound on waits for the cluster (brokers listed, a leader elected, metadata settled).
CLUSTER_WAIT_TIMEOUT_S = 60.0


def producer_config(bootstrap):
    return {
        "bootstrap.servers": bootstrap,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        "message.timeout.ms": MESSAGE_TIMEOUT_MS,
        "request.timeout.ms": REQUEST_TIMEOUT_MS,
        "retry.backoff.ms": 100,
        "reconnect.backoff.max.ms": 1000,
        "topic.metadata.refresh.interval.ms": 1000,
    }


class Producer(threading.Thread):
    def __init__(self, name, bootstrap, topic, partitions, history, rate_per_s):
        super().__init__(name=name, daemon=True)
        self.process = name
        self.bootstrap = bootstrap
        self.topic = topic
        self.partitions = partitions
        self.history = history
        self.interval_s = 1.0 / rate_per_s
        self.stopping = threading.Event()
        self.sent = 0
        self.fatal_restarts = 0
        self.failure = None

    def _report(self, value, partition):
        def on_delivery(err, msg):
            if err is None:
                self.history.record(h.SEND, self.process, value=value, partition=msg.partition(),
                                    offset=msg.offset(), status=h.OK)
                return
            status = h.FAIL if err.code() in DEFINITE_FAILURES else h.INFO
            self.history.record(h.SEND, self.process, value=value, partition=partition,
                                status=status, error=str(err))
        return on_delivery

    def run(self):
        try:
            self._run()
        except Exception as failure:  # reported by the test, not lost in a thread
            self.failure = failure

    def _run(self):
        client = KafkaProducer(producer_config(self.bootstrap))
        seq = 0
        next_at = time.monotonic()
        while not self.stopping.is_set():
            value = f"{self.process}-{seq}"
            partition = seq % self.partitions
            try:
                client.produce(self.topic, value=value.encode(), partition=partition,
                               on_delivery=self._report(value, partition))
                seq += 1
                self.sent = seq
            except BufferError:
                pass
            except KafkaException as err:
                if not err.args[0].fatal():
                    raise
                # A fatal idempotence error (e.g. out of order sequence): what librdkafka
                # reports for the pending records is in the history; go on with a new producer.
                client.flush(FLUSH_TIMEOUT_S)
                client = KafkaProducer(producer_config(self.bootstrap))
                self.fatal_restarts += 1
            client.poll(0)
            next_at += self.interval_s
            time.sleep(max(0.0, next_at - time.monotonic()))
        client.flush(FLUSH_TIMEOUT_S)

    def stop(self):
        self.stopping.set()


def consumer_config(bootstrap, group):
    return {
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "topic.metadata.refresh.interval.ms": 1000,
        "reconnect.backoff.max.ms": 1000,
        "enable.partition.eof": False,
    }


class Consumer(threading.Thread):
    def __init__(self, name, bootstrap, topic, partitions, history):
        super().__init__(name=name, daemon=True)
        self.process = name
        self.bootstrap = bootstrap
        self.topic = topic
        self.partitions = partitions
        self.history = history
        self.stopping = threading.Event()
        self.polled = 0
        self.errors = []
        self.failure = None

    def run(self):
        try:
            self._run()
        except Exception as failure:
            self.failure = failure

    def _run(self):
        client = KafkaConsumer(consumer_config(self.bootstrap, f"jepsen-{self.process}"))
        client.assign([TopicPartition(self.topic, p, OFFSET_BEGINNING)
                       for p in range(self.partitions)])
        self.history.record(h.ASSIGN, self.process, partitions=list(range(self.partitions)))
        try:
            while not self.stopping.is_set():
                msg = client.poll(POLL_TIMEOUT_S)
                if msg is None:
                    continue
                if msg.error():
                    self.errors.append(str(msg.error()))
                    continue
                self.polled += 1
                self.history.record(h.POLL, self.process, partition=msg.partition(),
                                    offset=msg.offset(), value=msg.value().decode())
        finally:
            client.close()

    def stop(self):
        self.stopping.set()


def high_watermarks(bootstrap, topic, partitions, timeout_s=CLUSTER_WAIT_TIMEOUT_S):
    """({partition: high watermark}, {partition: last error}), retried until every partition
    answers or the timeout: a partition still without one is unavailable after healing."""
    client = KafkaConsumer(consumer_config(bootstrap, "jepsen-hw"))
    deadline = time.monotonic() + timeout_s
    marks = {}
    errors = {}
    try:
        while len(marks) < partitions and time.monotonic() < deadline:
            for p in range(partitions):
                if p in marks:
                    continue
                try:
                    marks[p] = client.get_watermark_offsets(TopicPartition(topic, p), timeout=5)[1]
                except KafkaException as err:
                    errors[p] = str(err)
            if len(marks) < partitions:
                time.sleep(0.5)
    finally:
        client.close()
    return marks, {p: e for p, e in errors.items() if p not in marks}


def final_read(bootstrap, topic, partitions, history):
    """Reads every partition from 0 to its high watermark now; records hw and final events, and
    a final-short event (with the partition's leader, replicas and ISR) for a partition that
    has no high watermark or cannot be read up to it. Returns {partition: hw} of the partitions
    that have one."""
    marks, unavailable = high_watermarks(bootstrap, topic, partitions)
    states = partition_states(bootstrap, topic)
    for p, error in sorted(unavailable.items()):
        history.record(h.FINAL_SHORT, "final", partition=p, reached=0, hw=None, errors=[error],
                       state=states.get(p))
    client = KafkaConsumer(consumer_config(bootstrap, "jepsen-final"))
    try:
        for p, hw in marks.items():
            history.record(h.HW, "final", partition=p, offset=hw)
            if hw <= 0:
                continue
            client.assign([TopicPartition(topic, p, OFFSET_BEGINNING)])
            deadline = time.monotonic() + FINAL_READ_TIMEOUT_S
            last = -1
            errors = []
            while last < hw - 1:
                if time.monotonic() > deadline:
                    # The healed cluster cannot serve its own log: the checker reports it.
                    history.record(h.FINAL_SHORT, "final", partition=p, reached=last + 1,
                                   hw=hw, errors=sorted(set(errors))[:10], state=states.get(p))
                    break
                msg = client.poll(POLL_TIMEOUT_S)
                if msg is None:
                    continue
                if msg.error():
                    errors.append(str(msg.error()))
                    continue
                if msg.offset() >= hw:
                    break
                last = msg.offset()
                history.record(h.FINAL, "final", partition=p, offset=msg.offset(),
                               value=msg.value().decode())
            client.unassign()
    finally:
        client.close()
    return marks


def leaders(bootstrap, topic):
    """{partition: leader id} from Metadata now (-1 without a leader, {} if unreachable)."""
    from confluent_kafka.admin import AdminClient

    try:
        meta = AdminClient({"bootstrap.servers": bootstrap}).list_topics(topic, timeout=5)
    except KafkaException:
        return {}
    described = meta.topics.get(topic)
    if described is None or described.error is not None:
        return {}
    return {p: part.leader for p, part in described.partitions.items()}


def wait_for_brokers(bootstrap, broker_ids, timeout_s=CLUSTER_WAIT_TIMEOUT_S):
    """Polls Metadata until exactly `broker_ids` are listed (registered and unfenced); returns
    the ClusterMetadata."""
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap})
    deadline = time.monotonic() + timeout_s
    seen = None
    while time.monotonic() < deadline:
        try:
            seen = admin.list_topics(timeout=5)
            if set(seen.brokers) == set(broker_ids):
                return seen
            if seen.orig_broker_id not in broker_ids:
                # librdkafka asks any broker it knows, and one cut off from the controller
                # (fenced by it) keeps serving its own stale view, listing itself: ask the
                # bootstrap address again through a new client.
                admin = AdminClient({"bootstrap.servers": bootstrap})
        except KafkaException:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"brokers {sorted(broker_ids)} not all listed within {timeout_s}s: "
                       f"{seen and sorted(seen.brokers)}")


def partition_states(bootstrap, topic):
    """{partition: (leader, replicas, isr)} from Metadata now ({} if unreachable)."""
    from confluent_kafka.admin import AdminClient

    try:
        meta = AdminClient({"bootstrap.servers": bootstrap}).list_topics(topic, timeout=5)
    except KafkaException:
        return {}
    described = meta.topics.get(topic)
    if described is None or described.error is not None:
        return {}
    return {p: (part.leader, list(part.replicas), list(part.isrs))
            for p, part in described.partitions.items()}


def wait_for(condition, what, timeout_s=CLUSTER_WAIT_TIMEOUT_S, interval_s=0.2):
    """Polls `condition()` until it returns something truthy, which is returned."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(interval_s)
    raise TimeoutError(f"not within {timeout_s}s: {what}")
