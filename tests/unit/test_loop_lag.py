"""The loop lag record (loop_lag.py), the timers' lag hook and the systemd watchdog pings.

The record is driven with a fake clock; the hook and the pings run on a real loop with a real
timerfd and a real NOTIFY_SOCKET datagram socket the test binds.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from pathlib import Path

import pytest

from vipkeeper.daemon.loop_watch import LoopWatch
from vipkeeper.daemon.process import watchdog_interval
from vipkeeper.loop_lag import BUCKETS, LoopLag
from vipkeeper.precise_timers import PreciseTimers


def test_record_keeps_last_max_sum_and_cumulative_buckets() -> None:
    lag = LoopLag(threshold=0.1)
    for value in (0.00005, 0.0003, -0.001, 0.3, 0.002):
        lag.record(value, 100.0)
    assert lag.count == 5
    assert lag.last == 0.002
    assert lag.max == 0.3
    assert lag.sum == pytest.approx(0.00005 + 0.0003 + 0.3 + 0.002)  # the negative one counts as 0
    buckets = dict((le, n) for le, n in lag.buckets())
    assert list(buckets) == list(BUCKETS)
    assert buckets[0.0001] == 2  # 0 and 0.05 ms
    assert buckets[0.0005] == 3
    assert buckets[0.0025] == 4
    assert buckets[0.25] == 4 and buckets[0.5] == 5
    assert lag.late == 1


def test_threshold_is_a_tenth_of_the_shortest_advert_interval() -> None:
    lag = LoopLag()
    lag.set_advert_interval(0.1)
    assert lag.threshold == pytest.approx(0.01)
    lag.set_advert_interval(None)  # no instance: a tenth of a second
    assert lag.threshold == pytest.approx(0.1)


def test_late_runs_give_a_line_rate_limited_per_order_of_magnitude() -> None:
    lag = LoopLag(threshold=0.01, log_interval=10.0)
    assert lag.record(0.005, 0.0) is None  # on time enough
    first = lag.record(0.02, 1.0)
    assert first is not None and "20.0 ms late" in first and "10.0 ms" in first
    assert lag.record(0.03, 2.0) is None  # same size, within 10 s
    assert lag.record(0.05, 10.9) is None
    # a stall ten times worse is not hidden behind the limit of the small ones
    stall = lag.record(0.3, 3.0)
    assert stall is not None and "300.0 ms late" in stall and "more late" not in stall
    assert lag.record(0.4, 4.0) is None
    again = lag.record(0.04, 11.0)
    assert again is not None and "40.0 ms late" in again and "2 more late runs of this size" in again
    assert lag.late == 6
    assert lag.as_dict()["log_lines_suppressed"] == 3


def test_timers_report_how_late_a_blocked_loop_ran_them() -> None:
    seen: list[float] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        timers = PreciseTimers(loop, on_lag=lambda lag, now: seen.append(lag))
        done = asyncio.Event()
        timers.call_at(loop.time() + 0.01, done.set)
        # The loop is busy (not sleeping) for 80 ms: the timer, due at 10 ms, runs at ~80 ms.
        end = time.monotonic() + 0.08
        while time.monotonic() < end:
            pass
        await asyncio.wait_for(done.wait(), 5)
        timers.close()

    asyncio.run(main())
    assert len(seen) == 1
    assert 0.065 <= seen[0] < 1.0


def test_on_time_timers_report_a_small_lag() -> None:
    seen: list[float] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        timers = PreciseTimers(loop, on_lag=lambda lag, now: seen.append(lag))
        done = asyncio.Event()
        for i in range(1, 11):
            timers.call_at(loop.time() + 0.005 * i, done.set if i == 10 else (lambda: None))
        await asyncio.wait_for(done.wait(), 5)
        timers.close()

    asyncio.run(main())
    assert 1 <= len(seen) <= 10  # once per wake-up; a late wake-up serves several deadlines
    assert all(lag >= 0 for lag in seen)
    assert min(seen) < 0.01  # even on a loaded host, the best of ten wake-ups is within 10 ms


def test_watchdog_interval_from_the_environment() -> None:
    env = {"NOTIFY_SOCKET": "/run/systemd/notify", "WATCHDOG_USEC": "5000000"}
    assert watchdog_interval(env, pid=42) == 2.5
    assert watchdog_interval({**env, "WATCHDOG_PID": "42"}, pid=42) == 2.5
    assert watchdog_interval({**env, "WATCHDOG_PID": "43"}, pid=42) is None  # meant for another
    assert watchdog_interval({"WATCHDOG_USEC": "5000000"}, pid=42) is None  # nowhere to send
    assert watchdog_interval({**env, "WATCHDOG_USEC": "0"}, pid=42) is None
    assert watchdog_interval({**env, "WATCHDOG_USEC": "x"}, pid=42) is None
    assert watchdog_interval({"NOTIFY_SOCKET": "/run/systemd/notify"}, pid=42) is None


def test_watchdog_pings_arrive_on_the_notify_socket_at_half_the_watchdog_interval(tmp_path: Path) -> None:
    path = str(tmp_path / "notify")
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(path)
    receiver.setblocking(False)
    arrivals: list[tuple[float, bytes]] = []
    watch = LoopWatch()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.add_reader(receiver.fileno(), lambda: arrivals.append((loop.time(), receiver.recv(64))))
        timers = PreciseTimers(loop, on_lag=watch.on_lag)
        env = {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "100000", "WATCHDOG_PID": str(os.getpid())}
        watch.start_watchdog(timers, env)
        deadline = loop.time() + 5
        while len(arrivals) < 11 and loop.time() < deadline:
            await asyncio.sleep(0.01)
        watch.close()
        timers.close()
        loop.remove_reader(receiver.fileno())

    try:
        asyncio.run(main())
    finally:
        receiver.close()
    assert len(arrivals) >= 11
    assert {msg for _, msg in arrivals} == {b"WATCHDOG=1"}
    assert watch.watchdog_interval == 0.05
    assert watch.watchdog_pings >= 11
    gaps = [b - a for (a, _), (b, _) in zip(arrivals, arrivals[1:])]
    # every 50 ms (each ping armed from when the last ran): ten gaps add up to 0.5 s and more,
    # less only by how late the reader saw the first arrival
    assert 0.45 <= sum(gaps[:10]) < 0.5 + 0.5
    assert watch.lag.count >= 10  # the pings are timers too: the loop's lag is measured without instances


def test_no_watchdog_without_systemd_asking(tmp_path: Path) -> None:
    watch = LoopWatch()

    async def main() -> None:
        timers = PreciseTimers(asyncio.get_running_loop())
        watch.start_watchdog(timers, {"NOTIFY_SOCKET": str(tmp_path / "none")})
        timers.close()

    asyncio.run(main())
    assert watch.watchdog_interval is None and watch.watchdog_pings == 0


def test_late_run_is_logged_once_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    watch = LoopWatch()
    watch.lag.set_advert_interval(1.0)
    with caplog.at_level(logging.WARNING, logger="vipkeeper"):
        watch.on_lag(0.05, 1.0)
        watch.on_lag(0.2, 2.0)
        watch.on_lag(0.3, 3.0)
    lines = [r.getMessage() for r in caplog.records if "late" in r.getMessage()]
    assert lines == ["event loop ran its timers 200.0 ms late (more than 100.0 ms, "
                     "a tenth of the shortest advert interval)"]
    assert watch.as_dict()["late"] == 2
