"""The router on a failover's path (daemon/router.py): lines the core logs before a send or a VIP
change are written after them (log_hold.py) but keep their order and time; an advert's arrival
time, not the read, is what the core's timers run from; the priority-0 advert is ready before
it is needed. Fake socket and addresses; the loop's clock is a float the test sets."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable

import pytest

from vipkeeper.daemon.router import Router
from vipkeeper.vrrp import packet
from vipkeeper.vrrp.instance import Startup, State, TimerFired, TrackerChanged, skew_us

from .router_harness import GROUP, EventAddresses, EventLines, EventWire, on_loop, routers

CONFIG = """vrrp_instance VI_1 { interface eth0
  virtual_router_id 51 priority 100 advert_int 1
  virtual_ipaddress { 192.0.2.100/32 } }"""
PEER = ipaddress.IPv4Address("192.0.2.2")


@pytest.fixture
def events():
    out: list = []
    root = logging.getLogger("vipkeeper")
    saved = (root.handlers[:], root.propagate, root.level)
    root.handlers = [EventLines(out)]
    root.propagate = False
    root.setLevel(logging.INFO)
    try:
        yield out
    finally:
        root.handlers, root.propagate, root.level = saved


def _started(events: list, test: Callable[[Router, list[float]], None]) -> None:
    """Run test(router, clock) on CONFIG's router, its adverts, VIP changes and lines in `events`,
    once it has had its Startup; the loop's clock is clock[0], 100.0 at first."""

    def body(clock: list[float]) -> None:
        (router,) = routers(CONFIG, EventWire(events), addresses=lambda: EventAddresses(events))
        router.feed(Startup())
        test(router, clock)

    on_loop(body, 100.0)


def _advert(prio: int) -> packet.Received:
    adv = packet.Advertisement(2, 51, prio, (ipaddress.IPv4Address("192.0.2.100"),), 100)
    return packet.Received(PEER, GROUP, 255, adv)


def test_the_new_masters_lines_are_written_after_its_vip_and_advert(events: list) -> None:
    def check(router: Router, clock: list[float]) -> None:
        events.clear()
        deadline = router.core.next_deadline()
        assert deadline is not None
        clock[0] = deadline
        router.feed(TimerFired())
        assert router.state == State.MASTER
        kinds = [e[0] for e in events]
        assert router.params.vips_first  # no firewall rule, no routes: the VIP before the advert
        assert kinds[:2] == ["add", "advert"], events
        lines = [e[1] for e in events if e[0] == "log"]
        # all of the core's lines, in the core's order, after the advert and the VIP
        assert lines[:2] == ["(VI_1) Receive advertisement timeout", "(VI_1) Entering MASTER STATE"]
        assert kinds.index("log") > kinds.index("advert")

    _started(events, check)


def test_a_lost_tracker_sends_priority_zero_before_any_line(events: list) -> None:
    def check(router: Router, clock: list[float]) -> None:
        clock[0] = router.core.next_deadline() or 0.0
        router.feed(TimerFired())
        assert router._advert_zero is not None  # prepared with the first advert, before any failover
        events.clear()
        router.feed(TrackerChanged("trk", 0, True))
        assert router.state == State.FAULT
        assert events[0] == ("advert", 0), events
        assert ("log", "(VI_1) Entering FAULT STATE") in events
        assert [e[0] for e in events].index("remove") < [e[0] for e in events].index("log")

    _started(events, check)


def test_the_arrival_time_of_an_advert_is_what_the_timers_run_from(events: list) -> None:
    def check(router: Router, clock: list[float]) -> None:
        clock[0] = 101.0
        router.received(_advert(150), at=100.98)
        clock[0] = 102.3  # read 0.2 s after it arrived
        router.received(_advert(0), at=102.1)
        assert router.core.next_deadline() == 102.1 + skew_us(2, 100, 100) / 1e6
        router.received(_advert(150))  # no arrival known: the read time
        assert router.core.next_deadline() == 102.3 + 3 + skew_us(2, 100, 100) / 1e6

    _started(events, check)
