"""A Master's tracked process exits (weight 0): from the tracker's wake-up to the priority-0 advert.

Issue 18: the Master's side of the RFC-exact failover is its process tracker's callback until the
priority-0 advert's sendto. The real ProcessTracker (its pidfd callback, /proc faked by a loaded
table), TrackingHub and Router are chained as the runtime chains them; the wire, the addresses
and the loop's clock are fakes. Asserted: the priority-0 advert is the first thing the fault
does -- the VIP's removal, the notify, the hub's bookkeeping and every log line (the tracker's
"Quorum lost" too, though it keeps its place first in the log) come after it -- and once the
daemon has compiled its failover records (runtime.failover_records(), records.compile_now), the way
to the sendto neither binds a record in Python nor compiles one, nor writes a line.

The Backup's counterpart: its skew timer expires on the real PreciseTimers (timerfd) with the
daemon's LoopWatch as the lag record, and the VIP add and the first advert are the first things
the takeover does: the core's lines, the notify and the loop-lag bookkeeping come after them, and
nothing on the way to the VIP add touches the log or the lag record.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys

import pytest

from vipkeeper import records
from vipkeeper.config import loads
from vipkeeper.daemon.loop_watch import LoopWatch
from vipkeeper.daemon.runtime import failover_records
from vipkeeper.daemon.tracking import TrackingHub
from vipkeeper.track import priority, process_table
from vipkeeper.track.proc_connector import ProcessTracker
from vipkeeper.track.process_table import ProcessInfo, Snapshot
from vipkeeper.vrrp import instance
from vipkeeper.precise_timers import PreciseTimers
from vipkeeper.vrrp.instance import Startup, State, TimerFired

from .router_harness import EventAddresses, EventLines, EventWire, on_loop, routers

CONFIG = """vrrp_track_process trk {
  process svc
  weight 0
}
vrrp_instance VI_1 { interface eth0
  virtual_router_id 51 priority 100 advert_int 1
  virtual_ipaddress { 192.0.2.100/32 }
  track_process { trk }
}"""
PID = 4242


class _Stamps(dict):
    """The hub's `since`, noting when it is written."""

    def __init__(self, events: list) -> None:
        super().__init__()
        self.events = events

    def __setitem__(self, key: str, value: float) -> None:
        self.events.append(("since", key))
        super().__setitem__(key, value)


@pytest.fixture
def events():
    """Everything the fault does, in order; the daemon's logger tree set up as the daemon's
    (handlers on `vipkeeper`, no propagation), so that log_hold holds as it does there."""
    out: list = []
    tree = logging.getLogger("vipkeeper")
    saved = (tree.handlers[:], tree.propagate, tree.level)
    tree.handlers = [EventLines(out)]
    tree.propagate = False
    tree.setLevel(logging.INFO)
    try:
        yield out
    finally:
        tree.handlers, tree.propagate, tree.level = saved


def _master_with_tracker(events: list, clock: list[float]) -> tuple[ProcessTracker, object, int]:
    """A Master following `trk`, whose one process (PID) counts and has a pidfd (a pipe stands
    in): (tracker, router, the pidfd's number)."""
    config = loads(CONFIG)
    (router,) = routers(CONFIG, EventWire(events), addresses=lambda: EventAddresses(events))
    router._on_notify = lambda r, action: events.append(("notify", action.state))
    hub = TrackingHub(config)
    hub._on_change = lambda name, event: router.feed(event)  # the runtime's _on_tracker
    hub._followers_index()  # as hub.start() builds it
    tracker = ProcessTracker(list(config.track_processes), hub._process_changed, auto_connect=False)
    tracker._loop = asyncio.get_running_loop()
    tracker.table.apply_snapshot(Snapshot({PID: ProcessInfo("svc", None, 777)}), clock[0])
    hub.proc_status["trk"] = bool(tracker.table.statuses()["trk"])
    for event in hub.current(router.model):
        router.feed(event)
    router.feed(Startup())
    while router.state != State.MASTER:
        clock[0] = router.core.next_deadline()
        router.feed(TimerFired())
    clock[0] += 0.5
    router.feed(TimerFired())  # an advert as Master: the priority-0 one is prepared beside it
    hub.since = _Stamps(events)
    read_end, write_end = os.pipe()
    os.close(write_end)
    tracker._pidfds[PID] = (read_end, 777)
    return tracker, router, read_end


def test_the_priority_zero_advert_goes_before_every_other_effect_of_the_fault(events: list) -> None:
    def body(clock: list[float]) -> None:
        tracker, router, fd = _master_with_tracker(events, clock)
        events.clear()
        tracker._on_pidfd(PID, fd)  # the pidfd is readable: the process exited
        assert router.state == State.FAULT
        assert events[0] == ("advert", 0), events
        rest = events[1:]
        assert ("remove", "192.0.2.100/32 dev eth0") in rest, events
        assert ("notify", "FAULT") in rest, events
        assert ("since", "process:trk") in rest, events
        lines = [e[1] for e in rest if e[0] == "log"]
        # the tracker's line keeps its place before the core's, though written after the send
        assert lines[:2] == ["Quorum lost for tracked process trk", "(VI_1) Entering FAULT STATE"], lines
        assert PID not in tracker._pidfds  # the pidfd closed after the change went out

    on_loop(body, 100.0)


def _record_classes() -> list[type]:
    return [v for m in (instance, process_table, priority) for v in vars(m).values()
            if isinstance(v, type) and "__record_fields__" in vars(v) and v.__module__ == m.__name__]


