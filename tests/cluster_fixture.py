"""Clusters of `millrace serve` processes on loopback, each started from its own Kafka KRaft
server.properties (the files an operator writes; nothing millrace-only but num.shards and
http.listener).

`millrace_cluster(brokers=3)` writes one file per node under pytest's temporary directory
(node.id 1..N; the first `voters` nodes, at most 3 by default, are
process.roles=broker,controller, the rest process.roles=broker; each node its own data dir,
client port and CONTROLLER port, num.shards=1), starts every process, waits until each answers
ApiVersions and returns a `Cluster`: `bootstrap`, `node(i)`, `kill(i)` (kill -9), `restart(i)`,
`stop(i)` (SIGTERM), `add_broker()` (a broker-only node joining the running cluster). Teardown
kills every node that still runs; when a test fails, each node's stderr tail is attached to the
report (conftest's hook).

    def test_x(millrace_cluster):
        cluster = millrace_cluster(brokers=3)
        cluster.kill(1); cluster.restart(1)
"""

import subprocess
from pathlib import Path

import pytest

from conftest import BROKER_BINARY, HOST, Broker, free_port

# Controller voters of a cluster by default: Kafka's advice for a small cluster (a 4th or 5th
# node is a broker that follows the metadata log as a learner).
VOTERS_DEFAULT = 3
# Off in every node: the HTTP endpoint's default port would be shared by all of them.
NO_HTTP = ["--override", "http.listener="]
# Kafka's broker.heartbeat.interval.ms and broker.session.timeout.ms (2 s, 9 s) halved, in the
# same ratio: `extra` for a test that kills -9 a broker and restarts it while the active
# controller lives. millrace lets the new incarnation register (and so serve) only once the old
# one's session timed out, so each such restart waits about a session timeout.
FAST_SESSIONS = ("broker.heartbeat.interval.ms=1000", "broker.session.timeout.ms=4500")
# For a test that also pauses (SIGSTOP) followers for 3-4 s and needs them still in the ISR when
# they wake: the active controller may be on a paused node, and on waking its first tick sees
# sessions as old as the pause plus a heartbeat. 7 s leaves 2-3 s of margin on a loaded machine.
PAUSED_FOLLOWER_SESSIONS = ("broker.heartbeat.interval.ms=1000", "broker.session.timeout.ms=7000")


def distinct_free_ports(count, taken=()):
    """`count` ports nothing listens on now, distinct from each other and from `taken`."""
    ports = []
    while len(ports) < count:
        port = free_port()
        if port not in ports and port not in taken:
            ports.append(port)
    return ports


def kraft_properties(node_id, roles, client_port, controller_port, voters, data_dir, extra=(),
                     advertised_port=None, advertised_controller_port=None):
    """The server.properties text of one node, in Kafka's own keys.

    `voters` is the `controller.quorum.voters` value; `controller_port` is None for a broker-only
    node (it has no CONTROLLER listener). `advertised_port` (default: the client port) is what
    Metadata and the broker's registration name: a proxy's port puts the proxy on every path to
    this broker that follows Metadata, other brokers' included (inter.broker.listener.name is
    PLAINTEXT). `advertised_controller_port` is the proxy's port the voters line names for this
    voter: advertised, it tells the node that its voters entry leads to its CONTROLLER listener
    (a voter must listen where the voters line says)."""
    listeners = [f"PLAINTEXT://{HOST}:{client_port}"]
    if controller_port is not None:
        listeners.append(f"CONTROLLER://{HOST}:{controller_port}")
    advertised = [f"PLAINTEXT://{HOST}:{advertised_port or client_port}"]
    if advertised_controller_port is not None:
        advertised.append(f"CONTROLLER://{HOST}:{advertised_controller_port}")
    lines = [
        f"process.roles={roles}",
        f"node.id={node_id}",
        f"controller.quorum.voters={voters}",
        f"listeners={','.join(listeners)}",
        f"advertised.listeners={','.join(advertised)}",
        "inter.broker.listener.name=PLAINTEXT",
        "controller.listener.names=CONTROLLER",
        "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        f"log.dirs={data_dir}",
        "num.partitions=1",
        "num.shards=1",
        *extra,
    ]
    return "".join(f"{line}\n" for line in lines)


