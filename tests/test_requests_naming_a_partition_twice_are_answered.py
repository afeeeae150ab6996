"""A request may name the same partition twice (Kafka answers each entry). Requests for one
partition are served in arrival order on its shard; a request must not wait for itself there,
or it is never answered and every later request for that partition waits behind it forever."""

import kafka_wire
from clients import create_topic, unique_topic
from test_leader_epochs_checkpoint_and_offset_for_leader_epoch import offset_for_leader_epoch, produce_records

LATEST = -1
RECORDS = 3


def test_list_offsets_and_offset_for_leader_epoch_naming_a_partition_twice(broker):
    b = broker()
    topic = unique_topic("twice")
    create_topic(b.bootstrap, topic, 1)
    produce_records(b.bootstrap, topic, RECORDS)
    with kafka_wire.connect(b.bootstrap) as sock:
        body = (
            kafka_wire.int32(-1)
            + kafka_wire.int32(1)
            + kafka_wire.kafka_string(topic)
            + kafka_wire.int32(2)
            + (kafka_wire.int32(0) + kafka_wire.int64(LATEST)) * 2
        )
        reader = kafka_wire.call(sock, kafka_wire.API_LIST_OFFSETS, 1, 1, body)
        reader.int32()
        reader.string()
        answers = [(reader.int32(), reader.int16(), reader.int64(), reader.int64()) for _ in range(reader.int32())]
    assert answers == [(0, 0, -1, RECORDS)] * 2
    assert offset_for_leader_epoch(b.bootstrap, topic, [(0, -1, 0), (0, -1, 0)]) == [(0, 0, 0, RECORDS)] * 2
    # The partition still serves.
    produce_records(b.bootstrap, topic, 1)