def test_compiled_failover_records_leave_no_binding_compiling_or_writing_before_the_send(events: list) -> None:
    classes = _record_classes()
    saved = {cls: cls.__dict__["__init__"] for cls in classes}
    calls: list[str] = []
    sent: list[int] = []

    def profile(frame, event, arg):  # noqa: ANN001
        if event == "call" and not sent:
            code = frame.f_code
            calls.append(f"{os.path.basename(code.co_filename)}:{code.co_qualname}")
            if code.co_qualname == "EventWire.sendto":
                sent.append(len(calls))

    def body(clock: list[float]) -> None:
        tracker, router, fd = _master_with_tracker(events, clock)
        for cls in classes:  # as in a daemon that has built none of them yet ...
            cls.__init__ = records._lazy_init(cls)
        records.compile_now(*failover_records())  # ... whose first maintenance pass has run
        events.clear()
        sys.setprofile(profile)
        try:
            tracker._on_pidfd(PID, fd)
        finally:
            sys.setprofile(None)
        assert events[0] == ("advert", 0), events

    try:
        on_loop(body, 100.0)
    finally:
        for cls, init in saved.items():
            cls.__init__ = init
    assert sent, calls
    before = calls[: sent[0]]
    assert not [c for c in before if c.endswith(("_bind", "_compile_init"))], "\n".join(before)
    # no line is made into a record, formatted or written before the advert
    making = ("Logger._log", "Logger.makeRecord", "LogRecord.__init__", "Logger.handle", "Handler.handle",
              "Formatter.format", "EventLines.emit", "log_hold.py:_record", "log_hold.py:release")
    assert not [c for c in before if c.endswith(making) or c.startswith(making)], "\n".join(before)
    # nor asked whether it is enabled, nor kept line by line: the tracker's line starts the hold
    # in one step (log_hold.hold_line), and the core's comes after the advert (Router.enqueue)
    asking = ("Logger.isEnabledFor", "log_hold.py:line", "log_hold.py:hold")
    assert not [c for c in before if c.endswith(asking)], "\n".join(before)
    # the hub computes no effect and builds no event on the way: both come from its index
    building = ("priority.py:up_down_effect", "<record TrackerEffect>:__init__", "<record TrackerChanged>:__init__",
                "tracking.py:TrackingHub._effect")
    assert not [c for c in before if c.endswith(building)], "\n".join(before)


BACKUP = """vrrp_instance VI_1 { interface eth0
  virtual_router_id 51 priority 100 advert_int 1
  virtual_ipaddress { 192.0.2.100/32 } }"""


class _LagEvents(LoopWatch):
    """The daemon's LoopWatch, noting in the event list when the lag is recorded."""

    def __init__(self, events: list) -> None:
        super().__init__()
        self.events = events

    def on_lag(self, lag: float, now: float) -> None:
        self.events.append(("lag", round(lag, 6)))
        super().on_lag(lag, now)


def _backup_on_timers(events: list, clock: list[float]) -> tuple[object, PreciseTimers, float]:
    """A Backup whose down timer runs on the real PreciseTimers with a LoopWatch: (router, timers,
    its deadline), the loop's clock at Startup."""
    timers = PreciseTimers(asyncio.get_running_loop(), on_lag=_LagEvents(events).on_lag)
    (router,) = routers(BACKUP, EventWire(events), addresses=lambda: EventAddresses(events), timers=timers)
    router._on_notify = lambda r, action: events.append(("notify", action.state))
    router.feed(Startup())
    deadline = router.core.next_deadline()
    assert deadline is not None and router._timer_at == deadline
    return router, timers, deadline


def test_the_backups_vip_and_advert_go_before_its_lines_notify_and_lag_record(events: list) -> None:
    def body(clock: list[float]) -> None:
        router, timers, deadline = _backup_on_timers(events, clock)
        try:
            events.clear()
            clock[0] = deadline + 0.000250  # the loop reads the timerfd 250 µs late
            timers._expired()
            assert router.state == State.MASTER
            kinds = [e[0] for e in events]
            assert kinds[:2] == ["add", "advert"], events
            lines = [e[1] for e in events if e[0] == "log"]
            assert lines[:2] == ["(VI_1) Receive advertisement timeout", "(VI_1) Entering MASTER STATE"], lines
            # the lines in the core's order, then the notify, then the lag record of this wake-up
            assert kinds.index("log") > kinds.index("advert")
            assert kinds.index("notify") > max(i for i, k in enumerate(kinds) if k == "log"), events
            assert events[-1] == ("lag", 0.00025), events
        finally:
            timers.close()

    on_loop(body, 100.0)


def test_nothing_touches_the_log_or_the_lag_record_before_the_backups_vip_add(events: list) -> None:
    calls: list[str] = []
    added: list[int] = []

    def profile(frame, event, arg):  # noqa: ANN001
        if event == "call" and not added:
            code = frame.f_code
            calls.append(f"{os.path.basename(code.co_filename)}:{code.co_qualname}")
            if code.co_qualname == "EventAddresses.add_now":
                added.append(len(calls))

    def body(clock: list[float]) -> None:
        router, timers, deadline = _backup_on_timers(events, clock)
        records.compile_now(*failover_records())
        try:
            events.clear()
            clock[0] = deadline
            sys.setprofile(profile)
            try:
                timers._expired()
            finally:
                sys.setprofile(None)
            assert router.state == State.MASTER
        finally:
            timers.close()

    on_loop(body, 100.0)
    assert added, calls
    before = calls[: added[0]]
    touching = ("log_hold.py:", "__init__.py:Logger.", "loop_watch.py:", "loop_lag.py:")
    assert not [c for c in before if c.startswith(touching)], "\n".join(before)
    assert not [c for c in before if c.endswith(("_bind", "_compile_init"))], "\n".join(before)
