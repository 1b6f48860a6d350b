"""Runs a ProcessTracker where the test puts it (e.g. inside `ip netns exec NS unshare --pid ...`).

Usage: python3 track_fallback_driver.py NAME CMD [ARG...]
Starts the tracker for process name NAME, then starts CMD, waits for quorum, kills CMD, waits for
quorum lost. Prints: the mode log line, `UP <ms>` and `DOWN <ms>` (detection latencies), or
`TIMEOUT <what>`. Every wait is bounded.
"""

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time

from vipkeeper.config.model import TrackProcess
from vipkeeper.track.proc_connector import ProcessTracker


async def main() -> int:
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="LOG %(levelname)s %(message)s")
    name, cmd = sys.argv[1], sys.argv[2:]
    changes: asyncio.Queue = asyncio.Queue()
    tr = ProcessTracker([TrackProcess(name="svc", process=name)], changes.put_nowait, rescan_interval=0.1)
    await tr.start()
    print("MODE", tr.mode, flush=True)
    first = await changes.get()
    assert first.has_quorum is False, first
    t0 = time.monotonic()
    child = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, start_new_session=True)
    try:
        try:
            ch = await asyncio.wait_for(changes.get(), 5)
            print("UP" if ch.has_quorum else "WRONG", f"{(time.monotonic() - t0) * 1000:.1f}", flush=True)
        except asyncio.TimeoutError:
            print("TIMEOUT up", flush=True)
            return 1
        t1 = time.monotonic()
        os.killpg(child.pid, signal.SIGKILL)
        try:
            ch = await asyncio.wait_for(changes.get(), 5)
            print("DOWN" if not ch.has_quorum else "WRONG", f"{(time.monotonic() - t1) * 1000:.1f}", flush=True)
        except asyncio.TimeoutError:
            print("TIMEOUT down", flush=True)
            return 1
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
        child.wait()
        tr.stop()
    print("COUNTERS", tr.counters, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
