"""O_DIRECT sequential read bandwidth of this machine's disk at 1, 2, 4 and 8 reads in flight
(issue 14 §1: whether more reads in flight would lift a catch-up read's disk bound).
Writes a 1 GiB file with O_DIRECT (so it is not in the page cache) on first use, then reads it
whole with CHUNK-byte preads from 1, 2, 4 and 8 threads (preads release the GIL), twice.
Usage: python3 perf/odirect_queue_depth.py [CHUNK=1048576] [PATH=/work/tmp/qd.bin]"""
import os, mmap, time, threading, sys
path = sys.argv[2] if len(sys.argv) > 2 else "/work/tmp/qd.bin"
size = 1 << 30
chunk = int(sys.argv[1]) if len(sys.argv) > 1 else 1 << 20
if not os.path.exists(path):
    fd = os.open(path, os.O_WRONLY|os.O_CREAT|os.O_DIRECT, 0o644)
    buf = mmap.mmap(-1, 4<<20); buf.write(os.urandom(4<<20))
    for off in range(0, size, 4<<20): os.pwrite(fd, buf, off)
    os.fsync(fd); os.close(fd)
def run(qd):
    fd = os.open(path, os.O_RDONLY|os.O_DIRECT)
    nxt = [0]; lock = threading.Lock()
    def worker():
        b = mmap.mmap(-1, chunk)
        while True:
            with lock:
                off = nxt[0]; nxt[0] += chunk
            if off >= size: return
            os.preadv(fd, [b], off)
    t0 = time.time(); ts = [threading.Thread(target=worker) for _ in range(qd)]
    [t.start() for t in ts]; [t.join() for t in ts]
    os.close(fd); return size / (time.time() - t0) / 1e6
for rep in range(2):
    print(" ".join(f"qd{qd}={run(qd):.0f}MB/s" for qd in (1,2,4,8)), f"chunk={chunk}")
