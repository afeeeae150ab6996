"""A TCP proxy in front of a broker that records every request a client sends with the answer it
got, for replaying to other brokers (tests/conformance/record.py writes the recordings,
examples/conformance replays them).

The broker must advertise the proxy's address (`advertised.listeners`), so that a client that
learns brokers and coordinators from Metadata and FindCoordinator answers keeps coming back
through the proxy. Frames are forwarded untouched; a request without an answer (Produce with
acks=0) is recorded without one.
"""

import base64
import socket
import struct
import threading

from kafka_wire import read_frame

HOST = "127.0.0.1"
LISTEN_BACKLOG = 64
SOCKET_TIMEOUT_S = 120.0


class Exchange:
    """One request on one client connection, and the answer to it (None until it comes)."""

    def __init__(self, connection, request):
        self.connection = connection
        self.request = request
        self.response = None

    def line(self):
        answer = base64.b64encode(self.response).decode() if self.response is not None else "-"
        return f"{self.connection} {base64.b64encode(self.request).decode()} {answer}"


class RecordingProxy:
    """Listens on `port` of 127.0.0.1 (a free one when 0) and forwards each connection to
    `upstream`."""

    def __init__(self, upstream, port=0):
        self.upstream = upstream
        self.listener = socket.create_server((HOST, port), backlog=LISTEN_BACKLOG)
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.exchanges = []
        self.connections = 0
        self.errors = []
        self.threads = []
        self.sockets = []
        self.stopping = False

    @property
    def address(self):
        return f"{HOST}:{self.port}"

    def start(self):
        self._spawn(self._accept)
        return self

    def stop(self):
        self.stopping = True
        # shutdown() wakes the accept() in progress; close() alone does not.
        try:
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()
        with self.lock:
            for sock in self.sockets:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()
        for thread in self.threads:
            thread.join(timeout=SOCKET_TIMEOUT_S)

    def lines(self):
        with self.lock:
            return [exchange.line() for exchange in self.exchanges]

    def _spawn(self, target, *args):
        thread = threading.Thread(target=target, args=args, daemon=True)
        thread.start()
        self.threads.append(thread)

    def _accept(self):
        while not self.stopping:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            host, port = self.upstream.rsplit(":", 1)
            broker = socket.create_connection((host, int(port)), timeout=SOCKET_TIMEOUT_S)
            client.settimeout(SOCKET_TIMEOUT_S)
            with self.lock:
                connection = self.connections
                self.connections += 1
                self.sockets += [client, broker]
            pending = {}
            self._spawn(self._requests, connection, client, broker, pending)
            self._spawn(self._answers, connection, broker, client, pending)

    def _requests(self, connection, client, broker, pending):
        try:
            while (frame := read_frame(client)) is not None:
                exchange = Exchange(connection, frame)
                (correlation_id,) = struct.unpack_from(">i", frame, 4)
                with self.lock:
                    self.exchanges.append(exchange)
                    pending[correlation_id] = exchange
                broker.sendall(struct.pack(">i", len(frame)) + frame)
        except (OSError, ValueError) as err:
            self._failed(connection, "request", err)
        finally:
            _close_writer(broker)

    def _answers(self, connection, broker, client, pending):
        try:
            while (frame := read_frame(broker)) is not None:
                (correlation_id,) = struct.unpack_from(">i", frame, 0)
                with self.lock:
                    exchange = pending.pop(correlation_id, None)
                    if exchange is not None:
                        exchange.response = frame
                client.sendall(struct.pack(">i", len(frame)) + frame)
        except (OSError, ValueError) as err:
            self._failed(connection, "answer", err)
        finally:
            _close_writer(client)

    def _failed(self, connection, side, err):
        if not self.stopping:
            with self.lock:
                self.errors.append(f"connection {connection} {side}: {err!r}")


def _close_writer(sock):
    try:
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass
