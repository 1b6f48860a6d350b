"""A steady Master's adverts leave from the router's own timer (daemon/router.py), and the
result is the core's: the same datagrams at the same deadlines as a router that hands every
timer to the core, and the same state and timers once anything else arrives.

No real time: the loop's clock is a float the test moves, and the timer heap is run by hand
(the timerfd is armed but the loop never gets to read it)."""

from __future__ import annotations

import asyncio
import ipaddress

from vipkeeper.daemon.router import Router
from vipkeeper.precise_timers import PreciseTimers
from vipkeeper.vrrp import packet
from vipkeeper.vrrp.instance import AdvertReceived, Instance, Startup, State

from .router_harness import on_loop, routers

CONFIG = """vrrp_instance VI_1 { interface eth0
  virtual_router_id 51 priority 255 advert_int 1 version 3
  garp_master_delay 2.5
  virtual_ipaddress { 192.0.2.100/32 } }"""
PEER = ipaddress.IPv4Address("192.0.2.2")


class _Capture:
    def __init__(self, clock: list[float]) -> None:
        self.clock = clock
        self.sent: list[tuple[float, bytes]] = []

    def sendto(self, data: bytes, address: object) -> int:
        self.sent.append((self.clock[0], bytes(data[:10] + data[12:])))  # the kernel sets the checksum
        return len(data)


def _router(clock: list[float], timers: PreciseTimers | None) -> tuple[Router, _Capture, list[int]]:
    cap = _Capture(clock)
    (router,) = routers(CONFIG, cap, timers=timers)
    handled = [0]

    class Counting(Instance):  # the core (slotted: no method to replace on the instance) counting its events
        __slots__ = ()

        def handle(self, event, now):  # type: ignore[no-untyped-def]
            handled[0] += 1
            return super().handle(event, now)

    router.core = Counting(router.params)  # before any event: nothing of the first core is lost
    return router, cap, handled


def test_steady_adverts_equal_the_cores_and_bypass_it() -> None:
    def check(clock: list[float]) -> None:
        timers = PreciseTimers(asyncio.get_running_loop())
        steady, cap_s, handled_s = _router(clock, timers)
        plain, cap_p, handled_p = _router(clock, None)  # no precise timers: every timer via the core
        for r in (steady, plain):
            r.feed(Startup())  # BACKUP first (the VIP is not the interface's: no address owner)
        lateness = iter([0.0, 0.0004, 0.003, 0.0, 0.02, 0.0, 0.001, 0.0, 0.0, 0.005])
        while clock[0] < 1012.5:
            # both routers are due at the same deadline: the plain one by its own timer, the
            # steady one by the heap (the plain timer is asyncio's; fired here by hand)
            due = plain._timer_at
            assert due is not None
            clock[0] = due + next(lateness, 0.0)
            plain._timer = None
            plain._fire()
            timers._expired()
        assert [t for t, _ in cap_s.sent] == [t for t, _ in cap_p.sent]
        assert [d for _, d in cap_s.sent] == [d for _, d in cap_p.sent]
        assert steady.state == plain.state == State.MASTER
        assert len(cap_s.sent) >= 8 and steady.counters.adverts_sent == plain.counters.adverts_sent
        # the steady router's adverts never go through the core: before the delayed GARP at +2.5 s
        # (the last one before it hands the core its timers back) and after it
        # the core handled exactly Startup, the master-down timer and the delayed GARP
        assert handled_s[0] == 3 < handled_p[0] and "garp" not in steady.core._timers
        assert steady._steady_at is not None and steady.next_deadline() == plain.next_deadline()
        # anything else: the core first hears where the adverts got to, then decides as usual
        clock[0] += 0.3
        better = AdvertReceived(packet.Advertisement(3, 51, 0, (ipaddress.IPv4Address("192.0.2.100"),), 100), PEER)
        steady.feed(better)
        plain.feed(better)
        assert steady._steady_at is not None  # priority 0 to a Master: one advert now, then steady again
        assert [d for _, d in cap_s.sent] == [d for _, d in cap_p.sent]
        assert steady.core.next_deadline() == plain.core.next_deadline() == steady.next_deadline()
        timers.close()

    on_loop(check, 1000.0)


def test_a_router_in_a_sync_group_never_goes_steady() -> None:
    from vipkeeper.daemon.router import GroupDriver

    def check(clock: list[float]) -> None:
        timers = PreciseTimers(asyncio.get_running_loop())
        router, _cap, _handled = _router(clock, timers)
        router.feed(Startup())
        for _ in range(10):  # master-down, then the delayed GARP: steady from there
            clock[0] = timers._heap[0][0]
            timers._expired()
        assert router.state == State.MASTER and router._steady_at is not None
        GroupDriver("G", [router], lambda g, s: None)
        assert router._steady_at is None
        assert router.core.next_deadline() is not None and router.core.next_deadline() > clock[0]
        clock[0] = router.core.next_deadline()
        timers._expired()  # nothing of the old steady timer is left; the group's path runs
        router.feed(Startup())  # any event: still not steady
        assert router._steady_at is None and isinstance(router.core, Instance)
        timers.close()

    on_loop(check, 50.0)
