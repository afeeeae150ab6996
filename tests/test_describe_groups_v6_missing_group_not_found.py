"""DescribeGroups v6 (KIP-1043) answers GROUP_ID_NOT_FOUND for a group that does not exist, as
Apache Kafka 4.4 does; v5 and older describe it as Dead without an error (found by the
conformance test against Kafka). Sent raw: no client here speaks DescribeGroups v6."""

import kafka_wire
from clients import unique_topic

API_DESCRIBE_GROUPS = 15
GROUP_ID_NOT_FOUND = 69
FIRST_NOT_FOUND_VERSION = 6
FLEXIBLE_VERSION = 5


def read_compact_string(reader):
    size = reader.uvarint() - 1
    return None if size < 0 else reader.take(size).decode()


def describe_missing(bootstrap, group, version):
    """DescribeGroups of one group at `version` (5 or 6); returns (error_code, group_state)."""
    body = kafka_wire.uvarint(2) + kafka_wire.compact_string(group)
    body += b"\x00" + kafka_wire.uvarint(0)  # include_authorized_operations, tagged fields
    with kafka_wire.connect(bootstrap) as sock:
        reader = kafka_wire.call(sock, API_DESCRIBE_GROUPS, version, 1, body, flexible=True)
    reader.skip_tagged_fields()  # response header v1
    reader.int32()  # throttle_time_ms
    assert reader.uvarint() - 1 == 1, "want one group described"
    error_code = reader.int16()
    if version >= FIRST_NOT_FOUND_VERSION:
        read_compact_string(reader)  # error_message
    assert read_compact_string(reader) == group
    return error_code, read_compact_string(reader)


def test_missing_group_is_not_found_from_v6_and_dead_before(broker):
    b = broker()
    group = unique_topic("no-such-group")
    assert describe_missing(b.bootstrap, group, FIRST_NOT_FOUND_VERSION) == (GROUP_ID_NOT_FOUND, "Dead")
    assert describe_missing(b.bootstrap, group, FLEXIBLE_VERSION) == (0, "Dead")
