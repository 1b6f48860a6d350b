"""A tracker that moves many instances at once does not stall the loop (daemon/tracking.py).

A real track_file (inotify on a real file) followed by many instances; the hub's `on_change` costs
what a transition costs the daemon (about a millisecond of CPU). The changes must all arrive, in
order, once each; no callback may deliver more than fits in the delivery budget (plus the one
delivery that crossed it); and a timer that fell due during the burst (an advert) must run before the burst
is over, not after it.
"""

from __future__ import annotations

import asyncio
import time

from vipkeeper.config import loads
from vipkeeper.daemon.tracking import DELIVERY_BUDGET, TrackingHub

COST = 0.001  # s of CPU per delivered change: a transition's VIP release, log lines, notify queueing


def _config(path: str, followers: int) -> str:
    blocks = [f"vrrp_track_file flip {{\n  file {path}\n  weight 0\n}}"]
    for k in range(followers):
        blocks.append(
            f"vrrp_instance VI_{k} {{\n  state BACKUP\n  interface lo\n  virtual_router_id {k + 1}\n"
            f"  priority 100\n  advert_int 1\n  virtual_ipaddress {{\n    192.0.2.{k % 250 + 1}/32\n  }}\n"
            "  track_file {\n    flip\n  }\n}")
    return "\n".join(blocks) + "\n"


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def _burn(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


async def _flip(path: str, followers: int, *, timer_after: float | None = None):
    """Start a hub whose `followers` instances follow the file, write 1 to it, collect what arrives:
    (deliveries in order with their times, the longest callback that delivered, the timer's run time)."""
    config = loads(_config(path, followers))
    hub = TrackingHub(config)
    loop = asyncio.get_running_loop()
    got: list[tuple[str, bool, float]] = []
    calls: list[tuple[int, float, float]] = []  # (deliveries in the callback, start, end)
    done = asyncio.Event()

    timer_ran: list[float] = []

    def on_change(instance: str, event) -> None:
        if not got and timer_after is not None:  # the burst begins: a timer falls due in it
            loop.call_at(loop.time() + timer_after, lambda: timer_ran.append(time.perf_counter()))
        _burn(COST)
        got.append((instance, event.fault, time.perf_counter()))
        if len(got) == followers:
            done.set()

    await hub.start(on_change)
    # every callback that delivered: measure it from the outside, around the hub's entry points
    for attr in ("_deliver_queued", "_file_changed"):
        inner = getattr(hub, attr)

        def timed(*args, _inner=inner):
            before, t = len(got), time.perf_counter()
            _inner(*args)
            calls.append((len(got) - before, t, time.perf_counter()))
        setattr(hub, attr, timed)
    hub.files["flip"].on_change = hub._file_changed
    try:
        _write(path, "1\n")
        await asyncio.wait_for(done.wait(), 10)
        await asyncio.sleep(0)  # let the last pass return
        return got, calls, timer_ran, hub.deferred_passes
    finally:
        await hub.close()


def test_a_tracker_moving_many_instances_is_delivered_in_slices(tmp_path):
    path = str(tmp_path / "flip")
    with open(path, "w") as f:
        f.write("0\n")
    n = 200
    got, calls, timer_ran, deferred = asyncio.run(_flip(path, n, timer_after=0.0))
    assert [name for name, _, _ in got] == [f"VI_{k}" for k in range(n)], "all of them, once each, in order"
    assert all(fault for _, fault, _ in got), "every follower goes FAULT"
    # one budget plus the delivery that crossed it: counted, not timed (a loaded host only
    # makes a callback deliver fewer, never more)
    most = max(count for count, _, _ in calls)
    assert most <= round(DELIVERY_BUDGET / COST) + 1, f"a callback delivered {most} changes of {COST * 1000:g} ms each"
    assert len(calls) >= n / (round(DELIVERY_BUDGET / COST) + 1)
    assert deferred >= 1
    assert timer_ran, "the timer ran"
    assert timer_ran[0] < got[-1][2], "a timer due during the burst ran before the burst ended"


def test_a_tracker_moving_a_few_instances_is_delivered_at_once(tmp_path):
    path = str(tmp_path / "flip")
    with open(path, "w") as f:
        f.write("0\n")
    got, calls, _, deferred = asyncio.run(_flip(path, 2))
    assert [name for name, _, _ in got] == ["VI_0", "VI_1"]
    assert calls[0][0] == 2, "both delivered inside the callback that saw the change"
    assert deferred == 0


def test_the_index_of_followers_follows_the_configuration(tmp_path):
    path = str(tmp_path / "flip")
    one = loads(_config(path, 3))
    hub = TrackingHub(one)
    assert [m.name for m, *_ in hub._followers_index()[("file", "flip")]] == ["VI_0", "VI_1", "VI_2"]
    hub.config = loads(_config(path, 1))
    assert [m.name for m, *_ in hub._followers_index()[("file", "flip")]] == ["VI_0"]
