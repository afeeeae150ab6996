import os, mmap, time, statistics, sys
path = "/work/notes/s33/fs.bin"
def run(mode, n=2000, size=64*1024):
    fd = os.open(path, os.O_CREAT|os.O_RDWR|os.O_TRUNC|os.O_DIRECT)
    total = n*size
    os.posix_fallocate(fd, 0, total)
    buf = mmap.mmap(-1, size); buf.write(b"x"*size)
    if mode == "zeroed":
        z = mmap.mmap(-1, 1<<20)
        for off in range(0, total, 1<<20):
            os.pwrite(fd, z, off)
        os.fdatasync(fd)
    lat = []
    for i in range(n):
        os.pwrite(fd, buf, i*size)
        t = time.perf_counter(); os.fdatasync(fd); lat.append((time.perf_counter()-t)*1e6)
    os.close(fd); os.unlink(path)
    lat.sort()
    print(mode, "fdatasync us p50 %.0f p90 %.0f p99 %.0f" % (lat[len(lat)//2], lat[int(len(lat)*.9)], lat[int(len(lat)*.99)]))
for m in ["unwritten","zeroed","unwritten","zeroed"]:
    run(m)
