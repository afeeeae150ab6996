"""Helpers for the `millrace bench` tests: run the harness binary, read its outputs."""

import base64
import json
import struct
import subprocess
import xml.etree.ElementTree as ElementTree
import zlib

from confluent_kafka import Consumer, TopicPartition

from clients import quiet_config, unique_topic
from conftest import BROKER_BINARY

BENCH_TIMEOUT_S = 120
# HdrHistogram V2 cookies (with the V2 flag 0x10): the compressed wrapper, the encoding inside.
V2_COMPRESSED_COOKIE = 0x1C849314
V2_ENCODING_COOKIE = 0x1C849313
SVG_NAMESPACE = "{http://www.w3.org/2000/svg}"


def run_bench(*args):
    """Runs `millrace bench ARGS`; returns the CompletedProcess (text output)."""
    return subprocess.run(
        [str(BROKER_BINARY), "bench", *[str(a) for a in args]],
        capture_output=True,
        text=True,
        timeout=BENCH_TIMEOUT_S,
    )


def load_result(output_dir):
    return json.loads((output_dir / "result.json").read_text())


def histogram_total_count(encoded):
    """Total count of an HdrHistogram V2 deflate histogram, decoded independently of millrace."""
    raw = base64.b64decode(encoded)
    cookie, length = struct.unpack(">II", raw[:8])
    assert cookie == V2_COMPRESSED_COOKIE, hex(cookie)
    inner = zlib.decompress(raw[8 : 8 + length])
    cookie, payload_length = struct.unpack(">II", inner[:8])
    assert cookie == V2_ENCODING_COOKIE, hex(cookie)
    payload = inner[40 : 40 + payload_length]
    total, pos = 0, 0
    while pos < len(payload):
        value, shift = 0, 0
        while True:
            byte = payload[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80 or shift == 56:
                if shift == 56 and byte >= 0x80:
                    value |= payload[pos] << 56
                    pos += 1
                break
        count = (value >> 1) ^ -(value & 1)
        if count > 0:
            total += count
    return total


def assert_valid_svg(path, min_paths):
    root = ElementTree.parse(path).getroot()
    assert root.tag == f"{SVG_NAMESPACE}svg"
    paths = [p for p in root.iter(f"{SVG_NAMESPACE}path") if len(p.get("d", "")) > 10]
    assert len(paths) >= min_paths, f"{len(paths)} drawn lines in {path}"


def log_end_offsets(bootstrap, topic, partitions):
    """The broker's log end offset of each partition, as confluent-kafka reads it."""
    consumer = Consumer({**quiet_config(bootstrap), "group.id": unique_topic("bench-check")})
    try:
        return [consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(partitions)]
    finally:
        consumer.close()
