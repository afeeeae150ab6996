"""A voter killed with -9 starts again from its data dir: its Raft metadata log on disk is
whole, whenever the kill comes.

Found by the Jepsen harness (tests/jepsen/): a voter paused (SIGSTOP) while the cluster
formed, resumed, and killed with -9 while it caught up, failed its restart with
`metadata quorum stopped: when Read LogIndex(2): Failed to get log entries, expected index:
[0, 3), got [Some(0), Some(1))`.
"""

import os
import time

import pytest

from cluster_fixture import FAST_SESSIONS
from jepsen import nemesis, workload

# How long the voter is paused before the kill: 0 = no pause, killed once the cluster formed.
PAUSES_S = (0.0, 3.0)
# Repetitions of each case: one by default (it kills at a different point each time); two in the
# extended mode.
ROUNDS = 2 if os.environ.get("MILLRACE_TEST_JEPSEN_EXTENDED") == "1" else 1


@pytest.mark.parametrize("round_", range(ROUNDS))
@pytest.mark.parametrize("pause_s", PAUSES_S)
def test_a_voter_killed_with_minus_9_restarts(millrace_cluster, pause_s, round_):
    # The restart registers once the killed incarnation's session timed out.
    cluster = millrace_cluster(brokers=3, extra=FAST_SESSIONS)
    if pause_s:
        # While the cluster forms: the voter catches up on its log when it wakes.
        node = cluster.node(2)
        nemesis.pause(node)
        time.sleep(pause_s)
        nemesis.resume(node)
    else:
        workload.wait_for_brokers(cluster.node(1).bootstrap, cluster.nodes)
    cluster.kill(2)
    cluster.restart(2)
    workload.wait_for_brokers(cluster.node(1).bootstrap, cluster.nodes)
