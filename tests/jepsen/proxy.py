"""TCP proxies the tests put on links between brokers, to cut, delay or make one-way.

A `ProxyNet` runs every proxy of a test on one asyncio loop in a background thread. Each
`Proxy` listens on a port of its own and forwards to one endpoint (a broker's real listener);
the broker advertises the proxy's port, so every broker and client that follows Metadata reaches
it through the proxy.

Who is on the other end of a proxied connection is read from its first Kafka request
(`kafka_identify`): a client id containing `broker-<id>` (Kafka's replica fetchers call
themselves `broker-<id>-fetcher-<n>`), or a Fetch's replica id (the body's first field before
Fetch v15, the ReplicaState tagged field from v15 on). Anything else is a client (`CLIENT`).

The controller quorum's links can be proxied the same way: a voter's entry in
`controller.quorum.voters` may name a proxy port in front of its CONTROLLER listener (the Raft
client dials the address of the voters line; the node binds its own listener). Those peers are
read from the first Raft frame (`raft_identify`). A proxy is named by the broker id it fronts
(`add(name, ...)`; a controller proxy is `("controller", id)`, and the rules of flows between
broker ids apply to it as well), so one cut covers both planes.

Faults are rules on directed flows: bytes from `src` to `dst` (`src` is the connection's
initiator for requests, the proxied broker for answers):
- `hold`: bytes wait in the proxy (as a dropped packet waits in a TCP send buffer), delivered in
  order when the flow heals; a flow that holds more than HELD_BYTES_MAX resets its connection.
- `delay_s`: each chunk is forwarded that many seconds after it arrived.
- `reset(...)`: existing connections of a link are closed at once (an RST).
A one-way partition holds one direction only: a follower's fetches reach the leader, its
answers do not (or the other way round).
"""

import asyncio
import re
import struct
import threading
import time

# Who connected when the first request names no broker.
CLIENT = "client"
# Largest first frame read to identify the peer (a Fetch of many partitions fits).
IDENTIFY_FRAME_BYTES_MAX = 1 << 20
# Bytes a held flow may queue before its connection is reset (a TCP send buffer's order).
HELD_BYTES_MAX = 64 << 20
# Chunk read from a socket at a time.
READ_CHUNK_BYTES = 64 << 10
# How often a held flow checks whether it healed.
HOLD_POLL_S = 0.02
# How long start() and calls into the loop wait for it.
LOOP_CALL_TIMEOUT_S = 10.0
API_FETCH = 1
# Binds tried before a proxy gives up finding a port outside the ones to avoid.
PORT_ATTEMPTS_MAX = 100
BROKER_CLIENT_ID = re.compile(r"broker-(\d+)")
# ReplicaState's tag in a Fetch request (v15+).
FETCH_REPLICA_STATE_TAG = 1


def _uvarint(data, pos):
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def _skip_tagged(data, pos):
    count, pos = _uvarint(data, pos)
    for _ in range(count):
        _, pos = _uvarint(data, pos)
        size, pos = _uvarint(data, pos)
        pos += size
    return pos


def _fetch_replica_id(data, pos, version):
    """The replica id of a Fetch request body at `pos` (-1 for a consumer)."""
    if version < 15:
        return struct.unpack_from(">i", data, pos)[0]
    pos += 4 + 4 + 4 + 1 + 4 + 4  # max_wait, min_bytes, max_bytes, isolation, session id/epoch
    topics, pos = _uvarint(data, pos)
    for _ in range(max(topics - 1, 0)):
        pos += 16  # topic id
        partitions, pos = _uvarint(data, pos)
        for _ in range(max(partitions - 1, 0)):
            pos += 4 + 4 + 8 + 4 + 8 + 4
            pos = _skip_tagged(data, pos)
        pos = _skip_tagged(data, pos)
    forgotten, pos = _uvarint(data, pos)
    for _ in range(max(forgotten - 1, 0)):
        pos += 16
        partitions, pos = _uvarint(data, pos)
        pos += 4 * max(partitions - 1, 0)
        pos = _skip_tagged(data, pos)
    rack, pos = _uvarint(data, pos)
    pos += max(rack - 1, 0)
    count, pos = _uvarint(data, pos)
    for _ in range(count):
        tag, pos = _uvarint(data, pos)
        size, pos = _uvarint(data, pos)
        if tag == FETCH_REPLICA_STATE_TAG:
            return struct.unpack_from(">i", data, pos)[0]
        pos += size
    return -1


