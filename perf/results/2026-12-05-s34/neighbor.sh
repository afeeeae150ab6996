#!/bin/bash
# A neighbor on the same filesystem: 64 MiB of buffered (dirty, never fsynced) writes every ~2 s.
while true; do dd if=/dev/zero of=/work/neighbor.bin bs=1M count=64 2>/dev/null; sleep 2; done
