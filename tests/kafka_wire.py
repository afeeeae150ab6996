"""Just enough of the Kafka wire protocol to talk to a broker over a raw socket.

The client libraries hide what goes on the wire; these helpers let tests send exact bytes
(bad frames, unsupported versions, one Produce or Fetch request that touches chosen
partitions) and decode exact answers. Only what the tests use is here: request headers v1/v2,
ApiVersions v0/v3, Produce v3, Fetch v4 and v11 (sessions), ListOffsets v1, FindCoordinator v1,
JoinGroup v1, OffsetCommit v2 and record batch v2 (compressed only
around a records section the caller compressed).
"""

import socket
import struct
import time

API_PRODUCE = 0
API_FETCH = 1
API_LIST_OFFSETS = 2
API_METADATA = 3
API_OFFSET_COMMIT = 8
API_FIND_COORDINATOR = 10
API_JOIN_GROUP = 11
API_API_VERSIONS = 18
API_CREATE_TOPICS = 19
API_DELETE_TOPICS = 20
API_INIT_PRODUCER_ID = 22
API_DESCRIBE_CONFIGS = 32
API_CREATE_PARTITIONS = 37

ERROR_NONE = 0
ERROR_NOT_LEADER_OR_FOLLOWER = 6
ERROR_COORDINATOR_LOAD_IN_PROGRESS = 14
ERROR_COORDINATOR_NOT_AVAILABLE = 15
ERROR_NOT_COORDINATOR = 16
ERROR_UNSUPPORTED_VERSION = 35
ERROR_OUT_OF_ORDER_SEQUENCE_NUMBER = 45
ERROR_THROTTLING_QUOTA_EXCEEDED = 89

RECORD_BATCH_HEADER_BYTES = 61
LOG_OVERHEAD_BYTES = 12  # base offset (8) + batch length (4) precede every batch
MAGIC_V2 = 2
SOCKET_TIMEOUT_S = 10.0


# ---------------------------------------------------------------- primitives


def int16(value):
    return struct.pack(">h", value)


def int32(value):
    return struct.pack(">i", value)


def int64(value):
    return struct.pack(">q", value)


def kafka_string(text):
    if text is None:
        return int16(-1)
    raw = text.encode()
    return int16(len(raw)) + raw


def kafka_bytes(raw):
    if raw is None:
        return int32(-1)
    return int32(len(raw)) + raw


def uvarint(value):
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def varint(value):
    """Zigzag varint, as used inside records."""
    return uvarint((value << 1) ^ (value >> 63))


def compact_string(text):
    raw = text.encode()
    return uvarint(len(raw) + 1) + raw


class Reader:
    """Sequential big-endian reader over one response body."""

    def __init__(self, data, pos=0):
        self.data = data
        self.pos = pos

    def take(self, n):
        if self.pos + n > len(self.data):
            raise ValueError(f"short read: need {n} bytes at {self.pos} of {len(self.data)}")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def int8(self):
        return struct.unpack(">b", self.take(1))[0]

    def int16(self):
        return struct.unpack(">h", self.take(2))[0]

    def int32(self):
        return struct.unpack(">i", self.take(4))[0]

    def uint32(self):
        return struct.unpack(">I", self.take(4))[0]

    def int64(self):
        return struct.unpack(">q", self.take(8))[0]

    def string(self):
        n = self.int16()
        return None if n < 0 else self.take(n).decode()

    def nullable_bytes(self):
        n = self.int32()
        return None if n < 0 else self.take(n)

    def uvarint(self):
        shift = 0
        value = 0
        for _ in range(10):
            byte = self.take(1)[0]
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return value
            shift += 7
        raise ValueError("varint longer than 10 bytes")

    def varint(self):
        raw = self.uvarint()
        return (raw >> 1) ^ -(raw & 1)

    def skip_tagged_fields(self):
        for _ in range(self.uvarint()):
            self.uvarint()
            self.take(self.uvarint())

    def remaining(self):
        return len(self.data) - self.pos


# ---------------------------------------------------------------- crc32c