class ClusterNode(Broker):
    """One node of a Cluster: `millrace serve FILE`, its client port the file's PLAINTEXT one."""

    def __init__(self, node_id, roles, config_file, client_port, controller_port, data_dir):
        super().__init__(data_dir, Path(config_file).parent / "stderr.log", {})
        self.node_id = node_id
        self.roles = roles
        self.config_file = Path(config_file)
        self.port = client_port
        self.controller_port = controller_port

    @property
    def is_voter(self):
        return "controller" in self.roles

    def command(self):
        http = NO_HTTP
        if getattr(self, "http_port", None) is not None:
            http = ["--override", f"http.listener={HOST}:{self.http_port}"]
        return [str(BROKER_BINARY), "serve", str(self.config_file), *http]

    def launch(self):
        """Starts the process without waiting: a cluster's nodes need each other to be ready."""
        self.starts += 1
        self.stderr_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.stderr_path, "ab") as stderr:
            stderr.write(f"\n===== start #{self.starts}: {' '.join(self.command())}\n".encode())
            stderr.flush()
            self.process = subprocess.Popen(
                self.command(), stdin=subprocess.DEVNULL, stdout=stderr, stderr=stderr,
                cwd=self.config_file.parent,
            )
        return self


class Cluster:
    """N `millrace serve` nodes from KRaft files under `directory`."""

    def __init__(self, directory, brokers, voters=None, extra=(), registry=None, proxies=None,
                 http=False):
        if brokers < 1:
            raise ValueError("a cluster has at least one broker")
        voters = min(brokers, VOTERS_DEFAULT) if voters is None else voters
        if not 1 <= voters <= brokers:
            raise ValueError(f"{voters} voters among {brokers} brokers")
        self.directory = Path(directory)
        self.extra = tuple(extra)
        # With http, each node serves /metrics on its own port (node.http_port).
        self.http = http
        # A jepsen.proxy.ProxyNet: each broker then advertises a proxy in front of its client
        # listener (added as the nodes are written), named by its node id.
        self.proxies = proxies
        self.advertised_ports = {}
        # Every node made is also appended here (the fixture's list for failure reports).
        self.registry = registry if registry is not None else []
        ports = distinct_free_ports(brokers + voters)
        self.client_ports = dict(zip(range(1, brokers + 1), ports[:brokers]))
        self.controller_ports = dict(zip(range(1, voters + 1), ports[brokers:]))
        # With proxies, each voter's entry names a proxy in front of its CONTROLLER listener,
        # so the test can cut Raft and broker-to-controller links too.
        self.voter_ports = self._voter_ports(proxies)
        self.voters = ",".join(f"{i}@{HOST}:{port}" for i, port in self.voter_ports.items())
        self.nodes = {}
        # Nodes launched by launch_stranger (not members: the cluster refuses them).
        self.strangers = []
        for node_id in range(1, brokers + 1):
            self.nodes[node_id] = self._write_node(node_id)

    def _voter_ports(self, proxies):
        if proxies is None:
            return self.controller_ports
        from jepsen.proxy import raft_identify

        return {i: proxies.add(("controller", i), f"{HOST}:{port}", identify=raft_identify,
                               avoid=self.reserved_ports())
                for i, port in self.controller_ports.items()}

    def reserved_ports(self):
        """Ports picked for the nodes' listeners (free now, bound when they start)."""
        return set(self.client_ports.values()) | set(self.controller_ports.values())

    def _write_node(self, node_id, client_port=None, directory=None, extra=(),
                    stranger_controller_port=None):
        # A stranger (its own directory) has no proxy, and no CONTROLLER listener unless it is
        # given its own port (a voter's twin).
        stranger = directory is not None
        controller_port = (stranger_controller_port if stranger
                           else self.controller_ports.get(node_id))
        roles = "broker,controller" if controller_port is not None else "broker"
        node_dir = self.directory / (directory or f"node-{node_id}")
        data_dir = node_dir / "data"
        data_dir.mkdir(parents=True, exist_ok=True)
        config_file = node_dir / "server.properties"
        if self.proxies is not None and not stranger and node_id not in self.advertised_ports:
            self.advertised_ports[node_id] = self.proxies.add(
                node_id, f"{HOST}:{self.client_ports[node_id]}", avoid=self.reserved_ports())
        client_port = client_port or self.client_ports[node_id]
        http_port = None
        if self.http:
            taken = self.reserved_ports() | {client_port}
            (http_port,) = distinct_free_ports(1, taken)
        proxied_controller = None
        if not stranger and self.voter_ports.get(node_id) != controller_port:
            proxied_controller = self.voter_ports.get(node_id)
        config_file.write_text(kraft_properties(
            node_id, roles, client_port, controller_port, self.voters, data_dir,
            (*self.extra, *extra), None if stranger else self.advertised_ports.get(node_id),
            proxied_controller,
        ))
        node = ClusterNode(node_id, roles, config_file, client_port, controller_port, data_dir)
        node.http_port = http_port
        self.registry.append(node)
        return node

    @property
    def bootstrap(self):
        """Every node's client address, comma-separated (a client's bootstrap.servers)."""
        return ",".join(node.bootstrap for node in self.nodes.values())

    def node(self, node_id):
        return self.nodes[node_id]

    def voter_ids(self):
        return [i for i, node in self.nodes.items() if node.is_voter]

    def start(self):
        """Launches every node at once, then waits until each answers ApiVersions."""
        if not BROKER_BINARY.exists():
            raise FileNotFoundError(f"{BROKER_BINARY} not built: run `cargo build --release`")
        for node in self.nodes.values():
            node.launch()
        for node in self.nodes.values():
            node.wait_ready()
        return self

    def kill(self, node_id):
        """kill -9 of one node (its data dir and ports stay for a restart)."""
        self.nodes[node_id].kill()

    def stop(self, node_id):
        """SIGTERM of one node and wait: a controlled shutdown. Returns its exit code."""
        return self.nodes[node_id].stop()

    def restart(self, node_id):
        """Starts a stopped or killed node again from the same file and data dir."""
        node = self.nodes[node_id]
        if node.alive():
            node.stop()
        node.launch().wait_ready()
        return node

    def add_broker(self):
        """A broker-only node with the next node.id joins the running cluster."""
        node_id = max(self.nodes) + 1
        taken = self.reserved_ports()
        if self.proxies is not None:
            taken |= set(self.proxies.ports())
        (self.client_ports[node_id],) = distinct_free_ports(1, taken)
        node = self._write_node(node_id)
        self.nodes[node_id] = node
        node.launch().wait_ready()
        return node

    def launch_stranger(self, node_id, extra=(), voter=False, ports=None):
        """Launches, without waiting, a broker-only node outside the cluster's own (its own
        directory and client port; `node_id` may be one a live node already has, `extra` lines
        may give it another cluster.id): for the refusals of a node the cluster must not take.
        With `voter`, it is process.roles=broker,controller with a CONTROLLER listener on a port
        of its own (the same controller.quorum.voters line as the cluster's): a voter's twin when
        `node_id` is a voter's. `ports` (client, CONTROLLER) replaces its own ports: the node's
        ports to make an exact copy of its file but for log.dirs. Teardown kills it like the
        others."""
        taken = set(self.client_ports.values()) | set(self.controller_ports.values())
        port, controller_port = ports or distinct_free_ports(2, taken)
        directory = f"stranger-{len(self.strangers) + 1}"
        node = self._write_node(node_id, client_port=port, directory=directory, extra=extra,
                                stranger_controller_port=controller_port if voter else None)
        self.strangers.append(node)
        return node.launch()

    def kill_all(self):
        for node in self.strangers:
            node.kill()
        for node in self.nodes.values():
            node.kill()


@pytest.fixture
def millrace_cluster(tmp_path, request):
    """Factory: millrace_cluster(brokers=3, voters=None, extra=(), proxies=None, http=False) ->
    started Cluster. `extra` lines go into every node's file; `proxies` (a jepsen.proxy.ProxyNet)
    puts a proxy in front of each broker's advertised listener; `http` gives each node a /metrics
    port (node.http_port). Every node still running is killed at
    teardown."""
    clusters = []
    nodes = []
    request.node.millrace_brokers = nodes

    def start(brokers=3, voters=None, extra=(), proxies=None, http=False):
        cluster = Cluster(tmp_path / f"cluster{len(clusters)}", brokers, voters, extra, nodes,
                          proxies, http)
        clusters.append(cluster)
        cluster.start()
        return cluster

    yield start
    for cluster in clusters:
        cluster.kill_all()
