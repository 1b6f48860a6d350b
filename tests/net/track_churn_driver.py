"""Churn driver for tests/net/test_track_churn.py: spawn N short-lived processes fast.

Usage: python3 track_churn_driver.py EXE COUNT [PARALLEL]
Spawns COUNT processes of EXE (a copy of /bin/true under a chosen name) with os.posix_spawn,
keeping up to PARALLEL alive at once, reaping every one. Prints the elapsed seconds.
"""

import os
import sys
import time


def main() -> None:
    exe, count = sys.argv[1], int(sys.argv[2])
    parallel = int(sys.argv[3]) if len(sys.argv) > 3 else 16
    t0 = time.monotonic()
    running = 0
    started = 0
    while started < count or running:
        while started < count and running < parallel:
            os.posix_spawn(exe, [exe], {})
            started += 1
            running += 1
        os.wait()
        running -= 1
    print(f"{time.monotonic() - t0:.3f}")


if __name__ == "__main__":
    main()