def kafka_identify(frame):
    """The broker id (int) that sent this first Kafka request frame (without its length
    prefix), or CLIENT."""
    try:
        api_key, version = struct.unpack_from(">hh", frame, 0)
        (client_id_len,) = struct.unpack_from(">h", frame, 8)
        pos = 10 + max(client_id_len, 0)
        client_id = frame[10:pos].decode(errors="replace") if client_id_len > 0 else ""
        match = BROKER_CLIENT_ID.search(client_id)
        if match:
            return int(match.group(1))
        if api_key == API_FETCH:
            flexible = version >= 12
            if flexible:
                pos = _skip_tagged(frame, pos)
            replica = _fetch_replica_id(frame, pos, version)
            if replica >= 0:
                return replica
    except (struct.error, IndexError, ValueError):
        pass
    return CLIENT


# RaftRequest variants (src/cluster/raft/wire.rs) whose first field is the sender's vote, and the
# broker-to-controller one; RpcRequest variants that start with the broker id
# (src/cluster/member/rpc.rs: Register, Heartbeat, AlterPartition, AllocateProducerIds). A
# broker's call opens a new connection when its last one timed out, and that connection's first
# request may be any of them: one left out would pass as a client's, through every fault.
RAFT_VOTE_FIRST_VARIANTS = (0, 1, 2, 3)
RAFT_BROKER_VARIANT = 4
BROKER_RPC_ID_FIRST_VARIANTS = (0, 1, 7, 9)


def raft_identify(frame):
    """The node id that sent this first frame (without its length prefix) on a CONTROLLER
    connection: postcard of a RaftRequest. AppendEntries, Vote, PreVote and SnapshotChunk start
    with the sender's vote (term, then its node id: it leads or is the candidate); Broker
    carries a broker RPC whose Register, Heartbeat, AlterPartition and AllocateProducerIds start
    with the broker id. Anything else (a forwarded admin request) is CLIENT."""
    try:
        variant, pos = _uvarint(frame, 0)
        if variant in RAFT_VOTE_FIRST_VARIANTS:
            _, pos = _uvarint(frame, pos)  # term
            node_id, _ = _uvarint(frame, pos)
            return node_id
        if variant == RAFT_BROKER_VARIANT:
            _, pos = _uvarint(frame, pos)  # the bytes' length
            rpc, pos = _uvarint(frame, pos)
            if rpc in BROKER_RPC_ID_FIRST_VARIANTS:
                raw, _ = _uvarint(frame, pos)
                return (raw >> 1) ^ -(raw & 1)  # zigzag i32
    except IndexError:
        pass
    return CLIENT


class FlowRule:
    """What happens to bytes of one directed flow."""

    __slots__ = ("hold", "delay_s")

    def __init__(self, hold=False, delay_s=0.0):
        self.hold = hold
        self.delay_s = delay_s

    def is_open(self):
        return not self.hold and self.delay_s == 0.0


OPEN = FlowRule()


