"""KIP-320 with real clients: the Java consumer (kafka-clients 4.4) and franz-go validate a
position that carries a leader epoch with OffsetForLeaderEpoch before fetching from it, as they
do after a seek, a committed offset or a leader change. On a one-node broker every partition is
at epoch 0 and the end of epoch 0 is the log end offset, so:
- a position inside the log at epoch 0 is read from as given, and the records carry epoch 0;
- a position past the end of epoch 0 is truncation: the Java consumer (auto.offset.reset=none)
  raises LogTruncationException naming the end of epoch 0, franz-go reports data loss and resumes
  there. Without OffsetForLeaderEpoch the Java consumer only learns OFFSET_OUT_OF_RANGE from
  Fetch (OffsetOutOfRangeException), and franz-go gives up on the partition ("broker is too
  old");
- a committed offset keeps its leader epoch, and a group member resumes from it."""

import pytest

from clients import create_topic, unique_topic
from goclients.harness import franz
from java_clients import driver

pytestmark = pytest.mark.timeout(180)
RECORDS = 5


def test_java_consumer_validates_seeks_and_detects_truncation(broker):
    b = broker()
    topic = unique_topic("epochs-java")
    create_topic(b.bootstrap, topic, 1)
    r = driver("epoch-validation", bootstrap=b.bootstrap, topic=topic, group=unique_topic("g"), records=RECORDS)
    assert r["after_valid_seek"] == [3, 0]
    assert r["past_the_end"] == {"error": "LogTruncationException", "divergent": [RECORDS, 0]}
    assert r["committed"] == [2, 0]
    assert r["resumed_from"] == 2


def test_franz_go_validates_positions_and_resumes_at_the_end_of_the_epoch(broker):
    b = broker()
    topic = unique_topic("epochs-franz")
    create_topic(b.bootstrap, topic, 1)
    r = franz(bootstrap=b.bootstrap, scenario="epochs", topic=topic, count=RECORDS)
    assert r["after_valid_position"] == [3, 0]
    past = r["past_the_end"]
    assert past["first"] == [RECORDS, 0], past
    assert past["data_loss"] == {"consumed_to": RECORDS + 100, "reset_to": RECORDS, "reset_to_epoch": 0}, past
