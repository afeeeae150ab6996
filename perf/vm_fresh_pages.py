#!/usr/bin/env python3
"""What a cold read costs the *receiver* on this VM, without millrace.

Sends a 1 GiB file over loopback with sendfile(2), twice per round: once right after evicting it
from the page cache (the kernel reads it into newly allocated pages), once with it cached. A
separate receiver process reports its own CPU time. On the development VM the receiver's kernel
copy out of newly allocated page-cache pages costs several times what it costs from pages
already in use; that is the machine, not the broker (see perf/RESULTS.md).

Usage: python3 perf/vm_fresh_pages.py [ROUNDS=3] [FILE=/tmp/vm_fresh_pages.bin]
"""
import mmap
import os
import resource
import socket
import subprocess
import sys
import time

FILE_BYTES = 1 << 30
CHUNK_BYTES = 1 << 20
RECEIVER = """
import resource, socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
buf = bytearray(8 << 20)
while s.recv_into(buf):
    pass
r = resource.getrusage(resource.RUSAGE_SELF)
print(f"{r.ru_utime + r.ru_stime:.2f}")
"""


def make_file(path):
    if os.path.exists(path) and os.path.getsize(path) == FILE_BYTES:
        return
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_DIRECT, 0o644)
    block = mmap.mmap(-1, 8 << 20)
    block.write(os.urandom(8 << 20))
    for _ in range(FILE_BYTES // (8 << 20)):
        os.write(fd, block)
    os.fsync(fd)
    os.close(fd)


def evict(path):
    fd = os.open(path, os.O_RDONLY)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    os.close(fd)


def send_once(path):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    receiver = subprocess.Popen(
        [sys.executable, "-c", RECEIVER, str(listener.getsockname()[1])],
        stdout=subprocess.PIPE, text=True)
    conn, _ = listener.accept()
    fd = os.open(path, os.O_RDONLY)
    start, offset = time.time(), 0
    while offset < FILE_BYTES:
        offset += os.sendfile(conn.fileno(), fd, offset, CHUNK_BYTES)
    conn.close()
    receiver_cpu_s = float(receiver.communicate()[0])
    seconds = time.time() - start
    os.close(fd)
    listener.close()
    return FILE_BYTES / seconds / 1e6, receiver_cpu_s


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    path = sys.argv[2] if len(sys.argv) > 2 else "/tmp/vm_fresh_pages.bin"
    make_file(path)
    try:
        for round_number in range(1, rounds + 1):
            evict(path)
            cold = send_once(path)
            warm = send_once(path)
            print(f"round {round_number}: cold {cold[0]:6.0f} MB/s receiver CPU {cold[1]:.2f} s | "
                  f"cached {warm[0]:6.0f} MB/s receiver CPU {warm[1]:.2f} s", flush=True)
    finally:
        os.unlink(path)


if __name__ == "__main__":
    main()
