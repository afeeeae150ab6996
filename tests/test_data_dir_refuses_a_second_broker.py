"""A second broker on a data directory in use is refused at start, as Kafka refuses it.

Two processes on one `log.dirs` would both append to the same segments and rewrite the same
checkpoints, and with SO_REUSEPORT the second one's listener even binds beside the first, so
clients are split between them without any error. Kafka takes an exclusive lock on `.lock` in
each log directory; millrace does the same and exits 1 naming the directory. The first broker
keeps serving, and a restart after the first one stops (even by kill -9) is not refused.
"""

import time

from confluent_kafka.admin import AdminClient

import clients
from conftest import free_port
from test_startup_bounded_and_open_files_checked import run_until_exit, serve_command

# A refusal comes before recovery or any listener; this is room for a loaded machine.
EXIT_DEADLINE_S = 30.0


def test_a_second_broker_on_a_data_dir_in_use_exits_naming_it(broker, tmp_path):
    first = broker(**{"num.shards": 1})
    topic = clients.unique_topic("locked")
    clients.create_topic(first.bootstrap, topic, 1)

    cmd = serve_command(first.data_dir, free_port(), **{"num.shards": "1"})
    code, _, log = run_until_exit(cmd, tmp_path / "second.log", EXIT_DEADLINE_S)

    assert code is not None, f"the second broker is still running after {EXIT_DEADLINE_S}s\n{log[-3000:]}"
    assert code == 1, log[-3000:]
    assert str(first.data_dir) in log and ".lock" in log, log[-3000:]
    assert first.alive(), "the first broker must keep running"
    admin = AdminClient(clients.quiet_config(first.bootstrap))
    assert topic in admin.list_topics(timeout=10).topics, "the first broker must keep serving"


def test_a_restart_after_kill_9_takes_the_lock_again(broker):
    handle = broker(**{"num.shards": 1})
    handle.kill()
    started = time.monotonic()
    handle.restart()
    assert handle.alive(), handle.stderr_tail()
    assert time.monotonic() - started < EXIT_DEADLINE_S