_CRC32C_TABLE = []
for _n in range(256):
    _c = _n
    for _ in range(8):
        _c = (_c >> 1) ^ 0x82F63B78 if _c & 1 else _c >> 1
    _CRC32C_TABLE.append(_c)


def crc32c(data):
    crc = 0xFFFFFFFF
    table = _CRC32C_TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


# ---------------------------------------------------------------- framing


def request_header(api_key, api_version, correlation_id, client_id="millrace-tests", flexible=False):
    header = int16(api_key) + int16(api_version) + int32(correlation_id) + kafka_string(client_id)
    if flexible:
        header += uvarint(0)  # no tagged fields
    return header


def frame(payload):
    return int32(len(payload)) + payload


def connect(bootstrap, timeout_s=SOCKET_TIMEOUT_S):
    host, port = bootstrap.rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=timeout_s)
    sock.settimeout(timeout_s)
    return sock


def recv_exact(sock, n):
    """Exactly n bytes, or None if the peer closed first."""
    chunks = []
    remaining = n
    while remaining:
        chunk = sock.recv(min(remaining, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def read_frame(sock):
    """One size-prefixed response frame, or None if the peer closed the connection."""
    prefix = recv_exact(sock, 4)
    if prefix is None:
        return None
    (size,) = struct.unpack(">i", prefix)
    if size < 0:
        raise ValueError(f"negative response size {size}")
    return recv_exact(sock, size)


def call(sock, api_key, api_version, correlation_id, body, flexible=False):
    """Send one request and return the response after its correlation id (header v0)."""
    sock.sendall(frame(request_header(api_key, api_version, correlation_id, flexible=flexible) + body))
    response = read_frame(sock)
    if response is None:
        raise ConnectionError(f"broker closed the connection on api {api_key} v{api_version}")
    reader = Reader(response)
    got = reader.int32()
    if got != correlation_id:
        raise ValueError(f"correlation id {got}, expected {correlation_id}")
    return reader


def wait_closed(sock, timeout_s):
    """True if the peer closes (EOF or reset) within timeout_s; any data read is discarded."""
    deadline = time.monotonic() + timeout_s
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError):
            return True
        if not chunk:
            return True


# ---------------------------------------------------------------- Metadata

METADATA_AUTO_CREATE_WAIT_S = 10.0


def metadata_v4_partitions(sock, correlation_id, topic, allow_auto_create=True):
    """Metadata v4 for one topic, letting the broker auto-create it as clients do (Produce
    alone never creates a topic, in Kafka or millrace): (error code, partition count)."""
    body = int32(1) + kafka_string(topic) + struct.pack(">b", 1 if allow_auto_create else 0)
    reader = call(sock, API_METADATA, 4, correlation_id, body)
    reader.int32()  # throttle
    for _ in range(reader.int32()):  # brokers: node id, host, port, rack
        reader.int32(), reader.string(), reader.int32(), reader.string()
    reader.string()  # cluster id
    reader.int32()  # controller id
    found = (-1, 0)
    for _ in range(reader.int32()):
        error_code, name, _internal = reader.int16(), reader.string(), reader.int8()
        partitions = reader.int32()
        for _ in range(partitions):
            reader.int16(), reader.int32(), reader.int32()  # error, index, leader
            for _ in range(2):  # replicas, isr
                for _ in range(reader.int32()):
                    reader.int32()
        if name == topic:
            found = (error_code, partitions)
    return found


def ensure_topic(sock, topic, correlation_id=90_000):
    """Has the broker auto-create `topic` through Metadata and waits until it has partitions."""
    deadline = time.monotonic() + METADATA_AUTO_CREATE_WAIT_S
    while True:
        error_code, partitions = metadata_v4_partitions(sock, correlation_id, topic)
        if error_code == ERROR_NONE and partitions > 0:
            return partitions
        if time.monotonic() > deadline:
            raise TimeoutError(f"{topic}: Metadata error {error_code} after {METADATA_AUTO_CREATE_WAIT_S}s")
        correlation_id += 1
        time.sleep(0.05)


# ---------------------------------------------------------------- ApiVersions


def api_versions_v0(sock, correlation_id=1):
    """Returns (error_code, {api_key: (min, max)}) from ApiVersions v0."""
    reader = call(sock, API_API_VERSIONS, 0, correlation_id, b"")
    return parse_api_versions_v0(reader)


def parse_api_versions_v0(reader):
    error_code = reader.int16()
    count = reader.int32()
    versions = {}
    for _ in range(max(count, 0)):
        key, lo, hi = reader.int16(), reader.int16(), reader.int16()
        versions[key] = (lo, hi)
    return error_code, versions


def api_versions_v3(sock, correlation_id=1):
    """Returns (error_code, {api_key: (min, max)}) from ApiVersions v3 (flexible)."""
    body = compact_string("millrace-tests") + compact_string("1.0") + uvarint(0)
    # ApiVersions responses always use response header v0 (no tagged fields), KIP-511.
    reader = call(sock, API_API_VERSIONS, 3, correlation_id, body, flexible=True)
    error_code = reader.int16()
    count = reader.uvarint() - 1
    versions = {}
    for _ in range(max(count, 0)):
        key, lo, hi = reader.int16(), reader.int16(), reader.int16()
        reader.skip_tagged_fields()
        versions[key] = (lo, hi)
    reader.int32()  # throttle_time_ms
    return error_code, versions


# ---------------------------------------------------------------- record batches


def encode_record(offset_delta, timestamp_delta, key, value):
    body = (
        b"\x00"  # attributes
        + varint(timestamp_delta)
        + varint(offset_delta)
        + (varint(-1) if key is None else varint(len(key)) + key)
        + (varint(-1) if value is None else varint(len(value)) + value)
        + varint(0)  # headers
    )
    return varint(len(body)) + body


def encode_record_batch(records, base_timestamp_ms, producer_id=-1, producer_epoch=-1, base_sequence=-1):
    """An uncompressed v2 batch of (key, value) pairs, base offset 0; an idempotent producer's
    batch when producer_id, producer_epoch and base_sequence are given."""
    encoded = b"".join(
        encode_record(i, 0, key, value) for i, (key, value) in enumerate(records)
    )
    producer = (producer_id, producer_epoch, base_sequence)
    return encode_batch_around(encoded, len(records), base_timestamp_ms, base_timestamp_ms, producer=producer)


def encode_batch_around(records_section, count, base_timestamp_ms, max_timestamp_ms, codec=0, producer=(-1, -1, -1)):
    """A v2 batch (base offset 0) around an encoded records section, which is compressed with
    `codec` (attribute bits) by the caller when not 0; `producer` is (producer id, epoch, base
    sequence), none by default."""
    producer_id, producer_epoch, base_sequence = producer
    after_crc = (
        int16(codec)  # attributes: the codec, create time
        + int32(count - 1)  # last offset delta
        + int64(base_timestamp_ms)
        + int64(max_timestamp_ms)
        + int64(producer_id)
        + int16(producer_epoch)
        + int32(base_sequence)
        + int32(count)
        + records_section
    )
    after_length = int32(0) + struct.pack(">b", MAGIC_V2) + struct.pack(">I", crc32c(after_crc)) + after_crc
    return int64(0) + int32(len(after_length)) + after_length


def decode_record_batches(data):
    """[(offset, key, value)] from a run of uncompressed v2 batches; a partial last batch is ignored."""
    out = []
    pos = 0
    while pos + LOG_OVERHEAD_BYTES <= len(data):
        base_offset, batch_length = struct.unpack_from(">qi", data, pos)
        end = pos + LOG_OVERHEAD_BYTES + batch_length
        if batch_length <= 0 or end > len(data):
            break
        reader = Reader(data[:end], pos + LOG_OVERHEAD_BYTES)
        reader.int32()  # partition leader epoch
        magic = reader.int8()
        if magic != MAGIC_V2:
            raise ValueError(f"batch at {pos} has magic {magic}")
        crc = reader.uint32()
        if crc32c(data[pos + 21 : end]) != crc:
            raise ValueError(f"batch at {pos} fails its CRC32C")
        attributes = reader.int16()
        if attributes & 0x07:
            raise ValueError("compressed batches are not decoded here")
        reader.take(4 + 8 + 8 + 8 + 2 + 4)  # lastOffsetDelta .. baseSequence
        for _ in range(reader.int32()):
            reader.varint()  # length
            reader.int8()  # attributes
            reader.varint()  # timestamp delta
            offset_delta = reader.varint()
            key_len = reader.varint()
            key = None if key_len < 0 else reader.take(key_len)
            value_len = reader.varint()
            value = None if value_len < 0 else reader.take(value_len)
            for _ in range(reader.varint()):
                reader.take(reader.varint())
                header_value_len = reader.varint()
                if header_value_len > 0:
                    reader.take(header_value_len)
            out.append((base_offset + offset_delta, key, value))
        pos = end
    return out


def batch_headers(data):
    """[(attributes, max_timestamp, crc_ok)] of the whole v2 batches in `data` (a Fetch
    answer's records), compressed or not; records are not decoded."""
    headers = []
    pos = 0
    while pos + LOG_OVERHEAD_BYTES <= len(data):
        (batch_length,) = struct.unpack_from(">i", data, pos + 8)
        end = pos + LOG_OVERHEAD_BYTES + batch_length
        if batch_length <= 0 or end > len(data):
            break
        (crc,) = struct.unpack_from(">I", data, pos + 17)
        (attributes,) = struct.unpack_from(">h", data, pos + 21)
        (max_timestamp,) = struct.unpack_from(">q", data, pos + 35)
        headers.append((attributes, max_timestamp, crc32c(data[pos + 21 : end]) == crc))
        pos = end
    return headers


# ---------------------------------------------------------------- Produce v3 / Fetch v4


def produce_v3(sock, correlation_id, topic, batches_by_partition, acks=-1, timeout_ms=10000):
    """One Produce v3 request for many partitions; returns {partition: (error_code, base_offset)}."""
    partitions = b"".join(
        int32(partition) + kafka_bytes(batch) for partition, batch in batches_by_partition.items()
    )
    body = (
        kafka_string(None)  # transactional id
        + int16(acks)
        + int32(timeout_ms)
        + int32(1)
        + kafka_string(topic)
        + int32(len(batches_by_partition))
        + partitions
    )
    reader = call(sock, API_PRODUCE, 3, correlation_id, body)
    results = {}
    for _ in range(reader.int32()):
        reader.string()
        for _ in range(reader.int32()):
            partition = reader.int32()
            error_code = reader.int16()
            base_offset = reader.int64()
            reader.int64()  # log append time
            results[partition] = (error_code, base_offset)
    return results


def fetch_v4(
    sock,
    correlation_id,
    topic,
    offsets_by_partition,
    max_bytes=32 << 20,
    partition_max_bytes=8 << 20,
    max_wait_ms=500,
    min_bytes=1,
):
    """One Fetch v4 request; returns {partition: (error_code, high_watermark, records_bytes)}."""
    body = fetch_v4_body(topic, offsets_by_partition, max_bytes, partition_max_bytes, max_wait_ms, min_bytes)
    return parse_fetch_v4(call(sock, API_FETCH, 4, correlation_id, body))


def fetch_v4_body(topic, offsets_by_partition, max_bytes, partition_max_bytes, max_wait_ms, min_bytes):
    """The body of a Fetch v4 request for one topic (partitions in the dict's order)."""
    partitions = b"".join(
        int32(partition) + int64(offset) + int32(partition_max_bytes)
        for partition, offset in offsets_by_partition.items()
    )
    return (
        int32(-1)  # replica id: a consumer
        + int32(max_wait_ms)
        + int32(min_bytes)
        + int32(max_bytes)
        + struct.pack(">b", 0)  # read_uncommitted
        + int32(1)
        + kafka_string(topic)
        + int32(len(offsets_by_partition))
        + partitions
    )


def parse_fetch_v4(reader):
    """{partition: (error_code, high_watermark, records_bytes)} of a Fetch v4 response."""
    reader.int32()  # throttle
    results = {}
    for _ in range(reader.int32()):
        reader.string()
        for _ in range(reader.int32()):
            partition = reader.int32()
            error_code = reader.int16()
            high_watermark = reader.int64()
            reader.int64()  # last stable offset
            aborted = reader.int32()
            for _ in range(max(aborted, 0)):
                reader.take(16)
            records = reader.nullable_bytes() or b""
            results[partition] = (error_code, high_watermark, records)
    return results


def fetch_v11(sock, correlation_id, session_id, epoch, topics, forgotten=None, max_wait_ms=100, min_bytes=1,
              isolation_level=0, partition_max_bytes=1 << 20):
    """One Fetch v11 request (fetch sessions, KIP-227, topics by name). `topics` is
    {topic: {partition: fetch_offset}}, `forgotten` {topic: [partition]}. Returns
    (error_code, session_id, {(topic, partition): (error_code, high_watermark, log_start_offset,
    aborted, records)}) where aborted is None (null) or the list's length."""
    body = fetch_v11_body(session_id, epoch, topics, forgotten, max_wait_ms, min_bytes, isolation_level,
                          partition_max_bytes)
    return parse_fetch_v11(call(sock, API_FETCH, 11, correlation_id, body))


def fetch_v11_body(session_id, epoch, topics, forgotten=None, max_wait_ms=100, min_bytes=1, isolation_level=0,
                   partition_max_bytes=1 << 20):
    """The body of a Fetch v11 request (see fetch_v11)."""
    forgotten = forgotten or {}
    body = (
        int32(-1) + int32(max_wait_ms) + int32(min_bytes) + int32(32 << 20)
        + struct.pack(">b", isolation_level) + int32(session_id) + int32(epoch)
        + int32(len(topics))
    )
    for topic, offsets in topics.items():
        body += kafka_string(topic) + int32(len(offsets))
        for partition, offset in offsets.items():
            # partition, current leader epoch, fetch offset, log start offset, max bytes
            body += int32(partition) + int32(-1) + int64(offset) + int64(-1) + int32(partition_max_bytes)
    body += int32(len(forgotten))
    for topic, partitions in forgotten.items():
        body += kafka_string(topic) + int32(len(partitions)) + b"".join(int32(p) for p in partitions)
    return body + kafka_string("")  # rack id


def parse_fetch_v11(reader):
    reader.int32()  # throttle
    error_code = reader.int16()
    session_id = reader.int32()
    partitions = {}
    for _ in range(reader.int32()):
        topic = reader.string()
        for _ in range(reader.int32()):
            partition = reader.int32()
            partition_error = reader.int16()
            high_watermark = reader.int64()
            reader.int64()  # last stable offset
            log_start_offset = reader.int64()
            aborted = reader.int32()
            for _ in range(max(aborted, 0)):
                reader.take(16)
            reader.int32()  # preferred read replica
            records = reader.nullable_bytes() or b""
            partitions[(topic, partition)] = (
                partition_error, high_watermark, log_start_offset, None if aborted < 0 else aborted, records,
            )
    return error_code, session_id, partitions


def fetch_v13_session_only(sock, correlation_id, session_id, epoch):
    """A Fetch v13 request (flexible, topics by id) naming no partitions, only a session;
    returns (error_code, session_id) of the answer."""
    body = (
        int32(-1) + int32(0) + int32(0) + int32(1 << 20) + struct.pack(">b", 0)
        + int32(session_id) + int32(epoch)
        + uvarint(1)  # topics: none
        + uvarint(1)  # forgotten topics: none
        + compact_string("")  # rack id
        + uvarint(0)  # tagged fields
    )
    sock.sendall(frame(request_header(API_FETCH, 13, correlation_id, flexible=True) + body))
    response = read_frame(sock)
    if response is None:
        raise ConnectionError("broker closed the connection on Fetch v13")
    reader = Reader(response)
    assert reader.int32() == correlation_id
    reader.skip_tagged_fields()
    reader.int32()  # throttle
    return reader.int16(), reader.int32()


# ---------------------------------------------------------------- InitProducerId v4


def init_producer_id_v4(sock, correlation_id, producer_id=-1, producer_epoch=-1):
    """InitProducerId v4 (flexible) without a transactional id; returns
    (error_code, producer_id, producer_epoch)."""
    body = (
        uvarint(0)  # null transactional id
        + int32(60000)  # transaction timeout ms
        + int64(producer_id)
        + int16(producer_epoch)
        + uvarint(0)  # no tagged fields
    )
    reader = call(sock, API_INIT_PRODUCER_ID, 4, correlation_id, body, flexible=True)
    reader.skip_tagged_fields()  # response header v1
    reader.int32()  # throttle time
    return reader.int16(), reader.int64(), reader.int16()


# ---------------------------------------------------------------- groups


def find_coordinator_v1(sock, correlation_id, group):
    """FindCoordinator v1 for a consumer group; returns (error_code, node_id)."""
    body = kafka_string(group) + struct.pack(">b", 0)  # key type 0: group
    reader = call(sock, API_FIND_COORDINATOR, 1, correlation_id, body)
    reader.int32()  # throttle time
    error_code = reader.int16()
    reader.string()  # error message
    return error_code, reader.int32()


def join_group_v1(sock, correlation_id, group, session_timeout_ms=10000, rebalance_timeout_ms=10000):
    """JoinGroup v1 of a new member of a consumer group with one (empty) range protocol;
    returns the error code."""
    body = (
        kafka_string(group)
        + int32(session_timeout_ms)
        + int32(rebalance_timeout_ms)
        + kafka_string("")  # member id: a new member
        + kafka_string("consumer")
        + int32(1)
        + kafka_string("range")
        + kafka_bytes(b"")
    )
    reader = call(sock, API_JOIN_GROUP, 1, correlation_id, body)
    return reader.int16()


def offset_commit_v2(sock, correlation_id, group, topic, partition, offset):
    """OffsetCommit v2 of one offset outside any generation (a simple commit); returns the
    partition's error code."""
    body = (
        kafka_string(group)
        + int32(-1)  # generation
        + kafka_string("")  # member id
        + int64(-1)  # retention: the broker's default
        + int32(1)
        + kafka_string(topic)
        + int32(1)
        + int32(partition)
        + int64(offset)
        + kafka_string(None)  # metadata
    )
    reader = call(sock, API_OFFSET_COMMIT, 2, correlation_id, body)
    reader.int32()  # topics
    reader.string()
    reader.int32()  # partitions
    reader.int32()
    return reader.int16()


# ---------------------------------------------------------------- ListOffsets v1


def list_offsets_v1(sock, correlation_id, topic, timestamps_by_partition):
    """One ListOffsets v1 request; returns {partition: (error_code, timestamp, offset)}."""
    partitions = b"".join(
        int32(partition) + int64(timestamp) for partition, timestamp in timestamps_by_partition.items()
    )
    body = int32(-1) + int32(1) + kafka_string(topic) + int32(len(timestamps_by_partition)) + partitions
    reader = call(sock, API_LIST_OFFSETS, 1, correlation_id, body)
    results = {}
    for _ in range(reader.int32()):
        reader.string()
        for _ in range(reader.int32()):
            partition = reader.int32()
            results[partition] = (reader.int16(), reader.int64(), reader.int64())
    return results


# ---------------------------------------------------------------- segment files


def walk_log_segment(data):
    """[(position, base_offset, last_offset, total_bytes)] of the well-formed batches at the
    start of a segment file, stopping at the first zero length (preallocated space), a batch
    running past the end, or a bad magic. CRCs are not checked here."""
    batches = []
    pos = 0
    while pos + RECORD_BATCH_HEADER_BYTES <= len(data):
        base_offset, batch_length = struct.unpack_from(">qi", data, pos)
        total = LOG_OVERHEAD_BYTES + batch_length
        if batch_length <= 0 or pos + total > len(data) or data[pos + 16] != MAGIC_V2:
            break
        (last_offset_delta,) = struct.unpack_from(">i", data, pos + 23)
        batches.append((pos, base_offset, base_offset + last_offset_delta, total))
        pos += total
    return batches
