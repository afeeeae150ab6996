/* perf/RESULTS.md 2026-12-05 "the O_DIRECT write punt": does an O_DIRECT write that rewrites the
 * last written block together with fresh preallocated blocks go to an io-wq worker?
 * Build against the vendored liburing: cp -r vendor/glommio/liburing /tmp/lu && (cd /tmp/lu && ./configure && make -C src)
 *   gcc -O2 -I/tmp/lu/src/include dio_tail_rewrite.c /tmp/lu/src/liburing.a -o t6
 * Run: perf stat -e io_uring:io_uring_queue_async_work,context-switches ./t6 FILE 2000 20480 16384 {0|1}
 * (last argument 1: the rewritten block written on its own). */
#define _GNU_SOURCE
#include <liburing.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>
static double now_us(void){struct timespec t; clock_gettime(CLOCK_MONOTONIC,&t); return t.tv_sec*1e6+t.tv_nsec/1e3;}
/* stride STRIDE, each write BS (rewrites BS-STRIDE of the previous); SPLIT: the rewritten head as its own write */
int main(int argc, char **argv) {
  int n = atoi(argv[2]); int bs = atoi(argv[3]); int stride = atoi(argv[4]); int split = atoi(argv[5]);
  unlink(argv[1]);
  int fd = open(argv[1], O_CREAT | O_RDWR | O_DIRECT, 0644);
  void *buf; posix_memalign(&buf, 4096, bs); memset(buf, 'x', bs);
  fallocate(fd, 0, 0, (long)n * bs + bs);
  struct io_uring ring; io_uring_queue_init(64, &ring, 0);
  int head = bs - stride; double t0 = now_us();
  for (int i = 0; i < n; i++) {
    long off = (long)i * stride; int want = 1;
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
    if (split && i > 0 && head > 0) {
      io_uring_prep_write(sqe, fd, buf, head, off);
      sqe = io_uring_get_sqe(&ring); io_uring_prep_write(sqe, fd, (char*)buf + head, bs - head, off + head); want = 2;
    } else io_uring_prep_write(sqe, fd, buf, bs, off);
    io_uring_submit(&ring);
    for (int k = 0; k < want; k++) { struct io_uring_cqe *cqe; io_uring_wait_cqe(&ring, &cqe); if (cqe->res < 0) { fprintf(stderr, "res %d\n", cqe->res); return 1; } io_uring_cqe_seen(&ring, cqe); }
  }
  printf("mean round %.0f us\n", (now_us() - t0) / n); return 0;
}