class Proxy:
    """One listening port forwarding to `target` ("host:port") on behalf of broker `name`."""

    def __init__(self, net, name, target, identify):
        self.net = net
        self.name = name
        self.target_host, port = target.rsplit(":", 1)
        self.target_port = int(port)
        self.identify = identify
        self.port = None
        self.server = None
        # Live connections: (peer, writer to peer, writer to target).
        self.connections = set()
        self.accepted = 0
        self.peers_seen = {}

    async def start(self, host, avoid):
        """Listens on a free port not in `avoid` (ports the test picked for brokers but that
        nothing holds until they start)."""
        for _ in range(PORT_ATTEMPTS_MAX):
            server = await asyncio.start_server(self._serve, host, 0)
            port = server.sockets[0].getsockname()[1]
            if port not in avoid:
                self.server, self.port = server, port
                return
            server.close()
        raise OSError(f"no free port outside {sorted(avoid)}")

    async def _serve(self, reader, writer):
        self.accepted += 1
        upstream_writer = None
        entry = None
        try:
            first = await self._first_frame(reader)
            if first is None:
                return
            peer = self.identify(first[4:])
            self.peers_seen[peer] = self.peers_seen.get(peer, 0) + 1
            if self.net.refuses(peer, self.name):
                return
            up_reader, upstream_writer = await asyncio.open_connection(
                self.target_host, self.target_port)
            entry = (peer, writer, upstream_writer)
            self.connections.add(entry)
            await asyncio.gather(
                self._pump(first, reader, upstream_writer, peer, self.name, entry),
                self._pump(b"", up_reader, writer, self.name, peer, entry),
            )
        except (OSError, asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            if entry is not None:
                self.connections.discard(entry)
            for w in (writer, upstream_writer):
                if w is not None:
                    w.close()

    async def _first_frame(self, reader):
        try:
            head = await reader.readexactly(4)
            (size,) = struct.unpack(">i", head)
            if size < 0 or size > IDENTIFY_FRAME_BYTES_MAX:
                return None
            return head + await reader.readexactly(size)
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            return None

    async def _pump(self, first, reader, writer, src, dst, entry):
        """Copies reader -> writer under the rule of flow src -> dst until either side closes."""
        pending = [first] if first else []
        while True:
            if not pending:
                chunk = await reader.read(READ_CHUNK_BYTES)
                if not chunk:
                    break
                pending.append(chunk)
            arrived = time.monotonic()
            held_bytes = sum(map(len, pending))
            rule = self.net.rule(src, dst)
            while rule.hold:
                if entry not in self.connections:
                    return
                if held_bytes > HELD_BYTES_MAX:
                    raise ConnectionResetError("held flow overflowed")
                # Keep reading while held, as a kernel buffers what a peer sent.
                try:
                    chunk = await asyncio.wait_for(reader.read(READ_CHUNK_BYTES), HOLD_POLL_S)
                except asyncio.TimeoutError:
                    chunk = None
                if chunk == b"":
                    return
                if chunk:
                    pending.append(chunk)
                    held_bytes += len(chunk)
                rule = self.net.rule(src, dst)
            wait_s = arrived + rule.delay_s - time.monotonic()
            if wait_s > 0:
                await asyncio.sleep(wait_s)
            if entry not in self.connections:
                return
            writer.write(b"".join(pending))
            pending.clear()
            await writer.drain()
        writer.close()

    def reset(self, peers=None):
        """Closes this proxy's connections (from `peers` only, when given)."""
        for entry in list(self.connections):
            peer, to_peer, to_target = entry
            if peers is None or peer in peers:
                self.connections.discard(entry)
                for w in (to_peer, to_target):
                    transport = w.transport
                    if transport is not None:
                        transport.abort()


class ProxyNet:
    """Every proxy of one test and the flow rules between named endpoints (broker ids and
    CLIENT)."""

    def __init__(self, host="127.0.0.1"):
        self.host = host
        self.proxies = {}
        self.rules = {}
        self.refused = set()
        # Pairs of broker ids whose client-listener flows (replica fetches) are held while
        # their controller links stay open (hold_replication).
        self.replication_held = set()
        # Directed flows between broker ids on client listeners only, delayed by this many
        # seconds per chunk (delay_replication).
        self.replication_delays = {}
        self.lock = threading.Lock()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="proxynet", daemon=True)
        self.thread.start()

    def _call(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(LOOP_CALL_TIMEOUT_S)

    def _run(self, fn):
        async def wrapper():
            return fn()
        return self._call(wrapper())

    def add(self, name, target, identify=kafka_identify, avoid=()):
        """Starts a proxy for broker `name` in front of `target` on a port not in `avoid`;
        returns its port."""
        proxy = Proxy(self, name, target, identify)
        self._call(proxy.start(self.host, set(avoid)))
        self.proxies[name] = proxy
        return proxy.port

    @staticmethod
    def _node(name):
        """The broker id a proxy or peer name stands for (a controller proxy's too)."""
        return name[1] if isinstance(name, tuple) else name

    def rule(self, src, dst):
        with self.lock:
            if (src, dst) in self.replication_held:
                return FlowRule(hold=True)
            if (src, dst) in self.replication_delays:
                return FlowRule(delay_s=self.replication_delays[(src, dst)])
            return self.rules.get((self._node(src), self._node(dst)), OPEN)

    def refuses(self, src, dst):
        with self.lock:
            return (self._node(src), self._node(dst)) in self.refused

    def set_flow(self, src, dst, hold=False, delay_s=0.0):
        """Sets the rule of flow src -> dst (hold=False, delay_s=0 heals it)."""
        with self.lock:
            rule = FlowRule(hold, delay_s)
            if rule.is_open():
                self.rules.pop((src, dst), None)
            else:
                self.rules[(src, dst)] = rule

    def one_way(self, src, dst):
        """Bytes from `src` no longer reach `dst`; `dst` still reaches `src`."""
        self.set_flow(src, dst, hold=True)

    def cut(self, a, b, reset=True):
        """A two-way partition between a and b: both flows held, existing connections of the
        link reset, new ones refused until heal()."""
        self.one_way(a, b)
        self.one_way(b, a)
        with self.lock:
            self.refused.update({(a, b), (b, a)})
        if reset:
            self.reset_link(a, b)

    def hold_replication(self, a, b):
        """Holds both flows between brokers a and b on their client listeners (the replica
        fetches), not on their controller listeners (Raft, registration, heartbeats); until
        heal()."""
        with self.lock:
            self.replication_held.update({(a, b), (b, a)})

    def delay_replication(self, src, dst, delay_s):
        """Delays each chunk from broker `src` to broker `dst` on client listeners only (what a
        leader answers its follower's fetches), `delay_s` after it arrived: chunks go one after
        the other, so a long answer arrives at about READ_CHUNK_BYTES per `delay_s`. Controller
        links stay open; until heal()."""
        with self.lock:
            self.replication_delays[(src, dst)] = delay_s

    def delay(self, a, b, delay_s):
        self.set_flow(a, b, delay_s=delay_s)
        self.set_flow(b, a, delay_s=delay_s)

    def partition(self, groups):
        """Cuts every link between brokers of different groups (each a collection of ids)."""
        for i, group in enumerate(groups):
            for other in groups[i + 1:]:
                for a in group:
                    for b in other:
                        self.cut(a, b)

    def isolate(self, name, others):
        self.partition([[name], [o for o in others if o != name]])

    def reset_link(self, a, b):
        def reset():
            for name, proxy in self.proxies.items():
                node = self._node(name)
                if node == a:
                    proxy.reset({b})
                elif node == b:
                    proxy.reset({a})
        self._run(reset)

    def heal(self):
        with self.lock:
            self.rules.clear()
            self.refused.clear()
            self.replication_held.clear()
            self.replication_delays.clear()

    def ports(self):
        return [proxy.port for proxy in self.proxies.values()]

    def stats(self):
        return {name: dict(p.peers_seen) for name, p in self.proxies.items()}

    def close(self):
        async def stop():
            for proxy in self.proxies.values():
                proxy.server.close()
                proxy.reset()
            # Connections' tasks end here, not as "destroyed but pending" with the loop.
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        try:
            self._call(stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(LOOP_CALL_TIMEOUT_S)
