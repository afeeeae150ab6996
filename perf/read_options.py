#!/usr/bin/env python3
"""Ways to send a file that is not in the page cache to a loopback receiver, measured without
millrace (issue 14: choose the catch-up read path by measurement).

The file is written with O_DIRECT, as millrace's appends are, so it starts out of the page cache.
Each round runs every mode once, in turn, each from an evicted page cache (cold) except the
`*_warm` modes, which run right after a buffered pass filled it. A separate receiver process
reports its own CPU time; the sender's CPU time is measured around the sending loop.

Modes:
  sendfile_cold    sendfile(2) of the evicted file (millrace's path before issue 14)
  sendfile_warm    sendfile(2) with the file in the page cache
  pread_cold       buffered pread into one reused buffer, then send
  pread_warm       the same with the file in the page cache
  direct           O_DIRECT pread into one reused aligned buffer, then send (page cache unused)
  direct_ahead     the same with two buffers: a reader thread reads the next chunk while the
                   current one is sent (read-ahead of one chunk)
  direct_read_only O_DIRECT pread alone, no socket: the disk's sequential bandwidth at QD1
  loopback         send of one reused buffer, no file: the loopback bound with this receiver

Usage: python3 perf/read_options.py [ROUNDS=3] [CHUNK_KIB=1024] [FILE=/tmp/read_options.bin]
                                    [MODES=all, or a comma-separated list]
"""
import mmap
import os
import resource
import socket
import subprocess
import sys
import time

from vm_fresh_pages import FILE_BYTES, RECEIVER, evict, make_file

MODES = ["sendfile_cold", "sendfile_warm", "pread_cold", "pread_warm", "direct", "direct_ahead",
         "direct_read_only", "loopback"]


def cpu_s():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def connect():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    receiver = subprocess.Popen(
        [sys.executable, "-c", RECEIVER, str(listener.getsockname()[1])],
        stdout=subprocess.PIPE, text=True)
    conn, _ = listener.accept()
    listener.close()
    return conn, receiver


def run(mode, path, chunk):
    if mode.endswith("_warm"):
        with open(path, "rb") as f:
            while f.read(8 << 20):
                pass
    else:
        evict(path)
    conn, receiver = (None, None) if mode == "direct_read_only" else connect()
    flags = os.O_RDONLY | (os.O_DIRECT if mode.startswith("direct") else 0)
    fd = os.open(path, flags)
    buf = mmap.mmap(-1, chunk)  # page-aligned, reused for every chunk
    view = memoryview(buf)
    start, cpu0, offset = time.time(), cpu_s(), 0
    if mode == "direct_ahead":
        send_read_ahead(fd, conn, chunk)
        offset = FILE_BYTES
    if mode == "loopback":
        while offset < FILE_BYTES:
            conn.sendall(view)
            offset += chunk
    while offset < FILE_BYTES:
        if mode.startswith("sendfile"):
            offset += os.sendfile(conn.fileno(), fd, offset, chunk)
            continue
        n = os.preadv(fd, [buf], offset)
        if conn is not None:
            conn.sendall(view[:n])
        offset += n
    sender_cpu = cpu_s() - cpu0
    receiver_cpu = 0.0
    if conn is not None:
        conn.close()
        receiver_cpu = float(receiver.communicate()[0])
    seconds = time.time() - start
    view.release()
    buf.close()
    os.close(fd)
    return FILE_BYTES / seconds / 1e6, sender_cpu, receiver_cpu


def send_read_ahead(fd, conn, chunk):
    """A reader thread fills two reused buffers in turn; the caller sends each once it is full."""
    import queue
    import threading
    bufs = [mmap.mmap(-1, chunk) for _ in range(2)]
    free, full = queue.Queue(), queue.Queue()
    for b in bufs:
        free.put(b)

    def reader():
        offset = 0
        while offset < FILE_BYTES:
            b = free.get()
            n = os.preadv(fd, [b], offset)
            offset += n
            full.put((b, n))
        full.put((None, 0))

    thread = threading.Thread(target=reader)
    thread.start()
    while True:
        b, n = full.get()
        if b is None:
            break
        conn.sendall(memoryview(b)[:n])
        free.put(b)
    thread.join()


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    chunk = (int(sys.argv[2]) if len(sys.argv) > 2 else 1024) << 10
    path = sys.argv[3] if len(sys.argv) > 3 else "/tmp/read_options.bin"
    modes = sys.argv[4].split(",") if len(sys.argv) > 4 and sys.argv[4] != "all" else MODES
    make_file(path)
    results = {mode: [] for mode in modes}
    try:
        for round_number in range(1, rounds + 1):
            for mode in modes:
                mb_s, sender, receiver = run(mode, path, chunk)
                results[mode].append(mb_s)
                print(f"round {round_number} {mode:16s} {mb_s:6.0f} MB/s  sender CPU {sender:.2f} s"
                      f"  receiver CPU {receiver:.2f} s", flush=True)
    finally:
        os.unlink(path)
    print(f"medians (chunk {chunk >> 10} KiB, load {os.getloadavg()[0]:.2f}):")
    for mode, figures in results.items():
        print(f"  {mode:16s} {sorted(figures)[len(figures) // 2]:6.0f} MB/s")


if __name__ == "__main__":
    main()
